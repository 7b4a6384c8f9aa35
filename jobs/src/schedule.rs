//! The pull scheduler: an apalis-cron worker in every `worker` process, driven by
//! `PULL_SCHEDULE`. Each process sees every tick, so the tick is *claimed* in Redis
//! (`SET {prefix}:tick:{timestamp} NX`): exactly one process enqueues, per tick, one
//! `PullAccount` per active account (each with an idempotency key of account and tick as a
//! second guard). `apalis-cron`'s own `pipe_to` would enqueue once per process
//! (`shared/apalis-notes.md`, pitfall 7).

use apalis::prelude::{BoxDynError, Data, Monitor, WorkerBuilder};
use apalis_cron::{CronScheduler, Tick};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::{
    queue::Job as _,
    tasks::{JobContext, PullAccount},
};

/// How long a claimed tick is remembered (far longer than any schedule's period).
const TICK_CLAIM_SECS: u64 = 24 * 3600;

/// The next tick of `schedule` after `now`.
pub fn next_tick(schedule: &cron::Schedule, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    schedule.after(&now).next()
}

/// Claims `tick` for this process; true for exactly one process per tick.
pub async fn claim_tick(ctx: &JobContext, tick: u64) -> Result<bool, redis::RedisError> {
    let mut redis = ctx.redis.clone();
    let claimed: Option<String> = redis::cmd("SET")
        .arg(format!("{}:tick:{tick}", ctx.settings.redis_prefix))
        .arg(&ctx.settings.instance)
        .arg("NX")
        .arg("EX")
        .arg(TICK_CLAIM_SECS)
        .query_async(&mut redis)
        .await?;
    Ok(claimed.is_some())
}

/// Enqueues one pull per active account for `tick`; returns how many.
pub async fn enqueue_pulls(ctx: &JobContext, tick: i64) -> Result<usize, BoxDynError> {
    let accounts: Vec<Uuid> =
        sqlx::query_scalar("select id from accounts where status = 'active' order by id")
            .fetch_all(&ctx.db)
            .await?;
    for account_id in &accounts {
        ctx.queues
            .enqueue(PullAccount {
                account_id: *account_id,
                tick: Some(tick),
            })
            .await?;
    }
    Ok(accounts.len())
}

async fn on_tick(tick: Tick, ctx: Data<JobContext>) -> Result<(), BoxDynError> {
    let timestamp = tick.get_timestamp();
    if !claim_tick(&ctx, timestamp).await? {
        tracing::debug!(tick = timestamp, "tick claimed by another worker");
        return Ok(());
    }
    let tick = i64::try_from(timestamp).unwrap_or(i64::MAX);
    let accounts = enqueue_pulls(&ctx, tick).await?;
    tracing::info!(
        tick,
        accounts,
        job = PullAccount::NAME,
        "scheduled pulls enqueued"
    );
    Ok(())
}

/// Registers the scheduler on `monitor`.
pub fn register(monitor: Monitor, schedule: cron::Schedule, ctx: JobContext) -> Monitor {
    let name = format!(
        "{}:scheduler:{}",
        ctx.settings.redis_prefix, ctx.settings.instance
    );
    monitor.register(move |restarts| {
        WorkerBuilder::new(format!("{name}:{restarts}"))
            .backend(CronScheduler::new(schedule.clone()))
            .data(ctx.clone())
            .build(on_tick)
    })
}

#[cfg(test)]
mod tests {
    use std::str::FromStr as _;

    use chrono::TimeZone as _;

    use super::*;

    #[test]
    fn next_tick_follows_the_schedule() {
        let every_15 = cron::Schedule::from_str("0 */15 * * * *").expect("cron");
        let now = Utc
            .with_ymd_and_hms(2026, 12, 4, 10, 7, 30)
            .single()
            .expect("time");
        assert_eq!(
            next_tick(&every_15, now),
            Utc.with_ymd_and_hms(2026, 12, 4, 10, 15, 0).single()
        );
    }
}
