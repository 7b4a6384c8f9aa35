//! Deterministic generation of a company: users, meetings and calls for the days before
//! sim-now, with every awkward case the client must handle — rejoins, two devices at once,
//! guests without id or e-mail, a guest named like a member, hosts who never joined,
//! recurring meetings (same number, new UUIDs), UUIDs with a leading `/` or a `//`,
//! single-participant meetings, waiting-room records, and missed, voicemail and internal calls.
//!
//! Everything random comes from the company's own RNG (seed + company index), so the same
//! seed and the same sequence of control calls give the same company.

use std::collections::HashSet;

use chrono::{DateTime, Datelike, NaiveDate, TimeDelta, Utc, Weekday};
use rand::seq::index::sample;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::ids::{self, UuidShape};
use crate::limits::Limits;
use crate::model::{
    CONNECTED_RESULTS, CallLeg, Company, Meeting, ParticipantRecord, Party, RecordStatus, User,
};
use crate::time::{day_start, secs, trunc};
use crate::types::CompanySpec;

const FIRST_NAMES: &[&str] = &[
    "James",
    "Mary",
    "John",
    "Patricia",
    "Robert",
    "Jennifer",
    "Michael",
    "Linda",
    "William",
    "Elizabeth",
    "David",
    "Barbara",
    "Richard",
    "Susan",
    "Joseph",
    "Jessica",
    "Thomas",
    "Sarah",
    "Charles",
    "Karen",
    "Daniel",
    "Nancy",
    "Matthew",
    "Lisa",
    "Anthony",
    "Betty",
    "Mark",
    "Margaret",
    "Steven",
    "Ashley",
    "Paul",
    "Emily",
    "Andrew",
    "Donna",
    "Kevin",
    "Michelle",
    "Brian",
    "Amanda",
    "George",
    "Melissa",
    "Ana",
    "Chen",
    "Priya",
    "Mohammed",
    "Yuki",
    "Olga",
    "Lars",
    "Sofia",
    "Mateo",
    "Aisha",
    "Noah",
    "Emma",
    "Ingrid",
    "Kwame",
    "Hana",
    "Diego",
];

const LAST_NAMES: &[&str] = &[
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Garcia",
    "Miller",
    "Davis",
    "Rodriguez",
    "Martinez",
    "Hernandez",
    "Lopez",
    "Gonzalez",
    "Wilson",
    "Anderson",
    "Thomas",
    "Taylor",
    "Moore",
    "Jackson",
    "Martin",
    "Lee",
    "Perez",
    "Thompson",
    "White",
    "Harris",
    "Sanchez",
    "Clark",
    "Ramirez",
    "Lewis",
    "Robinson",
    "Walker",
    "Young",
    "Allen",
    "King",
    "Wright",
    "Scott",
    "Torres",
    "Nguyen",
    "Hill",
    "Flores",
    "Green",
    "Adams",
    "Nelson",
    "Baker",
    "Hall",
    "Rivera",
    "Campbell",
    "Mitchell",
    "Carter",
    "Roberts",
    "Kim",
    "Patel",
    "Schmidt",
    "Tanaka",
    "Silva",
    "Novak",
    "Kowalski",
    "Okafor",
];

const TOPICS: &[&str] = &[
    "Project kickoff",
    "Customer call",
    "1:1",
    "Design review",
    "Sprint planning",
    "Budget review",
    "Interview",
    "Quarterly business review",
    "Onboarding",
    "Sales demo",
    "Retrospective",
    "All hands",
    "Vendor meeting",
    "Support escalation",
    "Coffee chat",
    "Contract negotiation",
    "Roadmap discussion",
    "Incident review",
];

const SERIES_TOPICS: &[&str] = &[
    "Daily standup",
    "Weekly sync",
    "Team huddle",
    "Pipeline review",
];
const TIMEZONES: &[&str] = &[
    "America/New_York",
    "America/Chicago",
    "America/Los_Angeles",
    "Europe/London",
    "Europe/Berlin",
    "Asia/Tokyo",
    "UTC",
];
const DEPARTMENTS: &[&str] = &[
    "Sales",
    "Engineering",
    "Support",
    "Finance",
    "Legal",
    "Marketing",
];

