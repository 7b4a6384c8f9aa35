//! `BackfillWindow`: one source and one window of a member's backfill. Writes the entries,
//! then marks the window done and recounts the backfill's progress, once, even if the job
//! runs twice.

use std::time::Duration;

use apalis::prelude::Data;
use chrono::{DateTime, Utc};

use super::{BackfillWindow, JobContext, install_account::zoom_failure};
use crate::{
    billables::Source,
    removal,
    store::{accounts, members},
    sync::{self, SyncError},
    worker::{JobError, permanent},
};

#[derive(sqlx::FromRow)]
struct Window {
    source: String,
    window_from: DateTime<Utc>,
    window_to: DateTime<Utc>,
    done_at: Option<DateTime<Utc>>,
}

#[tracing::instrument(skip_all, fields(member.id = %job.member_id, backfill.id = %job.backfill_id, window = job.window_no))]
pub async fn run(job: BackfillWindow, ctx: Data<JobContext>) -> Result<(), JobError> {
    let Some(backfill) = members::backfill(&ctx.db, job.backfill_id).await? else {
        return Err(permanent(format!(
            "backfill {} does not exist",
            job.backfill_id
        )));
    };
    if backfill.state != "running" {
        return Ok(());
    }
    let window: Option<Window> = sqlx::query_as(
        "select source, window_from, window_to, done_at from backfill_windows where backfill_id = $1 and window_no = $2",
    )
    .bind(job.backfill_id)
    .bind(job.window_no)
    .fetch_optional(&ctx.db)
    .await?;
    let Some(window) = window else {
        // A removal deletes the windows of the backfills it cancels.
        if no_longer_wanted(&ctx, job.member_id, Duration::ZERO).await? {
            return Ok(());
        }
        return Err(permanent("backfill window does not exist"));
    };
    if window.done_at.is_some() {
        return Ok(());
    }
    let Some(member) = members::active(&ctx.db, job.member_id).await? else {
        members::end_backfill(
            &ctx.db,
            job.backfill_id,
            "cancelled",
            "the member or account is no longer active",
        )
        .await?;
        return Ok(());
    };
    let mut conn = ctx.db.acquire().await?;
    let Some(account) = accounts::get(&mut conn, member.account_id).await? else {
        return Err(permanent("account vanished"));
    };
    drop(conn);
    let api = ctx.account_api(&account);

    let source = if window.source == Source::ZoomCall.as_str() {
        Source::ZoomCall
    } else {
        Source::ZoomMeeting
    };
    let result = sync::window(
        &ctx,
        &api,
        &member,
        source,
        window.window_from,
        window.window_to,
        sync::Mode::Started,
    )
    .await;
    let result = match result {
        // Removal or opt-out while Zoom was being read (a removal also revokes the grant, so
        // this is often a 401/invalid_grant): the window ends quietly, the backfill cancelled.
        Err(e) if no_longer_wanted(&ctx, job.member_id, grace_for(&e)).await? => {
            tracing::info!(error = %e, "the member or account is no longer active: window abandoned");
            members::end_backfill(
                &ctx.db,
                job.backfill_id,
                "cancelled",
                "the member or account is no longer active",
            )
            .await?;
            return Ok(());
        }
        other => other,
    };
    let stats = match result {
        Ok(stats) => stats,
        Err(SyncError::Zoom(e)) => {
            let error = zoom_failure(&ctx, account.id, e).await;
            if error
                .downcast_ref::<apalis::prelude::AbortError>()
                .is_some()
            {
                members::end_backfill(&ctx.db, job.backfill_id, "failed", &error.to_string())
                    .await?;
            }
            return Err(error);
        }
        Err(e) => return Err(Box::new(e)),
    };

    let mut tx = ctx.db.begin().await?;
    // The backfill before its window: the order a removal locks them in (no deadlock).
    sqlx::query("select 1 from backfills where id = $1 for no key update")
        .bind(job.backfill_id)
        .execute(&mut *tx)
        .await?;
    sqlx::query("update backfill_windows set done_at = now() where backfill_id = $1 and window_no = $2 and done_at is null")
        .bind(job.backfill_id)
        .bind(job.window_no)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "update backfills b set done = w.done, updated_at = now(), \
             state = case when w.done >= b.total then 'done' else b.state end, \
             finished_at = case when w.done >= b.total then now() else b.finished_at end \
         from (select count(*)::int as done from backfill_windows where backfill_id = $1 and done_at is not null) w \
         where b.id = $1 and b.state = 'running'",
    )
    .bind(job.backfill_id)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    tracing::info!(
        meetings = stats.meetings_seen,
        fetches = stats.participant_fetches,
        written = stats.entries_written,
        "backfill window done"
    );
    Ok(())
}

/// How long a failed window waits for a removal to show up before it counts as failed: a
/// dead grant is usually the removal's revocation, with the webhook a moment behind.
fn grace_for(e: &SyncError) -> Duration {
    match e {
        SyncError::Zoom(e) if e.needs_reauth() => removal::DEAD_GRANT_GRACE,
        _ => Duration::ZERO,
    }
}

/// Whether the member opted out or the account was removed since the job was queued, or is
/// within `grace` (a `needs_reauth` account is not this: its backfill fails visibly).
async fn no_longer_wanted(
    ctx: &JobContext,
    member_id: uuid::Uuid,
    grace: Duration,
) -> Result<bool, sqlx::Error> {
    let deadline = tokio::time::Instant::now() + grace;
    loop {
        let row: Option<(String, Option<String>)> = sqlx::query_as(
            "select m.status, a.status from members m left join accounts a on a.id = m.account_id where m.id = $1",
        )
        .bind(member_id)
        .fetch_optional(&ctx.db)
        .await?;
        let gone = match row {
            Some((member, account)) => {
                member != "active" || account.as_deref().is_none_or(|a| a == "removed")
            }
            None => true,
        };
        if gone || tokio::time::Instant::now() >= deadline {
            return Ok(gone);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
