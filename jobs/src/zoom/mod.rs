//! Read-only Zoom client: OAuth, typed models, paginated streams, rate limiting.
//!
//! - [`ZoomClient`] holds the app's configuration and one shared HTTP client; its OAuth
//!   methods (`authorize_url`, `exchange_code`, `refresh`, `revoke`) are in `oauth.rs`.
//! - [`ZoomClient::account`] gives an [`AccountApi`] for one Zoom account, authorised by a
//!   [`TokenSource`] (the store's DB-backed one, or [`MemoryTokenSource`]).
//! - Every API call waits for the account's shared [`RateLimiter`] (Redis), retries 5xx,
//!   transport errors and 429s, refreshes the token once on a 401, and maps the rest to a
//!   typed [`ZoomError`].
//! - Wire types stay private (`wire.rs`); callers see the domain types of `models.rs`.

mod api;
mod client;
mod error;
mod metrics;
mod models;
mod oauth;
mod paths;
mod rate_limit;
mod retry;
mod token;
mod wire;

pub use api::AccountApi;
pub use client::{DEFAULT_API_BASE, ZoomClient, ZoomConfig};
pub use error::ZoomError;
pub use models::{CallRecord, MeetingInstance, ParticipantRecord, ParticipantStatus, ZoomUser};
pub use oauth::{TokenSet, needs_refresh};
pub use rate_limit::{Category, Rate, RateLimiter, RateLimits, Waited};
pub use retry::{RetryPolicy, parse_retry_after};
pub use token::{AccessToken, MemoryTokenSource, StaticTokenSource, TokenSource, api_base_for};
