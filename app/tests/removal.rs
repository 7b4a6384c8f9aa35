//! Removal end to end (issue 7): verified Zoom webhooks, the teardown of a whole account while
//! its backfills run, no entry after removal, operator removal, and a reinstall.

mod common;

use std::time::Duration;

use chrono::{DateTime, Utc};
use common::{
    ADMIN_TOKEN, Options, TestApp, WEBHOOK_SECRET, all_billables, backfill_done, count, eventually,
    install_company, redis_url, sim_company, spawn_app_with, user_token,
};
use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

/// Zoom's sample plain token, and its `encryptedToken` computed outside this code base:
/// `echo -n qgg8vlvZRS6UYooatFL8Aw | openssl dgst -sha256 -hmac sim-webhook-secret`.
const PLAIN_TOKEN: &str = "qgg8vlvZRS6UYooatFL8Aw";
const ENCRYPTED_TOKEN: &str = "6dfe0a2bd15fe03a1b4cfaa96a3bd0fb57da663c962ac309f97ccf164fc65138";

/// The simulator and the app pointed at it, with scheduled pulls out of the way (a tick in the
/// middle of a test would write watermarks of its own).
async fn spawn(db: PgPool, workers: bool) -> (TestApp, zoom_sim::SimHandle) {
    let sim = zoom_sim::spawn(zoom_sim::SimConfig::default())
        .await
        .expect("simulator starts");
    let app = spawn_app_with(
        db,
        Options {
            workers,
            overrides: vec![
                ("ZOOM_OAUTH_BASE_URL", sim.base_url()),
                ("PULL_SCHEDULE", "0 0 0 1 1 * 2099".to_owned()),
            ],
        },
    )
    .await;
    (app, sim)
}

/// POSTs `body` to the webhook as Zoom would, signed with `secret` at `timestamp`.
async fn post_webhook(
    app: &TestApp,
    body: &[u8],
    timestamp: i64,
    secret: &str,
) -> reqwest::Response {
    let timestamp = timestamp.to_string();
    app.http
        .post(app.url("/zoom/webhook"))
        .header("content-type", "application/json")
        .header("x-zm-request-timestamp", &timestamp)
        .header(
            "x-zm-signature",
            zoom_sim::webhook_signature(secret, &timestamp, body),
        )
        .body(body.to_vec())
        .send()
        .await
        .expect("webhook")
}

/// An `app_deauthorized` event as Zoom sends it (zoom-api.md §8.2).
fn deauthorized_body(zoom_account_id: &str) -> Vec<u8> {
    json!({
        "event": "app_deauthorized",
        "event_ts": Utc::now().timestamp_millis(),
        "payload": {
            "account_id": zoom_account_id,
            "user_id": "installer",
            "signature": "827edc3452044f0bc86bdd5684afb7d1e6becfa1a767f24df1b287853cf73000",
            "deauthorization_time": Utc::now().to_rfc3339(),
            "client_id": "sim-client-id",
            "user_data_retention": "false",
        }
    })
    .to_string()
    .into_bytes()
}

/// The simulator's own signed `app_deauthorized` to our webhook; the receiver's status.
async fn sim_deauthorize(
    app: &TestApp,
    sim: &zoom_sim::SimHandle,
    account: &str,
    timestamp: Option<i64>,
) -> u64 {
    let mut body = json!({"url": app.url("/zoom/webhook")});
    if let Some(ts) = timestamp {
        body["timestamp"] = json!(ts);
    }
    let response: Value = app
        .http
        .post(format!(
            "{}/_sim/companies/{account}/deauthorize",
            sim.base_url()
        ))
        .json(&body)
        .send()
        .await
        .expect("sim deauthorize")
        .json()
        .await
        .expect("json");
    response["status"].as_u64().expect("the receiver's status")
}

async fn sim_counters(app: &TestApp, sim: &zoom_sim::SimHandle) -> Value {
    app.http
        .get(format!("{}/_sim/counters", sim.base_url()))
        .send()
        .await
        .expect("counters")
        .json()
        .await
        .expect("json")
}

