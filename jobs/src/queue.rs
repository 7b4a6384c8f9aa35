//! The enqueue side of the job queues, shared by the API and the workers.
//!
//! Every job type has its own apalis queue in Redis, named `{prefix}:{Job::NAME}` so that
//! names never follow a Rust rename and tests can isolate themselves with a prefix of their
//! own. Polling, heartbeats and idempotency are configured here once (see
//! `shared/apalis-notes.md`: without a poll interval a worker only fetches on heartbeats, and
//! idempotency keys only dedupe with a TTL).

use std::{fmt::Debug, time::Duration};

use apalis::prelude::{TaskBuilder, TaskId, TaskSink};
use apalis_redis::{ConnectionManager, RedisStorage};
use serde::{Serialize, de::DeserializeOwned};
use ulid::Ulid;

/// A job payload: ids, not records (handlers re-read state).
pub trait Job:
    Serialize + DeserializeOwned + Debug + Clone + Send + Sync + Unpin + 'static
{
    /// Stable queue name.
    const NAME: &'static str;

    /// A key that makes a second push of the same logical job within [`IDEMPOTENCY_TTL`] a
    /// no-op (e.g. a webhook Zoom delivers twice).
    fn idempotency_key(&self) -> Option<String> {
        None
    }
}

/// How long an idempotency key keeps a second push of the same job out.
pub const IDEMPOTENCY_TTL: Duration = Duration::from_secs(24 * 3600);
/// Worker heartbeat: also the safety net that wakes a stalled poller.
pub const HEARTBEAT: Duration = Duration::from_secs(5);
/// Missed heartbeats after which another worker re-queues a dead worker's jobs (~15 s).
pub const MISSED_HEARTBEATS: usize = 3;
/// Attempts of one push before the enqueue fails (see [`Queues::push`]).
const PUSH_ATTEMPTS: u32 = 3;

#[derive(Debug, thiserror::Error)]
#[error("could not enqueue {job}: {source}")]
pub struct EnqueueError {
    job: &'static str,
    #[source]
    source: Box<dyn std::error::Error + Send + Sync>,
}

/// The apalis queue configuration of one job type under `prefix`.
pub fn queue_config<J: Job>(prefix: &str) -> apalis_redis::Config {
    apalis_redis::Config::default()
        .queue(queue_name::<J>(prefix))
        .heartbeat_interval(HEARTBEAT)
        .missed_heartbeats(MISSED_HEARTBEATS)
        .idempotency_ttl(Some(IDEMPOTENCY_TTL))
}

pub fn queue_name<J: Job>(prefix: &str) -> String {
    format!("{prefix}:{}", J::NAME)
}

/// The storage of one job type.
pub fn storage<J: Job>(conn: ConnectionManager, prefix: &str) -> RedisStorage<J> {
    RedisStorage::new(conn).with_config(queue_config::<J>(prefix))
}

/// Cheap handles on every queue, for enqueueing.
#[derive(Clone)]
pub struct Queues {
    prefix: String,
    conn: ConnectionManager,
}

impl Debug for Queues {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Queues")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

/// When a pushed job should run.
#[derive(Clone, Debug, Default)]
pub struct PushOptions {
    /// A second push with the same key within [`IDEMPOTENCY_TTL`] is dropped.
    pub idempotency_key: Option<String>,
    pub delay: Option<Duration>,
}

impl Queues {
    pub fn new(conn: ConnectionManager, prefix: impl Into<String>) -> Self {
        Self {
            prefix: prefix.into(),
            conn,
        }
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    pub fn connection(&self) -> ConnectionManager {
        self.conn.clone()
    }

    /// Pushes one job now and returns its id (a ULID).
    pub async fn enqueue<J: Job>(&self, job: J) -> Result<String, EnqueueError> {
        self.push(job, PushOptions::default()).await
    }

    /// Pushes one job and returns its id (a ULID). The job's own idempotency key applies
    /// unless `options` names another.
    ///
    /// A failed push is tried again twice, shortly after: the first command on a connection
    /// Redis dropped (a restart, a failover) fails while the connection manager reconnects, and
    /// an opt-in should not answer 503 for that. Each attempt pushes the same task id (and
    /// idempotency key), so a push that landed although its answer was lost is not duplicated.
    pub async fn push<J: Job>(&self, job: J, options: PushOptions) -> Result<String, EnqueueError> {
        let id = Ulid::generate();
        let key = options.idempotency_key.or_else(|| job.idempotency_key());
        let mut storage = storage::<J>(self.conn.clone(), &self.prefix);
        let mut attempt: u32 = 0;
        loop {
            attempt += 1;
            let mut builder = TaskBuilder::new(job.clone()).task_id(TaskId::from_ulid(id));
            if let Some(key) = &key {
                builder = builder.idempotency_key(key.clone());
            }
            if let Some(delay) = options.delay {
                builder = builder.run_after(delay);
            }
            match storage.push_task(builder.build()).await {
                Ok(()) => break,
                Err(e) if attempt < PUSH_ATTEMPTS => {
                    tracing::debug!(job = J::NAME, attempt, error = %e, "enqueue failed, trying again");
                    tokio::time::sleep(Duration::from_millis(200) * attempt).await;
                }
                Err(e) => {
                    return Err(EnqueueError {
                        job: J::NAME,
                        source: Box::new(e),
                    });
                }
            }
        }
        tracing::debug!(job = J::NAME, job.id = %id, "enqueued");
        Ok(id.to_string())
    }
}
