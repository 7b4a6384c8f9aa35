//! What operators see of the job queues and what they may do to them, read straight from
//! the apalis-redis 1.0 keys of each queue (`{prefix}:{job}`):
//!
//! | key | type | holds |
//! | --- | --- | --- |
//! | `{queue}:data` | hash | id → JSON payload |
//! | `{queue}:meta:{id}` | hash | `status`, `attempts`, `max_attempts`, `result`, `done_at`, `locked_by`, ... |
//! | `{queue}:active` | list | ids ready to be fetched (**pending**) |
//! | `{queue}:scheduled` | sorted set | ids to run at their score (unix seconds). Every push lands here (apalis-redis scores even an immediate job with "now"); a worker's fetch moves the due ones to `:active`. Due ones count as **pending**, later ones as **scheduled**, and failed attempts Redis will retry (`status = Failed`) as **failed** |
//! | `{queue}:inflight:{worker}` | set | ids a worker holds (**running**); workers are the members of `{queue}:workers` |
//! | `{queue}:done`, `{queue}:dead` | sets | finished ids (**done**), ids that failed for good (**dead**: a permanent error, or 25 attempts) |
//!
//! apalis-redis 1.0's own statistics (`Metrics`, `ListQueues`) count `:done` and `:dead` with
//! `ZCARD` although they are sets, and `ListTasks` reads the queue name as a list, so they
//! fail or answer zeros (`shared/apalis-notes.md`, pitfall 9). Everything here is one Lua
//! script per question, so each answer is one consistent snapshot even while workers run.
//! `FetchById` works, but [`job`] also needs to know where the id is, so it reads the keys too.
//!
//! Keys of our own live under `{queue}:ops:`: `paused` (workers stop fetching, see
//! `worker::Pausable`) and `throughput:{minute}` (handler outcomes per minute, written by
//! every worker process, kept [`THROUGHPUT_TTL_SECS`]).

use std::{collections::HashMap, time::Duration};

use chrono::{DateTime, TimeZone as _, Utc};
use redis::{AsyncCommands as _, Script, aio::ConnectionManager};
use serde::{Deserialize, Serialize};

use crate::tasks::JOB_NAMES;

/// How long per-minute throughput buckets are kept.
pub const THROUGHPUT_TTL_SECS: i64 = 3 * 3600;
/// A worker whose last heartbeat is older than this is not counted as alive.
pub const WORKER_ALIVE: Duration =
    Duration::from_secs(crate::queue::HEARTBEAT.as_secs() * crate::queue::MISSED_HEARTBEATS as u64);
/// The most jobs one listing returns.
pub const MAX_LIST: usize = 500;

/// The job name of `name` (e.g. `backfill_window`), if it is one of ours.
pub fn job_name(name: &str) -> Option<&'static str> {
    JOB_NAMES.iter().copied().find(|n| *n == name)
}

/// The Redis name of a job type's queue: `{prefix}:{job}` (as `queue::queue_name`).
pub fn queue_key(prefix: &str, job: &str) -> String {
    format!("{prefix}:{job}")
}

pub fn paused_key(queue: &str) -> String {
    format!("{queue}:ops:paused")
}

fn throughput_key(queue: &str, minute: i64) -> String {
    format!("{queue}:ops:throughput:{minute}")
}

/// The time a job was first enqueued: job ids are ULIDs.
pub fn enqueued_at(id: &str) -> Option<DateTime<Utc>> {
    let ulid = ulid::Ulid::from_string(id).ok()?;
    Utc.timestamp_millis_opt(i64::try_from(ulid.timestamp_ms()).ok()?)
        .single()
}

fn from_unix(secs: i64) -> Option<DateTime<Utc>> {
    Utc.timestamp_opt(secs, 0).single()
}

/// Counts of one queue by state, from one snapshot.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub pending: u64,
    pub scheduled: u64,
    pub running: u64,
    pub done: u64,
    pub failed: u64,
    pub dead: u64,
}

/// One queue at a glance.
#[derive(Clone, Debug, Serialize)]
pub struct QueueStats {
    pub job: &'static str,
    pub queue: String,
    pub counts: Counts,
    /// Since when the longest-waiting ready job waits: the enqueue time of the oldest id in
    /// `:active` (first 1000 looked at), or the earliest due time among due jobs still in
    /// `:scheduled`.
    pub oldest_pending_since: Option<DateTime<Utc>>,
    /// Workers whose heartbeat is recent.
    pub workers_alive: u64,
    pub paused: bool,
}

