//! Tokens at rest and in flight: single-flight refresh across workers, and no token string
//! anywhere in a database dump or the logs.

mod common;

use std::{process::Stdio, time::Duration};

use common::{eventually, install_company, sim_company, spawn_with_sim};
use jobs::{
    store::tokens::{DbTokenSource, load},
    zoom::TokenSource,
};
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

async fn active_account(db: &PgPool) -> Uuid {
    eventually(Duration::from_secs(30), || async {
        sqlx::query_scalar("select id from accounts where status = 'active'")
            .fetch_optional(db)
            .await
            .ok()?
    })
    .await
    .expect("the account became active")
}

#[tokio::test]
async fn two_workers_refreshing_at_once_cause_exactly_one_refresh() {
    let (db, _db) = common::db::migrated().await;
    let (app, sim) = spawn_with_sim(db.clone(), true).await;
    sim_company(
        &app.http,
        &sim,
        json!({"domain": "acme.test", "users": 3, "days": 1}),
    )
    .await;
    let account = install_company(&app, "acme.test").await;
    let before: Value = app
        .http
        .get(format!("{}/_sim/counters", sim.base_url()))
        .send()
        .await
        .expect("c")
        .json()
        .await
        .expect("j");

    // The stored token is about to expire: every caller wants a refresh.
    sqlx::query(
        "update oauth_tokens set expires_at = now() + interval '20 seconds' where account_id = $1",
    )
    .bind(account)
    .execute(&db)
    .await
    .expect("x");
    let mut conn = db.acquire().await.expect("conn");
    let old = load(&mut conn, &app.config.token_key, account, None, false)
        .await
        .expect("load")
        .expect("stored");
    drop(conn);

    // Two "worker processes": separate clients, separate connection pools to the same database.
    let mut sources = Vec::new();
    for _ in 0..2 {
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(4)
            .connect_with((*db.connect_options()).clone())
            .await
            .expect("pool");
        let redis = app::startup::redis_manager(&app.config.redis_url).expect("redis");
        let client = app::startup::zoom_client(&app.config, &redis).expect("client");
        sources.push(DbTokenSource::new(
            pool,
            app.config.token_key.clone(),
            client,
            account,
            None,
        ));
    }
    let calls = (0..8).map(|i| {
        let source = sources[i % 2].clone();
        async move {
            source
                .access_token()
                .await
                .expect("token")
                .token
                .expose_secret()
                .to_owned()
        }
    });
    let tokens = futures::future::join_all(calls).await;
    assert!(
        tokens.iter().all(|t| t == &tokens[0]),
        "every caller got the same fresh token"
    );
    assert_ne!(
        tokens[0],
        old.tokens.access_token.expose_secret(),
        "the token was refreshed"
    );

    let after: Value = app
        .http
        .get(format!("{}/_sim/counters", sim.base_url()))
        .send()
        .await
        .expect("c")
        .json()
        .await
        .expect("j");
    let refreshes =
        after["refreshes"].as_i64().expect("n") - before["refreshes"].as_i64().expect("n");
    assert_eq!(refreshes, 1, "exactly one refresh reached Zoom");
    let generation: i64 =
        sqlx::query_scalar("select generation from oauth_tokens where account_id = $1")
            .bind(account)
            .fetch_one(&db)
            .await
            .expect("generation");
    assert_eq!(
        generation,
        old.generation + 1,
        "the rotated refresh token was stored once"
    );
    app.stop().await;
}

