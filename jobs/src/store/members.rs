//! Members: Billables users who opted in to Zoom, and their backfills and watermarks.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Member {
    pub id: Uuid,
    pub billables_user_id: String,
    pub email: String,
    pub account_id: Option<Uuid>,
    pub zoom_user_id: Option<String>,
    pub status: String,
    pub opted_in_at: Option<DateTime<Utc>>,
}

const COLUMNS: &str = "id, billables_user_id, email, account_id, zoom_user_id, status, opted_in_at";

pub async fn by_user(db: &PgPool, billables_user_id: &str) -> Result<Option<Member>, sqlx::Error> {
    sqlx::query_as(&format!(
        "select {COLUMNS} from members where billables_user_id = $1"
    ))
    .bind(billables_user_id)
    .fetch_optional(db)
    .await
}

pub async fn get(db: &PgPool, id: Uuid) -> Result<Option<Member>, sqlx::Error> {
    sqlx::query_as(&format!("select {COLUMNS} from members where id = $1"))
        .bind(id)
        .fetch_optional(db)
        .await
}

/// A member the jobs may work for: active, in an active account, with their Zoom identity.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct ActiveMember {
    pub id: Uuid,
    pub account_id: Uuid,
    pub zoom_user_id: String,
    /// The member's e-mail as Zoom knows it (from the synced directory), if present.
    pub zoom_email: Option<String>,
    pub opted_in_at: DateTime<Utc>,
}

const ACTIVE: &str = "select m.id, m.account_id, m.zoom_user_id, z.email as zoom_email, \
     coalesce(m.opted_in_at, m.created_at) as opted_in_at \
     from members m join accounts a on a.id = m.account_id \
     left join zoom_users z on z.account_id = m.account_id and z.zoom_user_id = m.zoom_user_id \
     where m.status = 'active' and a.status = 'active'";

pub async fn active(db: &PgPool, id: Uuid) -> Result<Option<ActiveMember>, sqlx::Error> {
    sqlx::query_as(&format!("{ACTIVE} and m.id = $1"))
        .bind(id)
        .fetch_optional(db)
        .await
}

pub async fn active_in_account(
    db: &PgPool,
    account_id: Uuid,
) -> Result<Vec<ActiveMember>, sqlx::Error> {
    sqlx::query_as(&format!("{ACTIVE} and m.account_id = $1 order by m.id"))
        .bind(account_id)
        .fetch_all(db)
        .await
}

/// Rule 7: locks the member and account rows (shared) and says whether both are still
/// active. Call inside the transaction that writes entries: a removal or opt-out that
/// committed first wins, and one that comes later waits for this transaction.
pub async fn lock_if_active(conn: &mut PgConnection, member_id: Uuid) -> Result<bool, sqlx::Error> {
    let row: Option<(String, String)> = sqlx::query_as(
        "select m.status, a.status from members m join accounts a on a.id = m.account_id \
         where m.id = $1 for share of m, a",
    )
    .bind(member_id)
    .fetch_optional(conn)
    .await?;
    Ok(matches!(row, Some((m, a)) if m == "active" && a == "active"))
}

/// The newest backfill of a member.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Backfill {
    pub id: Uuid,
    pub member_id: Uuid,
    pub job_id: Option<String>,
    pub state: String,
    pub window_from: DateTime<Utc>,
    pub window_to: DateTime<Utc>,
    pub done: i32,
    pub total: i32,
    pub last_error: Option<String>,
}

pub async fn latest_backfill(
    db: &PgPool,
    member_id: Uuid,
) -> Result<Option<Backfill>, sqlx::Error> {
    sqlx::query_as(
        "select id, member_id, job_id, state, window_from, window_to, done, total, last_error from backfills \
         where member_id = $1 order by created_at desc limit 1",
    )
    .bind(member_id)
    .fetch_optional(db)
    .await
}

pub async fn backfill(db: &PgPool, id: Uuid) -> Result<Option<Backfill>, sqlx::Error> {
    sqlx::query_as(
        "select id, member_id, job_id, state, window_from, window_to, done, total, last_error from backfills where id = $1",
    )
    .bind(id)
    .fetch_optional(db)
    .await
}

/// Ends a queued or running backfill as `failed` or `cancelled` (opt-out, removal), with why.
pub async fn end_backfill(
    db: &PgPool,
    id: Uuid,
    state: &str,
    reason: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "update backfills set state = $2, last_error = $3, finished_at = now(), updated_at = now() \
         where id = $1 and state in ('queued', 'running')",
    )
    .bind(id)
    .bind(state)
    .bind(reason)
    .execute(db)
    .await?;
    Ok(())
}
