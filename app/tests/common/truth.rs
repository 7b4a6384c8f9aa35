//! Comparing a user's entries with the simulator's ground truth (`/_sim/truth`).

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use serde_json::Value;

/// (source, external id, started_at, duration_seconds, billed_minutes).
pub type Row = (String, String, String, i64, i64);

pub fn parse_time(v: &Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(v.as_str().expect("time"))
        .expect("rfc3339")
        .with_timezone(&Utc)
}

/// Minutes billed for `seconds` with the default 6-minute increment, rounded up.
pub fn rounded(seconds: i64) -> i64 {
    (seconds + 359) / 360 * 6
}

/// The simulator's ground truth for `user`: what entries the meetings and calls that started
/// in `[from, to]` should give, in the shape of [`entry_rows`].
pub async fn truth_rows(
    http: &reqwest::Client,
    sim: &zoom_sim::SimHandle,
    account: &str,
    user: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> BTreeSet<Row> {
    let truth: Value = http
        .get(format!(
            "{}/_sim/truth/{account}?user_id={user}",
            sim.base_url()
        ))
        .send()
        .await
        .expect("truth")
        .json()
        .await
        .expect("json");
    let mut rows = BTreeSet::new();
    for m in truth["meetings"].as_array().expect("meetings") {
        let start = parse_time(&m["meeting_start_time"]);
        if start >= from && start <= to {
            let seconds = m["duration_seconds"].as_i64().expect("duration");
            let id = m["uuid"].as_str().expect("uuid");
            let started = m["start_time"].as_str().expect("start");
            rows.insert((
                "zoom_meeting".into(),
                id.into(),
                started.into(),
                seconds,
                rounded(seconds),
            ));
        }
    }
    for c in truth["calls"].as_array().expect("calls") {
        let start = parse_time(&c["start_time"]);
        if start >= from && start <= to {
            let seconds = c["duration_seconds"].as_i64().expect("duration");
            let id = c["id"].as_str().expect("id");
            let answered = c["answer_time"].as_str().expect("answer");
            rows.insert((
                "zoom_call".into(),
                id.into(),
                answered.into(),
                seconds,
                rounded(seconds),
            ));
        }
    }
    rows
}

/// The user's entries (from `GET /v1/me/billables`) as rows.
pub fn entry_rows(items: &[Value]) -> BTreeSet<Row> {
    items
        .iter()
        .map(|i| {
            (
                i["source"].as_str().expect("source").into(),
                i["external_id"].as_str().expect("id").into(),
                i["started_at"].as_str().expect("started").into(),
                i["duration_seconds"].as_i64().expect("duration"),
                i["billed_minutes"].as_i64().expect("minutes"),
            )
        })
        .collect()
}
