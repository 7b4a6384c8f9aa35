//! Public request and answer types of the control API (`/_sim/...`) and of the in-process
//! [`crate::Sim`] handle. They serialize to exactly the JSON the control routes speak.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::limits::{Category, Limits};

fn default_users() -> usize {
    40
}
fn default_days() -> u32 {
    30
}
fn default_meetings_rate() -> f64 {
    1.5
}
fn default_calls_rate() -> f64 {
    1.0
}
fn default_share() -> f64 {
    0.5
}
fn default_plan() -> String {
    "business".to_owned()
}

/// Body of `POST /_sim/companies`: what to generate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompanySpec {
    pub domain: String,
    #[serde(default = "default_users")]
    pub users: usize,
    /// Whole UTC days before today (sim clock) that get meetings and calls.
    #[serde(default = "default_days")]
    pub days: u32,
    /// Mean meetings each user hosts per day.
    #[serde(default = "default_meetings_rate")]
    pub meetings_per_user_per_day: f64,
    /// Mean phone calls each user makes or receives per day.
    #[serde(default = "default_calls_rate")]
    pub calls_per_user_per_day: f64,
    /// Share of meetings that include other members of the company.
    #[serde(default = "default_share")]
    pub shared_meeting_share: f64,
    /// `business` (default: the configured limits), `pro`, `enterprise`, ...
    #[serde(default = "default_plan")]
    pub plan: String,
    /// Overrides the plan's rate limits for this account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<Limits>,
}

impl CompanySpec {
    /// A spec with the documented defaults.
    pub fn new(domain: impl Into<String>) -> Self {
        Self {
            domain: domain.into(),
            users: default_users(),
            days: default_days(),
            meetings_per_user_per_day: default_meetings_rate(),
            calls_per_user_per_day: default_calls_rate(),
            shared_meeting_share: default_share(),
            plan: default_plan(),
            limits: None,
        }
    }
}

/// A user as the control API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserInfo {
    pub id: String,
    /// As Zoom stores it (may contain upper-case letters).
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub role_name: String,
}

/// The company's admin (the default approver of installs).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdminInfo {
    pub id: String,
    pub email: String,
}

/// Answer of `POST /_sim/companies` and `GET /_sim/companies/{account_id}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompanyInfo {
    pub account_id: String,
    pub domain: String,
    pub admin: AdminInfo,
    pub users: Vec<UserInfo>,
}

/// Body of `POST /_sim/companies/{account_id}/approver`: who "clicks Allow" on the next
/// authorize. An e-mail that is not yet a user of the account adds one (role `Admin`
/// unless `role_name` says otherwise), so installs by users of other domains can be tested.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApproverSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role_name: Option<String>,
}

/// Body of `POST /_sim/companies/{account_id}/users`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewUser {
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    /// `Member` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role_name: Option<String>,
}

/// One participant record of a hand-built meeting: a member (`user_id`) or a guest
/// (`guest_name`, optionally `email`). Offsets are seconds after the meeting start.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewParticipant {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guest_name: Option<String>,
    /// Overrides the e-mail on the record (a member's stored e-mail by default, `""` for guests).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    pub join_offset_secs: i64,
    pub leave_offset_secs: i64,
    /// `in_meeting` (default) or `in_waiting_room`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
}

/// Body of `POST /_sim/companies/{account_id}/meetings`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewMeeting {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic: Option<String>,
    pub host_id: String,
    /// Defaults to sim-now minus the longest leave offset (the meeting has just ended).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<DateTime<Utc>>,
    pub participants: Vec<NewParticipant>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uuid: Option<String>,
    /// The meeting number; reuse one to build occurrences of a recurring meeting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meeting_id: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub publish_delay_secs: Option<i64>,
    /// Zoom meeting type (2 scheduled by default; 8 when `meeting_id` repeats).
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub meeting_type: Option<u8>,
}

/// Answer of `POST /_sim/companies/{account_id}/meetings`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MeetingCreated {
    pub uuid: String,
    pub id: i64,
    #[serde(with = "crate::time::zoom_ts")]
    pub start_time: DateTime<Utc>,
    #[serde(with = "crate::time::zoom_ts")]
    pub end_time: DateTime<Utc>,
}

/// Body of `POST /_sim/companies/{account_id}/calls`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewCall {
    pub user_id: String,
    /// `inbound` or `outbound`, from `user_id`'s side.
    pub direction: String,
    /// `answered`, `no_answer`, `voicemail`, `busy`, `canceled`, ... (zoom-api.md §6.1).
    pub result: String,
    /// Defaults to sim-now minus ring and talk time (the call has just ended).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<DateTime<Utc>>,
    #[serde(default)]
    pub ring_secs: i64,
    #[serde(default)]
    pub talk_secs: i64,
    /// Another member of the account: an internal call, recorded in both histories.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer_user_id: Option<String>,
}

