//! Metrics of the Zoom client, recorded through the `metrics` facade (the binary installs
//! the Prometheus exporter). Labels are low-cardinality: endpoint templates, never ids.
//!
//! - `zoom_requests_total{endpoint, status}`: every response (`status` = HTTP code) and
//!   every transport failure (`status` = `error`);
//! - `zoom_request_duration_seconds{endpoint}`;
//! - `zoom_rate_limited_total{endpoint, type}`: 429s seen, `type` = `qps` | `daily`;
//! - `zoom_rate_limiter_wait_seconds{category}`: time spent waiting in the shared limiter;
//! - `zoom_token_refreshes_total{outcome}`.

use std::time::Duration;

use metrics::{counter, histogram};

pub(crate) fn request(endpoint: &'static str, status: Option<u16>, elapsed: Duration) {
    let status = status.map_or_else(|| "error".to_owned(), |s| s.to_string());
    counter!("zoom_requests_total", "endpoint" => endpoint, "status" => status).increment(1);
    histogram!("zoom_request_duration_seconds", "endpoint" => endpoint)
        .record(elapsed.as_secs_f64());
}

pub(crate) fn rate_limited(endpoint: &'static str, daily: bool) {
    let kind = if daily { "daily" } else { "qps" };
    counter!("zoom_rate_limited_total", "endpoint" => endpoint, "type" => kind).increment(1);
}

pub(crate) fn limiter_wait(category: &'static str, waited: Duration) {
    histogram!("zoom_rate_limiter_wait_seconds", "category" => category)
        .record(waited.as_secs_f64());
}

pub(crate) fn token_refresh(ok: bool) {
    let outcome = if ok { "ok" } else { "error" };
    counter!("zoom_token_refreshes_total", "outcome" => outcome).increment(1);
}
