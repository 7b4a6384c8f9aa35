//! Billables staff: custom install links per company e-mail domain.

use axum::{Json, Router, extract::State, http::StatusCode, routing::post};
use chrono::{DateTime, SecondsFormat, Utc};
use jobs::{domain::Domain, store::install};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{ApiError, AppState, extract::Admin};

pub fn router() -> Router<AppState> {
    Router::new().route("/v1/admin/install-links", post(create_install_link))
}

#[derive(Deserialize)]
struct CreateLink {
    domain: String,
}

#[derive(Serialize)]
struct LinkCreated {
    id: Uuid,
    domain: String,
    url: String,
    expires_at: String,
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

async fn create_install_link(
    _: Admin,
    State(state): State<AppState>,
    body: Result<Json<CreateLink>, axum::extract::rejection::JsonRejection>,
) -> Result<(StatusCode, Json<LinkCreated>), ApiError> {
    let Json(body) = body.map_err(|e| {
        ApiError::BadRequest(format!(
            "expected JSON {{\"domain\": \"acme.com\"}}: {}",
            e.body_text()
        ))
    })?;
    let domain = Domain::parse(&body.domain).map_err(|e| ApiError::Unprocessable(e.to_string()))?;
    let link = install::create_link(&state.db, &domain, "admin", Utc::now()).await?;
    tracing::info!(link.id = %link.id, domain = %domain, "install link created");
    Ok((
        StatusCode::CREATED,
        Json(LinkCreated {
            id: link.id,
            domain: domain.to_string(),
            url: state.public_url(&format!("/install/{}", link.token)),
            expires_at: rfc3339(link.expires_at),
        }),
    ))
}
