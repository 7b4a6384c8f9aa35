//! Postgres access: the embedded migrations and the pool. Queries live in one file per
//! table family and take an executor, so callers can compose them into transactions.

pub mod accounts;
pub mod audit;
pub mod billables;
pub mod install;
pub mod members;
pub mod tokens;

use std::time::Duration;

use sqlx::{PgPool, postgres::PgPoolOptions};

/// The migrations under `migrations/`, embedded at compile time.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations");

/// Opens a pool (failing within a few seconds when Postgres is down).
pub async fn connect(database_url: &str, max_connections: u32) -> Result<PgPool, sqlx::Error> {
    PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(5))
        .connect(database_url)
        .await
}

/// Applies pending migrations. Safe to run from several processes at once: sqlx takes an
/// advisory lock.
pub async fn migrate(pool: &PgPool) -> Result<(), sqlx::migrate::MigrateError> {
    MIGRATOR.run(pool).await
}
