//! Scheduled pulls with two real worker processes: each tick once per account, new and
//! late-published meetings and calls become entries, nothing duplicated, inactive accounts
//! are not pulled and the operator API says why.

mod common;

use std::time::Duration;

use common::{
    ADMIN_TOKEN, Options, all_billables, backfill_done, count, eventually, install_company,
    processes::{spawn_process, stop_process},
    sim_company, spawn_app_with, spawn_with_sim, user_token,
};
use serde_json::{Value, json};

async fn sim_post(http: &reqwest::Client, url: String, body: Value) -> Value {
    let response = http.post(url).json(&body).send().await.expect("sim");
    assert!(response.status().is_success(), "sim: {}", response.status());
    response.json().await.expect("json")
}

#[tokio::test]
async fn two_workers_pull_each_account_once_per_tick_and_catch_new_and_late_reports() {
    let (db, _db) = common::db::migrated().await;
    let sim = zoom_sim::spawn(zoom_sim::SimConfig::default())
        .await
        .expect("sim");
    let app = spawn_app_with(
        db.clone(),
        Options {
            workers: false,
            overrides: vec![("ZOOM_OAUTH_BASE_URL", sim.base_url())],
        },
    )
    .await;
    let company = sim_company(
        &app.http,
        &sim,
        json!({"domain": "acme.test", "users": 6, "days": 2}),
    )
    .await;
    let zoom_account = company["account_id"].as_str().expect("id").to_owned();

    let dir = tempfile::tempdir().expect("dir");
    let env = [
        ("PULL_SCHEDULE", "* * * * * *"),
        ("BACKFILL_DAYS", "3"),
        ("RUST_LOG", "info"),
    ];
    let workers: Vec<_> = (0..2)
        .map(|i| {
            spawn_process(
                &app,
                "worker",
                &sim.base_url(),
                &env,
                &dir.path().join(format!("worker-{i}.log")),
            )
        })
        .collect();

    let account = install_company(&app, "acme.test").await;
    let users = company["users"].as_array().expect("users");
    let (ann, bob) = (&users[1], &users[2]);
    let token = user_token("ann", &ann["email"].as_str().expect("email").to_lowercase());
    assert_eq!(
        app.http
            .post(app.url("/v1/me/zoom/opt-in"))
            .bearer_auth(&token)
            .send()
            .await
            .expect("x")
            .status(),
        202
    );
    backfill_done(&app, &token, Duration::from_secs(60)).await;
    let backfilled = all_billables(&app, &token).await.len();

    // Let the schedule run for ten seconds.
    let started = chrono::Utc::now();
    tokio::time::sleep(Duration::from_secs(10)).await;
    let per_tick: Vec<(Option<i64>, i64)> = sqlx::query_as(
        "select tick, count(*) from pull_runs where account_id = $1 and started_at >= $2 group by tick order by tick",
    )
    .bind(account)
    .bind(started)
    .fetch_all(&db)
    .await
    .expect("runs");
    assert!(
        per_tick.len() >= 7,
        "a one-second schedule gives a pull per second: {per_tick:?}"
    );
    assert!(
        per_tick.iter().all(|(tick, n)| tick.is_some() && *n == 1),
        "each tick pulled exactly once: {per_tick:?}"
    );

    // A meeting that just ended and a connected call: entries after the next tick.
    let meeting = sim_post(
        &app.http,
        format!("{}/_sim/companies/{zoom_account}/meetings", sim.base_url()),
        json!({"topic": "Client call with Bob", "host_id": bob["id"], "participants": [
            {"user_id": ann["id"], "join_offset_secs": 0, "leave_offset_secs": 1500},
            {"user_id": bob["id"], "join_offset_secs": 0, "leave_offset_secs": 1800}]}),
    )
    .await;
    let now = chrono::Utc::now();
    let call = sim_post(
        &app.http,
        format!("{}/_sim/companies/{zoom_account}/calls", sim.base_url()),
        json!({"user_id": ann["id"], "direction": "outbound", "result": "answered",
               "start_time": (now - chrono::TimeDelta::minutes(10)).to_rfc3339(), "ring_secs": 5, "talk_secs": 361}),
    )
    .await;
    let call_id = call[0]["id"].as_str().expect("call id").to_owned();
    let uuid = meeting["uuid"].as_str().expect("uuid").to_owned();
    let found = eventually(Duration::from_secs(15), || async {
        let items = all_billables(&app, &token).await;
        let has = |id: &str| items.iter().any(|i| i["external_id"] == id);
        (has(&uuid) && has(&call_id)).then_some(items)
    })
    .await
    .expect("the new meeting and call became entries");
    let meeting_entry = found
        .iter()
        .find(|i| i["external_id"] == uuid.as_str())
        .expect("meeting");
    assert_eq!(meeting_entry["duration_seconds"], 1500);
    assert_eq!(meeting_entry["billed_minutes"], 30);
    let call_entry = found
        .iter()
        .find(|i| i["external_id"] == call_id.as_str())
        .expect("call");
    assert_eq!(
        (
            call_entry["duration_seconds"].as_i64(),
            call_entry["billed_minutes"].as_i64()
        ),
        (Some(361), Some(12))
    );

    // A report Zoom publishes late: the pulls that looked before it appeared did not see it,
    // a later one (within the overlap) does.
    let late = sim_post(
        &app.http,
        format!("{}/_sim/companies/{zoom_account}/meetings", sim.base_url()),
        json!({"topic": "Late report", "host_id": ann["id"], "publish_delay_secs": 4, "participants": [
            {"user_id": ann["id"], "join_offset_secs": 0, "leave_offset_secs": 600},
            {"user_id": bob["id"], "join_offset_secs": 60, "leave_offset_secs": 600}]}),
    )
    .await;
    let added = chrono::Utc::now();
    let late_uuid = late["uuid"].as_str().expect("uuid").to_owned();
    let caught = eventually(Duration::from_secs(20), || async {
        all_billables(&app, &token)
            .await
            .iter()
            .any(|i| i["external_id"] == late_uuid.as_str())
            .then_some(())
    })
    .await;
    assert!(caught.is_some(), "the late report became an entry");
    let looked_before: i64 = sqlx::query_scalar(
        "select count(*) from pull_runs where account_id = $1 and status = 'done' and started_at > $2 \
         and finished_at < $2 + interval '3 seconds'",
    )
    .bind(account)
    .bind(added)
    .fetch_one(&db)
    .await
    .expect("runs");
    assert!(
        looked_before >= 1,
        "a pull ran before the report was published"
    );

    // Nothing duplicated anywhere.
    let items = all_billables(&app, &token).await;
    assert_eq!(items.len(), backfilled + 3);
    assert_eq!(
        count(
            &db,
            "select count(*) - count(distinct (member_id, source, external_id)) from billables"
        )
        .await,
        0
    );

    for worker in workers {
        stop_process(worker);
    }
    app.stop().await;
}