/// Per-meeting participant ids start here and step by 1024, as Zoom's do.
const FIRST_PARTICIPANT_ID: u64 = 16_778_240;

/// The RNG of the `index`-th company created by a simulator seeded with `seed`.
pub(crate) fn company_rng(seed: u64, index: usize) -> ChaCha8Rng {
    let index = u64::try_from(index).unwrap_or(u64::MAX);
    ChaCha8Rng::seed_from_u64(seed ^ index.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15))
}

fn pick<'a>(rng: &mut impl Rng, items: &[&'a str]) -> &'a str {
    items[rng.gen_range(0..items.len())]
}

fn random_name(rng: &mut impl Rng) -> String {
    format!("{} {}", pick(rng, FIRST_NAMES), pick(rng, LAST_NAMES))
}

/// Knuth's Poisson sampler: a whole number of events for a fractional mean.
fn poisson(rng: &mut impl Rng, mean: f64) -> u32 {
    if mean <= 0.0 || !mean.is_finite() {
        return 0;
    }
    let limit = (-mean.min(30.0)).exp();
    let mut product: f64 = rng.r#gen();
    let mut count = 0;
    while product > limit {
        count += 1;
        product *= rng.r#gen::<f64>();
    }
    count
}

/// A new user of an account. `index` is the user's position (for the extension number).
pub(crate) fn new_user(
    rng: &mut impl Rng,
    email: String,
    first_name: String,
    last_name: String,
    role_name: String,
    index: usize,
    now: DateTime<Utc>,
) -> User {
    User {
        id: ids::zoom_id(rng),
        email,
        first_name,
        last_name,
        role_name,
        status: "active".to_owned(),
        timezone: pick(rng, TIMEZONES).to_owned(),
        dept: pick(rng, DEPARTMENTS).to_owned(),
        pmi: rng.gen_range(2_000_000_000..=9_999_999_999),
        created_at: trunc(now - TimeDelta::days(rng.gen_range(30..1500))),
        last_login_time: trunc(now - secs(rng.gen_range(0..7 * 86_400))),
        ext_id: ids::zoom_id(rng),
        ext_number: (1001 + index).to_string(),
        did_number: ids::phone_number(rng),
    }
}

/// What to record for one call (from `owner`'s side).
pub(crate) struct CallPlan<'a> {
    pub owner: &'a User,
    /// The other member of an internal call.
    pub peer: Option<&'a User>,
    pub outbound: bool,
    pub result: String,
    pub start: DateTime<Utc>,
    pub ring_secs: i64,
    pub talk_secs: i64,
    /// Time after ringing that an unanswered call still lasted (e.g. leaving a voicemail).
    pub after_ring_secs: i64,
}

fn external_party(rng: &mut impl Rng) -> Party {
    let number = ids::phone_number(rng);
    let name = if rng.gen_bool(0.5) {
        random_name(rng)
    } else {
        number.clone()
    };
    Party {
        name,
        email: None,
        ext_id: None,
        ext_number: None,
        did_number: Some(number),
        ext_type: None,
        number_type: "external_pstn".to_owned(),
    }
}

/// The history record(s) of one call: one for the owner, plus one for the peer of an
/// internal call (same `call_id`, its own record `id`, the opposite direction).
pub(crate) fn call_legs(rng: &mut impl Rng, plan: &CallPlan<'_>) -> Vec<CallLeg> {
    let start = trunc(plan.start);
    let connected = CONNECTED_RESULTS.contains(&plan.result.as_str());
    let ring = plan.ring_secs.max(0);
    let (answer, end) = if connected {
        let answer = start + secs(ring);
        (Some(answer), answer + secs(plan.talk_secs.max(0)))
    } else {
        (None, start + secs(ring + plan.after_ring_secs.max(0)))
    };
    let call_id = ids::call_id(rng);
    let day = start.date_naive();
    let owner_party = plan.owner.party();
    let other_party = plan.peer.map_or_else(|| external_party(rng), User::party);
    let (caller, callee) = if plan.outbound {
        (owner_party, other_party)
    } else {
        (other_party, owner_party)
    };
    let mut legs = vec![CallLeg {
        id: ids::call_record_id(rng, day),
        call_id: call_id.clone(),
        owner_id: plan.owner.id.clone(),
        outbound: plan.outbound,
        internal: plan.peer.is_some(),
        result: plan.result.clone(),
        start,
        answer,
        end,
        caller: caller.clone(),
        callee: callee.clone(),
    }];
    if let Some(peer) = plan.peer {
        legs.push(CallLeg {
            id: ids::call_record_id(rng, day),
            call_id,
            owner_id: peer.id.clone(),
            outbound: !plan.outbound,
            internal: true,
            result: plan.result.clone(),
            start,
            answer,
            end,
            caller,
            callee,
        });
    }
    legs
}

