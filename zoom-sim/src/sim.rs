//! [`Sim`], the in-process handle on a simulator: every `/_sim/` control operation as a
//! method, sharing state with the HTTP routes.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, Utc};
use rand::Rng;

use crate::config::SimConfig;
use crate::error::SimError;
use crate::faults::{FaultSpec, FaultState};
use crate::generator::{self, CallPlan};
use crate::ids::{self, UuidShape};
use crate::limits::Limits;
use crate::model::{Company, ParticipantRecord, RecordStatus};
use crate::state::SimState;
use crate::time::{parse_from, parse_to_exclusive, secs, trunc};
use crate::types::{
    ApproverSpec, CallRecord, CompanyInfo, CompanySpec, Counters, MeetingCreated, NewCall,
    NewMeeting, NewUser, Truth, TruthQuery, UserInfo,
};
use crate::webhook::{self, Deauthorization};

const WEBHOOK_TIMEOUT: Duration = Duration::from_secs(10);
const MAX_USERS: usize = 100_000;
const MAX_DAYS: u32 = 400;

/// A running simulator's state. Cheap to clone; all clones share the same world.
#[derive(Clone, Debug)]
pub struct Sim {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    state: Mutex<SimState>,
    http: reqwest::Client,
}

fn capitalize(word: &str) -> String {
    let mut chars = word.chars();
    chars.next().map_or_else(String::new, |first| {
        first.to_uppercase().chain(chars).collect()
    })
}

fn check_rate(name: &str, value: f64, max: f64) -> Result<(), SimError> {
    if value.is_finite() && (0.0..=max).contains(&value) {
        Ok(())
    } else {
        Err(SimError::BadRequest(format!(
            "{name} must be between 0 and {max}"
        )))
    }
}

impl Sim {
    pub(crate) fn new(config: SimConfig, base_url: String) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(WEBHOOK_TIMEOUT)
            .build()?;
        Ok(Self {
            inner: Arc::new(Inner {
                state: Mutex::new(SimState::new(config, base_url)),
                http,
            }),
        })
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, SimState> {
        self.inner
            .state
            .lock()
            .expect("sim state mutex poisoned by a panicking handler")
    }

    /// `http://127.0.0.1:PORT`, no trailing slash.
    pub fn base_url(&self) -> String {
        self.lock().base_url.clone()
    }

    /// Sim time (real time plus the advanced offset).
    pub fn now(&self) -> DateTime<Utc> {
        self.lock().now()
    }

    /// Moves the sim clock; returns the new sim time.
    pub fn advance_clock(&self, seconds: i64) -> DateTime<Utc> {
        let mut st = self.lock();
        st.advance(seconds);
        st.now()
    }

    /// Generates a company. Deterministic for a given seed and call order. The new company
    /// becomes the one the next authorize installs into.
    pub fn create_company(&self, spec: &CompanySpec) -> Result<CompanyInfo, SimError> {
        if spec.domain.trim().is_empty() || spec.domain.contains(['@', '/', ' ']) {
            return Err(SimError::BadRequest(
                "domain must be a bare domain name".into(),
            ));
        }
        if spec.users > MAX_USERS || spec.days > MAX_DAYS {
            return Err(SimError::BadRequest(format!(
                "at most {MAX_USERS} users and {MAX_DAYS} days"
            )));
        }
        check_rate(
            "meetings_per_user_per_day",
            spec.meetings_per_user_per_day,
            50.0,
        )?;
        check_rate("calls_per_user_per_day", spec.calls_per_user_per_day, 50.0)?;
        check_rate("shared_meeting_share", spec.shared_meeting_share, 1.0)?;

        let mut st = self.lock();
        let limits = match (&spec.limits, spec.plan.to_ascii_lowercase().as_str()) {
            (Some(limits), _) => limits.clone(),
            (None, "pro") => Limits::pro(),
            (None, _) => st.config.limits.clone(),
        };
        let index = st.companies.len();
        let now = st.now();
        let company = generator::generate(spec, index, st.config.seed, limits, now);
        if st.by_account.contains_key(&company.account_id) {
            return Err(SimError::Conflict("account id collision".into()));
        }
        let info = company.info();
        st.by_account.insert(company.account_id.clone(), index);
        st.companies.push(company);
        st.signed_in = Some(index);
        tracing::info!(account.id = %info.account_id, users = info.users.len(), "company generated");
        Ok(info)
    }

    /// Every company, in creation order.
    pub fn companies(&self) -> Vec<CompanyInfo> {
        self.lock().companies.iter().map(Company::info).collect()
    }

