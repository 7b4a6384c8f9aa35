//! The billables rules (SPEC §5) as pure functions: who participated, for how long, and how
//! many minutes that bills. No I/O here; the tasks feed these with Zoom's records and store
//! what comes out.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::zoom::{CallRecord, MeetingInstance, ParticipantRecord, ParticipantStatus};

/// Where an entry comes from (the `source` column).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    ZoomMeeting,
    ZoomCall,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ZoomMeeting => "zoom_meeting",
            Self::ZoomCall => "zoom_call",
        }
    }
}

/// How a member is recognised in Zoom's records: their Zoom user id, or their Zoom e-mail
/// (case-insensitively). A display name never identifies anyone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    pub zoom_user_id: String,
    /// Lower-cased.
    pub email: Option<String>,
}

impl Identity {
    pub fn new(zoom_user_id: impl Into<String>, email: Option<&str>) -> Self {
        Self {
            zoom_user_id: zoom_user_id.into(),
            email: email
                .map(|e| e.trim().to_lowercase())
                .filter(|e| !e.is_empty()),
        }
    }

    /// Rule 2: the record is this member's, and they were in the meeting (not the waiting room).
    pub fn attended(&self, record: &ParticipantRecord) -> bool {
        if record.status == ParticipantStatus::InWaitingRoom {
            return false;
        }
        let by_id = record
            .zoom_user_id
            .as_deref()
            .is_some_and(|id| !id.is_empty() && id == self.zoom_user_id);
        let by_email = match (&self.email, record.email.as_deref()) {
            (Some(mine), Some(theirs)) => {
                !theirs.trim().is_empty() && theirs.trim().to_lowercase() == *mine
            }
            _ => false,
        };
        by_id || by_email
    }
}

/// A billable entry as computed (before storage).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub source: Source,
    pub external_id: String,
    pub title: String,
    pub started_at: DateTime<Utc>,
    pub ended_at: DateTime<Utc>,
    pub duration_seconds: i64,
    pub billed_minutes: i64,
    pub participant_count: Option<i64>,
}

/// Rule 4: the duration rounded **up** to the increment (1 s bills one increment; an exact
/// multiple bills itself). Zero seconds bill nothing.
pub fn billed_minutes(duration_seconds: i64, increment_minutes: u32) -> i64 {
    if duration_seconds <= 0 {
        return 0;
    }
    let step = i64::from(increment_minutes.max(1)) * 60;
    (duration_seconds + step - 1) / step * (step / 60)
}

/// Rule 3: the union of intervals: (first start, last end, seconds covered). Overlapping and
/// touching intervals count once; empty or inverted intervals are ignored.
pub fn union(
    mut intervals: Vec<(DateTime<Utc>, DateTime<Utc>)>,
) -> Option<(DateTime<Utc>, DateTime<Utc>, i64)> {
    intervals.retain(|(start, end)| end > start);
    intervals.sort();
    let first = intervals.first()?.0;
    let mut last = first;
    let mut total = 0;
    let mut current: Option<(DateTime<Utc>, DateTime<Utc>)> = None;
    for (start, end) in intervals {
        current = match current {
            Some((cs, ce)) if start <= ce => Some((cs, ce.max(end))),
            Some((cs, ce)) => {
                total += (ce - cs).num_seconds();
                Some((start, end))
            }
            None => Some((start, end)),
        };
        last = last.max(end);
    }
    if let Some((cs, ce)) = current {
        total += (ce - cs).num_seconds();
    }
    Some((first, last, total))
}

/// Distinct people in the meeting (not the waiting room), for the entry's participant count.
fn participant_count(records: &[ParticipantRecord]) -> i64 {
    let people: HashSet<String> = records
        .iter()
        .filter(|r| r.status != ParticipantStatus::InWaitingRoom)
        .map(|r| match (r.zoom_user_id.as_deref(), r.email.as_deref()) {
            (Some(id), _) if !id.is_empty() => format!("id:{id}"),
            (_, Some(email)) if !email.is_empty() => format!("email:{}", email.to_lowercase()),
            _ => format!("guest:{}", r.name),
        })
        .collect();
    i64::try_from(people.len()).unwrap_or(i64::MAX)
}

