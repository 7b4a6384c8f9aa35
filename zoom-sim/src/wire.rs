//! JSON shapes of the Zoom REST answers (zoom-api.md §3–§6), built from the model.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::model::{CallLeg, Company, Meeting, ParticipantRecord, RecordStatus, User};
use crate::time::zoom_ts;
use crate::types::CallRecord;

/// `GET /v2/users/{userId}` and `/v2/users/me` (zoom-api.md §3.2).
#[derive(Debug, Serialize)]
pub(crate) struct UserDetail {
    id: String,
    first_name: String,
    last_name: String,
    display_name: String,
    email: String,
    #[serde(rename = "type")]
    user_type: u8,
    role_name: String,
    role_id: &'static str,
    pmi: i64,
    use_pmi: bool,
    personal_meeting_url: String,
    timezone: String,
    verified: u8,
    dept: String,
    #[serde(with = "zoom_ts")]
    created_at: DateTime<Utc>,
    #[serde(with = "zoom_ts")]
    last_login_time: DateTime<Utc>,
    last_client_version: &'static str,
    pic_url: String,
    language: &'static str,
    phone_number: String,
    status: String,
    account_id: String,
    account_number: i64,
    cluster: &'static str,
    login_types: [u16; 1],
    group_ids: [String; 0],
    user_created_at: String,
}

impl UserDetail {
    pub(crate) fn new(company: &Company, user: &User) -> Self {
        Self {
            id: user.id.clone(),
            first_name: user.first_name.clone(),
            last_name: user.last_name.clone(),
            display_name: user.display_name(),
            email: user.email.clone(),
            user_type: 2,
            role_name: user.role_name.clone(),
            role_id: user.role_id(),
            pmi: user.pmi,
            use_pmi: false,
            personal_meeting_url: format!("https://us06web.zoom.us/j/{}", user.pmi),
            timezone: user.timezone.clone(),
            verified: 1,
            dept: user.dept.clone(),
            created_at: user.created_at,
            last_login_time: user.last_login_time,
            last_client_version: "6.1.1.36333(mac)",
            pic_url: String::new(),
            language: "en-US",
            phone_number: String::new(),
            status: user.status.clone(),
            account_id: company.account_id.clone(),
            account_number: company.account_number,
            cluster: "us06",
            login_types: [100],
            group_ids: [],
            user_created_at: crate::time::fmt(user.created_at),
        }
    }
}

/// An item of `GET /v2/users` (zoom-api.md §3.1).
#[derive(Debug, Clone, Serialize)]
pub(crate) struct UserListItem {
    id: String,
    first_name: String,
    last_name: String,
    display_name: String,
    email: String,
    #[serde(rename = "type")]
    user_type: u8,
    pmi: i64,
    timezone: String,
    verified: u8,
    dept: String,
    #[serde(with = "zoom_ts")]
    created_at: DateTime<Utc>,
    #[serde(with = "zoom_ts")]
    user_created_at: DateTime<Utc>,
    #[serde(with = "zoom_ts")]
    last_login_time: DateTime<Utc>,
    language: &'static str,
    status: String,
    role_id: &'static str,
}

impl From<&User> for UserListItem {
    fn from(user: &User) -> Self {
        Self {
            id: user.id.clone(),
            first_name: user.first_name.clone(),
            last_name: user.last_name.clone(),
            display_name: user.display_name(),
            email: user.email.clone(),
            user_type: 2,
            pmi: user.pmi,
            timezone: user.timezone.clone(),
            verified: 1,
            dept: user.dept.clone(),
            created_at: user.created_at,
            user_created_at: user.created_at,
            last_login_time: user.last_login_time,
            language: "en-US",
            status: user.status.clone(),
            role_id: user.role_id(),
        }
    }
}

/// An item of `GET /v2/report/users/{userId}/meetings` (zoom-api.md §4).
#[derive(Debug, Clone, Serialize)]
pub(crate) struct ReportMeeting {
    uuid: String,
    id: i64,
    #[serde(rename = "type")]
    meeting_type: u8,
    topic: String,
    user_name: String,
    user_email: String,
    #[serde(with = "zoom_ts")]
    start_time: DateTime<Utc>,
    #[serde(with = "zoom_ts")]
    end_time: DateTime<Utc>,
    duration: i64,
    total_minutes: i64,
    participants_count: usize,
    source: &'static str,
}

