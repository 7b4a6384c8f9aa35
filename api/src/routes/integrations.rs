//! The user's integrations page (`GET /integrations`) and its two forms.
//!
//! Sign-in: the Billables app (or `billables-zoom dev-token`) opens
//! `/integrations?token=JWT`; the token is checked, kept in an HttpOnly, SameSite=Strict
//! cookie and the browser is sent on to `/integrations` so the token leaves the address bar
//! (and the history). Later requests carry the cookie, or a bearer token.
//!
//! The forms (`POST /integrations/activate`, `/integrations/deactivate`) are safe from
//! cross-site posts twice over: the cookie is SameSite=Strict, and each form carries a token
//! derived from the user's session (HMAC with the user-token secret) that another site cannot
//! read; an `Origin` naming another site is refused as well. They call the same membership
//! functions as the JSON API and come back to the page (303).

use axum::{
    Form, Router,
    extract::{Query, State, rejection::FormRejection},
    http::{HeaderMap, HeaderValue, StatusCode, header, request::Parts},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use base64::Engine as _;
use chrono::Utc;
use hmac::{Hmac, Mac};
use jobs::{
    membership::{self, OptInError},
    store::billables,
};
use secrecy::ExposeSecret;
use serde::Deserialize;
use sha2::Sha256;

use crate::{
    AppState,
    extract::{USER_COOKIE, User, page_token},
    pages::integrations::{self as view, Notice, SignIn},
};

/// How many entries the page lists.
pub const RECENT_ENTRIES: i64 = 20;

const PAGE: &str = "/integrations";

pub fn router() -> Router<AppState> {
    Router::new()
        .route(PAGE, get(show))
        .route("/integrations/activate", post(activate))
        .route("/integrations/deactivate", post(deactivate))
}

#[derive(Deserialize)]
struct ShowQuery {
    token: Option<String>,
    notice: Option<String>,
}

async fn show(
    State(state): State<AppState>,
    parts: Parts,
    Query(query): Query<ShowQuery>,
) -> Response {
    if let Some(token) = query.token {
        return sign_in(&state, &parts.headers, token.trim());
    }
    let (user, token) = match authenticate(&state, &parts) {
        Ok(signed_in) => signed_in,
        Err(refused) => return refused.into_response(),
    };
    let zoom = match membership::status(&state.db, &user.id, &user.email).await {
        Ok(zoom) => zoom,
        Err(e) => return internal(&e),
    };
    let entries = match recent_entries(&state, &user.id).await {
        Ok(entries) => entries,
        Err(e) => return internal(&e),
    };
    view::integrations(&view::View {
        email: user.email.as_str(),
        zoom: &zoom,
        entries: &entries,
        notice: query.notice.as_deref().and_then(Notice::parse),
        csrf: &form_token(&state, &token),
        backfill_days: state.settings.backfill_days,
    })
}

async fn recent_entries(
    state: &AppState,
    user_id: &str,
) -> Result<Vec<billables::Billable>, sqlx::Error> {
    let mut conn = state.db.acquire().await?;
    billables::list_for_user(&mut conn, user_id, None, None, None, RECENT_ENTRIES).await
}

/// `?token=`: keep a valid token in the cookie and move on to the page without it.
fn sign_in(state: &AppState, headers: &HeaderMap, token: &str) -> Response {
    if User::from_token(token, state).is_err() {
        return Refused::SignIn(SignIn::Invalid).into_response();
    }
    // Coming from another site, the browser would not send a SameSite=Strict cookie on the
    // redirect it follows: a page of ours takes the last step, which counts as same-site.
    let cross_site = headers
        .get("sec-fetch-site")
        .is_some_and(|v| v.as_bytes() == b"cross-site");
    let response = if cross_site {
        view::continue_to(PAGE)
    } else {
        see_other(PAGE)
    };
    with_cookie(response, &session_cookie(state, token))
}

/// Why a page request or a form post is turned away.
#[derive(Debug, Clone, Copy)]
enum Refused {
    /// 401: no user, or a bad token (whose cookie is dropped).
    SignIn(SignIn),
    /// 403: a form without this session's form token, or sent by another site.
    Form,
}

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        match self {
            Self::SignIn(SignIn::Missing) => view::sign_in_required(SignIn::Missing),
            Self::SignIn(SignIn::Invalid) => {
                with_cookie(view::sign_in_required(SignIn::Invalid), &clear_cookie())
            }
            Self::Form => view::form_refused(),
        }
    }
}

