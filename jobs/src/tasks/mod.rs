//! The job payloads (one file per job) and the context their handlers share.
//!
//! Payloads carry ids, not records: a handler re-reads the state it acts on, so a job that
//! runs twice (at-least-once delivery) does the same thing once.

pub mod install_account;
pub mod teardown_account;

use apalis::prelude::Monitor;
use redis::aio::ConnectionManager;
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use uuid::Uuid;

use crate::{
    crypto::TokenKey,
    queue::Job,
    zoom::ZoomClient,
    worker::{WorkerSettings, register},
};

/// What every handler gets: cheap handles, cloned per job.
#[derive(Clone)]
pub struct JobContext {
    pub db: PgPool,
    pub redis: ConnectionManager,
    pub zoom: ZoomClient,
    pub token_key: TokenKey,
}

/// The monitor with a worker for every job type that has a handler.
pub fn monitor(settings: &WorkerSettings, ctx: JobContext) -> Monitor {
    let redis = ctx.redis.clone();
    let monitor = Monitor::new();
    let monitor =
        register::<InstallAccount, _, _, _>(monitor, redis.clone(), settings, ctx.clone(), install_account::run);
    register::<TeardownAccount, _, _, _>(monitor, redis, settings, ctx, teardown_account::run)
}

/// Confirm a freshly authorised account, sync its Zoom users, mark it `active`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct InstallAccount {
    pub account_id: Uuid,
    /// One id per OAuth callback, so a reinstall is a new job but a replay is not.
    pub installation_id: Uuid,
}

impl Job for InstallAccount {
    const NAME: &'static str = "install_account";
    fn idempotency_key(&self) -> Option<String> {
        Some(format!(
            "install:{}:{}",
            self.account_id, self.installation_id
        ))
    }
}

/// Pull the opted-in member's recent past (`BACKFILL_DAYS`).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct BackfillMember {
    pub member_id: Uuid,
    pub backfill_id: Uuid,
}

impl Job for BackfillMember {
    const NAME: &'static str = "backfill_member";
    fn idempotency_key(&self) -> Option<String> {
        Some(format!("backfill:{}", self.backfill_id))
    }
}

/// Incremental pull for every active member of one account.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct PullAccount {
    pub account_id: Uuid,
    /// The scheduler tick (unix seconds) that asked for it; `None` for "pull now".
    pub tick: Option<i64>,
}

impl Job for PullAccount {
    const NAME: &'static str = "pull_account";
    fn idempotency_key(&self) -> Option<String> {
        self.tick
            .map(|tick| format!("pull:{}:{tick}", self.account_id))
    }
}

/// Disable the account after the app was removed: revoke, delete tokens and caches, audit.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct TeardownAccount {
    pub account_id: Uuid,
    /// Who asked: `zoom:app_deauthorized` or `operator`.
    pub reason: String,
}

impl Job for TeardownAccount {
    const NAME: &'static str = "teardown_account";
    fn idempotency_key(&self) -> Option<String> {
        Some(format!("teardown:{}", self.account_id))
    }
}

/// The names of every queue, for operators and the worker.
pub const JOB_NAMES: [&str; 4] = [
    InstallAccount::NAME,
    BackfillMember::NAME,
    PullAccount::NAME,
    TeardownAccount::NAME,
];