#[tokio::test]
async fn inactive_accounts_are_not_pulled_and_the_operator_api_says_why() {
    let (db, _db) = common::db::migrated().await;
    let (app, sim) = spawn_with_sim(db.clone(), true).await;
    sim_company(
        &app.http,
        &sim,
        json!({"domain": "acme.test", "users": 3, "days": 1}),
    )
    .await;
    let account = install_company(&app, "acme.test").await;

    let pull = |id: String| {
        app.http
            .post(app.url(&format!("/v1/ops/accounts/{id}/pull")))
            .bearer_auth(ADMIN_TOKEN)
            .send()
    };
    let accepted = pull(account.to_string()).await.expect("pull");
    assert_eq!(accepted.status(), 202);
    let ran = eventually(Duration::from_secs(15), || async {
        let status: String = sqlx::query_scalar(
            "select status from pull_runs where account_id = $1 and tick is null",
        )
        .bind(account)
        .fetch_optional(&db)
        .await
        .ok()??;
        (status == "done").then_some(())
    })
    .await;
    assert!(ran.is_some(), "pull now ran");
    let last_pull: Option<chrono::DateTime<chrono::Utc>> =
        sqlx::query_scalar("select last_pull_at from accounts where id = $1")
            .bind(account)
            .fetch_one(&db)
            .await
            .expect("x");
    assert!(last_pull.is_some());

    for (status, words) in [
        ("needs_reauth", "install the app again"),
        ("removed", "removed"),
    ] {
        sqlx::query("update accounts set status = $2 where id = $1")
            .bind(account)
            .bind(status)
            .execute(&db)
            .await
            .expect("x");
        let refused = pull(account.to_string()).await.expect("pull");
        assert_eq!(refused.status(), 409);
        let body: Value = refused.json().await.expect("json");
        let message = body["error"]["message"].as_str().expect("message");
        assert!(
            message.contains(status) && message.contains(words),
            "{message}"
        );
        // The scheduler does not enqueue it either.
        let before = count(&db, "select count(*) from pull_runs").await;
        let enqueued = jobs::schedule::enqueue_pulls(&scheduler_context(&app), 1)
            .await
            .expect("enqueue");
        assert_eq!(enqueued, 0);
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(count(&db, "select count(*) from pull_runs").await, before);
    }
    // A pull of a non-active account that was queued anyway records why it skipped.
    app.queues
        .enqueue(jobs::tasks::PullAccount {
            account_id: account,
            tick: None,
        })
        .await
        .expect("enqueue");
    let skipped = eventually(Duration::from_secs(15), || async {
        sqlx::query_scalar::<_, Option<String>>(
            "select error from pull_runs where account_id = $1 and status = 'skipped_inactive'",
        )
        .bind(account)
        .fetch_optional(&db)
        .await
        .ok()?
    })
    .await
    .flatten();
    assert_eq!(skipped.as_deref(), Some("account is removed"));

    let unknown = pull(uuid::Uuid::new_v4().to_string()).await.expect("pull");
    assert_eq!(unknown.status(), 404);
    let unauthenticated = app
        .http
        .post(app.url(&format!("/v1/ops/accounts/{account}/pull")))
        .send()
        .await
        .expect("x");
    assert_eq!(unauthenticated.status(), 401);
    app.stop().await;
}

