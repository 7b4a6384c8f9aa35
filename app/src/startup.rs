//! Connecting to Postgres and Redis, migrating, and running the API and the workers until a
//! shutdown signal.

use std::time::Duration;

use anyhow::Context as _;
use api::{ApiSettings, AppState};
use jobs::{
    queue::Queues,
    worker::WorkerSettings,
    zoom::{RateLimiter, ZoomClient, ZoomConfig},
};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use sqlx::PgPool;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::config::Config;

/// Handles every process role shares.
#[derive(Clone)]
pub struct Services {
    pub db: PgPool,
    pub redis: ConnectionManager,
    pub queues: Queues,
}

/// A Redis connection that reconnects by itself and never waits forever on a dead server.
pub fn redis_manager(url: &str) -> anyhow::Result<ConnectionManager> {
    let client = redis::Client::open(url).context("REDIS_URL is not a valid Redis URL")?;
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(Duration::from_secs(2)))
        .set_response_timeout(Some(Duration::from_secs(5)))
        .set_number_of_retries(2)
        .set_max_delay(Duration::from_secs(2));
    ConnectionManager::new_lazy_with_config(client, config)
        .context("could not set up the Redis connection")
}

/// Connects to Postgres (migrating it) and Redis.
pub async fn connect(config: &Config) -> anyhow::Result<Services> {
    let db = jobs::store::connect(&config.database_url, 16)
        .await
        .with_context(|| {
            format!(
                "could not connect to Postgres at {}",
                redact_url(&config.database_url)
            )
        })?;
    jobs::store::migrate(&db)
        .await
        .context("could not apply database migrations")?;
    let redis = redis_manager(&config.redis_url)?;
    Ok(Services {
        queues: Queues::new(redis.clone(), config.redis_prefix.clone()),
        db,
        redis,
    })
}

/// Waits until Redis answers (workers cannot do anything without it).
pub async fn wait_for_redis(redis: &ConnectionManager, url: &str) -> anyhow::Result<()> {
    let mut conn = redis.clone();
    redis::cmd("PING")
        .query_async::<String>(&mut conn)
        .await
        .with_context(|| format!("could not connect to Redis at {}", redact_url(url)))?;
    Ok(())
}

/// `scheme://host:port/path` without user or password, for error messages.
pub fn redact_url(raw: &str) -> String {
    match url::Url::parse(raw) {
        Ok(mut url) => {
            let _ = url.set_password(None);
            let _ = url.set_username("");
            url.to_string()
        }
        Err(_) => "(unparseable URL)".to_owned(),
    }
}

/// The Zoom client of this process, rate-limited through Redis (shared by every process).
pub fn zoom_client(config: &Config, redis: &ConnectionManager) -> anyhow::Result<ZoomClient> {
    let redirect_uri = format!(
        "{}/oauth/callback",
        config.public_base_url.as_str().trim_end_matches('/')
    );
    let client = ZoomClient::new(ZoomConfig {
        oauth_base_url: config.zoom_oauth_base_url.clone(),
        api_base_url: config.zoom_api_base_url.clone(),
        client_id: config.zoom_client_id.clone(),
        client_secret: config.zoom_client_secret.clone(),
        redirect_uri: url::Url::parse(&redirect_uri)
            .context("PUBLIC_BASE_URL gives no valid redirect URI")?,
        timeout: Duration::from_secs(30),
        max_retries: 4,
    })
    .context("could not build the Zoom HTTP client")?;
    Ok(client.with_rate_limiter(RateLimiter::new(
        redis.clone(),
        config.redis_prefix.clone(),
        config.zoom_rate_limits.clone(),
    )))
}

pub fn api_state(config: &Config, services: &Services) -> anyhow::Result<AppState> {
    Ok(AppState::new(
        services.db.clone(),
        services.redis.clone(),
        services.queues.clone(),
        zoom_client(config, &services.redis)?,
        config.token_key.clone(),
        ApiSettings {
            public_base_url: config.public_base_url.clone(),
            admin_api_token: config.admin_api_token.clone(),
            zoom_webhook_secret_token: config.zoom_webhook_secret_token.clone(),
            user_jwt: api::state::UserJwt {
                secret: config.user_jwt.secret.clone(),
                issuer: config.user_jwt.issuer.clone(),
                audience: config.user_jwt.audience.clone(),
            },
            backfill_days: config.backfill_days,
            pull_schedule: Some(config.pull_schedule.clone()),
        },
    ))
}

/// Serves the API on `listener` until `shutdown` is cancelled, then stops accepting and lets
/// requests in flight finish.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let addr = listener.local_addr()?;
    tracing::info!(%addr, "API listening");
    axum::serve(listener, api::router(state))
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await
        .context("the API server failed")?;
    tracing::info!("API stopped");
    Ok(())
}

/// Runs the job workers until `shutdown` is cancelled; running jobs get `shutdown_timeout` to
/// finish, after which they are left for another worker to pick up.
pub async fn work(
    config: &Config,
    services: &Services,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    wait_for_redis(&services.redis, &config.redis_url).await?;
    let settings = WorkerSettings::new(config.redis_prefix.clone(), config.worker_concurrency);
    let ctx = jobs::tasks::JobContext {
        db: services.db.clone(),
        redis: services.redis.clone(),
        zoom: zoom_client(config, &services.redis)?,
        token_key: config.token_key.clone(),
        queues: services.queues.clone(),
        settings: jobs::tasks::JobSettings {
            redis_prefix: config.redis_prefix.clone(),
            instance: settings.instance.clone(),
            pull_schedule: Some(config.pull_schedule.clone()),
            pull_overlap_minutes: config.pull_overlap_minutes,
            backfill_days: config.backfill_days,
            increment_minutes: config.billing_increment_minutes,
        },
    };
    let monitor = jobs::tasks::monitor(&settings, ctx)
        .shutdown_timeout(config.shutdown_timeout)
        // A queue worker ends when its backend fails (e.g. Redis restarts: "Failed to poll
        // backend"); without a restart the process stays up but never runs a job again.
        // Restarted workers get a fresh name (the restart count is part of it), and Redis'
        // connection manager paces reconnects, so a long outage does not spin.
        .should_restart(|worker, error| {
            tracing::warn!(worker = worker.name(), restarts = worker.restarts(), %error, "queue worker failed; restarting it");
            true
        });
    tracing::info!(instance = %settings.instance, concurrency = settings.concurrency, "workers started");
    monitor
        .run_with_signal(async move {
            shutdown.cancelled().await;
            Ok(())
        })
        .await
        .context("the job workers failed")?;
    tracing::info!("workers stopped");
    Ok(())
}

/// Resolves on SIGTERM or ctrl-c.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutdown signal received");
}
