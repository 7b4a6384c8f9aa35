//! The Zoom REST surface under `/v2` (zoom-api.md §3–§7): bearer authentication, injected
//! faults, per-account rate limits with `X-RateLimit-*` headers, then the handlers for
//! users, meeting reports, participants and phone call history.

use std::time::{Duration, Instant};

use axum::Json;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{DateTime, Months, NaiveDate, TimeDelta, Utc};
use percent_encoding::percent_decode_str;
use serde::Deserialize;
use serde_json::json;

use crate::Sim;
use crate::error::ZoomError;
use crate::limits::{Category, LimitType, RateInfo, Verdict};
use crate::model::{CallLeg, Company, Meeting};
use crate::oauth::AuthFailure;
use crate::pagination::page_size;
use crate::state::SimState;
use crate::time::{day_start, fmt, parse_from, parse_to_exclusive, secs, trunc};
use crate::wire::{AccountCall, ReportMeeting, ReportParticipant, UserDetail, UserListItem};

const PARTICIPANTS_PREFIX: &str = "/v2/report/meetings/";
const PARTICIPANTS_SUFFIX: &str = "/participants";
const QPS_MESSAGE: &str =
    "You have reached the maximum per-second rate limit for this API. Try again later.";
const DAILY_MESSAGE: &str = "You have reached the maximum daily rate limit for this API. Refer to the response header for details on when you can make another request.";

/// The Zoom endpoints the simulator serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Endpoint {
    UsersMe,
    User,
    Users,
    ReportMeetings,
    Participants,
    UserCallHistory,
    AccountCallHistory,
}

impl Endpoint {
    /// Method and route template, as counted in `/_sim/counters`.
    pub(crate) fn template(self) -> &'static str {
        match self {
            Self::UsersMe => "GET /v2/users/me",
            Self::User => "GET /v2/users/{userId}",
            Self::Users => "GET /v2/users",
            Self::ReportMeetings => "GET /v2/report/users/{userId}/meetings",
            Self::Participants => "GET /v2/report/meetings/{meetingId}/participants",
            Self::UserCallHistory => "GET /v2/phone/users/{userId}/call_history",
            Self::AccountCallHistory => "GET /v2/phone/call_history",
        }
    }

    /// Zoom's rate-limit label for the endpoint.
    pub(crate) fn category(self) -> Category {
        match self {
            Self::UsersMe | Self::User => Category::Light,
            Self::Users => Category::Medium,
            Self::ReportMeetings
            | Self::Participants
            | Self::UserCallHistory
            | Self::AccountCallHistory => Category::Heavy,
        }
    }
}

/// Who is calling, resolved from the bearer token.
#[derive(Debug, Clone)]
pub(crate) struct Ctx {
    pub account: String,
    pub company: usize,
    pub user_id: String,
    pub now: DateTime<Utc>,
}

type Outcome = Result<Response, ZoomError>;

pub(crate) fn router() -> Router<Sim> {
    Router::new()
        .route("/v2/users", get(list_users))
        .route("/v2/users/{user_id}", get(get_user))
        .route("/v2/report/users/{user_id}/meetings", get(report_meetings))
        .route(
            "/v2/report/meetings/{meeting_id}/participants",
            get(participants),
        )
        .route(
            "/v2/phone/users/{user_id}/call_history",
            get(user_call_history),
        )
        .route("/v2/phone/call_history", get(account_call_history))
}

fn bearer(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_owned())
}

/// Runs one `/v2` request: authenticate, add latency, inject faults, rate-limit, handle,
/// count. The state lock is never held across the latency sleep.
async fn call<F>(sim: &Sim, endpoint: Endpoint, headers: &HeaderMap, handler: F) -> Response
where
    F: FnOnce(&mut SimState, &Ctx) -> Outcome,
{
    let token = bearer(headers);
    let latency = {
        let st = sim.lock();
        token
            .as_deref()
            .and_then(|t| st.oauth.authenticate(t, st.now()).ok())
            .map_or(Duration::ZERO, |caller| st.faults.latency(&caller.account))
    };
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }

    let mut st = sim.lock();
    let now = st.now();
    let auth = token.as_deref().map(|t| st.oauth.authenticate(t, now));
    let (response, account) = match auth {
        None | Some(Err(AuthFailure::Invalid)) => {
            (ZoomError::invalid_token().into_response(), String::new())
        }
        Some(Err(AuthFailure::Expired { account })) => {
            (ZoomError::expired_token().into_response(), account)
        }
        Some(Ok(caller)) => match st.company_index(&caller.account) {
            Ok(company) => {
                let ctx = Ctx {
                    account: caller.account.clone(),
                    company,
                    user_id: caller.user_id,
                    now,
                };
                (serve(&mut st, endpoint, &ctx, handler), caller.account)
            }
            Err(_) => (ZoomError::invalid_token().into_response(), String::new()),
        },
    };
    st.counters
        .record(&account, endpoint.template(), response.status());
    response
}

