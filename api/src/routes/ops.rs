//! Operator routes: JSON under `/v1/ops` (admin bearer token, or a signed-in operator's
//! browser), the pages under `/ops` (`pages::ops`), the apalis-board UI ([`board`]),
//! `/metrics` and `/openapi.json`.
//!
//! Queue names in paths are job names (`backfill_window`, ...), not Redis keys. Every
//! operator action is written to the audit log. `POST /v1/ops/accounts/{id}/pull` and
//! `/remove` live with the account lifecycle routes, not here.

pub mod auth;
pub mod board;

use axum::{
    Json, Router,
    extract::{Path, Query, State},
    routing::{get, post},
};
use chrono::{DateTime, SecondsFormat, Utc};
use jobs::ops::{self, AccountHealth, JobInfo, JobState, MemberHealth, QueueStats, Retry};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::{ApiError, AppState, extract::Admin};

/// Minutes of throughput the queue views cover unless asked otherwise.
pub const THROUGHPUT_MINUTES: u32 = 15;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/ops/queues", get(list_queues))
        .route("/v1/ops/queues/{name}", get(get_queue))
        .route("/v1/ops/queues/{name}/jobs", get(list_jobs))
        .route("/v1/ops/queues/{name}/pause", post(pause))
        .route("/v1/ops/queues/{name}/resume", post(resume))
        .route("/v1/ops/queues/{name}/retry-failed", post(retry_failed))
        .route("/v1/ops/jobs/{id}", get(get_job))
        .route("/v1/ops/jobs/{id}/retry", post(retry_job))
        .route("/v1/ops/accounts", get(list_accounts))
        .route("/v1/ops/accounts/{id}", get(get_account))
        .route("/metrics", get(crate::metrics::scrape))
        .route("/openapi.json", get(crate::openapi::serve))
        .merge(crate::pages::ops::router())
        .merge(board::router())
}

pub(crate) fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn redis_down(e: &redis::RedisError) -> ApiError {
    tracing::error!(error = %e, "Redis failed while reading the queues");
    ApiError::Unavailable("the job queues (Redis) are unavailable".into())
}

/// The job name in a path, or 404.
pub(crate) fn job_of(name: &str) -> Result<&'static str, ApiError> {
    ops::job_name(name).ok_or_else(|| {
        ApiError::NotFound(format!(
            "no queue named {name:?}; queues are {}",
            jobs::tasks::JOB_NAMES.join(", ")
        ))
    })
}

/// Jobs of a queue by state.
#[derive(Clone, Debug, Default, Serialize, ToSchema)]
pub struct CountsView {
    /// Ready to run, waiting for a worker (`:active`).
    pub pending: u64,
    /// Delayed: to run at a later time (`:scheduled`, not failed).
    pub scheduled: u64,
    /// Held by a worker (`:inflight:*`).
    pub running: u64,
    pub done: u64,
    /// A run failed; Redis retries it at `run_at` (`:scheduled` with status `Failed`).
    pub failed: u64,
    /// Failed for good (a permanent error or 25 attempts): only an operator retries it.
    pub dead: u64,
}

/// Handler runs that ended in one minute, by outcome.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct MinuteView {
    pub minute: String,
    pub ok: u64,
    pub error: u64,
    pub killed: u64,
    pub aborted: u64,
}

/// Handler runs over the last minutes, across every worker process.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ThroughputView {
    pub window_minutes: u32,
    pub ok: u64,
    pub error: u64,
    pub killed: u64,
    pub aborted: u64,
    /// Successful runs per minute over the window.
    pub ok_per_minute: f64,
    /// Oldest first; the last one is the current minute.
    pub minutes: Vec<MinuteView>,
}

