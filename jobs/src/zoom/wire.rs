//! Private serde types for the JSON Zoom sends, and their conversion into `models`.
//!
//! Deserialisation is deliberately lenient where Zoom is known to vary: `""` for unknown
//! values, missing optional fields, numbers sent as strings, timestamps with `Z`, `+00:00`
//! or fractional seconds, and the `call_logs` / `call_history` arrays of the phone API.
//! Field references: `shared/zoom-api.md` §1.2, §3, §4, §5, §6, §9.

use chrono::{DateTime, NaiveDateTime, Utc};
use serde::{Deserialize, Deserializer};

use super::models::{CallRecord, MeetingInstance, ParticipantRecord, ParticipantStatus, ZoomUser};

/// A page of a cursor-paginated list.
pub(crate) trait Page {
    type Item;
    /// The cursor for the next page; `None` or `""` on the last page.
    fn next_page_token(&self) -> Option<&str>;
    fn into_items(self) -> Vec<Self::Item>;
}

/// Parses Zoom's timestamps: RFC 3339 with `Z` or an offset (optionally fractional), or a
/// naive `YYYY-MM-DDTHH:MM:SS` taken as UTC.
pub(crate) fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f")
        .ok()
        .map(|t| t.and_utc())
}

fn de_time<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
    let s = String::deserialize(d)?;
    parse_time(&s).ok_or_else(|| serde::de::Error::custom("invalid timestamp"))
}

/// `null`, absent, `""` → `None`; anything else must be a timestamp.
fn de_opt_time<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
    match Option::<String>::deserialize(d)? {
        None => Ok(None),
        Some(s) if s.trim().is_empty() => Ok(None),
        Some(s) => parse_time(&s)
            .map(Some)
            .ok_or_else(|| serde::de::Error::custom("invalid timestamp")),
    }
}

/// `null`, absent → `""`.
fn de_string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(Option::<String>::deserialize(d)?.unwrap_or_default())
}

/// `null`, absent, `""` → `None`.
fn de_opt_nonempty<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(Option::<String>::deserialize(d)?.filter(|s| !s.is_empty()))
}

#[derive(Deserialize)]
#[serde(untagged)]
enum NumberOrString {
    Int(i64),
    Str(String),
}

/// A string id that Zoom sometimes sends as a number (e.g. phone `call_id`).
fn de_id_string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(match Option::<NumberOrString>::deserialize(d)? {
        None => String::new(),
        Some(NumberOrString::Int(n)) => n.to_string(),
        Some(NumberOrString::Str(s)) => s,
    })
}

/// An int64 that may arrive as a string (as in webhooks).
fn de_i64<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    match NumberOrString::deserialize(d)? {
        NumberOrString::Int(n) => Ok(n),
        NumberOrString::Str(s) => s
            .trim()
            .parse()
            .map_err(|_| serde::de::Error::custom("invalid integer")),
    }
}

// --- OAuth ---------------------------------------------------------------------------

/// Token endpoint success body (zoom-api.md §1.2).
#[derive(Deserialize)]
pub(crate) struct TokenResponse {
    pub access_token: String,
    #[serde(default)]
    pub refresh_token: Option<String>,
    #[serde(default)]
    pub expires_in: Option<i64>,
    #[serde(default, deserialize_with = "de_opt_nonempty")]
    pub scope: Option<String>,
    #[serde(default, deserialize_with = "de_opt_nonempty")]
    pub api_url: Option<String>,
}

/// Token endpoint error body: `{"reason": "Invalid Token!", "error": "invalid_grant"}`.
#[derive(Deserialize, Default)]
pub(crate) struct OAuthErrorBody {
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub reason: Option<String>,
}

// --- REST errors -----------------------------------------------------------------------

/// REST error body: `{"code": 124, "message": "Invalid access token."}`.
#[derive(Deserialize, Default)]
pub(crate) struct ApiErrorBody {
    #[serde(default)]
    pub code: Option<i64>,
    #[serde(default)]
    pub message: Option<String>,
}

impl ApiErrorBody {
    /// Parses an error body; non-JSON (Zoom sometimes answers XML) gives an empty body.
    pub fn parse(bytes: &[u8]) -> Self {
        serde_json::from_slice(bytes).unwrap_or_default()
    }
}