impl QueueStats {
    pub fn oldest_pending_age(&self, now: DateTime<Utc>) -> Option<Duration> {
        self.oldest_pending_since
            .map(|since| (now - since).to_std().unwrap_or_default())
    }
}

const STATS_LUA: &str = r#"
local q = ARGV[1]
local now = tonumber(ARGV[2])
local alive_after = tonumber(ARGV[3])
local function card(key)
  local t = redis.call('type', key)['ok']
  if t == 'set' then return redis.call('scard', key)
  elseif t == 'zset' then return redis.call('zcard', key)
  elseif t == 'list' then return redis.call('llen', key)
  end
  return 0
end
local pending = redis.call('llen', q .. ':active')
local oldest = ''
for _, id in ipairs(redis.call('lrange', q .. ':active', 0, 999)) do
  if oldest == '' or id < oldest then oldest = id end
end
local scheduled, failed, due_since = 0, 0, -1
local sched = redis.call('zrange', q .. ':scheduled', 0, -1, 'WITHSCORES')
for i = 1, #sched, 2 do
  if redis.call('hget', q .. ':meta:' .. sched[i], 'status') == 'Failed' then
    failed = failed + 1
  else
    local score = tonumber(sched[i + 1])
    if score <= now then
      pending = pending + 1
      if due_since < 0 or score < due_since then due_since = score end
    else
      scheduled = scheduled + 1
    end
  end
end
failed = failed + card(q .. ':failed')
local running, alive = 0, 0
local workers = redis.call('zrange', q .. ':workers', 0, -1, 'WITHSCORES')
for i = 1, #workers, 2 do
  running = running + redis.call('scard', q .. ':inflight:' .. workers[i])
  if tonumber(workers[i + 1]) >= alive_after then alive = alive + 1 end
end
return {pending, scheduled, running, card(q .. ':done'), failed, card(q .. ':dead'),
        oldest, tostring(due_since), alive, redis.call('exists', q .. ':ops:paused')}
"#;

/// The counts of one job type's queue.
pub async fn queue_stats(
    conn: &mut ConnectionManager,
    prefix: &str,
    job: &'static str,
) -> Result<QueueStats, redis::RedisError> {
    let queue = queue_key(prefix, job);
    let now = Utc::now().timestamp();
    let alive_after = now - i64::try_from(WORKER_ALIVE.as_secs()).unwrap_or(15);
    let (pending, scheduled, running, done, failed, dead, oldest, due_since, alive, paused): (
        u64,
        u64,
        u64,
        u64,
        u64,
        u64,
        String,
        String,
        u64,
        u64,
    ) = Script::new(STATS_LUA)
        .arg(&queue)
        .arg(now)
        .arg(alive_after)
        .invoke_async(conn)
        .await?;
    let oldest_enqueued = enqueued_at(&oldest);
    let due = due_since
        .parse::<i64>()
        .ok()
        .filter(|s| *s >= 0)
        .and_then(from_unix);
    let oldest_pending_since = match (oldest_enqueued, due) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    Ok(QueueStats {
        job,
        queue,
        counts: Counts {
            pending,
            scheduled,
            running,
            done,
            failed,
            dead,
        },
        oldest_pending_since,
        workers_alive: alive,
        paused: paused == 1,
    })
}

/// Every queue, in [`JOB_NAMES`] order.
pub async fn all_queue_stats(
    conn: &mut ConnectionManager,
    prefix: &str,
) -> Result<Vec<QueueStats>, redis::RedisError> {
    let mut all = Vec::with_capacity(JOB_NAMES.len());
    for job in JOB_NAMES {
        all.push(queue_stats(conn, prefix, job).await?);
    }
    Ok(all)
}

/// What a handler run ended with (one per attempt).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The job succeeded.
    Ok,
    /// A transient error: retried.
    Error,
    /// A permanent error (`AbortError`): the job is dead.
    Killed,
    /// The run did not finish: timeout, panic or shutdown.
    Aborted,
}

impl Outcome {
    pub const ALL: [Self; 4] = [Self::Ok, Self::Error, Self::Killed, Self::Aborted];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Error => "error",
            Self::Killed => "killed",
            Self::Aborted => "aborted",
        }
    }
}

