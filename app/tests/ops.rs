//! Operators through the JSON API, the pages and `/metrics`, against real Postgres and Redis:
//! every ops route refuses strangers; the session cookie holds no token and its actions are
//! same-origin only; queue counts in the API and on the page equal what Redis holds while two
//! worker sets share the queues; pause holds jobs back and resume lets them run; retry, 404s
//! and 409s; `/openapi.json` is a valid OpenAPI 3 document listing every JSON route.

mod common;
mod ops_support;

use std::{collections::BTreeSet, time::Duration};

use common::{
    ADMIN_TOKEN, Options, TestApp, eventually, spawn_app, spawn_app_with, workers::spawn_workers,
};
use jobs::{
    queue::PushOptions,
    tasks::{BackfillMember, PullAccount},
};
use ops_support::{api_counts, page_counts, redis_counts, sign_in};
use reqwest::{Method, StatusCode, header};
use serde_json::Value;
use uuid::Uuid;

async fn get_json(app: &TestApp, path: &str) -> Value {
    let response = app
        .http
        .get(app.url(path))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200, "GET {path}");
    response.json().await.expect("json")
}

async fn post_json(app: &TestApp, path: &str) -> (StatusCode, Value) {
    let response = app
        .http
        .post(app.url(path))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .expect("request");
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn without_credentials_every_ops_route_answers_401_and_pages_go_to_the_login() {
    let (db, _db) = common::db::migrated().await;
    let app = spawn_app_with(db, Options::default()).await;
    let account = Uuid::new_v4();
    let api = [
        (Method::GET, "/v1/ops/queues".to_owned()),
        (Method::GET, "/v1/ops/queues/backfill_window".to_owned()),
        (
            Method::GET,
            "/v1/ops/queues/backfill_window/jobs?state=dead".to_owned(),
        ),
        (
            Method::POST,
            "/v1/ops/queues/backfill_window/pause".to_owned(),
        ),
        (
            Method::POST,
            "/v1/ops/queues/backfill_window/resume".to_owned(),
        ),
        (
            Method::POST,
            "/v1/ops/queues/backfill_window/retry-failed".to_owned(),
        ),
        (
            Method::GET,
            "/v1/ops/jobs/01JABCDEFGHJKMNPQRSTVWXYZ0".to_owned(),
        ),
        (
            Method::POST,
            "/v1/ops/jobs/01JABCDEFGHJKMNPQRSTVWXYZ0/retry".to_owned(),
        ),
        (Method::GET, "/v1/ops/accounts".to_owned()),
        (Method::GET, format!("/v1/ops/accounts/{account}")),
        (Method::POST, format!("/v1/ops/accounts/{account}/pull")),
        (Method::POST, format!("/v1/ops/accounts/{account}/remove")),
        (Method::GET, "/metrics".to_owned()),
        (Method::GET, "/api/v1/tasks".to_owned()),
        (Method::GET, "/api/v1/queues/x/tasks/y".to_owned()),
    ];
    let forged = "bz_ops=v1.99999999999.00ff";
    for (method, path) in &api {
        for (auth, cookie) in [
            (None, None),
            (Some("wrong-token"), None),
            (None, Some(forged)),
        ] {
            let mut request = app.http.request(method.clone(), app.url(path));
            if let Some(token) = auth {
                request = request.bearer_auth(token);
            }
            if let Some(cookie) = cookie {
                request = request
                    .header(header::COOKIE, cookie)
                    .header(header::ORIGIN, &app.base_url);
            }
            let response = request.send().await.expect("request");
            assert_eq!(
                response.status(),
                401,
                "{method} {path} ({auth:?}, {cookie:?})"
            );
            let body: Value = response.json().await.expect("json error");
            assert_eq!(body["error"]["code"], "unauthorized", "{method} {path}");
        }
    }
    let pages = [
        "/ops",
        "/ops?refresh=10",
        "/ops/queues/backfill_window",
        "/ops/jobs/01JABCDEFGHJKMNPQRSTVWXYZ0",
        &format!("/ops/accounts/{account}"),
        "/ops/jobs?id=01J",
        "/ops/board",
        "/tasks",
        "/queues",
        "/workers",
    ];
    for page in pages {
        for cookie in [None, Some(forged)] {
            let mut request = app.http.get(app.url(page));
            if let Some(cookie) = cookie {
                request = request.header(header::COOKIE, cookie);
            }
            let response = request.send().await.expect("page");
            assert_eq!(response.status(), 303, "{page}");
            let location = response.headers()[header::LOCATION]
                .to_str()
                .expect("ascii");
            assert!(
                location.starts_with("/ops/login?next="),
                "{page} -> {location}"
            );
        }
    }

    // The login form, a wrong token, a right one.
    let form = app
        .http
        .get(app.url("/ops/login"))
        .send()
        .await
        .expect("form");
    assert_eq!(form.status(), 200);
    assert!(form.text().await.expect("html").contains("name=\"token\""));
    let wrong = app
        .http
        .post(app.url("/ops/login"))
        .form(&[("token", "not-the-token"), ("next", "/ops")])
        .send()
        .await
        .expect("login");
    assert_eq!(wrong.status(), 401);
    assert!(wrong.headers().get(header::SET_COOKIE).is_none());
    let cross_site = app
        .http
        .post(app.url("/ops/login"))
        .header(header::ORIGIN, "https://evil.test")
        .form(&[("token", ADMIN_TOKEN)])
        .send()
        .await
        .expect("login");
    assert_eq!(cross_site.status(), 403, "a login posted from another site");

    let response = app
        .http
        .post(app.url("/ops/login"))
        .header(header::ORIGIN, &app.base_url)
        .form(&[("token", ADMIN_TOKEN), ("next", "/ops/queues/pull_account")])
        .send()
        .await
        .expect("login");
    assert_eq!(response.status(), 303);
    assert_eq!(
        response.headers()[header::LOCATION],
        "/ops/queues/pull_account"
    );
    let set_cookie = response.headers()[header::SET_COOKIE]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(set_cookie.starts_with("bz_ops=v1."), "{set_cookie}");
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(
            set_cookie.contains(attribute),
            "{attribute} in {set_cookie}"
        );
    }
    assert!(
        !set_cookie.contains(ADMIN_TOKEN),
        "the cookie never holds the token"
    );
    let cookie = set_cookie.split(';').next().expect("value").to_owned();

    // Signed in: pages, JSON and metrics answer.
    for path in [
        "/ops",
        "/ops/queues/pull_account",
        "/v1/ops/queues",
        "/metrics",
    ] {
        let response = app
            .http
            .get(app.url(path))
            .header(header::COOKIE, &cookie)
            .send()
            .await
            .expect("signed-in request");
        assert_eq!(response.status(), 200, "{path} signed in");
    }
    // ... but the cookie counts on operator routes only.
    let admin = app
        .http
        .post(app.url("/v1/admin/install-links"))
        .header(header::COOKIE, &cookie)
        .header(header::ORIGIN, &app.base_url)
        .json(&serde_json::json!({"domain": "acme.test"}))
        .send()
        .await
        .expect("admin route");
    assert_eq!(
        admin.status(),
        401,
        "the session is not an admin bearer elsewhere"
    );

    // Actions with the cookie must come from our own origin (CSRF).
    let pause = "/v1/ops/queues/pull_account/pause";
    for (origin, fetch_site) in [
        (None, None),
        (Some("https://evil.test"), None),
        (Some("null"), Some("cross-site")),
    ] {
        let mut request = app
            .http
            .post(app.url(pause))
            .header(header::COOKIE, &cookie);
        if let Some(origin) = origin {
            request = request.header(header::ORIGIN, origin);
        }
        if let Some(site) = fetch_site {
            request = request.header("sec-fetch-site", site);
        }
        let response = request.send().await.expect("action");
        assert_eq!(
            response.status(),
            403,
            "origin {origin:?}, fetch site {fetch_site:?}"
        );
    }
    let state = get_json(&app, "/v1/ops/queues/pull_account").await;
    assert_eq!(state["paused"], false, "refused actions did nothing");

    // A form post from our page: done, and the browser is sent back with a message.
    let response = app
        .http
        .post(app.url(&format!("{pause}?return_to=%2Fops%2Fqueues%2Fpull_account")))
        .header(header::COOKIE, &cookie)
        .header(header::ORIGIN, &app.base_url)
        .form(&[("x", "")])
        .send()
        .await
        .expect("form action");
    assert_eq!(response.status(), 303);
    assert_eq!(
        response.headers()[header::LOCATION],
        "/ops/queues/pull_account"
    );
    let flash = response.headers()[header::SET_COOKIE]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(flash.starts_with("bz_ops_flash=Queue%20paused"), "{flash}");
    assert_eq!(
        get_json(&app, "/v1/ops/queues/pull_account").await["paused"],
        true
    );
    let page = app
        .http
        .get(app.url("/ops/queues/pull_account"))
        .header(
            header::COOKIE,
            format!("{cookie}; {}", flash.split(';').next().expect("flash")),
        )
        .send()
        .await
        .expect("page");
    assert!(
        page.headers()[header::SET_COOKIE]
            .to_str()
            .expect("ascii")
            .contains("Max-Age=0"),
        "the flash is shown once"
    );
    let html = page.text().await.expect("html");
    assert!(
        html.contains("Queue paused") && html.contains("paused"),
        "flash and state shown"
    );

    // Signing out ends the session in this browser.
    let out = app
        .http
        .post(app.url("/ops/logout"))
        .header(header::COOKIE, &cookie)
        .header(header::ORIGIN, &app.base_url)
        .send()
        .await
        .expect("logout");
    assert_eq!(out.status(), 303);
    assert!(
        out.headers()[header::SET_COOKIE]
            .to_str()
            .expect("ascii")
            .contains("Max-Age=0")
    );
    app.stop().await;
}

