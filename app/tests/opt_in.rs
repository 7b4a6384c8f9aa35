//! The user's side through the JSON API, against Postgres, Redis and the simulator: opt-in
//! needs an installed company and a Zoom user; opt-out stops new entries; opting in again
//! adds no duplicate; edits and dismissals survive re-pulls; listing pages and filters; two
//! worker sets and duplicated jobs still write each entry once.

mod common;

use std::{
    collections::{BTreeMap, BTreeSet},
    time::Duration,
};

use chrono::{DateTime, TimeDelta, Utc};
use common::{
    JWT_SECRET, Options, TestApp, all_billables, backfill_done, count, eventually, install_company,
    sim_company, spawn_app_with,
    truth::{entry_rows, truth_rows},
    user_token,
    workers::spawn_workers,
};
use jobs::{
    queue::PushOptions,
    tasks::{BackfillMember, BackfillWindow},
};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

/// The app with workers, pointed at a fresh simulator, backfilling `days` days.
async fn app_with_sim(db: PgPool, days: u32) -> (TestApp, zoom_sim::SimHandle) {
    let sim = zoom_sim::spawn(zoom_sim::SimConfig::default())
        .await
        .expect("simulator starts");
    let app = spawn_app_with(
        db,
        Options {
            workers: true,
            overrides: vec![
                ("ZOOM_OAUTH_BASE_URL", sim.base_url()),
                ("BACKFILL_DAYS", days.to_string()),
            ],
        },
    )
    .await;
    (app, sim)
}

/// A small company (8 users, 10 days of history), installed; returns it.
async fn installed_company(app: &TestApp, sim: &zoom_sim::SimHandle) -> Value {
    let company = sim_company(
        &app.http,
        sim,
        json!({"domain": "acme.test", "users": 8, "days": 10, "meetings_per_user_per_day": 1.5,
               "calls_per_user_per_day": 1.0, "shared_meeting_share": 0.6}),
    )
    .await;
    install_company(app, "acme.test").await;
    company
}

/// The Billables token of the company's `n`th user (the login knows the address in lower case).
fn token_of(company: &Value, n: usize) -> String {
    let email = company["users"][n]["email"]
        .as_str()
        .expect("email")
        .to_lowercase();
    user_token(&format!("user-{n}"), &email)
}

fn zoom_id(company: &Value, n: usize) -> String {
    company["users"][n]["id"].as_str().expect("id").to_owned()
}

async fn call(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut request = app.http.request(method, app.url(path));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("request");
    let status = response.status();
    let text = response.text().await.expect("body");
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

async fn get(app: &TestApp, path: &str, token: &str) -> (StatusCode, Value) {
    call(app, reqwest::Method::GET, path, Some(token), None).await
}

async fn post(app: &TestApp, path: &str, token: &str) -> (StatusCode, Value) {
    call(app, reqwest::Method::POST, path, Some(token), None).await
}

async fn patch(app: &TestApp, id: &str, token: &str, body: Value) -> (StatusCode, Value) {
    let path = format!("/v1/me/billables/{id}");
    call(app, reqwest::Method::PATCH, &path, Some(token), Some(body)).await
}

/// Opts in and waits for the backfill; returns the job id.
async fn opt_in_and_wait(app: &TestApp, token: &str) -> String {
    let (status, body) = post(app, "/v1/me/zoom/opt-in", token).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let job_id = body["job_id"].as_str().expect("job id").to_owned();
    let done = backfill_done(app, token, Duration::from_secs(30)).await;
    assert_eq!(done["status"], "active");
    assert_eq!(done["backfill"]["job_id"], job_id.as_str());
    job_id
}

async fn opt_out(app: &TestApp, token: &str) {
    let (status, body) = post(app, "/v1/me/zoom/opt-out", token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, json!({"status": "opted_out"}));
}

fn keys(items: &[Value]) -> BTreeSet<(String, String)> {
    items
        .iter()
        .map(|i| {
            (
                i["source"].as_str().expect("source").to_owned(),
                i["external_id"].as_str().expect("external id").to_owned(),
            )
        })
        .collect()
}

fn by_id(items: &[Value]) -> BTreeMap<String, Value> {
    items
        .iter()
        .map(|i| (i["id"].as_str().expect("id").to_owned(), i.clone()))
        .collect()
}

fn error_code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or("")
}

