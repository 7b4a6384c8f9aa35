//! The job payloads (one file per job) and the context their handlers share.
//!
//! Payloads carry ids, not records: a handler re-reads the state it acts on, so a job that
//! runs twice (at-least-once delivery) does the same thing once.

pub mod backfill_member;
pub mod backfill_window;
pub mod install_account;
pub mod pull_account;
pub mod teardown_account;

use apalis::prelude::Monitor;
use redis::aio::ConnectionManager;
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use uuid::Uuid;

use crate::{
    crypto::TokenKey,
    queue::{Job, Queues},
    worker::{WorkerSettings, register},
    zoom::ZoomClient,
};

/// What every handler gets: cheap handles, cloned per job.
#[derive(Clone)]
pub struct JobContext {
    pub db: PgPool,
    pub redis: ConnectionManager,
    pub zoom: ZoomClient,
    pub token_key: TokenKey,
    pub queues: Queues,
    pub settings: JobSettings,
}

impl JobContext {
    /// The Zoom API of `account`, authorised by its stored tokens (refreshed as needed) and
    /// aimed at its regional host when Zoom named one.
    pub fn account_api(
        &self,
        account: &crate::store::accounts::Account,
    ) -> crate::zoom::AccountApi {
        let api_url = account
            .api_url
            .as_deref()
            .and_then(|u| url::Url::parse(u).ok());
        let tokens = crate::store::tokens::DbTokenSource::new(
            self.db.clone(),
            self.token_key.clone(),
            self.zoom.clone(),
            account.id,
            api_url,
        );
        self.zoom.account(&account.zoom_account_id, tokens)
    }
}

/// The configuration the handlers need.
#[derive(Clone, Debug)]
pub struct JobSettings {
    pub redis_prefix: String,
    /// This process start's unique name (see `WorkerSettings::instance`).
    pub instance: String,
    /// Scheduled pulls; `None` runs no scheduler in this process.
    pub pull_schedule: Option<cron::Schedule>,
    pub pull_overlap_minutes: u32,
    pub backfill_days: u32,
    pub increment_minutes: u32,
}

/// The monitor with a worker for every job type that has a handler.
pub fn monitor(settings: &WorkerSettings, ctx: JobContext) -> Monitor {
    let redis = ctx.redis.clone();
    let monitor = Monitor::new();
    let monitor = register::<InstallAccount, _, _, _>(
        monitor,
        redis.clone(),
        settings,
        ctx.clone(),
        install_account::run,
    );
    let monitor = register::<BackfillMember, _, _, _>(
        monitor,
        redis.clone(),
        settings,
        ctx.clone(),
        backfill_member::run,
    );
    let monitor = register::<BackfillWindow, _, _, _>(
        monitor,
        redis.clone(),
        settings,
        ctx.clone(),
        backfill_window::run,
    );
    let monitor = register::<PullAccount, _, _, _>(
        monitor,
        redis.clone(),
        settings,
        ctx.clone(),
        pull_account::run,
    );
    let monitor = match ctx.settings.pull_schedule.clone() {
        Some(schedule) => crate::schedule::register(monitor, schedule, ctx.clone()),
        None => monitor,
    };
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

/// One source and one window of a member's backfill.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct BackfillWindow {
    pub backfill_id: Uuid,
    pub member_id: Uuid,
    pub window_no: i32,
}

impl Job for BackfillWindow {
    const NAME: &'static str = "backfill_window";
    fn idempotency_key(&self) -> Option<String> {
        Some(format!(
            "backfill-window:{}:{}",
            self.backfill_id, self.window_no
        ))
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
    /// Who asked: `zoom:app_deauthorized` or `operator` (see `removal::Reason`).
    pub reason: String,
    /// The installation the removal was asked for (`accounts.installed_at` then): if the
    /// account was installed again before the job ran, the new installation stays.
    #[serde(default)]
    pub installed_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Zoom's `app_deauthorized` event, when Zoom asked: the Data Compliance call needs it.
    #[serde(default)]
    pub deauthorization: Option<crate::removal::Deauthorization>,
}

impl Job for TeardownAccount {
    const NAME: &'static str = "teardown_account";
    /// One job per installation and asker: a reinstall gets a new `installed_at`, so removing
    /// it again is a new job, while a duplicate delivery of the same event is not.
    fn idempotency_key(&self) -> Option<String> {
        Some(format!(
            "teardown:{}:{}:{}",
            self.account_id,
            self.installed_at.map_or(0, |t| t.timestamp_micros()),
            self.reason
        ))
    }
}

/// The names of every queue, for operators and the worker.
pub const JOB_NAMES: [&str; 5] = [
    InstallAccount::NAME,
    BackfillMember::NAME,
    BackfillWindow::NAME,
    PullAccount::NAME,
    TeardownAccount::NAME,
];