fn serve<F>(st: &mut SimState, endpoint: Endpoint, ctx: &Ctx, handler: F) -> Response
where
    F: FnOnce(&mut SimState, &Ctx) -> Outcome,
{
    let category = endpoint.category();
    let limits = st.companies[ctx.company].limits.clone();
    if st.faults.throttle(&ctx.account, &mut st.rng) {
        return too_many_requests(&RateInfo {
            category,
            limit_type: LimitType::Qps,
            limit: limits.limit_for(category),
            remaining: 0,
            reset_at: None,
        });
    }
    match st
        .limiter
        .check(&ctx.account, category, &limits, Instant::now(), ctx.now)
    {
        Verdict::Denied(info) => too_many_requests(&info),
        Verdict::Allowed(info) => {
            let mut response = match st.faults.server_error(&ctx.account, &mut st.rng) {
                Some(status) => ZoomError::server_error(status).into_response(),
                None => handler(st, ctx).unwrap_or_else(IntoResponse::into_response),
            };
            rate_headers(&mut response, &info);
            response
        }
    }
}

fn header_value(value: impl ToString) -> HeaderValue {
    HeaderValue::from_str(&value.to_string()).unwrap_or_else(|_| HeaderValue::from_static(""))
}

fn rate_headers(response: &mut Response, info: &RateInfo) {
    let headers = response.headers_mut();
    headers.insert(
        "x-ratelimit-category",
        HeaderValue::from_static(info.category.as_str()),
    );
    headers.insert(
        "x-ratelimit-type",
        HeaderValue::from_static(info.limit_type.as_str()),
    );
    headers.insert("x-ratelimit-limit", header_value(info.limit));
    headers.insert("x-ratelimit-remaining", header_value(info.remaining));
}

/// A 429 with Zoom's body and headers: `Retry-After` in seconds for QPS, the RFC 3339 time
/// of the next 00:00 UTC for the daily limit.
fn too_many_requests(info: &RateInfo) -> Response {
    let message = match info.limit_type {
        LimitType::Qps => QPS_MESSAGE,
        LimitType::Daily => DAILY_MESSAGE,
    };
    let mut response = (
        StatusCode::TOO_MANY_REQUESTS,
        Json(json!({"code": 429, "message": message})),
    )
        .into_response();
    rate_headers(&mut response, info);
    let retry_after = match info.reset_at {
        Some(reset_at) if info.limit_type == LimitType::Daily => header_value(fmt(reset_at)),
        _ => HeaderValue::from_static("1"),
    };
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, retry_after);
    response
}

/// Query parameters of the paginated endpoints (all optional, validated by hand so a bad
/// value gets Zoom's error body rather than axum's).
#[derive(Debug, Default, Deserialize)]
pub(crate) struct ListQuery {
    status: Option<String>,
    page_size: Option<String>,
    next_page_token: Option<String>,
    from: Option<String>,
    to: Option<String>,
    #[serde(rename = "type")]
    report_type: Option<String>,
}

fn page_json(
    page: crate::pagination::Page<impl serde::Serialize>,
    key: &str,
    extra: &[(&str, String)],
) -> Response {
    let mut body = serde_json::Map::new();
    for (name, value) in extra {
        body.insert((*name).to_owned(), json!(value));
    }
    body.insert("page_count".into(), json!(page.page_count));
    body.insert("page_size".into(), json!(page.page_size));
    body.insert("total_records".into(), json!(page.total_records));
    body.insert("next_page_token".into(), json!(page.next_page_token));
    body.insert(key.to_owned(), json!(page.items));
    Json(serde_json::Value::Object(body)).into_response()
}

