//! The one error type of the Zoom client.
//!
//! Variants are chosen by HTTP status and Zoom's numeric `code` (never by message text,
//! which Zoom may translate). Nothing in here ever holds an access token, a refresh token
//! or the client secret, and decode errors are reduced to their position so that a body
//! (which may contain tokens or e-mail addresses) never reaches a log line.

use std::time::Duration;

use reqwest::StatusCode;

/// Everything that can go wrong talking to Zoom.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ZoomError {
    /// The grant is dead (rotated, revoked or never valid): the account must be installed
    /// again. `error` is the OAuth `error` field, e.g. `invalid_grant` or `invalid_client`.
    #[error("Zoom rejected the OAuth grant ({error}); the app must be re-authorised")]
    InvalidGrant { error: String },

    /// The API kept answering 401 (code 124) even after one token refresh.
    #[error("Zoom rejected the access token even after a refresh")]
    Unauthorized,

    /// Zoom's rate limit. Returned only when retries are exhausted, the wait would be too
    /// long, or the daily cap is spent (`daily: true`; defer the work to the next UTC day).
    #[error("Zoom rate limit reached ({}), retry after {retry_after:?}", if *daily { "daily cap" } else { "per-second" })]
    RateLimited { retry_after: Duration, daily: bool },

    /// 404, e.g. code 1001 (unknown user) or 3001 (unknown meeting).
    #[error("Zoom resource not found (code {code:?})")]
    NotFound { code: Option<i64> },

    /// Any other 4xx, e.g. 400 code 300 (bad date range or page token), 4711 (missing scope).
    #[error("Zoom refused the request: HTTP {status}, code {code:?}: {message}")]
    BadRequest {
        status: StatusCode,
        code: Option<i64>,
        message: String,
    },

    /// 5xx after the retries were exhausted.
    #[error("Zoom server error: HTTP {status}")]
    Server { status: StatusCode },

    /// Connect errors, timeouts, broken connections (after retries).
    #[error("transport error talking to Zoom: {0}")]
    Transport(#[source] reqwest::Error),

    /// A 2xx body that did not have the expected shape.
    #[error("unexpected Zoom response: {0}")]
    Decode(String),

    /// A configured base URL cannot be joined with an API path.
    #[error("invalid Zoom URL: {0}")]
    InvalidUrl(#[source] url::ParseError),

    /// The shared rate limiter (Redis) failed.
    #[error("rate limiter unavailable: {0}")]
    Limiter(#[source] redis::RedisError),

    /// The token store (database) failed while loading, refreshing or saving tokens.
    #[error("token store unavailable: {0}")]
    TokenStore(String),
}

impl ZoomError {
    /// Whether retrying the same call later may succeed (jobs retry these with backoff).
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Self::RateLimited { .. }
                | Self::Server { .. }
                | Self::Transport(_)
                | Self::Limiter(_)
                | Self::TokenStore(_)
        )
    }

    /// Whether the account needs a fresh install (stop its jobs, mark `needs_reauth`).
    pub fn needs_reauth(&self) -> bool {
        matches!(self, Self::InvalidGrant { .. } | Self::Unauthorized)
    }

    /// A decode error that keeps only where parsing failed, never the offending value
    /// (serde messages quote it, and it may be a token or an e-mail address).
    pub(crate) fn decode(what: &str, err: &serde_json::Error) -> Self {
        let kind = match err.classify() {
            serde_json::error::Category::Io => "i/o error",
            serde_json::error::Category::Syntax => "invalid JSON",
            serde_json::error::Category::Data => "unexpected shape",
            serde_json::error::Category::Eof => "truncated JSON",
        };
        Self::Decode(format!(
            "{what}: {kind} at line {} column {}",
            err.line(),
            err.column()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_error_does_not_quote_values() {
        let err = serde_json::from_str::<u32>("\"eyJsecret-token\"").unwrap_err();
        assert!(
            err.to_string().contains("eyJsecret-token"),
            "serde quotes values"
        );
        let ours = ZoomError::decode("token response", &err).to_string();
        assert!(!ours.contains("eyJ"), "{ours}");
        assert!(ours.contains("unexpected shape"), "{ours}");
    }

    #[test]
    fn classification() {
        let rl = ZoomError::RateLimited {
            retry_after: Duration::from_secs(1),
            daily: true,
        };
        assert!(rl.is_transient());
        assert!(rl.to_string().contains("daily cap"));
        assert!(
            ZoomError::InvalidGrant {
                error: "invalid_grant".into()
            }
            .needs_reauth()
        );
        assert!(!ZoomError::NotFound { code: Some(3001) }.is_transient());
    }
}