#[tokio::test]
async fn opt_in_needs_an_installed_company_and_a_zoom_user() {
    let (db, _db) = common::db::migrated().await;
    let (app, sim) = app_with_sim(db.clone(), 10).await;
    let company = sim_company(
        &app.http,
        &sim,
        json!({"domain": "acme.test", "users": 8, "days": 2}),
    )
    .await;
    let ann = token_of(&company, 2);

    // Before the IT admin installed the app: waiting, and opting in is a conflict.
    let (status, body) = get(&app, "/v1/me/zoom", &ann).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["status"], "waiting_for_admin", "{body}");
    assert_eq!(body["backfill"], Value::Null);
    let (status, body) = post(&app, "/v1/me/zoom/opt-in", &ann).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(error_code(&body), "conflict");
    let message = body["error"]["message"].as_str().unwrap_or("");
    assert!(message.contains("waiting for your IT admin"), "{message}");
    assert_eq!(count(&db, "select count(*) from members").await, 0);

    install_company(&app, "acme.test").await;
    let (_, body) = get(&app, "/v1/me/zoom", &ann).await;
    assert_eq!(body["status"], "available", "{body}");
    assert_eq!(body["account_status"], "active");

    // A Billables user of the company whom Zoom does not know: 422, nothing stored.
    let stranger = user_token("user-stranger", "nobody.here@acme.test");
    let (status, body) = post(&app, "/v1/me/zoom/opt-in", &stranger).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(error_code(&body), "unprocessable");
    // Another company that never installed: still waiting.
    let elsewhere = user_token("user-elsewhere", "bob@other.test");
    let (status, _) = post(&app, "/v1/me/zoom/opt-in", &elsewhere).await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (_, body) = get(&app, "/v1/me/zoom", &elsewhere).await;
    assert_eq!(body["status"], "waiting_for_admin");
    assert_eq!(count(&db, "select count(*) from members").await, 0);

    // The address in other letter case still matches; opting in twice starts one backfill.
    let shouting = user_token(
        "user-2",
        &company["users"][2]["email"]
            .as_str()
            .expect("email")
            .to_uppercase(),
    );
    let (status, body) = post(&app, "/v1/me/zoom/opt-in", &shouting).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let job_id = body["job_id"].as_str().expect("job id").to_owned();
    // A second click while the backfill runs, and another after it is done: the same one.
    let (status, body) = post(&app, "/v1/me/zoom/opt-in", &ann).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(body["job_id"], job_id.as_str(), "no second backfill");
    backfill_done(&app, &ann, Duration::from_secs(30)).await;
    let (status, body) = post(&app, "/v1/me/zoom/opt-in", &ann).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(body["job_id"], job_id.as_str(), "no second backfill");
    assert_eq!(count(&db, "select count(*) from backfills").await, 1);
    assert_eq!(count(&db, "select count(*) from members").await, 1);
    app.stop().await;
}

fn signed(claims: &Value, secret: &str) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        claims,
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .expect("sign")
}

