//! `TeardownAccount`: the app was removed from the Zoom account (or an operator removed it).
//!
//! One transaction marks the account `removed` and every member `disabled`, cancels their
//! backfills, and deletes the stored tokens and everything derived from Zoom: the synced user
//! directory, the members' Zoom user ids, meeting coverage, pull watermarks and backfill
//! windows. It records the audit entry. Entries already created stay with their users.
//!
//! No entry can commit after that transaction: it takes the member rows and then the account
//! row for update, the same order in which every entry write takes them for share
//! (`store::members::lock_if_active`), so writes in flight finish first and later ones find
//! the account removed. `removed_at` is read after the locks are held, so every entry's
//! `created_at`/`updated_at` is at or before it.
//!
//! After the commit, best effort (failures are logged and audited, never retried for long):
//! the grant is revoked at Zoom with the tokens read (under their row lock, so a concurrent
//! refresh cannot rotate them away) inside the transaction, and, when Zoom's
//! `app_deauthorized` asked for it, Zoom's Data Compliance API is told the data was deleted.
//!
//! Running it again changes nothing and calls Zoom no more: the account is already removed
//! and the tokens are gone; the compliance call is made once per removal.

use apalis::prelude::Data;
use chrono::{DateTime, Utc};
use serde_json::json;
use uuid::Uuid;

use super::{JobContext, TeardownAccount};
use crate::{
    removal::{self, Deauthorization, Revoked},
    store::tokens::{self, LoadError},
    worker::JobError,
    zoom::TokenSet,
};

/// What the transaction found and did.
enum Outcome {
    UnknownAccount,
    /// The account was installed again after the removal was asked for.
    Reinstalled,
    AlreadyRemoved,
    Removed {
        tokens: Option<TokenSet>,
    },
}

#[tracing::instrument(skip_all, fields(account.id = %job.account_id, reason = %job.reason))]
pub async fn run(job: TeardownAccount, ctx: Data<JobContext>) -> Result<(), JobError> {
    match remove(&ctx, &job).await? {
        Outcome::UnknownAccount => {
            tracing::warn!("teardown of an unknown account: nothing to do");
            return Ok(());
        }
        Outcome::Reinstalled => {
            tracing::info!(
                "the account was installed again after its removal was asked for: nothing to do"
            );
            return Ok(());
        }
        Outcome::AlreadyRemoved => tracing::info!("account already removed"),
        Outcome::Removed { tokens } => {
            let revoked = match &tokens {
                Some(tokens) => Some(removal::revoke_grant(&ctx.zoom, tokens).await),
                None => None,
            };
            let outcome = match revoked {
                Some(Revoked::AccessToken) => "revoked_access_token",
                Some(Revoked::RefreshToken) => "revoked_refresh_token",
                Some(Revoked::Failed) => "failed",
                None => "no_tokens",
            };
            let mut conn = ctx.db.acquire().await?;
            audit(
                &mut conn,
                &job.reason,
                job.account_id,
                "account.grant_revocation",
                json!({"outcome": outcome}),
            )
            .await?;
            tracing::info!(revocation = outcome, "account torn down");
        }
    }
    if let Some(event) = job
        .deauthorization
        .as_ref()
        .filter(|e| e.wants_compliance())
    {
        compliance(&ctx, &job, event).await?;
    }
    Ok(())
}