impl ReportMeeting {
    pub(crate) fn new(company: &Company, meeting: &Meeting) -> Self {
        let host = company.user(&meeting.host_id);
        let attended: i64 = meeting
            .records
            .iter()
            .filter(|r| r.status == RecordStatus::InMeeting)
            .map(|r| (r.leave - r.join).num_seconds())
            .sum();
        Self {
            uuid: meeting.uuid.clone(),
            id: meeting.id,
            meeting_type: meeting.meeting_type,
            topic: meeting.topic.clone(),
            user_name: host.map(User::display_name).unwrap_or_default(),
            user_email: host.map(|h| h.email.clone()).unwrap_or_default(),
            start_time: meeting.start,
            end_time: meeting.end,
            duration: (meeting.end - meeting.start).num_seconds().div_euclid(60),
            total_minutes: attended.div_euclid(60),
            participants_count: meeting.unique_participants(),
            source: "Zoom",
        }
    }
}

/// An item of `GET /v2/report/meetings/{meetingId}/participants` (zoom-api.md §5.1).
#[derive(Debug, Clone, Serialize)]
pub(crate) struct ReportParticipant {
    id: String,
    user_id: String,
    participant_user_id: String,
    name: String,
    user_email: String,
    #[serde(with = "zoom_ts")]
    join_time: DateTime<Utc>,
    #[serde(with = "zoom_ts")]
    leave_time: DateTime<Utc>,
    duration: i64,
    failover: bool,
    status: &'static str,
    customer_key: &'static str,
}

impl From<&ParticipantRecord> for ReportParticipant {
    fn from(record: &ParticipantRecord) -> Self {
        Self {
            id: record.id.clone(),
            user_id: record.user_id.clone(),
            participant_user_id: record.participant_user_id.clone(),
            name: record.name.clone(),
            user_email: record.user_email.clone(),
            join_time: record.join,
            leave_time: record.leave,
            duration: (record.leave - record.join).num_seconds(),
            failover: false,
            status: record.status.as_str(),
            customer_key: "",
        }
    }
}

/// An item of the account-wide `GET /v2/phone/call_history` (zoom-api.md §6.1): one per
/// history record, `call_history_uuid` equal to the per-user record's `id`.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct AccountCall {
    call_history_uuid: String,
    call_id: String,
    direction: String,
    international: bool,
    #[serde(with = "zoom_ts")]
    start_time: DateTime<Utc>,
    #[serde(
        with = "crate::time::zoom_ts_opt",
        skip_serializing_if = "Option::is_none"
    )]
    answer_time: Option<DateTime<Utc>>,
    #[serde(with = "zoom_ts")]
    end_time: DateTime<Utc>,
    duration: i64,
    connect_type: String,
    call_type: String,
    call_result: String,
    hide_caller_id: bool,
    end_to_end: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    caller_ext_id: Option<String>,
    caller_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    caller_email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    caller_ext_number: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    caller_did_number: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    caller_ext_type: Option<String>,
    caller_number_type: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    callee_ext_id: Option<String>,
    callee_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    callee_email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    callee_ext_number: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    callee_did_number: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    callee_ext_type: Option<String>,
    callee_number_type: String,
}

impl From<&CallLeg> for AccountCall {
    fn from(leg: &CallLeg) -> Self {
        let CallRecord {
            id,
            call_id,
            direction,
            connect_type,
            call_type,
            international,
            hide_caller_id,
            end_to_end,
            caller_ext_id,
            caller_name,
            caller_email,
            caller_ext_number,
            caller_did_number,
            caller_ext_type,
            caller_number_type,
            callee_ext_id,
            callee_name,
            callee_email,
            callee_ext_number,
            callee_did_number,
            callee_ext_type,
            callee_number_type,
            start_time,
            answer_time,
            end_time,
            result,
            talk_time,
            ..
        } = leg.record();
        Self {
            call_history_uuid: id,
            call_id,
            direction,
            international,
            start_time,
            answer_time,
            end_time,
            duration: talk_time,
            connect_type,
            call_type,
            call_result: result,
            hide_caller_id,
            end_to_end,
            caller_ext_id,
            caller_name,
            caller_email,
            caller_ext_number,
            caller_did_number,
            caller_ext_type,
            caller_number_type,
            callee_ext_id,
            callee_name,
            callee_email,
            callee_ext_number,
            callee_did_number,
            callee_ext_type,
            callee_number_type,
        }
    }
}
