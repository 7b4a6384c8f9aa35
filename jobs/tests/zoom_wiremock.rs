//! Narrow edge cases of the Zoom client that the simulator does not produce, against
//! `wiremock`: non-JSON error bodies, `Retry-After` as an HTTP date, timeouts, 5xx retries,
//! daily-limit 429s, the 401 → refresh → retry path, OAuth request shapes and errors, and
//! that no error or log-able value carries a token or the client secret.

mod zoom_support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::TryStreamExt;
use jobs::zoom::{MemoryTokenSource, StaticTokenSource, TokenSource, ZoomError};
use reqwest::StatusCode;
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;
use wiremock::matchers::{body_string_contains, header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};
use zoom_support::{access_token, client, config, token_set};

fn static_tokens(server: &MockServer) -> Arc<dyn TokenSource> {
    Arc::new(StaticTokenSource(access_token(
        "eyJaccess",
        Some(&server.uri()),
    )))
}

fn me_body() -> serde_json::Value {
    json!({"id":"u1","email":"owner@acme.test","first_name":"O","last_name":"W",
           "role_name":"Owner","account_id":"acct1","status":"active","type":2})
}

#[tokio::test]
async fn follows_api_url_and_sends_bearer() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v2/users/me"))
        .and(header("authorization", "Bearer eyJaccess"))
        .respond_with(ResponseTemplate::new(200).set_body_json(me_body()))
        .expect(1)
        .mount(&server)
        .await;
    // No api_base_url override: the token's api_url decides.
    let zoom = client(config("http://127.0.0.1:9", false));
    let me = zoom
        .account("acct1", static_tokens(&server))
        .me()
        .await
        .unwrap();
    assert_eq!(me.account_id.as_deref(), Some("acct1"));
    assert_eq!(me.role_name.as_deref(), Some("Owner"));
}

#[tokio::test]
async fn non_json_error_bodies_are_tolerated() {
    let server = MockServer::start().await;
    Mock::given(path("/v2/users/me"))
        .respond_with(
            ResponseTemplate::new(404)
                .set_body_raw("<?xml version=\"1.0\"?><error>nope</error>", "text/xml"),
        )
        .mount(&server)
        .await;
    Mock::given(path("/v2/users"))
        .respond_with(ResponseTemplate::new(400).set_body_raw("<html>Bad</html>", "text/html"))
        .mount(&server)
        .await;
    let api = client(config(&server.uri(), true)).account("acct1", static_tokens(&server));
    assert!(matches!(
        api.me().await,
        Err(ZoomError::NotFound { code: None })
    ));
    let err = api.users().try_collect::<Vec<_>>().await.unwrap_err();
    assert!(
        matches!(err, ZoomError::BadRequest { status, code: None, .. } if status == StatusCode::BAD_REQUEST),
        "{err:?}"
    );
}

#[tokio::test]
async fn server_errors_are_retried_then_reported() {
    let server = MockServer::start().await;
    Mock::given(path("/v2/users/me"))
        .respond_with(ResponseTemplate::new(503).set_body_raw("<html>busy</html>", "text/html"))
        .up_to_n_times(2)
        .expect(2)
        .mount(&server)
        .await;
    Mock::given(path("/v2/users/me"))
        .respond_with(ResponseTemplate::new(200).set_body_json(me_body()))
        .expect(1)
        .mount(&server)
        .await;
    let api = client(config(&server.uri(), true)).account("acct1", static_tokens(&server));
    assert_eq!(api.me().await.unwrap().id, "u1");

    let failing = MockServer::start().await;
    Mock::given(path("/v2/users/me"))
        .respond_with(ResponseTemplate::new(500))
        .expect(4) // 1 + max_retries (3)
        .mount(&failing)
        .await;
    let api = client(config(&failing.uri(), true)).account("acct1", static_tokens(&failing));
    assert!(matches!(
        api.me().await,
        Err(ZoomError::Server { status }) if status == StatusCode::INTERNAL_SERVER_ERROR
    ));
}