/// The transaction: disable, cancel, delete, audit.
async fn remove(ctx: &JobContext, job: &TeardownAccount) -> Result<Outcome, JobError> {
    let account_id = job.account_id;
    let mut tx = ctx.db.begin().await?;
    // Members first, then the account: the order entry writes lock them in (see above).
    let _members: Vec<Uuid> =
        sqlx::query_scalar("select id from members where account_id = $1 order by id for update")
            .bind(account_id)
            .fetch_all(&mut *tx)
            .await?;
    let account: Option<(String, Option<DateTime<Utc>>)> =
        sqlx::query_as("select status, installed_at from accounts where id = $1 for update")
            .bind(account_id)
            .fetch_optional(&mut *tx)
            .await?;
    let Some((status, installed_at)) = account else {
        return Ok(Outcome::UnknownAccount);
    };
    if job.installed_at.is_some() && job.installed_at != installed_at {
        return Ok(Outcome::Reinstalled);
    }
    if status == "removed" {
        return Ok(Outcome::AlreadyRemoved);
    }
    // Taken with the locks held: every entry committed so far is older.
    let removed_at: DateTime<Utc> = sqlx::query_scalar("select clock_timestamp()")
        .fetch_one(&mut *tx)
        .await?;
    let tokens = match tokens::load(&mut tx, &ctx.token_key, account_id, None, true).await {
        Ok(stored) => stored.map(|s| s.tokens),
        Err(LoadError::Db(e)) => return Err(e.into()),
        Err(LoadError::Crypto(e)) => {
            tracing::warn!(error = %e, "the stored tokens cannot be decrypted: deleting them without revoking");
            None
        }
    };

    sqlx::query(
        "update accounts set status = 'removed', removed_at = $2, updated_at = $2 where id = $1",
    )
    .bind(account_id)
    .bind(removed_at)
    .execute(&mut *tx)
    .await?;
    let members_disabled = sqlx::query(
        "update members set status = 'disabled', zoom_user_id = null, updated_at = $2 \
         where account_id = $1 and (status <> 'disabled' or zoom_user_id is not null)",
    )
    .bind(account_id)
    .bind(removed_at)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    // Backfills before their windows: the order the backfill jobs lock them in.
    let backfills_cancelled = sqlx::query(
        "update backfills set state = 'cancelled', last_error = 'the app was removed from the Zoom account', \
             finished_at = $2, updated_at = $2 \
         where state in ('queued', 'running') and member_id in (select id from members where account_id = $1)",
    )
    .bind(account_id)
    .bind(removed_at)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    sqlx::query(
        "delete from backfill_windows where backfill_id in \
         (select b.id from backfills b join members m on m.id = b.member_id where m.account_id = $1)",
    )
    .bind(account_id)
    .execute(&mut *tx)
    .await?;
    let coverage = sqlx::query("delete from meeting_coverage where account_id = $1")
        .bind(account_id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    sqlx::query(
        "delete from pull_watermarks where member_id in (select id from members where account_id = $1)",
    )
    .bind(account_id)
    .execute(&mut *tx)
    .await?;
    let directory = sqlx::query("delete from zoom_users where account_id = $1")
        .bind(account_id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    let tokens_deleted = sqlx::query("delete from oauth_tokens where account_id = $1")
        .bind(account_id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    let event = job.deauthorization.as_ref();
    sqlx::query(
        "insert into audit_log (at, actor, action, account_id, details) values ($1, $2, 'account.removed', $3, $4)",
    )
    .bind(removed_at)
    .bind(&job.reason)
    .bind(account_id)
    .bind(json!({
        "members_disabled": members_disabled,
        "backfills_cancelled": backfills_cancelled,
        "tokens_deleted": tokens_deleted > 0,
        "directory_rows_deleted": directory,
        "coverage_rows_deleted": coverage,
        "installed_at": installed_at,
        "deauthorized_at": event.and_then(|e| e.deauthorized_at),
        "user_data_retention": event.and_then(|e| e.user_data_retention),
    }))
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    tracing::info!(
        members_disabled,
        backfills_cancelled,
        "account removed; no entry can be written for it any more"
    );
    Ok(Outcome::Removed { tokens })
}

/// Tells Zoom the data is deleted, once per removal (a successful call is audited, and a
/// later run of the job finds it).
async fn compliance(
    ctx: &JobContext,
    job: &TeardownAccount,
    event: &Deauthorization,
) -> Result<(), JobError> {
    let done: bool = sqlx::query_scalar(
        "select exists (select 1 from audit_log l join accounts a on a.id = l.account_id \
         where l.account_id = $1 and l.action = 'account.data_compliance' \
           and (l.details ->> 'completed')::boolean and l.at >= a.removed_at)",
    )
    .bind(job.account_id)
    .fetch_one(&ctx.db)
    .await?;
    if done {
        tracing::info!("Zoom was already told the data is deleted");
        return Ok(());
    }
    let result = removal::notify_data_compliance(&ctx.zoom, event).await;
    let details = match &result {
        Ok(()) => json!({"completed": true}),
        Err(e) => {
            tracing::warn!(error = %e, "could not tell Zoom's Data Compliance API the data is deleted");
            json!({"completed": false, "error": e.to_string()})
        }
    };
    let mut conn = ctx.db.acquire().await?;
    audit(
        &mut conn,
        &job.reason,
        job.account_id,
        "account.data_compliance",
        details,
    )
    .await?;
    if result.is_ok() {
        tracing::info!("Zoom's Data Compliance API told the data is deleted");
    }
    Ok(())
}

async fn audit(
    conn: &mut sqlx::PgConnection,
    actor: &str,
    account_id: Uuid,
    action: &str,
    details: serde_json::Value,
) -> Result<(), sqlx::Error> {
    crate::store::audit::record(conn, actor, action, Some(account_id), None, details).await
}