/// Counts a handler outcome in the queue's bucket of the current minute (shared by every
/// worker process, so the throughput on the pages covers the whole fleet).
pub async fn record_outcome(
    conn: &mut ConnectionManager,
    queue: &str,
    outcome: Outcome,
    at: DateTime<Utc>,
) -> Result<(), redis::RedisError> {
    let key = throughput_key(queue, at.timestamp().div_euclid(60));
    redis::pipe()
        .hincr(&key, outcome.as_str(), 1)
        .ignore()
        .expire(&key, THROUGHPUT_TTL_SECS)
        .ignore()
        .query_async::<()>(conn)
        .await
}

/// Handler outcomes in one minute.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Minute {
    pub minute: DateTime<Utc>,
    pub ok: u64,
    pub error: u64,
    pub killed: u64,
    pub aborted: u64,
}

/// The last `minutes` whole and current minutes, oldest first.
pub async fn throughput(
    conn: &mut ConnectionManager,
    queue: &str,
    minutes: u32,
    now: DateTime<Utc>,
) -> Result<Vec<Minute>, redis::RedisError> {
    let current = now.timestamp().div_euclid(60);
    let first = current - i64::from(minutes.max(1)) + 1;
    let mut pipe = redis::pipe();
    for minute in first..=current {
        pipe.hgetall(throughput_key(queue, minute));
    }
    let buckets: Vec<HashMap<String, u64>> = pipe.query_async(conn).await?;
    Ok((first..=current)
        .zip(buckets)
        .map(|(minute, counts)| Minute {
            minute: from_unix(minute * 60).unwrap_or(now),
            ok: counts.get("ok").copied().unwrap_or(0),
            error: counts.get("error").copied().unwrap_or(0),
            killed: counts.get("killed").copied().unwrap_or(0),
            aborted: counts.get("aborted").copied().unwrap_or(0),
        })
        .collect())
}

/// Where a job is (one of the states of [`Counts`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    Pending,
    Scheduled,
    Running,
    Done,
    Failed,
    Dead,
    /// In no state set (between two steps of a worker, or state keys were deleted).
    Unknown,
}

impl JobState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Scheduled => "scheduled",
            Self::Running => "running",
            Self::Done => "done",
            Self::Failed => "failed",
            Self::Dead => "dead",
            Self::Unknown => "unknown",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "pending" => Self::Pending,
            "scheduled" => Self::Scheduled,
            "running" => Self::Running,
            "done" => Self::Done,
            "failed" => Self::Failed,
            "dead" => Self::Dead,
            _ => return None,
        })
    }
}

/// One job: its arguments and what apalis recorded about its runs.
#[derive(Clone, Debug, Serialize)]
pub struct JobInfo {
    pub id: String,
    pub job: &'static str,
    pub queue: String,
    pub state: JobState,
    /// apalis' own status (`Pending`, `Running`, `Done`, `Failed`, `Killed`).
    pub status: Option<String>,
    pub attempts: u32,
    pub max_attempts: Option<u32>,
    /// The payload, as JSON.
    pub args: serde_json::Value,
    /// The error of the last run, if it failed.
    pub last_error: Option<String>,
    /// The error that made an operator retry it, if one did.
    pub previous_error: Option<String>,
    pub enqueued_at: Option<DateTime<Utc>>,
    /// When a scheduled or failed job runs (again).
    pub run_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub locked_by: Option<String>,
    pub locked_at: Option<DateTime<Utc>>,
    pub idempotency_key: Option<String>,
    /// How often operators retried it.
    pub operator_retries: u32,
}

/// The message of an apalis result (`{"Err": "..."}`), if it is an error.
fn result_error(result: Option<&String>) -> Option<String> {
    let value: serde_json::Value = serde_json::from_str(result?).ok()?;
    value.get("Err").map(|e| match e.as_str() {
        Some(s) => s.to_owned(),
        None => e.to_string(),
    })
}

#[derive(Deserialize)]
struct RawJob {
    id: String,
    data: String,
    meta: serde_json::Value,
    state: String,
    #[serde(default)]
    score: String,
}

