//! Helpers shared by the `zoom_*` integration tests: client configuration, Redis-backed
//! limiters with a random key prefix, and small utilities.

#![allow(dead_code, reason = "each test binary uses a different subset")]

use std::time::Duration;

use jobs::zoom::{
    AccessToken, RateLimiter, RateLimits, RetryPolicy, TokenSet, ZoomClient, ZoomConfig,
    api_base_for,
};
use secrecy::SecretString;
use url::Url;

pub const CLIENT_ID: &str = "sim-client-id";
pub const CLIENT_SECRET: &str = "sim-client-secret";

/// A config pointing both hosts at `base` (no `/v2`); `api_override` sets `api_base_url`.
pub fn config(base: &str, api_override: bool) -> ZoomConfig {
    let base = base.trim_end_matches('/');
    ZoomConfig {
        oauth_base_url: Url::parse(base).expect("base url"),
        api_base_url: api_override.then(|| Url::parse(&format!("{base}/v2")).expect("api url")),
        client_id: CLIENT_ID.to_owned(),
        client_secret: SecretString::from(CLIENT_SECRET),
        redirect_uri: Url::parse("http://127.0.0.1:8080/oauth/callback").expect("redirect"),
        timeout: Duration::from_secs(10),
        max_retries: 3,
    }
}

/// Retries fast enough for tests.
pub fn fast_retries() -> RetryPolicy {
    RetryPolicy {
        base_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(50),
        ..RetryPolicy::default()
    }
}

pub fn client(config: ZoomConfig) -> ZoomClient {
    ZoomClient::new(config)
        .expect("client")
        .with_retry_policy(fast_retries())
}

pub fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

/// A fresh Redis connection (each one is its own "process" as far as Redis can tell).
pub async fn redis_conn() -> redis::aio::ConnectionManager {
    let client = redis::Client::open(redis_url()).expect("redis url");
    redis::aio::ConnectionManager::new(client)
        .await
        .expect("Redis must run on 127.0.0.1:6379 (or REDIS_URL)")
}

pub fn random_prefix() -> String {
    format!("test-{}", uuid::Uuid::new_v4().simple())
}

pub async fn limiter(prefix: &str, limits: RateLimits) -> RateLimiter {
    RateLimiter::new(redis_conn().await, prefix, limits)
}

/// Deletes every key under `prefix` (tests clean up after themselves).
pub async fn cleanup(prefix: &str) {
    let mut conn = redis_conn().await;
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}:*"))
        .query_async(&mut conn)
        .await
        .unwrap_or_default();
    if !keys.is_empty() {
        let _: Result<(), _> = redis::cmd("DEL").arg(keys).query_async(&mut conn).await;
    }
}

pub fn token_set(access: &str, refresh: &str, expires_in: i64, api_url: Option<&str>) -> TokenSet {
    TokenSet {
        access_token: SecretString::from(access),
        refresh_token: SecretString::from(refresh),
        expires_at: chrono::Utc::now() + chrono::TimeDelta::seconds(expires_in),
        scope: vec!["user:read:admin".to_owned(), "report:read:admin".to_owned()],
        api_url: api_url.map(|u| Url::parse(u).expect("api_url")),
    }
}

pub fn access_token(token: &str, api_url: Option<&str>) -> AccessToken {
    AccessToken {
        token: SecretString::from(token),
        api_base: api_base_for(api_url.map(|u| Url::parse(u).expect("api_url")).as_ref()),
    }
}
