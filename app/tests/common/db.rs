//! A database of its own for each test, named `bzt_{ulid}` so that any number of test runs
//! (of the same tests, at the same time) never share one. `#[sqlx::test]` names databases
//! after the test's path, so two concurrent runs of the suite would drop each other's.
//! The database is dropped when the guard goes out of scope (also when the test panics);
//! databases a killed run left behind are dropped by later runs after six hours.

use std::time::Duration;

use sqlx::{Connection as _, PgConnection, PgPool, postgres::PgPoolOptions};

/// Drops the test's database when dropped.
pub struct TestDb {
    name: String,
    server: String,
}

fn server_url() -> String {
    let url = std::env::var("DATABASE_URL")
        .expect("DATABASE_URL is set for tests (see .cargo/config.toml)");
    let (server, _) = url.rsplit_once('/').expect("DATABASE_URL names a database");
    server.to_owned()
}

async fn admin(server: &str) -> PgConnection {
    PgConnection::connect(&format!("{server}/postgres"))
        .await
        .expect("connect to the postgres database")
}

/// Drops `bzt_` databases older than six hours (runs that were killed).
async fn drop_stale(conn: &mut PgConnection) {
    let names: Vec<String> =
        sqlx::query_scalar("select datname from pg_database where datname like 'bzt\\_%'")
            .fetch_all(&mut *conn)
            .await
            .unwrap_or_default();
    let cutoff = std::time::SystemTime::now() - Duration::from_secs(6 * 3600);
    for name in names {
        let created = ulid::Ulid::from_string(&name["bzt_".len()..].to_uppercase())
            .ok()
            .map(|u| u.datetime());
        if created.is_some_and(|t| t < cutoff) {
            let _ = sqlx::query(&format!("drop database if exists \"{name}\" with (force)"))
                .execute(&mut *conn)
                .await;
        }
    }
}

async fn create(migrate: bool) -> (PgPool, TestDb) {
    let server = server_url();
    let name = format!("bzt_{}", ulid::Ulid::generate().to_string().to_lowercase());
    let mut conn = admin(&server).await;
    drop_stale(&mut conn).await;
    sqlx::query(&format!("create database \"{name}\""))
        .execute(&mut conn)
        .await
        .expect("create the test database");
    conn.close().await.ok();
    let pool = PgPoolOptions::new()
        .max_connections(10)
        .acquire_timeout(Duration::from_secs(30))
        .connect(&format!("{server}/{name}"))
        .await
        .expect("connect to the test database");
    if migrate {
        jobs::store::MIGRATOR
            .run(&pool)
            .await
            .expect("migrate the test database");
    }
    (pool, TestDb { name, server })
}

/// A fresh database with every migration applied.
pub async fn migrated() -> (PgPool, TestDb) {
    create(true).await
}

/// A fresh, empty database.
pub async fn empty() -> (PgPool, TestDb) {
    create(false).await
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let (name, server) = (self.name.clone(), self.server.clone());
        // Drop runs outside any runtime we may block: use a thread with its own.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async move {
                let mut conn = admin(&server).await;
                let _ = sqlx::query(&format!("drop database if exists \"{name}\" with (force)"))
                    .execute(&mut conn)
                    .await;
            });
        })
        .join();
    }
}
