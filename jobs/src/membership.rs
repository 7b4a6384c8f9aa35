//! A Billables user's Zoom membership: status, opt-in (with its backfill) and opt-out. Used by
//! the JSON API and the integrations page alike.

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::json;
use uuid::Uuid;

use crate::{
    domain::Email,
    queue::{EnqueueError, Queues},
    store::{
        audit, install,
        members::{self, Backfill},
    },
    tasks::BackfillMember,
};

#[derive(Debug, thiserror::Error)]
pub enum OptInError {
    #[error(
        "Zoom is not installed for {0} yet: waiting for your IT admin to install the Billables app in Zoom"
    )]
    NotInstalled(String),
    #[error("the Zoom account of your company has no user with the e-mail address {0}")]
    NoZoomUser(String),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
    #[error(transparent)]
    Enqueue(#[from] EnqueueError),
}

/// What `GET /v1/me/zoom` and the integrations page show.
#[derive(Debug, Clone)]
pub struct ZoomStatus {
    /// `waiting_for_admin`, `available`, `active`, `opted_out` or `disabled`.
    pub status: &'static str,
    /// The company's account status (`pending`, `active`, `needs_reauth`, `removed`), if any.
    pub account_status: Option<String>,
    pub backfill: Option<Backfill>,
}

pub async fn status(
    db: &sqlx::PgPool,
    user_id: &str,
    email: &Email,
) -> Result<ZoomStatus, sqlx::Error> {
    let member = members::by_user(db, user_id).await?;
    let company = install::installed_account_for_domain(db, &email.domain()).await?;
    let account_status = match (&member, &company) {
        (Some(m), _) if m.account_id.is_some() => {
            sqlx::query_scalar("select status from accounts where id = $1")
                .bind(m.account_id)
                .fetch_optional(db)
                .await?
        }
        (_, Some((_, status))) => Some(status.clone()),
        _ => None,
    };
    let installed = account_status.as_deref() == Some("active");
    let (status, backfill) = match member {
        Some(m) if m.status == "active" => ("active", members::latest_backfill(db, m.id).await?),
        Some(m) if m.status == "opted_out" => ("opted_out", None),
        Some(m) if m.status == "disabled" && !installed => ("disabled", None),
        _ if installed => ("available", None),
        _ => ("waiting_for_admin", None),
    };
    Ok(ZoomStatus {
        status,
        account_status,
        backfill,
    })
}

