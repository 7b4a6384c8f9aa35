//! `GET /openapi.json`: OpenAPI 3.1 for every JSON route of SPEC §7, built with `utoipa`.
//!
//! The operator types are the handlers' own (`routes::ops`); the shapes of the other routes
//! are described here by small doc-only types mirroring the JSON they answer (SPEC §7 fixes
//! those shapes), so this file needs no change in the route modules. Each path is declared
//! on a stub function below; a test checks every route of the router is listed.

use axum::{Json, http::header, response::IntoResponse};
use serde::Serialize;
use utoipa::{
    Modify, OpenApi, ToSchema,
    openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme},
};

use crate::routes::ops::{
    AccountDetailView, AccountView, AccountsView, BackfillCounts, BackfillView, CountsView,
    JobView, JobsView, LastPullView, MemberView, MinuteView, PausedView, QueueView, QueuesView,
    RetriedAllView, RetriedView, ThroughputView,
};

/// Every error: `{"error": {"code", "message"}}`.
#[derive(Serialize, ToSchema)]
pub struct Error {
    error: ErrorBody,
}

#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    /// `bad_request`, `unauthorized`, `forbidden`, `not_found`, `conflict`, `gone`,
    /// `unprocessable`, `unavailable` or `internal`.
    code: String,
    message: String,
}

#[derive(Serialize, ToSchema)]
pub struct Health {
    /// `ok`.
    status: String,
}

#[derive(Serialize, ToSchema)]
pub struct Readiness {
    /// `ready` or `unavailable`.
    status: String,
    /// Per dependency (`postgres`, `redis`): `{"status": "up"}` or `{"status": "down", "error"}`.
    #[schema(value_type = Object)]
    checks: serde_json::Value,
    /// When unavailable: the dependencies that are down.
    down: Option<Vec<String>>,
}

#[derive(Serialize, ToSchema)]
pub struct NewInstallLink {
    /// The company's e-mail domain, e.g. `acme.com`.
    domain: String,
}

#[derive(Serialize, ToSchema)]
pub struct InstallLink {
    id: uuid::Uuid,
    domain: String,
    /// `{PUBLIC_BASE_URL}/install/{token}`.
    url: String,
    expires_at: String,
}

#[derive(Serialize, ToSchema)]
pub struct MeBackfill {
    /// `queued`, `running`, `done` or `failed`.
    state: String,
    done: i32,
    total: i32,
}

#[derive(Serialize, ToSchema)]
pub struct MeZoom {
    /// `waiting_for_admin`, `available`, `active`, `opted_out` or `disabled`.
    status: String,
    /// The company's account status, if it installed the app.
    account_status: Option<String>,
    backfill: Option<MeBackfill>,
}

#[derive(Serialize, ToSchema)]
pub struct JobAccepted {
    job_id: String,
}

#[derive(Serialize, ToSchema)]
pub struct AccountJobAccepted {
    job_id: String,
    account_id: uuid::Uuid,
}

#[derive(Serialize, ToSchema)]
pub struct OptedOut {
    /// `opted_out`.
    status: String,
}

#[derive(Serialize, ToSchema)]
pub struct Billable {
    id: uuid::Uuid,
    /// `zoom_meeting` or `zoom_call`.
    source: String,
    /// Meeting instance UUID or call log id.
    external_id: String,
    title: String,
    started_at: String,
    ended_at: String,
    duration_seconds: i32,
    billed_minutes: i32,
    user_edited: bool,
    dismissed: bool,
}

