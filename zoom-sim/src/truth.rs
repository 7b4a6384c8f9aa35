//! Ground truth for a user, straight from the stored meetings and calls, following the
//! billables rules (SPEC §5): among the instances the user's `pastJoined` report lists
//! (ended, published, two or more unique participants, hosted or joined by the user), the
//! union of the `in_meeting` intervals of records that are the user's — same Zoom user id,
//! or same e-mail ignoring case (a display name is never identity); and connected calls of
//! the user's own history with talk time above zero.

use chrono::{DateTime, Utc};

use crate::model::{Company, ParticipantRecord, RecordStatus, User};
use crate::types::{Truth, TruthCall, TruthMeeting};

/// Total length of the union of `intervals`, in seconds.
pub(crate) fn union_seconds(intervals: &mut [(DateTime<Utc>, DateTime<Utc>)]) -> i64 {
    intervals.sort_unstable();
    let mut total = 0;
    let mut current: Option<(DateTime<Utc>, DateTime<Utc>)> = None;
    for &(start, end) in intervals.iter() {
        if end <= start {
            continue;
        }
        current = match current {
            Some((s, e)) if start <= e => Some((s, e.max(end))),
            Some((s, e)) => {
                total += (e - s).num_seconds();
                Some((start, end))
            }
            None => Some((start, end)),
        };
    }
    if let Some((s, e)) = current {
        total += (e - s).num_seconds();
    }
    total
}

/// Whether a participant record is the user's (SPEC §5.2).
fn is_users(record: &ParticipantRecord, user: &User) -> bool {
    record.id == user.id
        || (!record.user_email.is_empty() && record.user_email.eq_ignore_ascii_case(&user.email))
}

/// What the user should be billed for among meetings and calls that started in
/// `[from, to_exclusive)`, as of sim time `now`.
pub(crate) fn compute(
    company: &Company,
    user: &User,
    from: DateTime<Utc>,
    to_exclusive: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Truth {
    let in_range = |t: DateTime<Utc>| from <= t && t < to_exclusive;
    let mut meetings: Vec<TruthMeeting> = company
        .meetings
        .iter()
        .filter(|m| in_range(m.start) && m.is_reportable(now))
        .filter(|m| m.host_id == user.id || m.joined_by(&user.id))
        .filter_map(|m| {
            let mut intervals: Vec<_> = m
                .records
                .iter()
                .filter(|r| r.status == RecordStatus::InMeeting && is_users(r, user))
                .map(|r| (r.join, r.leave))
                .collect();
            let start_time = intervals.iter().map(|i| i.0).min()?;
            let end_time = intervals.iter().map(|i| i.1).max()?;
            let duration_seconds = union_seconds(&mut intervals);
            (duration_seconds > 0).then(|| TruthMeeting {
                uuid: m.uuid.clone(),
                meeting_id: m.id,
                topic: m.topic.clone(),
                start_time,
                end_time,
                duration_seconds,
                meeting_start_time: m.start,
                meeting_end_time: m.end,
            })
        })
        .collect();
    meetings.sort_by(|a, b| (a.meeting_start_time, &a.uuid).cmp(&(b.meeting_start_time, &b.uuid)));

    let mut calls: Vec<TruthCall> = company
        .calls
        .iter()
        .filter(|leg| leg.owner_id == user.id && in_range(leg.start) && leg.end <= now)
        .filter_map(|leg| {
            let answer_time = leg.answer?;
            let duration_seconds = leg.talk_secs();
            (duration_seconds > 0).then(|| TruthCall {
                id: leg.id.clone(),
                call_id: leg.call_id.clone(),
                start_time: leg.start,
                answer_time,
                end_time: leg.end,
                duration_seconds,
            })
        })
        .collect();
    calls.sort_by(|a, b| (a.start_time, &a.id).cmp(&(b.start_time, &b.id)));
    Truth { meetings, calls }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeDelta;

    fn at(minute: i64) -> DateTime<Utc> {
        DateTime::UNIX_EPOCH + TimeDelta::minutes(minute)
    }

    #[test]
    fn union_merges_overlaps_and_keeps_gaps() {
        // 0-10 and 5-15 overlap (15 min); 20-30 is separate (10 min); 30-31 touches it.
        let mut spans = vec![
            (at(20), at(30)),
            (at(0), at(10)),
            (at(5), at(15)),
            (at(30), at(31)),
        ];
        assert_eq!(union_seconds(&mut spans), 26 * 60);
        assert_eq!(union_seconds(&mut []), 0);
        let mut empty = vec![(at(3), at(3))];
        assert_eq!(union_seconds(&mut empty), 0);
    }
}
