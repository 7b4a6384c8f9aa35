//! Zoom's OAuth surface (zoom-api.md §1, §8.3): authorize (auto-approved by the account's
//! approver), code and refresh-token exchange with rotation, revoke, and the data-compliance
//! call. One grant per account: a new install or a revoke invalidates earlier tokens.

use std::collections::HashMap;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use chrono::{DateTime, TimeDelta, Utc};
use rand::Rng;
use serde_json::json;

use crate::Sim;
use crate::error::OAuthError;
use crate::ids;
use crate::state::SimState;

const AUTHORIZE: &str = "GET /oauth/authorize";
const TOKEN: &str = "POST /oauth/token";
const REVOKE: &str = "POST /oauth/revoke";
const COMPLIANCE: &str = "POST /oauth/data/compliance";
const CODE_TTL_MINUTES: i64 = 5;
const SCOPE: &str = "meeting:read:admin phone:read:admin report:read:admin user:read:admin";

#[derive(Debug)]
struct AuthCode {
    account: String,
    user_id: String,
    client_id: String,
    redirect_uri: String,
    expires_at: DateTime<Utc>,
}

#[derive(Debug)]
struct Grant {
    seq: u64,
    user_id: String,
    refresh_token: String,
    revoked: bool,
}

#[derive(Debug)]
struct AccessToken {
    account: String,
    seq: u64,
    expires_at: DateTime<Utc>,
}

/// The caller behind a valid bearer token.
#[derive(Debug, Clone)]
pub(crate) struct Caller {
    pub account: String,
    pub user_id: String,
}

/// Why a bearer token was refused.
#[derive(Debug, Clone)]
pub(crate) enum AuthFailure {
    /// Unknown, revoked or superseded.
    Invalid,
    /// Known and otherwise valid, but past its expiry on the sim clock.
    Expired { account: String },
}

/// A freshly issued token pair.
#[derive(Debug)]
pub(crate) struct TokenSet {
    pub account: String,
    pub access_token: String,
    pub refresh_token: String,
}

/// Codes, grants and access tokens.
#[derive(Debug, Default)]
pub(crate) struct OAuthStore {
    codes: HashMap<String, AuthCode>,
    grants: HashMap<String, Grant>,
    access: HashMap<String, AccessToken>,
    next_seq: u64,
}

impl OAuthStore {
    fn issue_code(
        &mut self,
        rng: &mut impl Rng,
        account: &str,
        user_id: &str,
        client_id: &str,
        redirect_uri: &str,
        now: DateTime<Utc>,
    ) -> String {
        self.codes.retain(|_, code| now < code.expires_at);
        let code = ids::alnum(rng, 32);
        self.codes.insert(
            code.clone(),
            AuthCode {
                account: account.to_owned(),
                user_id: user_id.to_owned(),
                client_id: client_id.to_owned(),
                redirect_uri: redirect_uri.to_owned(),
                expires_at: now + TimeDelta::minutes(CODE_TTL_MINUTES),
            },
        );
        code
    }

    fn issue_access(
        &mut self,
        rng: &mut impl Rng,
        account: &str,
        seq: u64,
        expires_at: DateTime<Utc>,
    ) -> String {
        let token = ids::token(rng);
        self.access.insert(
            token.clone(),
            AccessToken {
                account: account.to_owned(),
                seq,
                expires_at,
            },
        );
        token
    }

    fn exchange_code(
        &mut self,
        rng: &mut impl Rng,
        code: &str,
        client_id: &str,
        redirect_uri: Option<&str>,
        now: DateTime<Utc>,
        ttl: TimeDelta,
    ) -> Result<TokenSet, OAuthError> {
        let stored = self.codes.get(code).ok_or_else(OAuthError::bad_code)?;
        if stored.client_id != client_id || now >= stored.expires_at {
            return Err(OAuthError::bad_code());
        }
        if redirect_uri != Some(stored.redirect_uri.as_str()) {
            return Err(OAuthError::redirect_mismatch());
        }
        let stored = self.codes.remove(code).ok_or_else(OAuthError::bad_code)?;
        self.next_seq += 1;
        let seq = self.next_seq;
        // Zoom keeps one token set per account and app: earlier tokens die.
        self.access
            .retain(|_, token| token.account != stored.account);
        let refresh_token = ids::token(rng);
        self.grants.insert(
            stored.account.clone(),
            Grant {
                seq,
                user_id: stored.user_id,
                refresh_token: refresh_token.clone(),
                revoked: false,
            },
        );
        let access_token = self.issue_access(rng, &stored.account, seq, now + ttl);
        Ok(TokenSet {
            account: stored.account,
            access_token,
            refresh_token,
        })
    }