// --- Users -----------------------------------------------------------------------------

#[derive(Deserialize)]
pub(crate) struct WireUser {
    pub id: String,
    #[serde(default, deserialize_with = "de_string")]
    pub email: String,
    #[serde(default, deserialize_with = "de_string")]
    pub first_name: String,
    #[serde(default, deserialize_with = "de_string")]
    pub last_name: String,
    #[serde(default, deserialize_with = "de_opt_nonempty")]
    pub role_name: Option<String>,
    #[serde(default, deserialize_with = "de_opt_nonempty")]
    pub account_id: Option<String>,
    #[serde(default, deserialize_with = "de_string")]
    pub status: String,
}

impl From<WireUser> for ZoomUser {
    fn from(u: WireUser) -> Self {
        Self {
            id: u.id,
            email: u.email,
            first_name: u.first_name,
            last_name: u.last_name,
            role_name: u.role_name,
            account_id: u.account_id,
            status: u.status,
        }
    }
}

/// `GET /v2/users` page (zoom-api.md §3.1).
#[derive(Deserialize)]
pub(crate) struct UsersPage {
    #[serde(default)]
    next_page_token: Option<String>,
    #[serde(default)]
    users: Vec<WireUser>,
}

impl Page for UsersPage {
    type Item = ZoomUser;
    fn next_page_token(&self) -> Option<&str> {
        self.next_page_token.as_deref()
    }
    fn into_items(self) -> Vec<ZoomUser> {
        self.users.into_iter().map(Into::into).collect()
    }
}

// --- Report: meetings ------------------------------------------------------------------

#[derive(Deserialize)]
pub(crate) struct WireMeeting {
    uuid: String,
    #[serde(deserialize_with = "de_i64")]
    id: i64,
    #[serde(default, deserialize_with = "de_string")]
    topic: String,
    #[serde(deserialize_with = "de_time")]
    start_time: DateTime<Utc>,
    #[serde(default, deserialize_with = "de_opt_time")]
    end_time: Option<DateTime<Utc>>,
    #[serde(default)]
    participants_count: Option<u32>,
}

/// `GET /v2/report/users/{userId}/meetings` page (zoom-api.md §4).
#[derive(Deserialize)]
pub(crate) struct MeetingsPage {
    #[serde(default)]
    next_page_token: Option<String>,
    #[serde(default)]
    meetings: Vec<WireMeeting>,
}

impl Page for MeetingsPage {
    type Item = MeetingInstance;
    fn next_page_token(&self) -> Option<&str> {
        self.next_page_token.as_deref()
    }
    fn into_items(self) -> Vec<MeetingInstance> {
        self.meetings
            .into_iter()
            .map(|m| MeetingInstance {
                uuid: m.uuid,
                meeting_id: m.id,
                topic: m.topic,
                start_time: m.start_time,
                end_time: m.end_time,
                participants_count: m.participants_count,
            })
            .collect()
    }
}

// --- Report: participants --------------------------------------------------------------

#[derive(Deserialize)]
pub(crate) struct WireParticipant {
    #[serde(default, deserialize_with = "de_opt_nonempty")]
    id: Option<String>,
    #[serde(default, alias = "email", deserialize_with = "de_opt_nonempty")]
    user_email: Option<String>,
    #[serde(default, deserialize_with = "de_string")]
    name: String,
    #[serde(deserialize_with = "de_time")]
    join_time: DateTime<Utc>,
    #[serde(default, deserialize_with = "de_opt_time")]
    leave_time: Option<DateTime<Utc>>,
    #[serde(default)]
    status: Option<String>,
}

impl From<WireParticipant> for ParticipantRecord {
    fn from(p: WireParticipant) -> Self {
        let status = match p.status.as_deref() {
            // Older responses have no status: the record is of someone in the meeting.
            None | Some("" | "in_meeting") => ParticipantStatus::InMeeting,
            Some("in_waiting_room") => ParticipantStatus::InWaitingRoom,
            Some(_) => ParticipantStatus::Other,
        };
        Self {
            zoom_user_id: p.id,
            email: p.user_email,
            name: p.name,
            join_time: p.join_time,
            leave_time: p.leave_time,
            status,
        }
    }
}