async fn opt_in(app: &TestApp, sub: &str, email: &str) -> String {
    let token = user_token(sub, &email.to_lowercase());
    let response = app
        .http
        .post(app.url("/v1/me/zoom/opt-in"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("opt-in");
    assert_eq!(
        response.status(),
        202,
        "{}",
        response.text().await.unwrap_or_default()
    );
    token
}

async fn zoom_status(app: &TestApp, token: &str) -> Value {
    app.http
        .get(app.url("/v1/me/zoom"))
        .bearer_auth(token)
        .send()
        .await
        .expect("status")
        .json()
        .await
        .expect("json")
}

async fn remove(app: &TestApp, id: &str) -> reqwest::Response {
    app.http
        .post(app.url(&format!("/v1/ops/accounts/{id}/remove")))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .expect("remove")
}

async fn account_status(db: &PgPool, id: Uuid) -> String {
    sqlx::query_scalar("select status from accounts where id = $1")
        .bind(id)
        .fetch_one(db)
        .await
        .expect("account")
}

async fn wait_removed(db: &PgPool, id: Uuid) {
    eventually(Duration::from_secs(15), || async {
        (account_status(db, id).await == "removed").then_some(())
    })
    .await
    .expect("the account was torn down");
}

async fn redis() -> redis::aio::MultiplexedConnection {
    redis::Client::open(redis_url())
        .expect("redis url")
        .get_multiplexed_async_connection()
        .await
        .expect("redis")
}

/// Whether a job queue has nothing waiting, scheduled (incl. retries) or running.
async fn queue_idle(prefix: &str, job: &str) -> bool {
    let mut conn = redis().await;
    let queue = format!("{prefix}:{job}");
    let active: u64 = redis::cmd("LLEN")
        .arg(format!("{queue}:active"))
        .query_async(&mut conn)
        .await
        .expect("llen");
    let scheduled: u64 = redis::cmd("ZCARD")
        .arg(format!("{queue}:scheduled"))
        .query_async(&mut conn)
        .await
        .expect("zcard");
    let workers: Vec<String> = redis::cmd("ZRANGE")
        .arg(format!("{queue}:workers"))
        .arg(0)
        .arg(-1)
        .query_async(&mut conn)
        .await
        .expect("workers");
    let mut running = 0u64;
    for worker in workers {
        let n: u64 = redis::cmd("SCARD")
            .arg(format!("{queue}:inflight:{worker}"))
            .query_async(&mut conn)
            .await
            .expect("scard");
        running += n;
    }
    active == 0 && scheduled == 0 && running == 0
}

/// Jobs of a queue that ended dead (aborted or out of retries).
async fn dead_jobs(prefix: &str, job: &str) -> u64 {
    redis::cmd("SCARD")
        .arg(format!("{prefix}:{job}:dead"))
        .query_async(&mut redis().await)
        .await
        .expect("scard")
}

/// Jobs ever pushed to a queue (payloads are kept per job id).
async fn jobs_pushed(prefix: &str, job: &str) -> u64 {
    redis::cmd("HLEN")
        .arg(format!("{prefix}:{job}:data"))
        .query_async(&mut redis().await)
        .await
        .expect("hlen")
}

async fn audits(db: &PgPool, action: &str) -> i64 {
    sqlx::query_scalar("select count(*) from audit_log where action = $1")
        .bind(action)
        .fetch_one(db)
        .await
        .expect("audit")
}

/// The installation is as the install left it: nothing was torn down.
async fn assert_untouched(db: &PgPool, id: Uuid) {
    assert_eq!(account_status(db, id).await, "active");
    assert_eq!(count(db, "select count(*) from oauth_tokens").await, 1);
    assert!(count(db, "select count(*) from zoom_users").await > 0);
    assert_eq!(audits(db, "account.removed").await, 0);
}

#[tokio::test]
async fn forged_stale_and_malformed_webhooks_change_nothing() {
    let (db, _db) = common::db::migrated().await;
    let (app, sim) = spawn(db.clone(), true).await;
    let company = sim_company(
        &app.http,
        &sim,
        json!({"domain": "acme.test", "users": 5, "days": 2}),
    )
    .await;
    let zoom_account = company["account_id"].as_str().expect("account").to_owned();
    let id = install_company(&app, "acme.test").await;
    let body = deauthorized_body(&zoom_account);
    let now = Utc::now().timestamp();

    let refused = |what: &'static str, status: u16| {
        move |response: reqwest::Response| async move {
            assert_eq!(response.status(), status, "{what}");
            let error: Value = response.json().await.expect("json error");
            assert!(error["error"]["code"].is_string(), "{what}: {error}");
            assert!(error["error"]["message"].is_string(), "{what}: {error}");
        }
    };
    // Signed with another secret.
    refused("forged signature", 401)(post_webhook(&app, &body, now, "not-the-secret").await).await;
    // No signature at all.
    let unsigned = app
        .http
        .post(app.url("/zoom/webhook"))
        .header("x-zm-request-timestamp", now.to_string())
        .body(body.clone())
        .send()
        .await
        .expect("unsigned");
    refused("no signature", 401)(unsigned).await;
    // A genuine signature over another body.
    let ts = now.to_string();
    let tampered = app
        .http
        .post(app.url("/zoom/webhook"))
        .header("x-zm-request-timestamp", &ts)
        .header(
            "x-zm-signature",
            zoom_sim::webhook_signature(WEBHOOK_SECRET, &ts, &deauthorized_body("other")),
        )
        .body(body.clone())
        .send()
        .await
        .expect("tampered");
    refused("tampered body", 401)(tampered).await;
    // Correctly signed, but too old or too far ahead.
    refused("stale", 401)(post_webhook(&app, &body, now - 301, WEBHOOK_SECRET).await).await;
    refused("future", 401)(post_webhook(&app, &body, now + 301, WEBHOOK_SECRET).await).await;
    // Correctly signed and fresh, but not a Zoom event.
    let malformed = br#"{"event": "app_deauthorized", "payload": {"account_id": "#;
    refused("malformed JSON", 400)(post_webhook(&app, malformed, now, WEBHOOK_SECRET).await).await;
    refused("not an event", 400)(post_webhook(&app, b"[1, 2]", now, WEBHOOK_SECRET).await).await;
    let no_account = json!({"event": "app_deauthorized", "payload": {"user_id": "x"}}).to_string();
    refused("no account id", 400)(
        post_webhook(&app, no_account.as_bytes(), now, WEBHOOK_SECRET).await,
    )
    .await;
    // The simulator's own webhook, signed ten minutes ago.
    assert_eq!(
        sim_deauthorize(&app, &sim, &zoom_account, Some(now - 600)).await,
        401
    );

    // Signed events that are not ours to act on are acknowledged.
    let other =
        json!({"event": "meeting.ended", "payload": {"account_id": zoom_account}}).to_string();
    let response = post_webhook(&app, other.as_bytes(), now, WEBHOOK_SECRET).await;
    assert_eq!(response.status(), 200);
    let unknown = post_webhook(
        &app,
        &deauthorized_body("not-installed-here"),
        now,
        WEBHOOK_SECRET,
    )
    .await;
    assert_eq!(unknown.status(), 200);
    assert_eq!(
        unknown.json::<Value>().await.expect("json")["status"],
        "unknown_account"
    );

    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_untouched(&db, id).await;
    assert_eq!(
        jobs_pushed(app.queues.prefix(), "teardown_account").await,
        0
    );
    app.stop().await;
}

#[tokio::test]
async fn url_validation_and_duplicate_requests() {
    let (db, _db) = common::db::migrated().await;
    // No workers: whatever is queued stays in the queue to be counted.
    let (app, _sim) = spawn(db.clone(), false).await;
    let now = Utc::now().timestamp();

    let validation = json!({"event": "endpoint.url_validation", "event_ts": now * 1000,
                            "payload": {"plainToken": PLAIN_TOKEN}})
    .to_string();
    let response = post_webhook(&app, validation.as_bytes(), now, WEBHOOK_SECRET).await;
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .expect("type")
            .starts_with("application/json")
    );
    let answer: Value = response.json().await.expect("json");
    assert_eq!(
        answer,
        json!({"plainToken": PLAIN_TOKEN, "encryptedToken": ENCRYPTED_TOKEN})
    );
    // Validation requests are signed too.
    let forged = post_webhook(&app, validation.as_bytes(), now, "guess").await;
    assert_eq!(forged.status(), 401);

    let id: Uuid = sqlx::query_scalar(
        "insert into accounts (zoom_account_id, status, installed_at) values ('ZACC1', 'active', now()) returning id",
    )
    .fetch_one(&db)
    .await
    .expect("account");

    // Zoom delivers the same event twice (or retries after a slow answer): one job.
    let body = deauthorized_body("ZACC1");
    let (first, second) = tokio::join!(
        post_webhook(&app, &body, now, WEBHOOK_SECRET),
        post_webhook(&app, &body, now, WEBHOOK_SECRET)
    );
    let first: Value = first.json().await.expect("json");
    let second: Value = second.json().await.expect("json");
    assert_eq!(first["status"], "queued", "{first}");
    assert_eq!(second["status"], "queued", "{second}");
    assert_eq!(first["job_id"], second["job_id"]);
    let again: Value = post_webhook(&app, &deauthorized_body("ZACC1"), now, WEBHOOK_SECRET)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(again["job_id"], first["job_id"], "a later redelivery");

    // The operator: admin only, known accounts only, and also one job however often asked.
    let anonymous = app
        .http
        .post(app.url(&format!("/v1/ops/accounts/{id}/remove")))
        .send()
        .await
        .expect("anonymous");
    assert_eq!(anonymous.status(), 401);
    assert_eq!(remove(&app, "not-a-uuid").await.status(), 404);
    assert_eq!(
        remove(&app, &Uuid::new_v4().to_string()).await.status(),
        404
    );
    let first = remove(&app, &id.to_string()).await;
    assert_eq!(first.status(), 202);
    let first: Value = first.json().await.expect("json");
    let second: Value = remove(&app, &id.to_string())
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(first["job_id"], second["job_id"]);
    assert_eq!(first["account_id"], json!(id));
    assert!(first["job_id"].is_string());

    // One job for Zoom's request, one for the operator's; nothing ran yet.
    assert_eq!(
        jobs_pushed(app.queues.prefix(), "teardown_account").await,
        2
    );
    assert_eq!(account_status(&db, id).await, "active");
    app.stop().await;
}