/// The signed-in user and their token.
fn authenticate(state: &AppState, parts: &Parts) -> Result<(User, String), Refused> {
    let token = page_token(parts).ok_or(Refused::SignIn(SignIn::Missing))?;
    let user = User::from_token(&token, state).map_err(|_| Refused::SignIn(SignIn::Invalid))?;
    Ok((user, token))
}

fn session_cookie(state: &AppState, token: &str) -> String {
    let secure = if state.settings.public_base_url.scheme() == "https" {
        "; Secure"
    } else {
        ""
    };
    format!("{USER_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict{secure}")
}

fn clear_cookie() -> String {
    format!("{USER_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0")
}

fn with_cookie(mut response: Response, cookie: &str) -> Response {
    if let Ok(value) = HeaderValue::from_str(cookie) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

fn see_other(location: &str) -> Response {
    let mut response = (StatusCode::SEE_OTHER, [(header::LOCATION, location)]).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn internal(e: &dyn std::fmt::Display) -> Response {
    tracing::error!(error = %e, "integrations page failed");
    view::unavailable()
}

/// The form token of a session: HMAC-SHA256 of the user's token under the user-token secret.
/// Another site can neither read it from the page nor compute it.
fn form_mac(state: &AppState, token: &str) -> Hmac<Sha256> {
    let secret = state.settings.user_jwt.secret.expose_secret();
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes a key of any length");
    mac.update(b"billables-zoom integrations form\0");
    mac.update(token.as_bytes());
    mac
}

fn form_token(state: &AppState, token: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(form_mac(state, token).finalize().into_bytes())
}

#[derive(Deserialize)]
struct FormBody {
    csrf: String,
}

/// A form post of this page: signed in, with the session's form token, and not sent by
/// another site. Browsers send `Origin: null` under our `no-referrer` policy; that is fine,
/// the form token decides.
fn form_user(
    state: &AppState,
    parts: &Parts,
    body: Result<Form<FormBody>, FormRejection>,
) -> Result<User, Refused> {
    let (user, token) = authenticate(state, parts)?;
    let expected_origin = state
        .settings
        .public_base_url
        .origin()
        .ascii_serialization();
    let origin_ok = match parts.headers.get(header::ORIGIN).map(HeaderValue::as_bytes) {
        None | Some(b"null") => true,
        Some(origin) => origin == expected_origin.as_bytes(),
    };
    let token_ok = body.is_ok_and(|Form(body)| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(body.csrf.trim())
            .is_ok_and(|given| form_mac(state, &token).verify_slice(&given).is_ok())
    });
    if origin_ok && token_ok {
        Ok(user)
    } else {
        tracing::info!(origin_ok, token_ok, "integrations form refused");
        Err(Refused::Form)
    }
}

fn back_with(notice: Notice) -> Response {
    see_other(&format!("{PAGE}?notice={}", notice.code()))
}

async fn activate(
    State(state): State<AppState>,
    parts: Parts,
    body: Result<Form<FormBody>, FormRejection>,
) -> Response {
    let user = match form_user(&state, &parts, body) {
        Ok(user) => user,
        Err(refused) => return refused.into_response(),
    };
    let result = membership::opt_in(
        &state.db,
        &state.queues,
        &user.id,
        &user.email,
        state.settings.backfill_days,
        Utc::now(),
    )
    .await;
    match result {
        Ok(_) => see_other(PAGE),
        Err(OptInError::NotInstalled(_)) => back_with(Notice::NotInstalled),
        Err(OptInError::NoZoomUser(_)) => back_with(Notice::NoZoomUser),
        Err(OptInError::Enqueue(e)) => {
            tracing::error!(error = %e, "could not queue a backfill");
            back_with(Notice::QueueUnavailable)
        }
        Err(OptInError::Db(e)) => internal(&e),
    }
}

async fn deactivate(
    State(state): State<AppState>,
    parts: Parts,
    body: Result<Form<FormBody>, FormRejection>,
) -> Response {
    let user = match form_user(&state, &parts, body) {
        Ok(user) => user,
        Err(refused) => return refused.into_response(),
    };
    match membership::opt_out(&state.db, &user.id).await {
        Ok(()) => see_other(PAGE),
        Err(e) => internal(&e),
    }
}
