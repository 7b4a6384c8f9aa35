//! Removing the app from a Zoom account (SPEC §1 "Removal", §6 `TeardownAccount`).
//!
//! A removal is asked for by Zoom (the `app_deauthorized` webhook, zoom-api.md §8.2) or by an
//! operator; both go through [`request_teardown`], which queues one `TeardownAccount` per
//! installation and asker, so a webhook Zoom delivers twice queues one job. The teardown
//! itself (`tasks::teardown_account`) afterwards calls Zoom twice, best effort: it revokes the
//! grant ([`revoke_grant`]) and, when Zoom asked for the user's data to be deleted, tells
//! Zoom's Data Compliance API it was ([`notify_data_compliance`], zoom-api.md §8.3).

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use redis::AsyncCommands as _;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

use crate::{
    queue::{EnqueueError, Job as _, PushOptions, Queues, queue_config},
    tasks::TeardownAccount,
    zoom::{TokenSet, ZoomClient, ZoomError},
};

/// Who asked for a removal; recorded as the audit entry's actor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    /// Zoom's `app_deauthorized` webhook: the admin removed the app in the Marketplace.
    ZoomDeauthorized,
    /// `POST /v1/ops/accounts/{id}/remove`.
    Operator,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ZoomDeauthorized => "zoom:app_deauthorized",
            Self::Operator => "operator",
        }
    }
}

/// What Zoom's `app_deauthorized` event says (zoom-api.md §8.2), as far as removal needs it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Deauthorization {
    /// `payload.account_id`: the Zoom account the app was removed from.
    pub zoom_account_id: String,
    /// `payload.deauthorization_time`, when Zoom sent one we could read.
    pub deauthorized_at: Option<DateTime<Utc>>,
    /// `payload.user_data_retention` (`"true"`/`"false"`, sent by older Zoom apps). `false`
    /// asks for the data to be deleted and the Data Compliance API to be called.
    pub user_data_retention: Option<bool>,
    /// The event's `payload` object as Zoom sent it: the compliance call echoes it back.
    pub payload: Value,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("the app_deauthorized payload has no account_id")]
pub struct MissingAccountId;

impl Deauthorization {
    /// Reads an `app_deauthorized` event's `payload`, leniently: only `account_id` is required.
    pub fn from_payload(payload: Value) -> Result<Self, MissingAccountId> {
        let zoom_account_id = payload
            .get("account_id")
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|id| !id.is_empty())
            .ok_or(MissingAccountId)?
            .to_owned();
        let deauthorized_at = payload
            .get("deauthorization_time")
            .and_then(Value::as_str)
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.with_timezone(&Utc));
        let user_data_retention = match payload.get("user_data_retention") {
            Some(Value::Bool(b)) => Some(*b),
            Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => Some(true),
            Some(Value::String(s)) if s.eq_ignore_ascii_case("false") => Some(false),
            _ => None,
        };
        Ok(Self {
            zoom_account_id,
            deauthorized_at,
            user_data_retention,
            payload,
        })
    }

    /// Whether Zoom expects the Data Compliance call. Only an explicit `true` (the admin let
    /// the app keep the data) spares it: the data is deleted either way, and Zoom's forum
    /// answers say apps should confirm even when they only held tokens.
    pub fn wants_compliance(&self) -> bool {
        self.user_data_retention != Some(true)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RemovalError {
    #[error("no account {0}")]
    UnknownAccount(Uuid),
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error(transparent)]
    Enqueue(#[from] EnqueueError),
}

/// What [`request_teardown`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TeardownRequested {
    /// A teardown is queued (or was already: then this is that job's id).
    Queued { job_id: String },
    /// The account is already removed; nothing was queued.
    AlreadyRemoved,
}

