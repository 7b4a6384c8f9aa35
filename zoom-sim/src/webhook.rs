//! The signed `app_deauthorized` webhook (zoom-api.md §8.1–§8.2): body, `x-zm-signature`
//! (`v0=` + hex HMAC-SHA256 of `v0:{timestamp}:{raw body}` keyed by the webhook secret
//! token) and delivery.

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use serde_json::json;
use sha2::Sha256;

use crate::error::SimError;

/// The `x-zm-signature` value for a body sent with `timestamp` (unix seconds, as sent in
/// `x-zm-request-timestamp`).
pub fn signature(secret: &str, timestamp: &str, body: &[u8]) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC accepts keys of any length");
    mac.update(b"v0:");
    mac.update(timestamp.as_bytes());
    mac.update(b":");
    mac.update(body);
    format!("v0={}", hex::encode(mac.finalize().into_bytes()))
}

/// What an `app_deauthorized` event says.
#[derive(Debug, Clone)]
pub(crate) struct Deauthorization {
    pub account_id: String,
    pub user_id: String,
    pub client_id: String,
    pub deauthorization_time: DateTime<Utc>,
    /// Zoom's own payload signature (opaque to receivers).
    pub payload_signature: String,
}

impl Deauthorization {
    /// The JSON body, with `event_ts` in epoch milliseconds.
    pub(crate) fn body(&self, event_ts_ms: i64) -> Vec<u8> {
        let body = json!({
            "event": "app_deauthorized",
            "event_ts": event_ts_ms,
            "payload": {
                "account_id": self.account_id,
                "user_id": self.user_id,
                "signature": self.payload_signature,
                "deauthorization_time": self
                    .deauthorization_time
                    .format("%Y-%m-%dT%H:%M:%S%.3fZ")
                    .to_string(),
                "client_id": self.client_id,
                "user_data_retention": "false",
            }
        });
        body.to_string().into_bytes()
    }
}

/// POSTs a signed webhook body; the receiver's HTTP status.
pub(crate) async fn deliver(
    client: &reqwest::Client,
    url: &str,
    secret: &str,
    timestamp: i64,
    body: Vec<u8>,
) -> Result<u16, SimError> {
    let timestamp = timestamp.to_string();
    let signature = signature(secret, &timestamp, &body);
    let response = client
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header("x-zm-request-timestamp", &timestamp)
        .header("x-zm-signature", signature)
        .body(body)
        .send()
        .await
        .map_err(|e| SimError::Webhook(e.to_string()))?;
    Ok(response.status().as_u16())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_matches_zoom_scheme() {
        // Reference value from Python's hmac module.
        assert_eq!(
            signature("secret", "1700000000", br#"{"event":"x"}"#),
            "v0=aaaddc2382ce58a607b298ab6361ae1667ddff72c622b1993fd76c02908634c3"
        );
    }
}
