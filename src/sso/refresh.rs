//! Refreshing a portal session's access token at the provider. When and under which lock a
//! session's tokens are refreshed is the federation's (`federation::tokens`); this is the
//! provider's side of it.

use std::time::Duration;

use openidconnect::RefreshToken;

use super::login::token_error;
use super::{Identity, OidcError, SsoTokens};
use crate::store::{KvStore, SessionId};

impl Identity {
    /// Whether `tokens` expire within `refresh_margin`.
    pub fn tokens_due(&self, tokens: &SsoTokens) -> bool {
        let margin = i64::try_from(self.settings.refresh_margin.get().as_millis()).unwrap_or(0);
        tokens.expires_at_ms.is_some_and(|at| self.clock.now_millis() >= at.saturating_sub(margin))
    }

    /// The store key of the lock under which one request refreshes a session's tokens.
    pub fn refresh_lock_key(&self, session: &SessionId) -> String {
        format!("oidc:refresh:{}", self.keys.lookup_hash("oidc-refresh", session.as_str().as_bytes()))
    }

    /// The store that holds the refresh locks (shared by every replica).
    pub fn lock_store(&self) -> &KvStore {
        &self.kv
    }

    /// How long the provider may take to answer.
    pub fn provider_timeout(&self) -> Duration {
        self.settings.timeout.get()
    }

    /// New tokens for `previous`, from the provider's token endpoint (a rotating refresh token is
    /// replaced).
    pub async fn refreshed(&self, previous: &SsoTokens) -> Result<SsoTokens, OidcError> {
        let token = previous
            .refresh_token
            .clone()
            .ok_or_else(|| OidcError::TokenRefused("no refresh token".into()))?;
        let client = self.provider.client(self.provider.metadata().await?);
        let response = client
            .exchange_refresh_token(&RefreshToken::new(token))
            .map_err(|_| OidcError::ProviderUnavailable("no token endpoint".into()))?
            .request_async(self.provider.http())
            .await
            .map_err(token_error)?;
        Ok(self.tokens(&response, previous.id_token.clone(), Some(previous)))
    }
}
