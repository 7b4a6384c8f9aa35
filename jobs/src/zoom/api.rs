//! `AccountApi`: the read-only Zoom API of one account. Lists come back as streams that
//! page through `next_page_token` (`page_size=300`) and, for date ranges, split the range
//! into the at-most-one-month windows Zoom accepts.
//!
//! Nothing here writes to Zoom.

use std::collections::HashSet;
use std::pin::pin;
use std::sync::Arc;

use async_stream::try_stream;
use chrono::NaiveDate;
use futures::{Stream, StreamExt};
use serde::de::DeserializeOwned;

use super::client::{Endpoint, ZoomClient};
use super::error::ZoomError;
use super::models::{CallRecord, MeetingInstance, ParticipantRecord, ZoomUser};
use super::paths::{MAX_WINDOW_DAYS, date_windows, encode_meeting_uuid, encode_segment};
use super::token::TokenSource;
use super::wire::{CallHistoryPage, MeetingsPage, Page, ParticipantsPage, UsersPage, WireUser};

/// Zoom's largest page.
const PAGE_SIZE: &str = "300";

/// One Zoom account's API, authorised by a [`TokenSource`]. Cheap to clone; the streams it
/// returns own a clone, so they are `'static` and can outlive it.
#[derive(Clone)]
pub struct AccountApi {
    client: ZoomClient,
    account_id: Arc<str>,
    tokens: Arc<dyn TokenSource>,
}

impl std::fmt::Debug for AccountApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccountApi")
            .field("account_id", &self.account_id)
            .finish_non_exhaustive()
    }
}

impl AccountApi {
    pub(crate) fn new(client: ZoomClient, account_id: &str, tokens: Arc<dyn TokenSource>) -> Self {
        Self {
            client,
            account_id: account_id.into(),
            tokens,
        }
    }

    /// The Zoom account id this API acts for (the rate-limiter key).
    pub fn account_id(&self) -> &str {
        &self.account_id
    }

    pub(crate) fn client(&self) -> &ZoomClient {
        &self.client
    }

    pub(crate) fn tokens(&self) -> &dyn TokenSource {
        self.tokens.as_ref()
    }

    /// `GET /users/me`: the user who installed the app, with `account_id`, `email` and
    /// `role_name`.
    pub async fn me(&self) -> Result<ZoomUser, ZoomError> {
        let user: WireUser = self.get_json(Endpoint::UsersMe, "users/me", &[]).await?;
        Ok(user.into())
    }

    /// `GET /users?status=active`: every active user of the account, all pages.
    pub fn users(&self) -> impl Stream<Item = Result<ZoomUser, ZoomError>> + Send + 'static {
        self.paginate::<UsersPage>(
            Endpoint::Users,
            "users".to_owned(),
            vec![("status", "active".to_owned())],
        )
    }

    /// `GET /report/users/{id}/meetings?type=pastJoined`: meetings the user hosted or
    /// joined that started in `[from, to]` (UTC days). Any range is split into windows of at
    /// most 30 days; instances are deduplicated by UUID.
    pub fn report_meetings(
        &self,
        zoom_user_id: &str,
        from: NaiveDate,
        to: NaiveDate,
    ) -> impl Stream<Item = Result<MeetingInstance, ZoomError>> + Send + 'static {
        let api = self.clone();
        let path = format!("report/users/{}/meetings", encode_segment(zoom_user_id));
        try_stream! {
            let mut seen = HashSet::new();
            for (window_from, window_to) in date_windows(from, to, MAX_WINDOW_DAYS) {
                let query = vec![
                    ("type", "pastJoined".to_owned()),
                    ("from", window_from.to_string()),
                    ("to", window_to.to_string()),
                ];
                let mut pages = pin!(api.paginate::<MeetingsPage>(Endpoint::ReportMeetings, path.clone(), query));
                while let Some(meeting) = pages.next().await {
                    let meeting = meeting?;
                    if seen.insert(meeting.uuid.clone()) {
                        yield meeting;
                    }
                }
            }
        }
    }

    /// `GET /report/meetings/{uuid}/participants`: one record per join of the meeting
    /// instance `uuid` (double-encoded in the path when it contains `/`).
    pub fn meeting_participants(
        &self,
        uuid: &str,
    ) -> impl Stream<Item = Result<ParticipantRecord, ZoomError>> + Send + 'static {
        let path = format!("report/meetings/{}/participants", encode_meeting_uuid(uuid));
        self.paginate::<ParticipantsPage>(Endpoint::ReportParticipants, path, Vec::new())
    }

    /// `GET /phone/users/{id}/call_history`: the user's calls that started in `[from, to]`,
    /// in windows of at most 30 days, deduplicated by record id.
    pub fn call_history(
        &self,
        zoom_user_id: &str,
        from: NaiveDate,
        to: NaiveDate,
    ) -> impl Stream<Item = Result<CallRecord, ZoomError>> + Send + 'static {
        let api = self.clone();
        let path = format!("phone/users/{}/call_history", encode_segment(zoom_user_id));
        try_stream! {
            let mut seen = HashSet::new();
            for (window_from, window_to) in date_windows(from, to, MAX_WINDOW_DAYS) {
                let query = vec![
                    ("from", window_from.to_string()),
                    ("to", window_to.to_string()),
                ];
                let mut pages = pin!(api.paginate::<CallHistoryPage>(Endpoint::UserCallHistory, path.clone(), query));
                while let Some(call) = pages.next().await {
                    let call = call?;
                    if call.id.is_empty() || seen.insert(call.id.clone()) {
                        yield call;
                    }
                }
            }
        }
    }

    /// Every item of every page of `path`, following `next_page_token` until it is empty.
    fn paginate<P>(
        &self,
        endpoint: Endpoint,
        path: String,
        query: Vec<(&'static str, String)>,
    ) -> impl Stream<Item = Result<P::Item, ZoomError>> + Send + 'static
    where
        P: Page + DeserializeOwned + Send + 'static,
        P::Item: Send + 'static,
    {
        let api = self.clone();
        try_stream! {
            let mut cursor: Option<String> = None;
            loop {
                let mut page_query = query.clone();
                page_query.push(("page_size", PAGE_SIZE.to_owned()));
                if let Some(token) = &cursor {
                    page_query.push(("next_page_token", token.clone()));
                }
                let page: P = api.get_json(endpoint, &path, &page_query).await?;
                let next = page
                    .next_page_token()
                    .filter(|t| !t.is_empty())
                    .map(str::to_owned);
                for item in page.into_items() {
                    yield item;
                }
                match next {
                    None => break,
                    Some(next) if cursor.as_deref() == Some(next.as_str()) => {
                        Err(ZoomError::Decode(format!(
                            "{}: Zoom repeated the same next_page_token",
                            endpoint.template()
                        )))?;
                    }
                    Some(next) => cursor = Some(next),
                }
            }
        }
    }
}
