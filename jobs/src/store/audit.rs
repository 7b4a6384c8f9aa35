//! The audit log: install, opt-in/out, removal and operator actions. Never secrets.

use serde_json::Value;
use sqlx::PgConnection;
use uuid::Uuid;

pub async fn record(
    conn: &mut PgConnection,
    actor: &str,
    action: &str,
    account_id: Option<Uuid>,
    member_id: Option<Uuid>,
    details: Value,
) -> Result<(), sqlx::Error> {
    sqlx::query("insert into audit_log (actor, action, account_id, member_id, details) values ($1, $2, $3, $4, $5)")
        .bind(actor)
        .bind(action)
        .bind(account_id)
        .bind(member_id)
        .bind(details)
        .execute(conn)
        .await?;
    Ok(())
}
