//! The test harness every integration test reuses: a database per test (from
//! `common::db`), a Redis key prefix per test, and the real app (API and workers) spawned
//! in-process on a random port.

#![allow(
    dead_code,
    reason = "each test binary uses a different part of the harness"
)]

use std::{collections::HashMap, net::SocketAddr, time::Duration};

use app::{
    config::Config,
    startup::{self, Services},
};
use base64::Engine as _;
use jobs::queue::Queues;
use sqlx::PgPool;
use tokio::{net::TcpListener, task::JoinHandle};
use tokio_util::sync::CancellationToken;

pub const ADMIN_TOKEN: &str = "test-admin-token-0123456789";
pub const JWT_SECRET: &str = "test-user-jwt-secret";
pub const WEBHOOK_SECRET: &str = "sim-webhook-secret";

pub fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

/// A Redis key prefix no other test uses.
pub fn unique_prefix() -> String {
    format!("test-{}", ulid::Ulid::generate().to_string().to_lowercase())
}

/// A valid configuration for tests; `overrides` wins over the defaults.
pub fn test_config(prefix: &str, overrides: &[(&str, String)]) -> Config {
    let mut vars: HashMap<String, String> = HashMap::from([
        ("ZOOM_CLIENT_ID".into(), "sim-client-id".into()),
        ("ZOOM_CLIENT_SECRET".into(), "sim-client-secret".into()),
        ("ZOOM_WEBHOOK_SECRET_TOKEN".into(), WEBHOOK_SECRET.into()),
        (
            "TOKEN_ENCRYPTION_KEY".into(),
            base64::engine::general_purpose::STANDARD.encode([42u8; 32]),
        ),
        ("ADMIN_API_TOKEN".into(), ADMIN_TOKEN.into()),
        ("USER_JWT_SECRET".into(), JWT_SECRET.into()),
        ("REDIS_URL".into(), redis_url()),
        ("REDIS_KEY_PREFIX".into(), prefix.into()),
        ("SHUTDOWN_TIMEOUT_SECS".into(), "5".into()),
    ]);
    if let Ok(url) = std::env::var("DATABASE_URL") {
        vars.insert("DATABASE_URL".into(), url);
    }
    for (k, v) in overrides {
        vars.insert((*k).to_owned(), v.clone());
    }
    Config::from_vars(&|name: &str| vars.get(name).cloned()).expect("test configuration is valid")
}

pub struct TestApp {
    pub addr: SocketAddr,
    pub base_url: String,
    pub db: PgPool,
    pub config: Config,
    pub queues: Queues,
    pub http: reqwest::Client,
    shutdown: CancellationToken,
    tasks: Vec<JoinHandle<anyhow::Result<()>>>,
}