fn scheduler_context(app: &common::TestApp) -> jobs::tasks::JobContext {
    let redis = app::startup::redis_manager(&app.config.redis_url).expect("redis");
    jobs::tasks::JobContext {
        db: app.db.clone(),
        zoom: app::startup::zoom_client(&app.config, &redis).expect("client"),
        redis,
        token_key: app.config.token_key.clone(),
        queues: app.queues.clone(),
        settings: jobs::tasks::JobSettings {
            redis_prefix: app.config.redis_prefix.clone(),
            instance: "test".into(),
            pull_schedule: None,
            pull_overlap_minutes: 120,
            backfill_days: 30,
            increment_minutes: 6,
        },
    }
}

#[tokio::test]
async fn a_pull_cut_short_by_a_dead_worker_is_closed_by_the_next_one() {
    let (db, _db) = common::db::migrated().await;
    let (app, sim) = spawn_with_sim(db.clone(), true).await;
    sim_company(
        &app.http,
        &sim,
        json!({"domain": "acme.test", "users": 3, "days": 1}),
    )
    .await;
    let account = install_company(&app, "acme.test").await;
    // What a worker killed mid-pull leaves behind (the advisory lock died with its connection).
    let stale: i64 =
        sqlx::query_scalar("insert into pull_runs (account_id, tick) values ($1, 1) returning id")
            .bind(account)
            .fetch_one(&db)
            .await
            .expect("stale run");

    let accepted = app
        .http
        .post(app.url(&format!("/v1/ops/accounts/{account}/pull")))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .expect("pull");
    assert_eq!(accepted.status(), 202);
    let closed = eventually(Duration::from_secs(15), || async {
        let (status, error): (String, Option<String>) =
            sqlx::query_as("select status, error from pull_runs where id = $1")
                .bind(stale)
                .fetch_one(&db)
                .await
                .ok()?;
        (status == "failed").then_some(error)
    })
    .await
    .expect("the stale run was closed");
    assert_eq!(
        closed.as_deref(),
        Some("the worker stopped during this pull")
    );
    let done = count(&db, "select count(*) from pull_runs where status = 'done'").await;
    assert!(done >= 1, "the new pull ran");
    app.stop().await;
}
