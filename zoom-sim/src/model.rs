//! The simulated world: companies (Zoom accounts) with their users, meeting instances with
//! participant records, and phone call history records. Generated data and hand-built data
//! live in the same structures; the Zoom routes and the ground truth both read them.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use rand_chacha::ChaCha8Rng;

use crate::limits::Limits;
use crate::types::{AdminInfo, CallRecord, CompanyInfo, UserInfo};

/// Call results that mean the call connected (zoom-api.md §6.1).
pub(crate) const CONNECTED_RESULTS: [&str; 5] = [
    "answered",
    "connected",
    "accepted",
    "picked_up",
    "succeeded",
];

/// A Zoom account.
#[derive(Debug)]
pub(crate) struct Company {
    pub account_id: String,
    pub account_number: i64,
    pub domain: String,
    pub limits: Limits,
    pub users: Vec<User>,
    pub meetings: Vec<Meeting>,
    /// Meeting UUID → index in `meetings`.
    pub uuid_index: HashMap<String, usize>,
    pub calls: Vec<CallLeg>,
    /// The user who approves the next install (the owner when `None`).
    pub approver: Option<String>,
    /// Source of every later random choice for this company (ids of added users, ...).
    pub rng: ChaCha8Rng,
}

impl Company {
    pub(crate) fn user(&self, id: &str) -> Option<&User> {
        self.users.iter().find(|u| u.id == id)
    }

    /// Resolves a path `userId`: a user id, an e-mail (case-insensitive) or `me`.
    pub(crate) fn resolve_user(&self, reference: &str, me: &str) -> Option<&User> {
        let reference = if reference == "me" { me } else { reference };
        self.users
            .iter()
            .find(|u| u.id == reference || u.email.eq_ignore_ascii_case(reference))
    }

    pub(crate) fn owner(&self) -> &User {
        self.users
            .iter()
            .find(|u| u.role_name == "Owner")
            .unwrap_or(&self.users[0])
    }

    pub(crate) fn push_meeting(&mut self, meeting: Meeting) {
        self.uuid_index
            .insert(meeting.uuid.clone(), self.meetings.len());
        self.meetings.push(meeting);
    }

    pub(crate) fn info(&self) -> CompanyInfo {
        let owner = self.owner();
        CompanyInfo {
            account_id: self.account_id.clone(),
            domain: self.domain.clone(),
            admin: AdminInfo {
                id: owner.id.clone(),
                email: owner.email.clone(),
            },
            users: self.users.iter().map(User::info).collect(),
        }
    }
}

/// A user of an account.
#[derive(Debug, Clone)]
pub(crate) struct User {
    pub id: String,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    /// `Owner`, `Admin` or `Member`.
    pub role_name: String,
    /// `active`, `inactive` or `pending`.
    pub status: String,
    pub timezone: String,
    pub dept: String,
    pub pmi: i64,
    pub created_at: DateTime<Utc>,
    pub last_login_time: DateTime<Utc>,
    /// Zoom Phone extension id, number and direct number.
    pub ext_id: String,
    pub ext_number: String,
    pub did_number: String,
}

impl User {
    pub(crate) fn display_name(&self) -> String {
        format!("{} {}", self.first_name, self.last_name)
    }

    pub(crate) fn role_id(&self) -> &'static str {
        match self.role_name.as_str() {
            "Owner" => "0",
            "Admin" => "1",
            _ => "2",
        }
    }

    pub(crate) fn info(&self) -> UserInfo {
        UserInfo {
            id: self.id.clone(),
            email: self.email.clone(),
            first_name: self.first_name.clone(),
            last_name: self.last_name.clone(),
            role_name: self.role_name.clone(),
        }
    }

    pub(crate) fn party(&self) -> Party {
        Party {
            name: self.display_name(),
            email: Some(self.email.clone()),
            ext_id: Some(self.ext_id.clone()),
            ext_number: Some(self.ext_number.clone()),
            did_number: Some(self.did_number.clone()),
            ext_type: Some("user".to_owned()),
            number_type: "zoom_pstn".to_owned(),
        }
    }
}

/// Where a participant record was: in the meeting or waiting to be admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RecordStatus {
    InMeeting,
    InWaitingRoom,
}

impl RecordStatus {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::InMeeting => "in_meeting",
            Self::InWaitingRoom => "in_waiting_room",
        }
    }

    pub(crate) fn parse(raw: &str) -> Option<Self> {
        match raw {
            "in_meeting" => Some(Self::InMeeting),
            "in_waiting_room" => Some(Self::InWaitingRoom),
            _ => None,
        }
    }
}

/// One join of one person (a rejoin or a second device is another record).
#[derive(Debug, Clone)]
pub(crate) struct ParticipantRecord {
    /// The person's Zoom user id; `""` for guests who did not sign in.
    pub id: String,
    /// Per-meeting participant id (numeric string), unique per record.
    pub user_id: String,
    pub participant_user_id: String,
    pub name: String,
    /// `""` for people outside the host's account.
    pub user_email: String,
    pub join: DateTime<Utc>,
    pub leave: DateTime<Utc>,
    pub status: RecordStatus,
}