/// `GET /v2/report/meetings/{meetingId}/participants` page (zoom-api.md §5.1).
#[derive(Deserialize)]
pub(crate) struct ParticipantsPage {
    #[serde(default)]
    next_page_token: Option<String>,
    #[serde(default)]
    participants: Vec<WireParticipant>,
}

impl Page for ParticipantsPage {
    type Item = ParticipantRecord;
    fn next_page_token(&self) -> Option<&str> {
        self.next_page_token.as_deref()
    }
    fn into_items(self) -> Vec<ParticipantRecord> {
        self.participants.into_iter().map(Into::into).collect()
    }
}

// --- Phone: call history ---------------------------------------------------------------

#[derive(Deserialize)]
pub(crate) struct WireCall {
    #[serde(default, deserialize_with = "de_id_string")]
    id: String,
    #[serde(default, deserialize_with = "de_id_string")]
    call_history_uuid: String,
    #[serde(default, deserialize_with = "de_id_string")]
    call_id: String,
    #[serde(default, deserialize_with = "de_string")]
    direction: String,
    #[serde(deserialize_with = "de_time")]
    start_time: DateTime<Utc>,
    #[serde(default, deserialize_with = "de_opt_time")]
    answer_time: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "de_opt_time")]
    end_time: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "de_opt_nonempty")]
    result: Option<String>,
    #[serde(default, deserialize_with = "de_opt_nonempty")]
    call_result: Option<String>,
}

impl From<WireCall> for CallRecord {
    fn from(c: WireCall) -> Self {
        let id = if c.id.is_empty() {
            c.call_history_uuid
        } else {
            c.id
        };
        Self {
            id,
            call_id: c.call_id,
            direction: c.direction,
            start_time: c.start_time,
            answer_time: c.answer_time,
            end_time: c.end_time,
            result: c.result.or(c.call_result).unwrap_or_default(),
        }
    }
}

/// `GET /v2/phone/users/{userId}/call_history` page (zoom-api.md §6.2). The per-user
/// endpoint answers `call_logs[]`; the account-wide one `call_history[]`; accept either.
#[derive(Deserialize)]
pub(crate) struct CallHistoryPage {
    #[serde(default)]
    next_page_token: Option<String>,
    #[serde(default)]
    call_logs: Option<Vec<WireCall>>,
    #[serde(default)]
    call_history: Option<Vec<WireCall>>,
}

