//! Builds the apalis worker of each queue with the same layers: tracing, panic catching, a
//! timeout, in-process retries with exponential backoff, bounded concurrency and polling.
//!
//! Each process start gets unique worker names: apalis does not deregister a worker name on
//! shutdown, and a process restarting under the same name within the orphan window would
//! exit silently (`shared/apalis-notes.md`, pitfall 4).
//!
//! For operators every worker also
//! - records each handler run: `billables_jobs_total{job, outcome}`,
//!   `billables_job_duration_seconds{job, outcome}` and `billables_jobs_running{job}` through
//!   the `metrics` facade, and the outcome in the queue's per-minute throughput bucket in
//!   Redis (see [`crate::ops`]), so the pages show the whole fleet's throughput;
//! - fetches nothing while its queue is paused ([`PauseGate`]): jobs already running finish,
//!   new ones wait as pending. Workers fetch one job at a time (`batch_size` 1): a worker
//!   never sits on fetched jobs it is not running yet (so "running" counts are real, and
//!   jobs spread evenly over worker processes).
use std::{
    future::Future,
    sync::{Arc, Mutex, PoisonError},
    time::{Duration, Instant},
};

use apalis::{
    layers::retry::{RetryPolicy, backoff::ExponentialBackoffMaker, backoff::MakeBackoff},
    prelude::*,
};
use apalis_redis::{ConnectionManager, RedisStorage};
use redis::{Arg, Cmd, RedisFuture, Value, aio::ConnectionLike};

use crate::{
    ops::{self, Outcome},
    queue::{Job, queue_config, queue_name},
};

/// How often an idle worker asks Redis for new jobs.
pub const POLL_INTERVAL: Duration = Duration::from_millis(250);
/// How long a worker trusts what it last read of its queue's pause flag.
pub const PAUSE_CHECK: Duration = Duration::from_millis(500);

/// Knobs shared by every worker of a process.
#[derive(Clone, Debug)]
pub struct WorkerSettings {
    /// Unique per process start, e.g. `host-pid-ulid`.
    pub instance: String,
    pub prefix: String,
    pub concurrency: usize,
    /// In-process retries of a transient failure before the job is handed back to Redis.
    pub retries: usize,
    pub job_timeout: Duration,
}

impl WorkerSettings {
    pub fn new(prefix: impl Into<String>, concurrency: usize) -> Self {
        Self {
            instance: format!("{}-{}", std::process::id(), ulid::Ulid::generate()),
            prefix: prefix.into(),
            concurrency,
            retries: 3,
            job_timeout: Duration::from_secs(30 * 60),
        }
    }
}

/// The error a handler returns. Return [`AbortError`] (via [`permanent`]) for failures that
/// retrying cannot fix: the job then ends `Killed` and lands in the dead set.
pub type JobError = BoxDynError;

/// Marks an error as permanent: no retry.
pub fn permanent(message: impl Into<String>) -> JobError {
    Box::new(AbortError::new(std::io::Error::other(message.into())))
}

/// Registers the worker of job type `J` on `monitor`, running `handler(job, state)`.
pub fn register<J, S, F, Fut>(
    monitor: Monitor,
    conn: ConnectionManager,
    settings: &WorkerSettings,
    state: S,
    handler: F,
) -> Monitor
where
    J: Job,
    S: Clone + Send + Sync + 'static,
    F: Fn(J, Data<S>) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<(), JobError>> + Send + 'static,
{
    let settings = settings.clone();
    let observer = Observer {
        job: J::NAME,
        queue: queue_name::<J>(&settings.prefix),
        conn: conn.clone(),
    };
    let handler = move |job: J, data: Data<S>| observer.clone().observe(handler(job, data));
    monitor.register(move |restarts| {
        // One job per fetch: see the module doc.
        let gate = PauseGate::new(conn.clone(), &queue_name::<J>(&settings.prefix));
        let backend: RedisStorage<J, PauseGate> =
            RedisStorage::new(gate).with_config(queue_config::<J>(&settings.prefix).batch_size(1));
        let backoff = ExponentialBackoffMaker::new(
            Duration::from_millis(500),
            Duration::from_secs(30),
            0.5,
            apalis::layers::retry::HasherRng::default(),
        )
        .expect("valid backoff bounds")
        .make_backoff();
        WorkerBuilder::new(format!(
            "{}:{}:{}:{restarts}",
            settings.prefix,
            J::NAME,
            settings.instance
        ))
        .backend(backend.poll_with_interval(POLL_INTERVAL))
        // Outermost first, in the order apalis asks for: one concurrency slot per job (not
        // per attempt), a timeout per attempt, panics seen by the retry, traces per attempt.
        .concurrency(settings.concurrency)
        .retry(RetryPolicy::retries(settings.retries).with_backoff(backoff))
        .timeout(settings.job_timeout)
        .catch_panic()
        .enable_tracing()
        .data(state.clone())
        .build(handler.clone())
    })
}

/// Records what each handler run of one job type ends with.
#[derive(Clone)]
struct Observer {
    job: &'static str,
    queue: String,
    conn: ConnectionManager,
}

