//! Operator removal: `POST /v1/ops/accounts/{id}/remove` tears the account down the same way
//! Zoom's `app_deauthorized` does (`jobs::removal`).
//!
//! 202 `{"job_id", "account_id"}` while the teardown is queued or running (asking again
//! answers the same job); 409 once the account is removed; 404 for an unknown id.

use axum::{
    Json, Router,
    extract::{Path, State},
    http::StatusCode,
    routing::post,
};
use jobs::removal::{self, Reason, RemovalError, TeardownRequested};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::{ApiError, AppState, extract::Admin};

pub fn router() -> Router<AppState> {
    Router::new().route("/v1/ops/accounts/{id}/remove", post(remove))
}

async fn remove(
    _: Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let not_found = || ApiError::NotFound("no such account".into());
    let id: Uuid = id.parse().map_err(|_| not_found())?;
    let requested = removal::request_teardown(&state.db, &state.queues, id, Reason::Operator, None)
        .await
        .map_err(|e| match e {
            RemovalError::UnknownAccount(_) => not_found(),
            RemovalError::Db(e) => e.into(),
            RemovalError::Enqueue(e) => {
                tracing::error!(error = %e, "could not queue a teardown");
                ApiError::Unavailable("the job queue is unavailable; try again in a minute".into())
            }
        })?;
    match requested {
        TeardownRequested::Queued { job_id } => {
            tracing::info!(account.id = %id, job.id = %job_id, "operator removal queued");
            Ok((
                StatusCode::ACCEPTED,
                Json(json!({"job_id": job_id, "account_id": id})),
            ))
        }
        TeardownRequested::AlreadyRemoved => Err(ApiError::Conflict(
            "the account is already removed; it comes back when its admin installs the app again"
                .into(),
        )),
    }
}
