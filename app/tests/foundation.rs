//! Foundation: probes, error shape, the worker running a job end to end on Redis, graceful
//! shutdown, and the schema's constraints.

mod common;

use std::time::Duration;

use common::{Options, OwnRedis, eventually, spawn_app, spawn_app_with};
use jobs::tasks::TeardownAccount;
use serde_json::Value;
use sqlx::PgPool;
use uuid::Uuid;

#[tokio::test]
async fn healthz_and_readyz_answer_200_when_everything_is_up() {
    let (db, _db) = common::db::migrated().await;
    let app = spawn_app_with(db, Options::default()).await;
    let health = app
        .http
        .get(app.url("/healthz"))
        .send()
        .await
        .expect("healthz");
    assert_eq!(health.status(), 200);
    assert!(health.headers().contains_key("x-request-id"));
    let ready = app
        .http
        .get(app.url("/readyz"))
        .send()
        .await
        .expect("readyz");
    assert_eq!(ready.status(), 200);
    let body: Value = ready.json().await.expect("json");
    assert_eq!(body["status"], "ready");
    assert_eq!(body["checks"]["postgres"]["status"], "up");
    assert_eq!(body["checks"]["redis"]["status"], "up");
    app.stop().await;
}

#[tokio::test]
async fn readyz_names_redis_when_it_is_down_and_recovers() {
    let (db, _db) = common::db::migrated().await;
    let mut redis = OwnRedis::start();
    let app = spawn_app_with(
        db,
        Options {
            workers: false,
            overrides: vec![("REDIS_URL", redis.url())],
        },
    )
    .await;
    assert_eq!(
        app.http
            .get(app.url("/readyz"))
            .send()
            .await
            .expect("readyz")
            .status(),
        200
    );

    redis.stop();
    let down = app
        .http
        .get(app.url("/readyz"))
        .send()
        .await
        .expect("readyz");
    assert_eq!(down.status(), 503);
    let body: Value = down.json().await.expect("json");
    assert_eq!(body["down"], serde_json::json!(["redis"]));
    assert_eq!(body["checks"]["redis"]["status"], "down");
    assert_eq!(body["checks"]["postgres"]["status"], "up");
    assert!(
        body["error"]["message"]
            .as_str()
            .expect("message")
            .contains("redis")
    );

    redis.restart();
    let recovered = eventually(Duration::from_secs(15), || async {
        let status = app.http.get(app.url("/readyz")).send().await.ok()?.status();
        (status == 200).then_some(())
    })
    .await;
    assert!(
        recovered.is_some(),
        "readyz did not recover after Redis came back"
    );
    app.stop().await;
}

#[tokio::test]
async fn readyz_names_postgres_when_it_is_unreachable() {
    let (db, _db) = common::db::migrated().await;
    let app = spawn_app_with(db.clone(), Options::default()).await;
    db.close().await;
    let down = app
        .http
        .get(app.url("/readyz"))
        .send()
        .await
        .expect("readyz");
    assert_eq!(down.status(), 503);
    let body: Value = down.json().await.expect("json");
    assert_eq!(body["down"], serde_json::json!(["postgres"]));
    assert_eq!(body["checks"]["redis"]["status"], "up");
    app.stop().await;
}

#[tokio::test]
async fn unknown_routes_answer_json_404() {
    let (db, _db) = common::db::migrated().await;
    let app = spawn_app_with(db, Options::default()).await;
    let response = app
        .http
        .get(app.url("/no/such/thing"))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 404);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["error"]["code"], "not_found");
    assert!(body["error"]["message"].is_string());
    app.stop().await;
}

async fn insert_account(db: &PgPool, status: &str) -> Uuid {
    let id: Uuid = sqlx::query_scalar(
        "insert into accounts (zoom_account_id, status) values ($1, $2) returning id",
    )
    .bind(format!("zacc-{}", Uuid::new_v4()))
    .bind(status)
    .fetch_one(db)
    .await
    .expect("account");
    sqlx::query(
        "insert into oauth_tokens (account_id, key_id, access_token_enc, refresh_token_enc, expires_at, lifetime_seconds) \
         values ($1, 'k', '\\x01', '\\x02', now() + interval '1 hour', 3599)",
    )
    .bind(id)
    .execute(db)
    .await
    .expect("tokens");
    id
}

