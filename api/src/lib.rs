//! The HTTP surface of Billables for Zoom (SPEC §7): one axum router over a cheap `Clone`
//! state. Handlers are thin: extract, parse into domain types, call `jobs`, map to a response.

pub mod error;
pub mod extract;
pub mod metrics;
pub mod openapi;
pub mod pages;
pub mod routes;
pub mod state;

use std::time::Duration;

use axum::{
    Router,
    http::{HeaderName, HeaderValue, header},
};
use tower_http::{
    limit::RequestBodyLimitLayer,
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer},
    set_header::SetResponseHeaderLayer,
    timeout::TimeoutLayer,
    trace::TraceLayer,
};

pub use crate::{
    error::ApiError,
    state::{ApiSettings, AppState},
};

/// Request bodies above this are refused with 413.
pub const BODY_LIMIT: usize = 1024 * 1024;
/// A request that takes longer is answered 408 (webhooks must answer within 3 s anyway).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The request's span names the route template, never the raw URI: install-link tokens and
/// OAuth codes travel in paths and query strings and must not reach the logs.
fn request_span(request: &axum::http::Request<axum::body::Body>) -> tracing::Span {
    let route = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map_or("(unmatched)", axum::extract::MatchedPath::as_str);
    let request_id = request
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    tracing::info_span!("request", method = %request.method(), route, request_id)
}

/// The whole application router.
pub fn router(state: AppState) -> Router {
    let request_id = HeaderName::from_static("x-request-id");
    metrics::install();
    let operator_session =
        axum::middleware::from_fn_with_state(state.clone(), routes::ops::auth::session);
    Router::new()
        .merge(routes::health::router())
        .merge(routes::admin::router())
        .merge(routes::install::router())
        .merge(routes::me::router())
        .merge(routes::integrations::router())
        .merge(routes::webhook::router())
        .merge(routes::ops::router())
        .merge(routes::pull::router())
        .merge(routes::removal::router())
        .fallback(error::not_found)
        .with_state(state)
        .layer(operator_session)
        .layer(RequestBodyLimitLayer::new(BODY_LIMIT))
        .layer(TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            REQUEST_TIMEOUT,
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_FRAME_OPTIONS,
            HeaderValue::from_static("DENY"),
        ))
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(TraceLayer::new_for_http().make_span_with(request_span))
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
}
