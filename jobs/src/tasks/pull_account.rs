//! `PullAccount`: the incremental pull of every active member of one account.
//!
//! For each member and source it covers `[watermark − overlap, now]` (the overlap catches
//! reports Zoom publishes late), shares participant fetches across members (see `sync`), and
//! moves the watermark only after the entries up to it are committed. Accounts that are not
//! `active` are skipped with the reason recorded. At most one pull per account runs at a time:
//! a Postgres advisory lock (released by the database if the worker dies) makes a tick that
//! finds the previous pull still running skip instead of starting a second one.

use apalis::prelude::Data;
use chrono::{DateTime, TimeDelta, Utc};
use sqlx::Row as _;

use super::{JobContext, PullAccount, install_account::zoom_failure};
use crate::{
    billables::Source,
    removal,
    store::{accounts, members},
    sync::{self, Mode, SyncError},
    worker::JobError,
};

/// Advisory-lock namespace of account pulls (the key is derived from the account id).
const LOCK_NAMESPACE: i32 = 0x7075_6c6c; // "pull"

#[tracing::instrument(skip_all, fields(account.id = %job.account_id, tick = ?job.tick))]
pub async fn run(job: PullAccount, ctx: Data<JobContext>) -> Result<(), JobError> {
    let mut conn = ctx.db.acquire().await?;
    let Some(account) = accounts::get(&mut conn, job.account_id).await? else {
        tracing::info!("pull of an unknown account: nothing to do");
        return Ok(());
    };
    let run_id: i64 =
        sqlx::query_scalar("insert into pull_runs (account_id, tick) values ($1, $2) returning id")
            .bind(account.id)
            .bind(job.tick)
            .fetch_one(&mut *conn)
            .await?;
    if account.status != "active" {
        finish(
            &mut conn,
            run_id,
            "skipped_inactive",
            0,
            0,
            Some(&format!("account is {}", account.status)),
        )
        .await?;
        tracing::info!(status = %account.status, "pull skipped: account not active");
        return Ok(());
    }
    // Session-level lock on this connection: held until released below or the connection dies.
    let key = i32::from_be_bytes(account.id.as_bytes()[..4].try_into().expect("4 bytes"));
    let locked: bool = sqlx::query("select pg_try_advisory_lock($1, $2)")
        .bind(LOCK_NAMESPACE)
        .bind(key)
        .fetch_one(&mut *conn)
        .await?
        .try_get(0)?;
    if !locked {
        finish(
            &mut conn,
            run_id,
            "skipped_running",
            0,
            0,
            Some("the previous pull of this account is still running"),
        )
        .await?;
        tracing::info!("pull skipped: previous pull still running");
        return Ok(());
    }
    // Holding the lock, no other pull of this account runs: a run still marked `running` was
    // cut short (its worker died, which released the lock) and is closed as failed.
    sqlx::query(
        "update pull_runs set status = 'failed', error = 'the worker stopped during this pull', finished_at = now() \
         where account_id = $1 and status = 'running' and id <> $2",
    )
    .bind(account.id)
    .bind(run_id)
    .execute(&mut *conn)
    .await?;
    let result = pull(&ctx, &account).await;
    // Zoom revokes the grant just before it tells us the app was removed: a dead grant met
    // during a removal ends the pull quietly instead of failing it.
    if let Err(SyncError::Zoom(e)) = &result
        && e.needs_reauth()
        && removal::removed_within(&ctx.db, account.id, removal::DEAD_GRANT_GRACE).await?
    {
        finish(
            &mut conn,
            run_id,
            "skipped_inactive",
            0,
            0,
            Some("the app was removed during the pull"),
        )
        .await?;
        let _ = sqlx::query("select pg_advisory_unlock($1, $2)")
            .bind(LOCK_NAMESPACE)
            .bind(key)
            .execute(&mut *conn)
            .await;
        tracing::info!("pull cancelled: the account was removed");
        return Ok(());
    }
    let outcome = match &result {
        Ok((members, written)) => {
            sqlx::query("update accounts set last_pull_at = now(), last_error = null, updated_at = now() where id = $1")
                .bind(account.id)
                .execute(&mut *conn)
                .await?;
            finish(&mut conn, run_id, "done", *members, *written, None).await
        }
        Err(e) => {
            sqlx::query("update accounts set last_error = $2, updated_at = now() where id = $1 and status <> 'removed'")
                .bind(account.id)
                .bind(e.to_string())
                .execute(&mut *conn)
                .await?;
            finish(&mut conn, run_id, "failed", 0, 0, Some(&e.to_string())).await
        }
    };
    let _ = sqlx::query("select pg_advisory_unlock($1, $2)")
        .bind(LOCK_NAMESPACE)
        .bind(key)
        .execute(&mut *conn)
        .await;
    outcome?;
    match result {
        Ok((members, written)) => {
            tracing::info!(members, written, "account pulled");
            Ok(())
        }
        Err(SyncError::Zoom(e)) => Err(zoom_failure(&ctx, account.id, e).await),
        Err(e) => Err(Box::new(e)),
    }
}

async fn finish(
    conn: &mut sqlx::PgConnection,
    run_id: i64,
    status: &str,
    members: usize,
    written: usize,
    error: Option<&str>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "update pull_runs set status = $2, members = $3, entries_written = $4, error = $5, finished_at = now() where id = $1",
    )
    .bind(run_id)
    .bind(status)
    .bind(i32::try_from(members).unwrap_or(i32::MAX))
    .bind(i32::try_from(written).unwrap_or(i32::MAX))
    .bind(error)
    .execute(conn)
    .await?;
    Ok(())
}

/// Pulls every active member; returns (members pulled, entries written).
async fn pull(ctx: &JobContext, account: &accounts::Account) -> Result<(usize, usize), SyncError> {
    let api = ctx.account_api(account);
    let overlap = TimeDelta::minutes(i64::from(ctx.settings.pull_overlap_minutes));
    let members = members::active_in_account(&ctx.db, account.id).await?;
    let mut written = 0;
    for member in &members {
        for source in [Source::ZoomMeeting, Source::ZoomCall] {
            let now = Utc::now();
            let watermark: Option<DateTime<Utc>> = sqlx::query_scalar(
                "select watermark from pull_watermarks where member_id = $1 and source = $2",
            )
            .bind(member.id)
            .bind(source.as_str())
            .fetch_optional(&ctx.db)
            .await?;
            // The backfill covered everything up to the opt-in.
            let from = watermark.unwrap_or(member.opted_in_at) - overlap;
            let stats = sync::window(ctx, &api, member, source, from, now, Mode::Touched).await?;
            written += stats.entries_written;
            // Entries up to `now` are committed: the watermark may move there, while the member
            // is still active (a teardown deletes watermarks; this must not bring them back).
            let mut tx = ctx.db.begin().await?;
            if members::lock_if_active(&mut tx, member.id).await? {
                sqlx::query(
                    "insert into pull_watermarks (member_id, source, watermark) values ($1, $2, $3) \
                     on conflict (member_id, source) do update \
                     set watermark = greatest(pull_watermarks.watermark, excluded.watermark), updated_at = now()",
                )
                .bind(member.id)
                .bind(source.as_str())
                .bind(now)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
        }
    }
    Ok((members.len(), written))
}
