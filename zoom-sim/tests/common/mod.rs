//! Helpers shared by the integration tests: start a simulator, install the app through
//! the real OAuth flow, call the API.

#![allow(
    dead_code,
    reason = "each test binary uses a different subset of the helpers"
)]

use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::Value;
use zoom_sim::{CompanyInfo, CompanySpec, SimConfig, SimHandle};

pub const CLIENT_ID: &str = "sim-client-id";
pub const CLIENT_SECRET: &str = "sim-client-secret";
pub const REDIRECT_URI: &str = "http://app.test/oauth/callback";

/// A client that does not follow redirects (so the authorize 302 can be inspected).
pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

pub async fn start() -> SimHandle {
    start_with(SimConfig::default()).await
}

pub async fn start_with(config: SimConfig) -> SimHandle {
    zoom_sim::spawn(config).await.unwrap()
}

/// A small company without generated activity.
pub fn small(domain: &str, users: usize) -> CompanySpec {
    CompanySpec {
        users,
        days: 0,
        ..CompanySpec::new(domain)
    }
}

pub fn company(sim: &SimHandle, spec: &CompanySpec) -> CompanyInfo {
    sim.state().create_company(spec).unwrap()
}

#[derive(Debug, Clone)]
pub struct Tokens {
    pub access_token: String,
    pub refresh_token: String,
    pub body: Value,
}

/// Runs authorize and returns the `code` from the redirect.
pub async fn authorize(sim: &SimHandle) -> String {
    let response = http()
        .get(format!("{}/oauth/authorize", sim.base_url()))
        .query(&[
            ("response_type", "code"),
            ("client_id", CLIENT_ID),
            ("redirect_uri", REDIRECT_URI),
            ("state", "st4te"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 302);
    let location = response.headers()["location"].to_str().unwrap();
    let url = url::Url::parse(location).unwrap();
    assert!(location.starts_with(REDIRECT_URI), "{location}");
    let pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    assert!(pairs.contains(&("state".into(), "st4te".into())));
    pairs
        .into_iter()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v)
        .expect("code in redirect")
}

pub async fn token_request(sim: &SimHandle, form: &[(&str, &str)]) -> reqwest::Response {
    http()
        .post(format!("{}/oauth/token", sim.base_url()))
        .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
        .form(form)
        .send()
        .await
        .unwrap()
}

/// Installs the app as whoever approves on the signed-in account.
pub async fn install(sim: &SimHandle) -> Tokens {
    let code = authorize(sim).await;
    let response = token_request(
        sim,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT_URI),
        ],
    )
    .await;
    assert_eq!(response.status(), 200);
    tokens(response).await
}

pub async fn tokens(response: reqwest::Response) -> Tokens {
    let body: Value = response.json().await.unwrap();
    Tokens {
        access_token: body["access_token"].as_str().unwrap().to_owned(),
        refresh_token: body["refresh_token"].as_str().unwrap().to_owned(),
        body,
    }
}

pub async fn refresh(sim: &SimHandle, refresh_token: &str) -> reqwest::Response {
    token_request(
        sim,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ],
    )
    .await
}

/// `GET {base}{path_and_query}` with a bearer token.
pub async fn api(sim: &SimHandle, token: &str, path_and_query: &str) -> reqwest::Response {
    http()
        .get(format!("{}{path_and_query}", sim.base_url()))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

pub async fn api_json(sim: &SimHandle, token: &str, path_and_query: &str) -> (u16, Value) {
    let response = api(sim, token, path_and_query).await;
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

pub fn encode(s: &str) -> String {
    utf8_percent_encode(s, NON_ALPHANUMERIC).to_string()
}

/// Encodes a meeting UUID for a path the way Zoom asks: twice when it contains `/`.
pub fn encode_uuid(uuid: &str) -> String {
    if uuid.contains('/') {
        encode(&encode(uuid))
    } else {
        encode(uuid)
    }
}

/// Today and `days_back` days before, as `yyyy-mm-dd` on the sim clock.
pub fn day(sim: &SimHandle, days_back: i64) -> String {
    (sim.state().now() - chrono::TimeDelta::days(days_back))
        .format("%Y-%m-%d")
        .to_string()
}

/// Control API: POST JSON, return status and JSON body.
pub async fn control(sim: &SimHandle, path: &str, body: Value) -> (u16, Value) {
    let response = http()
        .post(format!("{}{path}", sim.base_url()))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

pub async fn control_get(sim: &SimHandle, path: &str) -> (u16, Value) {
    let response = http()
        .get(format!("{}{path}", sim.base_url()))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}
