//! The control API under `/_sim/` (JSON, no auth): thin HTTP wrappers over [`Sim`].

use axum::Json;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::json;

use crate::Sim;
use crate::error::SimError;
use crate::faults::FaultSpec;
use crate::limits::Limits;
use crate::types::{
    ApproverSpec, ClockInfo, CompanySpec, NewCall, NewMeeting, NewUser, TruthQuery,
};

pub(crate) fn router() -> Router<Sim> {
    Router::new()
        .route("/_sim/companies", post(create_company).get(list_companies))
        .route("/_sim/companies/{account_id}", get(get_company))
        .route("/_sim/companies/{account_id}/approver", post(set_approver))
        .route("/_sim/companies/{account_id}/users", post(add_user))
        .route("/_sim/companies/{account_id}/meetings", post(add_meeting))
        .route("/_sim/companies/{account_id}/calls", post(add_call))
        .route("/_sim/companies/{account_id}/revoke", post(revoke))
        .route(
            "/_sim/companies/{account_id}/deauthorize",
            post(deauthorize),
        )
        .route("/_sim/clock", get(clock))
        .route("/_sim/clock/advance", post(advance_clock))
        .route(
            "/_sim/faults",
            post(set_faults).get(get_faults).delete(clear_faults),
        )
        .route("/_sim/limits", post(set_limits).get(get_limits))
        .route("/_sim/counters", get(counters).delete(reset_counters))
        .route("/_sim/truth/{account_id}", get(truth))
}

type Answer = Result<Response, SimError>;

async fn create_company(State(sim): State<Sim>, Json(spec): Json<CompanySpec>) -> Answer {
    let info = sim.create_company(&spec)?;
    Ok((StatusCode::CREATED, Json(info)).into_response())
}

async fn list_companies(State(sim): State<Sim>) -> Response {
    Json(sim.companies()).into_response()
}

async fn get_company(State(sim): State<Sim>, Path(account_id): Path<String>) -> Answer {
    Ok(Json(sim.company(&account_id)?).into_response())
}

async fn set_approver(
    State(sim): State<Sim>,
    Path(account_id): Path<String>,
    body: Option<Json<ApproverSpec>>,
) -> Answer {
    let spec = body.map(|Json(spec)| spec).unwrap_or_default();
    Ok(Json(sim.set_approver(&account_id, &spec)?).into_response())
}

async fn add_user(
    State(sim): State<Sim>,
    Path(account_id): Path<String>,
    Json(user): Json<NewUser>,
) -> Answer {
    let info = sim.add_user(&account_id, &user)?;
    Ok((StatusCode::CREATED, Json(info)).into_response())
}

async fn add_meeting(
    State(sim): State<Sim>,
    Path(account_id): Path<String>,
    Json(meeting): Json<NewMeeting>,
) -> Answer {
    let created = sim.add_meeting(&account_id, &meeting)?;
    Ok((StatusCode::CREATED, Json(created)).into_response())
}

async fn add_call(
    State(sim): State<Sim>,
    Path(account_id): Path<String>,
    Json(call): Json<NewCall>,
) -> Answer {
    let records = sim.add_call(&account_id, &call)?;
    Ok((StatusCode::CREATED, Json(records)).into_response())
}

async fn revoke(State(sim): State<Sim>, Path(account_id): Path<String>) -> Answer {
    let had_grant = sim.revoke_grant(&account_id)?;
    Ok(Json(json!({"status": "revoked", "had_grant": had_grant})).into_response())
}

#[derive(Debug, Deserialize)]
struct DeauthorizeBody {
    url: String,
    /// Unix seconds to sign with instead of now.
    #[serde(default)]
    timestamp: Option<i64>,
}

async fn deauthorize(
    State(sim): State<Sim>,
    Path(account_id): Path<String>,
    Json(body): Json<DeauthorizeBody>,
) -> Answer {
    let status = sim
        .deauthorize(&account_id, &body.url, body.timestamp)
        .await?;
    Ok(Json(json!({"status": status})).into_response())
}

async fn clock(State(sim): State<Sim>) -> Response {
    Json(ClockInfo { now: sim.now() }).into_response()
}

#[derive(Debug, Deserialize)]
struct Advance {
    seconds: i64,
}

async fn advance_clock(State(sim): State<Sim>, Json(body): Json<Advance>) -> Response {
    Json(ClockInfo {
        now: sim.advance_clock(body.seconds),
    })
    .into_response()
}

async fn set_faults(State(sim): State<Sim>, Json(spec): Json<FaultSpec>) -> Answer {
    Ok(Json(sim.set_faults(&spec)?).into_response())
}

async fn get_faults(State(sim): State<Sim>) -> Response {
    Json(sim.faults()).into_response()
}

async fn clear_faults(State(sim): State<Sim>) -> Response {
    sim.clear_faults();
    Json(sim.faults()).into_response()
}

#[derive(Debug, Deserialize)]
struct LimitsBody {
    #[serde(default)]
    account_id: Option<String>,
    #[serde(flatten)]
    limits: Limits,
}

async fn set_limits(State(sim): State<Sim>, Json(body): Json<LimitsBody>) -> Answer {
    sim.set_limits(body.account_id.as_deref(), body.limits.clone())?;
    Ok(Json(body.limits).into_response())
}

#[derive(Debug, Deserialize)]
struct LimitsQuery {
    #[serde(default)]
    account_id: Option<String>,
}

async fn get_limits(State(sim): State<Sim>, Query(query): Query<LimitsQuery>) -> Answer {
    Ok(Json(sim.limits(query.account_id.as_deref())?).into_response())
}

async fn counters(State(sim): State<Sim>) -> Response {
    Json(sim.counters()).into_response()
}

async fn reset_counters(State(sim): State<Sim>) -> Response {
    sim.reset_counters();
    Json(sim.counters()).into_response()
}

async fn truth(
    State(sim): State<Sim>,
    Path(account_id): Path<String>,
    Query(query): Query<TruthQuery>,
) -> Answer {
    Ok(Json(sim.truth(&account_id, &query)?).into_response())
}