impl Observer {
    async fn observe<Fut>(self, run: Fut) -> Result<(), JobError>
    where
        Fut: Future<Output = Result<(), JobError>>,
    {
        metrics::gauge!("billables_jobs_running", "job" => self.job).increment(1.0);
        let mut guard = RunGuard {
            observer: Some(self),
            started: Instant::now(),
        };
        let result = run.await;
        let outcome = match &result {
            Ok(()) => Outcome::Ok,
            Err(e) if e.downcast_ref::<AbortError>().is_some() => Outcome::Killed,
            Err(_) => Outcome::Error,
        };
        if let Some(observer) = guard.observer.take() {
            observer.finish(outcome, guard.started.elapsed()).await;
        }
        result
    }

    fn record(&self, outcome: Outcome, took: Duration) {
        metrics::gauge!("billables_jobs_running", "job" => self.job).decrement(1.0);
        metrics::counter!("billables_jobs_total", "job" => self.job, "outcome" => outcome.as_str())
            .increment(1);
        metrics::histogram!(
            "billables_job_duration_seconds",
            "job" => self.job,
            "outcome" => outcome.as_str()
        )
        .record(took.as_secs_f64());
    }

    async fn finish(mut self, outcome: Outcome, took: Duration) {
        self.record(outcome, took);
        if let Err(e) =
            ops::record_outcome(&mut self.conn, &self.queue, outcome, chrono::Utc::now()).await
        {
            tracing::debug!(error = %e, job = self.job, "could not record the job's outcome");
        }
    }
}

/// Records a run that never finished (dropped by the timeout, a panic or shutdown).
struct RunGuard {
    observer: Option<Observer>,
    started: Instant,
}

impl Drop for RunGuard {
    fn drop(&mut self) {
        let Some(observer) = self.observer.take() else {
            return;
        };
        let took = self.started.elapsed();
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(observer.finish(Outcome::Aborted, took));
            }
            Err(_) => observer.record(Outcome::Aborted, took),
        }
    }
}

/// The Redis connection of one queue's worker. It passes everything through, except the
/// queue's fetch (apalis-redis' `fetch_next.lua`, recognised by its keys) while
/// `{queue}:ops:paused` exists: that is answered with an empty batch, as if the queue were
/// empty. So a paused queue's worker claims nothing, promotes nothing from `:scheduled`, and
/// keeps its heartbeats, leases and acknowledgements going.
///
/// Gating the fetch in the connection rather than in the worker's stream matters: apalis'
/// persisted backend only heartbeats between fetches, so a worker held back in the middle
/// of one would be declared dead by the others after three missed heartbeats.
#[derive(Clone)]
pub struct PauseGate {
    inner: ConnectionManager,
    active: Vec<u8>,
    scheduled: Vec<u8>,
    paused_key: String,
    last: Arc<Mutex<Option<(Instant, bool)>>>,
}

impl PauseGate {
    pub fn new(inner: ConnectionManager, queue: &str) -> Self {
        Self {
            inner,
            active: format!("{queue}:active").into_bytes(),
            scheduled: format!("{queue}:scheduled").into_bytes(),
            paused_key: ops::paused_key(queue),
            last: Arc::default(),
        }
    }

    /// `EVALSHA|EVAL <script> 7 workers active inflight data signal meta scheduled ...`
    fn is_fetch(&self, cmd: &Cmd) -> bool {
        let mut args = cmd.args_iter().filter_map(|arg| match arg {
            Arg::Simple(bytes) => Some(bytes),
            _ => None,
        });
        let is_eval = args.next().is_some_and(|name| {
            name.eq_ignore_ascii_case(b"EVALSHA") || name.eq_ignore_ascii_case(b"EVAL")
        });
        if !is_eval || args.nth(1) != Some(b"7".as_slice()) {
            return false;
        }
        let keys: Vec<&[u8]> = args.take(7).collect();
        keys.len() == 7 && keys[1] == self.active.as_slice() && keys[6] == self.scheduled.as_slice()
    }

    async fn paused(&mut self) -> bool {
        let cached = *self.last.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((at, paused)) = cached
            && at.elapsed() < PAUSE_CHECK
        {
            return paused;
        }
        let paused = match redis::cmd("EXISTS")
            .arg(&self.paused_key)
            .query_async::<bool>(&mut self.inner)
            .await
        {
            Ok(paused) => paused,
            // Redis trouble shows in the fetch itself; keep what was known.
            Err(_) => cached.is_some_and(|(_, paused)| paused),
        };
        if cached.is_none_or(|(_, was)| was != paused) {
            tracing::info!(key = %self.paused_key, paused, "queue pause state");
        }
        *self.last.lock().unwrap_or_else(PoisonError::into_inner) = Some((Instant::now(), paused));
        paused
    }
}

impl ConnectionLike for PauseGate {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        if !self.is_fetch(cmd) {
            return self.inner.req_packed_command(cmd);
        }
        Box::pin(async move {
            if self.paused().await {
                // `{results, meta}` of no job.
                return Ok(Value::Array(vec![
                    Value::Array(vec![]),
                    Value::Array(vec![]),
                ]));
            }
            self.inner.req_packed_command(cmd).await
        })
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a redis::Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        self.inner.req_packed_commands(pipeline, offset, count)
    }

    fn get_db(&self) -> i64 {
        self.inner.get_db()
    }
}
