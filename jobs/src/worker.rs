//! Builds the apalis worker of each queue with the same layers: tracing, panic catching, a
//! timeout, in-process retries with exponential backoff, bounded concurrency and polling.
//!
//! Each process start gets unique worker names: apalis does not deregister a worker name on
//! shutdown, and a process restarting under the same name within the orphan window would
//! exit silently (`shared/apalis-notes.md`, pitfall 4).

use std::{future::Future, time::Duration};

use apalis::{
    layers::retry::{RetryPolicy, backoff::ExponentialBackoffMaker, backoff::MakeBackoff},
    prelude::*,
};
use apalis_redis::{ConnectionManager, RedisStorage};

use crate::queue::{Job, storage};

/// How often an idle worker asks Redis for new jobs.
pub const POLL_INTERVAL: Duration = Duration::from_millis(250);

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
    monitor.register(move |restarts| {
        let backend: RedisStorage<J> = storage::<J>(conn.clone(), &settings.prefix);
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
        .enable_tracing()
        .catch_panic()
        .retry(RetryPolicy::retries(settings.retries).with_backoff(backoff))
        .timeout(settings.job_timeout)
        .concurrency(settings.concurrency)
        .data(state.clone())
        .build(handler.clone())
    })
}