impl Page for CallHistoryPage {
    type Item = CallRecord;
    fn next_page_token(&self) -> Option<&str> {
        self.next_page_token.as_deref()
    }
    fn into_items(self) -> Vec<CallRecord> {
        // Prefer the array that has data; during Zoom's migration both may be present with
        // the same calls, so never concatenate them.
        let calls = match (self.call_logs, self.call_history) {
            (Some(logs), Some(history)) if logs.is_empty() => history,
            (Some(logs), _) => logs,
            (None, Some(history)) => history,
            (None, None) => Vec::new(),
        };
        calls.into_iter().map(Into::into).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn timestamps_in_every_known_shape() {
        let want = Utc.with_ymd_and_hms(2021, 10, 8, 16, 12, 4).unwrap();
        for s in [
            "2021-10-08T16:12:04Z",
            "2021-10-08T16:12:04+00:00",
            "2021-10-08T16:12:04.0000000+00:00",
            "2021-10-08T18:12:04+02:00",
            "2021-10-08T16:12:04",
        ] {
            assert_eq!(parse_time(s), Some(want), "{s}");
        }
        assert_eq!(parse_time("12/22/2021 16:20"), None);
    }

    #[test]
    fn participants_blank_ids_and_statuses() {
        let page: ParticipantsPage = serde_json::from_str(
            r#"{"next_page_token":"","participants":[
              {"id":"30R7kT7bTIKSNUFEuH_Qlg","user_id":"27423744","name":"Jill","user_email":"jchill@example.com",
               "join_time":"2022-03-23T06:58:09Z","leave_time":"2022-03-23T07:02:28Z","duration":259,"status":"in_meeting"},
              {"id":"","name":"Guest","user_email":"","join_time":"2022-03-23T06:58:09.0000000+00:00","status":"in_waiting_room"},
              {"name":"Old","join_time":"2022-03-23T06:58:09Z","leave_time":""},
              {"id":"x","name":"Odd","join_time":"2022-03-23T06:58:09Z","status":"breakout"}
            ]}"#,
        )
        .unwrap();
        assert_eq!(page.next_page_token(), Some(""));
        let items = page.into_items();
        assert_eq!(
            items[0].zoom_user_id.as_deref(),
            Some("30R7kT7bTIKSNUFEuH_Qlg")
        );
        assert_eq!(items[0].email.as_deref(), Some("jchill@example.com"));
        assert_eq!(items[0].status, ParticipantStatus::InMeeting);
        assert!(items[0].leave_time.is_some());
        assert_eq!(items[1].zoom_user_id, None);
        assert_eq!(items[1].email, None);
        assert_eq!(items[1].status, ParticipantStatus::InWaitingRoom);
        assert_eq!(items[2].status, ParticipantStatus::InMeeting);
        assert_eq!(items[2].leave_time, None);
        assert_eq!(items[3].status, ParticipantStatus::Other);
    }

    #[test]
    fn meetings_tolerate_string_ids_and_missing_fields() {
        let page: MeetingsPage = serde_json::from_str(
            r#"{"meetings":[
              {"uuid":"/abc==","id":85746065123,"topic":"T","start_time":"2019-07-15T23:24:52Z","end_time":"2019-07-15T23:30:19Z","participants_count":2},
              {"uuid":"x","id":"12345","start_time":"2019-07-15T23:24:52Z"}
            ]}"#,
        )
        .unwrap();
        assert_eq!(page.next_page_token(), None);
        let items = page.into_items();
        assert_eq!(items[0].meeting_id, 85_746_065_123);
        assert_eq!(items[0].participants_count, Some(2));
        assert_eq!(items[1].meeting_id, 12345);
        assert_eq!(items[1].topic, "");
        assert_eq!(items[1].end_time, None);
    }

    #[test]
    fn calls_from_either_array_and_either_result_field() {
        let logs: CallHistoryPage = serde_json::from_str(
            r#"{"next_page_token":"n","call_logs":[
              {"id":"a","call_id":"7018317023722949162","direction":"inbound","start_time":"2021-10-08T16:12:04Z",
               "answer_time":"2021-10-08T16:12:10Z","end_time":"2021-10-08T16:12:15Z","result":"answered","talk_time":5},
              {"id":"b","call_id":7018317023722949163,"direction":"outbound","start_time":"2021-10-08T16:12:04Z","answer_time":"","result":"no_answer"}
            ]}"#,
        )
        .unwrap();
        let items = logs.into_items();
        assert_eq!(items.len(), 2);
        assert_eq!(items[0].result, "answered");
        assert!(items[0].answer_time.is_some());
        assert_eq!(items[1].call_id, "7018317023722949163");
        assert_eq!(items[1].answer_time, None);
        assert_eq!(items[1].end_time, None);

        let history: CallHistoryPage = serde_json::from_str(
            r#"{"call_history":[{"call_history_uuid":"20211008-48c1","call_id":"1","direction":"inbound",
               "start_time":"2021-10-08T16:12:04Z","call_result":"answered"}]}"#,
        )
        .unwrap();
        let items = history.into_items();
        assert_eq!(items[0].id, "20211008-48c1");
        assert_eq!(items[0].result, "answered");
    }

    #[test]
    fn users_and_error_bodies() {
        let page: UsersPage = serde_json::from_str(
            r#"{"next_page_token":"t","users":[{"id":"u1","email":"a@b.test","first_name":"A","last_name":null,"status":"active"}]}"#,
        )
        .unwrap();
        let users = page.into_items();
        assert_eq!(users[0].last_name, "");
        assert_eq!(users[0].role_name, None);

        let body = ApiErrorBody::parse(br#"{"code":124,"message":"Access token is expired."}"#);
        assert_eq!(body.code, Some(124));
        let xml = ApiErrorBody::parse(b"<?xml version=\"1.0\"?><error><code>124</code></error>");
        assert_eq!(xml.code, None);
    }
}
