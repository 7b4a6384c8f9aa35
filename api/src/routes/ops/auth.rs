//! Operator authentication for browsers.
//!
//! Scripts and Prometheus send the admin token as a bearer. Browsers sign in once at
//! `/ops/login` with the same token and get the `bz_ops` cookie: `v1.{expiry}.{mac}`, where
//! `mac` is HMAC-SHA256 keyed with the admin token over the expiry. The token itself is never
//! stored in the browser, sessions need no server state (any `serve` process checks them),
//! and rotating `ADMIN_API_TOKEN` ends every session.
//!
//! The cookie is `HttpOnly` and `SameSite=Strict`. On top of that, a cookie-authenticated
//! request with an unsafe method must prove it comes from our own pages: an `Origin` equal to
//! ours, or `Sec-Fetch-Site: same-origin` (CSRF). Such a request then carries
//! [`OperatorSession`], which [`Admin`] accepts, so the JSON routes under `/v1/ops` serve the
//! pages' forms too. A form post (not JSON) to `/v1/ops/...` is answered the browser way:
//! 303 back to the page named by `?return_to=/ops/...`, with a one-line flash message.

use std::time::Duration;

use axum::{
    body::Body,
    extract::{FromRequestParts, Request, State},
    http::{HeaderMap, HeaderValue, Method, StatusCode, header, request::Parts},
    middleware::Next,
    response::{IntoResponse, Redirect, Response},
};
use chrono::Utc;
use hmac::{Hmac, Mac as _};
use secrecy::ExposeSecret as _;
use sha2::Sha256;

use crate::{
    AppState,
    extract::{Admin, OperatorSession, bearer},
};

/// The session cookie.
pub const SESSION_COOKIE: &str = "bz_ops";
/// The one-shot message a form action leaves for the next page.
pub const FLASH_COOKIE: &str = "bz_ops_flash";
/// How long a sign-in lasts.
pub const SESSION_TTL: Duration = Duration::from_secs(12 * 3600);

fn mac(state: &AppState, expires: i64) -> Hmac<Sha256> {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(state.settings.admin_api_token.expose_secret().as_bytes())
            .expect("HMAC takes keys of any length");
    mac.update(b"bz-ops-session.v1.");
    mac.update(expires.to_string().as_bytes());
    mac
}

/// A new session cookie value, valid for [`SESSION_TTL`].
pub fn new_session(state: &AppState) -> String {
    let expires = Utc::now().timestamp() + i64::try_from(SESSION_TTL.as_secs()).unwrap_or(43_200);
    let tag = hex::encode(mac(state, expires).finalize().into_bytes());
    format!("v1.{expires}.{tag}")
}

/// Whether a cookie value is a session we issued that has not expired.
pub fn valid_session(state: &AppState, value: &str) -> bool {
    let mut parts = value.splitn(3, '.');
    let (Some("v1"), Some(expires), Some(tag)) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    let (Ok(expires), Ok(tag)) = (expires.parse::<i64>(), hex::decode(tag)) else {
        return false;
    };
    expires > Utc::now().timestamp() && mac(state, expires).verify_slice(&tag).is_ok()
}

/// The value of cookie `name`.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, value)| value)
}

fn secure(state: &AppState) -> &'static str {
    if state.settings.public_base_url.scheme() == "https" {
        "; Secure"
    } else {
        ""
    }
}

/// `Set-Cookie` for a fresh session.
pub fn session_cookie(state: &AppState) -> HeaderValue {
    HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}={}; Path=/; Max-Age={}; HttpOnly; SameSite=Strict{}",
        new_session(state),
        SESSION_TTL.as_secs(),
        secure(state)
    ))
    .expect("cookie is ASCII")
}

/// `Set-Cookie` that ends the session.
pub fn clear_session_cookie(state: &AppState) -> HeaderValue {
    HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict{}",
        secure(state)
    ))
    .expect("cookie is ASCII")
}

