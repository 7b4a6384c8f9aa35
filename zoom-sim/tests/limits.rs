//! Rate limits and injected faults: 429 bodies and headers, daily cap, storms, 5xx,
//! latency, and the per-second maxima in the counters.

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::json;
use zoom_sim::{Category, Limits, SimConfig};

fn config(limits: Limits) -> SimConfig {
    SimConfig {
        limits,
        ..SimConfig::default()
    }
}

fn report_path(sim: &zoom_sim::SimHandle, user_id: &str) -> String {
    format!(
        "/v2/report/users/{user_id}/meetings?type=pastJoined&from={}&to={}",
        day(sim, 7),
        day(sim, 0)
    )
}

#[tokio::test]
async fn heavy_qps_limit_answers_429_with_headers() {
    let sim = start_with(config(Limits {
        heavy_qps: 5,
        ..Limits::business()
    }))
    .await;
    let acme = company(&sim, &small("acme.test", 2));
    let tokens = install(&sim).await;
    let path = report_path(&sim, &acme.admin.id);

    let mut requests = tokio::task::JoinSet::new();
    for _ in 0..12 {
        let (base, token, path) = (sim.base_url(), tokens.access_token.clone(), path.clone());
        requests.spawn(async move {
            http()
                .get(format!("{base}{path}"))
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
        });
    }
    let mut ok = 0;
    let mut throttled = Vec::new();
    while let Some(response) = requests.join_next().await {
        let response = response.unwrap();
        match response.status().as_u16() {
            200 => {
                ok += 1;
                let headers = response.headers();
                assert_eq!(headers["x-ratelimit-category"], "Heavy");
                assert_eq!(headers["x-ratelimit-type"], "Daily-limit");
                assert_eq!(headers["x-ratelimit-limit"], "60000");
                assert!(headers.contains_key("x-ratelimit-remaining"));
            }
            429 => throttled.push(response),
            other => panic!("unexpected {other}"),
        }
    }
    assert!((1..=5).contains(&ok), "{ok} allowed");
    assert_eq!(ok + throttled.len(), 12);
    let response = throttled.pop().unwrap();
    let headers = response.headers().clone();
    assert_eq!(headers["x-ratelimit-category"], "Heavy");
    assert_eq!(headers["x-ratelimit-type"], "QPS");
    assert_eq!(headers["x-ratelimit-limit"], "5");
    assert_eq!(headers["x-ratelimit-remaining"], "0");
    assert_eq!(headers["retry-after"], "1");
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(
        body,
        json!({"code": 429, "message": "You have reached the maximum per-second rate limit for this API. Try again later."})
    );

    // Other categories have their own budget.
    assert_eq!(
        api(&sim, &tokens.access_token, "/v2/users").await.status(),
        200
    );

    let counters = sim.state().counters();
    let heavy = counters
        .max_per_second
        .iter()
        .find(|m| m.account_id == acme.account_id && m.category == Category::Heavy)
        .unwrap();
    assert!((1..=5).contains(&heavy.max));
    assert_eq!(
        counters.count("GET /v2/report/users/{userId}/meetings", Some(429)),
        u64::try_from(12 - ok).unwrap()
    );

    // A second later the budget is back.
    tokio::time::sleep(Duration::from_millis(1050)).await;
    assert_eq!(api(&sim, &tokens.access_token, &path).await.status(), 200);
}

#[tokio::test]
async fn daily_cap_answers_429_until_midnight() {
    let sim = start_with(config(Limits {
        daily_heavy: 3,
        ..Limits::business()
    }))
    .await;
    let acme = company(&sim, &small("acme.test", 2));
    let tokens = install(&sim).await;
    let path = report_path(&sim, &acme.admin.id);
    for remaining in ["2", "1", "0"] {
        let response = api(&sim, &tokens.access_token, &path).await;
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["x-ratelimit-remaining"], remaining);
    }
    let response = api(&sim, &tokens.access_token, &path).await;
    assert_eq!(response.status(), 429);
    let headers = response.headers().clone();
    assert_eq!(headers["x-ratelimit-type"], "Daily-limit");
    let retry_after = headers["retry-after"].to_str().unwrap().to_owned();
    let midnight: chrono::DateTime<chrono::Utc> = retry_after.parse().unwrap();
    let tomorrow = (sim.state().now() + chrono::TimeDelta::days(1)).date_naive();
    assert_eq!(midnight, tomorrow.and_hms_opt(0, 0, 0).unwrap().and_utc());
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["code"], 429);

    // The cap is shared by every Heavy endpoint, not by Light ones.
    let calls = api(&sim, &tokens.access_token, "/v2/phone/call_history").await;
    assert_eq!(calls.status(), 429);
    assert_eq!(
        api(&sim, &tokens.access_token, "/v2/users/me")
            .await
            .status(),
        200
    );

    // Next (sim) day the budget is back; refresh the now-expired token first.
    sim.state().advance_clock(86_400);
    let fresh = tokens_after_refresh(&sim, &tokens.refresh_token).await;
    assert_eq!(
        api(&sim, &fresh, &report_path(&sim, &acme.admin.id))
            .await
            .status(),
        200
    );
}