#[tokio::test]
async fn token_strings_appear_nowhere_in_a_dump_or_the_logs() {
    let (db, _db) = common::db::migrated().await;
    let sim = zoom_sim::spawn(zoom_sim::SimConfig::default())
        .await
        .expect("sim");
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("http");
    sim_company(
        &http,
        &sim,
        json!({"domain": "acme.test", "users": 5, "days": 1}),
    )
    .await;

    // The real binary, logging at debug level to a file.
    let dir = tempfile::tempdir().expect("dir");
    let log_path = dir.path().join("service.log");
    let log = std::fs::File::create(&log_path).expect("log file");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("port")
        .local_addr()
        .expect("addr")
        .port();
    let base = format!("http://127.0.0.1:{port}");
    let database_url = {
        let server = std::env::var("DATABASE_URL").expect("DATABASE_URL");
        let (server, _) = server.rsplit_once('/').expect("url");
        format!(
            "{server}/{}",
            db.connect_options().get_database().expect("name")
        )
    };
    let prefix = common::unique_prefix();
    let key = {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode([5u8; 32])
    };
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_billables-zoom"))
        .arg("all")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .current_dir(dir.path())
        .env("RUST_LOG", "debug")
        .env("DATABASE_URL", &database_url)
        .env("REDIS_URL", common::redis_url())
        .env("REDIS_KEY_PREFIX", &prefix)
        .env("BIND_ADDR", format!("127.0.0.1:{port}"))
        .env("PUBLIC_BASE_URL", &base)
        .env("ZOOM_CLIENT_ID", "sim-client-id")
        .env("ZOOM_CLIENT_SECRET", "sim-client-secret")
        .env("ZOOM_WEBHOOK_SECRET_TOKEN", common::WEBHOOK_SECRET)
        .env("ZOOM_OAUTH_BASE_URL", sim.base_url())
        .env("TOKEN_ENCRYPTION_KEY", &key)
        .env("ADMIN_API_TOKEN", common::ADMIN_TOKEN)
        .env("USER_JWT_SECRET", common::JWT_SECRET)
        .stdout(log.try_clone().expect("log"))
        .stderr(log)
        .spawn()
        .expect("service starts");
    let ready = eventually(Duration::from_secs(30), || async {
        (http
            .get(format!("{base}/readyz"))
            .send()
            .await
            .ok()?
            .status()
            == 200)
            .then_some(())
    })
    .await;
    assert!(ready.is_some(), "service ready");

    let link: Value = http
        .post(format!("{base}/v1/admin/install-links"))
        .bearer_auth(common::ADMIN_TOKEN)
        .json(&json!({"domain": "acme.test"}))
        .send()
        .await
        .expect("link")
        .json()
        .await
        .expect("json");
    let url = link["url"].as_str().expect("url");
    let token = url.rsplit('/').next().expect("token").to_owned();
    let to_zoom = http
        .get(format!("{base}/install/{token}/authorize"))
        .send()
        .await
        .expect("continue");
    let authorize = to_zoom.headers()["location"]
        .to_str()
        .expect("location")
        .to_owned();
    let back = http.get(&authorize).send().await.expect("authorize");
    let callback = back.headers()["location"]
        .to_str()
        .expect("location")
        .to_owned();
    assert_eq!(
        http.get(&callback).send().await.expect("callback").status(),
        200
    );
    let account = active_account(&db).await;

    let _ = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = eventually(Duration::from_secs(15), || {
        let done = child.try_wait().ok().flatten();
        async move { done }
    })
    .await;
    let _ = child.kill();

    let key = jobs::crypto::TokenKey::from_bytes(&[5u8; 32]).expect("key");
    let mut conn = db.acquire().await.expect("conn");
    let stored = load(&mut conn, &key, account, None, false)
        .await
        .expect("load")
        .expect("stored");
    let secrets = [
        stored.tokens.access_token.expose_secret().to_owned(),
        stored.tokens.refresh_token.expose_secret().to_owned(),
        "sim-client-secret".to_owned(),
        token.clone(),
    ];

    let dump = std::process::Command::new("pg_dump")
        .arg("--data-only")
        .arg(&database_url)
        .stderr(Stdio::inherit())
        .output()
        .expect("pg_dump runs");
    assert!(dump.status.success());
    let dump = String::from_utf8_lossy(&dump.stdout);
    assert!(dump.contains("acme.test"), "the dump has the data");
    let logs = std::fs::read_to_string(&log_path).expect("logs");
    assert!(
        logs.contains("account onboarded"),
        "the logs cover the install:\n{logs}"
    );
    for (i, secret) in secrets.iter().enumerate() {
        assert!(!secret.is_empty());
        assert!(
            !dump.contains(secret.as_str()),
            "secret #{i} is in the database dump"
        );
        assert!(
            !logs.contains(secret.as_str()),
            "secret #{i} is in the logs"
        );
    }
    common::delete_prefix(&prefix).await;
}

#[tokio::test]
async fn a_dead_grant_marks_the_account_needs_reauth() {
    let (db, _db) = common::db::migrated().await;
    let (app, sim) = spawn_with_sim(db.clone(), true).await;
    let company = sim_company(
        &app.http,
        &sim,
        json!({"domain": "acme.test", "users": 3, "days": 1}),
    )
    .await;
    let account = install_company(&app, "acme.test").await;

    // The admin's grant dies at Zoom (no webhook), and our token is due for a refresh.
    let zoom_account = company["account_id"].as_str().expect("id");
    let revoked = app
        .http
        .post(format!(
            "{}/_sim/companies/{zoom_account}/revoke",
            sim.base_url()
        ))
        .send()
        .await
        .expect("x");
    assert!(revoked.status().is_success());
    sqlx::query(
        "update oauth_tokens set expires_at = now() + interval '5 seconds' where account_id = $1",
    )
    .bind(account)
    .execute(&db)
    .await
    .expect("x");

    let redis = app::startup::redis_manager(&app.config.redis_url).expect("redis");
    let client = app::startup::zoom_client(&app.config, &redis).expect("client");
    let source = DbTokenSource::new(
        db.clone(),
        app.config.token_key.clone(),
        client,
        account,
        None,
    );
    let error = source
        .access_token()
        .await
        .expect_err("the refresh is refused");
    assert!(error.needs_reauth(), "{error}");
    let (status, last_error): (String, Option<String>) =
        sqlx::query_as("select status, last_error from accounts where id = $1")
            .bind(account)
            .fetch_one(&db)
            .await
            .expect("x");
    assert_eq!(status, "needs_reauth");
    assert!(last_error.is_some_and(|e| e.contains("re-authorised")));
    app.stop().await;
}
