//! Install links (only a hash of the link token is stored) and OAuth `state` values (random,
//! single use, short-lived, bound to the link they were started from).

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::json;
use sqlx::{PgConnection, PgPool, Row};
use uuid::Uuid;

use crate::{
    crypto::{random_token, token_hash},
    domain::Domain,
};

/// How long an install link works.
pub const LINK_TTL: TimeDelta = TimeDelta::days(14);
/// How long the admin has between "Continue to Zoom" and the callback.
pub const STATE_TTL: TimeDelta = TimeDelta::minutes(10);

/// A freshly created link; `token` exists only here and in the URL handed to the admin.
#[derive(Debug)]
pub struct NewLink {
    pub id: Uuid,
    pub domain: Domain,
    pub token: String,
    pub expires_at: DateTime<Utc>,
}

#[derive(Clone, Debug)]
pub struct Link {
    pub id: Uuid,
    pub domain: Domain,
    pub expires_at: DateTime<Utc>,
    pub used_at: Option<DateTime<Utc>>,
    pub account_id: Option<Uuid>,
}

impl Link {
    pub fn is_expired(&self, now: DateTime<Utc>) -> bool {
        self.expires_at <= now
    }
}

fn link_from_row(row: &sqlx::postgres::PgRow) -> Result<Link, sqlx::Error> {
    let domain: String = row.try_get("domain")?;
    Ok(Link {
        id: row.try_get("id")?,
        domain: Domain::parse(&domain).map_err(|e| sqlx::Error::Decode(Box::new(e)))?,
        expires_at: row.try_get("expires_at")?,
        used_at: row.try_get("used_at")?,
        account_id: row.try_get("account_id")?,
    })
}

/// Creates a link and its audit entry in one transaction.
pub async fn create_link(
    db: &PgPool,
    domain: &Domain,
    actor: &str,
    now: DateTime<Utc>,
) -> Result<NewLink, sqlx::Error> {
    let token = random_token();
    let expires_at = now + LINK_TTL;
    let mut tx = db.begin().await?;
    let id: Uuid = sqlx::query_scalar(
        "insert into install_links (domain, token_hash, expires_at, created_by) values ($1, $2, $3, $4) returning id",
    )
    .bind(domain.as_str())
    .bind(token_hash(&token))
    .bind(expires_at)
    .bind(actor)
    .fetch_one(&mut *tx)
    .await?;
    super::audit::record(
        &mut tx,
        actor,
        "install_link.created",
        None,
        None,
        json!({"link_id": id, "domain": domain.as_str(), "expires_at": expires_at}),
    )
    .await?;
    tx.commit().await?;
    Ok(NewLink {
        id,
        domain: domain.clone(),
        token,
        expires_at,
    })
}

pub async fn find_link_by_token(db: &PgPool, token: &str) -> Result<Option<Link>, sqlx::Error> {
    sqlx::query("select id, domain, expires_at, used_at, account_id from install_links where token_hash = $1")
        .bind(token_hash(token))
        .fetch_optional(db)
        .await?
        .map(|row| link_from_row(&row))
        .transpose()
}

/// The account currently installed for `domain`, with its status.
pub async fn installed_account_for_domain(
    db: &PgPool,
    domain: &Domain,
) -> Result<Option<(Uuid, String)>, sqlx::Error> {
    sqlx::query_as(
        "select a.id, a.status from accounts a join account_domains d on d.account_id = a.id where d.domain = $1",
    )
    .bind(domain.as_str())
    .fetch_optional(db)
    .await
}

/// Starts an OAuth round trip from `link`: returns the `state` to send to Zoom.
pub async fn create_state(
    db: &PgPool,
    link_id: Uuid,
    now: DateTime<Utc>,
) -> Result<String, sqlx::Error> {
    let state = random_token();
    sqlx::query(
        "insert into oauth_states (state_hash, install_link_id, expires_at) values ($1, $2, $3)",
    )
    .bind(token_hash(&state))
    .bind(link_id)
    .bind(now + STATE_TTL)
    .execute(db)
    .await?;
    // Old states are useless: keep the table small.
    sqlx::query("delete from oauth_states where expires_at < $1 - interval '1 day'")
        .bind(now)
        .execute(db)
        .await?;
    Ok(state)
}

/// Why a `state` was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum StateError {
    #[error("the sign-in request is unknown (it was not started here, or was altered)")]
    Unknown,
    #[error("the sign-in request was already used")]
    Reused,
    #[error("the sign-in request expired")]
    Expired,
}

/// Consumes `state` (single use) inside the caller's transaction; returns its link.
pub async fn consume_state(
    conn: &mut PgConnection,
    state: &str,
    now: DateTime<Utc>,
) -> Result<Result<Link, StateError>, sqlx::Error> {
    let row = sqlx::query(
        "select s.used_at as state_used_at, s.expires_at as state_expires_at, \
                l.id, l.domain, l.expires_at, l.used_at, l.account_id \
         from oauth_states s join install_links l on l.id = s.install_link_id \
         where s.state_hash = $1 for update of s",
    )
    .bind(token_hash(state))
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else {
        return Ok(Err(StateError::Unknown));
    };
    let used: Option<DateTime<Utc>> = row.try_get("state_used_at")?;
    let expires: DateTime<Utc> = row.try_get("state_expires_at")?;
    if used.is_some() {
        return Ok(Err(StateError::Reused));
    }
    if expires <= now {
        return Ok(Err(StateError::Expired));
    }
    sqlx::query("update oauth_states set used_at = $2 where state_hash = $1")
        .bind(token_hash(state))
        .bind(now)
        .execute(&mut *conn)
        .await?;
    Ok(Ok(link_from_row(&row)?))
}

/// Marks the link used by `account_id`.
pub async fn mark_link_used(
    conn: &mut PgConnection,
    link_id: Uuid,
    account_id: Uuid,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "update install_links set used_at = coalesce(used_at, $3), account_id = $2 where id = $1",
    )
    .bind(link_id)
    .bind(account_id)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}
