//! Zoom OAuth (General app, authorization-code grant): the authorize URL, code exchange,
//! refresh (Zoom rotates refresh tokens: only the latest one works), revoke, and the rule
//! for when to refresh (SPEC §6).
//!
//! <https://developers.zoom.us/docs/integrations/oauth/>; zoom-api.md §1.

use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};
use reqwest::StatusCode;
use secrecy::{ExposeSecret, SecretString};
use tracing::{instrument, warn};
use url::Url;

use super::client::{RateLimitHeaders, ZoomClient, retryable_transport};
use super::error::ZoomError;
use super::metrics;
use super::paths;
use super::wire::{OAuthErrorBody, TokenResponse};

/// Assumed lifetime when the token response has no `expires_in`.
const DEFAULT_EXPIRES_IN: i64 = 3600;

/// Tokens of one installation, as returned by the token endpoint.
#[derive(Debug, Clone)]
pub struct TokenSet {
    pub access_token: SecretString,
    pub refresh_token: SecretString,
    pub expires_at: DateTime<Utc>,
    /// Granted scopes (the response's space-separated `scope`).
    pub scope: Vec<String>,
    /// The account's REST host (`api_url`, without `/v2`), if Zoom named one.
    pub api_url: Option<Url>,
}

/// Whether a token expiring at `expires_at` that was issued for `lifetime` should be
/// refreshed at `now`: when less than the smaller of 5 minutes and a quarter of its
/// lifetime remains.
pub fn needs_refresh(expires_at: DateTime<Utc>, lifetime: TimeDelta, now: DateTime<Utc>) -> bool {
    let margin = TimeDelta::minutes(5).min(lifetime / 4);
    expires_at - now < margin
}

impl TokenSet {
    fn from_response(body: TokenResponse, now: DateTime<Utc>) -> Result<Self, ZoomError> {
        let refresh_token = body
            .refresh_token
            .filter(|t| !t.is_empty())
            .ok_or_else(|| ZoomError::Decode("token response without refresh_token".into()))?;
        if body.access_token.is_empty() {
            return Err(ZoomError::Decode(
                "token response with empty access_token".into(),
            ));
        }
        let expires_in = body.expires_in.unwrap_or(DEFAULT_EXPIRES_IN).max(0);
        let api_url = body.api_url.and_then(|u| match Url::parse(&u) {
            Ok(url) => Some(url),
            Err(_) => {
                warn!("ignoring an unparsable api_url in Zoom's token response");
                None
            }
        });
        Ok(Self {
            access_token: SecretString::from(body.access_token),
            refresh_token: SecretString::from(refresh_token),
            expires_at: now + TimeDelta::seconds(expires_in),
            scope: body
                .scope
                .as_deref()
                .unwrap_or_default()
                .split_whitespace()
                .map(str::to_owned)
                .collect(),
            api_url,
        })
    }
}

/// Whether a token-endpoint error means the grant is dead (zoom-api.md §1.5).
fn is_terminal_oauth_error(status: StatusCode, body: &OAuthErrorBody) -> bool {
    if !matches!(status, StatusCode::BAD_REQUEST | StatusCode::UNAUTHORIZED) {
        return false;
    }
    let error = body.error.as_deref().is_some_and(|e| {
        matches!(
            e,
            "invalid_grant" | "invalid_request" | "invalid_client" | "unauthorized_client"
        )
    });
    error || body.reason.as_deref() == Some("Invalid Token!")
}

impl ZoomClient {
    /// Where to send the installing admin:
    /// `{oauth_base}/oauth/authorize?response_type=code&client_id&redirect_uri&state`.
    pub fn authorize_url(&self, state: &str) -> Url {
        let config = &self.inner.config;
        let mut url = config.oauth_base_url.clone();
        let path = format!("{}/oauth/authorize", url.path().trim_end_matches('/'));
        url.set_path(&path);
        url.set_query(None);
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", &config.client_id)
            .append_pair("redirect_uri", config.redirect_uri.as_str())
            .append_pair("state", state);
        url
    }

