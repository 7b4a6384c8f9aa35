//! Where API calls get their access token from.
//!
//! [`TokenSource`] is the seam between the client and token storage: the store implements
//! it with encrypted, DB-backed, single-flight refresh across processes (rotating refresh
//! tokens must be persisted in the same transaction that uses them). [`MemoryTokenSource`]
//! keeps a [`TokenSet`] in memory (tests, tools); [`StaticTokenSource`] never refreshes.

use std::sync::Arc;

use chrono::{TimeDelta, Utc};
use futures::future::BoxFuture;
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::Mutex;
use url::Url;

use super::client::{DEFAULT_API_BASE, ZoomClient};
use super::error::ZoomError;
use super::metrics;
use super::oauth::{TokenSet, needs_refresh};

/// A bearer token and the REST base it belongs to (the account's data-residency region).
#[derive(Debug, Clone)]
pub struct AccessToken {
    pub token: SecretString,
    /// REST base including `/v2`, e.g. `https://api-eu.zoom.us/v2`.
    pub api_base: Url,
}

impl AccessToken {
    /// The access token of `tokens`, with the API base derived from its `api_url`.
    pub fn from_token_set(tokens: &TokenSet) -> Self {
        Self {
            token: tokens.access_token.clone(),
            api_base: api_base_for(tokens.api_url.as_ref()),
        }
    }

    fn same_token(&self, other: &AccessToken) -> bool {
        self.token.expose_secret() == other.token.expose_secret()
    }
}

/// `{api_url}/v2` (the token response's `api_url` has no version), or the global base.
pub fn api_base_for(api_url: Option<&Url>) -> Url {
    let global = || Url::parse(DEFAULT_API_BASE).expect("DEFAULT_API_BASE is a valid URL");
    let Some(api_url) = api_url else {
        return global();
    };
    let trimmed = api_url.as_str().trim_end_matches('/');
    if trimmed.ends_with("/v2") {
        return Url::parse(trimmed).unwrap_or_else(|_| global());
    }
    Url::parse(&format!("{trimmed}/v2")).unwrap_or_else(|_| global())
}

/// Supplies access tokens to an [`super::AccountApi`].
///
/// Object-safe (futures are boxed) so the client can hold an `Arc<dyn TokenSource>`.
pub trait TokenSource: Send + Sync {
    /// A token to use now; implementations refresh it first when it is about to expire
    /// (see [`needs_refresh`]).
    fn access_token(&self) -> BoxFuture<'_, Result<AccessToken, ZoomError>>;

    /// Zoom answered 401 to `rejected`: return a fresh token. If another caller already
    /// replaced `rejected`, return the current one instead of refreshing again.
    fn refresh_after_unauthorized<'a>(
        &'a self,
        rejected: &'a AccessToken,
    ) -> BoxFuture<'a, Result<AccessToken, ZoomError>>;
}

struct State {
    tokens: TokenSet,
    lifetime: TimeDelta,
}

/// Holds one account's [`TokenSet`] in memory and refreshes it through the client
/// (single-flight within the process). Rotated refresh tokens are kept; read them back
/// with [`MemoryTokenSource::tokens`].
pub struct MemoryTokenSource {
    client: ZoomClient,
    state: Mutex<State>,
}

impl MemoryTokenSource {
    pub fn new(client: ZoomClient, tokens: TokenSet) -> Self {
        // The original lifetime is unknown; what is left of it is the best estimate.
        let lifetime = (tokens.expires_at - Utc::now()).max(TimeDelta::zero());
        Self {
            client,
            state: Mutex::new(State { tokens, lifetime }),
        }
    }

    /// Convenience for `Arc::new(Self::new(..))` as a trait object.
    pub fn shared(client: ZoomClient, tokens: TokenSet) -> Arc<Self> {
        Arc::new(Self::new(client, tokens))
    }

    /// The current token set (after any rotations).
    pub async fn tokens(&self) -> TokenSet {
        self.state.lock().await.tokens.clone()
    }

    async fn refresh_locked(&self, state: &mut State) -> Result<(), ZoomError> {
        let result = self.client.refresh(&state.tokens.refresh_token).await;
        metrics::token_refresh(result.is_ok());
        let fresh = result?;
        state.lifetime = (fresh.expires_at - Utc::now()).max(TimeDelta::zero());
        state.tokens = fresh;
        Ok(())
    }
}

impl std::fmt::Debug for MemoryTokenSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryTokenSource").finish_non_exhaustive()
    }
}

impl TokenSource for MemoryTokenSource {
    fn access_token(&self) -> BoxFuture<'_, Result<AccessToken, ZoomError>> {
        Box::pin(async move {
            let mut state = self.state.lock().await;
            if needs_refresh(state.tokens.expires_at, state.lifetime, Utc::now()) {
                self.refresh_locked(&mut state).await?;
            }
            Ok(AccessToken::from_token_set(&state.tokens))
        })
    }

    fn refresh_after_unauthorized<'a>(
        &'a self,
        rejected: &'a AccessToken,
    ) -> BoxFuture<'a, Result<AccessToken, ZoomError>> {
        Box::pin(async move {
            let mut state = self.state.lock().await;
            let current = AccessToken::from_token_set(&state.tokens);
            if !current.same_token(rejected) {
                return Ok(current);
            }
            self.refresh_locked(&mut state).await?;
            Ok(AccessToken::from_token_set(&state.tokens))
        })
    }
}

/// A fixed access token that is never refreshed (a 401 ends in `ZoomError::Unauthorized`).
#[derive(Debug, Clone)]
pub struct StaticTokenSource(pub AccessToken);

impl TokenSource for StaticTokenSource {
    fn access_token(&self) -> BoxFuture<'_, Result<AccessToken, ZoomError>> {
        let token = self.0.clone();
        Box::pin(async move { Ok(token) })
    }

    fn refresh_after_unauthorized<'a>(
        &'a self,
        _rejected: &'a AccessToken,
    ) -> BoxFuture<'a, Result<AccessToken, ZoomError>> {
        Box::pin(async { Err(ZoomError::Unauthorized) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_base_follows_api_url() {
        assert_eq!(api_base_for(None).as_str(), "https://api.zoom.us/v2");
        let eu = Url::parse("https://api-eu.zoom.us").unwrap();
        assert_eq!(
            api_base_for(Some(&eu)).as_str(),
            "https://api-eu.zoom.us/v2"
        );
        let sim = Url::parse("http://127.0.0.1:9100/").unwrap();
        assert_eq!(
            api_base_for(Some(&sim)).as_str(),
            "http://127.0.0.1:9100/v2"
        );
        let versioned = Url::parse("https://api.zoom.us/v2/").unwrap();
        assert_eq!(
            api_base_for(Some(&versioned)).as_str(),
            "https://api.zoom.us/v2"
        );
    }

    #[test]
    fn debug_never_shows_the_token() {
        let token = AccessToken {
            token: SecretString::from("eyJsecret"),
            api_base: api_base_for(None),
        };
        let shown = format!("{token:?} {:?}", StaticTokenSource(token.clone()));
        assert!(!shown.contains("eyJsecret"), "{shown}");
    }
}
