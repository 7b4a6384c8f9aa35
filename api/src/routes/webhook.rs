//! Zoom webhooks (`POST /zoom/webhook`, zoom-api.md §8).
//!
//! Every request is verified before anything else is read: `x-zm-signature` must be `v0=` +
//! hex HMAC-SHA256 of `v0:{x-zm-request-timestamp}:{raw body}` keyed by
//! `ZOOM_WEBHOOK_SECRET_TOKEN` (compared in constant time), and the timestamp must be within
//! five minutes of our clock (replay protection). Then:
//! - `endpoint.url_validation` answers `{"plainToken", "encryptedToken"}`, the token's HMAC;
//! - `app_deauthorized` queues the account's teardown (`jobs::removal`) and answers at once
//!   (Zoom wants an answer within 3 s); a duplicate delivery queues nothing new;
//! - anything else is acknowledged with 200 and ignored.
//!
//! Neither the body nor the secret is ever logged.

use axum::{
    Json, Router,
    body::Bytes,
    extract::State,
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::post,
};
use chrono::Utc;
use hmac::{Hmac, Mac};
use jobs::removal::{self, Deauthorization, Deauthorized, RemovalError, TeardownRequested};
use secrecy::ExposeSecret;
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::Sha256;

use crate::{ApiError, AppState};

pub const SIGNATURE_HEADER: &str = "x-zm-signature";
pub const TIMESTAMP_HEADER: &str = "x-zm-request-timestamp";
/// How far a request's timestamp may be from our clock, either way.
pub const MAX_SKEW_SECS: i64 = 5 * 60;

pub fn router() -> Router<AppState> {
    Router::new().route("/zoom/webhook", post(receive))
}

/// Why a webhook request was refused (401).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Rejected {
    #[error("x-zm-request-timestamp is missing or not a unix time in seconds")]
    NoTimestamp,
    #[error("x-zm-signature is missing or does not match the request")]
    BadSignature,
    #[error("x-zm-request-timestamp is more than 5 minutes away from our clock")]
    Stale,
}

fn mac(secret: &[u8]) -> Hmac<Sha256> {
    Hmac::<Sha256>::new_from_slice(secret).expect("HMAC accepts keys of any length")
}

/// Checks Zoom's signature over the raw body and the timestamp's freshness at `now` (unix
/// seconds).
pub fn verify(
    secret: &[u8],
    timestamp: Option<&str>,
    signature: Option<&str>,
    body: &[u8],
    now: i64,
) -> Result<(), Rejected> {
    let timestamp = timestamp.map(str::trim).ok_or(Rejected::NoTimestamp)?;
    let seconds: i64 = timestamp.parse().map_err(|_| Rejected::NoTimestamp)?;
    let given = signature
        .and_then(|s| s.trim().strip_prefix("v0="))
        .and_then(|hex| hex::decode(hex).ok())
        .ok_or(Rejected::BadSignature)?;
    let mut mac = mac(secret);
    mac.update(b"v0:");
    mac.update(timestamp.as_bytes());
    mac.update(b":");
    mac.update(body);
    mac.verify_slice(&given)
        .map_err(|_| Rejected::BadSignature)?;
    if now.abs_diff(seconds) > MAX_SKEW_SECS.unsigned_abs() {
        return Err(Rejected::Stale);
    }
    Ok(())
}

