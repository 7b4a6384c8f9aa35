//! Injected failures for `/v2` requests: 429 storms, random 429s and 5xxs, added latency.
//! Faults are global or scoped to one account; token expiry is applied immediately by the
//! caller (see [`crate::Sim::set_faults`]).

use std::collections::BTreeMap;
use std::time::Duration;

use axum::http::StatusCode;
use rand::Rng;
use serde::{Deserialize, Serialize};

/// Body of `POST /_sim/faults`. Fields that are present replace the current value for the
/// scope (`account_id`, or every account when absent).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FaultSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    /// Probability (0..=1) that a request answers 429 (QPS type).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_429: Option<f64>,
    /// The next N requests answer 429 (QPS type, `Retry-After: 1`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storm_requests: Option<u32>,
    /// Probability (0..=1) that a request answers a 5xx.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_5xx: Option<f64>,
    /// Delay added before every request is answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<u64>,
    /// Expire every current access token now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expire_tokens: Option<bool>,
}

/// Faults in force for one scope.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ActiveFaults {
    pub rate_429: f64,
    pub storm_remaining: u32,
    pub rate_5xx: f64,
    pub latency_ms: u64,
}

impl ActiveFaults {
    fn apply(&mut self, spec: &FaultSpec) {
        if let Some(rate) = spec.rate_429 {
            self.rate_429 = rate.clamp(0.0, 1.0);
        }
        if let Some(n) = spec.storm_requests {
            self.storm_remaining = n;
        }
        if let Some(rate) = spec.rate_5xx {
            self.rate_5xx = rate.clamp(0.0, 1.0);
        }
        if let Some(ms) = spec.latency_ms {
            self.latency_ms = ms;
        }
    }
}

/// All faults in force: `GET`/`POST /_sim/faults` answer this.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FaultState {
    pub global: ActiveFaults,
    pub accounts: BTreeMap<String, ActiveFaults>,
}

impl FaultState {
    pub(crate) fn apply(&mut self, spec: &FaultSpec) {
        match &spec.account_id {
            Some(account) => self
                .accounts
                .entry(account.clone())
                .or_default()
                .apply(spec),
            None => self.global.apply(spec),
        }
    }

    fn scoped(&self, account: &str) -> Option<&ActiveFaults> {
        self.accounts.get(account)
    }

    /// Latency to add to a request of `account`.
    pub(crate) fn latency(&self, account: &str) -> Duration {
        let scoped = self.scoped(account).map_or(0, |f| f.latency_ms);
        Duration::from_millis(scoped.max(self.global.latency_ms))
    }

    /// Whether this request is throttled by a storm or a random 429 (before rate limiting,
    /// so it does not use the account's budget).
    pub(crate) fn throttle(&mut self, account: &str, rng: &mut impl Rng) -> bool {
        if let Some(faults) = self.accounts.get_mut(account)
            && faults.storm_remaining > 0
        {
            faults.storm_remaining -= 1;
            return true;
        }
        if self.global.storm_remaining > 0 {
            self.global.storm_remaining -= 1;
            return true;
        }
        let rate = self
            .scoped(account)
            .map_or(0.0, |f| f.rate_429)
            .max(self.global.rate_429);
        rate > 0.0 && rng.gen_bool(rate)
    }

    /// A random server error for this request, if one is drawn.
    pub(crate) fn server_error(&self, account: &str, rng: &mut impl Rng) -> Option<StatusCode> {
        let rate = self
            .scoped(account)
            .map_or(0.0, |f| f.rate_5xx)
            .max(self.global.rate_5xx);
        if rate > 0.0 && rng.gen_bool(rate) {
            let statuses = [
                StatusCode::INTERNAL_SERVER_ERROR,
                StatusCode::BAD_GATEWAY,
                StatusCode::SERVICE_UNAVAILABLE,
            ];
            Some(statuses[rng.gen_range(0..statuses.len())])
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn storm_is_scoped_and_counted_down() {
        let mut faults = FaultState::default();
        faults.apply(&FaultSpec {
            account_id: Some("a".into()),
            storm_requests: Some(2),
            ..FaultSpec::default()
        });
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        assert!(!faults.throttle("b", &mut rng));
        assert!(faults.throttle("a", &mut rng));
        assert!(faults.throttle("a", &mut rng));
        assert!(!faults.throttle("a", &mut rng));
    }

    #[test]
    fn rates_are_clamped_and_combined() {
        let mut faults = FaultState::default();
        faults.apply(&FaultSpec {
            rate_5xx: Some(7.0),
            latency_ms: Some(20),
            ..FaultSpec::default()
        });
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        assert!(faults.server_error("x", &mut rng).is_some());
        assert_eq!(faults.latency("x"), Duration::from_millis(20));
    }
}