#[tokio::test]
async fn user_routes_refuse_missing_and_bad_tokens() {
    let (db, _db) = common::db::migrated().await;
    let app = spawn_app_with(db, Options::default()).await;
    let now = Utc::now().timestamp();
    let bad_tokens = [
        (
            "wrong secret",
            signed(
                &json!({"sub": "u1", "email": "ann@acme.test", "exp": now + 3600}),
                "another-secret",
            ),
        ),
        (
            "expired",
            signed(
                &json!({"sub": "u1", "email": "ann@acme.test", "exp": now - 3600}),
                JWT_SECRET,
            ),
        ),
        (
            "no e-mail",
            signed(&json!({"sub": "u1", "exp": now + 3600}), JWT_SECRET),
        ),
        (
            "empty subject",
            signed(
                &json!({"sub": " ", "email": "ann@acme.test", "exp": now + 3600}),
                JWT_SECRET,
            ),
        ),
        ("not a JWT", "not-a-token".to_owned()),
    ];
    let id = Uuid::new_v4();
    let routes = [
        (reqwest::Method::GET, "/v1/me/zoom".to_owned()),
        (reqwest::Method::POST, "/v1/me/zoom/opt-in".to_owned()),
        (reqwest::Method::POST, "/v1/me/zoom/opt-out".to_owned()),
        (reqwest::Method::GET, "/v1/me/billables".to_owned()),
        (reqwest::Method::PATCH, format!("/v1/me/billables/{id}")),
    ];
    for (method, path) in &routes {
        let body = (*method == reqwest::Method::PATCH).then(|| json!({"dismissed": true}));
        let (status, answer) = call(&app, method.clone(), path, None, body.clone()).await;
        assert_eq!(
            status,
            StatusCode::UNAUTHORIZED,
            "{method} {path} without a token"
        );
        assert_eq!(error_code(&answer), "unauthorized");
        for (why, token) in &bad_tokens {
            let (status, _) = call(&app, method.clone(), path, Some(token), body.clone()).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {path}: {why}");
        }
    }
    // The same token signed right is accepted.
    let good = signed(
        &json!({"sub": "u1", "email": "ann@acme.test", "exp": now + 3600}),
        JWT_SECRET,
    );
    let (status, body) = get(&app, "/v1/me/billables", &good).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!({"items": [], "next_cursor": null}));
    app.stop().await;
}

#[tokio::test]
async fn opt_out_stops_new_entries_and_opting_in_again_adds_no_duplicate() {
    let (db, _db) = common::db::migrated().await;
    let (app, sim) = app_with_sim(db.clone(), 10).await;
    let company = installed_company(&app, &sim).await;
    let account = company["account_id"].as_str().expect("account");
    let (ann, bob) = (token_of(&company, 2), token_of(&company, 3));

    let first_job = opt_in_and_wait(&app, &ann).await;
    let before = all_billables(&app, &ann).await;
    assert!(!before.is_empty(), "ten days of history give entries");
    opt_out(&app, &ann).await;
    let (_, status) = get(&app, "/v1/me/zoom", &ann).await;
    assert_eq!(status["status"], "opted_out");

    // While Ann is opted out, she and Bob meet and call each other.
    let meeting: Value = app
        .http
        .post(format!("{}/_sim/companies/{account}/meetings", sim.base_url()))
        .json(&json!({"topic": "Contract review", "host_id": zoom_id(&company, 2), "participants": [
            {"user_id": zoom_id(&company, 2), "join_offset_secs": 0, "leave_offset_secs": 1800},
            {"user_id": zoom_id(&company, 3), "join_offset_secs": 120, "leave_offset_secs": 1500},
        ]}))
        .send()
        .await
        .expect("sim meeting")
        .json()
        .await
        .expect("json");
    let meeting_uuid = meeting["uuid"].as_str().expect("uuid").to_owned();
    let calls: Value = app
        .http
        .post(format!("{}/_sim/companies/{account}/calls", sim.base_url()))
        .json(&json!({"user_id": zoom_id(&company, 2), "peer_user_id": zoom_id(&company, 3),
                      "direction": "outbound", "result": "answered", "ring_secs": 5, "talk_secs": 300}))
        .send()
        .await
        .expect("sim call")
        .json()
        .await
        .expect("json");
    let ann_call = calls
        .as_array()
        .expect("records")
        .iter()
        .find(|c| c["direction"] == "outbound")
        .and_then(|c| c["id"].as_str())
        .expect("Ann's side of the call")
        .to_owned();

    // Bob opts in: his backfill fetches the meeting's report, which names Ann too.
    opt_in_and_wait(&app, &bob).await;
    let bobs = keys(&all_billables(&app, &bob).await);
    assert!(bobs.contains(&("zoom_meeting".into(), meeting_uuid.clone())));
    let (_, still_out) = get(&app, "/v1/me/zoom", &ann).await;
    assert_eq!(still_out["status"], "opted_out");
    let while_out = all_billables(&app, &ann).await;
    assert_eq!(
        while_out, before,
        "nothing new, nothing lost while opted out"
    );
    assert_eq!(
        count(
            &db,
            &format!("select count(*) from billables where external_id = '{meeting_uuid}'")
        )
        .await,
        1,
        "only Bob has the meeting"
    );

    // Ann opts in again: a new backfill brings what she missed, and no duplicate.
    let second_job = opt_in_and_wait(&app, &ann).await;
    assert_ne!(first_job, second_job, "a new backfill");
    let after = all_billables(&app, &ann).await;
    let mut expected = keys(&before);
    expected.insert(("zoom_meeting".into(), meeting_uuid.clone()));
    expected.insert(("zoom_call".into(), ann_call));
    assert_eq!(keys(&after), expected);
    assert_eq!(after.len(), expected.len(), "each entry once");
    for item in &before {
        assert!(after.contains(item), "an old entry changed: {item}");
    }
    assert_eq!(
        count(
            &db,
            "select count(*) from (select 1 from billables group by member_id, source, external_id having count(*) > 1) d"
        )
        .await,
        0
    );
    app.stop().await;
}

