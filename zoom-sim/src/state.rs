//! The simulator's mutable state, kept behind one mutex in [`crate::Sim`]. Nothing here
//! awaits: callers lock, read or change, and unlock before any I/O or sleep.

use std::collections::HashMap;

use chrono::{DateTime, TimeDelta, Utc};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::config::SimConfig;
use crate::counters::CounterStore;
use crate::error::SimError;
use crate::faults::FaultState;
use crate::limits::RateLimiter;
use crate::model::Company;
use crate::oauth::OAuthStore;
use crate::pagination::PageTokens;

/// Seed offset of the RNG for run-time randomness (tokens, page tokens, random faults), so
/// it never shares a stream with a company's generator.
const RUNTIME_STREAM: u64 = 0x5EED_F0A7_u64;

#[derive(Debug)]
pub(crate) struct SimState {
    pub config: SimConfig,
    /// `http://127.0.0.1:PORT`, used for `api_url` when a request has no `Host` header.
    pub base_url: String,
    clock_offset: TimeDelta,
    pub companies: Vec<Company>,
    pub by_account: HashMap<String, usize>,
    /// The company whose approver the "browser" is signed in as (last approver set, else
    /// the last company created).
    pub signed_in: Option<usize>,
    pub oauth: OAuthStore,
    pub pages: PageTokens,
    pub limiter: RateLimiter,
    pub faults: FaultState,
    pub counters: CounterStore,
    pub rng: ChaCha8Rng,
    pub compliance: Vec<serde_json::Value>,
}

impl SimState {
    pub(crate) fn new(config: SimConfig, base_url: String) -> Self {
        let rng = ChaCha8Rng::seed_from_u64(config.seed ^ RUNTIME_STREAM);
        Self {
            config,
            base_url,
            clock_offset: TimeDelta::zero(),
            companies: Vec::new(),
            by_account: HashMap::new(),
            signed_in: None,
            oauth: OAuthStore::default(),
            pages: PageTokens::default(),
            limiter: RateLimiter::default(),
            faults: FaultState::default(),
            counters: CounterStore::default(),
            rng,
            compliance: Vec::new(),
        }
    }

    /// Sim time: real time plus the offset moved by `POST /_sim/clock/advance`.
    pub(crate) fn now(&self) -> DateTime<Utc> {
        Utc::now() + self.clock_offset
    }

    pub(crate) fn advance(&mut self, seconds: i64) {
        self.clock_offset += TimeDelta::seconds(seconds);
    }

    pub(crate) fn company_index(&self, account_id: &str) -> Result<usize, SimError> {
        self.by_account
            .get(account_id)
            .copied()
            .ok_or_else(|| SimError::UnknownAccount(account_id.to_owned()))
    }

    pub(crate) fn company(&self, account_id: &str) -> Result<&Company, SimError> {
        let index = self.company_index(account_id)?;
        Ok(&self.companies[index])
    }

    pub(crate) fn company_mut(&mut self, account_id: &str) -> Result<&mut Company, SimError> {
        let index = self.company_index(account_id)?;
        Ok(&mut self.companies[index])
    }
}