async fn list_users(
    State(sim): State<Sim>,
    headers: HeaderMap,
    Query(q): Query<ListQuery>,
) -> Response {
    call(&sim, Endpoint::Users, &headers, move |st, ctx| {
        let status = q.status.as_deref().unwrap_or("active");
        if !matches!(status, "active" | "inactive" | "pending") {
            return Err(ZoomError::invalid_field("status"));
        }
        let size = page_size(q.page_size.as_deref())?;
        let items: Vec<UserListItem> = st.companies[ctx.company]
            .users
            .iter()
            .filter(|u| u.status == status)
            .map(UserListItem::from)
            .collect();
        let query = format!("users|{}|{status}", ctx.account);
        let page = st.pages.page(
            items,
            size,
            q.next_page_token.as_deref(),
            &query,
            ctx.now,
            &mut st.rng,
        )?;
        Ok(page_json(page, "users", &[]))
    })
    .await
}

async fn get_user(
    State(sim): State<Sim>,
    Path(user_ref): Path<String>,
    headers: HeaderMap,
) -> Response {
    let endpoint = if user_ref == "me" {
        Endpoint::UsersMe
    } else {
        Endpoint::User
    };
    call(&sim, endpoint, &headers, move |st, ctx| {
        let company = &st.companies[ctx.company];
        let user = company
            .resolve_user(&user_ref, &ctx.user_id)
            .ok_or_else(|| ZoomError::user_not_found(&user_ref))?;
        Ok(Json(UserDetail::new(company, user)).into_response())
    })
    .await
}

/// Validates report `from`/`to` (`yyyy-mm-dd`, inclusive): at most a month apart, within
/// the past six months. Returns the covered `[start, end)`.
fn report_range(
    from: Option<&str>,
    to: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(DateTime<Utc>, DateTime<Utc>), ZoomError> {
    let parse = |raw: Option<&str>, field: &str| {
        raw.and_then(|s| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok())
            .ok_or_else(|| ZoomError::invalid_field(field))
    };
    let from = parse(from, "from")?;
    let to = parse(to, "to")?;
    if to < from || (to - from).num_days() > 30 {
        return Err(ZoomError::bad_range());
    }
    let oldest = now
        .date_naive()
        .checked_sub_months(Months::new(6))
        .unwrap_or(NaiveDate::MIN);
    if from < oldest {
        return Err(ZoomError::too_old());
    }
    Ok((day_start(from), day_start(to) + TimeDelta::days(1)))
}

async fn report_meetings(
    State(sim): State<Sim>,
    Path(user_ref): Path<String>,
    headers: HeaderMap,
    Query(q): Query<ListQuery>,
) -> Response {
    call(&sim, Endpoint::ReportMeetings, &headers, move |st, ctx| {
        let company = &st.companies[ctx.company];
        let user = company
            .resolve_user(&user_ref, &ctx.user_id)
            .ok_or_else(|| ZoomError::user_not_found(&user_ref))?;
        let (start, end) = report_range(q.from.as_deref(), q.to.as_deref(), ctx.now)?;
        let kind = q.report_type.as_deref().unwrap_or("past");
        let joined_too = match kind {
            "past" | "pastOne" => false,
            "pastJoined" => true,
            _ => return Err(ZoomError::invalid_field("type")),
        };
        let size = page_size(q.page_size.as_deref())?;
        let mut meetings: Vec<&Meeting> = company
            .meetings
            .iter()
            .filter(|m| start <= m.start && m.start < end)
            .filter(|m| m.host_id == user.id || (joined_too && m.joined_by(&user.id)))
            .filter(|m| m.is_reportable(ctx.now))
            .collect();
        meetings.sort_by(|a, b| (a.start, &a.uuid).cmp(&(b.start, &b.uuid)));
        let items: Vec<ReportMeeting> = meetings
            .into_iter()
            .map(|m| ReportMeeting::new(company, m))
            .collect();
        let query = format!(
            "report_meetings|{}|{}|{start}|{end}|{kind}",
            ctx.account, user.id
        );
        let page = st.pages.page(
            items,
            size,
            q.next_page_token.as_deref(),
            &query,
            ctx.now,
            &mut st.rng,
        )?;
        let echo = [
            ("from", q.from.clone().unwrap_or_default()),
            ("to", q.to.clone().unwrap_or_default()),
        ];
        Ok(page_json(page, "meetings", &echo))
    })
    .await
}

/// Decodes the raw `{meetingId}` path segment as Zoom does. A double-encoded value (it
/// still holds `%` escapes after one decoding) is decoded twice. A `/` that arrived as a
/// raw separator or single-encoded (`%2F`) makes the meeting unfindable, as in real Zoom.
pub(crate) fn decode_meeting_segment(raw: &str) -> Option<String> {
    if raw.is_empty() || raw.contains('/') {
        return None;
    }
    let once = percent_decode_str(raw).decode_utf8().ok()?.into_owned();
    if once.contains('%') {
        let twice = percent_decode_str(&once).decode_utf8().ok()?.into_owned();
        return Some(twice);
    }
    if once.contains('/') {
        return None;
    }
    Some(once)
}

fn find_meeting<'a>(company: &'a Company, id: &str, now: DateTime<Utc>) -> Option<&'a Meeting> {
    if !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()) {
        // A meeting number: its latest ended instance.
        let number: i64 = id.parse().ok()?;
        return company
            .meetings
            .iter()
            .filter(|m| m.id == number && m.is_reportable(now))
            .max_by_key(|m| m.start);
    }
    let index = *company.uuid_index.get(id)?;
    let meeting = &company.meetings[index];
    meeting.is_reportable(now).then_some(meeting)
}

