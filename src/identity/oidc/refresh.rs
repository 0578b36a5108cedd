//! Keeping a portal session's access token fresh: refreshed before it expires, by one request at
//! a time across every replica. The first request to find it due takes a lock in the shared store
//! (`SET NX PX`) and renews the lock's lease while the provider answers; the others wait for the
//! new token and read it from the session. So a rotating refresh token is never sent twice.

use std::time::{Duration, Instant};

use openidconnect::RefreshToken;

use super::login::token_error;
use super::{Identity, OidcError};
use crate::crypto::random_token;
use crate::federation::{PortalSession, SsoTokens};
use crate::store::{Session, SessionStore};

/// The lock's lease; renewed every third of it while the refresh runs, so a replica that dies
/// holding it frees it within this time.
const LEASE: Duration = Duration::from_secs(6);
/// How often a waiting request looks for the new token.
const POLL: Duration = Duration::from_millis(25);

impl Identity {
    fn due(&self, tokens: &SsoTokens) -> bool {
        let margin = i64::try_from(self.settings.refresh_margin.get().as_millis()).unwrap_or(0);
        tokens.expires_at_ms.is_some_and(|at| self.clock.now_millis() >= at.saturating_sub(margin))
    }

    fn lock_key(&self, session: &Session<PortalSession>) -> String {
        format!("oidc:refresh:{}", self.keys.lookup_hash("oidc-refresh", session.id.as_str().as_bytes()))
    }

    /// Whether [`Identity::keep_fresh`] has anything to do for `session` (a cheap look, so a caller
    /// holding a shared session copies it only when it will change).
    pub fn refresh_due(&self, session: &Session<PortalSession>) -> bool {
        session.data.sso.as_ref().is_some_and(|t| self.due(t))
    }

    /// Makes sure `session` holds an access token that is not about to expire, refreshing it
    /// (or waiting for the request that does) when needed. Sessions without provider tokens are
    /// left alone.
    pub async fn keep_fresh(
        &self,
        sessions: &SessionStore,
        session: &mut Session<PortalSession>,
    ) -> Result<(), OidcError> {
        if !self.refresh_due(session) {
            return Ok(());
        }
        let key = self.lock_key(session);
        let owner = random_token(16);
        let deadline = Instant::now() + self.settings.timeout.get() + 2 * LEASE;
        loop {
            if self.kv.set_if_absent(&key, owner.as_bytes(), LEASE).await? {
                let result = self.refresh_holding_lock(sessions, session, &key, &owner).await;
                if let Err(e) = self.kv.delete_if(&key, owner.as_bytes()).await {
                    tracing::warn!(error = %e, "could not release the token refresh lock");
                }
                return result;
            }
            tokio::time::sleep(POLL).await;
            let current =
                sessions.load_fresh::<PortalSession>(&session.id).await?.ok_or(OidcError::UnknownState)?;
            if !current.data.sso.as_ref().is_some_and(|t| self.due(t)) {
                *session = current;
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(OidcError::ProviderUnavailable("token refresh took too long".into()));
            }
        }
    }

    async fn refresh_holding_lock(
        &self,
        sessions: &SessionStore,
        session: &mut Session<PortalSession>,
        key: &str,
        owner: &str,
    ) -> Result<(), OidcError> {
        // Another request may have refreshed between our look and our lock.
        // From the store itself: an in-process copy could predate another replica's refresh.
        let current =
            sessions.load_fresh::<PortalSession>(&session.id).await?.ok_or(OidcError::UnknownState)?;
        *session = current;
        let Some(previous) = session.data.sso.clone().filter(|t| self.due(t)) else {
            return Ok(());
        };
        let refresh = async {
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
            Ok::<_, OidcError>(self.tokens(&response, previous.id_token.clone(), Some(&previous)))
        };
        let renew = async {
            loop {
                tokio::time::sleep(LEASE / 3).await;
                match self.kv.renew_if(key, owner.as_bytes(), LEASE).await {
                    Ok(true) => {}
                    Ok(false) => tracing::warn!("the token refresh lock was lost while refreshing"),
                    Err(e) => tracing::warn!(error = %e, "could not renew the token refresh lock"),
                }
            }
        };
        let fresh = tokio::select! {
            result = refresh => result?,
            () = renew => return Err(OidcError::ProviderUnavailable("token refresh stopped".into())),
        };
        session.data.sso = Some(fresh);
        sessions.save(session).await?;
        tracing::debug!("access token refreshed");
        Ok(())
    }
}