#[tokio::test]
async fn removal_during_running_backfills_commits_nothing_afterwards() {
    let (db, _db) = common::db::migrated().await;
    let (app, sim) = spawn(db.clone(), true).await;
    let company = sim_company(
        &app.http,
        &sim,
        json!({"domain": "acme.test", "users": 12, "days": 30, "meetings_per_user_per_day": 1.5,
               "calls_per_user_per_day": 1.0, "shared_meeting_share": 0.6}),
    )
    .await;
    let zoom_account = company["account_id"].as_str().expect("account").to_owned();
    let id = install_company(&app, "acme.test").await;

    // Zoom is slow today: every API call takes 300 ms, so the backfills take a while.
    let faults = app
        .http
        .post(format!("{}/_sim/faults", sim.base_url()))
        .json(&json!({"latency_ms": 300}))
        .send()
        .await
        .expect("faults");
    assert_eq!(faults.status(), 200);
    let users = company["users"].as_array().expect("users");
    let mut tokens = Vec::new();
    for (i, user) in users.iter().skip(1).step_by(3).take(4).enumerate() {
        let email = user["email"].as_str().expect("email");
        tokens.push(opt_in(&app, &format!("user-{i}"), email).await);
    }

    // Entries are being written and backfills are still running.
    eventually(Duration::from_secs(20), || async {
        let written = count(&db, "select count(*) from billables").await;
        let running = count(
            &db,
            "select count(*) from backfills where state = 'running' and done < total",
        )
        .await;
        (written > 0 && running > 0).then_some(())
    })
    .await
    .expect("backfills are under way");

    // The admin removes the app in the Marketplace: Zoom revokes the grant and signs a webhook.
    assert_eq!(sim_deauthorize(&app, &sim, &zoom_account, None).await, 200);
    wait_removed(&db, id).await;
    let removed_at: DateTime<Utc> =
        sqlx::query_scalar("select removed_at from accounts where id = $1")
            .bind(id)
            .fetch_one(&db)
            .await
            .expect("removed_at");
    let audited_at: DateTime<Utc> = sqlx::query_scalar(
        "select at from audit_log where action = 'account.removed' and account_id = $1",
    )
    .bind(id)
    .fetch_one(&db)
    .await
    .expect("audit entry");
    assert_eq!(audited_at, removed_at);
    let at_removal = count(&db, "select count(*) from billables").await;
    assert!(at_removal > 0, "entries written before the removal");

    // The jobs in flight and in the queues drain; none writes anything.
    let prefix = app.queues.prefix().to_owned();
    eventually(Duration::from_secs(25), || async {
        for job in ["backfill_member", "backfill_window", "teardown_account"] {
            if !queue_idle(&prefix, job).await {
                return None;
            }
        }
        Some(())
    })
    .await
    .expect("the queues drained");
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        count(&db, "select count(*) from billables").await,
        at_removal
    );
    let last_write: DateTime<Utc> =
        sqlx::query_scalar("select max(greatest(created_at, updated_at)) from billables")
            .fetch_one(&db)
            .await
            .expect("last write");
    assert!(
        last_write <= removed_at,
        "an entry was written at {last_write}, after the removal at {removed_at}"
    );

    // Jobs ended cleanly: nothing dead, no backfill failed or left running; some cancelled.
    for job in [
        "backfill_member",
        "backfill_window",
        "teardown_account",
        "install_account",
    ] {
        assert_eq!(dead_jobs(&prefix, job).await, 0, "dead {job} jobs");
    }
    let states: Vec<(String, i64)> =
        sqlx::query_as("select state, count(*) from backfills group by state order by state")
            .fetch_all(&db)
            .await
            .expect("states");
    assert!(
        states.iter().all(|(s, _)| s == "cancelled" || s == "done"),
        "{states:?}"
    );
    assert!(states.iter().any(|(s, _)| s == "cancelled"), "{states:?}");

    // Tokens and everything derived from Zoom are gone; members are disabled.
    for table in [
        "oauth_tokens",
        "zoom_users",
        "meeting_coverage",
        "pull_watermarks",
        "backfill_windows",
    ] {
        assert_eq!(
            count(&db, &format!("select count(*) from {table}")).await,
            0,
            "{table} after removal"
        );
    }
    assert_eq!(
        count(
            &db,
            "select count(*) from members where status <> 'disabled' or zoom_user_id is not null"
        )
        .await,
        0
    );

    // Zoom saw the revocation and the Data Compliance call (the event asked for deletion).
    let counters = sim_counters(&app, &sim).await;
    assert!(
        counters["revocations"].as_u64().expect("revocations") >= 1,
        "{counters}"
    );
    assert_eq!(counters["compliance_calls"], 1, "{counters}");
    let compliance = sim.state().compliance_calls();
    assert_eq!(compliance[0]["account_id"], zoom_account.as_str());
    assert_eq!(compliance[0]["compliance_completed"], true);
    assert_eq!(
        compliance[0]["deauthorization_event_received"]["account_id"],
        zoom_account.as_str()
    );

    // Users are told, and keep what they had.
    let mut kept = 0;
    for token in &tokens {
        let status = zoom_status(&app, token).await;
        assert_eq!(status["status"], "disabled", "{status}");
        assert_eq!(status["account_status"], "removed", "{status}");
        assert!(
            status["message"]
                .as_str()
                .expect("message")
                .contains("removed"),
            "{status}"
        );
        kept += all_billables(&app, token).await.len();
    }
    assert_eq!(i64::try_from(kept).expect("count"), at_removal);

    // A second app_deauthorized for the same account changes nothing and calls Zoom no more.
    assert_eq!(sim_deauthorize(&app, &sim, &zoom_account, None).await, 200);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(queue_idle(&prefix, "teardown_account").await);
    let again = sim_counters(&app, &sim).await;
    assert_eq!(again["revocations"], counters["revocations"]);
    assert_eq!(again["compliance_calls"], 1);
    assert_eq!(jobs_pushed(&prefix, "teardown_account").await, 1);
    assert_eq!(audits(&db, "account.removed").await, 1);
    assert_eq!(audits(&db, "account.grant_revocation").await, 1);
    assert_eq!(audits(&db, "account.data_compliance").await, 1);
    assert_eq!(
        count(&db, "select count(*) from billables").await,
        at_removal
    );
    app.stop().await;
}

