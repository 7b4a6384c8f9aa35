//! Billable entries: idempotent upserts that respect the user's edits (rule 8), and the
//! user's own listing and edits.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::billables::Entry;

/// Inserts or refreshes `entry` for the member. Never overwrites an entry the user edited or
/// dismissed, never resurrects a dismissed one, never duplicates. Returns whether a row was
/// written. The caller holds the transaction in which it checked the member is active.
pub async fn upsert(
    conn: &mut PgConnection,
    member_id: Uuid,
    entry: &Entry,
) -> Result<bool, sqlx::Error> {
    let written = sqlx::query(
        "insert into billables (member_id, source, external_id, title, started_at, ended_at, duration_seconds, \
             billed_minutes, participant_count) \
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
         on conflict (member_id, source, external_id) do update set title = excluded.title, \
             started_at = excluded.started_at, ended_at = excluded.ended_at, \
             duration_seconds = excluded.duration_seconds, billed_minutes = excluded.billed_minutes, \
             participant_count = excluded.participant_count, updated_at = now() \
         where not billables.user_edited and not billables.dismissed \
           and (billables.duration_seconds, billables.started_at, billables.ended_at, billables.title) \
               is distinct from (excluded.duration_seconds, excluded.started_at, excluded.ended_at, excluded.title)",
    )
    .bind(member_id)
    .bind(entry.source.as_str())
    .bind(&entry.external_id)
    .bind(&entry.title)
    .bind(entry.started_at)
    .bind(entry.ended_at)
    .bind(i32::try_from(entry.duration_seconds).unwrap_or(i32::MAX))
    .bind(i32::try_from(entry.billed_minutes).unwrap_or(i32::MAX))
    .bind(entry.participant_count.map(|c| i32::try_from(c).unwrap_or(i32::MAX)))
    .execute(conn)
    .await?
    .rows_affected();
    Ok(written > 0)
}

/// An entry as the user sees it.
#[derive(Clone, Debug, sqlx::FromRow, serde::Serialize)]
pub struct Billable {
    pub id: Uuid,
    pub source: String,
    pub external_id: String,
    pub title: String,
    pub started_at: DateTime<Utc>,
    pub ended_at: DateTime<Utc>,
    pub duration_seconds: i32,
    pub billed_minutes: i32,
    pub user_edited: bool,
    pub dismissed: bool,
}

const COLUMNS: &str = "b.id, b.source, b.external_id, b.title, b.started_at, b.ended_at, b.duration_seconds, b.billed_minutes, b.user_edited, b.dismissed";

/// A page of the user's entries, newest first; `after` is the last (started_at, id) seen.
pub async fn list_for_user(
    conn: &mut PgConnection,
    billables_user_id: &str,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    after: Option<(DateTime<Utc>, Uuid)>,
    limit: i64,
) -> Result<Vec<Billable>, sqlx::Error> {
    sqlx::query_as(&format!(
        "select {COLUMNS} from billables b join members m on m.id = b.member_id \
         where m.billables_user_id = $1 \
           and ($2::timestamptz is null or b.started_at >= $2) \
           and ($3::timestamptz is null or b.started_at < $3) \
           and ($4::timestamptz is null or (b.started_at, b.id) < ($4, $5)) \
         order by b.started_at desc, b.id desc limit $6"
    ))
    .bind(billables_user_id)
    .bind(from)
    .bind(to)
    .bind(after.map(|a| a.0))
    .bind(after.map(|a| a.1))
    .bind(limit)
    .fetch_all(conn)
    .await
}

/// What a user may change on their own entry.
#[derive(Clone, Debug, Default)]
pub struct Edit {
    pub title: Option<String>,
    pub billed_minutes: Option<i32>,
    pub dismissed: Option<bool>,
}

/// Applies `edit` to the user's own entry; `None` when it is not theirs (or does not exist).
pub async fn edit_for_user(
    conn: &mut PgConnection,
    billables_user_id: &str,
    id: Uuid,
    edit: &Edit,
) -> Result<Option<Billable>, sqlx::Error> {
    let edited = edit.title.is_some() || edit.billed_minutes.is_some();
    sqlx::query_as(&format!(
        "update billables b set title = coalesce($3, b.title), billed_minutes = coalesce($4, b.billed_minutes), \
             dismissed = coalesce($5, b.dismissed), user_edited = b.user_edited or $6, updated_at = now() \
         from members m where m.id = b.member_id and m.billables_user_id = $1 and b.id = $2 \
         returning {COLUMNS}"
    ))
    .bind(billables_user_id)
    .bind(id)
    .bind(&edit.title)
    .bind(edit.billed_minutes)
    .bind(edit.dismissed)
    .bind(edited)
    .fetch_optional(conn)
    .await
}
