//! `TeardownAccount`: the app was removed from the Zoom account (or an operator removed it).
//!
//! One transaction marks the account `removed` and every member `disabled`, so no worker can
//! commit an entry for it afterwards (every billable write re-checks both statuses in its own
//! transaction). The same transaction deletes the stored tokens and the Zoom-derived caches
//! (the synced user directory and pull watermarks) and records the audit entry. Entries already
//! created stay with their users. Running it twice changes nothing the second time.

use apalis::prelude::Data;
use serde_json::json;

use super::{JobContext, TeardownAccount};
use crate::worker::JobError;

#[tracing::instrument(skip_all, fields(account.id = %job.account_id))]
pub async fn run(job: TeardownAccount, ctx: Data<JobContext>) -> Result<(), JobError> {
    let mut tx = ctx.db.begin().await?;
    let status: Option<String> =
        sqlx::query_scalar("select status from accounts where id = $1 for update")
            .bind(job.account_id)
            .fetch_optional(&mut *tx)
            .await?;
    let Some(status) = status else {
        tracing::warn!("teardown of an unknown account: nothing to do");
        return Ok(());
    };
    let already_removed = status == "removed";
    sqlx::query(
        "update accounts set status = 'removed', removed_at = coalesce(removed_at, now()), updated_at = now() \
         where id = $1",
    )
    .bind(job.account_id)
    .execute(&mut *tx)
    .await?;
    let disabled = sqlx::query(
        "update members set status = 'disabled', updated_at = now() where account_id = $1 and status <> 'disabled'",
    )
    .bind(job.account_id)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    sqlx::query("update backfills set state = 'cancelled', updated_at = now(), finished_at = now() \
                 where state in ('queued', 'running') and member_id in (select id from members where account_id = $1)")
        .bind(job.account_id)
        .execute(&mut *tx)
        .await?;
    let tokens = sqlx::query("delete from oauth_tokens where account_id = $1")
        .bind(job.account_id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    let directory = sqlx::query("delete from zoom_users where account_id = $1")
        .bind(job.account_id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    sqlx::query("delete from pull_watermarks where member_id in (select id from members where account_id = $1)")
        .bind(job.account_id)
        .execute(&mut *tx)
        .await?;
    if !already_removed || disabled > 0 || tokens > 0 || directory > 0 {
        sqlx::query("insert into audit_log (actor, action, account_id, details) values ($1, 'account.removed', $2, $3)")
            .bind(&job.reason)
            .bind(job.account_id)
            .bind(json!({"members_disabled": disabled, "tokens_deleted": tokens > 0, "directory_rows_deleted": directory}))
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    tracing::info!(
        members_disabled = disabled,
        already_removed,
        "account torn down"
    );
    Ok(())
}