impl ParticipantRecord {
    /// Who this record belongs to, for counting unique participants: the Zoom user id,
    /// else the e-mail, else the display name.
    pub(crate) fn person_key(&self) -> String {
        if !self.id.is_empty() {
            format!("id:{}", self.id)
        } else if !self.user_email.is_empty() {
            format!("email:{}", self.user_email.to_ascii_lowercase())
        } else {
            format!("name:{}", self.name)
        }
    }
}

/// One meeting instance (one UUID).
#[derive(Debug, Clone)]
pub(crate) struct Meeting {
    pub uuid: String,
    pub id: i64,
    pub meeting_type: u8,
    pub topic: String,
    pub host_id: String,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub publish_delay_secs: i64,
    pub records: Vec<ParticipantRecord>,
}

impl Meeting {
    /// Ended and its report published at `now`.
    pub(crate) fn is_published(&self, now: DateTime<Utc>) -> bool {
        self.end <= now && self.end + crate::time::secs(self.publish_delay_secs) <= now
    }

    /// Distinct people with an `in_meeting` record.
    pub(crate) fn unique_participants(&self) -> usize {
        self.records
            .iter()
            .filter(|r| r.status == RecordStatus::InMeeting)
            .map(ParticipantRecord::person_key)
            .collect::<HashSet<_>>()
            .len()
    }

    /// Whether the user has an `in_meeting` record (matched by Zoom user id).
    pub(crate) fn joined_by(&self, user_id: &str) -> bool {
        self.records
            .iter()
            .any(|r| r.status == RecordStatus::InMeeting && r.id == user_id)
    }

    /// Listed in reports at `now`: published, with two or more unique participants.
    pub(crate) fn is_reportable(&self, now: DateTime<Utc>) -> bool {
        self.is_published(now) && self.unique_participants() >= 2
    }
}

/// One side of a phone call.
#[derive(Debug, Clone)]
pub(crate) struct Party {
    pub name: String,
    pub email: Option<String>,
    pub ext_id: Option<String>,
    pub ext_number: Option<String>,
    pub did_number: Option<String>,
    pub ext_type: Option<String>,
    pub number_type: String,
}

/// One record of one user's call history (an internal call has one per side).
#[derive(Debug, Clone)]
pub(crate) struct CallLeg {
    pub id: String,
    pub call_id: String,
    pub owner_id: String,
    pub outbound: bool,
    pub internal: bool,
    pub result: String,
    pub start: DateTime<Utc>,
    pub answer: Option<DateTime<Utc>>,
    pub end: DateTime<Utc>,
    pub caller: Party,
    pub callee: Party,
}

impl CallLeg {
    pub(crate) fn talk_secs(&self) -> i64 {
        self.answer
            .map_or(0, |answer| (self.end - answer).num_seconds().max(0))
    }

    pub(crate) fn ring_secs(&self) -> i64 {
        (self.answer.unwrap_or(self.end) - self.start)
            .num_seconds()
            .max(0)
    }

    pub(crate) fn direction(&self) -> &'static str {
        if self.outbound { "outbound" } else { "inbound" }
    }

    pub(crate) fn connect_type(&self) -> &'static str {
        if self.internal {
            "internal"
        } else {
            "external"
        }
    }

    /// The record as the per-user call history lists it.
    pub(crate) fn record(&self) -> CallRecord {
        CallRecord {
            id: self.id.clone(),
            call_id: self.call_id.clone(),
            direction: self.direction().to_owned(),
            connect_type: self.connect_type().to_owned(),
            call_type: "general".to_owned(),
            international: false,
            hide_caller_id: false,
            end_to_end: false,
            caller_ext_id: self.caller.ext_id.clone(),
            caller_name: self.caller.name.clone(),
            caller_email: self.caller.email.clone(),
            caller_ext_number: self.caller.ext_number.clone(),
            caller_did_number: self.caller.did_number.clone(),
            caller_ext_type: self.caller.ext_type.clone(),
            caller_number_type: self.caller.number_type.clone(),
            callee_ext_id: self.callee.ext_id.clone(),
            callee_name: self.callee.name.clone(),
            callee_email: self.callee.email.clone(),
            callee_ext_number: self.callee.ext_number.clone(),
            callee_did_number: self.callee.did_number.clone(),
            callee_ext_type: self.callee.ext_type.clone(),
            callee_number_type: self.callee.number_type.clone(),
            start_time: self.start,
            answer_time: self.answer,
            end_time: self.end,
            event: if self.outbound {
                "outgoing"
            } else {
                "incoming"
            }
            .to_owned(),
            result: self.result.clone(),
            talk_time: self.talk_secs(),
            hold_time: 0,
            wait_time: self.ring_secs(),
        }
    }
}