#[tokio::test]
async fn a_worker_picks_up_an_enqueued_job_from_redis() {
    let (db, _db) = common::db::migrated().await;
    let app = spawn_app(db.clone()).await;
    let account = insert_account(&db, "active").await;
    sqlx::query(
        "insert into members (billables_user_id, email, account_id, zoom_user_id, status, opted_in_at) \
         values ('u1', 'a@acme.test', $1, 'z1', 'active', now())",
    )
    .bind(account)
    .execute(&db)
    .await
    .expect("member");

    let job_id = app
        .queues
        .enqueue(TeardownAccount {
            account_id: account,
            reason: "operator".into(),
            installed_at: None,
            deauthorization: None,
        })
        .await
        .expect("enqueued");
    assert_eq!(job_id.len(), 26, "a ULID");

    let removed = eventually(Duration::from_secs(20), || async {
        let status: String = sqlx::query_scalar("select status from accounts where id = $1")
            .bind(account)
            .fetch_one(&db)
            .await
            .ok()?;
        (status == "removed").then_some(())
    })
    .await;
    assert!(removed.is_some(), "the worker did not run the job");
    let member: String = sqlx::query_scalar("select status from members where account_id = $1")
        .bind(account)
        .fetch_one(&db)
        .await
        .expect("member");
    assert_eq!(member, "disabled");
    let tokens: i64 = sqlx::query_scalar("select count(*) from oauth_tokens")
        .fetch_one(&db)
        .await
        .expect("count");
    assert_eq!(tokens, 0);
    app.stop().await;
}

#[tokio::test]
async fn shutdown_stops_accepting_and_finishes() {
    let (db, _db) = common::db::migrated().await;
    let app = spawn_app(db).await;
    let url = app.url("/healthz");
    let http = app.http.clone();
    assert_eq!(http.get(&url).send().await.expect("up").status(), 200);
    // `stop` asserts that the API and the workers both end cleanly within the limit.
    app.stop().await;
    assert!(
        http.get(&url).send().await.is_err(),
        "the API still accepts connections after shutdown"
    );
}

#[tokio::test]
async fn schema_enforces_the_rules() {
    let (db, _db) = common::db::migrated().await;
    let account = insert_account(&db, "active").await;
    let bad_status =
        sqlx::query("insert into accounts (zoom_account_id, status) values ('x', 'deleted')")
            .execute(&db)
            .await;
    assert!(bad_status.is_err(), "account status is checked");

    let active_without_account = sqlx::query(
        "insert into members (billables_user_id, email, status) values ('u0', 'a@b.c', 'active')",
    )
    .execute(&db)
    .await;
    assert!(
        active_without_account.is_err(),
        "an active member needs an account and a Zoom user"
    );

    let member: Uuid = sqlx::query_scalar(
        "insert into members (billables_user_id, email, account_id, zoom_user_id, status) \
         values ('u1', 'a@acme.test', $1, 'z1', 'active') returning id",
    )
    .bind(account)
    .fetch_one(&db)
    .await
    .expect("member");
    let insert = |external: &'static str| {
        sqlx::query(
            "insert into billables (member_id, source, external_id, title, started_at, ended_at, duration_seconds, billed_minutes) \
             values ($1, 'zoom_meeting', $2, 't', now() - interval '1 hour', now(), 3600, 60)",
        )
        .bind(member)
        .bind(external)
    };
    insert("uuid-1").execute(&db).await.expect("first entry");
    let duplicate = insert("uuid-1")
        .execute(&db)
        .await
        .expect_err("duplicate entry");
    assert_eq!(
        duplicate.as_database_error().and_then(|e| e.constraint()),
        Some("billables_unique_entry")
    );
    let bad_source = sqlx::query(
        "insert into billables (member_id, source, external_id, title, started_at, ended_at, duration_seconds, billed_minutes) \
         values ($1, 'teams', 'x', 't', now(), now(), 1, 6)",
    )
    .bind(member)
    .execute(&db)
    .await;
    assert!(bad_source.is_err(), "source is checked");

    sqlx::query("insert into backfills (member_id, window_from, window_to) values ($1, now() - interval '30 days', now())")
        .bind(member)
        .execute(&db)
        .await
        .expect("first backfill");
    let second = sqlx::query(
        "insert into backfills (member_id, window_from, window_to) values ($1, now() - interval '30 days', now())",
    )
    .bind(member)
    .execute(&db)
    .await;
    assert!(
        second.is_err(),
        "at most one queued or running backfill per member"
    );

    let orphan = sqlx::query(
        "insert into billables (member_id, source, external_id, title, started_at, ended_at, duration_seconds, billed_minutes) \
         values ($1, 'zoom_call', 'c', 't', now(), now(), 1, 6)",
    )
    .bind(Uuid::new_v4())
    .execute(&db)
    .await;
    assert!(orphan.is_err(), "entries belong to a member");
}
