//! Authentication extractors.

use axum::{extract::FromRequestParts, http::request::Parts};
use secrecy::ExposeSecret;
use subtle::ConstantTimeEq;

use crate::{ApiError, AppState};

/// Billables staff and operators: `Authorization: Bearer {ADMIN_API_TOKEN}`, or an
/// operator's browser signed in at `/ops/login` (see [`OperatorSession`]).
#[derive(Debug, Clone, Copy)]
pub struct Admin;

/// Put in a request's extensions by the operator-session middleware (`routes::ops::auth`)
/// when it carries a valid session cookie and, for unsafe methods, comes from our own origin.
#[derive(Debug, Clone, Copy)]
pub struct OperatorSession;

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

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        if parts.extensions.get::<OperatorSession>().is_some() {
            return Ok(Admin);
        }
        let expected = state.settings.admin_api_token.expose_secret().as_bytes();
        match bearer(parts) {
            Some(given) if bool::from(given.as_bytes().ct_eq(expected)) => Ok(Admin),
            _ => Err(ApiError::Unauthorized),
        }
    }
}

/// A Billables user, from an HS256 JWT of the main app (`sub`, `email`, `exp`; `iss`/`aud`
/// only when configured). The JSON API takes it as a bearer token.
#[derive(Debug, Clone)]
pub struct User {
    pub id: String,
    pub email: jobs::domain::Email,
}

#[derive(serde::Deserialize)]
struct Claims {
    sub: String,
    email: String,
}

/// The cookie the integrations page keeps the user's token in.
pub const USER_COOKIE: &str = "bz_user";

impl User {
    /// Verifies a user token.
    pub fn from_token(token: &str, state: &AppState) -> Result<Self, ApiError> {
        let jwt = &state.settings.user_jwt;
        let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
        validation.leeway = 30;
        validation.set_required_spec_claims(&["exp", "sub"]);
        match &jwt.issuer {
            Some(iss) => validation.set_issuer(&[iss]),
            None => validation.iss = None,
        }
        match &jwt.audience {
            Some(aud) => validation.set_audience(&[aud]),
            None => validation.validate_aud = false,
        }
        let key = jsonwebtoken::DecodingKey::from_secret(jwt.secret.expose_secret().as_bytes());
        let claims = jsonwebtoken::decode::<Claims>(token, &key, &validation).map_err(|e| {
            tracing::debug!(error = %e, "user token refused");
            ApiError::Unauthorized
        })?;
        let Claims { sub, email } = claims.claims;
        if sub.trim().is_empty() {
            return Err(ApiError::Unauthorized);
        }
        let email = jobs::domain::Email::parse(&email).map_err(|_| ApiError::Unauthorized)?;
        Ok(Self { id: sub, email })
    }
}

impl FromRequestParts<AppState> for User {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token = bearer(parts).ok_or(ApiError::Unauthorized)?;
        Self::from_token(token, state)
    }
}

/// The user token of a page request: the `bz_user` cookie, or a bearer token.
pub fn page_token(parts: &Parts) -> Option<String> {
    if let Some(token) = bearer(parts) {
        return Some(token.to_owned());
    }
    parts
        .headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == USER_COOKIE)
        .map(|(_, value)| value.to_owned())
}
