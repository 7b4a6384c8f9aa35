//! The state every handler shares: cheap handles on Postgres, Redis, the queues and settings.

use std::sync::Arc;

use jobs::{crypto::TokenKey, queue::Queues, zoom::ZoomClient};
use redis::aio::ConnectionManager;
use secrecy::SecretString;
use sqlx::PgPool;
use url::Url;

/// What the routes need from the configuration.
#[derive(Clone, Debug)]
pub struct ApiSettings {
    pub public_base_url: Url,
    pub admin_api_token: SecretString,
    pub zoom_webhook_secret_token: SecretString,
    pub user_jwt: UserJwt,
    pub backfill_days: u32,
    /// `PULL_SCHEDULE`, to show operators when the next pull runs.
    pub pull_schedule: Option<cron::Schedule>,
}

/// How user tokens of the main Billables app are checked.
#[derive(Clone, Debug)]
pub struct UserJwt {
    pub secret: SecretString,
    pub issuer: Option<String>,
    pub audience: Option<String>,
}

#[derive(Clone)]
pub struct AppState {
    pub db: PgPool,
    pub redis: ConnectionManager,
    pub queues: Queues,
    pub zoom: ZoomClient,
    pub token_key: TokenKey,
    pub settings: Arc<ApiSettings>,
}

impl AppState {
    pub fn new(
        db: PgPool,
        redis: ConnectionManager,
        queues: Queues,
        zoom: ZoomClient,
        token_key: TokenKey,
        settings: ApiSettings,
    ) -> Self {
        Self {
            db,
            redis,
            queues,
            zoom,
            token_key,
            settings: Arc::new(settings),
        }
    }

    /// `{PUBLIC_BASE_URL}{path}` with exactly one `/` between them.
    pub fn public_url(&self, path: &str) -> String {
        format!(
            "{}/{}",
            self.settings.public_base_url.as_str().trim_end_matches('/'),
            path.trim_start_matches('/')
        )
    }
}