/// Opts the user in and starts their backfill; returns the backfill job's id. Opting in while
/// already active starts nothing new and returns the latest backfill's job id.
pub async fn opt_in(
    db: &sqlx::PgPool,
    queues: &Queues,
    user_id: &str,
    email: &Email,
    backfill_days: u32,
    now: DateTime<Utc>,
) -> Result<String, OptInError> {
    let domain = email.domain();
    let Some((account_id, account_status)) =
        install::installed_account_for_domain(db, &domain).await?
    else {
        return Err(OptInError::NotInstalled(domain.to_string()));
    };
    if account_status != "active" {
        return Err(OptInError::NotInstalled(domain.to_string()));
    }
    let zoom_user_id: Option<String> = sqlx::query_scalar(
        "select zoom_user_id from zoom_users where account_id = $1 and lower(email) = $2 order by zoom_user_id limit 1",
    )
    .bind(account_id)
    .bind(email.normalized())
    .fetch_optional(db)
    .await?;
    let Some(zoom_user_id) = zoom_user_id else {
        return Err(OptInError::NoZoomUser(email.as_str().to_owned()));
    };

    let mut tx = db.begin().await?;
    // The status before this opt-in, read (and locked) on its own: a `for update` CTE read in
    // the upsert's RETURNING sees the row the upsert itself just changed, and yields nothing.
    let previous: Option<String> =
        sqlx::query_scalar("select status from members where billables_user_id = $1 for update")
            .bind(user_id)
            .fetch_optional(&mut *tx)
            .await?;
    // Re-check the account under a lock (member, then account: the order teardown and entry
    // writes use): a removal that committed since the first look wins.
    let account_now: Option<String> =
        sqlx::query_scalar("select status from accounts where id = $1 for share")
            .bind(account_id)
            .fetch_optional(&mut *tx)
            .await?;
    if account_now.as_deref() != Some("active") {
        return Err(OptInError::NotInstalled(domain.to_string()));
    }
    let member_id: Uuid = sqlx::query_scalar(
        "insert into members (billables_user_id, email, account_id, zoom_user_id, status, opted_in_at) \
         values ($1, $2, $3, $4, 'active', $5) \
         on conflict (billables_user_id) do update set email = excluded.email, account_id = excluded.account_id, \
             zoom_user_id = excluded.zoom_user_id, status = 'active', \
             opted_in_at = case when members.status = 'active' then members.opted_in_at else excluded.opted_in_at end, \
             opted_out_at = null, updated_at = now() \
         returning id",
    )
    .bind(user_id)
    .bind(email.as_str())
    .bind(account_id)
    .bind(&zoom_user_id)
    .bind(now)
    .fetch_one(&mut *tx)
    .await?;

    // Already active: keep the backfill that ran or runs. A queued or running one also wins
    // when a concurrent first opt-in of the same user created it (at most one per member).
    if let Some(latest) = members::latest_backfill(db, member_id).await?
        && (matches!(latest.state.as_str(), "queued" | "running")
            || (previous.as_deref() == Some("active") && latest.state == "done"))
    {
        tx.commit().await?;
        return Ok(latest.job_id.unwrap_or_default());
    }
    let backfill_id: Uuid = sqlx::query_scalar(
        "insert into backfills (member_id, window_from, window_to) values ($1, $2, $3) returning id",
    )
    .bind(member_id)
    .bind(now - TimeDelta::days(i64::from(backfill_days)))
    .bind(now)
    .fetch_one(&mut *tx)
    .await?;
    audit::record(
        &mut tx,
        &format!("user:{user_id}"),
        "member.opted_in",
        Some(account_id),
        Some(member_id),
        json!({}),
    )
    .await?;
    tx.commit().await?;

    let job_id = match queues
        .enqueue(BackfillMember {
            member_id,
            backfill_id,
        })
        .await
    {
        Ok(id) => id,
        Err(e) => {
            sqlx::query("update backfills set state = 'failed', last_error = $2, finished_at = now() where id = $1")
                .bind(backfill_id)
                .bind("could not be queued")
                .execute(db)
                .await?;
            return Err(e.into());
        }
    };
    sqlx::query("update backfills set job_id = $2 where id = $1")
        .bind(backfill_id)
        .bind(&job_id)
        .execute(db)
        .await?;
    tracing::info!(member.id = %member_id, job.id = %job_id, "member opted in; backfill queued");
    Ok(job_id)
}

/// Opts the user out: no new entries from now on; a running backfill is cancelled. Entries
/// already created stay. Idempotent.
pub async fn opt_out(db: &sqlx::PgPool, user_id: &str) -> Result<(), sqlx::Error> {
    let mut tx = db.begin().await?;
    let member: Option<(Uuid, Option<Uuid>)> = sqlx::query_as(
        "update members set status = 'opted_out', opted_out_at = now(), updated_at = now() \
         where billables_user_id = $1 and status = 'active' returning id, account_id",
    )
    .bind(user_id)
    .fetch_optional(&mut *tx)
    .await?;
    if let Some((member_id, account_id)) = member {
        sqlx::query(
            "update backfills set state = 'cancelled', last_error = 'opted out', finished_at = now(), updated_at = now() \
             where member_id = $1 and state in ('queued', 'running')",
        )
        .bind(member_id)
        .execute(&mut *tx)
        .await?;
        audit::record(
            &mut tx,
            &format!("user:{user_id}"),
            "member.opted_out",
            account_id,
            Some(member_id),
            json!({}),
        )
        .await?;
    }
    tx.commit().await
}