fn job_info(job: &'static str, queue: &str, raw: RawJob) -> JobInfo {
    let meta: HashMap<String, String> = match raw.meta {
        serde_json::Value::Object(map) => map
            .into_iter()
            .map(|(k, v)| {
                let v = match v {
                    serde_json::Value::String(s) => s,
                    other => other.to_string(),
                };
                (k, v)
            })
            .collect(),
        _ => HashMap::new(),
    };
    let number = |field: &str| meta.get(field).and_then(|v| v.parse::<i64>().ok());
    let state = JobState::parse(&raw.state).unwrap_or(JobState::Unknown);
    JobInfo {
        job,
        queue: queue.to_owned(),
        state,
        status: meta.get("status").cloned(),
        attempts: number("attempts")
            .and_then(|n| u32::try_from(n).ok())
            .unwrap_or(0),
        max_attempts: number("max_attempts").and_then(|n| u32::try_from(n).ok()),
        args: serde_json::from_str(&raw.data).unwrap_or(serde_json::Value::String(raw.data)),
        last_error: result_error(meta.get("result")),
        previous_error: result_error(meta.get("ops_previous_result")),
        enqueued_at: enqueued_at(&raw.id),
        run_at: raw.score.parse::<i64>().ok().and_then(from_unix),
        finished_at: number("done_at").and_then(from_unix),
        locked_by: meta.get("locked_by").cloned().filter(|s| !s.is_empty()),
        locked_at: number("locked_at").and_then(from_unix),
        idempotency_key: meta
            .get("idempotency_key")
            .cloned()
            .filter(|s| !s.is_empty()),
        operator_retries: number("ops_retries")
            .and_then(|n| u32::try_from(n).ok())
            .unwrap_or(0),
        id: raw.id,
    }
}

/// Lua helpers shared by the scripts that describe jobs.
const DESCRIBE_LUA: &str = r#"
local function meta_of(q, id)
  local flat = redis.call('hgetall', q .. ':meta:' .. id)
  local meta = {}
  for i = 1, #flat, 2 do meta[flat[i]] = flat[i + 1] end
  return meta
end
local function state_of(q, id, meta, now)
  if redis.call('sismember', q .. ':dead', id) == 1 then return 'dead', '' end
  if redis.call('sismember', q .. ':done', id) == 1 then return 'done', '' end
  local score = redis.call('zscore', q .. ':scheduled', id)
  if score then
    if meta['status'] == 'Failed' then return 'failed', score end
    if tonumber(score) <= now then return 'pending', score end
    return 'scheduled', score
  end
  if redis.call('lpos', q .. ':active', id) then return 'pending', '' end
  for _, w in ipairs(redis.call('zrange', q .. ':workers', 0, -1)) do
    if redis.call('sismember', q .. ':inflight:' .. w, id) == 1 then return 'running', '' end
  end
  return 'unknown', ''
end
local function describe(q, id, state, score, now)
  local data = redis.call('hget', q .. ':data', id)
  if not data then return nil end
  local meta = meta_of(q, id)
  if not state then state, score = state_of(q, id, meta, now) end
  return {id = id, data = data, meta = meta, state = state, score = tostring(score or '')}
end
"#;

const JOB_LUA: &str = r#"
local job = describe(ARGV[1], ARGV[2], nil, nil, tonumber(ARGV[3]))
if not job then return '' end
return cjson.encode(job)
"#;

/// One job by id, looked up in every queue.
pub async fn job(
    conn: &mut ConnectionManager,
    prefix: &str,
    id: &str,
) -> Result<Option<JobInfo>, redis::RedisError> {
    let script = Script::new(&format!("{DESCRIBE_LUA}{JOB_LUA}"));
    for job in JOB_NAMES {
        let queue = queue_key(prefix, job);
        let json: String = script
            .arg(&queue)
            .arg(id)
            .arg(Utc::now().timestamp())
            .invoke_async(conn)
            .await?;
        if json.is_empty() {
            continue;
        }
        let raw: RawJob = serde_json::from_str(&json).map_err(json_error)?;
        return Ok(Some(job_info(job, &queue, raw)));
    }
    Ok(None)
}

fn json_error(e: serde_json::Error) -> redis::RedisError {
    redis::RedisError::from((
        redis::ErrorKind::UnexpectedReturnType,
        "unexpected reply of an ops script",
        e.to_string(),
    ))
}

const LIST_LUA: &str = r#"
local q, state, limit, now = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local ids, scores = {}, {}
if state == 'dead' or state == 'done' then
  ids = redis.call('smembers', q .. ':' .. state)
  table.sort(ids, function(a, b) return a > b end)
