//! Zoom webhooks (`POST /zoom/webhook`).

use axum::Router;

use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
}