#[tokio::test]
async fn timeouts_are_retried_then_reported() {
    let server = MockServer::start().await;
    Mock::given(path("/v2/users/me"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(me_body())
                .set_delay(Duration::from_secs(3)),
        )
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(path("/v2/users/me"))
        .respond_with(ResponseTemplate::new(200).set_body_json(me_body()))
        .mount(&server)
        .await;
    let mut cfg = config(&server.uri(), true);
    cfg.timeout = Duration::from_millis(300);
    let api = client(cfg.clone()).account("acct1", static_tokens(&server));
    assert_eq!(api.me().await.unwrap().id, "u1", "a timeout is retried");

    let slow = MockServer::start().await;
    Mock::given(path("/v2/users/me"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(me_body())
                .set_delay(Duration::from_secs(3)),
        )
        .expect(2)
        .mount(&slow)
        .await;
    let mut cfg = config(&slow.uri(), true);
    cfg.timeout = Duration::from_millis(300);
    cfg.max_retries = 1;
    let api = client(cfg).account("acct1", static_tokens(&slow));
    match api.me().await {
        Err(ZoomError::Transport(e)) => assert!(e.is_timeout(), "{e}"),
        other => panic!("expected a timeout, got {other:?}"),
    }
}

#[tokio::test]
async fn retry_after_as_http_date_is_honoured() {
    let server = MockServer::start().await;
    let at = std::time::SystemTime::now() + Duration::from_secs(2);
    Mock::given(path("/v2/users/me"))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("retry-after", httpdate::fmt_http_date(at).as_str())
                .insert_header("x-ratelimit-type", "QPS")
                .set_body_json(json!({"code":429,"message":"You have reached the maximum per-second rate limit for this API. Try again later."})),
        )
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(path("/v2/users/me"))
        .respond_with(ResponseTemplate::new(200).set_body_json(me_body()))
        .expect(1)
        .mount(&server)
        .await;
    let api = client(config(&server.uri(), true)).account("acct1", static_tokens(&server));
    let started = Instant::now();
    assert_eq!(api.me().await.unwrap().id, "u1");
    // HTTP dates have whole seconds: at least one second of the two was waited.
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn qps_429s_are_retried_until_the_wait_budget_is_spent() {
    let server = MockServer::start().await;
    Mock::given(path("/v2/users/me"))
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "0"))
        .up_to_n_times(3)
        .mount(&server)
        .await;
    Mock::given(path("/v2/users/me"))
        .respond_with(ResponseTemplate::new(200).set_body_json(me_body()))
        .mount(&server)
        .await;
    let api = client(config(&server.uri(), true)).account("acct1", static_tokens(&server));
    assert_eq!(api.me().await.unwrap().id, "u1");

    let stuck = MockServer::start().await;
    Mock::given(path("/v2/users/me"))
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "600"))
        .expect(1)
        .mount(&stuck)
        .await;
    let api = client(config(&stuck.uri(), true)).account("acct1", static_tokens(&stuck));
    let err = api.me().await.unwrap_err();
    assert!(
        matches!(err, ZoomError::RateLimited { daily: false, retry_after } if retry_after == Duration::from_secs(600)),
        "{err:?}"
    );
}

#[tokio::test]
async fn daily_limit_429_is_returned_at_once() {
    let server = MockServer::start().await;
    let tomorrow = (chrono::Utc::now().date_naive() + chrono::Days::new(1))
        .and_hms_opt(0, 0, 0)
        .unwrap()
        .and_utc();
    Mock::given(path("/v2/report/users/u1/meetings"))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("x-ratelimit-type", "Daily-limit")
                .insert_header("x-ratelimit-category", "Heavy")
                .insert_header("retry-after", tomorrow.to_rfc3339().as_str())
                .set_body_json(json!({"code":429,"message":"You have reached the maximum daily rate limit for this API."})),
        )
        .expect(1)
        .mount(&server)
        .await;
    let api = client(config(&server.uri(), true)).account("acct1", static_tokens(&server));
    let today = chrono::Utc::now().date_naive();
    let err = api
        .report_meetings("u1", today, today)
        .try_collect::<Vec<_>>()
        .await
        .unwrap_err();
    match err {
        ZoomError::RateLimited {
            daily: true,
            retry_after,
        } => assert!(retry_after <= Duration::from_secs(86_400) && !retry_after.is_zero()),
        other => panic!("expected a daily limit, got {other:?}"),
    }
}

async fn mount_refresh(
    server: &MockServer,
    old_refresh: &str,
    new_access: &str,
    new_refresh: &str,
) {
    Mock::given(method("POST"))
        .and(path("/oauth/token"))
        // Basic base64("sim-client-id:sim-client-secret")
        .and(header(
            "authorization",
            "Basic c2ltLWNsaWVudC1pZDpzaW0tY2xpZW50LXNlY3JldA==",
        ))
        .and(header("content-type", "application/x-www-form-urlencoded"))
        .and(body_string_contains("grant_type=refresh_token"))
        .and(body_string_contains(format!("refresh_token={old_refresh}").as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "access_token": new_access, "token_type": "bearer", "refresh_token": new_refresh,
            "expires_in": 3599, "scope": "user:read:admin report:read:admin", "api_url": server.uri(),
        })))
        .expect(1)
        .mount(server)
        .await;
}

