//! Request counters per (account, endpoint template, status), plus OAuth side effects the
//! tests assert on (revocations, refreshes, data-compliance calls).

use std::collections::BTreeMap;

use axum::http::StatusCode;

use crate::limits::RateLimiter;
use crate::types::{Counters, MaxPerSecond, RequestCount};

#[derive(Debug, Default)]
pub(crate) struct CounterStore {
    requests: BTreeMap<(String, &'static str, u16), u64>,
    pub revocations: u64,
    pub refreshes: u64,
    pub compliance_calls: u64,
}

impl CounterStore {
    pub(crate) fn record(&mut self, account: &str, endpoint: &'static str, status: StatusCode) {
        *self
            .requests
            .entry((account.to_owned(), endpoint, status.as_u16()))
            .or_default() += 1;
    }

    pub(crate) fn snapshot(&self, limiter: &RateLimiter) -> Counters {
        Counters {
            requests: self
                .requests
                .iter()
                .map(|((account_id, endpoint, status), count)| RequestCount {
                    account_id: account_id.clone(),
                    endpoint: (*endpoint).to_owned(),
                    status: *status,
                    count: *count,
                })
                .collect(),
            max_per_second: limiter
                .max_per_second()
                .into_iter()
                .map(|((account_id, category), max)| MaxPerSecond {
                    account_id,
                    category,
                    max,
                })
                .collect(),
            revocations: self.revocations,
            refreshes: self.refreshes,
            compliance_calls: self.compliance_calls,
        }
    }

    pub(crate) fn reset(&mut self) {
        *self = Self::default();
    }
}