    fn refresh(
        &mut self,
        rng: &mut impl Rng,
        refresh_token: &str,
        now: DateTime<Utc>,
        ttl: TimeDelta,
    ) -> Result<TokenSet, OAuthError> {
        let (account, grant) = self
            .grants
            .iter_mut()
            .find(|(_, grant)| !grant.revoked && grant.refresh_token == refresh_token)
            .ok_or_else(OAuthError::invalid_token)?;
        let account = account.clone();
        let new_refresh = ids::token(rng);
        grant.refresh_token = new_refresh.clone();
        let seq = grant.seq;
        let access_token = self.issue_access(rng, &account, seq, now + ttl);
        Ok(TokenSet {
            account,
            access_token,
            refresh_token: new_refresh,
        })
    }

    /// Revokes the grant an access or refresh token belongs to; the account, if known.
    fn revoke_token(&mut self, token: &str) -> Option<String> {
        let account = match self.access.get(token) {
            Some(access) => access.account.clone(),
            None => self
                .grants
                .iter()
                .find(|(_, grant)| grant.refresh_token == token)
                .map(|(account, _)| account.clone())?,
        };
        self.revoke_account(&account);
        Some(account)
    }

    /// Revokes the account's grant (access and refresh tokens). Whether there was one.
    pub(crate) fn revoke_account(&mut self, account: &str) -> bool {
        self.access.retain(|_, token| token.account != account);
        match self.grants.get_mut(account) {
            Some(grant) if !grant.revoked => {
                grant.revoked = true;
                true
            }
            _ => false,
        }
    }

    /// The user who installed the app on the account (its current grant).
    pub(crate) fn installer(&self, account: &str) -> Option<String> {
        self.grants.get(account).map(|grant| grant.user_id.clone())
    }

    pub(crate) fn authenticate(
        &self,
        token: &str,
        now: DateTime<Utc>,
    ) -> Result<Caller, AuthFailure> {
        let access = self.access.get(token).ok_or(AuthFailure::Invalid)?;
        let grant = self
            .grants
            .get(&access.account)
            .filter(|grant| !grant.revoked && grant.seq == access.seq)
            .ok_or(AuthFailure::Invalid)?;
        if now >= access.expires_at {
            return Err(AuthFailure::Expired {
                account: access.account.clone(),
            });
        }
        Ok(Caller {
            account: access.account.clone(),
            user_id: grant.user_id.clone(),
        })
    }

    /// Makes every current access token (of one account, or all) expired as of `now`.
    pub(crate) fn expire(&mut self, account: Option<&str>, now: DateTime<Utc>) {
        for token in self.access.values_mut() {
            if account.is_none_or(|a| a == token.account) {
                token.expires_at = token.expires_at.min(now - TimeDelta::seconds(1));
            }
        }
    }
}

pub(crate) fn router() -> Router<Sim> {
    Router::new()
        .route("/oauth/authorize", get(authorize))
        .route("/oauth/token", post(token))
        .route("/oauth/revoke", post(revoke))
        .route("/oauth/data/compliance", post(compliance))
}

/// Query string and form body merged; the body wins.
fn params(query: Option<&str>, body: &[u8]) -> HashMap<String, String> {
    let mut params: HashMap<String, String> = query
        .map(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .into_owned()
                .collect()
        })
        .unwrap_or_default();
    params.extend(url::form_urlencoded::parse(body).into_owned());
    params
}

/// `client_id:client_secret` from `Authorization: Basic ...`.
fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    Some((id.to_owned(), secret.to_owned()))
}

fn client_ok(state: &SimState, headers: &HeaderMap) -> Option<String> {
    basic_credentials(headers)
        .filter(|(id, secret)| {
            *id == state.config.client_id && *secret == state.config.client_secret
        })
        .map(|(id, _)| id)
}

/// `api_url` for token answers: where the client reached us, so it stays on the sim.
fn api_url(state: &SimState, headers: &HeaderMap) -> String {
    headers
        .get(header::HOST)
        .and_then(|host| host.to_str().ok())
        .map_or_else(|| state.base_url.clone(), |host| format!("http://{host}"))
}

fn error_page(message: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Html(format!(
            "<!doctype html><html><head><title>Zoom</title></head><body><h1>Error</h1><p>{message}</p></body></html>"
        )),
    )
        .into_response()
}

async fn authorize(State(sim): State<Sim>, RawQuery(query): RawQuery) -> Response {
    let params = params(query.as_deref(), b"");
    let mut st = sim.lock();
    let (response, account) = authorize_inner(&mut st, &params);
    st.counters.record(&account, AUTHORIZE, response.status());
    response
}