elseif state == 'pending' or state == 'failed' or state == 'scheduled' then
  if state == 'pending' then ids = redis.call('lrange', q .. ':active', 0, limit - 1) end
  local sched = redis.call('zrange', q .. ':scheduled', 0, -1, 'WITHSCORES')
  for i = 1, #sched, 2 do
    local failed = redis.call('hget', q .. ':meta:' .. sched[i], 'status') == 'Failed'
    local due = tonumber(sched[i + 1]) <= now
    local wanted = (state == 'failed' and failed) or (not failed and (due == (state == 'pending')))
    if wanted and #ids < limit then
      table.insert(ids, sched[i])
      scores[sched[i]] = sched[i + 1]
    end
  end
elseif state == 'running' then
  for _, w in ipairs(redis.call('zrange', q .. ':workers', 0, -1)) do
    for _, id in ipairs(redis.call('smembers', q .. ':inflight:' .. w)) do table.insert(ids, id) end
  end
  table.sort(ids)
end
local jobs = {}
for i = 1, math.min(#ids, limit) do
  local job = describe(q, ids[i], state, scores[ids[i]], now)
  if job then table.insert(jobs, job) end
end
if #jobs == 0 then return '[]' end
return cjson.encode(jobs)
"#;

/// Up to `limit` jobs of a queue in `state` (dead and done newest first, pending in fetch
/// order then by due time, failed and scheduled by the time they run next).
pub async fn list_jobs(
    conn: &mut ConnectionManager,
    prefix: &str,
    job: &'static str,
    state: JobState,
    limit: usize,
) -> Result<Vec<JobInfo>, redis::RedisError> {
    if state == JobState::Unknown {
        return Ok(Vec::new());
    }
    let queue = queue_key(prefix, job);
    let json: String = Script::new(&format!("{DESCRIBE_LUA}{LIST_LUA}"))
        .arg(&queue)
        .arg(state.as_str())
        .arg(limit.clamp(1, MAX_LIST))
        .arg(Utc::now().timestamp())
        .invoke_async(conn)
        .await?;
    let raws: Vec<RawJob> = serde_json::from_str(&json).map_err(json_error)?;
    Ok(raws
        .into_iter()
        .map(|raw| job_info(job, &queue, raw))
        .collect())
}

/// What a retry did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Retry {
    /// Back in `:active` (from the state given), with a fresh attempt budget.
    Requeued(JobState),
    /// No such job in this queue.
    NotFound,
    /// The job is neither failed nor dead (its state given).
    NotFailed(JobState),
}

/// Moves failed (awaiting an automatic retry) and dead jobs back to `:active` with their
/// attempts reset, the same id and payload (idempotency keys stay claimed, so nothing is
/// pushed twice). `ARGV[3]` is one id or `*` for every failed and dead job of the queue.
const RETRY_LUA: &str = r#"
local q, now, which = ARGV[1], ARGV[2], ARGV[3]
local function retry(id, from)
  local meta = q .. ':meta:' .. id
  local result = redis.call('hget', meta, 'result')
  if result then redis.call('hset', meta, 'ops_previous_result', result) end
  redis.call('hset', meta, 'status', 'Pending', 'attempts', 0, 'ops_retried_at', now)
  redis.call('hincrby', meta, 'ops_retries', 1)
  redis.call('hdel', meta, 'locked_at', 'locked_by')
  redis.call('rpush', q .. ':active', id)
  return from
end
local function retry_one(id)
  if redis.call('hexists', q .. ':data', id) == 0 then return 'not_found' end
  if redis.call('srem', q .. ':dead', id) == 1 then return retry(id, 'dead') end
  local status = redis.call('hget', q .. ':meta:' .. id, 'status')
  if status == 'Failed' and redis.call('zrem', q .. ':scheduled', id) == 1 then
    return retry(id, 'failed')
  end
  if redis.call('type', q .. ':failed')['ok'] == 'set' and redis.call('srem', q .. ':failed', id) == 1 then
    return retry(id, 'failed')
  end
  local state = state_of(q, id, {status = status}, tonumber(now))
  return 'not_failed:' .. state
end
local count = 0
local reply
if which == '*' then
  local ids = redis.call('smembers', q .. ':dead')
  local sched = redis.call('zrange', q .. ':scheduled', 0, -1)
  for _, id in ipairs(sched) do
    if redis.call('hget', q .. ':meta:' .. id, 'status') == 'Failed' then table.insert(ids, id) end
  end
  for _, id in ipairs(ids) do
    local r = retry_one(id)
    if r == 'dead' or r == 'failed' then count = count + 1 end
  end
  reply = tostring(count)