#[tokio::test]
async fn operator_removal_then_reinstall_and_opt_in_again() {
    let (db, _db) = common::db::migrated().await;
    let (app, sim) = spawn(db.clone(), true).await;
    let company = sim_company(
        &app.http,
        &sim,
        json!({"domain": "acme.test", "users": 6, "days": 10, "meetings_per_user_per_day": 1.5,
               "calls_per_user_per_day": 1.0, "shared_meeting_share": 0.6}),
    )
    .await;
    let id = install_company(&app, "acme.test").await;
    let email = company["users"][2]["email"]
        .as_str()
        .expect("email")
        .to_owned();
    let token = opt_in(&app, "user-2", &email).await;
    backfill_done(&app, &token, Duration::from_secs(60)).await;
    let entries = |items: Vec<Value>| {
        let mut rows: Vec<(String, String, String)> = items
            .iter()
            .map(|i| {
                (
                    i["id"].as_str().expect("id").to_owned(),
                    i["source"].as_str().expect("source").to_owned(),
                    i["external_id"].as_str().expect("external id").to_owned(),
                )
            })
            .collect();
        rows.sort();
        rows
    };
    let before = entries(all_billables(&app, &token).await);
    assert!(!before.is_empty());

    let response = remove(&app, &id.to_string()).await;
    assert_eq!(response.status(), 202);
    let body: Value = response.json().await.expect("json");
    assert!(body["job_id"].is_string(), "{body}");
    wait_removed(&db, id).await;
    let counters = sim_counters(&app, &sim).await;
    assert_eq!(counters["revocations"], 1, "{counters}");
    assert_eq!(
        counters["compliance_calls"], 0,
        "nobody at Zoom asked for it"
    );
    let actor: String =
        sqlx::query_scalar("select actor from audit_log where action = 'account.removed'")
            .fetch_one(&db)
            .await
            .expect("audit");
    assert_eq!(actor, "operator");
    let again = remove(&app, &id.to_string()).await;
    assert_eq!(again.status(), 409);

    let status = zoom_status(&app, &token).await;
    assert_eq!(status["status"], "disabled", "{status}");
    assert_eq!(status["account_status"], "removed", "{status}");
    let refused = app
        .http
        .post(app.url("/v1/me/zoom/opt-in"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("opt-in");
    assert_eq!(refused.status(), 409, "no opt-in while the app is removed");
    assert_eq!(entries(all_billables(&app, &token).await), before);

    // The admin installs the app again: the same account row, and the user opts in again.
    let reinstalled = install_company(&app, "acme.test").await;
    assert_eq!(reinstalled, id);
    assert_eq!(zoom_status(&app, &token).await["status"], "available");
    let token = opt_in(&app, "user-2", &email).await;
    let status = backfill_done(&app, &token, Duration::from_secs(60)).await;
    assert_eq!(status["status"], "active");
    // The same entries, not one twice: the fresh backfill found what the first one wrote.
    assert_eq!(entries(all_billables(&app, &token).await), before);
    assert_eq!(
        count(&db, "select count(*) from backfills").await,
        2,
        "a fresh backfill after the reinstall"
    );
    assert_eq!(audits(&db, "account.removed").await, 1);
    app.stop().await;
}