/// The `encryptedToken` of a URL validation: hex HMAC-SHA256 of the plain token.
pub fn encrypted_token(secret: &[u8], plain_token: &str) -> String {
    let mut mac = mac(secret);
    mac.update(plain_token.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// Zoom's envelope: `{"event", "event_ts", "payload"}`.
#[derive(Deserialize)]
struct Event {
    event: String,
    #[serde(default)]
    payload: Value,
}

fn unauthorized(reason: Rejected) -> Response {
    (
        StatusCode::UNAUTHORIZED,
        Json(json!({"error": {"code": "unauthorized", "message": reason.to_string()}})),
    )
        .into_response()
}

async fn receive(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let secret = state.settings.zoom_webhook_secret_token.expose_secret();
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if let Err(reason) = verify(
        secret.as_bytes(),
        header(TIMESTAMP_HEADER),
        header(SIGNATURE_HEADER),
        &body,
        Utc::now().timestamp(),
    ) {
        tracing::warn!(%reason, "webhook refused");
        return unauthorized(reason);
    }
    let Ok(event) = serde_json::from_slice::<Event>(&body) else {
        return ApiError::BadRequest(
            "the body is not a Zoom event (JSON with \"event\" and \"payload\")".into(),
        )
        .into_response();
    };
    match event.event.as_str() {
        "endpoint.url_validation" => url_validation(secret.as_bytes(), &event.payload),
        "app_deauthorized" => app_deauthorized(&state, event.payload)
            .await
            .unwrap_or_else(IntoResponse::into_response),
        other => {
            tracing::info!(event = other, "webhook event ignored");
            Json(json!({"status": "ignored"})).into_response()
        }
    }
}

fn url_validation(secret: &[u8], payload: &Value) -> Response {
    let Some(plain) = payload
        .get("plainToken")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
    else {
        return ApiError::BadRequest("endpoint.url_validation without payload.plainToken".into())
            .into_response();
    };
    tracing::info!("webhook URL validated");
    Json(json!({"plainToken": plain, "encryptedToken": encrypted_token(secret, plain)}))
        .into_response()
}

async fn app_deauthorized(state: &AppState, payload: Value) -> Result<Response, ApiError> {
    let event =
        Deauthorization::from_payload(payload).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let outcome = removal::deauthorized(&state.db, &state.queues, event)
        .await
        .map_err(|e| match e {
            RemovalError::Db(e) => ApiError::from(e),
            RemovalError::Enqueue(e) => {
                tracing::error!(error = %e, "could not queue a teardown");
                // Zoom delivers again when we do not answer 2xx.
                ApiError::Unavailable("the job queue is unavailable; try again later".into())
            }
            RemovalError::UnknownAccount(_) => {
                ApiError::Internal(anyhow::anyhow!("account vanished while queueing"))
            }
        })?;
    let body = match outcome {
        Deauthorized::Requested(TeardownRequested::Queued { job_id }) => {
            json!({"status": "queued", "job_id": job_id})
        }
        Deauthorized::Requested(TeardownRequested::AlreadyRemoved) => {
            tracing::info!("app_deauthorized for an account already removed: nothing to do");
            json!({"status": "already_removed"})
        }
        Deauthorized::UnknownAccount => {
            tracing::warn!("app_deauthorized for a Zoom account that is not installed here");
            json!({"status": "unknown_account"})
        }
        Deauthorized::Stale => json!({"status": "stale"}),
    };
    Ok(Json(body).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"secret";
    const BODY: &[u8] = br#"{"event":"x"}"#;
    /// From Python's hmac module (the simulator's test uses the same reference value).
    const SIGNED: &str = "v0=aaaddc2382ce58a607b298ab6361ae1667ddff72c622b1993fd76c02908634c3";
    const TS: i64 = 1_700_000_000;

    fn check(ts: Option<&str>, sig: Option<&str>, body: &[u8], now: i64) -> Result<(), Rejected> {
        verify(SECRET, ts, sig, body, now)
    }

    #[test]
    fn accepts_zoom_signatures_within_five_minutes() {
        assert_eq!(check(Some("1700000000"), Some(SIGNED), BODY, TS), Ok(()));
        assert_eq!(
            check(Some("1700000000"), Some(SIGNED), BODY, TS + 300),
            Ok(())
        );
        assert_eq!(
            check(Some("1700000000"), Some(SIGNED), BODY, TS - 300),
            Ok(())
        );
        assert_eq!(
            check(Some("1700000000"), Some(SIGNED), BODY, TS + 301),
            Err(Rejected::Stale)
        );
        assert_eq!(
            check(Some("1700000000"), Some(SIGNED), BODY, TS - 301),
            Err(Rejected::Stale)
        );
    }

    #[test]
    fn refuses_anything_else() {
        let bad = Err(Rejected::BadSignature);
        assert_eq!(check(Some("1700000000"), None, BODY, TS), bad);
        assert_eq!(check(Some("1700000000"), Some(&SIGNED[3..]), BODY, TS), bad);
        assert_eq!(check(Some("1700000000"), Some("v0=zz"), BODY, TS), bad);
        assert_eq!(check(Some("1700000000"), Some("v0="), BODY, TS), bad);
        assert_eq!(
            check(Some("1700000000"), Some(SIGNED), br#"{"event":"y"}"#, TS),
            bad
        );
        // The timestamp is signed: another one breaks the signature.
        assert_eq!(check(Some("1700000001"), Some(SIGNED), BODY, TS), bad);
        assert_eq!(
            verify(b"other", Some("1700000000"), Some(SIGNED), BODY, TS),
            bad
        );
        assert_eq!(
            check(None, Some(SIGNED), BODY, TS),
            Err(Rejected::NoTimestamp)
        );
        assert_eq!(
            check(Some("soon"), Some(SIGNED), BODY, TS),
            Err(Rejected::NoTimestamp)
        );
    }

    #[test]
    fn url_validation_token() {
        // echo -n qgg8vlvZRS6UYooatFL8Aw | openssl dgst -sha256 -hmac secret
        assert_eq!(
            encrypted_token(SECRET, "qgg8vlvZRS6UYooatFL8Aw"),
            "72cef096bfd47c0b8664df30d07721641e4abd7e885ba432204260db477a9a3e"
        );
    }
}
