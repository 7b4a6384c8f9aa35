//! The user's JSON API: Zoom status, opt-in/out, and their own billable entries.

use axum::{
    Json, Router,
    extract::{Path, Query, State, rejection::JsonRejection},
    http::StatusCode,
    routing::{get, patch, post},
};
use base64::Engine as _;
use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use jobs::{
    membership::{self, OptInError},
    store::billables::{self, Billable, Edit},
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::{ApiError, AppState, extract::User};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/me/zoom", get(zoom_status))
        .route("/v1/me/zoom/opt-in", post(opt_in))
        .route("/v1/me/zoom/opt-out", post(opt_out))
        .route("/v1/me/billables", get(list))
        .route("/v1/me/billables/{id}", patch(edit))
}

pub(crate) fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// The `GET /v1/me/zoom` body. `message` is a sentence for people; clients branch on `status`.
pub(crate) fn status_json(status: &membership::ZoomStatus) -> Value {
    let message = match (status.status, status.account_status.as_deref()) {
        ("disabled", Some("removed")) => {
            "Your IT admin removed the Billables app from your company's Zoom account: no new \
             entries are created. The entries you already have stay. Once the app is installed \
             again you can activate Zoom again."
        }
        ("disabled", _) => "Zoom is disabled for your account.",
        ("active", _) => "Zoom is active: the meetings and calls you take part in become entries.",
        ("opted_out", _) => {
            "You turned Zoom off: no new entries are created. The entries you already have stay."
        }
        ("available", _) => {
            "Your company installed the Billables app in Zoom: activate it to get entries for your meetings and calls."
        }
        _ => "Waiting for your IT admin to install the Billables app in Zoom.",
    };
    json!({
        "status": status.status,
        "account_status": status.account_status,
        "message": message,
        "backfill": status.backfill.as_ref().map(|b| json!({
            "state": b.state,
            "done": b.done,
            "total": b.total,
            "job_id": b.job_id,
            "error": b.last_error,
        })),
    })
}

async fn zoom_status(user: User, State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let status = membership::status(&state.db, &user.id, &user.email).await?;
    Ok(Json(status_json(&status)))
}

pub(crate) fn opt_in_error(e: OptInError) -> ApiError {
    match e {
        OptInError::NotInstalled(_) => ApiError::Conflict(e.to_string()),
        OptInError::NoZoomUser(_) => ApiError::Unprocessable(e.to_string()),
        OptInError::Db(e) => e.into(),
        OptInError::Enqueue(e) => {
            tracing::error!(error = %e, "could not queue a backfill");
            ApiError::Unavailable("the job queue is unavailable; try again in a minute".into())
        }
    }
}

async fn opt_in(
    user: User,
    State(state): State<AppState>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let job_id = membership::opt_in(
        &state.db,
        &state.queues,
        &user.id,
        &user.email,
        state.settings.backfill_days,
        Utc::now(),
    )
    .await
    .map_err(opt_in_error)?;
    Ok((StatusCode::ACCEPTED, Json(json!({"job_id": job_id}))))
}

async fn opt_out(user: User, State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    membership::opt_out(&state.db, &user.id).await?;
    Ok(Json(json!({"status": "opted_out"})))
}

#[derive(Deserialize)]
struct ListQuery {
    from: Option<String>,
    to: Option<String>,
    cursor: Option<String>,
    limit: Option<i64>,
}

/// `2026-11-02T10:00:00Z` or `2026-11-02` (start of that UTC day; as `to`, the day is included).
fn parse_time(name: &str, raw: &str, end_of_day: bool) -> Result<DateTime<Utc>, ApiError> {
    if let Ok(t) = DateTime::parse_from_rfc3339(raw) {
        return Ok(t.with_timezone(&Utc));
    }
    if let Ok(day) = NaiveDate::parse_from_str(raw, "%Y-%m-%d") {
        let day = if end_of_day {
            day.succ_opt().unwrap_or(day)
        } else {
            day
        };
        return Ok(day.and_hms_opt(0, 0, 0).expect("midnight").and_utc());
    }
    Err(ApiError::BadRequest(format!(
        "{name} must be an RFC 3339 time or a YYYY-MM-DD date, got {raw:?}"
    )))
}

/// The cursor keeps `started_at` at full precision: a truncated time would skip the entries
/// between it and the true value.
fn encode_cursor(b: &Billable) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!(
        "{}|{}",
        b.started_at.to_rfc3339_opts(SecondsFormat::AutoSi, true),
        b.id
    ))
}