/// Queues the teardown of `account_id`. Asking again for the same installation (a webhook
/// delivered twice, an operator clicking twice) queues nothing new and answers the first
/// job's id. An account that is already removed gets no new job, unless Zoom asks for the
/// compliance call that an operator's earlier removal did not make.
pub async fn request_teardown(
    db: &PgPool,
    queues: &Queues,
    account_id: Uuid,
    reason: Reason,
    deauthorization: Option<Deauthorization>,
) -> Result<TeardownRequested, RemovalError> {
    let account: Option<(String, Option<DateTime<Utc>>)> =
        sqlx::query_as("select status, installed_at from accounts where id = $1")
            .bind(account_id)
            .fetch_optional(db)
            .await?;
    let Some((status, installed_at)) = account else {
        return Err(RemovalError::UnknownAccount(account_id));
    };
    let compliance_pending = deauthorization
        .as_ref()
        .is_some_and(Deauthorization::wants_compliance);
    if status == "removed" && !compliance_pending {
        return Ok(TeardownRequested::AlreadyRemoved);
    }
    let job = TeardownAccount {
        account_id,
        reason: reason.as_str().to_owned(),
        installed_at,
        deauthorization,
    };
    let key = job
        .idempotency_key()
        .expect("teardown jobs always have a key");
    let pushed = queues.push(job, PushOptions::default()).await?;
    // A duplicate push is dropped by the queue; the key remembers the job that won.
    let claimed = format!(
        "{}:{key}",
        queue_config::<TeardownAccount>(queues.prefix()).idempotency_key_set()
    );
    let mut redis = queues.connection();
    let job_id = match redis.get::<_, Option<String>>(&claimed).await {
        Ok(Some(id)) => id,
        Ok(None) => pushed,
        Err(e) => {
            tracing::warn!(error = %e, "could not read which teardown job holds the key");
            pushed
        }
    };
    tracing::info!(account.id = %account_id, job.id = %job_id, reason = reason.as_str(), "teardown requested");
    Ok(TeardownRequested::Queued { job_id })
}

/// Zoom revokes the grant before it sends `app_deauthorized`, so jobs in flight meet a dead
/// grant (401, `invalid_grant`) shortly before the removal arrives. A job that meets one
/// waits this long for the removal before it reports the grant dead: a removal then ends it
/// as cancelled, not failed.
pub const DEAD_GRANT_GRACE: Duration = Duration::from_secs(10);