/// Someone in a generated meeting.
#[derive(Debug, Clone)]
enum Who {
    Member(usize),
    /// Signed in to Zoom, but not a user of this account: id set, e-mail hidden.
    External {
        id: String,
        name: String,
    },
    /// Not signed in: no id, no e-mail.
    Guest {
        name: String,
    },
}

/// One join–leave interval.
#[derive(Debug, Clone, Copy)]
struct Span {
    join: DateTime<Utc>,
    leave: DateTime<Utc>,
    status: RecordStatus,
}

/// A recurring meeting: same number and time every occurrence, a new UUID each time.
#[derive(Debug)]
struct Series {
    id: i64,
    host: usize,
    members: Vec<usize>,
    topic: &'static str,
    offset_secs: i64,
    len_secs: i64,
    /// `None`: every weekday.
    weekday: Option<Weekday>,
}

impl Series {
    fn occurs_on(&self, day: NaiveDate) -> bool {
        match self.weekday {
            Some(weekday) => day.weekday() == weekday,
            None => !matches!(day.weekday(), Weekday::Sat | Weekday::Sun),
        }
    }
}

struct Generator {
    rng: ChaCha8Rng,
    users: Vec<User>,
    meetings: Vec<Meeting>,
    calls: Vec<CallLeg>,
    now: DateTime<Utc>,
}

/// Generates the `index`-th company of a simulator seeded with `seed`.
pub(crate) fn generate(
    spec: &CompanySpec,
    index: usize,
    seed: u64,
    limits: Limits,
    now: DateTime<Utc>,
) -> Company {
    let mut rng = company_rng(seed, index);
    let account_id = ids::zoom_id(&mut rng);
    let account_number = rng.gen_range(10_000_000..100_000_000);
    let domain = spec.domain.trim().to_ascii_lowercase();
    let mut generator = Generator {
        rng,
        users: Vec::new(),
        meetings: Vec::new(),
        calls: Vec::new(),
        now,
    };
    generator.users(&domain, spec.users.max(1));
    generator.activity(spec);
    let Generator {
        rng,
        users,
        meetings,
        calls,
        ..
    } = generator;
    let mut company = Company {
        account_id,
        account_number,
        domain,
        limits,
        users,
        meetings: Vec::with_capacity(meetings.len()),
        uuid_index: Default::default(),
        calls,
        approver: None,
        rng,
    };
    for meeting in meetings {
        company.push_meeting(meeting);
    }
    company
}

impl Generator {
    fn users(&mut self, domain: &str, count: usize) {
        let mut taken = HashSet::new();
        for index in 0..count {
            let first = pick(&mut self.rng, FIRST_NAMES);
            let last = pick(&mut self.rng, LAST_NAMES);
            let base = format!("{first}.{last}").to_ascii_lowercase();
            let mut suffix = 1;
            let mut local = base.clone();
            while !taken.insert(local.clone()) {
                suffix += 1;
                local = format!("{base}{suffix}");
            }
            // Zoom keeps the e-mail as it was typed: a few have capitals.
            let email = if index > 0 && self.rng.gen_bool(0.12) {
                let digits = if suffix > 1 {
                    suffix.to_string()
                } else {
                    String::new()
                };
                format!("{first}.{last}{digits}@{domain}")
            } else {
                format!("{local}@{domain}")
            };
            let role = match index {
                0 => "Owner",
                1 if count >= 5 => "Admin",
                _ => "Member",
            };
            let user = new_user(
                &mut self.rng,
                email,
                first.to_owned(),
                last.to_owned(),
                role.to_owned(),
                index,
                self.now,
            );
            self.users.push(user);
        }
    }

