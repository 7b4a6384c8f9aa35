//! OAuth tokens at rest (encrypted with [`TokenKey`], bound to the account id) and the
//! database-backed [`TokenSource`] the workers use.
//!
//! Refresh is single-flight across processes: the refresher holds the token row's lock
//! (`select … for update`) while it calls Zoom, re-checks after taking the lock whether another
//! process already refreshed, and stores the rotated refresh token in the same transaction.
//! Zoom keeps only the latest refresh token valid, so two concurrent refreshes with the same
//! old token would kill the grant: the row lock is what prevents it.

use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use futures::future::BoxFuture;
use secrecy::ExposeSecret;
use sqlx::{PgConnection, PgPool, Row};
use url::Url;
use uuid::Uuid;

use crate::{
    crypto::{CryptoError, TokenKey},
    zoom::{
        AccessToken, TokenSet, TokenSource, ZoomClient, ZoomError, api_base_for, needs_refresh,
    },
};

/// Tokens as stored, decrypted.
#[derive(Debug)]
pub struct Stored {
    pub tokens: TokenSet,
    pub lifetime: TimeDelta,
    pub generation: i64,
}

/// Saves (or replaces) the account's tokens.
pub async fn save(
    conn: &mut PgConnection,
    key: &TokenKey,
    account_id: Uuid,
    tokens: &TokenSet,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let context = account_id.as_bytes();
    let lifetime = (tokens.expires_at - now).num_seconds().max(1);
    sqlx::query(
        "insert into oauth_tokens (account_id, key_id, access_token_enc, refresh_token_enc, expires_at, lifetime_seconds, scope) \
         values ($1, $2, $3, $4, $5, $6, $7) \
         on conflict (account_id) do update set key_id = excluded.key_id, access_token_enc = excluded.access_token_enc, \
             refresh_token_enc = excluded.refresh_token_enc, expires_at = excluded.expires_at, \
             lifetime_seconds = excluded.lifetime_seconds, scope = excluded.scope, \
             generation = oauth_tokens.generation + 1, updated_at = now()",
    )
    .bind(account_id)
    .bind(key.id())
    .bind(key.seal(&tokens.access_token, context))
    .bind(key.seal(&tokens.refresh_token, context))
    .bind(tokens.expires_at)
    .bind(i32::try_from(lifetime).unwrap_or(i32::MAX))
    .bind(tokens.scope.join(" "))
    .execute(conn)
    .await?;
    Ok(())
}

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(transparent)]
    Db(#[from] sqlx::Error),
    #[error(transparent)]
    Crypto(#[from] CryptoError),
}

/// Loads and decrypts the account's tokens; `lock` takes the row lock for a refresh.
pub async fn load(
    conn: &mut PgConnection,
    key: &TokenKey,
    account_id: Uuid,
    api_url: Option<Url>,
    lock: bool,
) -> Result<Option<Stored>, LoadError> {
    let sql = if lock {
        "select key_id, access_token_enc, refresh_token_enc, expires_at, lifetime_seconds, scope, generation \
         from oauth_tokens where account_id = $1 for update"
    } else {
        "select key_id, access_token_enc, refresh_token_enc, expires_at, lifetime_seconds, scope, generation \
         from oauth_tokens where account_id = $1"
    };
    let Some(row) = sqlx::query(sql)
        .bind(account_id)
        .fetch_optional(conn)
        .await?
    else {
        return Ok(None);
    };
    let key_id: String = row.try_get("key_id")?;
    let context = account_id.as_bytes();
    let access: Vec<u8> = row.try_get("access_token_enc")?;
    let refresh: Vec<u8> = row.try_get("refresh_token_enc")?;
    let scope: String = row.try_get("scope")?;
    let lifetime: i32 = row.try_get("lifetime_seconds")?;
    Ok(Some(Stored {
        tokens: TokenSet {
            access_token: key.open(&key_id, &access, context)?,
            refresh_token: key.open(&key_id, &refresh, context)?,
            expires_at: row.try_get("expires_at")?,
            scope: scope.split_whitespace().map(str::to_owned).collect(),
            api_url,
        },
        lifetime: TimeDelta::seconds(i64::from(lifetime)),
        generation: row.try_get("generation")?,
    }))
}

/// A [`TokenSource`] over the `oauth_tokens` row of one account.
pub struct DbTokenSource {
    db: PgPool,
    key: TokenKey,
    client: ZoomClient,
    account_id: Uuid,
    api_url: Option<Url>,
}

impl std::fmt::Debug for DbTokenSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DbTokenSource")
            .field("account_id", &self.account_id)
            .finish_non_exhaustive()
    }
}

