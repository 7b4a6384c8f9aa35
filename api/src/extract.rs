//! Authentication extractors.

use axum::{extract::FromRequestParts, http::request::Parts};
use secrecy::ExposeSecret;
use subtle::ConstantTimeEq;

use crate::{AppState, ApiError};

/// Billables staff and operators: `Authorization: Bearer {ADMIN_API_TOKEN}`.
#[derive(Debug, Clone, Copy)]
pub struct Admin;

/// The bearer token of a request, if any.
pub fn bearer(parts: &Parts) -> Option<&str> {
    parts
        .headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
}

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let expected = state.settings.admin_api_token.expose_secret().as_bytes();
        match bearer(parts) {
            Some(given) if bool::from(given.as_bytes().ct_eq(expected)) => Ok(Admin),
            _ => Err(ApiError::Unauthorized),
        }
    }
}