/// The raw `{meetingId}` segment of a participants path, if `path` is one.
fn participants_segment(path: &str) -> Option<&str> {
    let rest = path.strip_prefix(PARTICIPANTS_PREFIX)?;
    rest.strip_suffix(PARTICIPANTS_SUFFIX)
}

async fn participants(
    State(sim): State<Sim>,
    uri: Uri,
    headers: HeaderMap,
    Query(q): Query<ListQuery>,
) -> Response {
    let segment = participants_segment(uri.path())
        .unwrap_or_default()
        .to_owned();
    participants_for(&sim, segment, &headers, q).await
}

async fn participants_for(
    sim: &Sim,
    segment: String,
    headers: &HeaderMap,
    q: ListQuery,
) -> Response {
    call(sim, Endpoint::Participants, headers, move |st, ctx| {
        let size = page_size(q.page_size.as_deref())?;
        let company = &st.companies[ctx.company];
        let meeting = decode_meeting_segment(&segment)
            .and_then(|id| find_meeting(company, &id, ctx.now))
            .ok_or_else(|| ZoomError::meeting_not_found(&segment))?;
        let mut records: Vec<_> = meeting.records.iter().collect();
        records.sort_by(|a, b| (a.join, &a.user_id).cmp(&(b.join, &b.user_id)));
        let items: Vec<ReportParticipant> =
            records.into_iter().map(ReportParticipant::from).collect();
        let query = format!("participants|{}|{}", ctx.account, meeting.uuid);
        let page = st.pages.page(
            items,
            size,
            q.next_page_token.as_deref(),
            &query,
            ctx.now,
            &mut st.rng,
        )?;
        Ok(page_json(page, "participants", &[]))
    })
    .await
}

/// Catches what the router cannot match: a participants path whose meeting UUID holds a
/// raw `/` (answered 404 code 3001 like Zoom, after the usual checks), or an unknown route.
pub(crate) async fn fallback(
    State(sim): State<Sim>,
    uri: Uri,
    headers: HeaderMap,
    Query(q): Query<ListQuery>,
) -> Response {
    match participants_segment(uri.path()) {
        Some(segment) if !segment.is_empty() => {
            participants_for(&sim, segment.to_owned(), &headers, q).await
        }
        _ => ZoomError::not_found().into_response(),
    }
}

