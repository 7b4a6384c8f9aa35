//! Public domain types the Zoom client hands out.
//!
//! These are what the rest of the service sees; the JSON shapes Zoom actually sends live
//! in the private `wire` module and are converted here. All types serialise with serde so
//! that they can travel in job payloads.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A Zoom user (`GET /v2/users`, `GET /v2/users/me`).
///
/// <https://developers.zoom.us/docs/api/users/#tag/users/GET/users>
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ZoomUser {
    /// Zoom user id, e.g. `KDcuGIm1QgePTO8WbOqwIQ`.
    pub id: String,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    /// `Owner`, `Admin`, `Member`, … (present on `/users/me`).
    pub role_name: Option<String>,
    /// The Zoom account id (present on `/users/me`).
    pub account_id: Option<String>,
    /// `active`, `inactive` or `pending`.
    pub status: String,
}

/// One instance of a meeting from the meeting report (`GET /v2/report/users/{id}/meetings`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MeetingInstance {
    /// Per-instance UUID (base64-like, may contain `/`, `+`, `=`).
    pub uuid: String,
    /// The meeting number; recurring meetings share it across instances.
    pub meeting_id: i64,
    pub topic: String,
    pub start_time: DateTime<Utc>,
    pub end_time: Option<DateTime<Utc>>,
    pub participants_count: Option<u32>,
}

/// Where a participant record says the person was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ParticipantStatus {
    InMeeting,
    InWaitingRoom,
    Other,
}

/// One join of one participant (`GET /v2/report/meetings/{uuid}/participants`); rejoins and
/// second devices give several records for the same person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParticipantRecord {
    /// The participant's Zoom user id (wire `id`); `None` for guests who did not sign in.
    pub zoom_user_id: Option<String>,
    /// Wire `user_email`; `None` when Zoom hides or does not know it.
    pub email: Option<String>,
    /// Display name; never an identity.
    pub name: String,
    pub join_time: DateTime<Utc>,
    pub leave_time: Option<DateTime<Utc>>,
    pub status: ParticipantStatus,
}

/// One record of a user's phone call history (`GET /v2/phone/users/{id}/call_history`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallRecord {
    /// The call history record id (wire `id`, or `call_history_uuid`).
    pub id: String,
    pub call_id: String,
    /// `inbound` or `outbound`.
    pub direction: String,
    pub start_time: DateTime<Utc>,
    pub answer_time: Option<DateTime<Utc>>,
    pub end_time: Option<DateTime<Utc>>,
    /// Wire `result` or `call_result`, e.g. `answered`, `no_answer`, `voicemail`.
    pub result: String,
}