    fn activity(&mut self, spec: &CompanySpec) {
        let series = self.series();
        let today = self.now.date_naive();
        for back in (1..=i64::from(spec.days)).rev() {
            let day = today - TimeDelta::days(back);
            for host in 0..self.users.len() {
                for _ in 0..poisson(&mut self.rng, spec.meetings_per_user_per_day) {
                    let meeting = self.adhoc_meeting(host, day, spec.shared_meeting_share);
                    self.meetings.push(meeting);
                }
            }
            for s in series.iter().filter(|s| s.occurs_on(day)) {
                let meeting = self.occurrence(s, day);
                self.meetings.push(meeting);
            }
            for owner in 0..self.users.len() {
                for _ in 0..poisson(&mut self.rng, spec.calls_per_user_per_day) {
                    self.call(owner, day);
                }
            }
        }
    }

    fn uuid_shape(&mut self) -> UuidShape {
        let roll: f64 = self.rng.r#gen();
        if roll < 0.06 {
            UuidShape::LeadingSlash
        } else if roll < 0.12 {
            UuidShape::DoubleSlash
        } else {
            UuidShape::Random
        }
    }

    /// Members other than `host`, `amount` of them at most, in random order.
    fn others(&mut self, host: usize, amount: usize) -> Vec<usize> {
        let pool = self.users.len().saturating_sub(1);
        let amount = amount.min(pool);
        sample(&mut self.rng, pool, amount)
            .into_iter()
            .map(|i| if i >= host { i + 1 } else { i })
            .collect()
    }

    fn series(&mut self) -> Vec<Series> {
        let mut all = Vec::new();
        if self.users.len() < 2 {
            return all;
        }
        for host in 0..self.users.len() {
            if !self.rng.gen_bool(0.3) {
                continue;
            }
            let size = self.rng.gen_range(1..=3);
            let members = self.others(host, size);
            let weekly = self.rng.gen_bool(0.5);
            let weekday = weekly.then(|| {
                [
                    Weekday::Mon,
                    Weekday::Tue,
                    Weekday::Wed,
                    Weekday::Thu,
                    Weekday::Fri,
                ][self.rng.gen_range(0..5)]
            });
            all.push(Series {
                id: ids::meeting_number(&mut self.rng),
                host,
                members,
                topic: pick(&mut self.rng, SERIES_TOPICS),
                offset_secs: 8 * 3600 + self.rng.gen_range(0..18) * 1800,
                len_secs: if weekly { 3600 } else { 900 },
                weekday,
            });
        }
        all
    }

    fn occurrence(&mut self, series: &Series, day: NaiveDate) -> Meeting {
        let start = day_start(day) + secs(series.offset_secs);
        let mut attendees = Vec::new();
        if self.rng.gen_bool(0.95) {
            attendees.push((Who::Member(series.host), true));
        }
        for &member in &series.members {
            if self.rng.gen_bool(0.85) {
                attendees.push((Who::Member(member), false));
            }
        }
        let host_id = self.users[series.host].id.clone();
        self.build(
            MeetingPlan {
                id: series.id,
                meeting_type: 8,
                topic: series.topic.to_owned(),
                host_id,
                start,
                len_secs: series.len_secs,
            },
            attendees,
            None,
        )
    }