#[tokio::test]
async fn unauthorized_refreshes_once_and_retries() {
    let server = MockServer::start().await;
    Mock::given(path("/v2/users/me"))
        .and(header("authorization", "Bearer old-access"))
        .respond_with(
            ResponseTemplate::new(401)
                .set_body_json(json!({"code":124,"message":"Access token is expired."})),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(path("/v2/users/me"))
        .and(header("authorization", "Bearer new-access"))
        .respond_with(ResponseTemplate::new(200).set_body_json(me_body()))
        .expect(1)
        .mount(&server)
        .await;
    mount_refresh(&server, "old-refresh", "new-access", "new-refresh").await;

    let zoom = client(config(&server.uri(), false));
    let tokens = MemoryTokenSource::shared(
        zoom.clone(),
        token_set("old-access", "old-refresh", 3599, Some(&server.uri())),
    );
    let api = zoom.account("acct1", tokens.clone());
    assert_eq!(api.me().await.unwrap().id, "u1");
    let now = tokens.tokens().await;
    assert_eq!(now.refresh_token.expose_secret(), "new-refresh");
    assert_eq!(now.access_token.expose_secret(), "new-access");
}

#[tokio::test]
async fn a_second_401_is_unauthorized() {
    let server = MockServer::start().await;
    Mock::given(path("/v2/users/me"))
        .respond_with(
            ResponseTemplate::new(401)
                .set_body_json(json!({"code":124,"message":"Invalid access token."})),
        )
        .expect(2)
        .mount(&server)
        .await;
    mount_refresh(&server, "r1", "a2", "r2").await;
    let zoom = client(config(&server.uri(), true));
    let tokens = MemoryTokenSource::shared(zoom.clone(), token_set("a1", "r1", 3599, None));
    let err = zoom.account("acct1", tokens).me().await.unwrap_err();
    assert!(matches!(err, ZoomError::Unauthorized), "{err:?}");
    assert!(err.needs_reauth());
}

#[tokio::test]
async fn a_token_about_to_expire_is_refreshed_before_use() {
    let server = MockServer::start().await;
    mount_refresh(&server, "r1", "a2", "r2").await;
    Mock::given(path("/v2/users/me"))
        .and(header("authorization", "Bearer a2"))
        .respond_with(ResponseTemplate::new(200).set_body_json(me_body()))
        .expect(1)
        .mount(&server)
        .await;
    let zoom = client(config(&server.uri(), true));
    // Already expired when handed over: refreshed before the first request.
    let tokens = MemoryTokenSource::shared(zoom.clone(), token_set("a1", "r1", -10, None));
    zoom.account("acct1", tokens).me().await.unwrap();
}

#[tokio::test]
async fn oauth_requests_and_errors() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/oauth/token"))
        .and(body_string_contains("grant_type=authorization_code"))
        .and(body_string_contains("code=good-code"))
        .and(body_string_contains(
            "redirect_uri=http%3A%2F%2F127.0.0.1%3A8080%2Foauth%2Fcallback",
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "access_token":"eyJaccess","token_type":"bearer","refresh_token":"eyJrefresh",
            "expires_in":3599,"scope":"user:read:admin report:read:admin","api_url":"https://api-eu.zoom.us"
        })))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/oauth/token"))
        .and(body_string_contains("refresh_token=dead"))
        .respond_with(
            ResponseTemplate::new(400)
                .set_body_json(json!({"reason":"Invalid Token!","error":"invalid_grant"})),
        )
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/oauth/token"))
        .and(body_string_contains("refresh_token=xml"))
        .respond_with(ResponseTemplate::new(400).set_body_raw("<error/>", "text/xml"))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/oauth/revoke"))
        .and(body_string_contains("token=eyJaccess"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"status":"success"})))
        .expect(1)
        .mount(&server)
        .await;

    let zoom = client(config(&server.uri(), false));
    let set = zoom.exchange_code("good-code").await.unwrap();
    assert_eq!(set.refresh_token.expose_secret(), "eyJrefresh");
    assert_eq!(set.scope.len(), 2);
    assert_eq!(
        jobs::zoom::AccessToken::from_token_set(&set)
            .api_base
            .as_str(),
        "https://api-eu.zoom.us/v2"
    );

    let dead = zoom.refresh(&SecretString::from("dead")).await.unwrap_err();
    assert!(
        matches!(&dead, ZoomError::InvalidGrant { error } if error == "invalid_grant"),
        "{dead:?}"
    );
    let xml = zoom.refresh(&SecretString::from("xml")).await.unwrap_err();
    assert!(matches!(xml, ZoomError::BadRequest { .. }), "{xml:?}");

    zoom.revoke(&set.access_token).await.unwrap();

    // Nothing secret in errors or Debug output.
    for shown in [
        dead.to_string(),
        format!("{dead:?}"),
        format!("{xml:?}"),
        format!("{set:?}"),
        format!("{zoom:?}"),
    ] {
        for secret in ["eyJ", "sim-client-secret", "dead"] {
            assert!(!shown.contains(secret), "{secret} leaked in {shown}");
        }
    }
}

