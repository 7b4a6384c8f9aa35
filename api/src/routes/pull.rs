//! Operator "pull now": `POST /v1/ops/accounts/{id}/pull` enqueues an immediate `PullAccount`.

use axum::{
    Json, Router,
    extract::{Path, State},
    http::StatusCode,
    routing::post,
};
use jobs::{store::accounts, tasks::PullAccount};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::{ApiError, AppState, extract::Admin};

pub fn router() -> Router<AppState> {
    Router::new().route("/v1/ops/accounts/{id}/pull", post(pull_now))
}

async fn pull_now(
    _: Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let id: Uuid = id
        .parse()
        .map_err(|_| ApiError::NotFound("no such account".into()))?;
    let mut conn = state.db.acquire().await?;
    let account = accounts::get(&mut conn, id)
        .await?
        .ok_or_else(|| ApiError::NotFound("no such account".into()))?;
    drop(conn);
    if account.status != "active" {
        let why = match account.status.as_str() {
            "needs_reauth" => {
                "its Zoom grant is no longer valid; the IT admin must install the app again"
                    .to_owned()
            }
            "removed" => "the app was removed from its Zoom account".to_owned(),
            "pending" => "its installation has not finished yet".to_owned(),
            other => format!("its status is {other}"),
        };
        let detail = account
            .last_error
            .map(|e| format!(" (last error: {e})"))
            .unwrap_or_default();
        return Err(ApiError::Conflict(format!(
            "account is {}: not pulled because {why}{detail}",
            account.status
        )));
    }
    let job_id = state
        .queues
        .enqueue(PullAccount {
            account_id: id,
            tick: None,
        })
        .await
        .map_err(|e| ApiError::Unavailable(format!("the job queue is unavailable: {e}")))?;
    tracing::info!(account.id = %id, job.id = %job_id, "operator pull queued");
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({"job_id": job_id, "account_id": id})),
    ))
}