#[derive(Serialize, ToSchema)]
pub struct BillablesPage {
    /// Newest first.
    items: Vec<Billable>,
    /// Pass as `cursor` for the next page; null on the last.
    next_cursor: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct BillableEdit {
    title: Option<String>,
    billed_minutes: Option<i32>,
    dismissed: Option<bool>,
}

/// A Zoom webhook event (`x-zm-signature` and `x-zm-request-timestamp` headers required).
#[derive(Serialize, ToSchema)]
pub struct WebhookEvent {
    /// `endpoint.url_validation`, `app_deauthorized`, ... (others are ignored with 200).
    event: String,
    event_ts: Option<i64>,
    #[schema(value_type = Object)]
    payload: serde_json::Value,
}

/// The answer to a webhook: `{"plainToken", "encryptedToken"}` for a URL validation,
/// otherwise `{"status"}` (`queued` with `job_id`, `already_removed`, `ignored`, ...).
#[derive(Serialize, ToSchema)]
pub struct WebhookReply {
    status: Option<String>,
    job_id: Option<String>,
    #[serde(rename = "plainToken")]
    plain_token: Option<String>,
    #[serde(rename = "encryptedToken")]
    encrypted_token: Option<String>,
}

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "admin",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("ADMIN_API_TOKEN (Billables staff and operators)"))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "user",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some("HS256 user token of the Billables app"))
                    .build(),
            ),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Billables for Zoom",
        description = "The Zoom integration of Billables AI: install links, user opt-in and entries, Zoom webhooks, operator routes.",
        version = "1"
    ),
    paths(
        healthz, readyz, metrics, openapi_json,
        create_install_link, webhook,
        me_zoom, opt_in, opt_out, me_billables, edit_billable,
        ops_queues, ops_queue, ops_queue_jobs, ops_pause, ops_resume, ops_retry_failed,
        ops_job, ops_retry_job, ops_accounts, ops_account, ops_pull, ops_remove,
    ),
    components(schemas(
        Error, ErrorBody, Health, Readiness, NewInstallLink, InstallLink, MeZoom, MeBackfill,
        JobAccepted, AccountJobAccepted, OptedOut, Billable, BillablesPage, BillableEdit,
        WebhookEvent, WebhookReply,
        QueuesView, QueueView, CountsView, ThroughputView, MinuteView, JobsView, JobView,
        RetriedView, RetriedAllView, PausedView, AccountsView, AccountView, LastPullView,
        BackfillCounts, AccountDetailView, MemberView, BackfillView,
    )),
    modifiers(&Security),
    tags(
        (name = "probes"), (name = "admin", description = "Billables staff"),
        (name = "zoom", description = "Called by Zoom"),
        (name = "me", description = "The signed-in Billables user"),
        (name = "ops", description = "Operators: queues, jobs, accounts"),
    )
)]
pub struct ApiDoc;

/// The document.
pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// `GET /openapi.json`.
pub async fn serve() -> impl IntoResponse {
    (
        [(header::CACHE_CONTROL, "public, max-age=300")],
        Json(document()),
    )
}

// The stubs below only carry the path declarations.

#[utoipa::path(get, path = "/healthz", tag = "probes", responses((status = 200, body = Health)))]
#[expect(dead_code, reason = "an OpenAPI path declaration")]
fn healthz() {}

#[utoipa::path(get, path = "/readyz", tag = "probes", responses(
    (status = 200, description = "Postgres and Redis answer", body = Readiness),
    (status = 503, description = "a dependency is down (named in `down`)", body = Readiness),
))]
#[expect(dead_code, reason = "an OpenAPI path declaration")]
fn readyz() {}

#[utoipa::path(get, path = "/metrics", tag = "ops", security(("admin" = [])), responses(
    (status = 200, description = "Prometheus text format", content_type = "text/plain", body = String),
    (status = 401, body = Error),
))]
#[expect(dead_code, reason = "an OpenAPI path declaration")]
fn metrics() {}

#[utoipa::path(get, path = "/openapi.json", tag = "probes", responses((status = 200, description = "This document", body = Object)))]
#[expect(dead_code, reason = "an OpenAPI path declaration")]
fn openapi_json() {}

#[utoipa::path(post, path = "/v1/admin/install-links", tag = "admin", security(("admin" = [])),
    request_body = NewInstallLink,
    responses(
        (status = 201, body = InstallLink),
        (status = 400, body = Error), (status = 401, body = Error),
        (status = 422, description = "not a valid domain", body = Error),
    ))]
#[expect(dead_code, reason = "an OpenAPI path declaration")]
fn create_install_link() {}

#[utoipa::path(post, path = "/zoom/webhook", tag = "zoom", request_body = WebhookEvent,
    params(
        ("x-zm-signature" = String, Header, description = "v0=HMAC-SHA256(secret, v0:{timestamp}:{body})"),
        ("x-zm-request-timestamp" = String, Header, description = "unix seconds; at most 5 minutes off"),
    ),
    responses(
        (status = 200, body = WebhookReply),
        (status = 400, description = "malformed JSON", body = Error),
        (status = 401, description = "bad signature or stale timestamp", body = Error),
    ))]
#[expect(dead_code, reason = "an OpenAPI path declaration")]
fn webhook() {}