    pub fn company(&self, account_id: &str) -> Result<CompanyInfo, SimError> {
        Ok(self.lock().company(account_id)?.info())
    }

    /// Sets who approves the next authorize and signs the "browser" into this account. With
    /// neither `user_id` nor `email`, the owner approves.
    pub fn set_approver(
        &self,
        account_id: &str,
        spec: &ApproverSpec,
    ) -> Result<UserInfo, SimError> {
        let mut st = self.lock();
        let index = st.company_index(account_id)?;
        let now = st.now();
        let company = &mut st.companies[index];
        let position = match (&spec.user_id, &spec.email) {
            (Some(id), _) => company
                .users
                .iter()
                .position(|u| u.id == *id)
                .ok_or_else(|| SimError::UnknownUser(id.clone()))?,
            (None, Some(email)) => match company
                .users
                .iter()
                .position(|u| u.email.eq_ignore_ascii_case(email))
            {
                Some(position) => position,
                None => {
                    let local = email.split('@').next().unwrap_or_default();
                    let mut names = local.split(['.', '_', '-']).map(capitalize);
                    let first = names.next().unwrap_or_default();
                    let last = names.next().unwrap_or_default();
                    let role = spec.role_name.clone().unwrap_or_else(|| "Admin".into());
                    let position = company.users.len();
                    let user = generator::new_user(
                        &mut company.rng,
                        email.clone(),
                        first,
                        last,
                        role,
                        position,
                        now,
                    );
                    company.users.push(user);
                    position
                }
            },
            (None, None) => company
                .users
                .iter()
                .position(|u| u.role_name == "Owner")
                .unwrap_or(0),
        };
        let user = &mut company.users[position];
        if let Some(role) = &spec.role_name {
            user.role_name.clone_from(role);
        }
        let info = user.info();
        company.approver = Some(info.id.clone());
        st.signed_in = Some(index);
        Ok(info)
    }

    /// Adds a user to the account.
    pub fn add_user(&self, account_id: &str, new: &NewUser) -> Result<UserInfo, SimError> {
        if !new.email.contains('@') {
            return Err(SimError::BadRequest(
                "email must be an e-mail address".into(),
            ));
        }
        let mut st = self.lock();
        let now = st.now();
        let company = st.company_mut(account_id)?;
        if company
            .users
            .iter()
            .any(|u| u.email.eq_ignore_ascii_case(&new.email))
        {
            return Err(SimError::Conflict(format!("{} already exists", new.email)));
        }
        let position = company.users.len();
        let user = generator::new_user(
            &mut company.rng,
            new.email.clone(),
            new.first_name.clone(),
            new.last_name.clone(),
            new.role_name.clone().unwrap_or_else(|| "Member".into()),
            position,
            now,
        );
        let info = user.info();
        company.users.push(user);
        Ok(info)
    }

