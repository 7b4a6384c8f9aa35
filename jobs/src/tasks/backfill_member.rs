//! `BackfillMember`: plans a member's backfill after opt-in.
//!
//! The window (`BACKFILL_DAYS` back from opt-in) is split per source into windows of at most
//! [`WINDOW_DAYS`] days, each its own `BackfillWindow` job: one member's long history is
//! spread over many short jobs that interleave with everyone else's, and the number of queued
//! jobs stays bounded (per member and window, never per meeting). Progress is the number of
//! windows done. Planning twice plans the same windows and enqueues nothing twice.

use apalis::prelude::Data;
use chrono::TimeDelta;

use super::{BackfillMember, BackfillWindow, JobContext};
use crate::{
    billables::Source,
    queue::{Job, PushOptions},
    store::members,
    worker::{JobError, permanent},
};

/// The longest window one `BackfillWindow` job covers.
pub const WINDOW_DAYS: i64 = 7;

#[tracing::instrument(skip_all, fields(member.id = %job.member_id, backfill.id = %job.backfill_id))]
pub async fn run(job: BackfillMember, ctx: Data<JobContext>) -> Result<(), JobError> {
    let Some(backfill) = members::backfill(&ctx.db, job.backfill_id).await? else {
        return Err(permanent(format!(
            "backfill {} does not exist",
            job.backfill_id
        )));
    };
    if !matches!(backfill.state.as_str(), "queued" | "running") {
        tracing::info!(state = %backfill.state, "backfill already finished");
        return Ok(());
    }
    if members::active(&ctx.db, job.member_id).await?.is_none() {
        members::end_backfill(
            &ctx.db,
            job.backfill_id,
            "cancelled",
            "the member or account is no longer active",
        )
        .await?;
        return Ok(());
    }

    let mut windows = Vec::new();
    for source in [Source::ZoomMeeting, Source::ZoomCall] {
        let mut from = backfill.window_from;
        while from < backfill.window_to {
            let to = (from + TimeDelta::days(WINDOW_DAYS)).min(backfill.window_to);
            windows.push((source, from, to));
            from = to;
        }
    }
    let mut tx = ctx.db.begin().await?;
    // The backfill before its windows (the order a removal locks them in), and only while it
    // may still run: a removal that committed first leaves no windows behind.
    let state: Option<String> =
        sqlx::query_scalar("select state from backfills where id = $1 for no key update")
            .bind(job.backfill_id)
            .fetch_optional(&mut *tx)
            .await?;
    if !matches!(state.as_deref(), Some("queued" | "running")) {
        tracing::info!(state = ?state, "backfill ended before it was planned");
        return Ok(());
    }
    for (window_no, (source, from, to)) in windows.iter().enumerate() {
        sqlx::query(
            "insert into backfill_windows (backfill_id, window_no, source, window_from, window_to) \
             values ($1, $2, $3, $4, $5) on conflict do nothing",
        )
        .bind(job.backfill_id)
        .bind(i32::try_from(window_no).unwrap_or(i32::MAX))
        .bind(source.as_str())
        .bind(from)
        .bind(to)
        .execute(&mut *tx)
        .await?;
    }
    let total = i32::try_from(windows.len()).unwrap_or(i32::MAX);
    sqlx::query(
        "update backfills set state = 'running', total = $2, updated_at = now() \
         where id = $1 and state in ('queued', 'running')",
    )
    .bind(job.backfill_id)
    .bind(total)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;

    let pending: Vec<i32> =
        sqlx::query_scalar("select window_no from backfill_windows where backfill_id = $1 and done_at is null order by window_no")
            .bind(job.backfill_id)
            .fetch_all(&ctx.db)
            .await?;
    for window_no in &pending {
        let window = BackfillWindow {
            backfill_id: job.backfill_id,
            member_id: job.member_id,
            window_no: *window_no,
        };
        let key = window.idempotency_key();
        ctx.queues
            .push(
                window,
                PushOptions {
                    idempotency_key: key,
                    delay: None,
                },
            )
            .await?;
    }
    tracing::info!(windows = total, queued = pending.len(), "backfill planned");
    Ok(())
}