/// One queue (one job type).
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct QueueView {
    /// The job name, used in paths.
    pub name: String,
    /// The Redis key prefix of the queue.
    pub queue: String,
    pub paused: bool,
    pub counts: CountsView,
    /// Since when the longest-waiting ready job waits.
    pub oldest_pending_at: Option<String>,
    pub oldest_pending_age_seconds: Option<u64>,
    /// Worker processes fetching from this queue (recent heartbeat).
    pub workers: u64,
    pub throughput: ThroughputView,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct QueuesView {
    pub generated_at: String,
    pub queues: Vec<QueueView>,
}

pub(crate) fn queue_view(
    stats: &QueueStats,
    minutes: &[ops::Minute],
    now: DateTime<Utc>,
) -> QueueView {
    let sum = |f: fn(&ops::Minute) -> u64| minutes.iter().map(f).sum::<u64>();
    let ok = sum(|m| m.ok);
    let window = u32::try_from(minutes.len()).unwrap_or(u32::MAX);
    QueueView {
        name: stats.job.to_owned(),
        queue: stats.queue.clone(),
        paused: stats.paused,
        counts: CountsView {
            pending: stats.counts.pending,
            scheduled: stats.counts.scheduled,
            running: stats.counts.running,
            done: stats.counts.done,
            failed: stats.counts.failed,
            dead: stats.counts.dead,
        },
        oldest_pending_at: stats.oldest_pending_since.map(rfc3339),
        oldest_pending_age_seconds: stats.oldest_pending_age(now).map(|d| d.as_secs()),
        workers: stats.workers_alive,
        throughput: ThroughputView {
            window_minutes: window,
            ok,
            error: sum(|m| m.error),
            killed: sum(|m| m.killed),
            aborted: sum(|m| m.aborted),
            #[expect(clippy::cast_precision_loss, reason = "a rate for people to read")]
            ok_per_minute: if window == 0 {
                0.0
            } else {
                (ok as f64 / f64::from(window) * 10.0).round() / 10.0
            },
            minutes: minutes
                .iter()
                .map(|m| MinuteView {
                    minute: rfc3339(m.minute),
                    ok: m.ok,
                    error: m.error,
                    killed: m.killed,
                    aborted: m.aborted,
                })
                .collect(),
        },
    }
}

/// Every queue with its throughput.
pub(crate) async fn queues(state: &AppState, minutes: u32) -> Result<QueuesView, ApiError> {
    let now = Utc::now();
    let mut conn = state.redis.clone();
    let prefix = state.queues.prefix();
    let mut queues = Vec::new();
    for stats in ops::all_queue_stats(&mut conn, prefix)
        .await
        .map_err(|e| redis_down(&e))?
    {
        let minutes = ops::throughput(&mut conn, &stats.queue, minutes, now)
            .await
            .map_err(|e| redis_down(&e))?;
        queues.push(queue_view(&stats, &minutes, now));
    }
    Ok(QueuesView {
        generated_at: rfc3339(now),
        queues,
    })
}

pub(crate) async fn queue(
    state: &AppState,
    job: &'static str,
    minutes: u32,
) -> Result<QueueView, ApiError> {
    let now = Utc::now();
    let mut conn = state.redis.clone();
    let stats = ops::queue_stats(&mut conn, state.queues.prefix(), job)
        .await
        .map_err(|e| redis_down(&e))?;
    let minutes = ops::throughput(&mut conn, &stats.queue, minutes, now)
        .await
        .map_err(|e| redis_down(&e))?;
    Ok(queue_view(&stats, &minutes, now))
}

#[derive(Debug, Deserialize)]
struct WindowQuery {
    minutes: Option<u32>,
}

fn window(query: &WindowQuery) -> u32 {
    query.minutes.unwrap_or(THROUGHPUT_MINUTES).clamp(1, 180)
}

async fn list_queues(
    _: Admin,
    State(state): State<AppState>,
    Query(query): Query<WindowQuery>,
) -> Result<Json<QueuesView>, ApiError> {
    Ok(Json(queues(&state, window(&query)).await?))
}

async fn get_queue(
    _: Admin,
    State(state): State<AppState>,
    Path(name): Path<String>,
    Query(query): Query<WindowQuery>,
) -> Result<Json<QueueView>, ApiError> {
    let job = job_of(&name)?;
    Ok(Json(queue(&state, job, window(&query)).await?))
}

/// One job: arguments, attempts, status and last error.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct JobView {
    pub id: String,
    /// The job name (queue).
    pub job: String,
    pub queue: String,
    /// `pending`, `scheduled`, `running`, `done`, `failed`, `dead` or `unknown`.
    pub state: String,
    /// apalis' status: `Pending`, `Running`, `Done`, `Failed` or `Killed`.
    pub status: Option<String>,
    pub attempts: u32,
    pub max_attempts: Option<u32>,
    /// The job's arguments.
    #[schema(value_type = Object)]
    pub args: serde_json::Value,
    pub last_error: Option<String>,
    /// The error an operator retried it after.
    pub previous_error: Option<String>,
    pub enqueued_at: Option<String>,
    /// When a scheduled or failed job runs (again).
    pub run_at: Option<String>,
    pub finished_at: Option<String>,
    pub locked_by: Option<String>,
    pub locked_at: Option<String>,
    pub idempotency_key: Option<String>,
    pub operator_retries: u32,
}