#[utoipa::path(get, path = "/v1/me/zoom", tag = "me", security(("user" = [])), responses(
    (status = 200, body = MeZoom), (status = 401, body = Error),
))]
#[expect(dead_code, reason = "an OpenAPI path declaration")]
fn me_zoom() {}

#[utoipa::path(post, path = "/v1/me/zoom/opt-in", tag = "me", security(("user" = [])), responses(
    (status = 202, description = "backfill queued", body = JobAccepted),
    (status = 401, body = Error),
    (status = 409, description = "the company has no active install", body = Error),
    (status = 422, description = "no Zoom user has the user's e-mail", body = Error),
))]
#[expect(dead_code, reason = "an OpenAPI path declaration")]
fn opt_in() {}

#[utoipa::path(post, path = "/v1/me/zoom/opt-out", tag = "me", security(("user" = [])), responses(
    (status = 200, body = OptedOut), (status = 401, body = Error),
))]
#[expect(dead_code, reason = "an OpenAPI path declaration")]
fn opt_out() {}

#[utoipa::path(get, path = "/v1/me/billables", tag = "me", security(("user" = [])),
    params(
        ("from" = Option<String>, Query, description = "RFC 3339 or yyyy-mm-dd; entries starting at or after"),
        ("to" = Option<String>, Query, description = "RFC 3339 or yyyy-mm-dd; entries starting before or at"),
        ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page"),
    ),
    responses((status = 200, body = BillablesPage), (status = 400, body = Error), (status = 401, body = Error)))]
#[expect(dead_code, reason = "an OpenAPI path declaration")]
fn me_billables() {}

#[utoipa::path(patch, path = "/v1/me/billables/{id}", tag = "me", security(("user" = [])),
    params(("id" = uuid::Uuid, Path)),
    request_body = BillableEdit,
    responses(
        (status = 200, body = Billable), (status = 400, body = Error), (status = 401, body = Error),
        (status = 404, description = "not one of the user's entries", body = Error),
    ))]
#[expect(dead_code, reason = "an OpenAPI path declaration")]
fn edit_billable() {}

#[utoipa::path(get, path = "/v1/ops/queues", tag = "ops", security(("admin" = [])),
    params(("minutes" = Option<u32>, Query, description = "throughput window (1–180, default 15)")),
    responses((status = 200, body = QueuesView), (status = 401, body = Error), (status = 503, body = Error)))]
#[expect(dead_code, reason = "an OpenAPI path declaration")]
fn ops_queues() {}

#[utoipa::path(get, path = "/v1/ops/queues/{name}", tag = "ops", security(("admin" = [])),
    params(("name" = String, Path, description = "job name, e.g. `backfill_window`"),
           ("minutes" = Option<u32>, Query, description = "throughput window (1–180, default 15)")),
    responses((status = 200, body = QueueView), (status = 401, body = Error), (status = 404, body = Error)))]
#[expect(dead_code, reason = "an OpenAPI path declaration")]
fn ops_queue() {}

#[utoipa::path(get, path = "/v1/ops/queues/{name}/jobs", tag = "ops", security(("admin" = [])),
    params(("name" = String, Path, description = "job name"),
           ("state" = Option<String>, Query, description = "pending, scheduled, running, done, failed (default) or dead"),
           ("limit" = Option<usize>, Query, description = "at most this many (default 100, max 500)")),
    responses((status = 200, body = JobsView), (status = 400, body = Error), (status = 401, body = Error), (status = 404, body = Error)))]
#[expect(dead_code, reason = "an OpenAPI path declaration")]
fn ops_queue_jobs() {}

#[utoipa::path(post, path = "/v1/ops/queues/{name}/pause", tag = "ops", security(("admin" = [])),
    params(("name" = String, Path, description = "job name")),
    responses((status = 200, description = "workers stop fetching within about a second; running jobs finish", body = PausedView),
              (status = 401, body = Error), (status = 404, body = Error)))]
#[expect(dead_code, reason = "an OpenAPI path declaration")]
fn ops_pause() {}

#[utoipa::path(post, path = "/v1/ops/queues/{name}/resume", tag = "ops", security(("admin" = [])),
    params(("name" = String, Path, description = "job name")),
    responses((status = 200, body = PausedView), (status = 401, body = Error), (status = 404, body = Error)))]
#[expect(dead_code, reason = "an OpenAPI path declaration")]
fn ops_resume() {}

