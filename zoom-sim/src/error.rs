//! Error answers in Zoom's shapes: REST `{"code","message"}` (zoom-api.md §9), OAuth
//! `{"reason","error"}` (§1.5), and the control API's `{"error"}` ([`SimError`]).

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// A REST error: HTTP status plus Zoom's numeric `code` and `message`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ZoomError {
    pub status: StatusCode,
    pub code: u32,
    pub message: String,
}

impl ZoomError {
    fn new(status: StatusCode, code: u32, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    pub(crate) fn invalid_token() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, 124, "Invalid access token.")
    }

    pub(crate) fn expired_token() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, 124, "Access token is expired.")
    }

    pub(crate) fn user_not_found(user: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            1001,
            format!("User does not exist: {user}."),
        )
    }

    pub(crate) fn meeting_not_found(meeting: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            3001,
            format!("Meeting does not exist: {meeting}."),
        )
    }

    pub(crate) fn bad_page_token() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            300,
            "The next page token is invalid or expired.",
        )
    }

    pub(crate) fn bad_range() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            300,
            "The date range should be a month.",
        )
    }

    pub(crate) fn too_old() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            300,
            "Only provide report in recent 6 months.",
        )
    }

    pub(crate) fn invalid_field(field: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            300,
            format!("Invalid field: {field}."),
        )
    }

    pub(crate) fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, 404, "Not found.")
    }

    pub(crate) fn server_error(status: StatusCode) -> Self {
        Self::new(
            status,
            u32::from(status.as_u16()),
            "An unexpected error occurred. Try again later.",
        )
    }
}

impl IntoResponse for ZoomError {
    fn into_response(self) -> Response {
        (
            self.status,
            Json(json!({"code": self.code, "message": self.message})),
        )
            .into_response()
    }
}

/// An OAuth endpoint error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OAuthError {
    pub status: StatusCode,
    pub reason: &'static str,
    pub error: &'static str,
}

impl OAuthError {
    pub(crate) fn invalid_client() -> Self {
        Self {
            status: StatusCode::UNAUTHORIZED,
            reason: "Invalid client_id or client_secret",
            error: "invalid_client",
        }
    }

    pub(crate) fn bad_code() -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            reason: "Invalid authorization code",
            error: "invalid_grant",
        }
    }

    pub(crate) fn redirect_mismatch() -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            reason: "Redirect URI mismatch.",
            error: "invalid_grant",
        }
    }

    pub(crate) fn invalid_token() -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            reason: "Invalid Token!",
            error: "invalid_grant",
        }
    }

    pub(crate) fn invalid_request(reason: &'static str) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            reason,
            error: "invalid_request",
        }
    }

    pub(crate) fn unsupported_grant_type() -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            reason: "Unsupported grant type",
            error: "unsupported_grant_type",
        }
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        (
            self.status,
            Json(json!({"reason": self.reason, "error": self.error})),
        )
            .into_response()
    }
}

/// Errors of the in-process [`crate::Sim`] API and the `/_sim/` control routes.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("unknown account: {0}")]
    UnknownAccount(String),
    #[error("unknown user: {0}")]
    UnknownUser(String),
    #[error("bad request: {0}")]
    BadRequest(String),
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("webhook delivery failed: {0}")]
    Webhook(String),
}

impl IntoResponse for SimError {
    fn into_response(self) -> Response {
        let status = match &self {
            Self::UnknownAccount(_) | Self::UnknownUser(_) => StatusCode::NOT_FOUND,
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::Webhook(_) => StatusCode::BAD_GATEWAY,
        };
        (status, Json(json!({"error": self.to_string()}))).into_response()
    }
}