fn decode_cursor(raw: &str) -> Result<(DateTime<Utc>, Uuid), ApiError> {
    let bad = || ApiError::BadRequest("cursor is not one this API returned".into());
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(raw)
        .map_err(|_| bad())?;
    let text = String::from_utf8(bytes).map_err(|_| bad())?;
    let (time, id) = text.split_once('|').ok_or_else(bad)?;
    Ok((
        DateTime::parse_from_rfc3339(time)
            .map_err(|_| bad())?
            .with_timezone(&Utc),
        id.parse().map_err(|_| bad())?,
    ))
}

#[derive(Serialize)]
pub(crate) struct Item {
    id: Uuid,
    source: String,
    external_id: String,
    title: String,
    started_at: String,
    ended_at: String,
    duration_seconds: i32,
    billed_minutes: i32,
    user_edited: bool,
    dismissed: bool,
}

impl From<Billable> for Item {
    fn from(b: Billable) -> Self {
        Self {
            id: b.id,
            source: b.source,
            external_id: b.external_id,
            title: b.title,
            started_at: rfc3339(b.started_at),
            ended_at: rfc3339(b.ended_at),
            duration_seconds: b.duration_seconds,
            billed_minutes: b.billed_minutes,
            user_edited: b.user_edited,
            dismissed: b.dismissed,
        }
    }
}

async fn list(
    user: User,
    State(state): State<AppState>,
    Query(query): Query<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    let from = query
        .from
        .as_deref()
        .map(|f| parse_time("from", f, false))
        .transpose()?;
    let to = query
        .to
        .as_deref()
        .map(|t| parse_time("to", t, true))
        .transpose()?;
    // `to` is exclusive here (a date already moved to the next midnight): an empty or
    // reversed range is a mistake, e.g. `from=2026-12-02&to=2026-12-01`.
    if let (Some(f), Some(t)) = (from, to)
        && f >= t
    {
        return Err(ApiError::BadRequest("from must be before to".into()));
    }
    let after = query.cursor.as_deref().map(decode_cursor).transpose()?;
    let limit = query.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(ApiError::BadRequest(
            "limit must be between 1 and 200".into(),
        ));
    }
    let mut conn = state.db.acquire().await?;
    let mut rows =
        billables::list_for_user(&mut conn, &user.id, from, to, after, limit + 1).await?;
    let next_cursor = if rows.len() > usize::try_from(limit).unwrap_or(usize::MAX) {
        rows.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        rows.last().map(encode_cursor)
    } else {
        None
    };
    let items: Vec<Item> = rows.into_iter().map(Item::from).collect();
    Ok(Json(json!({"items": items, "next_cursor": next_cursor})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EditBody {
    title: Option<String>,
    billed_minutes: Option<i64>,
    dismissed: Option<bool>,
}

/// The most minutes one entry may bill (a week).
const MAX_MINUTES: i64 = 7 * 24 * 60;

async fn edit(
    user: User,
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Result<Json<EditBody>, JsonRejection>,
) -> Result<Json<Item>, ApiError> {
    let id: Uuid = id
        .parse()
        .map_err(|_| ApiError::NotFound("no such entry".into()))?;
    let Json(body) = body.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    if body.title.is_none() && body.billed_minutes.is_none() && body.dismissed.is_none() {
        return Err(ApiError::BadRequest(
            "send at least one of title, billed_minutes, dismissed".into(),
        ));
    }
    let title = match body.title {
        Some(t) if t.trim().is_empty() || t.chars().count() > 200 => {
            return Err(ApiError::Unprocessable(
                "title must be 1 to 200 characters".into(),
            ));
        }
        Some(t) => Some(t.trim().to_owned()),
        None => None,
    };
    let billed_minutes = match body.billed_minutes {
        Some(m) if !(0..=MAX_MINUTES).contains(&m) => {
            return Err(ApiError::Unprocessable(format!(
                "billed_minutes must be between 0 and {MAX_MINUTES}"
            )));
        }
        Some(m) => Some(i32::try_from(m).unwrap_or(i32::MAX)),
        None => None,
    };
    let mut conn = state.db.acquire().await?;
    let edit = Edit {
        title,
        billed_minutes,
        dismissed: body.dismissed,
    };
    let updated = billables::edit_for_user(&mut conn, &user.id, id, &edit).await?;
    updated
        .map(|b| Json(Item::from(b)))
        .ok_or_else(|| ApiError::NotFound("no such entry".into()))
}