    /// Adds a hand-built meeting instance.
    pub fn add_meeting(
        &self,
        account_id: &str,
        new: &NewMeeting,
    ) -> Result<MeetingCreated, SimError> {
        let mut st = self.lock();
        let now = trunc(st.now());
        let company = st.company_mut(account_id)?;
        if company.user(&new.host_id).is_none() {
            return Err(SimError::UnknownUser(new.host_id.clone()));
        }
        let longest = new
            .participants
            .iter()
            .map(|p| p.leave_offset_secs)
            .max()
            .unwrap_or(0)
            .max(0);
        let start = new.start_time.map_or(now - secs(longest), trunc);
        let mut records = Vec::with_capacity(new.participants.len());
        for p in &new.participants {
            if p.leave_offset_secs < p.join_offset_secs || p.join_offset_secs < 0 {
                return Err(SimError::BadRequest(
                    "offsets must satisfy 0 <= join_offset_secs <= leave_offset_secs".into(),
                ));
            }
            let status = match p.status.as_deref() {
                None => RecordStatus::InMeeting,
                Some(raw) => RecordStatus::parse(raw).ok_or_else(|| {
                    SimError::BadRequest(format!("unknown participant status {raw}"))
                })?,
            };
            let (id, name, email) = match (&p.user_id, &p.guest_name) {
                (Some(user_id), _) => {
                    let user = company
                        .user(user_id)
                        .ok_or_else(|| SimError::UnknownUser(user_id.clone()))?;
                    let email = p.email.clone().unwrap_or_else(|| user.email.clone());
                    (user.id.clone(), user.display_name(), email)
                }
                (None, Some(name)) => (
                    String::new(),
                    name.clone(),
                    p.email.clone().unwrap_or_default(),
                ),
                (None, None) => {
                    return Err(SimError::BadRequest(
                        "a participant needs user_id or guest_name".into(),
                    ));
                }
            };
            records.push(ParticipantRecord {
                participant_user_id: id.clone(),
                id,
                user_id: String::new(),
                name,
                user_email: email,
                join: start + secs(p.join_offset_secs),
                leave: start + secs(p.leave_offset_secs),
                status,
            });
        }
        records.sort_by_key(|r| r.join);
        for (n, record) in (0u64..).zip(records.iter_mut()) {
            record.user_id = (16_778_240 + n * 1024).to_string();
        }
        let uuid = match &new.uuid {
            Some(uuid) if company.uuid_index.contains_key(uuid) => {
                return Err(SimError::Conflict(format!("meeting {uuid} already exists")));
            }
            Some(uuid) if uuid.is_empty() => {
                return Err(SimError::BadRequest("uuid must not be empty".into()));
            }
            Some(uuid) => uuid.clone(),
            None => loop {
                let uuid = ids::meeting_uuid(&mut company.rng, UuidShape::Random);
                if !company.uuid_index.contains_key(&uuid) {
                    break uuid;
                }
            },
        };
        let id = new
            .meeting_id
            .unwrap_or_else(|| ids::meeting_number(&mut company.rng));
        let recurring = company.meetings.iter().any(|m| m.id == id);
        let meeting = crate::model::Meeting {
            uuid: uuid.clone(),
            id,
            meeting_type: new.meeting_type.unwrap_or(if recurring { 8 } else { 2 }),
            topic: new.topic.clone().unwrap_or_else(|| "Meeting".into()),
            host_id: new.host_id.clone(),
            start,
            end: start + secs(longest),
            publish_delay_secs: new.publish_delay_secs.unwrap_or(0).max(0),
            records,
        };
        let created = MeetingCreated {
            uuid,
            id,
            start_time: meeting.start,
            end_time: meeting.end,
        };
        company.push_meeting(meeting);
        Ok(created)
    }

    /// Adds a call; an internal call (`peer_user_id`) gets a record in each side's history.
    pub fn add_call(&self, account_id: &str, new: &NewCall) -> Result<Vec<CallRecord>, SimError> {
        let outbound = match new.direction.as_str() {
            "outbound" => true,
            "inbound" => false,
            other => {
                return Err(SimError::BadRequest(format!(
                    "direction must be inbound or outbound, not {other}"
                )));
            }
        };
        if new.ring_secs < 0 || new.talk_secs < 0 {
            return Err(SimError::BadRequest(
                "ring_secs and talk_secs must be >= 0".into(),
            ));
        }
        let mut st = self.lock();
        let now = trunc(st.now());
        let Company {
            users, calls, rng, ..
        } = st.company_mut(account_id)?;
        let owner = users
            .iter()
            .find(|u| u.id == new.user_id)
            .ok_or_else(|| SimError::UnknownUser(new.user_id.clone()))?;
        let peer = match &new.peer_user_id {
            Some(peer_id) if *peer_id == new.user_id => {
                return Err(SimError::BadRequest("a user cannot call themselves".into()));
            }
            Some(peer_id) => Some(
                users
                    .iter()
                    .find(|u| u.id == *peer_id)
                    .ok_or_else(|| SimError::UnknownUser(peer_id.clone()))?,
            ),
            None => None,
        };
        let start = new
            .start_time
            .unwrap_or_else(|| now - secs(new.ring_secs + new.talk_secs));
        let plan = CallPlan {
            owner,
            peer,
            outbound,
            result: new.result.clone(),
            start,
            ring_secs: new.ring_secs,
            talk_secs: new.talk_secs,
            after_ring_secs: 0,
        };
        let legs = generator::call_legs(rng, &plan);
        let records = legs.iter().map(crate::model::CallLeg::record).collect();
        calls.extend(legs);
        Ok(records)
    }

    /// Applies a fault spec (see [`FaultSpec`]); the faults now in force.
    pub fn set_faults(&self, spec: &FaultSpec) -> Result<FaultState, SimError> {
        check_rate("rate_429", spec.rate_429.unwrap_or(0.0), 1.0)?;
        check_rate("rate_5xx", spec.rate_5xx.unwrap_or(0.0), 1.0)?;
        let mut st = self.lock();
        if let Some(account) = &spec.account_id {
            st.company_index(account)?;
        }
        st.faults.apply(spec);
        if spec.expire_tokens == Some(true) {
            let now = st.now();
            st.oauth.expire(spec.account_id.as_deref(), now);
        }
        Ok(st.faults.clone())
    }