fn flash_cookie(state: &AppState, message: &str) -> HeaderValue {
    let value = urlencoding::encode(message);
    HeaderValue::from_str(&format!(
        "{FLASH_COOKIE}={value}; Path=/ops; Max-Age=60; HttpOnly; SameSite=Strict{}",
        secure(state)
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("bz_ops_flash=; Path=/ops; Max-Age=0"))
}

/// The flash message of a page request, and the `Set-Cookie` that consumes it.
pub fn take_flash(headers: &HeaderMap) -> Option<(String, HeaderValue)> {
    let raw = cookie(headers, FLASH_COOKIE).filter(|v| !v.is_empty())?;
    let message = urlencoding::decode(raw).ok()?.into_owned();
    Some((
        message,
        HeaderValue::from_static("bz_ops_flash=; Path=/ops; Max-Age=0; HttpOnly; SameSite=Strict"),
    ))
}

/// Whether a request comes from a page of our own origin: its `Origin` is ours, or (no
/// usable `Origin`) the browser says `Sec-Fetch-Site: same-origin`.
pub fn same_origin(headers: &HeaderMap, state: &AppState) -> bool {
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    match headers
        .get(header::ORIGIN)
        .and_then(|o| o.to_str().ok())
        .filter(|o| *o != "null")
    {
        Some(origin) => {
            let Ok(origin) = url::Url::parse(origin) else {
                return false;
            };
            let ours = &state.settings.public_base_url;
            let matches_public = origin.scheme() == ours.scheme()
                && origin.host_str() == ours.host_str()
                && origin.port_or_known_default() == ours.port_or_known_default();
            let authority = match origin.port() {
                Some(port) => format!("{}:{port}", origin.host_str().unwrap_or_default()),
                None => origin.host_str().unwrap_or_default().to_owned(),
            };
            matches_public || host.is_some_and(|h| h.eq_ignore_ascii_case(&authority))
        }
        None => headers
            .get("sec-fetch-site")
            .is_some_and(|v| v.as_bytes() == b"same-origin"),
    }
}

/// Paths where the session cookie counts (nowhere else: not for `/v1/admin`, say).
pub fn operator_path(path: &str) -> bool {
    path == "/ops"
        || path.starts_with("/ops/")
        || path.starts_with("/v1/ops/")
        || path == "/metrics"
        || path == "/api/v1"
        || path.starts_with("/api/v1/")
        || super::board::is_ui_path(path)
}

fn unsafe_method(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

fn forbidden(message: &str) -> Response {
    (
        StatusCode::FORBIDDEN,
        axum::Json(serde_json::json!({"error": {"code": "forbidden", "message": message}})),
    )
        .into_response()
}

/// The middleware: recognises signed-in operators' browsers (see the module doc).
pub async fn session(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let path = request.uri().path().to_owned();
    if !operator_path(&path) || request.headers().contains_key(header::AUTHORIZATION) {
        return next.run(request).await;
    }
    let signed_in =
        cookie(request.headers(), SESSION_COOKIE).is_some_and(|value| valid_session(&state, value));
    if !signed_in {
        return next.run(request).await;
    }
    let form_action = unsafe_method(request.method());
    if form_action && !same_origin(request.headers(), &state) {
        tracing::warn!(route = %path, "operator action refused: not from our own origin");
        return forbidden("operator actions must come from this site's own pages");
    }
    request.extensions_mut().insert(OperatorSession);
    let browser_form = form_action
        && path.starts_with("/v1/ops/")
        && request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if !browser_form {
        return next.run(request).await;
    }
    let return_to = return_to(request.uri().query());
    let action = action_label(&path);
    let response = next.run(request).await;
    let status = response.status();
    let body = axum::body::to_bytes(response.into_body(), 64 * 1024)
        .await
        .unwrap_or_default();
    let json: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    let message = if status.is_success() {
        let mut message = action.to_owned();
        if let Some(n) = json.get("retried").and_then(serde_json::Value::as_u64) {
            message.push_str(&format!(": {n} job(s)"));
        }
        if let Some(job) = json.get("job_id").and_then(serde_json::Value::as_str) {
            message.push_str(&format!(" (job {job})"));
        }
        message
    } else {
        let reason = json["error"]["message"]
            .as_str()
            .map_or_else(|| status.to_string(), str::to_owned);
        format!("Failed: {reason}")
    };
    let mut redirect = Redirect::to(&return_to).into_response();
    redirect
        .headers_mut()
        .insert(header::SET_COOKIE, flash_cookie(&state, &message));
    redirect
}

/// Where a form action sends the browser back to: `return_to` if it is one of our pages.
fn return_to(query: Option<&str>) -> String {
    query
        .into_iter()
        .flat_map(|q| url::form_urlencoded::parse(q.as_bytes()))
        .find(|(k, _)| k == "return_to")
        .map(|(_, v)| v.into_owned())
        .filter(|v| safe_next(v))
        .unwrap_or_else(|| "/ops".to_owned())
}

/// A local page of ours (no scheme, no host, no `//`).
pub fn safe_next(path: &str) -> bool {
    (path == "/ops" || path.starts_with("/ops/") || path.starts_with("/ops?"))
        && !path.contains("//")
        && !path.contains('\\')
}

fn action_label(path: &str) -> &'static str {
    let last = path.rsplit('/').next().unwrap_or_default();
    match last {
        "pull" => "Pull queued",
        "remove" => "Removal queued",
        "retry" => "Job queued again",
        "retry-failed" => "Failed and dead jobs queued again",
        "pause" => "Queue paused",
        "resume" => "Queue resumed",
        _ => "Done",
    }
}

/// An operator on a page: signed in, or a bearer. Others are sent to the login form.
#[derive(Debug, Clone, Copy)]
pub struct OperatorPage;

impl FromRequestParts<AppState> for OperatorPage {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        if parts.extensions.get::<OperatorSession>().is_some()
            || (bearer(parts).is_some() && Admin::from_request_parts(parts, state).await.is_ok())
        {
            return Ok(Self);
        }
        let next = parts
            .uri
            .path_and_query()
            .map_or("/ops", |pq| pq.as_str())
            .to_owned();
        let location = format!("/ops/login?next={}", urlencoding::encode(&next));
        Err(Response::builder()
            .status(StatusCode::SEE_OTHER)
            .header(header::LOCATION, location)
            .header(header::CACHE_CONTROL, "no-store")
            .body(Body::empty())
            .expect("valid redirect"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_our_pages_are_places_to_return_to() {
        assert!(safe_next("/ops"));
        assert!(safe_next("/ops/jobs/01J"));
        assert!(!safe_next("//evil.test/ops"));
        assert!(!safe_next("https://evil.test/ops"));
        assert!(!safe_next("/ops//evil"));
        assert!(!safe_next("/v1/admin"));
        assert_eq!(
            return_to(Some("return_to=%2Fops%2Fqueues%2Fpull_account")),
            "/ops/queues/pull_account"
        );
        assert_eq!(return_to(Some("return_to=https://evil.test")), "/ops");
        assert_eq!(return_to(None), "/ops");
    }

    #[test]
    fn form_actions_are_named_by_their_last_segment() {
        assert_eq!(action_label("/v1/ops/accounts/x/pull"), "Pull queued");
        assert_eq!(
            action_label("/v1/ops/queues/pull_account/pause"),
            "Queue paused"
        );
    }
}
