//! The IT admin's path: the install link page, "Continue to Zoom" (a fresh OAuth `state`
//! bound to the link, then 302 to Zoom's authorize URL) and Zoom's redirect back to
//! `/oauth/callback`, which checks everything before it stores anything.

use axum::{
    Router,
    extract::{Path, Query, State},
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::get,
};
use chrono::Utc;
use jobs::{
    domain::Email,
    store::{accounts, audit, install, install::StateError, tokens},
    tasks::InstallAccount,
    zoom::{AccessToken, StaticTokenSource, TokenSet, ZoomError, api_base_for},
};
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;
use uuid::Uuid;

use crate::{
    AppState,
    pages::{self, install as view},
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/install/{token}", get(landing))
        .route("/install/{token}/authorize", get(authorize))
        .route("/oauth/callback", get(callback))
}

fn internal(e: impl std::fmt::Display) -> Response {
    tracing::error!(error = %e, "install flow failed");
    pages::problem(
        StatusCode::INTERNAL_SERVER_ERROR,
        "Something went wrong",
        "We could not complete this step. Nothing was installed.",
        "Please try again in a minute; if it keeps failing, contact Billables support.",
    )
}

/// The link's page, or the page that says why it cannot be used.
async fn check_link(state: &AppState, token: &str) -> Result<install::Link, Response> {
    let link = install::find_link_by_token(&state.db, token)
        .await
        .map_err(internal)?;
    let Some(link) = link else {
        return Err(view::unknown_link());
    };
    if let Some((_, status)) = install::installed_account_for_domain(&state.db, &link.domain)
        .await
        .map_err(internal)?
        && status == "active"
    {
        return Err(view::already_installed(link.domain.as_str()));
    }
    if link.is_expired(Utc::now()) {
        return Err(view::expired_link(link.domain.as_str()));
    }
    Ok(link)
}

async fn landing(State(state): State<AppState>, Path(token): Path<String>) -> Response {
    match check_link(&state, &token).await {
        Ok(link) => view::landing(link.domain.as_str(), &format!("/install/{token}/authorize")),
        Err(page) => page,
    }
}

async fn authorize(State(state): State<AppState>, Path(token): Path<String>) -> Response {
    let link = match check_link(&state, &token).await {
        Ok(link) => link,
        Err(page) => return page,
    };
    match install::create_state(&state.db, link.id, Utc::now()).await {
        Ok(oauth_state) => {
            let location = state.zoom.authorize_url(&oauth_state).to_string();
            (
                StatusCode::FOUND,
                [(axum::http::header::LOCATION, location)],
            )
                .into_response()
        }
        Err(e) => internal(e),
    }
}

#[derive(Deserialize)]
struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

fn bad_request(title: &str, message: &str) -> Response {
    pages::problem(
        StatusCode::BAD_REQUEST,
        title,
        message,
        "Open your install link again to start over. Nothing was installed.",
    )
}