    fn adhoc_meeting(&mut self, host: usize, day: NaiveDate, share: f64) -> Meeting {
        let start = day_start(day) + secs(7 * 3600 + self.rng.gen_range(0..12 * 3600));
        let len_secs = self.rng.gen_range(10..=90) * 60;
        let user_count = self.users.len();
        let mut others = Vec::new();
        let mut members_in = vec![host];
        let alone = self.rng.gen_bool(0.08);
        if !alone {
            if user_count >= 2 && self.rng.gen_bool(share.clamp(0.0, 1.0)) {
                let amount = self.rng.gen_range(1..=4);
                for member in self.others(host, amount) {
                    members_in.push(member);
                    others.push(Who::Member(member));
                }
            } else {
                for _ in 0..self.rng.gen_range(1..=3) {
                    let name = random_name(&mut self.rng);
                    others.push(if self.rng.gen_bool(0.5) {
                        Who::Guest { name }
                    } else {
                        Who::External {
                            id: ids::zoom_id(&mut self.rng),
                            name,
                        }
                    });
                }
            }
            // A guest whose display name equals a member's: a name is never identity.
            if user_count >= 2 && self.rng.gen_bool(0.05) {
                let twin = self.rng.gen_range(0..user_count);
                if !members_in.contains(&twin) {
                    others.push(Who::Guest {
                        name: self.users[twin].display_name(),
                    });
                }
            }
        }
        // Someone left in the waiting room and never admitted.
        let mut waiting_only = None;
        if !alone && user_count >= 3 && self.rng.gen_bool(0.03) {
            let candidate = self.rng.gen_range(0..user_count);
            if !members_in.contains(&candidate) {
                waiting_only = Some(candidate);
            }
        }
        let host_absent = others.len() >= 2 && self.rng.gen_bool(0.04);
        let mut attendees = Vec::with_capacity(others.len() + 1);
        if !host_absent {
            attendees.push((Who::Member(host), true));
        }
        attendees.extend(others.into_iter().map(|who| (who, false)));

        let roll: f64 = self.rng.r#gen();
        let (meeting_type, id) = if roll < 0.1 {
            (4, self.users[host].pmi)
        } else if roll < 0.4 {
            (1, ids::meeting_number(&mut self.rng))
        } else {
            (2, ids::meeting_number(&mut self.rng))
        };
        let topic = pick(&mut self.rng, TOPICS).to_owned();
        let host_id = self.users[host].id.clone();
        self.build(
            MeetingPlan {
                id,
                meeting_type,
                topic,
                host_id,
                start,
                len_secs,
            },
            attendees,
            waiting_only,
        )
    }

    /// The join–leave spans of one person: maybe a waiting-room wait first, maybe rejoins,
    /// maybe a second device overlapping the first.
    fn spans(
        &mut self,
        start: DateTime<Utc>,
        len_secs: i64,
        host: bool,
        member: bool,
    ) -> Vec<Span> {
        let first_join = start + secs(self.rng.gen_range(0..=if host { 60 } else { 300 }));
        let mut last_leave = start + secs(len_secs - self.rng.gen_range(0..=300));
        if last_leave <= first_join + secs(60) {
            last_leave = first_join + secs(60 + self.rng.gen_range(0..600));
        }
        let mut spans = Vec::new();
        if !host && self.rng.gen_bool(0.1) {
            let waited = first_join - secs(self.rng.gen_range(15..=240));
            let waited = waited.max(start);
            if waited < first_join {
                spans.push(Span {
                    join: waited,
                    leave: first_join,
                    status: RecordStatus::InWaitingRoom,
                });
            }
        }
        let total = (last_leave - first_join).num_seconds();
        if total > 600 && self.rng.gen_bool(0.15) {
            // Dropped and rejoined: two or three records for the same person.
            let pieces = self.rng.gen_range(2..=3);
            let mut cuts: Vec<i64> = (1..pieces)
                .map(|_| self.rng.gen_range(60..total - 60))
                .collect();
            cuts.sort_unstable();
            let mut from = first_join;
            for cut in cuts {
                let dropped = first_join + secs(cut);
                if dropped > from + secs(30) {
                    spans.push(Span {
                        join: from,
                        leave: dropped,
                        status: RecordStatus::InMeeting,
                    });
                    from = dropped + secs(self.rng.gen_range(20..=180));
                }
            }
            let leave = if from + secs(30) < last_leave {
                last_leave
            } else {
                from + secs(60)
            };
            spans.push(Span {
                join: from,
                leave,
                status: RecordStatus::InMeeting,
            });
        } else {
            spans.push(Span {
                join: first_join,
                leave: last_leave,
                status: RecordStatus::InMeeting,
            });
        }
        if member && self.rng.gen_bool(0.06) {
            // A second device (say, a phone) joined while the laptop was in: overlap.
            let join = first_join + secs(self.rng.gen_range(0..=total / 2));
            let leave = join + secs(self.rng.gen_range(60..=total.max(61)));
            spans.push(Span {
                join,
                leave: leave.min(last_leave + secs(120)),
                status: RecordStatus::InMeeting,
            });
        }
        spans
    }

