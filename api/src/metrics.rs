//! `GET /metrics` in the Prometheus text format.
//!
//! Two kinds of series:
//! - **Process metrics** recorded through the `metrics` facade by whatever runs in this
//!   process: the Zoom client (`zoom_*`), the sync (`billables_written_total`) and the workers
//!   (`billables_jobs_total`, `billables_job_duration_seconds`, `billables_jobs_running`).
//!   The recorder is installed once per process, when the router is first built
//!   ([`install`]); a process that runs workers without the API records into nothing.
//! - **Fleet state** read from Redis and Postgres at scrape time, the same for every `serve`
//!   process: queue depth by state, oldest pending age, paused queues, live workers, accounts
//!   and members by status, backfills by state. These are rendered here directly (not through
//!   the global recorder), so two apps in one process (tests) never mix their values.

use std::{fmt::Write as _, sync::OnceLock};

use axum::{
    extract::State,
    http::{HeaderValue, header},
    response::{IntoResponse, Response},
};
use chrono::Utc;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::{AppState, extract::Admin};

/// Histogram buckets (seconds) for every `*_seconds` metric: Zoom calls are sub-second,
/// jobs take up to minutes.
const BUCKETS: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
];

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the process-wide Prometheus recorder (once) and returns its handle.
pub fn install() -> &'static PrometheusHandle {
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &BUCKETS)
            .expect("the buckets are not empty")
            .build_recorder();
        let handle = recorder.handle();
        if metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!(
                "another metrics recorder is installed; /metrics shows fleet state only"
            );
        }
        handle
    })
}

fn help(out: &mut String, name: &str, kind: &str, text: &str) {
    let _ = writeln!(out, "# HELP {name} {text}\n# TYPE {name} {kind}");
}

fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The fleet-state series, read now.
async fn fleet(state: &AppState) -> String {
    let mut out = String::new();
    let mut conn = state.redis.clone();
    let now = Utc::now();
    match jobs::ops::all_queue_stats(&mut conn, state.queues.prefix()).await {
        Ok(queues) => {
            help(
                &mut out,
                "billables_queue_up",
                "gauge",
                "1 when the queues in Redis could be read.",
            );
            out.push_str("billables_queue_up 1\n");
            help(
                &mut out,
                "billables_queue_jobs",
                "gauge",
                "Jobs in each queue by state (Redis, at scrape time).",
            );
            for q in &queues {
                let c = &q.counts;
                for (s, n) in [
                    ("pending", c.pending),
                    ("scheduled", c.scheduled),
                    ("running", c.running),
                    ("failed", c.failed),
                    ("dead", c.dead),
                    ("done", c.done),
                ] {
                    let _ = writeln!(
                        out,
                        "billables_queue_jobs{{job=\"{}\",state=\"{s}\"}} {n}",
                        q.job
                    );
                }
            }
            help(
                &mut out,
                "billables_queue_oldest_pending_seconds",
                "gauge",
                "How long the longest-waiting ready job has waited (0 when none waits).",
            );
            for q in &queues {
                let age = q.oldest_pending_age(now).map_or(0, |d| d.as_secs());
                let _ = writeln!(
                    out,
                    "billables_queue_oldest_pending_seconds{{job=\"{}\"}} {age}",
                    q.job
                );
            }
            help(
                &mut out,
                "billables_queue_paused",
                "gauge",
                "1 while an operator has paused the queue.",
            );
            for q in &queues {
                let _ = writeln!(
                    out,
                    "billables_queue_paused{{job=\"{}\"}} {}",
                    q.job,
                    u8::from(q.paused)
                );
            }
            help(
                &mut out,
                "billables_queue_workers",
                "gauge",
                "Workers with a recent heartbeat per queue.",
            );
            for q in &queues {
                let _ = writeln!(
                    out,
                    "billables_queue_workers{{job=\"{}\"}} {}",
                    q.job, q.workers_alive
                );
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, "metrics: could not read the queues");
            help(
                &mut out,
                "billables_queue_up",
                "gauge",
                "1 when the queues in Redis could be read.",
            );
            out.push_str("billables_queue_up 0\n");
        }
    }
    let tables: [(&str, &str, &str); 3] = [
        (
            "billables_accounts",
            "Zoom accounts by status.",
            "select status, count(*) from accounts group by status",
        ),
        (
            "billables_members",
            "Members (opted-in users) by status.",
            "select status, count(*) from members group by status",
        ),
        (
            "billables_backfills",
            "Backfills by state.",
            "select state, count(*) from backfills group by state",
        ),
    ];
    for (name, text, sql) in tables {
        match sqlx::query_as::<_, (String, i64)>(sql)
            .fetch_all(&state.db)
            .await
        {
            Ok(rows) => {
                help(&mut out, name, "gauge", text);
                let label = if name == "billables_backfills" {
                    "state"
                } else {
                    "status"
                };
                for (value, count) in rows {
                    let _ = writeln!(out, "{name}{{{label}=\"{}\"}} {count}", escape(&value));
                }
            }
            Err(e) => tracing::warn!(error = %e, metric = name, "metrics: could not read Postgres"),
        }
    }
    out
}

/// `GET /metrics` (operators: admin bearer token or a signed-in browser).
pub async fn scrape(_: Admin, State(state): State<AppState>) -> Response {
    let handle = install();
    handle.run_upkeep();
    let mut body = handle.render();
    if !body.is_empty() && !body.ends_with('\n') {
        body.push('\n');
    }
    body.push_str(&fleet(&state).await);
    let mut response = body.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    response
}