/// Rules 1–5 for one meeting instance: the member's entry, if they took part. Only ended
/// meetings count (`end_time` at or before `now`); a record still open at the end of the
/// meeting is closed at the meeting's end.
pub fn meeting_entry(
    member: &Identity,
    meeting: &MeetingInstance,
    records: &[ParticipantRecord],
    increment_minutes: u32,
    now: DateTime<Utc>,
) -> Option<Entry> {
    let meeting_end = meeting.end_time.filter(|end| *end <= now)?;
    let mine: Vec<_> = records
        .iter()
        .filter(|r| member.attended(r))
        .map(|r| {
            (
                r.join_time,
                r.leave_time
                    .unwrap_or(meeting_end)
                    .min(meeting_end.max(r.join_time)),
            )
        })
        .collect();
    let (started_at, ended_at, duration_seconds) = union(mine)?;
    if duration_seconds <= 0 {
        return None;
    }
    Some(Entry {
        source: Source::ZoomMeeting,
        external_id: meeting.uuid.clone(),
        title: if meeting.topic.trim().is_empty() {
            "Zoom meeting".to_owned()
        } else {
            meeting.topic.clone()
        },
        started_at,
        ended_at,
        duration_seconds,
        billed_minutes: billed_minutes(duration_seconds, increment_minutes),
        participant_count: Some(participant_count(records)),
    })
}

/// Call results that mean the call connected (rule 6).
const CONNECTED_RESULTS: [&str; 6] = [
    "answered",
    "connected",
    "accepted",
    "picked_up",
    "succeeded",
    "call connected",
];

/// Rule 6: an entry for a connected call of the member's own history; talk time is
/// `end_time − answer_time`. Missed, voicemail, rejected, busy and cancelled calls give nothing.
pub fn call_entry(call: &CallRecord, increment_minutes: u32) -> Option<Entry> {
    let result = call.result.trim().to_lowercase();
    let connected = call.answer_time.is_some() || CONNECTED_RESULTS.contains(&result.as_str());
    if !connected {
        return None;
    }
    let answered = call.answer_time?;
    let ended = call.end_time?;
    let duration_seconds = (ended - answered).num_seconds();
    if duration_seconds <= 0 {
        return None;
    }
    let direction = match call.direction.as_str() {
        "inbound" => "Inbound call",
        "outbound" => "Outbound call",
        _ => "Call",
    };
    Some(Entry {
        source: Source::ZoomCall,
        external_id: call.id.clone(),
        title: format!("Zoom Phone: {direction}"),
        started_at: answered,
        ended_at: ended,
        duration_seconds,
        billed_minutes: billed_minutes(duration_seconds, increment_minutes),
        participant_count: None,
    })
}