fn authorize_inner(st: &mut SimState, params: &HashMap<String, String>) -> (Response, String) {
    let get = |key: &str| params.get(key).map(String::as_str).unwrap_or_default();
    if get("client_id") != st.config.client_id {
        return (error_page("Invalid client_id."), String::new());
    }
    if get("response_type") != "code" {
        return (error_page("Unsupported response_type."), String::new());
    }
    let Ok(mut redirect) = url::Url::parse(get("redirect_uri")) else {
        return (error_page("Invalid redirect_uri."), String::new());
    };
    let Some(index) = st.signed_in.or_else(|| st.companies.len().checked_sub(1)) else {
        return (error_page("No Zoom account is signed in."), String::new());
    };
    let company = &st.companies[index];
    let account = company.account_id.clone();
    let approver = company
        .approver
        .clone()
        .unwrap_or_else(|| company.owner().id.clone());
    let now = st.now();
    let code = st.oauth.issue_code(
        &mut st.rng,
        &account,
        &approver,
        get("client_id"),
        get("redirect_uri"),
        now,
    );
    {
        let mut pairs = redirect.query_pairs_mut();
        pairs.append_pair("code", &code);
        if let Some(state) = params.get("state") {
            pairs.append_pair("state", state);
        }
    }
    let response = (
        StatusCode::FOUND,
        [(header::LOCATION, redirect.to_string())],
    )
        .into_response();
    (response, account)
}

async fn token(
    State(sim): State<Sim>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let params = params(query.as_deref(), &body);
    let mut st = sim.lock();
    let (response, account) = match token_inner(&mut st, &headers, &params) {
        Ok((response, account)) => (response, account),
        Err(error) => (error.into_response(), String::new()),
    };
    st.counters.record(&account, TOKEN, response.status());
    response
}

fn token_inner(
    st: &mut SimState,
    headers: &HeaderMap,
    params: &HashMap<String, String>,
) -> Result<(Response, String), OAuthError> {
    let client_id = client_ok(st, headers).ok_or_else(OAuthError::invalid_client)?;
    let now = st.now();
    let ttl = TimeDelta::seconds(st.config.access_token_ttl_secs);
    let get = |key: &str| params.get(key).map(String::as_str);
    let tokens = match get("grant_type") {
        Some("authorization_code") => {
            let code = get("code").ok_or(OAuthError::invalid_request("Missing code"))?;
            st.oauth
                .exchange_code(&mut st.rng, code, &client_id, get("redirect_uri"), now, ttl)?
        }
        Some("refresh_token") => {
            let refresh = get("refresh_token").ok_or_else(OAuthError::invalid_token)?;
            let tokens = st.oauth.refresh(&mut st.rng, refresh, now, ttl)?;
            st.counters.refreshes += 1;
            tokens
        }
        Some(_) => return Err(OAuthError::unsupported_grant_type()),
        None => return Err(OAuthError::invalid_request("Missing grant_type")),
    };
    let body = json!({
        "access_token": tokens.access_token,
        "token_type": "bearer",
        "refresh_token": tokens.refresh_token,
        "expires_in": st.config.access_token_ttl_secs,
        "scope": SCOPE,
        "api_url": api_url(st, headers),
    });
    Ok((axum::Json(body).into_response(), tokens.account))
}

async fn revoke(
    State(sim): State<Sim>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let params = params(query.as_deref(), &body);
    let mut st = sim.lock();
    let (response, account) = if client_ok(&st, &headers).is_none() {
        (OAuthError::invalid_client().into_response(), String::new())
    } else {
        match params.get("token").and_then(|t| st.oauth.revoke_token(t)) {
            Some(account) => {
                st.counters.revocations += 1;
                (
                    axum::Json(json!({"status": "success"})).into_response(),
                    account,
                )
            }
            None => (
                OAuthError {
                    error: "invalid_request",
                    ..OAuthError::invalid_token()
                }
                .into_response(),
                String::new(),
            ),
        }
    };
    st.counters.record(&account, REVOKE, response.status());
    response
}

async fn compliance(State(sim): State<Sim>, headers: HeaderMap, body: Bytes) -> Response {
    let mut st = sim.lock();
    if client_ok(&st, &headers).is_none() {
        let response = OAuthError::invalid_client().into_response();
        st.counters.record("", COMPLIANCE, response.status());
        return response;
    }
    let payload = serde_json::from_slice::<serde_json::Value>(&body)
        .unwrap_or_else(|_| serde_json::Value::String(String::from_utf8_lossy(&body).into_owned()));
    let account = payload
        .get("account_id")
        .and_then(serde_json::Value::as_str)
        .unwrap_or_default()
        .to_owned();
    st.compliance.push(payload);
    st.counters.compliance_calls += 1;
    st.counters
        .record(&account, COMPLIANCE, StatusCode::NO_CONTENT);
    StatusCode::NO_CONTENT.into_response()
}
