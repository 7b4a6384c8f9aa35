//! The control API: determinism, the deauthorization webhook, counters, clock, and the
//! binary with a scenario file.

mod common;

use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use common::*;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use zoom_sim::SimConfig;

async fn companies_for_seed(seed: u64) -> Vec<Value> {
    let sim = start_with(SimConfig {
        seed,
        ..SimConfig::default()
    })
    .await;
    let mut answers = Vec::new();
    for body in [
        json!({"domain": "acme.test", "users": 30, "days": 3}),
        json!({"domain": "globex.test", "users": 12, "days": 2, "meetings_per_user_per_day": 3.0}),
    ] {
        let (status, company) = control(&sim, "/_sim/companies", body).await;
        assert_eq!(status, 201);
        answers.push(company);
    }
    answers
}

#[tokio::test]
async fn same_seed_same_companies() {
    let first = companies_for_seed(7).await;
    let second = companies_for_seed(7).await;
    assert_eq!(first, second);
    assert_ne!(first, companies_for_seed(8).await);
    let acme = &first[0];
    assert_eq!(acme["users"].as_array().unwrap().len(), 30);
    assert_eq!(acme["users"][0]["role_name"], "Owner");
    assert_eq!(acme["admin"]["id"], acme["users"][0]["id"]);
    assert_ne!(first[0]["account_id"], first[1]["account_id"]);
}

#[derive(Default)]
struct Received {
    headers: Option<HeaderMap>,
    body: Option<Bytes>,
}

