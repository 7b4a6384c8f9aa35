//! `InstallAccount`: after the admin authorised the app, sync the account's Zoom users (the
//! directory opt-ins are matched against) and mark the account `active`.
//!
//! Safe to run twice: the directory is upserted and pruned to what Zoom lists now, and the
//! status change (with its audit entry) happens once. A removed account is left alone.

use apalis::prelude::Data;
use chrono::Utc;
use futures::TryStreamExt as _;
use serde_json::json;

use super::{InstallAccount, JobContext};
use crate::{
    removal,
    store::{accounts, audit},
    worker::{JobError, permanent},
    zoom::ZoomError,
};

#[tracing::instrument(skip_all, fields(account.id = %job.account_id))]
pub async fn run(job: InstallAccount, ctx: Data<JobContext>) -> Result<(), JobError> {
    let mut conn = ctx.db.acquire().await?;
    let Some(account) = accounts::get(&mut conn, job.account_id).await? else {
        return Err(permanent(format!(
            "account {} does not exist",
            job.account_id
        )));
    };
    drop(conn);
    if account.status == "removed" {
        tracing::info!("account was removed before onboarding ran: nothing to do");
        return Ok(());
    }

    let api = ctx.account_api(&account);
    let started = Utc::now();
    let users: Vec<_> = match api.users().try_collect().await {
        Ok(users) => users,
        Err(e) => {
            // Removed while Zoom was being read (the removal revoked the grant, so this is
            // usually a 401/invalid_grant): nothing left to onboard, and nothing failed.
            let grace = if e.needs_reauth() {
                removal::DEAD_GRANT_GRACE
            } else {
                std::time::Duration::ZERO
            };
            if removal::removed_within(&ctx.db, account.id, grace).await? {
                tracing::info!(error = %e, "account was removed during onboarding: nothing to do");
                return Ok(());
            }
            return Err(zoom_failure(&ctx, account.id, e).await);
        }
    };

    let ids: Vec<String> = users.iter().map(|u| u.id.clone()).collect();
    let emails: Vec<String> = users.iter().map(|u| u.email.clone()).collect();
    let statuses: Vec<String> = users.iter().map(|u| u.status.clone()).collect();

    let mut tx = ctx.db.begin().await?;
    let Some(account) = accounts::get_for_update(&mut tx, job.account_id).await? else {
        return Err(permanent("account vanished during onboarding"));
    };
    if account.status == "removed" {
        tracing::info!("account was removed during onboarding: directory not stored");
        return Ok(());
    }
    sqlx::query(
        "insert into zoom_users (account_id, zoom_user_id, email, status, synced_at) \
         select $1, id, email, status, $5 from unnest($2::text[], $3::text[], $4::text[]) as u(id, email, status) \
         on conflict (account_id, zoom_user_id) do update set email = excluded.email, status = excluded.status, \
             synced_at = excluded.synced_at",
    )
    .bind(account.id)
    .bind(&ids)
    .bind(&emails)
    .bind(&statuses)
    .bind(started)
    .execute(&mut *tx)
    .await?;
    let pruned = sqlx::query("delete from zoom_users where account_id = $1 and synced_at < $2")
        .bind(account.id)
        .bind(started)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    if account.status != "active" {
        sqlx::query("update accounts set status = 'active', last_error = null, updated_at = now() where id = $1")
            .bind(account.id)
            .execute(&mut *tx)
            .await?;
        audit::record(
            &mut tx,
            "job:install_account",
            "account.installed",
            Some(account.id),
            None,
            json!({"zoom_users": users.len(), "installation_id": job.installation_id}),
        )
        .await?;
    }
    tx.commit().await?;
    tracing::info!(users = users.len(), pruned, "account onboarded");
    Ok(())
}

/// Maps a Zoom failure: a dead grant marks the account and stops; others retry.
pub(crate) async fn zoom_failure(
    ctx: &JobContext,
    account_id: uuid::Uuid,
    e: ZoomError,
) -> JobError {
    if e.needs_reauth() {
        if let Err(db) = accounts::mark_needs_reauth(&ctx.db, account_id, &e.to_string()).await {
            return Box::new(db);
        }
        return permanent(format!("account needs re-authorisation: {e}"));
    }
    if e.is_transient() {
        return Box::new(e);
    }
    permanent(e.to_string())
}