    /// Exchanges an authorization code (5 minutes, single use) for tokens.
    #[instrument(skip_all)]
    pub async fn exchange_code(&self, code: &str) -> Result<TokenSet, ZoomError> {
        let redirect_uri = self.inner.config.redirect_uri.to_string();
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect_uri.as_str()),
        ];
        self.token_request(&form).await
    }

    /// Refreshes; the answer carries a new refresh token and the old one stops working, so
    /// the caller must persist the result before anything else.
    #[instrument(skip_all)]
    pub async fn refresh(&self, refresh_token: &SecretString) -> Result<TokenSet, ZoomError> {
        let form = [
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token.expose_secret()),
        ];
        self.token_request(&form).await
    }

    /// Revokes the grant (access and refresh token) of an installation.
    #[instrument(skip_all)]
    pub async fn revoke(&self, access_token: &SecretString) -> Result<(), ZoomError> {
        let form = [("token", access_token.expose_secret())];
        self.oauth_post("oauth/revoke", "POST /oauth/revoke", &form)
            .await
            .map(drop)
    }

    async fn token_request(&self, form: &[(&str, &str)]) -> Result<TokenSet, ZoomError> {
        let body = self
            .oauth_post("oauth/token", "POST /oauth/token", form)
            .await?;
        let response: TokenResponse =
            serde_json::from_slice(&body).map_err(|e| ZoomError::decode("token response", &e))?;
        TokenSet::from_response(response, Utc::now())
    }

    /// POSTs a form with Basic client auth to the OAuth host; retries connect errors, 5xx and
    /// 429 like API calls (no rate limiter: the token endpoint has its own budget).
    async fn oauth_post(
        &self,
        path: &str,
        label: &'static str,
        form: &[(&str, &str)],
    ) -> Result<Vec<u8>, ZoomError> {
        let inner = &self.inner;
        let config = &inner.config;
        let url = paths::join(&config.oauth_base_url, path, &[])?;
        let mut failures: u32 = 0;
        let mut rate_limited_wait = Duration::ZERO;
        loop {
            let started = Instant::now();
            let sent = inner
                .http
                .post(url.clone())
                .basic_auth(
                    &config.client_id,
                    Some(config.client_secret.expose_secret()),
                )
                .form(form)
                .send()
                .await;
            let response = match sent {
                Ok(r) => r,
                Err(err) => {
                    metrics::request(label, None, started.elapsed());
                    if retryable_transport(&err) && failures < config.max_retries {
                        let delay = inner.retry.backoff(failures);
                        failures += 1;
                        warn!(attempt = failures, error = %err, "Zoom OAuth request failed, retrying");
                        tokio::time::sleep(delay).await;
                        continue;
                    }
                    return Err(ZoomError::Transport(err));
                }
            };
            let status = response.status();
            let rate_limit = (status == StatusCode::TOO_MANY_REQUESTS)
                .then(|| RateLimitHeaders::parse(response.headers()));
            let body = response.bytes().await.map_err(ZoomError::Transport)?;
            metrics::request(label, Some(status.as_u16()), started.elapsed());

            if status.is_success() {
                return Ok(body.to_vec());
            }
            if let Some(rl) = rate_limit {
                metrics::rate_limited(label, rl.daily);
                let retry_after = rl.retry_after.unwrap_or(inner.retry.default_retry_after);
                if rl.daily || rate_limited_wait + retry_after > inner.retry.max_rate_limited_wait {
                    return Err(ZoomError::RateLimited {
                        retry_after,
                        daily: rl.daily,
                    });
                }
                rate_limited_wait += retry_after;
                tokio::time::sleep(retry_after).await;
                continue;
            }
            if status.is_server_error() && failures < config.max_retries {
                let delay = inner.retry.backoff(failures);
                failures += 1;
                warn!(
                    attempt = failures,
                    status = status.as_u16(),
                    "Zoom OAuth server error, retrying"
                );
                tokio::time::sleep(delay).await;
                continue;
            }
            if status.is_server_error() {
                return Err(ZoomError::Server { status });
            }
            let error: OAuthErrorBody = serde_json::from_slice(&body).unwrap_or_default();
            if is_terminal_oauth_error(status, &error) {
                return Err(ZoomError::InvalidGrant {
                    error: error.error.unwrap_or_else(|| "invalid_grant".to_owned()),
                });
            }
            return Err(ZoomError::BadRequest {
                status,
                code: None,
                message: error.reason.unwrap_or_default(),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(h: u32, m: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2025, 6, 1, h, m, s).unwrap()
    }

    #[test]
    fn needs_refresh_uses_min_of_five_minutes_and_a_quarter() {
        let hour = TimeDelta::seconds(3599);
        let expires = t(13, 0, 0);
        assert!(!needs_refresh(expires, hour, t(12, 54, 59)));
        assert!(!needs_refresh(expires, hour, t(12, 55, 0)));
        assert!(needs_refresh(expires, hour, t(12, 55, 1)));
        assert!(needs_refresh(expires, hour, t(13, 0, 0)));
        assert!(needs_refresh(expires, hour, t(14, 0, 0)));
        // A 60 s token: a quarter (15 s) is smaller than 5 minutes.
        let minute = TimeDelta::seconds(60);
        assert!(!needs_refresh(expires, minute, t(12, 59, 45)));
        assert!(needs_refresh(expires, minute, t(12, 59, 46)));
        // Unknown/zero lifetime: refresh only once expired.
        assert!(!needs_refresh(expires, TimeDelta::zero(), t(12, 59, 59)));
        assert!(needs_refresh(expires, TimeDelta::zero(), t(13, 0, 1)));
    }

    #[test]
    fn token_response_parsing() {
        let now = t(12, 0, 0);
        let body: TokenResponse = serde_json::from_str(
            r#"{"access_token":"eyJa","token_type":"bearer","refresh_token":"eyJr","expires_in":3599,
                "scope":"user:read:admin report:read:admin","api_url":"https://api-eu.zoom.us"}"#,
        )
        .unwrap();
        let set = TokenSet::from_response(body, now).unwrap();
        assert_eq!(set.expires_at, now + TimeDelta::seconds(3599));
        assert_eq!(set.scope, vec!["user:read:admin", "report:read:admin"]);
        assert_eq!(set.api_url.unwrap().as_str(), "https://api-eu.zoom.us/");
        assert_eq!(set.access_token.expose_secret(), "eyJa");

        let body: TokenResponse =
            serde_json::from_str(r#"{"access_token":"a","refresh_token":"r"}"#).unwrap();
        let set = TokenSet::from_response(body, now).unwrap();
        assert_eq!(set.expires_at, now + TimeDelta::seconds(3600));
        assert!(set.scope.is_empty());
        assert!(set.api_url.is_none());

        let body: TokenResponse =
            serde_json::from_str(r#"{"access_token":"a","expires_in":3600}"#).unwrap();
        assert!(matches!(
            TokenSet::from_response(body, now),
            Err(ZoomError::Decode(_))
        ));
    }

    #[test]
    fn terminal_oauth_errors() {
        let body = |error: Option<&str>, reason: Option<&str>| OAuthErrorBody {
            error: error.map(str::to_owned),
            reason: reason.map(str::to_owned),
        };
        let bad = StatusCode::BAD_REQUEST;
        assert!(is_terminal_oauth_error(
            bad,
            &body(Some("invalid_grant"), Some("Invalid Token!"))
        ));
        assert!(is_terminal_oauth_error(
            bad,
            &body(Some("invalid_request"), None)
        ));
        assert!(is_terminal_oauth_error(
            StatusCode::UNAUTHORIZED,
            &body(Some("invalid_client"), None)
        ));
        assert!(is_terminal_oauth_error(
            bad,
            &body(None, Some("Invalid Token!"))
        ));
        assert!(!is_terminal_oauth_error(
            bad,
            &body(Some("slow_down"), None)
        ));
        assert!(!is_terminal_oauth_error(bad, &OAuthErrorBody::default()));
        assert!(!is_terminal_oauth_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            &body(Some("invalid_grant"), None)
        ));
    }

    #[test]
    fn debug_of_a_token_set_hides_secrets() {
        let set = TokenSet {
            access_token: SecretString::from("eyJaccess"),
            refresh_token: SecretString::from("eyJrefresh"),
            expires_at: t(13, 0, 0),
            scope: vec![],
            api_url: None,
        };
        let shown = format!("{set:?}");
        assert!(!shown.contains("eyJ"), "{shown}");
    }
}