/// Rule 9: whether something that started at `started` falls in `[from, to]`.
pub fn in_window(started: DateTime<Utc>, from: DateTime<Utc>, to: DateTime<Utc>) -> bool {
    from <= started && started <= to
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn t(minute: i64, second: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 2, 10, 0, 0)
            .single()
            .expect("time")
            + chrono::TimeDelta::seconds(minute * 60 + second)
    }

    fn record(
        id: &str,
        email: &str,
        name: &str,
        join: DateTime<Utc>,
        leave: DateTime<Utc>,
    ) -> ParticipantRecord {
        ParticipantRecord {
            zoom_user_id: (!id.is_empty()).then(|| id.to_owned()),
            email: (!email.is_empty()).then(|| email.to_owned()),
            name: name.to_owned(),
            join_time: join,
            leave_time: Some(leave),
            status: ParticipantStatus::InMeeting,
        }
    }

    fn meeting(uuid: &str, start: DateTime<Utc>, end: Option<DateTime<Utc>>) -> MeetingInstance {
        MeetingInstance {
            uuid: uuid.to_owned(),
            meeting_id: 85746065123,
            topic: "Weekly sync".to_owned(),
            start_time: start,
            end_time: end,
            participants_count: None,
        }
    }

    fn ann() -> Identity {
        Identity::new("ann-zoom-id", Some("Ann.Lee@acme.test"))
    }

    const NOW_MIN: i64 = 600;

    #[test]
    fn rounding_table() {
        for (seconds, increment, want) in [
            (0, 6, 0),
            (-5, 6, 0),
            (1, 6, 6),
            (359, 6, 6),
            (360, 6, 6),
            (361, 6, 12),
            (3600, 6, 60),
            (3601, 6, 66),
            (1, 15, 15),
            (900, 15, 15),
            (901, 15, 30),
            (61, 1, 2),
            (60, 1, 1),
        ] {
            assert_eq!(
                billed_minutes(seconds, increment),
                want,
                "{seconds} s at {increment} min"
            );
        }
    }

    #[test]
    fn union_table() {
        // (intervals in minutes, expected (first minute, last minute, seconds))
        type Case = (Vec<(i64, i64)>, Option<(i64, i64, i64)>);
        let cases: Vec<Case> = vec![
            (vec![], None),
            (vec![(0, 10)], Some((0, 10, 600))),
            // Rejoin with a gap: the gap is not billed.
            (vec![(0, 10), (20, 30)], Some((0, 30, 1200))),
            // Two devices at once: the overlap counts once.
            (vec![(0, 10), (5, 15)], Some((0, 15, 900))),
            // One interval inside another.
            (vec![(0, 30), (5, 10)], Some((0, 30, 1800))),
            // Touching intervals.
            (vec![(10, 20), (0, 10)], Some((0, 20, 1200))),
            // Empty and inverted intervals are ignored.
            (vec![(5, 5), (9, 3)], None),
        ];
        for (input, want) in cases {
            let intervals = input.iter().map(|(a, b)| (t(*a, 0), t(*b, 0))).collect();
            let got = union(intervals)
                .map(|(s, e, d)| ((s - t(0, 0)).num_minutes(), (e - t(0, 0)).num_minutes(), d));
            assert_eq!(got, want, "{input:?}");
        }
    }

    #[test]
    fn rejoins_and_overlapping_devices_merge() {
        let records = vec![
            record("ann-zoom-id", "ann.lee@acme.test", "Ann", t(0, 0), t(10, 0)),
            record(
                "ann-zoom-id",
                "ann.lee@acme.test",
                "Ann (phone)",
                t(5, 0),
                t(12, 0),
            ),
            record(
                "ann-zoom-id",
                "ann.lee@acme.test",
                "Ann",
                t(20, 0),
                t(30, 30),
            ),
            record("bob-zoom-id", "bob@acme.test", "Bob", t(0, 0), t(45, 0)),
        ];
        let entry = meeting_entry(
            &ann(),
            &meeting("u1==", t(0, 0), Some(t(45, 0))),
            &records,
            6,
            t(NOW_MIN, 0),
        )
        .expect("Ann attended");
        assert_eq!(entry.started_at, t(0, 0));
        assert_eq!(entry.ended_at, t(30, 30));
        assert_eq!(entry.duration_seconds, 12 * 60 + 10 * 60 + 30);
        assert_eq!(entry.billed_minutes, 24);
        assert_eq!(entry.participant_count, Some(2));
        assert_eq!(entry.external_id, "u1==");
        assert_eq!(entry.source, Source::ZoomMeeting);
    }

    #[test]
    fn identity_matching_table() {
        let cases = [
            // (record id, record email, record name, attended?)
            ("ann-zoom-id", "", "Ann", true), // by Zoom id, blank e-mail
            ("", "ANN.LEE@ACME.TEST", "Ann", true), // e-mail in another case
            ("", "ann.lee@acme.test ", "A", true), // stray whitespace
            ("", "", "Ann Lee", false),       // a guest with Ann's name
            ("someone-else", "", "Ann Lee", false), // another user with her name
            ("", "ann.lee@other.test", "Ann Lee", false), // another address
            ("27423744", "", "Ann", false),   // a per-meeting participant id
        ];
        for (id, email, name, want) in cases {
            let r = record(id, email, name, t(0, 0), t(5, 0));
            assert_eq!(ann().attended(&r), want, "{id:?} {email:?} {name:?}");
        }
        let no_email = Identity::new("ann-zoom-id", None);
        assert!(!no_email.attended(&record("", "", "Ann", t(0, 0), t(1, 0))));
        assert!(
            !Identity::new("", None).attended(&record("", "", "x", t(0, 0), t(1, 0))),
            "blank ids never match"
        );
    }

    #[test]
    fn waiting_room_records_do_not_count() {
        let mut waiting = record("ann-zoom-id", "", "Ann", t(0, 0), t(5, 0));
        waiting.status = ParticipantStatus::InWaitingRoom;
        let admitted = record("ann-zoom-id", "", "Ann", t(5, 0), t(9, 0));
        let entry = meeting_entry(
            &ann(),
            &meeting("u", t(0, 0), Some(t(10, 0))),
            &[waiting.clone(), admitted],
            6,
            t(NOW_MIN, 0),
        )
        .expect("entry");
        assert_eq!(entry.duration_seconds, 240);
        assert!(
            meeting_entry(
                &ann(),
                &meeting("u", t(0, 0), Some(t(10, 0))),
                &[waiting],
                6,
                t(NOW_MIN, 0)
            )
            .is_none()
        );
    }

    #[test]
    fn a_host_who_never_joined_gets_nothing() {
        // Ann hosted (she is the meeting owner) but the report lists only others.
        let records = vec![
            record("bob-zoom-id", "bob@acme.test", "Bob", t(0, 0), t(30, 0)),
            record("", "", "Guest", t(0, 0), t(30, 0)),
        ];
        assert!(
            meeting_entry(
                &ann(),
                &meeting("u", t(0, 0), Some(t(30, 0))),
                &records,
                6,
                t(NOW_MIN, 0)
            )
            .is_none()
        );
    }

    #[test]
    fn a_guest_sharing_a_members_name_is_not_the_member() {
        let records = vec![
            record("", "", "Ann Lee", t(0, 0), t(30, 0)),
            record("bob", "", "Bob", t(0, 0), t(30, 0)),
        ];
        assert!(
            meeting_entry(
                &ann(),
                &meeting("u", t(0, 0), Some(t(30, 0))),
                &records,
                6,
                t(NOW_MIN, 0)
            )
            .is_none()
        );
    }

    #[test]
    fn recurring_instances_are_separate_entries() {
        let a = meeting("first/instance==", t(0, 0), Some(t(30, 0)));
        let mut b = meeting("second//instance==", t(1440, 0), Some(t(1470, 0)));
        b.meeting_id = a.meeting_id;
        let ra = vec![record("ann-zoom-id", "", "Ann", t(0, 0), t(30, 0))];
        let rb = vec![record("ann-zoom-id", "", "Ann", t(1440, 0), t(1450, 0))];
        let later = t(3000, 0);
        let ea = meeting_entry(&ann(), &a, &ra, 6, later).expect("a");
        let eb = meeting_entry(&ann(), &b, &rb, 6, later).expect("b");
        assert_ne!(ea.external_id, eb.external_id);
        assert_eq!((ea.billed_minutes, eb.billed_minutes), (30, 12));
    }

    #[test]
    fn meetings_not_ended_wait_for_a_later_pull() {
        let records = vec![record("ann-zoom-id", "", "Ann", t(0, 0), t(5, 0))];
        assert!(
            meeting_entry(
                &ann(),
                &meeting("u", t(0, 0), None),
                &records,
                6,
                t(NOW_MIN, 0)
            )
            .is_none()
        );
        assert!(
            meeting_entry(
                &ann(),
                &meeting("u", t(0, 0), Some(t(NOW_MIN + 1, 0))),
                &records,
                6,
                t(NOW_MIN, 0)
            )
            .is_none()
        );
    }

    #[test]
    fn open_records_close_at_the_meeting_end_and_zero_gives_nothing() {
        let mut open = record("ann-zoom-id", "", "Ann", t(10, 0), t(0, 0));
        open.leave_time = None;
        let entry = meeting_entry(
            &ann(),
            &meeting("u", t(0, 0), Some(t(25, 0))),
            &[open],
            6,
            t(NOW_MIN, 0),
        )
        .expect("entry");
        assert_eq!((entry.ended_at, entry.duration_seconds), (t(25, 0), 900));
        let zero = record("ann-zoom-id", "", "Ann", t(3, 0), t(3, 0));
        assert!(
            meeting_entry(
                &ann(),
                &meeting("u", t(0, 0), Some(t(25, 0))),
                &[zero],
                6,
                t(NOW_MIN, 0)
            )
            .is_none()
        );
        let one_second = record("ann-zoom-id", "", "Ann", t(3, 0), t(3, 1));
        let e = meeting_entry(
            &ann(),
            &meeting("u", t(0, 0), Some(t(25, 0))),
            &[one_second],
            6,
            t(NOW_MIN, 0),
        )
        .expect("e");
        assert_eq!((e.duration_seconds, e.billed_minutes), (1, 6));
    }

    fn call(result: &str, answer: Option<DateTime<Utc>>, end: Option<DateTime<Utc>>) -> CallRecord {
        CallRecord {
            id: "20261102-abc".into(),
            call_id: "7018317023722949162".into(),
            direction: "outbound".into(),
            start_time: t(0, 0),
            answer_time: answer,
            end_time: end,
            result: result.into(),
        }
    }

    #[test]
    fn call_results_table() {
        let cases = [
            ("answered", Some(t(0, 6)), Some(t(6, 6)), Some((360, 6))),
            ("connected", Some(t(0, 6)), Some(t(6, 7)), Some((361, 12))),
            ("accepted", Some(t(0, 0)), Some(t(0, 1)), Some((1, 6))),
            ("picked_up", Some(t(0, 0)), Some(t(1, 0)), Some((60, 6))),
            ("succeeded", Some(t(0, 0)), Some(t(1, 0)), Some((60, 6))),
            (
                "Call connected",
                Some(t(0, 0)),
                Some(t(1, 0)),
                Some((60, 6)),
            ),
            // An answer time means it connected whatever the label.
            ("hang_up", Some(t(0, 0)), Some(t(2, 0)), Some((120, 6))),
            ("no_answer", None, Some(t(0, 30)), None),
            ("voicemail", None, Some(t(1, 0)), None),
            ("rejected", None, Some(t(0, 5)), None),
            ("busy", None, Some(t(0, 1)), None),
            ("canceled", None, Some(t(0, 9)), None),
            ("ring_timeout", None, Some(t(0, 40)), None),
            // Connected but zero talk time, or no end: nothing.
            ("answered", Some(t(1, 0)), Some(t(1, 0)), None),
            ("answered", Some(t(1, 0)), None, None),
            ("answered", None, Some(t(1, 0)), None),
        ];
        for (result, answer, end, want) in cases {
            let got = call_entry(&call(result, answer, end), 6)
                .map(|e| (e.duration_seconds, e.billed_minutes));
            assert_eq!(got, want, "{result} {answer:?} {end:?}");
        }
        let entry = call_entry(&call("answered", Some(t(0, 6)), Some(t(6, 6))), 6).expect("entry");
        assert_eq!((entry.started_at, entry.ended_at), (t(0, 6), t(6, 6)));
        assert_eq!(entry.external_id, "20261102-abc");
        assert_eq!(entry.source, Source::ZoomCall);
    }

    #[test]
    fn window_is_inclusive() {
        assert!(in_window(t(0, 0), t(0, 0), t(10, 0)));
        assert!(in_window(t(10, 0), t(0, 0), t(10, 0)));
        assert!(!in_window(t(10, 1), t(0, 0), t(10, 0)));
        assert!(!in_window(t(-1, 0), t(0, 0), t(10, 0)));
    }
}