async fn callback(State(state): State<AppState>, Query(query): Query<CallbackQuery>) -> Response {
    if let Some(error) = query.error.as_deref() {
        tracing::info!(%error, "Zoom authorisation was not granted");
        return bad_request(
            "Zoom did not authorise the app",
            "The authorisation was cancelled or refused in Zoom.",
        );
    }
    let (Some(code), Some(oauth_state)) = (
        query.code.filter(|c| !c.is_empty()),
        query.state.filter(|s| !s.is_empty()),
    ) else {
        return bad_request(
            "Incomplete sign-in",
            "The answer from Zoom is missing its code or state.",
        );
    };

    // Consume the state first, in its own transaction: a replay cannot race this request.
    let now = Utc::now();
    let link = {
        let mut tx = match state.db.begin().await {
            Ok(tx) => tx,
            Err(e) => return internal(e),
        };
        let consumed = match install::consume_state(&mut tx, &oauth_state, now).await {
            Ok(consumed) => consumed,
            Err(e) => return internal(e),
        };
        if let Err(e) = tx.commit().await {
            return internal(e);
        }
        match consumed {
            Ok(link) => link,
            Err(reason @ (StateError::Unknown | StateError::Reused | StateError::Expired)) => {
                tracing::warn!(%reason, "OAuth callback refused");
                return bad_request(
                    "This sign-in cannot be used",
                    &format!("{}.", capitalize(&reason.to_string())),
                );
            }
        }
    };
    if link.is_expired(now) {
        return view::expired_link(link.domain.as_str());
    }

    let tokens = match state.zoom.exchange_code(&code).await {
        Ok(tokens) => tokens,
        Err(ZoomError::InvalidGrant { .. } | ZoomError::BadRequest { .. }) => {
            return bad_request(
                "Zoom refused the sign-in",
                "The authorisation code is invalid or has expired.",
            );
        }
        Err(e) => {
            tracing::error!(error = %e, "code exchange failed");
            return pages::problem(
                StatusCode::BAD_GATEWAY,
                "Zoom could not be reached",
                "We could not complete the sign-in with Zoom. Nothing was installed.",
                "Open your install link again in a few minutes.",
            );
        }
    };

    let me = {
        let access = AccessToken {
            token: tokens.access_token.clone(),
            api_base: api_base_for(tokens.api_url.as_ref()),
        };
        let api = state
            .zoom
            .account("oauth-callback", Arc::new(StaticTokenSource(access)));
        match api.me().await {
            Ok(me) => me,
            Err(e) => {
                tracing::error!(error = %e, "could not read the installing user");
                revoke_quietly(&state, &tokens).await;
                return pages::problem(
                    StatusCode::BAD_GATEWAY,
                    "Zoom could not be reached",
                    "We could not read your Zoom account. Nothing was installed.",
                    "Open your install link again in a few minutes.",
                );
            }
        }
    };
    let Some(zoom_account_id) = me.account_id.clone().filter(|a| !a.is_empty()) else {
        revoke_quietly(&state, &tokens).await;
        return internal("Zoom's /users/me had no account_id");
    };
    let admin_domain = Email::parse(&me.email).map(|e| e.domain());
    if admin_domain
        .as_ref()
        .map(|d| d != &link.domain)
        .unwrap_or(true)
    {
        tracing::warn!(link.id = %link.id, "installing admin's e-mail domain does not match the link");
        revoke_quietly(&state, &tokens).await;
        return pages::problem(
            StatusCode::FORBIDDEN,
            "Wrong Zoom account",
            &format!(
                "This link is for {domain}, but you signed in to Zoom with an address outside {domain}.",
                domain = link.domain
            ),
            "Sign out of Zoom, then open the link again and sign in with your company's Zoom administrator account. Nothing was installed.",
        );
    }

    let installation_id = Uuid::new_v4();
    let stored = store_installation(
        &state,
        &link,
        &zoom_account_id,
        &me.id,
        me.role_name.as_deref(),
        &tokens,
        installation_id,
    )
    .await;
    let account_id = match stored {
        Ok(Ok(account_id)) => account_id,
        Ok(Err(taken)) => {
            revoke_quietly(&state, &tokens).await;
            return pages::problem(
                StatusCode::CONFLICT,
                "Domain already installed",
                &taken.to_string(),
                "Contact Billables support if your company changed Zoom accounts.",
            );
        }
        Err(e) => {
            revoke_quietly(&state, &tokens).await;
            return internal(e);
        }
    };
    if let Err(e) = state
        .queues
        .enqueue(InstallAccount {
            account_id,
            installation_id,
        })
        .await
    {
        // Tokens are stored: an operator (or the next install attempt) can finish onboarding.
        tracing::error!(account.id = %account_id, error = %e, "could not enqueue onboarding");
        return internal(e);
    }
    tracing::info!(account.id = %account_id, "account authorised; onboarding queued");
    view::installed(
        link.domain.as_str(),
        "We are now reading your account's user directory; this takes a moment.",
    )
}

fn capitalize(s: &str) -> String {
    let mut chars = s.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

async fn revoke_quietly(state: &AppState, tokens: &TokenSet) {
    if let Err(e) = state.zoom.revoke(&tokens.access_token).await {
        tracing::warn!(error = %e, "could not revoke a token we will not keep");
    }
}

async fn store_installation(
    state: &AppState,
    link: &install::Link,
    zoom_account_id: &str,
    zoom_user_id: &str,
    role: Option<&str>,
    tokens: &TokenSet,
    installation_id: Uuid,
) -> Result<Result<Uuid, accounts::DomainTaken>, sqlx::Error> {
    let now = Utc::now();
    let mut tx = state.db.begin().await?;
    let api_url = tokens
        .api_url
        .as_ref()
        .map(|u| u.as_str().trim_end_matches('/').to_owned());
    let account_id = match accounts::record_installation(
        &mut tx,
        zoom_account_id,
        &link.domain,
        zoom_user_id,
        api_url.as_deref(),
        now,
    )
    .await?
    {
        Ok(id) => id,
        Err(taken) => return Ok(Err(taken)),
    };
    tokens::save(&mut tx, &state.token_key, account_id, tokens, now).await?;
    install::mark_link_used(&mut tx, link.id, account_id, now).await?;
    audit::record(
        &mut tx,
        &format!("zoom:{zoom_user_id}"),
        "account.authorized",
        Some(account_id),
        None,
        json!({"link_id": link.id, "domain": link.domain.as_str(), "role": role, "installation_id": installation_id, "scope": tokens.scope}),
    )
    .await?;
    tx.commit().await?;
    Ok(Ok(account_id))
}