else
  reply = retry_one(which)
  if reply == 'dead' or reply == 'failed' then count = 1 end
end
if count > 0 then
  redis.call('del', q .. ':signal')
  redis.call('lpush', q .. ':signal', 1)
end
return reply
"#;

/// Retries one failed or dead job of `job`'s queue.
pub async fn retry(
    conn: &mut ConnectionManager,
    prefix: &str,
    job: &'static str,
    id: &str,
) -> Result<Retry, redis::RedisError> {
    let reply: String = Script::new(&format!("{DESCRIBE_LUA}{RETRY_LUA}"))
        .arg(queue_key(prefix, job))
        .arg(Utc::now().timestamp())
        .arg(id)
        .invoke_async(conn)
        .await?;
    Ok(match reply.as_str() {
        "not_found" => Retry::NotFound,
        "dead" => Retry::Requeued(JobState::Dead),
        "failed" => Retry::Requeued(JobState::Failed),
        other => Retry::NotFailed(
            other
                .strip_prefix("not_failed:")
                .and_then(JobState::parse)
                .unwrap_or(JobState::Unknown),
        ),
    })
}

/// Retries every failed and dead job of `job`'s queue; returns how many.
pub async fn retry_all_failed(
    conn: &mut ConnectionManager,
    prefix: &str,
    job: &'static str,
) -> Result<u64, redis::RedisError> {
    let reply: String = Script::new(&format!("{DESCRIBE_LUA}{RETRY_LUA}"))
        .arg(queue_key(prefix, job))
        .arg(Utc::now().timestamp())
        .arg("*")
        .invoke_async(conn)
        .await?;
    Ok(reply.parse().unwrap_or(0))
}

/// Pauses a queue: every worker stops fetching from it within about a second (jobs already
/// running finish; jobs can still be enqueued and wait as pending).
pub async fn pause(
    conn: &mut ConnectionManager,
    prefix: &str,
    job: &'static str,
) -> Result<(), redis::RedisError> {
    conn.set::<_, _, ()>(paused_key(&queue_key(prefix, job)), Utc::now().timestamp())
        .await
}

/// Lets workers fetch from a paused queue again.
pub async fn resume(
    conn: &mut ConnectionManager,
    prefix: &str,
    job: &'static str,
) -> Result<(), redis::RedisError> {
    conn.del::<_, ()>(paused_key(&queue_key(prefix, job))).await
}

/// A company's account as operators see it.
#[derive(Clone, Debug, Serialize, sqlx::FromRow)]
pub struct AccountHealth {
    pub id: uuid::Uuid,
    pub zoom_account_id: String,
    pub domains: Vec<String>,
    pub status: String,
    pub members_active: i64,
    pub members_total: i64,
    pub installed_at: Option<DateTime<Utc>>,
    pub removed_at: Option<DateTime<Utc>>,
    pub last_pull_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    /// The newest pull run (`pull_runs`).
    pub last_pull_status: Option<String>,
    pub last_pull_started_at: Option<DateTime<Utc>>,
    pub last_pull_finished_at: Option<DateTime<Utc>>,
    pub last_pull_error: Option<String>,
    pub last_pull_entries: Option<i32>,
    /// Members whose newest backfill is in each state.
    pub backfills_queued: i64,
    pub backfills_running: i64,
    pub backfills_done: i64,
    pub backfills_failed: i64,
}

const ACCOUNT_HEALTH: &str = "select a.id, a.zoom_account_id, a.status, a.installed_at, a.removed_at, \
       a.last_pull_at, a.last_error, \
       coalesce((select array_agg(d.domain order by d.domain) from account_domains d where d.account_id = a.id), \
                '{}'::text[]) as domains, \
       (select count(*) from members m where m.account_id = a.id and m.status = 'active') as members_active, \
       (select count(*) from members m where m.account_id = a.id) as members_total, \
       p.status as last_pull_status, p.started_at as last_pull_started_at, \
       p.finished_at as last_pull_finished_at, p.error as last_pull_error, \
       p.entries_written as last_pull_entries, \
       coalesce(b.queued, 0) as backfills_queued, coalesce(b.running, 0) as backfills_running, \
       coalesce(b.done, 0) as backfills_done, coalesce(b.failed, 0) as backfills_failed \
  from accounts a \
  left join lateral (select status, started_at, finished_at, error, entries_written from pull_runs r \
                      where r.account_id = a.id order by r.started_at desc, r.id desc limit 1) p on true \
  left join lateral (select count(*) filter (where l.state = 'queued') as queued, \
                            count(*) filter (where l.state = 'running') as running, \
                            count(*) filter (where l.state = 'done') as done, \
                            count(*) filter (where l.state = 'failed') as failed \
                       from (select distinct on (bf.member_id) bf.state from backfills bf \
                               join members m on m.id = bf.member_id \
                              where m.account_id = a.id \
                              order by bf.member_id, bf.created_at desc) l) b on true";