    fn build(
        &mut self,
        plan: MeetingPlan,
        attendees: Vec<(Who, bool)>,
        waiting_only: Option<usize>,
    ) -> Meeting {
        let mut timed: Vec<(Who, Span)> = Vec::new();
        for (who, host) in attendees {
            let member = matches!(who, Who::Member(_));
            for span in self.spans(plan.start, plan.len_secs, host, member) {
                timed.push((who.clone(), span));
            }
        }
        if let Some(member) = waiting_only {
            let join = plan.start + secs(self.rng.gen_range(60..600));
            timed.push((
                Who::Member(member),
                Span {
                    join,
                    leave: join + secs(self.rng.gen_range(30..300)),
                    status: RecordStatus::InWaitingRoom,
                },
            ));
        }
        timed.sort_by_key(|(_, span)| span.join);
        let mut records = Vec::with_capacity(timed.len());
        let mut participant_id = FIRST_PARTICIPANT_ID;
        for (who, span) in timed {
            let (id, name, user_email) = match who {
                Who::Member(index) => {
                    let user = &self.users[index];
                    (user.id.clone(), user.display_name(), user.email.clone())
                }
                Who::External { id, name } => (id, name, String::new()),
                Who::Guest { name } => (String::new(), name, String::new()),
            };
            records.push(ParticipantRecord {
                participant_user_id: id.clone(),
                id,
                user_id: participant_id.to_string(),
                name,
                user_email,
                join: span.join,
                leave: span.leave,
                status: span.status,
            });
            participant_id += 1024;
        }
        let end = records
            .iter()
            .map(|r| r.leave)
            .max()
            .unwrap_or(plan.start)
            .max(plan.start + secs(60));
        let shape = self.uuid_shape();
        Meeting {
            uuid: ids::meeting_uuid(&mut self.rng, shape),
            id: plan.id,
            meeting_type: plan.meeting_type,
            topic: plan.topic,
            host_id: plan.host_id,
            start: plan.start,
            end,
            publish_delay_secs: 0,
            records,
        }
    }

    fn call(&mut self, owner: usize, day: NaiveDate) {
        let start = day_start(day) + secs(7 * 3600 + self.rng.gen_range(0..12 * 3600));
        let outbound = self.rng.gen_bool(0.5);
        let peer =
            (self.users.len() >= 2 && self.rng.gen_bool(0.25)).then(|| self.others(owner, 1)[0]);
        let roll: f64 = self.rng.r#gen();
        let (result, talk_secs) = if roll < 0.62 {
            ("answered", self.rng.gen_range(15..=1800))
        } else if roll < 0.67 {
            // Picked up and hung up at once: connected, but nothing to bill.
            ("answered", 0)
        } else if roll < 0.81 {
            ("no_answer", 0)
        } else if roll < 0.91 {
            ("voicemail", 0)
        } else if roll < 0.96 {
            ("busy", 0)
        } else {
            ("canceled", 0)
        };
        let ring_secs = if result == "busy" {
            self.rng.gen_range(1..=3)
        } else {
            self.rng.gen_range(3..=25)
        };
        let after_ring_secs = if result == "voicemail" {
            self.rng.gen_range(10..=90)
        } else {
            0
        };
        let plan = CallPlan {
            owner: &self.users[owner],
            peer: peer.map(|p| &self.users[p]),
            outbound,
            result: result.to_owned(),
            start,
            ring_secs,
            talk_secs,
            after_ring_secs,
        };
        let legs = call_legs(&mut self.rng, &plan);
        self.calls.extend(legs);
    }
}

struct MeetingPlan {
    id: i64,
    meeting_type: u8,
    topic: String,
    host_id: String,
    start: DateTime<Utc>,
    len_secs: i64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn company(seed: u64) -> Company {
        let spec = CompanySpec {
            users: 25,
            days: 20,
            ..CompanySpec::new("Acme.test")
        };
        generate(&spec, 0, seed, Limits::business(), Utc::now())
    }