#[tokio::test]
async fn authorize_url_shape() {
    let zoom = client(config("https://zoom.us", false));
    let url = zoom.authorize_url("st ate/1");
    assert_eq!(
        url.as_str(),
        "https://zoom.us/oauth/authorize?response_type=code&client_id=sim-client-id&redirect_uri=http%3A%2F%2F127.0.0.1%3A8080%2Foauth%2Fcallback&state=st+ate%2F1"
    );
}

#[tokio::test]
async fn pagination_follows_tokens_and_stops_on_a_repeat() {
    let server = MockServer::start().await;
    let user = |id: &str| json!({"id": id, "email": format!("{id}@acme.test"), "first_name":"F","last_name":"L","status":"active"});
    Mock::given(path("/v2/users"))
        .and(query_param("status", "active"))
        .and(query_param("page_size", "300"))
        .and(query_param("next_page_token", "p2"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"next_page_token":"","users":[user("c")]})),
        )
        .mount(&server)
        .await;
    Mock::given(path("/v2/users"))
        .and(query_param("status", "active"))
        .and(query_param("page_size", "300"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"next_page_token":"p2","users":[user("a"), user("b")]})),
        )
        .mount(&server)
        .await;
    let api = client(config(&server.uri(), true)).account("acct1", static_tokens(&server));
    let ids: Vec<String> = api.users().map_ok(|u| u.id).try_collect().await.unwrap();
    assert_eq!(ids, ["a", "b", "c"]);

    let looping = MockServer::start().await;
    Mock::given(path("/v2/users"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"next_page_token":"same","users":[user("a")]})),
        )
        .expect(2)
        .mount(&looping)
        .await;
    let api = client(config(&looping.uri(), true)).account("acct1", static_tokens(&looping));
    let err = api.users().try_collect::<Vec<_>>().await.unwrap_err();
    assert!(matches!(err, ZoomError::Decode(_)), "{err:?}");
}

/// The value of counter `name` with exactly the labels `labels`, from a debugging snapshot.
fn counter_value(
    snapshot: &[(
        metrics_util::CompositeKey,
        Option<metrics::Unit>,
        Option<metrics::SharedString>,
        metrics_util::debugging::DebugValue,
    )],
    name: &str,
    labels: &[(&str, &str)],
) -> u64 {
    snapshot
        .iter()
        .filter(|(key, ..)| key.key().name() == name)
        .filter(|(key, ..)| {
            labels
                .iter()
                .all(|(k, v)| key.key().labels().any(|l| l.key() == *k && l.value() == *v))
        })
        .map(|(.., value)| match value {
            metrics_util::debugging::DebugValue::Counter(n) => *n,
            _ => 0,
        })
        .sum()
}

#[tokio::test]
async fn requests_and_429s_are_counted_by_endpoint_and_status() {
    // Each nextest test is its own process, so a global recorder is safe here; under
    // `cargo test` another test may have installed one first: then skip the asserts.
    let recorder = metrics_util::debugging::DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let installed = recorder.install().is_ok();

    let server = MockServer::start().await;
    Mock::given(path("/v2/users/me"))
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "0"))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(path("/v2/users/me"))
        .respond_with(ResponseTemplate::new(200).set_body_json(me_body()))
        .mount(&server)
        .await;
    let api = client(config(&server.uri(), true)).account("acct1", static_tokens(&server));
    api.me().await.unwrap();
    if !installed {
        return;
    }
    let snapshot = snapshotter.snapshot().into_vec();
    let me = ("endpoint", "GET /v2/users/me");
    assert_eq!(
        counter_value(&snapshot, "zoom_requests_total", &[me, ("status", "429")]),
        1
    );
    assert_eq!(
        counter_value(&snapshot, "zoom_requests_total", &[me, ("status", "200")]),
        1
    );
    assert_eq!(
        counter_value(&snapshot, "zoom_rate_limited_total", &[me, ("type", "qps")]),
        1
    );
}
