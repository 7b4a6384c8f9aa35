//! The binary as an operator runs it: `--help`, configuration errors, `migrate`, `dev-token`,
//! and `all` serving until SIGTERM.

mod common;

use std::{
    process::{Command, Stdio},
    time::Duration,
};

use base64::Engine as _;
use sqlx::PgPool;

const BIN: &str = env!("CARGO_BIN_EXE_billables-zoom");

/// The binary with a clean environment, run from an empty directory (no `.env`).
fn bin(dir: &tempfile::TempDir) -> Command {
    let mut command = Command::new(BIN);
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .current_dir(dir.path());
    command
}

fn full_env(command: &mut Command, database_url: &str, prefix: &str, bind: &str) {
    command
        .env("DATABASE_URL", database_url)
        .env("REDIS_URL", common::redis_url())
        .env("REDIS_KEY_PREFIX", prefix)
        .env("BIND_ADDR", bind)
        .env("ZOOM_CLIENT_ID", "id")
        .env("ZOOM_CLIENT_SECRET", "secret")
        .env("ZOOM_WEBHOOK_SECRET_TOKEN", "whsecret")
        .env(
            "TOKEN_ENCRYPTION_KEY",
            base64::engine::general_purpose::STANDARD.encode([9u8; 32]),
        )
        .env("ADMIN_API_TOKEN", common::ADMIN_TOKEN)
        .env("USER_JWT_SECRET", common::JWT_SECRET);
}

#[test]
fn help_lists_every_subcommand() {
    let dir = tempfile::tempdir().expect("dir");
    let output = bin(&dir).arg("--help").output().expect("runs");
    assert!(output.status.success());
    let text = String::from_utf8_lossy(&output.stdout);
    for sub in ["serve", "worker", "all", "migrate", "dev-token"] {
        assert!(text.contains(sub), "--help does not list {sub}:\n{text}");
    }
}

#[test]
fn missing_client_id_is_one_line_and_exit_code_2() {
    let dir = tempfile::tempdir().expect("dir");
    for role in ["serve", "worker", "all"] {
        let output = bin(&dir).arg(role).output().expect("runs");
        assert_eq!(output.status.code(), Some(2), "{role}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(stderr.trim_end().lines().count(), 1, "{role}: {stderr}");
        assert!(stderr.contains("ZOOM_CLIENT_ID"), "{role}: {stderr}");
    }
}

#[test]
fn malformed_variable_is_named_with_exit_code_2() {
    let dir = tempfile::tempdir().expect("dir");
    let mut command = bin(&dir);
    full_env(
        &mut command,
        "postgres://root@127.0.0.1:5432/x",
        "p",
        "127.0.0.1:0",
    );
    command.env("BACKFILL_DAYS", "lots");
    let output = command.arg("serve").output().expect("runs");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("BACKFILL_DAYS"), "{stderr}");
}

#[test]
fn dev_token_is_a_valid_user_jwt() {
    let dir = tempfile::tempdir().expect("dir");
    let output = bin(&dir)
        .env("USER_JWT_SECRET", common::JWT_SECRET)
        .args(["dev-token", "--email", "Ann@Acme.test"])
        .output()
        .expect("runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let token = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
    validation.validate_aud = false;
    let data = jsonwebtoken::decode::<serde_json::Value>(
        &token,
        &jsonwebtoken::DecodingKey::from_secret(common::JWT_SECRET.as_bytes()),
        &validation,
    )
    .expect("verifies with the secret");
    assert_eq!(data.claims["email"], "Ann@Acme.test");
    assert!(data.claims["sub"].as_str().is_some_and(|s| !s.is_empty()));

    let missing = bin(&dir)
        .args(["dev-token", "--email", "a@b.c"])
        .output()
        .expect("runs");
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("USER_JWT_SECRET"));
}

fn database_url_of(db: &PgPool) -> String {
    let base = std::env::var("DATABASE_URL").expect("DATABASE_URL is set for tests");
    let name = db
        .connect_options()
        .get_database()
        .expect("test database name")
        .to_owned();
    let (server, _) = base.rsplit_once('/').expect("URL with a database");
    format!("{server}/{name}")
}

#[tokio::test]
async fn migrate_creates_the_schema_and_is_idempotent() {
    let (db, _db) = common::db::empty().await;
    let dir = tempfile::tempdir().expect("dir");
    let url = database_url_of(&db);
    for _ in 0..2 {
        let output = bin(&dir)
            .env("DATABASE_URL", &url)
            .arg("migrate")
            .output()
            .expect("runs");
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let tables: Vec<String> = sqlx::query_scalar(
        "select table_name::text from information_schema.tables where table_schema = 'public' order by 1",
    )
    .fetch_all(&db)
    .await
    .expect("tables");
    for table in [
        "accounts",
        "account_domains",
        "install_links",
        "oauth_states",
        "oauth_tokens",
        "zoom_users",
        "members",
        "pull_watermarks",
        "backfills",
        "billables",
        "audit_log",
    ] {
        assert!(
            tables.iter().any(|t| t == table),
            "missing table {table}: {tables:?}"
        );
    }
}

#[tokio::test]
async fn all_serves_then_stops_on_sigterm() {
    let (db, _db) = common::db::empty().await;
    let dir = tempfile::tempdir().expect("dir");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("port")
        .local_addr()
        .expect("addr")
        .port();
    let prefix = common::unique_prefix();
    let mut command = bin(&dir);
    full_env(
        &mut command,
        &database_url_of(&db),
        &prefix,
        &format!("127.0.0.1:{port}"),
    );
    let mut child = command
        .arg("all")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starts");

    let http = reqwest::Client::new();
    let url = format!("http://127.0.0.1:{port}/readyz");
    let ready = common::eventually(Duration::from_secs(30), || async {
        let status = http.get(&url).send().await.ok()?.status();
        (status == 200).then_some(())
    })
    .await;
    assert!(ready.is_some(), "the service did not become ready");

    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill")
            .success()
    );
    let status = common::eventually(Duration::from_secs(20), || {
        let status = child.try_wait().expect("wait");
        async move { status }
    })
    .await
    .expect("exited within 20 s of SIGTERM");
    assert!(status.success(), "exit status {status:?}");
    common::delete_prefix(&prefix).await;
}