async fn tokens_after_refresh(sim: &zoom_sim::SimHandle, refresh_token: &str) -> String {
    common::tokens(refresh(sim, refresh_token).await)
        .await
        .access_token
}

#[tokio::test]
async fn storm_throttles_the_next_requests_of_one_account() {
    let sim = start().await;
    let acme = company(&sim, &small("acme.test", 2));
    let acme_tokens = install(&sim).await;
    let other = company(&sim, &small("other.test", 2));
    let other_tokens = install(&sim).await;

    let (status, faults) = control(
        &sim,
        "/_sim/faults",
        json!({"account_id": acme.account_id, "storm_requests": 3}),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(faults["accounts"][&acme.account_id]["storm_remaining"], 3);

    assert_eq!(
        api(&sim, &other_tokens.access_token, "/v2/users")
            .await
            .status(),
        200
    );
    for _ in 0..3 {
        let response = api(&sim, &acme_tokens.access_token, "/v2/users").await;
        assert_eq!(response.status(), 429);
        assert_eq!(response.headers()["retry-after"], "1");
        assert_eq!(response.headers()["x-ratelimit-type"], "QPS");
        assert_eq!(response.headers()["x-ratelimit-category"], "Medium");
    }
    assert_eq!(
        api(&sim, &acme_tokens.access_token, "/v2/users")
            .await
            .status(),
        200
    );
    let _ = other;
}

#[tokio::test]
async fn server_errors_and_latency_can_be_injected() {
    let sim = start().await;
    company(&sim, &small("acme.test", 2));
    let tokens = install(&sim).await;

    let (status, _) = control(&sim, "/_sim/faults", json!({"rate_5xx": 1.0})).await;
    assert_eq!(status, 200);
    let (status, body) = api_json(&sim, &tokens.access_token, "/v2/users").await;
    assert!((500..600).contains(&status), "{status}");
    assert_eq!(body["code"].as_u64(), Some(u64::from(status)));

    let cleared = http()
        .delete(format!("{}/_sim/faults", sim.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(cleared.status(), 200);
    assert_eq!(
        api(&sim, &tokens.access_token, "/v2/users").await.status(),
        200
    );

    let (status, _) = control(&sim, "/_sim/faults", json!({"rate_429": 1.0})).await;
    assert_eq!(status, 200);
    assert_eq!(
        api(&sim, &tokens.access_token, "/v2/users").await.status(),
        429
    );
    sim.state().clear_faults();

    let (status, _) = control(&sim, "/_sim/faults", json!({"latency_ms": 150})).await;
    assert_eq!(status, 200);
    let started = Instant::now();
    assert_eq!(
        api(&sim, &tokens.access_token, "/v2/users/me")
            .await
            .status(),
        200
    );
    assert!(started.elapsed() >= Duration::from_millis(150));

    let (status, _) = control(&sim, "/_sim/faults", json!({"rate_5xx": 3.0})).await;
    assert_eq!(status, 400, "rates above 1 are rejected");
    let (status, _) = control(
        &sim,
        "/_sim/faults",
        json!({"account_id": "nope", "storm_requests": 1}),
    )
    .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn max_per_second_measures_a_paced_client() {
    let sim = start_with(config(Limits::unlimited())).await;
    let acme = company(&sim, &small("acme.test", 2));
    let tokens = install(&sim).await;
    let path = report_path(&sim, &acme.admin.id);
    // A client pacing itself at 4 requests per second, for a bit over a second.
    for _ in 0..6 {
        assert_eq!(api(&sim, &tokens.access_token, &path).await.status(), 200);
        tokio::time::sleep(Duration::from_millis(260)).await;
    }
    let counters = sim.state().counters();
    let heavy = counters
        .max_per_second
        .iter()
        .find(|m| m.category == Category::Heavy)
        .unwrap();
    assert!(heavy.max <= 4, "{}", heavy.max);
    sim.state().reset_counters();
    let counters = sim.state().counters();
    assert!(counters.requests.is_empty() && counters.max_per_second.is_empty());
}
