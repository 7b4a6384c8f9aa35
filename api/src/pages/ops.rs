//! The operators' pages, organised by company and user rather than by queue: accounts with
//! their members and backfills, queues with counts, throughput and failures, single jobs,
//! and the buttons to act on them (plain HTML forms posting to the `/v1/ops` JSON routes,
//! which answer a signed-in browser with a redirect back here; see `routes::ops::auth`).
//!
//! No scripts; one stylesheet of its own (the pages are wider than the product's).

use axum::{
    Form, Router,
    extract::{Path, Query, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{Html, IntoResponse, Redirect, Response},
    routing::{get, post},
};
use chrono::{DateTime, Utc};
use jobs::ops::JobState;
use maud::{DOCTYPE, Markup, PreEscaped, html};
use secrecy::ExposeSecret as _;
use serde::Deserialize;
use subtle::ConstantTimeEq as _;

use crate::{
    ApiError, AppState,
    routes::ops::{
        self as api, AccountView, JobView, QueueView, THROUGHPUT_MINUTES,
        auth::{self, OperatorPage},
    },
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/ops", get(dashboard))
        .route("/ops/login", get(login_form).post(login))
        .route("/ops/logout", post(logout))
        .route("/ops/accounts/{id}", get(account_page))
        .route("/ops/queues/{name}", get(queue_page))
        .route("/ops/jobs/{id}", get(job_page))
        .route("/ops/jobs", get(job_lookup))
}

const STYLE: &str = r#"
:root { color-scheme: light; --ink:#1d2433; --muted:#5b6475; --line:#e3e7ee; --soft:#f6f8fb; --brand:#2d5bff; --ok:#0f7b4f; --warn:#a15c00; --bad:#b42318; }
* { box-sizing: border-box; }
body { margin:0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color:var(--ink); background:var(--soft); }
header.top { background:#141a2a; color:#fff; padding: 10px 24px; display:flex; align-items:center; gap:20px; }
header.top .brand { font-weight:700; letter-spacing:.2px; }
header.top nav { display:flex; gap:14px; flex:1; }
header.top a { color:#c9d3ff; text-decoration:none; }
header.top a:hover { color:#fff; }
header.top form { margin:0; }
header.top button { background:transparent; color:#c9d3ff; border:1px solid #3a4566; border-radius:6px; padding:3px 10px; cursor:pointer; }
main { max-width: 1240px; margin: 20px auto; padding: 0 24px; }
h1 { font-size: 1.35rem; margin: 6px 0 4px; }
h2 { font-size: 1.05rem; margin: 26px 0 8px; }
p.lead { color: var(--muted); margin: 0 0 12px; }
section.card { background:#fff; border:1px solid var(--line); border-radius:10px; padding: 4px 0; overflow-x:auto; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align:left; padding: 7px 12px; border-bottom:1px solid var(--line); vertical-align: top; }
th { font-size:.78rem; text-transform:uppercase; letter-spacing:.04em; color:var(--muted); font-weight:600; background:#fafbfd; }
tr:last-child td { border-bottom:0; }
td.num, th.num { text-align:right; font-variant-numeric: tabular-nums; }
td.zero { color:#b3bac6; }
a { color: var(--brand); }
code, pre { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: .85rem; }
pre { background:#0f1424; color:#e6e9f2; padding:12px; border-radius:8px; overflow:auto; white-space:pre-wrap; word-break:break-word; margin:0; }
pre.error { background:#fff4f2; color:var(--bad); border:1px solid #f3c7c0; }
.pill { display:inline-block; padding:1px 8px; border-radius:999px; font-size:.78rem; font-weight:600; background:#eef1f6; color:var(--muted); white-space:nowrap; }
.pill.ok { background:#e3f5ec; color:var(--ok); }
.pill.warn { background:#fff1dc; color:var(--warn); }
.pill.bad { background:#fde8e6; color:var(--bad); }
.pill.info { background:#e6ecff; color:var(--brand); }
.muted { color: var(--muted); }
.err { color: var(--bad); }
.actions { display:flex; gap:6px; flex-wrap:wrap; }
.actions form { margin:0; }
button.btn, a.btn { display:inline-block; font: inherit; font-size:.82rem; font-weight:600; padding:4px 10px; border-radius:6px; border:1px solid var(--brand); background:var(--brand); color:#fff; cursor:pointer; text-decoration:none; }
button.btn.secondary, a.btn.secondary { background:#fff; color:var(--brand); }
button.btn.danger { background:#fff; color:var(--bad); border-color:#e8b4ad; }
.flash { background:#e6ecff; border:1px solid #bccbff; color:#1c3aa6; padding:8px 12px; border-radius:8px; margin: 12px 0; }
.flash.bad { background:#fde8e6; border-color:#f3c7c0; color:var(--bad); }
.grid { display:grid; grid-template-columns: repeat(auto-fill, minmax(150px, 1fr)); gap:10px; }
.stat { background:#fff; border:1px solid var(--line); border-radius:10px; padding:10px 14px; }
.stat .label { font-size:.75rem; text-transform:uppercase; letter-spacing:.04em; color:var(--muted); }
.stat .value { font-size:1.5rem; font-weight:700; font-variant-numeric: tabular-nums; }
dl.facts { display:grid; grid-template-columns: 180px 1fr; gap:6px 16px; margin:0; padding: 12px 16px; }
dl.facts dt { color: var(--muted); }
dl.facts dd { margin:0; word-break: break-word; }
.bar { width: 140px; height: 8px; background:#eef1f6; border-radius: 4px; overflow:hidden; display:inline-block; vertical-align: middle; margin-right:6px; }
.bar > span { display:block; height:100%; background: var(--ok); }
.spark { display:flex; align-items:flex-end; gap:2px; height:46px; padding: 10px 16px; }
.spark span { flex:1; background:#c9d6ff; border-radius:2px 2px 0 0; min-height:1px; }
.spark span.err { background:#f3b2aa; }
.tabs { display:flex; gap:6px; margin: 8px 0; flex-wrap: wrap; }
.tabs a { padding:3px 10px; border-radius:999px; border:1px solid var(--line); background:#fff; text-decoration:none; color:var(--ink); font-size:.85rem; }
.tabs a.on { background:var(--ink); color:#fff; border-color:var(--ink); }
.login { max-width: 380px; margin: 80px auto; background:#fff; border:1px solid var(--line); border-radius:12px; padding: 28px; }
.login input[type=password] { width:100%; padding:9px 10px; font: inherit; border:1px solid #cdd3de; border-radius:8px; margin: 6px 0 14px; }
.login button { width:100%; padding:9px; font-size:.95rem; }
.truncate { max-width: 420px; overflow:hidden; text-overflow:ellipsis; white-space:nowrap; }
form.inline { display:flex; gap:6px; }
form.inline input { font: inherit; padding: 3px 8px; border:1px solid #cdd3de; border-radius:6px; width: 260px; }
"#;

fn frame(title: &str, flash: Option<&str>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · Operators · Billables AI for Zoom" }
                style { (PreEscaped(STYLE)) }
            }
            body {
                header.top {
                    span.brand { "Billables for Zoom · Operators" }
                    nav {
                        a href="/ops" { "Overview" }
                        a href="/ops/queues/backfill_window" { "Queues" }
                        a href="/ops/board" { "Queue board" }
                        a href="/metrics" { "Metrics" }
                        a href="/openapi.json" { "API" }
                    }
                    form method="post" action="/ops/logout" { button type="submit" { "Sign out" } }
                }
                main {
                    @if let Some(message) = flash {
                        @let bad = message.starts_with("Failed");
                        div.flash.bad[bad] role="status" id="flash" { (message) }
                    }
                    (body)
                }
            }
        }
    }
}

/// A page response: no caching, the flash message consumed.
fn respond(
    status: StatusCode,
    headers: &HeaderMap,
    title: &str,
    body: impl FnOnce() -> Markup,
) -> Response {
    let flash = auth::take_flash(headers);
    let markup = body();
    let mut response = (
        status,
        Html(frame(title, flash.as_ref().map(|(m, _)| m.as_str()), markup).into_string()),
    )
        .into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Some((_, clear)) = flash {
        response.headers_mut().insert(header::SET_COOKIE, clear);
    }
    response
}

fn error_page(headers: &HeaderMap, e: &ApiError) -> Response {
    let status = e.status();
    let message = match e {
        ApiError::Internal(_) => "Something went wrong; the cause is in the logs.".to_owned(),
        other => other.to_string(),
    };
    if let ApiError::Internal(cause) = e {
        tracing::error!(error = format!("{cause:#}"), "operator page failed");
    }
    respond(status, headers, "Problem", || {
        html! {
            h1.err { (status.canonical_reason().unwrap_or("Error")) }
            p.lead { (message) }
            p { a href="/ops" { "Back to the overview" } }
        }
    })
}

fn ago(t: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let secs = (now - t).num_seconds();
    let (future, secs) = (secs < 0, secs.unsigned_abs());
    let text = match secs {
        0..=59 => format!("{secs} s"),
        60..=3599 => format!("{} min", secs / 60),
        3600..=172_799 => format!("{} h {} min", secs / 3600, secs % 3600 / 60),
        _ => format!("{} days", secs / 86_400),
    };
    if future {
        format!("in {text}")
    } else {
        format!("{text} ago")
    }
}

fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// A time as "3 min ago", with the exact time on hover.
fn when(t: Option<&str>, now: DateTime<Utc>) -> Markup {
    match t.and_then(|s| parse_time(s).map(|p| (s, p))) {
        Some((raw, parsed)) => html! { span title=(raw) { (ago(parsed, now)) } },
        None => html! { span.muted { "—" } },
    }
}

fn duration(secs: u64) -> String {
    match secs {
        0..=59 => format!("{secs} s"),
        60..=3599 => format!("{} min {} s", secs / 60, secs % 60),
        _ => format!("{} h {} min", secs / 3600, secs % 3600 / 60),
    }
}

fn status_pill(status: &str) -> Markup {
    let class = match status {
        "active" | "done" | "ok" | "Done" => "ok",
        "pending" | "queued" | "running" | "scheduled" | "Pending" | "Running" => "info",
        "needs_reauth" | "failed" | "Failed" | "waiting_for_admin" | "skipped_running" => "warn",
        "removed" | "dead" | "Killed" | "disabled" | "cancelled" => "bad",
        _ => "",
    };
    html! { span class={ "pill " (class) } { (status) } }
}

fn num(n: impl Into<u64>) -> Markup {
    let n = n.into();
    html! { td.num.zero[n == 0] { (n) } }
}

/// `action` with `return_to` set to `back` (where the browser lands after the post).
fn action(action: &str, back: &str) -> String {
    format!("{action}?return_to={}", urlencoding::encode(back))
}

fn post_button(target: &str, back: &str, label: &str, class: &str, id: Option<&str>) -> Markup {
    html! {
        form method="post" action=(action(target, back)) {
            button type="submit" class={ "btn " (class) } id=[id] { (label) }
        }
    }
}

fn progress(done: i32, total: i32) -> Markup {
    let pct = if total > 0 {
        (f64::from(done) / f64::from(total) * 100.0).round()
    } else {
        0.0
    };
    html! {
        span.bar { span style={ "width:" (pct) "%" } {} }
        span { (done) " / " (total) }
    }
}

fn queues_table(queues: &[QueueView], back: &str) -> Markup {
    html! {
        section.card {
            table id="queues" {
                thead { tr {
                    th { "Job type" } th.num { "Pending" } th.num { "Scheduled" } th.num { "Running" }
                    th.num { "Failed" } th.num { "Dead" } th.num { "Done" } th { "Oldest pending" }
                    th.num { "OK / min" } th.num { "Errors (" (THROUGHPUT_MINUTES) " min)" } th.num { "Workers" } th { "" }
                } }
                tbody {
                    @for q in queues {
                        tr data-queue=(q.name) {
                            td {
                                a href={ "/ops/queues/" (q.name) } { code { (q.name) } }
                                @if q.paused { " " span.pill.warn { "paused" } }
                            }
                            td.num.zero[q.counts.pending == 0] data-count="pending" { (q.counts.pending) }
                            td.num.zero[q.counts.scheduled == 0] data-count="scheduled" { (q.counts.scheduled) }
                            td.num.zero[q.counts.running == 0] data-count="running" { (q.counts.running) }
                            td.num.zero[q.counts.failed == 0] data-count="failed" {
                                @if q.counts.failed > 0 { span.err { (q.counts.failed) } } @else { "0" }
                            }
                            td.num.zero[q.counts.dead == 0] data-count="dead" {
                                @if q.counts.dead > 0 { span.err { (q.counts.dead) } } @else { "0" }
                            }
                            td.num.zero[q.counts.done == 0] data-count="done" { (q.counts.done) }
                            td { @match q.oldest_pending_age_seconds {
                                Some(s) => span.warn[s > 300] { (duration(s)) },
                                None => span.muted { "—" },
                            } }
                            td.num { (q.throughput.ok_per_minute) }
                            (num(q.throughput.error + q.throughput.killed + q.throughput.aborted))
                            (num(q.workers))
                            td { div.actions {
                                @if q.paused {
                                    (post_button(&format!("/v1/ops/queues/{}/resume", q.name), back, "Resume", "secondary", None))
                                } @else {
                                    (post_button(&format!("/v1/ops/queues/{}/pause", q.name), back, "Pause", "secondary", None))
                                }
                                @if q.counts.failed + q.counts.dead > 0 {
                                    (post_button(&format!("/v1/ops/queues/{}/retry-failed", q.name), back, "Retry failed", "danger", None))
                                }
                            } }
                        }
                    }
                }
            }
        }
    }
}

fn accounts_table(accounts: &[AccountView], now: DateTime<Utc>) -> Markup {
    html! {
        section.card {
            table id="accounts" {
                thead { tr {
                    th { "Company" } th { "Status" } th.num { "Members active" } th { "Backfills" }
                    th { "Last pull" } th { "Next pull" } th { "Last error" } th { "" }
                } }
                tbody {
                    @if accounts.is_empty() {
                        tr { td colspan="8" .muted { "No company has installed the app yet." } }
                    }
                    @for a in accounts {
                        tr data-account=(a.id) {
                            td {
                                a href={ "/ops/accounts/" (a.id) } {
                                    @if a.domains.is_empty() { (a.zoom_account_id) } @else { (a.domains.join(", ")) }
                                }
                                br; span.muted { "Zoom " code { (a.zoom_account_id) } }
                            }
                            td { (status_pill(&a.status)) }
                            td.num { (a.members_active) }
                            td {
                                @if a.backfills.running + a.backfills.queued > 0 {
                                    span.pill.info { (a.backfills.running + a.backfills.queued) " running" } " "
                                }
                                @if a.backfills.failed > 0 { span.pill.warn { (a.backfills.failed) " failed" } " " }
                                @if a.backfills.done > 0 { span.pill.ok { (a.backfills.done) " done" } }
                                @if a.backfills.running + a.backfills.queued + a.backfills.failed + a.backfills.done == 0 { span.muted { "—" } }
                            }
                            td {
                                (when(a.last_pull_at.as_deref(), now))
                                @if let Some(p) = &a.last_pull { br; (status_pill(&p.status)) }
                            }
                            td { (when(a.next_pull_at.as_deref(), now)) }
                            td.err.truncate title=[a.last_error.as_deref()] { (a.last_error.as_deref().unwrap_or("")) }
                            td { @if a.status == "active" {
                                (post_button(&format!("/v1/ops/accounts/{}/pull", a.id), "/ops", "Pull now", "secondary", None))
                            } }
                        }
                    }
                }
            }
        }
    }
}

fn jobs_table(jobs: &[JobView], back: &str, now: DateTime<Utc>, show_job: bool) -> Markup {
    html! {
        section.card {
            table.jobs {
                thead { tr {
                    th { "Job" } @if show_job { th { "Type" } } th { "State" } th.num { "Attempts" }
                    th { "Arguments" } th { "Last error" } th { "Enqueued" } th { "" }
                } }
                tbody {
                    @if jobs.is_empty() { tr { td colspan="8" .muted { "None." } } }
                    @for j in jobs {
                        tr data-job=(j.id) {
                            td { a href={ "/ops/jobs/" (j.id) } { code { (j.id) } } }
                            @if show_job { td { code { (j.job) } } }
                            td { (status_pill(&j.state)) }
                            td.num { (j.attempts) }
                            td.truncate { code { (j.args.to_string()) } }
                            td.err.truncate title=[j.last_error.as_deref()] { (j.last_error.as_deref().unwrap_or("")) }
                            td { (when(j.enqueued_at.as_deref(), now)) }
                            td { @if j.state == "failed" || j.state == "dead" {
                                (post_button(&format!("/v1/ops/jobs/{}/retry", j.id), back, "Retry", "secondary", None))
                            } }
                        }
                    }
                }
            }
        }
    }
}

#[derive(Debug, Deserialize)]
struct PageQuery {
    refresh: Option<u32>,
}

async fn dashboard(
    _: OperatorPage,
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<PageQuery>,
) -> Response {
    match dashboard_body(&state).await {
        Ok(body) => {
            let mut response = respond(StatusCode::OK, &headers, "Overview", || body);
            if let Some(secs) = query.refresh.filter(|s| (5..=300).contains(s))
                && let Ok(v) = HeaderValue::from_str(&secs.to_string())
            {
                response.headers_mut().insert("refresh", v);
            }
            response
        }
        Err(e) => error_page(&headers, &e),
    }
}

async fn dashboard_body(state: &AppState) -> Result<Markup, ApiError> {
    let now = Utc::now();
    let queues = api::queues(state, THROUGHPUT_MINUTES).await?;
    let accounts = api::accounts(state).await?;
    let mut failures = Vec::new();
    for q in &queues.queues {
        let job = api::job_of(&q.name)?;
        for wanted in [JobState::Dead, JobState::Failed] {
            failures.extend(
                api::jobs_in(state, job, wanted, 20)
                    .await?
                    .iter()
                    .map(api::job_view),
            );
        }
    }
    failures.sort_by(|a, b| b.id.cmp(&a.id));
    failures.truncate(20);
    let stuck = accounts
        .iter()
        .filter(|a| a.status == "needs_reauth")
        .count();
    Ok(html! {
        h1 { "Overview" }
        p.lead {
            "Queues and accounts as of " span title=(queues.generated_at) { (now.format("%H:%M:%S UTC")) } ". "
            a href="/ops" { "Refresh" } " · " a href="/ops?refresh=10" { "auto-refresh every 10 s" }
        }
        h2 { "Queues" }
        (queues_table(&queues.queues, "/ops"))
        h2 { "Companies" @if stuck > 0 { " " span.pill.warn { (stuck) " need re-authorisation" } } }
        (accounts_table(&accounts, now))
        h2 { "Recent failures" }
        p.lead { "Failed jobs wait for an automatic retry; dead ones failed for good (a permanent error or 25 attempts) and run again only when retried here." }
        (jobs_table(&failures, "/ops", now, true))
        h2 { "Find a job" }
        form.inline method="get" action="/ops/jobs" {
            input type="text" name="id" placeholder="Job id (ULID)" aria-label="Job id";
            button.btn.secondary type="submit" { "Open" }
        }
    })
}

async fn account_page(
    _: OperatorPage,
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let detail = match api::account_detail(&state, &id).await {
        Ok(detail) => detail,
        Err(e) => return error_page(&headers, &e),
    };
    let now = Utc::now();
    let a = &detail.account;
    let back = format!("/ops/accounts/{}", a.id);
    let name = if a.domains.is_empty() {
        a.zoom_account_id.clone()
    } else {
        a.domains.join(", ")
    };
    respond(StatusCode::OK, &headers, &name, || {
        html! {
            p { a href="/ops" { "← Overview" } }
            h1 { (name) " " (status_pill(&a.status)) }
            p.lead { "Zoom account " code { (a.zoom_account_id) } " · " (a.members_active) " of " (a.members_total) " members active" }
            div.actions {
                @if a.status == "active" {
                    (post_button(&format!("/v1/ops/accounts/{}/pull", a.id), &back, "Pull now", "", Some("pull-now")))
                }
            }
            h2 { "Account" }
            section.card { dl.facts {
                dt { "Domains" } dd { (a.domains.join(", ")) }
                dt { "Installed" } dd { (when(a.installed_at.as_deref(), now)) }
                @if a.removed_at.is_some() { dt { "Removed" } dd { (when(a.removed_at.as_deref(), now)) } }
                dt { "Last pull" } dd {
                    (when(a.last_pull_at.as_deref(), now))
                    @if let Some(p) = &a.last_pull {
                        " · newest run " (status_pill(&p.status)) " started " (when(p.started_at.as_deref(), now))
                        @if let Some(n) = p.entries_written { ", " (n) " entries written" }
                        @if let Some(e) = &p.error { br; span.err { (e) } }
                    }
                }
                dt { "Next pull" } dd { (when(a.next_pull_at.as_deref(), now)) }
                dt { "Last error" } dd.err { (a.last_error.as_deref().unwrap_or("—")) }
            } }
            h2 { "Members" }
            section.card {
                table id="members" {
                    thead { tr {
                        th { "User" } th { "Status" } th { "Opted in" } th { "Backfill" } th { "Progress" }
                        th { "Pulled until" } th.num { "Entries" } th { "Last error" }
                    } }
                    tbody {
                        @if detail.members.is_empty() { tr { td colspan="8" .muted { "Nobody of this company has opted in yet." } } }
                        @for m in &detail.members {
                            tr data-member=(m.id) {
                                td { (m.email) br; span.muted { code { (m.billables_user_id) } } }
                                td { (status_pill(&m.status)) }
                                td { (when(m.opted_in_at.as_deref(), now)) }
                                td { @match &m.backfill {
                                    Some(b) => {
                                        (status_pill(&b.state))
                                        @if let Some(job) = &b.job_id { br; a href={ "/ops/jobs/" (job) } { "job" } }
                                    },
                                    None => span.muted { "—" },
                                } }
                                td { @if let Some(b) = &m.backfill { (progress(b.done, b.total)) } }
                                td { (when(m.pulled_until.as_deref(), now)) }
                                td.num { (m.entries) }
                                td.err.truncate { (m.backfill.as_ref().and_then(|b| b.last_error.as_deref()).unwrap_or("")) }
                            }
                        }
                    }
                }
            }
        }
    })
}

#[derive(Debug, Deserialize)]
struct QueuePageQuery {
    state: Option<String>,
}

async fn queue_page(
    _: OperatorPage,
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(name): Path<String>,
    Query(query): Query<QueuePageQuery>,
) -> Response {
    let result = async {
        let job = api::job_of(&name)?;
        let shown = query
            .state
            .as_deref()
            .and_then(JobState::parse)
            .unwrap_or(JobState::Failed);
        let queue = api::queue(&state, job, THROUGHPUT_MINUTES).await?;
        let jobs = api::jobs_in(&state, job, shown, 100).await?;
        Ok::<_, ApiError>((queue, shown, jobs))
    }
    .await;
    let (queue, shown, jobs) = match result {
        Ok(found) => found,
        Err(e) => return error_page(&headers, &e),
    };
    let now = Utc::now();
    let back = format!("/ops/queues/{}?state={}", queue.name, shown.as_str());
    let jobs: Vec<JobView> = jobs.iter().map(api::job_view).collect();
    let max = queue
        .throughput
        .minutes
        .iter()
        .map(|m| m.ok + m.error + m.killed + m.aborted)
        .max()
        .unwrap_or(0)
        .max(1);
    respond(StatusCode::OK, &headers, &queue.name, || {
        html! {
            p { a href="/ops" { "← Overview" } }
            h1 { "Queue " code { (queue.name) } @if queue.paused { " " span.pill.warn { "paused" } } }
            p.lead {
                "Redis key " code { (queue.queue) } " · " (queue.workers) " worker(s) alive"
                @if let Some(age) = queue.oldest_pending_age_seconds { " · oldest pending waits " (duration(age)) }
            }
            div.actions {
                @if queue.paused {
                    (post_button(&format!("/v1/ops/queues/{}/resume", queue.name), &back, "Resume", "", Some("resume")))
                } @else {
                    (post_button(&format!("/v1/ops/queues/{}/pause", queue.name), &back, "Pause", "secondary", Some("pause")))
                }
                @if queue.counts.failed + queue.counts.dead > 0 {
                    (post_button(&format!("/v1/ops/queues/{}/retry-failed", queue.name), &back, "Retry all failed and dead", "danger", Some("retry-all")))
                }
            }
            @if queue.paused {
                p.muted { "Paused: workers fetch nothing from this queue; running jobs finish, new jobs wait as pending." }
            }
            h2 { "Counts" }
            div.grid {
                @for (label, value) in [("Pending", queue.counts.pending), ("Scheduled", queue.counts.scheduled), ("Running", queue.counts.running), ("Failed", queue.counts.failed), ("Dead", queue.counts.dead), ("Done", queue.counts.done)] {
                    div.stat data-count=(label.to_lowercase()) { div.label { (label) } div.value { (value) } }
                }
            }
            h2 { "Throughput, last " (queue.throughput.window_minutes) " minutes" }
            section.card {
                div.spark title="handler runs per minute (red: failed runs)" {
                    @for m in &queue.throughput.minutes {
                        @let total = m.ok + m.error + m.killed + m.aborted;
                        @let failed = m.error + m.killed + m.aborted;
                        @let height = total * 100 / max;
                        span.err[failed > 0 && failed * 2 >= total] style={ "height:" (height.max(1)) "%" } title={ (m.minute) ": " (m.ok) " ok, " (failed) " failed" } {}
                    }
                }
                p.muted style="padding: 0 16px 8px; margin:0" {
                    (queue.throughput.ok) " ok (" (queue.throughput.ok_per_minute) "/min), "
                    (queue.throughput.error) " errors, " (queue.throughput.killed) " permanent failures, "
                    (queue.throughput.aborted) " timeouts or crashes"
                }
            }
            h2 { "Jobs" }
            div.tabs {
                @for s in [JobState::Failed, JobState::Dead, JobState::Pending, JobState::Scheduled, JobState::Running, JobState::Done] {
                    a.on[s == shown] href={ "/ops/queues/" (queue.name) "?state=" (s.as_str()) } { (s.as_str()) }
                }
            }
            (jobs_table(&jobs, &back, now, false))
        }
    })
}

#[derive(Debug, Deserialize)]
struct LookupQuery {
    id: Option<String>,
}

async fn job_lookup(_: OperatorPage, Query(query): Query<LookupQuery>) -> Redirect {
    match query
        .id
        .as_deref()
        .map(str::trim)
        .filter(|id| !id.is_empty() && id.chars().all(char::is_alphanumeric))
    {
        Some(id) => Redirect::to(&format!("/ops/jobs/{id}")),
        None => Redirect::to("/ops"),
    }
}

async fn job_page(
    _: OperatorPage,
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let job = match api::find_job(&state, &id).await {
        Ok(job) => api::job_view(&job),
        Err(e) => return error_page(&headers, &e),
    };
    let account = linked_account(&state, &job.args).await;
    let now = Utc::now();
    let back = format!("/ops/jobs/{}", job.id);
    let args = serde_json::to_string_pretty(&job.args).unwrap_or_default();
    respond(StatusCode::OK, &headers, &format!("Job {}", job.id), || {
        html! {
            p { a href="/ops" { "← Overview" } " · " a href={ "/ops/queues/" (job.job) } { "Queue " (job.job) } }
            h1 { "Job " code { (job.id) } " " span id="job-state" { (status_pill(&job.state)) } }
            p.lead { code { (job.job) } " · apalis status " (job.status.as_deref().unwrap_or("—")) }
            div.actions {
                @if job.state == "failed" || job.state == "dead" {
                    (post_button(&format!("/v1/ops/jobs/{}/retry", job.id), &back, "Retry now", "", Some("retry")))
                }
                a.btn.secondary href=(back) { "Reload" }
            }
            h2 { "Runs" }
            section.card { dl.facts {
                dt { "State" } dd { (job.state) }
                dt { "Attempts" } dd id="attempts" { (job.attempts) @if let Some(max) = job.max_attempts { " of at most " (max) } }
                dt { "Enqueued" } dd { (when(job.enqueued_at.as_deref(), now)) }
                @if job.run_at.is_some() { dt { "Runs (again)" } dd { (when(job.run_at.as_deref(), now)) } }
                dt { "Last run ended" } dd { (when(job.finished_at.as_deref(), now)) }
                @if let Some(by) = &job.locked_by { dt { "Held by worker" } dd { code { (by) } } }
                @if let Some(key) = &job.idempotency_key { dt { "Idempotency key" } dd { code { (key) } } }
                @if job.operator_retries > 0 { dt { "Retried by operators" } dd { (job.operator_retries) " time(s)" } }
                @if let Some((id, name)) = &account { dt { "Company" } dd { a href={ "/ops/accounts/" (id) } { (name) } } }
            } }
            h2 { "Arguments" }
            pre id="args" { (args) }
            h2 { "Last error" }
            @match &job.last_error {
                Some(e) => pre.error id="last-error" { (e) },
                None => p.muted id="last-error" { "None: the last run succeeded or none finished yet." },
            }
            @if let Some(e) = &job.previous_error {
                h2 { "Error before the operator's retry" }
                pre.error { (e) }
            }
        }
    })
}

/// The company a job works for, from its `account_id` or `member_id` argument.
async fn linked_account(
    state: &AppState,
    args: &serde_json::Value,
) -> Option<(uuid::Uuid, String)> {
    let id = |key: &str| {
        args.get(key)
            .and_then(|v| v.as_str())
            .and_then(|s| uuid::Uuid::parse_str(s).ok())
    };
    let account_id = match (id("account_id"), id("member_id")) {
        (Some(account), _) => account,
        (None, Some(member)) => {
            jobs::store::members::get(&state.db, member)
                .await
                .ok()??
                .account_id?
        }
        (None, None) => return None,
    };
    let domains = jobs::store::accounts::domains(&state.db, account_id)
        .await
        .ok()?;
    let name = if domains.is_empty() {
        account_id.to_string()
    } else {
        domains.join(", ")
    };
    Some((account_id, name))
}

#[derive(Debug, Deserialize)]
struct LoginQuery {
    next: Option<String>,
}

fn login_page(status: StatusCode, next: &str, error: Option<&str>) -> Response {
    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { "Sign in · Operators · Billables AI for Zoom" }
                style { (PreEscaped(STYLE)) }
            }
            body {
                div.login {
                    h1 { "Operators" }
                    p.lead { "Billables AI for Zoom: queues, accounts and failures." }
                    @if let Some(error) = error { div.flash.bad role="alert" { (error) } }
                    form method="post" action="/ops/login" {
                        label for="token" { "Admin token" }
                        input id="token" type="password" name="token" autocomplete="current-password" required autofocus;
                        input type="hidden" name="next" value=(next);
                        button.btn type="submit" id="sign-in" { "Sign in" }
                    }
                    p.muted { "The same token as ADMIN_API_TOKEN. The browser keeps only a signed session for 12 hours, never the token." }
                }
            }
        }
    };
    let mut response = (status, Html(markup.into_string())).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn next_or_default(next: Option<&str>) -> String {
    next.filter(|n| auth::safe_next(n))
        .unwrap_or("/ops")
        .to_owned()
}

async fn login_form(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<LoginQuery>,
) -> Response {
    let next = next_or_default(query.next.as_deref());
    if auth::cookie(&headers, auth::SESSION_COOKIE).is_some_and(|v| auth::valid_session(&state, v))
    {
        return Redirect::to(&next).into_response();
    }
    login_page(StatusCode::OK, &next, None)
}

#[derive(Debug, Deserialize)]
struct LoginForm {
    token: String,
    next: Option<String>,
}

async fn login(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: Result<Form<LoginForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let Ok(Form(form)) = form else {
        return login_page(
            StatusCode::BAD_REQUEST,
            "/ops",
            Some("Enter the admin token."),
        );
    };
    let next = next_or_default(form.next.as_deref());
    // A login posted from another site is refused (login CSRF).
    if headers.contains_key(header::ORIGIN) && !auth::same_origin(&headers, &state) {
        return login_page(
            StatusCode::FORBIDDEN,
            &next,
            Some("Sign in from this site's own login page."),
        );
    }
    let expected = state.settings.admin_api_token.expose_secret().as_bytes();
    if !bool::from(form.token.trim().as_bytes().ct_eq(expected)) {
        tracing::warn!("operator sign-in refused: wrong token");
        return login_page(
            StatusCode::UNAUTHORIZED,
            &next,
            Some("That token is not the admin token."),
        );
    }
    tracing::info!("operator signed in");
    let mut response = Redirect::to(&next).into_response();
    response
        .headers_mut()
        .insert(header::SET_COOKIE, auth::session_cookie(&state));
    response
}

async fn logout(State(state): State<AppState>) -> Response {
    let mut response = Redirect::to("/ops/login").into_response();
    response
        .headers_mut()
        .insert(header::SET_COOKIE, auth::clear_session_cookie(&state));
    response
}