/// Whether the account is `removed`, or becomes so within `grace` (polled).
pub async fn removed_within(
    db: &PgPool,
    account_id: Uuid,
    grace: Duration,
) -> Result<bool, sqlx::Error> {
    let deadline = Instant::now() + grace;
    loop {
        let status: Option<String> =
            sqlx::query_scalar("select status from accounts where id = $1")
                .bind(account_id)
                .fetch_optional(db)
                .await?;
        if status.is_none_or(|s| s == "removed") {
            return Ok(true);
        }
        if Instant::now() >= deadline {
            return Ok(false);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// What the webhook did with an `app_deauthorized` event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Deauthorized {
    Requested(TeardownRequested),
    /// No account has this Zoom account id (never installed here, or another environment's).
    UnknownAccount,
    /// The event is older than the account's current installation (a late redelivery after
    /// a reinstall): the new installation stays.
    Stale,
}

/// Handles Zoom's `app_deauthorized` (after the webhook's signature was verified).
pub async fn deauthorized(
    db: &PgPool,
    queues: &Queues,
    event: Deauthorization,
) -> Result<Deauthorized, RemovalError> {
    let account: Option<(Uuid, Option<DateTime<Utc>>)> =
        sqlx::query_as("select id, installed_at from accounts where zoom_account_id = $1")
            .bind(&event.zoom_account_id)
            .fetch_optional(db)
            .await?;
    let Some((account_id, installed_at)) = account else {
        return Ok(Deauthorized::UnknownAccount);
    };
    if let (Some(at), Some(installed)) = (event.deauthorized_at, installed_at)
        && at < installed
    {
        tracing::warn!(account.id = %account_id, "app_deauthorized predates the current installation: ignored");
        return Ok(Deauthorized::Stale);
    }
    match request_teardown(
        db,
        queues,
        account_id,
        Reason::ZoomDeauthorized,
        Some(event),
    )
    .await
    {
        Ok(requested) => Ok(Deauthorized::Requested(requested)),
        // Deleted between the two reads: accounts are never deleted, but be exact.
        Err(RemovalError::UnknownAccount(_)) => Ok(Deauthorized::UnknownAccount),
        Err(e) => Err(e),
    }
}

/// How a grant revocation ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Revoked {
    /// Zoom accepted the access token.
    AccessToken,
    /// Zoom refused the access token (expired, or already dead after the admin removed the
    /// app) and accepted the refresh token.
    RefreshToken,
    /// Zoom accepted neither; the grant is already gone or Zoom is unreachable.
    Failed,
}

/// Revokes the installation's grant at Zoom, best effort: the access token first, then the
/// refresh token if Zoom refuses the access token (it may have expired; the refresh token
/// lives for months). Failures are logged, never retried beyond the client's own retries.
pub async fn revoke_grant(zoom: &ZoomClient, tokens: &TokenSet) -> Revoked {
    match zoom.revoke(&tokens.access_token).await {
        Ok(()) => return Revoked::AccessToken,
        Err(e @ (ZoomError::InvalidGrant { .. } | ZoomError::BadRequest { .. })) => {
            tracing::info!(error = %e, "Zoom refused to revoke the access token; trying the refresh token");
        }
        Err(e) => {
            tracing::warn!(error = %e, "could not revoke the grant at Zoom");
            return Revoked::Failed;
        }
    }
    match zoom.revoke(&tokens.refresh_token).await {
        Ok(()) => Revoked::RefreshToken,
        Err(e) => {
            tracing::warn!(error = %e, "Zoom refused to revoke the grant; it is most likely gone already");
            Revoked::Failed
        }
    }
}

/// Endpoint label of the compliance call in `zoom_requests_total`.
const COMPLIANCE_ENDPOINT: &str = "POST /oauth/data/compliance";
/// Attempts of the compliance call (5xx and transport failures are tried again).
const COMPLIANCE_ATTEMPTS: u32 = 3;

#[derive(Debug, thiserror::Error)]
pub enum ComplianceError {
    #[error("invalid Zoom OAuth URL: {0}")]
    Url(#[from] url::ParseError),
    #[error("transport error talking to Zoom: {0}")]
    Transport(#[from] reqwest::Error),
    #[error("Zoom answered HTTP {0}")]
    Status(reqwest::StatusCode),
}

/// Tells Zoom's Data Compliance API that the data of a deauthorized installation was deleted
/// (zoom-api.md §8.3): `POST {oauth_base}/oauth/data/compliance` with Basic client auth,
/// echoing the event's payload.
pub async fn notify_data_compliance(
    zoom: &ZoomClient,
    event: &Deauthorization,
) -> Result<(), ComplianceError> {
    let config = zoom.config();
    let mut url = config.oauth_base_url.clone();
    let path = format!("{}/oauth/data/compliance", url.path().trim_end_matches('/'));
    url.set_path(&path);
    url.set_query(None);
    let field = |name: &str| event.payload.get(name).and_then(Value::as_str);
    let body = json!({
        "client_id": field("client_id").unwrap_or(config.client_id.as_str()),
        "user_id": field("user_id").unwrap_or_default(),
        "account_id": event.zoom_account_id,
        "deauthorization_event_received": event.payload,
        "compliance_completed": true,
    });
    let secret: &SecretString = &config.client_secret;
    let mut attempt = 0;
    loop {
        attempt += 1;
        let started = Instant::now();
        let sent = zoom
            .inner
            .http
            .post(url.clone())
            .basic_auth(&config.client_id, Some(secret.expose_secret()))
            .json(&body)
            .send()
            .await;
        let status = sent.as_ref().ok().map(reqwest::Response::status);
        record_request(status, started.elapsed());
        let retry = match sent {
            Ok(response) if response.status().is_success() => return Ok(()),
            Ok(response) if response.status().is_server_error() => {
                ComplianceError::Status(response.status())
            }
            Ok(response) => return Err(ComplianceError::Status(response.status())),
            Err(e) => ComplianceError::Transport(e),
        };
        if attempt >= COMPLIANCE_ATTEMPTS {
            return Err(retry);
        }
        tracing::warn!(attempt, error = %retry, "Zoom data compliance call failed, retrying");
        tokio::time::sleep(Duration::from_millis(500) * attempt).await;
    }
}

fn record_request(status: Option<reqwest::StatusCode>, elapsed: Duration) {
    let status = status.map_or_else(|| "error".to_owned(), |s| s.as_u16().to_string());
    metrics::counter!("zoom_requests_total", "endpoint" => COMPLIANCE_ENDPOINT, "status" => status)
        .increment(1);
    metrics::histogram!("zoom_request_duration_seconds", "endpoint" => COMPLIANCE_ENDPOINT)
        .record(elapsed.as_secs_f64());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_zoom_sample_payloads() {
        // ZoomNet's SampleData/Webhooks/app_deauthorized.json (no user_data_retention).
        let event = Deauthorization::from_payload(json!({
            "account_id": "AAAAAABBBB",
            "user_id": "abcD3ojfdbjfg",
            "signature": "827edc3452044f0bc86bdd5684afb7d1e6becfa1a767f24df1b287853cf73000",
            "deauthorization_time": "2020-06-17T13:52:28.632Z",
            "client_id": "ABCDEFGHIJKLMNOPQRST!V",
            "event_ts": "2024-09-08 15:58:40"
        }))
        .unwrap();
        assert_eq!(event.zoom_account_id, "AAAAAABBBB");
        assert_eq!(
            event.deauthorized_at.unwrap().to_rfc3339(),
            "2020-06-17T13:52:28.632+00:00"
        );
        assert_eq!(event.user_data_retention, None);
        assert!(event.wants_compliance());

        let keep = Deauthorization::from_payload(
            json!({"account_id": "A", "user_data_retention": "true", "deauthorization_time": 5}),
        )
        .unwrap();
        assert_eq!(keep.user_data_retention, Some(true));
        assert_eq!(keep.deauthorized_at, None);
        assert!(!keep.wants_compliance());
        let delete =
            Deauthorization::from_payload(json!({"account_id": "A", "user_data_retention": false}))
                .unwrap();
        assert!(delete.wants_compliance());

        assert_eq!(
            Deauthorization::from_payload(json!({"account_id": "  "})),
            Err(MissingAccountId)
        );
        assert_eq!(
            Deauthorization::from_payload(json!({"user_id": "x"})),
            Err(MissingAccountId)
        );
    }

    #[test]
    fn a_payload_survives_the_queue() {
        let job = TeardownAccount {
            account_id: Uuid::nil(),
            reason: Reason::ZoomDeauthorized.as_str().to_owned(),
            installed_at: None,
            deauthorization: Some(
                Deauthorization::from_payload(
                    json!({"account_id": "A", "user_data_retention": "false"}),
                )
                .unwrap(),
            ),
        };
        let back: TeardownAccount =
            serde_json::from_str(&serde_json::to_string(&job).unwrap()).unwrap();
        assert_eq!(back, job);
        // Jobs queued before these fields existed still decode.
        let old: TeardownAccount =
            serde_json::from_value(json!({"account_id": Uuid::nil(), "reason": "operator"}))
                .unwrap();
        assert_eq!(old.deauthorization, None);
        assert_eq!(old.installed_at, None);
    }
}