#[tokio::test]
async fn edited_and_dismissed_entries_survive_re_pulls() {
    let (db, _db) = common::db::migrated().await;
    let (app, sim) = app_with_sim(db.clone(), 10).await;
    let company = installed_company(&app, &sim).await;
    let (ann, bob) = (token_of(&company, 2), token_of(&company, 3));
    opt_in_and_wait(&app, &ann).await;
    let items = all_billables(&app, &ann).await;
    let of = |source: &str| -> Vec<String> {
        items
            .iter()
            .filter(|i| i["source"] == source)
            .map(|i| i["id"].as_str().expect("id").to_owned())
            .collect()
    };
    let (meetings, calls) = (of("zoom_meeting"), of("zoom_call"));
    assert!(
        meetings.len() >= 2 && !calls.is_empty(),
        "Ann has meetings and calls: {items:?}"
    );

    let (status, edited) = patch(
        &app,
        &meetings[0],
        &ann,
        json!({"title": "Acme – contract review", "billed_minutes": 42}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{edited}");
    assert_eq!(edited["title"], "Acme – contract review");
    assert_eq!(edited["billed_minutes"], 42);
    assert_eq!(edited["user_edited"], true);
    assert_eq!(edited["dismissed"], false);
    let (status, dismissed) = patch(&app, &meetings[1], &ann, json!({"dismissed": true})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(dismissed["dismissed"], true);
    assert_eq!(dismissed["user_edited"], false, "dismissing is not editing");
    let (status, call_edit) = patch(&app, &calls[0], &ann, json!({"billed_minutes": 30})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(call_edit["billed_minutes"], 30);
    if let Some(second_call) = calls.get(1) {
        let (status, _) = patch(&app, second_call, &ann, json!({"dismissed": true})).await;
        assert_eq!(status, StatusCode::OK);
    }

    // Somebody else cannot touch Ann's entries.
    let (status, body) = patch(&app, &meetings[0], &bob, json!({"dismissed": true})).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");

    let snapshot = by_id(&all_billables(&app, &ann).await);
    assert_eq!(snapshot[&meetings[0]], edited);
    assert_eq!(snapshot[&meetings[1]], dismissed);

    // Re-pull: opt out and in again, a new backfill over the same window.
    opt_out(&app, &ann).await;
    opt_in_and_wait(&app, &ann).await;
    assert_eq!(by_id(&all_billables(&app, &ann).await), snapshot);

    // Once more with the record of checked meetings gone (as after a reinstall): every meeting
    // report is read again and every entry goes through the upsert, which must respect them.
    sqlx::query("delete from meeting_coverage")
        .execute(&db)
        .await
        .expect("delete coverage");
    opt_out(&app, &ann).await;
    opt_in_and_wait(&app, &ann).await;
    assert!(count(&db, "select count(*) from meeting_coverage").await > 0);
    assert_eq!(by_id(&all_billables(&app, &ann).await), snapshot);
    app.stop().await;
}

#[tokio::test]
async fn listing_pages_and_filters_and_edits_are_validated() {
    let (db, _db) = common::db::migrated().await;
    let (app, sim) = app_with_sim(db.clone(), 10).await;
    let company = installed_company(&app, &sim).await;
    let ann = token_of(&company, 2);
    opt_in_and_wait(&app, &ann).await;
    let all = all_billables(&app, &ann).await;
    assert!(
        all.len() >= 5,
        "enough entries to page through: {}",
        all.len()
    );
    let time = |i: &Value| -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(i["started_at"].as_str().expect("time"))
            .expect("rfc3339")
            .with_timezone(&Utc)
    };

    // Pages of 3: every entry exactly once, newest first, and the last page says so.
    let mut paged = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/me/billables?limit=3&cursor={c}"),
            None => "/v1/me/billables?limit=3".to_owned(),
        };
        let (status, page) = get(&app, &path, &ann).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        let items = page["items"].as_array().expect("items");
        assert!(items.len() <= 3);
        paged.extend(items.iter().cloned());
        pages += 1;
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(pages, all.len().div_ceil(3));
    assert_eq!(paged, all, "the same entries in the same order");
    assert_eq!(by_id(&paged).len(), all.len(), "no entry twice");
    assert!(
        paged.windows(2).all(|w| time(&w[0]) >= time(&w[1])),
        "newest first"
    );

    // A day's entries with from/to as dates (to includes its day) and as times.
    let day = time(&all[all.len() / 2]).date_naive();
    let (status, page) = get(
        &app,
        &format!("/v1/me/billables?from={day}&to={day}&limit=200"),
        &ann,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let want: Vec<&Value> = all.iter().filter(|i| time(i).date_naive() == day).collect();
    let got: Vec<&Value> = page["items"].as_array().expect("items").iter().collect();
    assert!(!got.is_empty());
    assert_eq!(got, want);
    let from = day.and_hms_opt(0, 0, 0).expect("midnight").and_utc();
    let to = from + TimeDelta::days(1);
    let (_, page) = get(
        &app,
        &format!(
            "/v1/me/billables?from={}&to={}&limit=200",
            from.format("%Y-%m-%dT%H:%M:%SZ"),
            to.format("%Y-%m-%dT%H:%M:%SZ")
        ),
        &ann,
    )
    .await;
    let got: Vec<&Value> = page["items"].as_array().expect("items").iter().collect();
    assert_eq!(got, want);

    // Bad input is a 400 that says what is wrong.
    for query in [
        "cursor=not-a-cursor",
        "cursor=bm90fGF8Y3Vyc29y",
        "from=yesterday",
        "from=2026-12-02&to=2026-12-01",
        "limit=0",
        "limit=201",
    ] {
        let (status, body) = get(&app, &format!("/v1/me/billables?{query}"), &ann).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {body}");
        assert_eq!(error_code(&body), "bad_request");
    }

    // Edits: invalid values are 422, a malformed request 400, an unknown entry 404.
    let id = all[0]["id"].as_str().expect("id");
    for body in [
        json!({"title": ""}),
        json!({"title": "   "}),
        json!({"title": "x".repeat(201)}),
        json!({"billed_minutes": -1}),
        json!({"billed_minutes": 7 * 24 * 60 + 1}),
    ] {
        let (status, answer) = patch(&app, id, &ann, body.clone()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {answer}");
    }
    for body in [
        json!({}),
        json!({"colour": "red"}),
        json!({"billed_minutes": "ten"}),
    ] {
        let (status, answer) = patch(&app, id, &ann, body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {answer}");
    }
    for unknown in [Uuid::new_v4().to_string(), "not-a-uuid".to_owned()] {
        let (status, _) = patch(&app, &unknown, &ann, json!({"dismissed": true})).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
    assert_eq!(all_billables(&app, &ann).await, all, "nothing changed");
    app.stop().await;
}

#[tokio::test]
async fn two_worker_sets_and_duplicated_jobs_write_each_entry_once() {
    let (db, _db) = common::db::migrated().await;
    let (app, sim) = app_with_sim(db.clone(), 10).await;
    let company = sim_company(
        &app.http,
        &sim,
        json!({"domain": "acme.test", "users": 10, "days": 10, "meetings_per_user_per_day": 1.5,
               "calls_per_user_per_day": 1.0, "shared_meeting_share": 0.8}),
    )
    .await;
    let account = company["account_id"].as_str().expect("account").to_owned();
    install_company(&app, "acme.test").await;
    // A second "worker process" on the same database and queues.
    let second = spawn_workers(&app);
    // Slow Zoom down a little so that copies of a job really run at the same time.
    let faults = app
        .http
        .post(format!("{}/_sim/faults", sim.base_url()))
        .json(&json!({"account_id": account, "latency_ms": 150}))
        .send()
        .await
        .expect("faults");
    assert!(faults.status().is_success());

    // Three colleagues who share many meetings opt in at once.
    let people = [2, 3, 4];
    let tokens: Vec<String> = people.iter().map(|n| token_of(&company, *n)).collect();
    let before = Utc::now();
    for token in &tokens {
        let (status, body) = post(&app, "/v1/me/zoom/opt-in", token).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    }
    let after = Utc::now();

    // Every backfill job twice more. `idempotency_key: None` would fall back to the job's own
    // key and drop the copies: each copy gets a key of its own, so it really runs.
    let no_key = || PushOptions {
        idempotency_key: Some(format!("copy-{}", Uuid::new_v4())),
        delay: None,
    };
    let backfills: Vec<(Uuid, Uuid)> = sqlx::query_as("select member_id, id from backfills")
        .fetch_all(&db)
        .await
        .expect("backfills");
    assert_eq!(backfills.len(), people.len());
    for (member_id, backfill_id) in &backfills {
        for _ in 0..2 {
            let job = BackfillMember {
                member_id: *member_id,
                backfill_id: *backfill_id,
            };
            app.queues.push(job, no_key()).await.expect("push");
        }
    }
    // And every window job once more, as soon as the windows are planned (10 days = 2
    // windows of at most 7 days, per source).
    let windows: Vec<(Uuid, Uuid, i32)> = eventually(Duration::from_secs(20), || async {
        let rows: Vec<(Uuid, Uuid, i32)> = sqlx::query_as(
            "select b.member_id, w.backfill_id, w.window_no from backfill_windows w \
             join backfills b on b.id = w.backfill_id order by 1, 3",
        )
        .fetch_all(&db)
        .await
        .ok()?;
        (rows.len() == people.len() * 4).then_some(rows)
    })
    .await
    .expect("the backfills were planned");
    for (member_id, backfill_id, window_no) in windows {
        let job = BackfillWindow {
            backfill_id,
            member_id,
            window_no,
        };
        app.queues.push(job, no_key()).await.expect("push");
    }

    for token in &tokens {
        let status = backfill_done(&app, token, Duration::from_secs(40)).await;
        assert_eq!(status["backfill"]["done"], 4);
        assert_eq!(status["backfill"]["total"], 4);
    }
    // Let the last copies run out before looking at the result.
    tokio::time::sleep(Duration::from_secs(2)).await;

    assert_eq!(count(&db, "select count(*) from backfills").await, 3);
    for (n, token) in people.iter().zip(&tokens) {
        let items = all_billables(&app, token).await;
        let got = entry_rows(&items);
        assert_eq!(got.len(), items.len(), "each entry once");
        let user = zoom_id(&company, *n);
        let want = truth_rows(
            &app.http,
            &sim,
            &account,
            &user,
            before - TimeDelta::days(10),
            after,
        )
        .await;
        let strict = truth_rows(
            &app.http,
            &sim,
            &account,
            &user,
            after - TimeDelta::days(10),
            before,
        )
        .await;
        assert!(
            got.is_subset(&want) && strict.is_subset(&got),
            "entries differ from the ground truth for user {n}:\n missing {:?}\n extra {:?}",
            strict.difference(&got).collect::<Vec<_>>(),
            got.difference(&want).collect::<Vec<_>>()
        );
        assert!(!got.is_empty());
    }
    // Each meeting report was read once for all three of them.
    let counters: Value = app
        .http
        .get(format!("{}/_sim/counters", sim.base_url()))
        .send()
        .await
        .expect("counters")
        .json()
        .await
        .expect("json");
    let fetches: i64 = counters["requests"]
        .as_array()
        .expect("requests")
        .iter()
        .filter(|r| {
            r["endpoint"] == "GET /v2/report/meetings/{meetingId}/participants"
                && r["status"] == 200
        })
        .filter_map(|r| r["count"].as_i64())
        .sum();
    let meetings = count(
        &db,
        "select count(distinct meeting_uuid) from meeting_coverage",
    )
    .await;
    assert_eq!(
        fetches, meetings,
        "one participant report per meeting instance"
    );
    second.stop().await;
    app.stop().await;
}
