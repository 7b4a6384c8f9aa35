//! Accounts: one row per Zoom account, reused on reinstall and re-authorisation.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::domain::Domain;

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Account {
    pub id: Uuid,
    pub zoom_account_id: String,
    pub status: String,
    pub api_url: Option<String>,
    pub installed_at: Option<DateTime<Utc>>,
    pub removed_at: Option<DateTime<Utc>>,
    pub last_pull_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
}

const COLUMNS: &str =
    "id, zoom_account_id, status, api_url, installed_at, removed_at, last_pull_at, last_error";

pub async fn get(conn: &mut PgConnection, id: Uuid) -> Result<Option<Account>, sqlx::Error> {
    sqlx::query_as(&format!("select {COLUMNS} from accounts where id = $1"))
        .bind(id)
        .fetch_optional(conn)
        .await
}

pub async fn get_for_update(
    conn: &mut PgConnection,
    id: Uuid,
) -> Result<Option<Account>, sqlx::Error> {
    sqlx::query_as(&format!(
        "select {COLUMNS} from accounts where id = $1 for update"
    ))
    .bind(id)
    .fetch_optional(conn)
    .await
}

pub async fn domains(db: &PgPool, id: Uuid) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar("select domain from account_domains where account_id = $1 order by domain")
        .bind(id)
        .fetch_all(db)
        .await
}

/// The domain is served by another, still installed, Zoom account.
#[derive(Debug, thiserror::Error)]
#[error("{domain} is already installed by another Zoom account")]
pub struct DomainTaken {
    pub domain: String,
}

/// Records a successful authorisation: creates the account or reuses its row (reinstall
/// after removal, re-authorisation after `needs_reauth`), back to `pending` until the
/// onboarding job marks it `active`, and ties `domain` to it.
pub async fn record_installation(
    conn: &mut PgConnection,
    zoom_account_id: &str,
    domain: &Domain,
    installed_by: &str,
    api_url: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Result<Uuid, DomainTaken>, sqlx::Error> {
    let id: Uuid = sqlx::query_scalar(
        "insert into accounts (zoom_account_id, status, api_url, installed_by_zoom_user_id, installed_at) \
         values ($1, 'pending', $2, $3, $4) \
         on conflict (zoom_account_id) do update set status = 'pending', api_url = excluded.api_url, \
             installed_by_zoom_user_id = excluded.installed_by_zoom_user_id, installed_at = excluded.installed_at, \
             removed_at = null, last_error = null, updated_at = now() \
         returning id",
    )
    .bind(zoom_account_id)
    .bind(api_url)
    .bind(installed_by)
    .bind(now)
    .fetch_one(&mut *conn)
    .await?;

    let owner: Option<(Uuid, String)> = sqlx::query_as(
        "select d.account_id, a.status from account_domains d join accounts a on a.id = d.account_id \
         where d.domain = $1 for update of d",
    )
    .bind(domain.as_str())
    .fetch_optional(&mut *conn)
    .await?;
    match owner {
        Some((owner, _)) if owner == id => {}
        Some((_, status)) if status != "removed" => {
            return Ok(Err(DomainTaken {
                domain: domain.to_string(),
            }));
        }
        Some((owner, _)) => {
            // The domain moves from a removed account to the one installing now.
            sqlx::query("update account_domains set account_id = $1, created_at = now() where domain = $2 and account_id = $3")
                .bind(id)
                .bind(domain.as_str())
                .bind(owner)
                .execute(&mut *conn)
                .await?;
        }
        None => {
            sqlx::query("insert into account_domains (account_id, domain) values ($1, $2)")
                .bind(id)
                .bind(domain.as_str())
                .execute(&mut *conn)
                .await?;
        }
    }
    Ok(Ok(id))
}

/// Marks the account `needs_reauth` (its grant is dead) with the reason, unless removed.
pub async fn mark_needs_reauth(db: &PgPool, id: Uuid, reason: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        "update accounts set status = 'needs_reauth', last_error = $2, updated_at = now() \
         where id = $1 and status <> 'removed'",
    )
    .bind(id)
    .bind(reason)
    .execute(db)
    .await?;
    Ok(())
}
