//! `ZoomClient`: configuration, the shared HTTP client, and the private `get_json` every
//! API call goes through (auth, rate limiting, retries, status → error mapping, metrics).
//!
//! The OAuth calls are in `oauth.rs`, the per-account API surface in `api.rs`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use reqwest::StatusCode;
use reqwest::header::{ACCEPT, HeaderMap};
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use tracing::{instrument, warn};
use url::Url;

use super::api::AccountApi;
use super::error::ZoomError;
use super::metrics;
use super::paths;
use super::rate_limit::{Category, RateLimiter};
use super::retry::{RetryPolicy, parse_retry_after, until_next_utc_midnight};
use super::token::{AccessToken, TokenSource};
use super::wire::ApiErrorBody;

/// Zoom's global REST base; used when neither the config nor the token names one.
pub const DEFAULT_API_BASE: &str = "https://api.zoom.us/v2";

/// Everything the client needs to know about the Zoom app and the network.
#[derive(Debug, Clone)]
pub struct ZoomConfig {
    /// Host of `/oauth/authorize`, `/oauth/token`, `/oauth/revoke` (`https://zoom.us`).
    pub oauth_base_url: Url,
    /// REST base including `/v2`. When set it wins; otherwise the token's `api_url` + `/v2`
    /// is used, and failing that [`DEFAULT_API_BASE`].
    pub api_base_url: Option<Url>,
    pub client_id: String,
    pub client_secret: SecretString,
    /// The redirect URI registered with the app (`{PUBLIC_BASE_URL}/oauth/callback`).
    pub redirect_uri: Url,
    /// Whole-request timeout (connects time out after at most 10 s within it).
    pub timeout: Duration,
    /// Retries of 5xx answers and transport failures per call.
    pub max_retries: u32,
}

/// The API endpoints the client calls, with their metric label and rate-limit category.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Endpoint {
    UsersMe,
    Users,
    ReportMeetings,
    ReportParticipants,
    UserCallHistory,
}

impl Endpoint {
    /// Route template, used as the `endpoint` metric label and span field.
    pub(crate) fn template(self) -> &'static str {
        match self {
            Self::UsersMe => "GET /v2/users/me",
            Self::Users => "GET /v2/users",
            Self::ReportMeetings => "GET /v2/report/users/{userId}/meetings",
            Self::ReportParticipants => "GET /v2/report/meetings/{meetingId}/participants",
            Self::UserCallHistory => "GET /v2/phone/users/{userId}/call_history",
        }
    }

    /// Zoom's "Rate Limit Label" of the endpoint (zoom-api.md §7).
    pub(crate) fn category(self) -> Category {
        match self {
            Self::UsersMe => Category::Light,
            Self::Users => Category::Medium,
            Self::ReportMeetings | Self::ReportParticipants | Self::UserCallHistory => {
                Category::Heavy
            }
        }
    }
}

#[derive(Clone)]
pub(crate) struct Inner {
    pub(crate) http: reqwest::Client,
    pub(crate) config: ZoomConfig,
    pub(crate) limiter: Option<RateLimiter>,
    pub(crate) retry: RetryPolicy,
}

/// A read-only Zoom client. Cheap to clone (one shared connection pool).
#[derive(Clone)]
pub struct ZoomClient {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for ZoomClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ZoomClient")
            .field("config", &self.inner.config)
            .field("rate_limited", &self.inner.limiter.is_some())
            .finish_non_exhaustive()
    }
}