#[derive(Default)]
pub struct Options {
    /// Run job workers in the same process.
    pub workers: bool,
    pub overrides: Vec<(&'static str, String)>,
}

/// API and workers on a random port, over the test's database and a fresh key prefix.
pub async fn spawn_app(db: PgPool) -> TestApp {
    spawn_app_with(
        db,
        Options {
            workers: true,
            ..Options::default()
        },
    )
    .await
}

pub async fn spawn_app_with(db: PgPool, options: Options) -> TestApp {
    let prefix = unique_prefix();
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a random port");
    let addr = listener.local_addr().expect("local addr");
    let mut overrides = options.overrides;
    overrides.push(("PUBLIC_BASE_URL", format!("http://{addr}")));
    let config = test_config(&prefix, &overrides);
    let redis = startup::redis_manager(&config.redis_url).expect("redis client");
    let services = Services {
        db: db.clone(),
        queues: Queues::new(redis.clone(), prefix),
        redis,
    };
    let shutdown = CancellationToken::new();
    let mut tasks = vec![tokio::spawn(startup::serve(
        listener,
        startup::api_state(&config, &services).expect("api state"),
        shutdown.clone(),
    ))];
    if options.workers {
        let (config, services, shutdown) = (config.clone(), services.clone(), shutdown.clone());
        tasks.push(tokio::spawn(async move {
            startup::work(&config, &services, shutdown).await
        }));
    }
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .expect("http client");
    TestApp {
        addr,
        base_url: format!("http://{addr}"),
        db,
        config,
        queues: services.queues,
        http,
        shutdown,
        tasks,
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// Stops the API and workers gracefully and deletes the test's Redis keys.
    pub async fn stop(self) {
        self.shutdown.cancel();
        for task in self.tasks {
            let result = tokio::time::timeout(Duration::from_secs(20), task).await;
            let result = result
                .expect("stopped within 20 s")
                .expect("task did not panic");
            result.expect("stopped cleanly");
        }
        delete_prefix(self.queues.prefix()).await;
    }
}

/// Deletes every Redis key under `prefix` (best effort).
pub async fn delete_prefix(prefix: &str) {
    let Ok(client) = redis::Client::open(redis_url()) else {
        return;
    };
    let Ok(mut conn) = client.get_multiplexed_async_connection().await else {
        return;
    };
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}:*"))
        .query_async(&mut conn)
        .await
        .unwrap_or_default();
    for chunk in keys.chunks(500) {
        let _: Result<(), _> = redis::cmd("DEL").arg(chunk).query_async(&mut conn).await;
    }
}

/// Polls `check` until it returns `Some` or `timeout` passes.
pub async fn eventually<T, F, Fut>(timeout: Duration, mut check: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(value) = check().await {
            return Some(value);
        }
        if tokio::time::Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A `redis-server` of the test's own on a free port (for outages and restarts).
pub struct OwnRedis {
    pub port: u16,
    dir: tempfile::TempDir,
    child: Option<std::process::Child>,
}

impl OwnRedis {
    pub fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .expect("free port")
            .local_addr()
            .expect("addr")
            .port();
        let mut redis = Self {
            port,
            dir: tempfile::tempdir().expect("temp dir"),
            child: None,
        };
        redis.restart();
        redis
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// (Re)starts the server on the same port, with the same data directory.
    pub fn restart(&mut self) {
        let child = std::process::Command::new("redis-server")
            .args([
                "--bind",
                "127.0.0.1",
                "--port",
                &self.port.to_string(),
                "--save",
                "",
                "--appendonly",
                "yes",
            ])
            .arg("--dir")
            .arg(self.dir.path())
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("redis-server is installed (scripts/setup-services.sh)");
        self.child = Some(child);
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("redis-server did not start on port {}", self.port);
    }

    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A fresh simulator and the app pointed at it (OAuth host = the sim; the REST base comes
/// from the token's `api_url`, as with real Zoom).
pub async fn spawn_with_sim(db: PgPool, workers: bool) -> (TestApp, zoom_sim::SimHandle) {
    let sim = zoom_sim::spawn(zoom_sim::SimConfig::default())
        .await
        .expect("simulator starts");
    let app = spawn_app_with(
        db,
        Options {
            workers,
            overrides: vec![("ZOOM_OAUTH_BASE_URL", sim.base_url())],
        },
    )
    .await;
    (app, sim)
}

/// `POST /_sim/companies` → the created company's JSON.
pub async fn sim_company(
    http: &reqwest::Client,
    sim: &zoom_sim::SimHandle,
    body: serde_json::Value,
) -> serde_json::Value {
    let response = http
        .post(format!("{}/_sim/companies", sim.base_url()))
        .json(&body)
        .send()
        .await
        .expect("sim");
    assert_eq!(response.status(), 201, "sim company creation");
    response.json().await.expect("company json")
}

/// Creates an install link as Billables staff; returns (token, url).
pub async fn install_link(app: &TestApp, domain: &str) -> (String, String) {
    let response = app
        .http
        .post(app.url("/v1/admin/install-links"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&serde_json::json!({"domain": domain}))
        .send()
        .await
        .expect("install link");
    assert_eq!(response.status(), 201);
    let body: serde_json::Value = response.json().await.expect("json");
    let url = body["url"].as_str().expect("url").to_owned();
    let token = url.rsplit('/').next().expect("token").to_owned();
    (token, url)
}

/// Follows the admin's path: link page → Continue to Zoom → Zoom authorize (auto-approve) →
/// back to the callback. Returns the callback URL and its response.
pub async fn admin_approves(app: &TestApp, link_url: &str) -> (String, reqwest::Response) {
    let page = app.http.get(link_url).send().await.expect("link page");
    assert_eq!(page.status(), 200);
    let html = page.text().await.expect("html");
    let href = html
        .split("id=\"continue\" href=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the page has a Continue to Zoom link")
        .replace("&amp;", "&");
    let to_zoom = app.http.get(app.url(&href)).send().await.expect("continue");
    assert_eq!(to_zoom.status(), 302);
    let authorize = to_zoom.headers()["location"]
        .to_str()
        .expect("location")
        .to_owned();
    let back = app
        .http
        .get(&authorize)
        .send()
        .await
        .expect("zoom authorize");
    assert_eq!(back.status(), 302, "the simulator auto-approves");
    let callback = back.headers()["location"]
        .to_str()
        .expect("location")
        .to_owned();
    let response = app.http.get(&callback).send().await.expect("callback");
    (callback, response)
}

pub async fn count(db: &PgPool, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(db).await.expect(sql)
}

/// Headless Debian Chromium driven through chromedriver (WebDriver).
pub struct Browser {
    pub client: fantoccini::Client,
    driver: std::process::Child,
    _profile: tempfile::TempDir,
}

impl Browser {
    pub async fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .expect("port")
            .local_addr()
            .expect("addr")
            .port();
        let driver = std::process::Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("chromedriver is installed (scripts/setup-services.sh --chromium)");
        let profile = tempfile::tempdir().expect("profile dir");
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({
                "binary": "/usr/bin/chromium",
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--disable-quic", "--no-first-run",
                    "--disable-dev-shm-usage", "--window-size=1200,900",
                    format!("--user-data-dir={}", profile.path().display()),
                ],
            }),
        );
        let url = format!("http://127.0.0.1:{port}");
        let mut last_error = String::new();
        for _ in 0..50 {
            match fantoccini::ClientBuilder::new(
                hyper_util::client::legacy::connect::HttpConnector::new(),
            )
            .capabilities(caps.clone())
            .connect(&url)
            .await
            {
                Ok(client) => {
                    return Self {
                        client,
                        driver,
                        _profile: profile,
                    };
                }
                Err(e) => last_error = e.to_string(),
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        panic!("could not start a Chromium session: {last_error}");
    }

    /// Saves a screenshot under `target/screenshots/{name}.png`.
    pub async fn screenshot(&self, name: &str) {
        let png = self.client.screenshot().await.expect("screenshot");
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/screenshots");
        std::fs::create_dir_all(&dir).expect("screenshot dir");
        std::fs::write(dir.join(format!("{name}.png")), png).expect("write screenshot");
    }

    pub async fn close(mut self) {
        let _ = self.client.clone().close().await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// A user token of the main Billables app, as its login would issue it.
pub fn user_token(sub: &str, email: &str) -> String {
    let claims = serde_json::json!({"sub": sub, "email": email, "exp": chrono::Utc::now().timestamp() + 3600});
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(JWT_SECRET.as_bytes()),
    )
    .expect("sign")
}

/// Installs the sim company's Zoom account through the real flow and waits until it is active.
pub async fn install_company(app: &TestApp, domain: &str) -> uuid::Uuid {
    let (_, url) = install_link(app, domain).await;
    let (_, response) = admin_approves(app, &url).await;
    assert_eq!(response.status(), 200, "install callback");
    let db = app.db.clone();
    eventually(Duration::from_secs(60), || async {
        sqlx::query_scalar(
            "select a.id from accounts a join account_domains d on d.account_id = a.id \
                            where d.domain = $1 and a.status = 'active'",
        )
        .bind(domain)
        .fetch_optional(&db)
        .await
        .ok()?
    })
    .await
    .expect("the account became active")
}

/// Every entry of the user, following `next_cursor`.
pub async fn all_billables(app: &TestApp, token: &str) -> Vec<serde_json::Value> {
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut url = app.url("/v1/me/billables?limit=200");
        if let Some(c) = &cursor {
            url.push_str(&format!("&cursor={c}"));
        }
        let page: serde_json::Value = app
            .http
            .get(&url)
            .bearer_auth(token)
            .send()
            .await
            .expect("billables")
            .json()
            .await
            .expect("json");
        items.extend(page["items"].as_array().expect("items").iter().cloned());
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return items,
        }
    }
}

/// Waits until the user's backfill is done; returns the final `/v1/me/zoom` body.
pub async fn backfill_done(app: &TestApp, token: &str, timeout: Duration) -> serde_json::Value {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let body: serde_json::Value = app
            .http
            .get(app.url("/v1/me/zoom"))
            .bearer_auth(token)
            .send()
            .await
            .expect("status")
            .json()
            .await
            .expect("json");
        if body["backfill"]["state"] == "done" {
            return body;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "backfill not done in time; last status {body}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

pub mod processes;
pub mod workers;

pub mod db;

pub mod truth;