/// Call history `from`/`to`: dates or timestamps; both absent means the last 24 hours;
/// at most a month, within the past six months. Returns `[start, end)` and the echoes.
fn call_range(
    from: Option<&str>,
    to: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(DateTime<Utc>, DateTime<Utc>, String, String), ZoomError> {
    let (start, end) = match (from, to) {
        (None, None) => (trunc(now) - TimeDelta::days(1), trunc(now) + secs(1)),
        (Some(from), to) => {
            let start = parse_from(from).ok_or_else(|| ZoomError::invalid_field("from"))?;
            let end = match to {
                Some(to) => parse_to_exclusive(to).ok_or_else(|| ZoomError::invalid_field("to"))?,
                None => trunc(now) + secs(1),
            };
            (start, end)
        }
        (None, Some(_)) => return Err(ZoomError::invalid_field("from")),
    };
    if end <= start || end - start > TimeDelta::days(31) {
        return Err(ZoomError::bad_range());
    }
    let oldest = now
        .date_naive()
        .checked_sub_months(Months::new(6))
        .unwrap_or(NaiveDate::MIN);
    if start < day_start(oldest) {
        return Err(ZoomError::too_old());
    }
    let echo_from = from.map_or_else(|| start.format("%Y-%m-%d").to_string(), str::to_owned);
    let echo_to = to.map_or_else(|| now.format("%Y-%m-%d").to_string(), str::to_owned);
    Ok((start, end, echo_from, echo_to))
}

/// One page of call-history legs, oldest first: one user's own (`owner`) or the whole
/// account's, each shown by `item` in the `array` of the answer.
fn call_history_page<T: serde::Serialize>(
    st: &mut SimState,
    ctx: &Ctx,
    q: &ListQuery,
    owner: Option<&str>,
    query_key: &str,
    array: &str,
    item: impl Fn(&CallLeg) -> T,
) -> Outcome {
    let (start, end, echo_from, echo_to) = call_range(q.from.as_deref(), q.to.as_deref(), ctx.now)?;
    let size = page_size(q.page_size.as_deref())?;
    let mut legs: Vec<_> = st.companies[ctx.company]
        .calls
        .iter()
        .filter(|leg| owner.is_none_or(|owner| leg.owner_id == owner))
        .filter(|leg| start <= leg.start && leg.start < end && leg.end <= ctx.now)
        .collect();
    legs.sort_by(|a, b| (a.start, &a.id).cmp(&(b.start, &b.id)));
    let items: Vec<T> = legs.into_iter().map(item).collect();
    let query = format!("{query_key}|{start}|{end}");
    let page = st.pages.page(
        items,
        size,
        q.next_page_token.as_deref(),
        &query,
        ctx.now,
        &mut st.rng,
    )?;
    Ok(page_json(
        page,
        array,
        &[("from", echo_from), ("to", echo_to)],
    ))
}

async fn user_call_history(
    State(sim): State<Sim>,
    Path(user_ref): Path<String>,
    headers: HeaderMap,
    Query(q): Query<ListQuery>,
) -> Response {
    call(&sim, Endpoint::UserCallHistory, &headers, move |st, ctx| {
        let user_id = st.companies[ctx.company]
            .resolve_user(&user_ref, &ctx.user_id)
            .ok_or_else(|| ZoomError::user_not_found(&user_ref))?
            .id
            .clone();
        let query_key = format!("user_calls|{}|{user_id}", ctx.account);
        call_history_page(
            st,
            ctx,
            &q,
            Some(&user_id),
            &query_key,
            "call_logs",
            CallLeg::record,
        )
    })
    .await
}

async fn account_call_history(
    State(sim): State<Sim>,
    headers: HeaderMap,
    Query(q): Query<ListQuery>,
) -> Response {
    call(
        &sim,
        Endpoint::AccountCallHistory,
        &headers,
        move |st, ctx| {
            let query_key = format!("account_calls|{}", ctx.account);
            call_history_page(st, ctx, &q, None, &query_key, "call_history", |leg| {
                AccountCall::from(leg)
            })
        },
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meeting_segments_decode_like_zoom() {
        // Double-encoded UUIDs with a leading `/` and with `//`.
        assert_eq!(
            decode_meeting_segment("%252FajXp112QmuoKj4854875%253D%253D").as_deref(),
            Some("/ajXp112QmuoKj4854875==")
        );
        assert_eq!(
            decode_meeting_segment("ab%252F%252Fcd%253D%253D").as_deref(),
            Some("ab//cd==")
        );
        // Plain and single-encoded UUIDs without `/`.
        assert_eq!(
            decode_meeting_segment("abc%2Bd%3D%3D").as_deref(),
            Some("abc+d==")
        );
        assert_eq!(
            decode_meeting_segment("abc+d==").as_deref(),
            Some("abc+d==")
        );
        // A single-encoded `/` or a raw one: not found.
        assert_eq!(
            decode_meeting_segment("%2FajXp112QmuoKj4854875%3D%3D"),
            None
        );
        assert_eq!(decode_meeting_segment("/ajXp"), None);
        assert_eq!(decode_meeting_segment(""), None);
    }

    #[test]
    fn report_range_rules() {
        let now = DateTime::parse_from_rfc3339("2024-06-15T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert!(report_range(Some("2024-05-16"), Some("2024-06-15"), now).is_ok());
        let too_long = report_range(Some("2024-05-01"), Some("2024-06-15"), now).unwrap_err();
        assert_eq!((too_long.status.as_u16(), too_long.code), (400, 300));
        assert!(report_range(Some("2024-06-15"), Some("2024-06-01"), now).is_err());
        assert!(report_range(Some("2023-11-01"), Some("2023-11-20"), now).is_err());
        assert!(report_range(None, Some("2024-06-01"), now).is_err());
    }
}