impl ZoomClient {
    /// A client without a shared rate limiter (add one with [`Self::with_rate_limiter`]).
    pub fn new(config: ZoomConfig) -> Result<Self, ZoomError> {
        let http = reqwest::Client::builder()
            .connect_timeout(config.timeout.min(Duration::from_secs(10)))
            .timeout(config.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("billables-zoom/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(ZoomError::Transport)?;
        Ok(Self {
            inner: Arc::new(Inner {
                http,
                config,
                limiter: None,
                retry: RetryPolicy::default(),
            }),
        })
    }

    /// Routes every API call through `limiter` (shared by all processes via Redis).
    pub fn with_rate_limiter(self, limiter: RateLimiter) -> Self {
        let mut inner = Arc::unwrap_or_clone(self.inner);
        inner.limiter = Some(limiter);
        Self {
            inner: Arc::new(inner),
        }
    }

    /// Replaces the default [`RetryPolicy`].
    pub fn with_retry_policy(self, retry: RetryPolicy) -> Self {
        let mut inner = Arc::unwrap_or_clone(self.inner);
        inner.retry = retry;
        Self {
            inner: Arc::new(inner),
        }
    }

    pub fn config(&self) -> &ZoomConfig {
        &self.inner.config
    }

    pub fn rate_limiter(&self) -> Option<&RateLimiter> {
        self.inner.limiter.as_ref()
    }

    /// The API of one Zoom account, authorised by `tokens`.
    pub fn account(&self, account_id: &str, tokens: Arc<dyn TokenSource>) -> AccountApi {
        AccountApi::new(self.clone(), account_id, tokens)
    }

    /// The REST base for `token`: the configured override, else the token's own.
    pub(crate) fn api_base<'a>(&'a self, token: &'a AccessToken) -> &'a Url {
        self.inner
            .config
            .api_base_url
            .as_ref()
            .unwrap_or(&token.api_base)
    }
}

/// What a 429 said about itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RateLimitHeaders {
    pub retry_after: Option<Duration>,
    pub daily: bool,
}

impl RateLimitHeaders {
    pub(crate) fn parse(headers: &HeaderMap) -> Self {
        let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let daily = text("x-ratelimit-type").is_some_and(|t| {
            let t = t.trim();
            t.eq_ignore_ascii_case("daily-limit") || t.eq_ignore_ascii_case("daily")
        });
        let retry_after = text("retry-after").and_then(|v| parse_retry_after(v, Utc::now()));
        Self { retry_after, daily }
    }
}

/// Whether a reqwest error is worth retrying for an idempotent GET.
pub(crate) fn retryable_transport(err: &reqwest::Error) -> bool {
    !(err.is_builder() || err.is_redirect() || err.is_status())
}

/// Maps a final non-2xx, non-429 answer to its error.
pub(crate) fn error_for_status(status: StatusCode, body: &[u8]) -> ZoomError {
    let body = ApiErrorBody::parse(body);
    if status == StatusCode::UNAUTHORIZED {
        ZoomError::Unauthorized
    } else if status == StatusCode::NOT_FOUND {
        ZoomError::NotFound { code: body.code }
    } else if status.is_server_error() {
        ZoomError::Server { status }
    } else {
        ZoomError::BadRequest {
            status,
            code: body.code,
            message: body.message.unwrap_or_default(),
        }
    }
}

impl AccountApi {
    /// `GET {api_base}/{path}?{query}` with bearer auth, through the shared limiter, with
    /// retries; decodes a 2xx body as `T`.
    ///
    /// - 401: asks the token source for a fresh token once, then retries;
    /// - 429: a daily-limit 429 fails at once with `RateLimited { daily: true }`; otherwise
    ///   honours `Retry-After` (pushing the shared limiter back so every process slows
    ///   down) and retries, until the 429 wait or count budget of the policy is spent;
    /// - 5xx, timeouts, connect errors: jittered exponential backoff, `max_retries` times.
    #[instrument(skip_all, fields(account.id = %self.account_id(), endpoint = endpoint.template()))]
    pub(crate) async fn get_json<T: DeserializeOwned>(
        &self,
        endpoint: Endpoint,
        path: &str,
        query: &[(&'static str, String)],
    ) -> Result<T, ZoomError> {
        let inner = &self.client().inner;
        let policy = &inner.retry;
        let label = endpoint.template();
        let category = endpoint.category();

        let mut token = self.tokens().access_token().await?;
        let mut refreshed = false;
        let mut failures: u32 = 0;
        let mut rate_limited: u32 = 0;
        let mut rate_limited_wait = Duration::ZERO;

        loop {
            if let Some(limiter) = &inner.limiter {
                limiter.acquire(self.account_id(), category).await?;
            }
            let url = paths::join(self.client().api_base(&token), path, query)?;
            let started = Instant::now();
            let sent = inner
                .http
                .get(url)
                .bearer_auth(token.token.expose_secret())
                .header(ACCEPT, "application/json")
                .send()
                .await;
            let response = match sent {
                Ok(response) => response,
                Err(err) => {
                    metrics::request(label, None, started.elapsed());
                    if retryable_transport(&err) && failures < inner.config.max_retries {
                        let delay = policy.backoff(failures);
                        failures += 1;
                        warn!(attempt = failures, delay_ms = delay.as_millis() as u64, error = %err, "Zoom request failed, retrying");
                        tokio::time::sleep(delay).await;
                        continue;
                    }
                    return Err(ZoomError::Transport(err));
                }
            };
            let status = response.status();
            let rate_limit = (status == StatusCode::TOO_MANY_REQUESTS)
                .then(|| RateLimitHeaders::parse(response.headers()));
            let body = match response.bytes().await {
                Ok(body) => body,
                Err(err) => {
                    metrics::request(label, None, started.elapsed());
                    if failures < inner.config.max_retries {
                        let delay = policy.backoff(failures);
                        failures += 1;
                        warn!(attempt = failures, error = %err, "reading a Zoom response failed, retrying");
                        tokio::time::sleep(delay).await;
                        continue;
                    }
                    return Err(ZoomError::Transport(err));
                }
            };
            metrics::request(label, Some(status.as_u16()), started.elapsed());

            if status.is_success() {
                return serde_json::from_slice(&body).map_err(|e| ZoomError::decode(label, &e));
            }

            if let Some(rl) = rate_limit {
                metrics::rate_limited(label, rl.daily);
                if rl.daily {
                    let retry_after = rl
                        .retry_after
                        .filter(|d| !d.is_zero())
                        .unwrap_or_else(|| until_next_utc_midnight(Utc::now()));
                    if let Some(limiter) =
                        inner.limiter.as_ref().filter(|_| category.counts_daily())
                    {
                        limiter
                            .exhaust_daily(self.account_id(), retry_after)
                            .await?;
                    }
                    warn!(
                        retry_after_s = retry_after.as_secs(),
                        "Zoom daily limit reached, deferring"
                    );
                    return Err(ZoomError::RateLimited {
                        retry_after,
                        daily: true,
                    });
                }
                let retry_after = rl.retry_after.unwrap_or(policy.default_retry_after);
                rate_limited += 1;
                if rate_limited > policy.max_rate_limited_retries
                    || rate_limited_wait + retry_after > policy.max_rate_limited_wait
                {
                    return Err(ZoomError::RateLimited {
                        retry_after,
                        daily: false,
                    });
                }
                rate_limited_wait += retry_after;
                warn!(
                    retry_after_ms = retry_after.as_millis() as u64,
                    attempt = rate_limited,
                    "Zoom answered 429, slowing down"
                );
                match &inner.limiter {
                    // The next `acquire` sleeps until the pushed-back slot.
                    Some(limiter) => {
                        limiter
                            .penalize(self.account_id(), category, retry_after)
                            .await?;
                    }
                    None => tokio::time::sleep(retry_after).await,
                }
                continue;
            }

            if status == StatusCode::UNAUTHORIZED && !refreshed {
                // Typically 401 code 124 "Access token is expired": refresh once and retry.
                refreshed = true;
                token = self.tokens().refresh_after_unauthorized(&token).await?;
                continue;
            }

            if status.is_server_error() && failures < inner.config.max_retries {
                let delay = policy.backoff(failures);
                failures += 1;
                warn!(
                    attempt = failures,
                    status = status.as_u16(),
                    delay_ms = delay.as_millis() as u64,
                    "Zoom server error, retrying"
                );
                tokio::time::sleep(delay).await;
                continue;
            }

            return Err(error_for_status(status, &body));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn status_and_code_map_to_errors() {
        let e = error_for_status(
            StatusCode::NOT_FOUND,
            br#"{"code":3001,"message":"Meeting does not exist: 1."}"#,
        );
        assert!(matches!(e, ZoomError::NotFound { code: Some(3001) }));
        let e = error_for_status(
            StatusCode::BAD_REQUEST,
            br#"{"code":300,"message":"The next page token is invalid or expired."}"#,
        );
        assert!(
            matches!(e, ZoomError::BadRequest { status, code: Some(300), .. } if status == StatusCode::BAD_REQUEST)
        );
        // Localised messages do not matter; non-JSON bodies are tolerated.
        let e = error_for_status(
            StatusCode::BAD_REQUEST,
            "{\"code\":4711,\"message\":\"Недостаточно прав\"}".as_bytes(),
        );
        assert!(matches!(
            e,
            ZoomError::BadRequest {
                code: Some(4711),
                ..
            }
        ));
        let e = error_for_status(StatusCode::NOT_FOUND, b"<html>Not Found</html>");
        assert!(matches!(e, ZoomError::NotFound { code: None }));
        let e = error_for_status(StatusCode::BAD_GATEWAY, b"<xml/>");
        assert!(matches!(e, ZoomError::Server { status } if status == StatusCode::BAD_GATEWAY));
        let e = error_for_status(StatusCode::UNAUTHORIZED, br#"{"code":124}"#);
        assert!(matches!(e, ZoomError::Unauthorized));
        let e = error_for_status(StatusCode::MULTIPLE_CHOICES, br#"{"code":300}"#);
        assert!(matches!(
            e,
            ZoomError::BadRequest {
                code: Some(300),
                ..
            }
        ));
    }

    #[test]
    fn rate_limit_headers() {
        let mut h = HeaderMap::new();
        h.insert("x-ratelimit-type", HeaderValue::from_static("QPS"));
        h.insert("retry-after", HeaderValue::from_static("1"));
        assert_eq!(
            RateLimitHeaders::parse(&h),
            RateLimitHeaders {
                retry_after: Some(Duration::from_secs(1)),
                daily: false
            }
        );
        h.insert("x-ratelimit-type", HeaderValue::from_static("Daily-limit"));
        h.insert("retry-after", HeaderValue::from_static("not a date"));
        assert_eq!(
            RateLimitHeaders::parse(&h),
            RateLimitHeaders {
                retry_after: None,
                daily: true
            }
        );
        assert_eq!(
            RateLimitHeaders::parse(&HeaderMap::new()),
            RateLimitHeaders {
                retry_after: None,
                daily: false
            }
        );
    }

    #[test]
    fn endpoint_categories() {
        assert_eq!(Endpoint::UsersMe.category(), Category::Light);
        assert_eq!(Endpoint::Users.category(), Category::Medium);
        assert_eq!(Endpoint::ReportMeetings.category(), Category::Heavy);
        assert_eq!(Endpoint::ReportParticipants.category(), Category::Heavy);
        assert_eq!(Endpoint::UserCallHistory.category(), Category::Heavy);
    }
}