#[tokio::test]
async fn queue_counts_in_the_api_and_on_the_page_equal_redis_with_two_worker_sets() {
    let (db, _db) = common::db::migrated().await;
    let app = spawn_app(db).await;
    let second = spawn_workers(&app);
    let cookie = sign_in(&app).await;
    let prefix = app.queues.prefix().to_owned();

    // Paused, the queue keeps what is pushed: exact counts everywhere.
    let (status, body) = post_json(&app, "/v1/ops/queues/pull_account/pause").await;
    assert_eq!(
        (status, body["paused"].as_bool()),
        (StatusCode::OK, Some(true))
    );
    tokio::time::sleep(Duration::from_millis(1500)).await; // every worker has seen the pause
    for _ in 0..40 {
        app.queues
            .enqueue(PullAccount {
                account_id: Uuid::new_v4(),
                tick: None,
            })
            .await
            .expect("push");
    }
    for _ in 0..3 {
        app.queues
            .push(
                PullAccount {
                    account_id: Uuid::new_v4(),
                    tick: None,
                },
                PushOptions {
                    idempotency_key: None,
                    delay: Some(Duration::from_secs(3600)),
                },
            )
            .await
            .expect("push delayed");
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let api = get_json(&app, "/v1/ops/queues").await;
    let raw = redis_counts(&prefix, "pull_account").await;
    assert_eq!(api_counts(&api, "pull_account"), raw);
    assert_eq!(
        (
            raw["pending"],
            raw["scheduled"],
            raw["running"],
            raw["done"]
        ),
        (40, 3, 0, 0),
        "paused: nothing ran"
    );
    let queue = api["queues"]
        .as_array()
        .expect("queues")
        .iter()
        .find(|q| q["name"] == "pull_account")
        .expect("queue")
        .clone();
    assert!(queue["oldest_pending_age_seconds"].as_u64().is_some());
    assert_eq!(queue["workers"], 2, "both worker sets fetch from the queue");
    let html = page(&app, &cookie, "/ops").await;
    assert_eq!(
        page_counts(&html, "pull_account"),
        raw,
        "the page shows what Redis holds"
    );

    // Resumed, with more work pushed while both worker sets run: every snapshot accounts for
    // every job, and at rest the API, the page and Redis agree.
    assert_eq!(
        post_json(&app, "/v1/ops/queues/pull_account/resume")
            .await
            .0,
        StatusCode::OK
    );
    tokio::time::sleep(Duration::from_millis(1500)).await; // both worker sets poll again
    for _ in 0..960 {
        app.queues
            .enqueue(PullAccount {
                account_id: Uuid::new_v4(),
                tick: None,
            })
            .await
            .expect("push");
    }
    for _ in 0..5 {
        // No such backfill: a permanent error, the job is dead at once.
        app.queues
            .enqueue(BackfillMember {
                member_id: Uuid::new_v4(),
                backfill_id: Uuid::new_v4(),
            })
            .await
            .expect("push");
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let mut snapshots = 0;
    loop {
        let api = get_json(&app, "/v1/ops/queues").await;
        let counts = api_counts(&api, "pull_account");
        assert_eq!(
            counts.values().sum::<u64>(),
            1003,
            "a snapshot holds every job once: {counts:?}"
        );
        snapshots += 1;
        if counts["done"] == 1000 && counts["running"] == 0 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the pulls ran: {counts:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(snapshots >= 1);
    let dead_settled = eventually(Duration::from_secs(10), || async {
        let api = get_json(&app, "/v1/ops/queues/backfill_member").await;
        (api["counts"]["dead"] == 5 && api["counts"]["running"] == 0).then_some(())
    })
    .await;
    assert!(dead_settled.is_some(), "the broken backfills are dead");

    let api = get_json(&app, "/v1/ops/queues").await;
    let html = page(&app, &cookie, "/ops").await;
    for job in [
        "pull_account",
        "backfill_member",
        "backfill_window",
        "install_account",
        "teardown_account",
    ] {
        let raw = redis_counts(&prefix, job).await;
        assert_eq!(api_counts(&api, job), raw, "API = Redis for {job}");
        assert_eq!(page_counts(&html, job), raw, "page = Redis for {job}");
    }
    let pull = api["queues"]
        .as_array()
        .expect("queues")
        .iter()
        .find(|q| q["name"] == "pull_account")
        .expect("queue")
        .clone();
    assert!(
        pull["throughput"]["ok"].as_u64().expect("ok") >= 1000,
        "{pull}"
    );

    // Both worker sets did part of the work.
    let done = get_json(
        &app,
        "/v1/ops/queues/pull_account/jobs?state=done&limit=500",
    )
    .await;
    let instances: BTreeSet<String> = done["jobs"]
        .as_array()
        .expect("jobs")
        .iter()
        .filter_map(|j| j["locked_by"].as_str())
        .map(|w| {
            w.rsplit_once(':')
                .map_or(w, |(instance, _)| instance)
                .to_owned()
        })
        .collect();
    assert!(
        instances.len() >= 2,
        "both worker sets ran pulls: {instances:?}"
    );

    // A dead job: its details, a retry (it dies again: still no such backfill), 404s and 409s.
    let dead = get_json(&app, "/v1/ops/queues/backfill_member/jobs?state=dead").await;
    let id = dead["jobs"][0]["id"]
        .as_str()
        .expect("a dead job")
        .to_owned();
    let job = get_json(&app, &format!("/v1/ops/jobs/{id}")).await;
    assert_eq!(job["state"], "dead");
    assert_eq!(job["job"], "backfill_member");
    assert_eq!(job["status"], "Killed");
    assert!(job["args"]["backfill_id"].is_string(), "{job}");
    assert!(
        job["last_error"]
            .as_str()
            .expect("error")
            .contains("does not exist"),
        "{job}"
    );
    // Retried while its queue is paused, it waits; resumed, it runs (and dies again: still
    // no such backfill).
    assert_eq!(
        post_json(&app, "/v1/ops/queues/backfill_member/pause")
            .await
            .0,
        StatusCode::OK
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (status, retried) = post_json(&app, &format!("/v1/ops/jobs/{id}/retry")).await;
    assert_eq!(status, StatusCode::OK, "{retried}");
    assert_eq!(
        (retried["retried_from"].as_str(), retried["state"].as_str()),
        (Some("dead"), Some("pending"))
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let waiting = get_json(&app, &format!("/v1/ops/jobs/{id}")).await;
    assert_eq!(
        (waiting["state"].as_str(), waiting["attempts"].as_u64()),
        (Some("pending"), Some(0)),
        "{waiting}"
    );
    assert_eq!(
        post_json(&app, "/v1/ops/queues/backfill_member/resume")
            .await
            .0,
        StatusCode::OK
    );
    let again = eventually(Duration::from_secs(10), || async {
        let job = get_json(&app, &format!("/v1/ops/jobs/{id}")).await;
        (job["state"] == "dead" && job["operator_retries"] == 1).then_some(job)
    })
    .await
    .expect("ran again and died again");
    assert!(again["previous_error"].as_str().is_some(), "{again}");
    let done_id = done["jobs"][0]["id"].as_str().expect("done job");
    let (status, body) = post_json(&app, &format!("/v1/ops/jobs/{done_id}/retry")).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("conflict"))
    );
    let (status, body) = post_json(&app, "/v1/ops/jobs/01JABCDEFGHJKMNPQRSTVWXYZ0/retry").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_found"))
    );
    let missing = app
        .http
        .get(app.url("/v1/ops/jobs/nope"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .expect("get");
    assert_eq!(missing.status(), 404);
    let (status, _) = post_json(&app, "/v1/ops/queues/no_such_job/pause").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body) = post_json(&app, "/v1/ops/queues/backfill_member/retry-failed").await;
    assert_eq!(
        (status, body["retried"].as_u64()),
        (StatusCode::OK, Some(5))
    );

    // Prometheus: fleet state from Redis and the workers' own series.
    let metrics = app
        .http
        .get(app.url("/metrics"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .expect("metrics");
    assert_eq!(metrics.status(), 200);
    assert!(
        metrics.headers()[header::CONTENT_TYPE]
            .to_str()
            .expect("ascii")
            .starts_with("text/plain")
    );
    let text = metrics.text().await.expect("text");
    for series in [
        "billables_queue_jobs{job=\"pull_account\",state=\"done\"} 1000",
        "billables_queue_oldest_pending_seconds{job=\"pull_account\"}",
        "billables_queue_paused{job=\"pull_account\"} 0",
        "billables_queue_workers{job=\"pull_account\"} 2",
        "billables_jobs_total{job=\"pull_account\",outcome=\"ok\"}",
        "billables_jobs_total{job=\"backfill_member\",outcome=\"killed\"}",
        "billables_job_duration_seconds_bucket{job=\"pull_account\",outcome=\"ok\",le=",
        "# TYPE billables_queue_jobs gauge",
    ] {
        assert!(text.contains(series), "{series} in /metrics:\n{text}");
    }

    second.stop().await;
    app.stop().await;
}

async fn page(app: &TestApp, cookie: &str, path: &str) -> String {
    let response = app
        .http
        .get(app.url(path))
        .header(header::COOKIE, cookie)
        .send()
        .await
        .expect("page");
    assert_eq!(response.status(), 200, "{path}");
    response.text().await.expect("html")
}

#[tokio::test]
async fn openapi_is_a_valid_document_of_every_json_route() {
    let (db, _db) = common::db::migrated().await;
    let app = spawn_app_with(db, Options::default()).await;
    let response = app
        .http
        .get(app.url("/openapi.json"))
        .send()
        .await
        .expect("openapi");
    assert_eq!(response.status(), 200);
    let doc: Value = response.json().await.expect("json");
    // The document itself is checked against the OpenAPI 3.1 model in `api::openapi`'s tests.
    assert!(
        doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")),
        "{}",
        doc["openapi"]
    );
    let paths = doc["paths"].as_object().expect("paths");
    let expected = [
        ("/healthz", "get"),
        ("/readyz", "get"),
        ("/metrics", "get"),
        ("/v1/admin/install-links", "post"),
        ("/zoom/webhook", "post"),
        ("/v1/me/zoom", "get"),
        ("/v1/me/zoom/opt-in", "post"),
        ("/v1/me/zoom/opt-out", "post"),
        ("/v1/me/billables", "get"),
        ("/v1/me/billables/{id}", "patch"),
        ("/v1/ops/queues", "get"),
        ("/v1/ops/queues/{name}", "get"),
        ("/v1/ops/queues/{name}/jobs", "get"),
        ("/v1/ops/queues/{name}/pause", "post"),
        ("/v1/ops/queues/{name}/resume", "post"),
        ("/v1/ops/queues/{name}/retry-failed", "post"),
        ("/v1/ops/jobs/{id}", "get"),
        ("/v1/ops/jobs/{id}/retry", "post"),
        ("/v1/ops/accounts", "get"),
        ("/v1/ops/accounts/{id}", "get"),
        ("/v1/ops/accounts/{id}/pull", "post"),
        ("/v1/ops/accounts/{id}/remove", "post"),
    ];
    for (path, method) in expected {
        let item = paths
            .get(path)
            .unwrap_or_else(|| panic!("{path} documented"));
        assert!(
            item[method]["responses"].is_object(),
            "{method} {path} documented"
        );
        // Every documented route exists: it answers something other than the 404 fallback.
        let concrete = path
            .replace("{id}", &Uuid::new_v4().to_string())
            .replace("{name}", "pull_account");
        let answer = app
            .http
            .request(method.parse().expect("method"), app.url(&concrete))
            .send()
            .await
            .expect("request");
        let body = answer.text().await.unwrap_or_default();
        assert!(!body.contains("no such route"), "{method} {path} is routed");
    }
    let schemas = doc["components"]["schemas"].as_object().expect("schemas");
    for schema in [
        "QueuesView",
        "AccountsView",
        "JobView",
        "Error",
        "BillablesPage",
        "MeZoom",
        "InstallLink",
    ] {
        assert!(schemas.contains_key(schema), "{schema} schema");
    }
    app.stop().await;
}