fn store_error(e: impl std::fmt::Display) -> ZoomError {
    ZoomError::TokenStore(e.to_string())
}

impl DbTokenSource {
    /// `api_url` is the account's stored regional host (from the token response), if any.
    pub fn new(
        db: PgPool,
        key: TokenKey,
        client: ZoomClient,
        account_id: Uuid,
        api_url: Option<Url>,
    ) -> Arc<Self> {
        Arc::new(Self {
            db,
            key,
            client,
            account_id,
            api_url,
        })
    }

    fn access(&self, tokens: &TokenSet) -> AccessToken {
        AccessToken {
            token: tokens.access_token.clone(),
            api_base: api_base_for(tokens.api_url.as_ref()),
        }
    }

    /// Refreshes under the row lock when `should(stored)` still holds after taking it.
    async fn refresh_if(&self, should: impl Fn(&Stored) -> bool) -> Result<AccessToken, ZoomError> {
        let mut tx = self.db.begin().await.map_err(store_error)?;
        let stored = load(
            &mut tx,
            &self.key,
            self.account_id,
            self.api_url.clone(),
            true,
        )
        .await
        .map_err(store_error)?
        .ok_or(ZoomError::InvalidGrant {
            error: "no stored tokens".into(),
        })?;
        if !should(&stored) {
            // Another process refreshed while we waited for the lock.
            return Ok(self.access(&stored.tokens));
        }
        match self.client.refresh(&stored.tokens.refresh_token).await {
            Ok(mut fresh) => {
                fresh.api_url = fresh.api_url.or_else(|| self.api_url.clone());
                save(&mut tx, &self.key, self.account_id, &fresh, Utc::now())
                    .await
                    .map_err(store_error)?;
                tx.commit().await.map_err(store_error)?;
                tracing::info!(account.id = %self.account_id, "access token refreshed");
                Ok(self.access(&fresh))
            }
            Err(e) => {
                drop(tx);
                if e.needs_reauth() {
                    tracing::warn!(account.id = %self.account_id, error = %e, "refresh refused: account needs re-authorisation");
                    super::accounts::mark_needs_reauth(&self.db, self.account_id, &e.to_string())
                        .await
                        .map_err(store_error)?;
                }
                Err(e)
            }
        }
    }
}

impl TokenSource for DbTokenSource {
    fn access_token(&self) -> BoxFuture<'_, Result<AccessToken, ZoomError>> {
        Box::pin(async move {
            let now = Utc::now();
            let mut conn = self.db.acquire().await.map_err(store_error)?;
            let stored = load(
                &mut conn,
                &self.key,
                self.account_id,
                self.api_url.clone(),
                false,
            )
            .await
            .map_err(store_error)?
            .ok_or(ZoomError::InvalidGrant {
                error: "no stored tokens".into(),
            })?;
            drop(conn);
            if !needs_refresh(stored.tokens.expires_at, stored.lifetime, now) {
                return Ok(self.access(&stored.tokens));
            }
            self.refresh_if(|s| needs_refresh(s.tokens.expires_at, s.lifetime, Utc::now()))
                .await
        })
    }

    fn refresh_after_unauthorized<'a>(
        &'a self,
        rejected: &'a AccessToken,
    ) -> BoxFuture<'a, Result<AccessToken, ZoomError>> {
        Box::pin(async move {
            let rejected = rejected.token.expose_secret().to_owned();
            self.refresh_if(move |s| s.tokens.access_token.expose_secret() == rejected)
                .await
        })
    }
}