#[utoipa::path(post, path = "/v1/ops/queues/{name}/retry-failed", tag = "ops", security(("admin" = [])),
    params(("name" = String, Path, description = "job name")),
    responses((status = 200, description = "every failed and dead job of the queue is pending again", body = RetriedAllView),
              (status = 401, body = Error), (status = 404, body = Error)))]
#[expect(dead_code, reason = "an OpenAPI path declaration")]
fn ops_retry_failed() {}

#[utoipa::path(get, path = "/v1/ops/jobs/{id}", tag = "ops", security(("admin" = [])),
    params(("id" = String, Path, description = "job id (ULID)")),
    responses((status = 200, body = JobView), (status = 401, body = Error), (status = 404, body = Error)))]
#[expect(dead_code, reason = "an OpenAPI path declaration")]
fn ops_job() {}

#[utoipa::path(post, path = "/v1/ops/jobs/{id}/retry", tag = "ops", security(("admin" = [])),
    params(("id" = String, Path, description = "job id (ULID)")),
    responses((status = 200, description = "pending again, attempts reset", body = RetriedView),
              (status = 401, body = Error), (status = 404, body = Error),
              (status = 409, description = "the job is not failed or dead", body = Error)))]
#[expect(dead_code, reason = "an OpenAPI path declaration")]
fn ops_retry_job() {}

#[utoipa::path(get, path = "/v1/ops/accounts", tag = "ops", security(("admin" = [])),
    responses((status = 200, body = AccountsView), (status = 401, body = Error)))]
#[expect(dead_code, reason = "an OpenAPI path declaration")]
fn ops_accounts() {}

#[utoipa::path(get, path = "/v1/ops/accounts/{id}", tag = "ops", security(("admin" = [])),
    params(("id" = uuid::Uuid, Path)),
    responses((status = 200, body = AccountDetailView), (status = 401, body = Error), (status = 404, body = Error)))]
#[expect(dead_code, reason = "an OpenAPI path declaration")]
fn ops_account() {}

#[utoipa::path(post, path = "/v1/ops/accounts/{id}/pull", tag = "ops", security(("admin" = [])),
    params(("id" = uuid::Uuid, Path)),
    responses((status = 202, description = "a pull of every active member is queued", body = AccountJobAccepted),
              (status = 401, body = Error), (status = 404, body = Error),
              (status = 409, description = "the account is not active", body = Error)))]
#[expect(dead_code, reason = "an OpenAPI path declaration")]
fn ops_pull() {}

#[utoipa::path(post, path = "/v1/ops/accounts/{id}/remove", tag = "ops", security(("admin" = [])),
    params(("id" = uuid::Uuid, Path)),
    responses((status = 202, description = "teardown queued", body = AccountJobAccepted),
              (status = 401, body = Error), (status = 404, body = Error)))]
#[expect(dead_code, reason = "an OpenAPI path declaration")]
fn ops_remove() {}

#[cfg(test)]
mod tests {
    #[test]
    fn the_document_lists_every_json_route() {
        let doc = serde_json::to_value(super::document()).expect("serialises");
        assert!(doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")));
        let paths = doc["paths"].as_object().expect("paths");
        let text = serde_json::to_string(&doc).expect("json");
        let spec = oas3::from_json(&text).expect("a valid OpenAPI 3.1 document");
        assert!(spec.openapi.starts_with("3.1"));
        assert!(
            spec.components
                .is_some_and(|c| c.security_schemes.contains_key("admin"))
        );
        for path in [
            "/healthz",
            "/readyz",
            "/metrics",
            "/v1/admin/install-links",
            "/zoom/webhook",
            "/v1/me/zoom",
            "/v1/me/zoom/opt-in",
            "/v1/me/zoom/opt-out",
            "/v1/me/billables",
            "/v1/me/billables/{id}",
            "/v1/ops/queues",
            "/v1/ops/queues/{name}",
            "/v1/ops/queues/{name}/pause",
            "/v1/ops/queues/{name}/resume",
            "/v1/ops/queues/{name}/retry-failed",
            "/v1/ops/jobs/{id}",
            "/v1/ops/jobs/{id}/retry",
            "/v1/ops/accounts",
            "/v1/ops/accounts/{id}/pull",
            "/v1/ops/accounts/{id}/remove",
        ] {
            assert!(paths.contains_key(path), "{path} is missing");
        }
    }
}