#[tokio::test]
async fn deauthorize_sends_a_signed_webhook() {
    let received = Arc::new(Mutex::new(Received::default()));
    let sink = received.clone();
    let receiver = axum::Router::new().route(
        "/zoom/webhook",
        axum::routing::post(move |headers: HeaderMap, body: Bytes| {
            let sink = sink.clone();
            async move {
                let mut seen = sink.lock().unwrap();
                seen.headers = Some(headers);
                seen.body = Some(body);
                StatusCode::NO_CONTENT
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/zoom/webhook", listener.local_addr().unwrap());
    let server = tokio::spawn(async move { axum::serve(listener, receiver).await.unwrap() });

    let sim = start().await;
    let acme = company(&sim, &small("acme.test", 3));
    let tokens = install(&sim).await;
    let (status, answer) = control(
        &sim,
        &format!("/_sim/companies/{}/deauthorize", acme.account_id),
        json!({"url": url}),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer, json!({"status": 204}));

    let (headers, body) = {
        let seen = received.lock().unwrap();
        (seen.headers.clone().unwrap(), seen.body.clone().unwrap())
    };
    let timestamp = headers["x-zm-request-timestamp"].to_str().unwrap();
    let signature = headers["x-zm-signature"].to_str().unwrap();
    let mut mac = Hmac::<Sha256>::new_from_slice(b"sim-webhook-secret").unwrap();
    mac.update(format!("v0:{timestamp}:").as_bytes());
    mac.update(&body);
    assert_eq!(
        signature,
        format!("v0={}", hex::encode(mac.finalize().into_bytes()))
    );
    let now = chrono::Utc::now().timestamp();
    assert!((now - timestamp.parse::<i64>().unwrap()).abs() < 60);

    let event: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(event["event"], "app_deauthorized");
    assert!(event["event_ts"].as_i64().unwrap() > 1_600_000_000_000);
    let payload = &event["payload"];
    assert_eq!(payload["account_id"], acme.account_id);
    assert_eq!(payload["user_id"], acme.admin.id);
    assert_eq!(payload["client_id"], CLIENT_ID);
    assert_eq!(payload["user_data_retention"], "false");
    assert!(payload["signature"].is_string());
    assert!(
        payload["deauthorization_time"]
            .as_str()
            .unwrap()
            .ends_with('Z')
    );

    // The grant is gone.
    assert_eq!(
        api(&sim, &tokens.access_token, "/v2/users/me")
            .await
            .status(),
        401
    );
    assert_eq!(refresh(&sim, &tokens.refresh_token).await.status(), 400);

    // An unreachable receiver is reported, not hidden.
    let (status, _) = control(
        &sim,
        &format!("/_sim/companies/{}/deauthorize", acme.account_id),
        json!({"url": "http://127.0.0.1:9/nowhere"}),
    )
    .await;
    assert_eq!(status, 502);
    server.abort();
}

#[tokio::test]
async fn control_routes_answer_the_contract_shapes() {
    let sim = start().await;
    let (status, acme) = control(
        &sim,
        "/_sim/companies",
        json!({"domain": "acme.test", "users": 3, "days": 0}),
    )
    .await;
    assert_eq!(status, 201);
    let account = acme["account_id"].as_str().unwrap().to_owned();
    let (status, again) = control_get(&sim, &format!("/_sim/companies/{account}")).await;
    assert_eq!((status, &again), (200, &acme));
    let (status, _) = control_get(&sim, "/_sim/companies/unknown").await;
    assert_eq!(status, 404);

    // An approver call without a body: the owner approves, in this account.
    let owner = http()
        .post(format!(
            "{}/_sim/companies/{account}/approver",
            sim.base_url()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(owner.status(), 200);
    let owner: Value = owner.json().await.unwrap();
    assert_eq!(owner["id"], acme["admin"]["id"]);
    assert_eq!(owner["role_name"], "Owner");

    let (status, user) = control(
        &sim,
        &format!("/_sim/companies/{account}/users"),
        json!({"email": "New.Person@acme.test", "first_name": "New", "last_name": "Person"}),
    )
    .await;
    assert_eq!(status, 201);
    assert_eq!(user["email"], "New.Person@acme.test");
    assert_eq!(user["role_name"], "Member");
    let (status, _) = control(
        &sim,
        &format!("/_sim/companies/{account}/users"),
        json!({"email": "new.person@ACME.test", "first_name": "N", "last_name": "P"}),
    )
    .await;
    assert_eq!(status, 409);

    let (status, meeting) = control(
        &sim,
        &format!("/_sim/companies/{account}/meetings"),
        json!({
            "topic": "Sync", "host_id": acme["admin"]["id"],
            "participants": [
                {"user_id": acme["admin"]["id"], "join_offset_secs": 0, "leave_offset_secs": 1200},
                {"guest_name": "Visitor", "email": "v@guest.test", "join_offset_secs": 5, "leave_offset_secs": 1000}
            ]
        }),
    )
    .await;
    assert_eq!(status, 201);
    assert_eq!(meeting["uuid"].as_str().unwrap().len(), 24);
    let start: chrono::DateTime<chrono::Utc> =
        meeting["start_time"].as_str().unwrap().parse().unwrap();
    let end: chrono::DateTime<chrono::Utc> = meeting["end_time"].as_str().unwrap().parse().unwrap();
    assert_eq!((end - start).num_seconds(), 1200);

    let (status, calls) = control(
        &sim,
        &format!("/_sim/companies/{account}/calls"),
        json!({"user_id": acme["users"][1]["id"], "direction": "inbound", "result": "answered", "ring_secs": 5, "talk_secs": 30, "peer_user_id": acme["users"][2]["id"]}),
    )
    .await;
    assert_eq!(status, 201);
    assert_eq!(calls.as_array().unwrap().len(), 2);

    let (status, truth) = control_get(
        &sim,
        &format!(
            "/_sim/truth/{account}?user_id={}&from={}&to={}",
            acme["admin"]["id"].as_str().unwrap(),
            day(&sim, 1),
            day(&sim, 0)
        ),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(truth["meetings"][0]["duration_seconds"], 1200);
    assert_eq!(truth["meetings"][0]["uuid"], meeting["uuid"]);

    let (_, clock) = control_get(&sim, "/_sim/clock").await;
    let before: chrono::DateTime<chrono::Utc> = clock["now"].as_str().unwrap().parse().unwrap();
    let (status, clock) = control(&sim, "/_sim/clock/advance", json!({"seconds": 7200})).await;
    assert_eq!(status, 200);
    let after: chrono::DateTime<chrono::Utc> = clock["now"].as_str().unwrap().parse().unwrap();
    assert!((after - before).num_seconds() >= 7199);

    let (status, _) = control(
        &sim,
        &format!("/_sim/companies/{account}/revoke"),
        json!({}),
    )
    .await;
    assert_eq!(status, 200);

    // Counters: per account, route template and status; DELETE resets.
    let tokens = install(&sim).await;
    api(&sim, &tokens.access_token, "/v2/users").await;
    api(&sim, "garbage", "/v2/users").await;
    let (_, counters) = control_get(&sim, "/_sim/counters").await;
    let rows = counters["requests"].as_array().unwrap();
    assert!(rows.contains(
        &json!({"account_id": account, "endpoint": "GET /v2/users", "status": 200, "count": 1})
    ));
    assert!(rows.contains(
        &json!({"account_id": "", "endpoint": "GET /v2/users", "status": 401, "count": 1})
    ));
    assert!(
        rows.iter()
            .any(|r| r["endpoint"] == "POST /oauth/token" && r["status"] == 200)
    );
    assert_eq!(counters["max_per_second"][0]["category"], "Medium");
    let reset = http()
        .delete(format!("{}/_sim/counters", sim.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(reset.status(), 200);
    let (_, counters) = control_get(&sim, "/_sim/counters").await;
    assert_eq!(counters["requests"], json!([]));
    assert_eq!(counters["refreshes"], 0);
}

#[tokio::test]
async fn binary_serves_a_scenario() {
    use tokio::io::{AsyncBufReadExt, BufReader};

    let dir = std::env::temp_dir().join(format!("zoom-sim-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let scenario = dir.join("scenario.json");
    std::fs::write(
        &scenario,
        json!({
            "companies": [{"domain": "acme.test", "users": 5, "days": 2}, {"domain": "globex.test", "users": 3, "days": 1}],
            "limits": {"heavy_qps": 7}
        })
        .to_string(),
    )
    .unwrap();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_zoom-sim"))
        .args([
            "--bind",
            "127.0.0.1:0",
            "--seed",
            "3",
            "--medium-qps",
            "9",
            "--scenario",
        ])
        .arg(&scenario)
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut base = String::new();
    let mut accounts = Vec::new();
    while accounts.len() < 2 {
        let line = tokio::time::timeout(std::time::Duration::from_secs(10), lines.next_line())
            .await
            .expect("binary prints within 10 s")
            .unwrap()
            .expect("binary keeps running");
        if let Some(url) = line.strip_prefix("zoom-sim listening on ") {
            base = url.to_owned();
        } else if line.starts_with("company ") {
            let field = |name: &str| {
                line.split_whitespace()
                    .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
                    .unwrap()
                    .to_owned()
            };
            assert!(field("admin_email").contains('@'));
            accounts.push(field("account_id"));
        }
    }
    let company: Value = http()
        .get(format!("{base}/_sim/companies/{}", accounts[0]))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(company["domain"], "acme.test");
    assert_eq!(company["users"].as_array().unwrap().len(), 5);
    // Scenario limits, overridden by flags.
    let limits: Value = http()
        .get(format!("{base}/_sim/limits?account_id={}", accounts[1]))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(limits["heavy_qps"], 7);
    assert_eq!(limits["medium_qps"], 9);
    assert_eq!(limits["light_qps"], 80);
    child.kill().await.unwrap();
    std::fs::remove_dir_all(&dir).ok();
}