/// Every account, oldest install first.
pub async fn accounts(db: &sqlx::PgPool) -> Result<Vec<AccountHealth>, sqlx::Error> {
    sqlx::query_as(&format!("{ACCOUNT_HEALTH} order by a.created_at, a.id"))
        .fetch_all(db)
        .await
}

/// One account.
pub async fn account(
    db: &sqlx::PgPool,
    id: uuid::Uuid,
) -> Result<Option<AccountHealth>, sqlx::Error> {
    sqlx::query_as(&format!("{ACCOUNT_HEALTH} where a.id = $1"))
        .bind(id)
        .fetch_optional(db)
        .await
}

/// A member (a Billables user who opted in) of an account, with their newest backfill.
#[derive(Clone, Debug, Serialize, sqlx::FromRow)]
pub struct MemberHealth {
    pub id: uuid::Uuid,
    pub billables_user_id: String,
    pub email: String,
    pub status: String,
    pub zoom_user_id: Option<String>,
    pub opted_in_at: Option<DateTime<Utc>>,
    pub backfill_id: Option<uuid::Uuid>,
    pub backfill_state: Option<String>,
    pub backfill_done: Option<i32>,
    pub backfill_total: Option<i32>,
    pub backfill_error: Option<String>,
    pub backfill_job_id: Option<String>,
    pub backfill_started_at: Option<DateTime<Utc>>,
    pub backfill_finished_at: Option<DateTime<Utc>>,
    /// How far scheduled pulls got (the older of the two sources' watermarks).
    pub pulled_until: Option<DateTime<Utc>>,
    pub entries: i64,
}

/// The members of an account, by e-mail.
pub async fn members(
    db: &sqlx::PgPool,
    account_id: uuid::Uuid,
) -> Result<Vec<MemberHealth>, sqlx::Error> {
    sqlx::query_as(
        "select m.id, m.billables_user_id, m.email, m.status, m.zoom_user_id, m.opted_in_at, \
                b.id as backfill_id, b.state as backfill_state, b.done as backfill_done, \
                b.total as backfill_total, b.last_error as backfill_error, b.job_id as backfill_job_id, \
                b.created_at as backfill_started_at, b.finished_at as backfill_finished_at, \
                (select min(w.watermark) from pull_watermarks w where w.member_id = m.id) as pulled_until, \
                (select count(*) from billables e where e.member_id = m.id) as entries \
           from members m \
           left join lateral (select * from backfills bf where bf.member_id = m.id \
                               order by bf.created_at desc limit 1) b on true \
          where m.account_id = $1 \
          order by lower(m.email), m.id",
    )
    .bind(account_id)
    .fetch_all(db)
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enqueue_time_comes_from_the_ulid() {
        let id = ulid::Ulid::from_parts(1_700_000_000_000, 7).to_string();
        assert_eq!(
            enqueued_at(&id).map(|t| t.timestamp_millis()),
            Some(1_700_000_000_000)
        );
        assert_eq!(enqueued_at("not-a-ulid"), None);
    }

    #[test]
    fn apalis_results_give_the_error_message() {
        assert_eq!(
            result_error(Some(&r#"{"Err":"zoom said 500"}"#.to_owned())),
            Some("zoom said 500".to_owned())
        );
        assert_eq!(result_error(Some(&r#"{"Ok":null}"#.to_owned())), None);
        assert_eq!(result_error(None), None);
    }

    #[test]
    fn job_names_are_ours_only() {
        assert_eq!(job_name("backfill_window"), Some("backfill_window"));
        assert_eq!(job_name("bz:backfill_window"), None);
    }
}