    #[test]
    fn users_follow_the_contract() {
        let c = company(1);
        assert_eq!(c.users.len(), 25);
        assert_eq!(c.users[0].role_name, "Owner");
        assert_eq!(c.domain, "acme.test");
        let emails: HashSet<String> = c.users.iter().map(|u| u.email.to_lowercase()).collect();
        assert_eq!(emails.len(), 25, "e-mails are unique ignoring case");
        assert!(c.users.iter().all(|u| u.email.ends_with("@acme.test")));
        assert!(c.users.iter().any(|u| u.email != u.email.to_lowercase()));
    }

    #[test]
    fn same_seed_same_company() {
        assert_eq!(company(5).info(), company(5).info());
        assert_ne!(company(5).info(), company(6).info());
    }

    #[test]
    fn every_edge_case_occurs() {
        let c = company(42);
        let now = Utc::now();
        let today = day_start(now.date_naive());
        assert!(c.meetings.iter().all(|m| m.end < today && m.start <= m.end));
        assert!(c.meetings.iter().any(|m| m.uuid.starts_with('/')));
        assert!(c.meetings.iter().any(|m| m.uuid.contains("//")));
        assert!(
            c.meetings
                .iter()
                .all(|m| m.uuid.len() == 24 && m.uuid.ends_with("=="))
        );
        assert!(c.meetings.iter().any(|m| m.unique_participants() == 1));
        assert!(
            c.meetings
                .iter()
                .any(|m| m.records.iter().any(|r| r.id.is_empty()))
        );
        assert!(c.meetings.iter().any(|m| {
            m.records
                .iter()
                .any(|r| r.status == RecordStatus::InWaitingRoom)
        }));
        assert!(
            c.meetings
                .iter()
                .any(|m| m.unique_participants() >= 2 && !m.joined_by(&m.host_id))
        );
        // Rejoins or second devices: several records of one person.
        assert!(
            c.meetings.iter().any(|m| {
                let mut per: HashMap<&str, Vec<&ParticipantRecord>> = HashMap::new();
                for r in m
                    .records
                    .iter()
                    .filter(|r| !r.id.is_empty() && r.status == RecordStatus::InMeeting)
                {
                    per.entry(&r.id).or_default().push(r);
                }
                per.values()
                    .any(|rs| rs.len() >= 2 && rs.windows(2).any(|w| w[1].join < w[0].leave))
            }),
            "overlapping devices"
        );
        assert!(
            c.meetings.iter().any(|m| {
                let mut ids: Vec<&str> = m
                    .records
                    .iter()
                    .filter(|r| !r.id.is_empty())
                    .map(|r| r.id.as_str())
                    .collect();
                let n = ids.len();
                ids.sort_unstable();
                ids.dedup();
                ids.len() < n
            }),
            "rejoins"
        );
        // A guest named like a member.
        let names: HashSet<String> = c.users.iter().map(User::display_name).collect();
        assert!(c.meetings.iter().any(|m| {
            m.records
                .iter()
                .any(|r| r.id.is_empty() && names.contains(&r.name))
        }));
        // Recurring: one number, several UUIDs.
        let mut per_number: HashMap<i64, HashSet<&str>> = HashMap::new();
        for m in c.meetings.iter().filter(|m| m.meeting_type == 8) {
            per_number.entry(m.id).or_default().insert(&m.uuid);
        }
        assert!(per_number.values().any(|uuids| uuids.len() >= 2));
        // Calls: every result, internal calls in both histories.
        for result in ["answered", "no_answer", "voicemail", "busy"] {
            assert!(c.calls.iter().any(|call| call.result == result), "{result}");
        }
        let internal: Vec<&CallLeg> = c.calls.iter().filter(|l| l.internal).collect();
        assert!(!internal.is_empty());
        for leg in internal {
            let pair: Vec<&CallLeg> = c
                .calls
                .iter()
                .filter(|l| l.call_id == leg.call_id)
                .collect();
            assert_eq!(pair.len(), 2);
            assert_ne!(pair[0].id, pair[1].id);
            assert_ne!(pair[0].owner_id, pair[1].owner_id);
        }
    }

    #[test]
    fn poisson_mean_is_close() {
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        let total: u32 = (0..10_000).map(|_| poisson(&mut rng, 1.5)).sum();
        let mean = f64::from(total) / 10_000.0;
        assert!((mean - 1.5).abs() < 0.1, "{mean}");
    }
}