    /// Removes every fault.
    pub fn clear_faults(&self) {
        self.lock().faults = FaultState::default();
    }

    /// The faults in force.
    pub fn faults(&self) -> FaultState {
        self.lock().faults.clone()
    }

    /// Replaces the rate limits of one account, or of every account and of companies created
    /// later when `account_id` is `None`.
    pub fn set_limits(&self, account_id: Option<&str>, limits: Limits) -> Result<(), SimError> {
        let mut st = self.lock();
        match account_id {
            Some(account) => st.company_mut(account)?.limits = limits,
            None => {
                for company in &mut st.companies {
                    company.limits = limits.clone();
                }
                st.config.limits = limits;
            }
        }
        Ok(())
    }

    /// The rate limits of one account, or the default for new Business-plan companies.
    pub fn limits(&self, account_id: Option<&str>) -> Result<Limits, SimError> {
        let st = self.lock();
        match account_id {
            Some(account) => Ok(st.company(account)?.limits.clone()),
            None => Ok(st.config.limits.clone()),
        }
    }

    /// Revokes the account's grant as if an admin removed the app (no webhook). Whether
    /// there was a live grant.
    pub fn revoke_grant(&self, account_id: &str) -> Result<bool, SimError> {
        let mut st = self.lock();
        st.company_index(account_id)?;
        Ok(st.oauth.revoke_account(account_id))
    }

    /// Revokes the grant and POSTs a signed `app_deauthorized` webhook to `url`; the
    /// receiver's HTTP status. `timestamp` (unix seconds) overrides the signing time, e.g.
    /// to test stale-request rejection; by default it is the real current time, which is
    /// what receivers compare against.
    pub async fn deauthorize(
        &self,
        account_id: &str,
        url: &str,
        timestamp: Option<i64>,
    ) -> Result<u16, SimError> {
        let (body, secret, timestamp) = {
            let mut st = self.lock();
            let company = st.company(account_id)?;
            let owner = company.owner().id.clone();
            let user_id = st.oauth.installer(account_id).unwrap_or(owner);
            st.oauth.revoke_account(account_id);
            let payload_signature = hex::encode(st.rng.r#gen::<[u8; 32]>());
            let event = Deauthorization {
                account_id: account_id.to_owned(),
                user_id,
                client_id: st.config.client_id.clone(),
                deauthorization_time: st.now(),
                payload_signature,
            };
            let real_now = Utc::now();
            let timestamp = timestamp.unwrap_or(real_now.timestamp());
            (
                event.body(real_now.timestamp_millis()),
                st.config.webhook_secret_token.clone(),
                timestamp,
            )
        };
        tracing::info!(account.id = %account_id, "sending app_deauthorized webhook");
        webhook::deliver(&self.inner.http, url, &secret, timestamp, body).await
    }

    /// Request counters and rate maxima.
    pub fn counters(&self) -> Counters {
        let st = self.lock();
        st.counters.snapshot(&st.limiter)
    }

    /// Zeroes the counters and the recorded per-second maxima.
    pub fn reset_counters(&self) {
        let mut st = self.lock();
        st.counters.reset();
        st.limiter.reset_max();
    }

    /// What `user_id` should be billed for (see the contract's truth route).
    pub fn truth(&self, account_id: &str, query: &TruthQuery) -> Result<Truth, SimError> {
        let from = match query.from.as_deref() {
            Some(raw) => {
                parse_from(raw).ok_or_else(|| SimError::BadRequest(format!("bad from: {raw}")))?
            }
            None => DateTime::<Utc>::MIN_UTC,
        };
        let to = match query.to.as_deref() {
            Some(raw) => parse_to_exclusive(raw)
                .ok_or_else(|| SimError::BadRequest(format!("bad to: {raw}")))?,
            None => DateTime::<Utc>::MAX_UTC,
        };
        let st = self.lock();
        let company = st.company(account_id)?;
        let user = company
            .user(&query.user_id)
            .ok_or_else(|| SimError::UnknownUser(query.user_id.clone()))?;
        Ok(crate::truth::compute(company, user, from, to, st.now()))
    }

    /// Bodies of the data-compliance calls received, oldest first.
    pub fn compliance_calls(&self) -> Vec<serde_json::Value> {
        self.lock().compliance.clone()
    }
}
