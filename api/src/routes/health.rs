//! Probes: `/healthz` (the process answers) and `/readyz` (Postgres and Redis answer).

use std::time::Duration;

use axum::{Json, Router, extract::State, http::StatusCode, response::IntoResponse, routing::get};
use serde_json::{Value, json};

use crate::AppState;

/// How long a readiness check may take per dependency.
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
}

async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

async fn check<F, E>(fut: F) -> Result<(), String>
where
    F: Future<Output = Result<(), E>>,
    E: std::fmt::Display,
{
    match tokio::time::timeout(CHECK_TIMEOUT, fut).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no answer within {} s", CHECK_TIMEOUT.as_secs())),
    }
}

async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    let postgres = check(async { sqlx::query("select 1").execute(&state.db).await.map(|_| ()) });
    let mut conn = state.redis.clone();
    let redis = check(async move {
        // The first command on a connection Redis dropped (a restart, a failover) fails while
        // the connection manager reconnects: only a second failure means Redis is down.
        match redis::cmd("PING").query_async::<String>(&mut conn).await {
            Ok(_) => Ok(()),
            Err(_) => {
                tokio::time::sleep(Duration::from_millis(200)).await;
                redis::cmd("PING")
                    .query_async::<String>(&mut conn)
                    .await
                    .map(|_| ())
            }
        }
    });
    let (postgres, redis) = tokio::join!(postgres, redis);

    let mut down = Vec::new();
    let mut checks = serde_json::Map::new();
    for (name, result) in [("postgres", postgres), ("redis", redis)] {
        match result {
            Ok(()) => {
                checks.insert(name.into(), json!({"status": "up"}));
            }
            Err(error) => {
                tracing::warn!(dependency = name, %error, "readiness check failed");
                checks.insert(name.into(), json!({"status": "down", "error": error}));
                down.push(name);
            }
        }
    }
    if down.is_empty() {
        (
            StatusCode::OK,
            Json(json!({"status": "ready", "checks": checks})),
        )
    } else {
        let message = format!("not ready: {} down", down.join(" and "));
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({
                "status": "unavailable",
                "down": down,
                "checks": checks,
                "error": {"code": "unavailable", "message": message},
            })),
        )
    }
}