pub(crate) fn job_view(job: &JobInfo) -> JobView {
    JobView {
        id: job.id.clone(),
        job: job.job.to_owned(),
        queue: job.queue.clone(),
        state: job.state.as_str().to_owned(),
        status: job.status.clone(),
        attempts: job.attempts,
        max_attempts: job.max_attempts,
        args: job.args.clone(),
        last_error: job.last_error.clone(),
        previous_error: job.previous_error.clone(),
        enqueued_at: job.enqueued_at.map(rfc3339),
        run_at: job.run_at.map(rfc3339),
        finished_at: job.finished_at.map(rfc3339),
        locked_by: job.locked_by.clone(),
        locked_at: job.locked_at.map(rfc3339),
        idempotency_key: job.idempotency_key.clone(),
        operator_retries: job.operator_retries,
    }
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct JobsView {
    pub job: String,
    pub state: String,
    pub jobs: Vec<JobView>,
}

#[derive(Debug, Deserialize)]
struct JobsQuery {
    state: Option<String>,
    limit: Option<usize>,
}

pub(crate) async fn jobs_in(
    state: &AppState,
    job: &'static str,
    job_state: JobState,
    limit: usize,
) -> Result<Vec<JobInfo>, ApiError> {
    let mut conn = state.redis.clone();
    ops::list_jobs(&mut conn, state.queues.prefix(), job, job_state, limit)
        .await
        .map_err(|e| redis_down(&e))
}

async fn list_jobs(
    _: Admin,
    State(state): State<AppState>,
    Path(name): Path<String>,
    Query(query): Query<JobsQuery>,
) -> Result<Json<JobsView>, ApiError> {
    let job = job_of(&name)?;
    let wanted = query.state.as_deref().unwrap_or("failed");
    let job_state = JobState::parse(wanted).ok_or_else(|| {
        ApiError::BadRequest(format!(
            "state must be pending, scheduled, running, done, failed or dead, not {wanted:?}"
        ))
    })?;
    let jobs = jobs_in(&state, job, job_state, query.limit.unwrap_or(100)).await?;
    Ok(Json(JobsView {
        job: job.to_owned(),
        state: job_state.as_str().to_owned(),
        jobs: jobs.iter().map(job_view).collect(),
    }))
}

pub(crate) async fn find_job(state: &AppState, id: &str) -> Result<JobInfo, ApiError> {
    let mut conn = state.redis.clone();
    ops::job(&mut conn, state.queues.prefix(), id.trim())
        .await
        .map_err(|e| redis_down(&e))?
        .ok_or_else(|| ApiError::NotFound(format!("no job with id {id:?}")))
}

async fn get_job(
    _: Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<JobView>, ApiError> {
    Ok(Json(job_view(&find_job(&state, &id).await?)))
}

async fn audit(
    state: &AppState,
    action: &str,
    account_id: Option<Uuid>,
    details: serde_json::Value,
) {
    let result = async {
        let mut conn = state.db.acquire().await?;
        jobs::store::audit::record(&mut conn, "operator", action, account_id, None, details).await
    }
    .await;
    if let Err(e) = result {
        tracing::error!(error = %e, action, "could not write the audit log");
    }
}

/// What a retry did.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct RetriedView {
    pub id: String,
    pub job: String,
    /// Always `pending`: the job waits for a worker again.
    pub state: String,
    /// `failed` or `dead`.
    pub retried_from: String,
}

async fn retry_job(
    _: Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<RetriedView>, ApiError> {
    let job = find_job(&state, &id).await?;
    let mut conn = state.redis.clone();
    match ops::retry(&mut conn, state.queues.prefix(), job.job, &job.id)
        .await
        .map_err(|e| redis_down(&e))?
    {
        Retry::Requeued(from) => {
            tracing::info!(job = job.job, job.id = %job.id, from = from.as_str(), "job retried by an operator");
            audit(
                &state,
                "job_retried",
                None,
                json!({"job": job.job, "job_id": job.id, "from": from.as_str()}),
            )
            .await;
            Ok(Json(RetriedView {
                id: job.id,
                job: job.job.to_owned(),
                state: "pending".into(),
                retried_from: from.as_str().into(),
            }))
        }
        Retry::NotFound => Err(ApiError::NotFound(format!("no job with id {id:?}"))),
        Retry::NotFailed(now) => Err(ApiError::Conflict(format!(
            "job {} is {}, not failed or dead: nothing to retry",
            job.id,
            now.as_str()
        ))),
    }
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct RetriedAllView {
    pub job: String,
    /// How many failed and dead jobs were queued again.
    pub retried: u64,
}

async fn retry_failed(
    _: Admin,
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<RetriedAllView>, ApiError> {
    let job = job_of(&name)?;
    let mut conn = state.redis.clone();
    let retried = ops::retry_all_failed(&mut conn, state.queues.prefix(), job)
        .await
        .map_err(|e| redis_down(&e))?;
    tracing::info!(job, retried, "failed jobs retried by an operator");
    audit(
        &state,
        "jobs_retried",
        None,
        json!({"job": job, "count": retried}),
    )
    .await;
    Ok(Json(RetriedAllView {
        job: job.to_owned(),
        retried,
    }))
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct PausedView {
    pub job: String,
    pub paused: bool,
}

async fn pause(
    _: Admin,
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<PausedView>, ApiError> {
    set_paused(&state, &name, true).await
}

async fn resume(
    _: Admin,
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<PausedView>, ApiError> {
    set_paused(&state, &name, false).await
}

async fn set_paused(
    state: &AppState,
    name: &str,
    paused: bool,
) -> Result<Json<PausedView>, ApiError> {
    let job = job_of(name)?;
    let mut conn = state.redis.clone();
    let prefix = state.queues.prefix();
    let result = if paused {
        ops::pause(&mut conn, prefix, job).await
    } else {
        ops::resume(&mut conn, prefix, job).await
    };
    result.map_err(|e| redis_down(&e))?;
    let action = if paused {
        "queue_paused"
    } else {
        "queue_resumed"
    };
    tracing::info!(job, paused, "queue pause set by an operator");
    audit(state, action, None, json!({"job": job})).await;
    Ok(Json(PausedView {
        job: job.to_owned(),
        paused,
    }))
}

/// The newest pull of an account.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct LastPullView {
    /// `running`, `done`, `failed`, `skipped_running` or `skipped_inactive`.
    pub status: String,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    pub error: Option<String>,
    pub entries_written: Option<i32>,
}

/// Members by the state of their newest backfill.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct BackfillCounts {
    pub queued: i64,
    pub running: i64,
    pub done: i64,
    pub failed: i64,
}

/// A company's Zoom account (SPEC §7 shape, plus more).
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct AccountView {
    pub id: Uuid,
    pub zoom_account_id: String,
    pub domains: Vec<String>,
    /// `pending`, `active`, `needs_reauth` or `removed`.
    pub status: String,
    pub members_active: i64,
    pub last_pull_at: Option<String>,
    pub last_error: Option<String>,
    pub members_total: i64,
    pub installed_at: Option<String>,
    pub removed_at: Option<String>,
    /// The next scheduled pull (the next tick of `PULL_SCHEDULE`), for active accounts.
    pub next_pull_at: Option<String>,
    pub last_pull: Option<LastPullView>,
    pub backfills: BackfillCounts,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct AccountsView {
    pub accounts: Vec<AccountView>,
}

pub(crate) fn account_view(a: &AccountHealth, next_pull: Option<DateTime<Utc>>) -> AccountView {
    AccountView {
        id: a.id,
        zoom_account_id: a.zoom_account_id.clone(),
        domains: a.domains.clone(),
        status: a.status.clone(),
        members_active: a.members_active,
        last_pull_at: a.last_pull_at.map(rfc3339),
        last_error: a.last_error.clone(),
        members_total: a.members_total,
        installed_at: a.installed_at.map(rfc3339),
        removed_at: a.removed_at.map(rfc3339),
        next_pull_at: next_pull.filter(|_| a.status == "active").map(rfc3339),
        last_pull: a.last_pull_status.as_ref().map(|status| LastPullView {
            status: status.clone(),
            started_at: a.last_pull_started_at.map(rfc3339),
            finished_at: a.last_pull_finished_at.map(rfc3339),
            error: a.last_pull_error.clone(),
            entries_written: a.last_pull_entries,
        }),
        backfills: BackfillCounts {
            queued: a.backfills_queued,
            running: a.backfills_running,
            done: a.backfills_done,
            failed: a.backfills_failed,
        },
    }
}

pub(crate) async fn accounts(state: &AppState) -> Result<Vec<AccountView>, ApiError> {
    let next = state
        .settings
        .pull_schedule
        .as_ref()
        .and_then(|s| jobs::schedule::next_tick(s, Utc::now()));
    Ok(ops::accounts(&state.db)
        .await?
        .iter()
        .map(|a| account_view(a, next))
        .collect())
}

async fn list_accounts(
    _: Admin,
    State(state): State<AppState>,
) -> Result<Json<AccountsView>, ApiError> {
    Ok(Json(AccountsView {
        accounts: accounts(&state).await?,
    }))
}

/// A member's newest backfill.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct BackfillView {
    pub id: Uuid,
    /// `queued`, `running`, `done`, `failed` or `cancelled`.
    pub state: String,
    pub done: i32,
    pub total: i32,
    pub last_error: Option<String>,
    pub job_id: Option<String>,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
}

/// A Billables user who opted in to Zoom.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct MemberView {
    pub id: Uuid,
    pub billables_user_id: String,
    pub email: String,
    /// `waiting_for_admin`, `active`, `opted_out` or `disabled`.
    pub status: String,
    pub zoom_user_id: Option<String>,
    pub opted_in_at: Option<String>,
    /// Billable entries written for them.
    pub entries: i64,
    /// How far scheduled pulls got.
    pub pulled_until: Option<String>,
    pub backfill: Option<BackfillView>,
}

pub(crate) fn member_view(m: &MemberHealth) -> MemberView {
    MemberView {
        id: m.id,
        billables_user_id: m.billables_user_id.clone(),
        email: m.email.clone(),
        status: m.status.clone(),
        zoom_user_id: m.zoom_user_id.clone(),
        opted_in_at: m.opted_in_at.map(rfc3339),
        entries: m.entries,
        pulled_until: m.pulled_until.map(rfc3339),
        backfill: m.backfill_id.map(|id| BackfillView {
            id,
            state: m.backfill_state.clone().unwrap_or_default(),
            done: m.backfill_done.unwrap_or(0),
            total: m.backfill_total.unwrap_or(0),
            last_error: m.backfill_error.clone(),
            job_id: m.backfill_job_id.clone(),
            started_at: m.backfill_started_at.map(rfc3339),
            finished_at: m.backfill_finished_at.map(rfc3339),
        }),
    }
}

/// An account with its members.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct AccountDetailView {
    #[serde(flatten)]
    pub account: AccountView,
    pub members: Vec<MemberView>,
}

pub(crate) async fn account_detail(
    state: &AppState,
    id: &str,
) -> Result<AccountDetailView, ApiError> {
    let not_found = || ApiError::NotFound(format!("no account with id {id:?}"));
    let id = Uuid::parse_str(id).map_err(|_| not_found())?;
    let account = ops::account(&state.db, id).await?.ok_or_else(not_found)?;
    let next = state
        .settings
        .pull_schedule
        .as_ref()
        .and_then(|s| jobs::schedule::next_tick(s, Utc::now()));
    let members = ops::members(&state.db, id).await?;
    Ok(AccountDetailView {
        account: account_view(&account, next),
        members: members.iter().map(member_view).collect(),
    })
}

async fn get_account(
    _: Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<AccountDetailView>, ApiError> {
    Ok(Json(account_detail(&state, &id).await?))
}