/// A call history record as `GET /v2/phone/users/{userId}/call_history` lists it in
/// `call_logs[]` (zoom-api.md §6.2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallRecord {
    pub id: String,
    pub call_id: String,
    pub direction: String,
    pub connect_type: String,
    pub call_type: String,
    pub international: bool,
    pub hide_caller_id: bool,
    pub end_to_end: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caller_ext_id: Option<String>,
    pub caller_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caller_email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caller_ext_number: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caller_did_number: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caller_ext_type: Option<String>,
    pub caller_number_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callee_ext_id: Option<String>,
    pub callee_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callee_email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callee_ext_number: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callee_did_number: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callee_ext_type: Option<String>,
    pub callee_number_type: String,
    #[serde(with = "crate::time::zoom_ts")]
    pub start_time: DateTime<Utc>,
    #[serde(
        default,
        with = "crate::time::zoom_ts_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub answer_time: Option<DateTime<Utc>>,
    #[serde(with = "crate::time::zoom_ts")]
    pub end_time: DateTime<Utc>,
    /// `incoming` or `outgoing`.
    pub event: String,
    pub result: String,
    pub talk_time: i64,
    pub hold_time: i64,
    pub wait_time: i64,
}

/// Answer of `GET /_sim/clock` and `POST /_sim/clock/advance`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClockInfo {
    #[serde(with = "crate::time::zoom_ts")]
    pub now: DateTime<Utc>,
}

/// One row of `requests` in `GET /_sim/counters`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestCount {
    /// `""` when the request could not be tied to an account (e.g. an unknown token).
    pub account_id: String,
    /// Method and route template, e.g. `GET /v2/report/meetings/{meetingId}/participants`.
    pub endpoint: String,
    pub status: u16,
    pub count: u64,
}

/// One row of `max_per_second` in `GET /_sim/counters`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MaxPerSecond {
    pub account_id: String,
    pub category: Category,
    /// Most requests allowed (answered other than 429) in any sliding one-second window.
    pub max: u32,
}

/// Answer of `GET /_sim/counters`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counters {
    pub requests: Vec<RequestCount>,
    pub max_per_second: Vec<MaxPerSecond>,
    /// Successful `POST /oauth/revoke` calls.
    pub revocations: u64,
    /// Successful `grant_type=refresh_token` exchanges.
    pub refreshes: u64,
    /// `POST /oauth/data/compliance` calls accepted.
    pub compliance_calls: u64,
}

impl Counters {
    /// Sum of `count` over rows matching `endpoint` and, when given, `status`.
    pub fn count(&self, endpoint: &str, status: Option<u16>) -> u64 {
        self.requests
            .iter()
            .filter(|row| row.endpoint == endpoint && status.is_none_or(|s| s == row.status))
            .map(|row| row.count)
            .sum()
    }
}

/// A meeting the user should be billed for, per the billables rules.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TruthMeeting {
    pub uuid: String,
    pub meeting_id: i64,
    pub topic: String,
    /// The user's first join.
    #[serde(with = "crate::time::zoom_ts")]
    pub start_time: DateTime<Utc>,
    /// The user's last leave.
    #[serde(with = "crate::time::zoom_ts")]
    pub end_time: DateTime<Utc>,
    /// Length of the union of the user's `in_meeting` intervals.
    pub duration_seconds: i64,
    #[serde(with = "crate::time::zoom_ts")]
    pub meeting_start_time: DateTime<Utc>,
    #[serde(with = "crate::time::zoom_ts")]
    pub meeting_end_time: DateTime<Utc>,
}

/// A connected call of the user's own history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TruthCall {
    /// The call history record id (`call_logs[].id`).
    pub id: String,
    pub call_id: String,
    #[serde(with = "crate::time::zoom_ts")]
    pub start_time: DateTime<Utc>,
    #[serde(with = "crate::time::zoom_ts")]
    pub answer_time: DateTime<Utc>,
    #[serde(with = "crate::time::zoom_ts")]
    pub end_time: DateTime<Utc>,
    pub duration_seconds: i64,
}

/// Answer of `GET /_sim/truth/{account_id}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Truth {
    pub meetings: Vec<TruthMeeting>,
    pub calls: Vec<TruthCall>,
}

/// Query of `GET /_sim/truth/{account_id}`: `from`/`to` are inclusive dates (`yyyy-mm-dd`)
/// or RFC 3339 times; absent means unbounded.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TruthQuery {
    pub user_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
}
