//! Operator routes: JSON under `/v1/ops`, pages under `/ops`, `/metrics`, `/openapi.json`.

use axum::Router;

use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
}
