//! A connection's access token: cached on this replica and renewed before it expires, one
//! renewal at a time. Client-credentials tokens are fetched by each replica; authorization-code
//! tokens come from the refresh token in the database, and the access token obtained is stored
//! there too (sealed) so the replicas share it; the refresh is done under the row's lease, so a
//! rotating refresh token is never presented twice.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine;
use secrecy::{ExposeSecret, SecretString};

use super::oauth::Tokens;
use super::{Connection, CredentialError};
use crate::config::Grant;
use crate::store::sql::SealedTokens;

/// How long a replica may hold the refresh lease (a crashed holder frees it after this).
const LEASE: Duration = Duration::from_secs(30);
/// Between looks at the row while another replica refreshes.
const LEASE_POLL: Duration = Duration::from_millis(100);

pub(super) struct Cached {
    value: SecretString,
    renew_at: SystemTime,
}

fn millis(t: SystemTime) -> i64 {
    i64::try_from(t.duration_since(UNIX_EPOCH).unwrap_or_default().as_millis()).unwrap_or(i64::MAX)
}

fn from_millis(ms: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(u64::try_from(ms).unwrap_or(0))
}

impl Connection {
    /// The access token in force, renewed when due. A failure is recorded on the state.
    pub(super) async fn token(&self) -> Result<SecretString, CredentialError> {
        let mut cached = self.cached.lock().await;
        if let Some(token) = cached.as_ref().filter(|t| self.ctx.clock.now() < t.renew_at) {
            return Ok(token.value.clone());
        }
        let result = match self.grant {
            Grant::ClientCredentials => self.own_token().await,
            Grant::AuthorizationCode => self.shared_token().await,
        };
        match result {
            Ok(token) => {
                let value = token.value.clone();
                *cached = Some(token);
                Ok(value)
            }
            Err(e) => {
                *cached = None;
                self.record_error(&e).await;
                Err(e)
            }
        }
    }

    async fn own_token(&self) -> Result<Cached, CredentialError> {
        let tokens = self.client_credentials().await?;
        if let Err(e) = self.ctx.db.record_connection_token(self.id.as_str(), self.now_millis()).await {
            tracing::warn!(error = %e, connection = %self.id, "cannot record the new token on the connection's state");
        }
        Ok(Cached { value: tokens.access, renew_at: tokens.renew_at })
    }

    /// The stored access token while it is fresh; otherwise a refresh under the lease (or a
    /// wait for the replica that holds it).
    async fn shared_token(&self) -> Result<Cached, CredentialError> {
        let deadline = Instant::now() + self.timeout + LEASE;
        loop {
            let row = self.row().await?;
            if let Some(fresh) = self.fresh(&row) {
                return Ok(fresh);
            }
            if row.refresh_token.is_none() {
                return Err(CredentialError::NeedsConsent(self.id.clone()));
            }
            let now = self.now_millis();
            let until = now.saturating_add(i64::try_from(LEASE.as_millis()).unwrap_or(i64::MAX));
            let leased = self.ctx.db.take_connection_lease(self.id.as_str(), now, until).await;
            if leased.map_err(|e| self.store_error(e))? {
                return self.refresh_under_lease().await;
            }
            if Instant::now() >= deadline {
                return Err(CredentialError::Unreachable {
                    connection: self.id.clone(),
                    reason: "another replica is refreshing the token and has not finished".to_owned(),
                });
            }
            tokio::time::sleep(LEASE_POLL).await;
        }
    }

    /// Under the lease, the row is read again: the replica that held the lease before may have
    /// refreshed (and rotated the refresh token) since it was last read.
    async fn refresh_under_lease(&self) -> Result<Cached, CredentialError> {
        let row = self.row().await?;
        if let Some(fresh) = self.fresh(&row) {
            self.release_lease().await;
            return Ok(fresh);
        }
        let Some(refresh) = row.refresh_token.as_deref().and_then(|s| self.open(s, "refresh")) else {
            self.release_lease().await;
            return Err(CredentialError::NeedsConsent(self.id.clone()));
        };
        // On failure the error is recorded by the caller, which releases the lease.
        let tokens = self.refresh(&refresh).await?;
        self.save_tokens(&tokens).await?;
        Ok(Cached { value: tokens.access, renew_at: tokens.renew_at })
    }

    async fn row(&self) -> Result<crate::store::sql::ConnectionRow, CredentialError> {
        let row = self.ctx.db.connection_state(self.id.as_str()).await.map_err(|e| self.store_error(e))?;
        Ok(row.unwrap_or_default())
    }

    /// The stored access token, while it is not due for renewal.
    fn fresh(&self, row: &crate::store::sql::ConnectionRow) -> Option<Cached> {
        let renew_at = row.access_renew_at.filter(|at| *at > self.now_millis())?;
        let value = self.open(row.access_token.as_deref()?, "access")?;
        Some(Cached { value, renew_at: from_millis(renew_at) })
    }

    async fn release_lease(&self) {
        if let Err(e) = self.ctx.db.release_connection_lease(self.id.as_str()).await {
            tracing::warn!(error = %e, connection = %self.id, "cannot release the refresh lease; it lapses by itself");
        }
    }

    /// Stores refreshed tokens (sealed) and releases the lease.
    async fn save_tokens(&self, tokens: &Tokens) -> Result<(), CredentialError> {
        let access = self.seal(&tokens.access, "access")?;
        let refresh = tokens.refresh.as_ref().map(|r| self.seal(r, "refresh")).transpose()?;
        let sealed = SealedTokens {
            access_token: &access,
            access_renew_at: millis(tokens.renew_at),
            refresh_token: refresh.as_deref(),
        };
        self.ctx
            .db
            .save_tokens(self.id.as_str(), sealed, self.now_millis())
            .await
            .map_err(|e| self.store_error(e))
    }

    /// Stores the tokens of a fresh consent and starts using them.
    pub(super) async fn save_consent(&self, tokens: Tokens, admin: &str) -> Result<(), CredentialError> {
        let Some(refresh) = &tokens.refresh else {
            return Err(CredentialError::Provider {
                connection: self.id.clone(),
                reason:
                    "the provider gave no refresh token (ask for offline access, e.g. scope offline_access)"
                        .to_owned(),
                consent_lost: false,
            });
        };
        let access = self.seal(&tokens.access, "access")?;
        let refresh = self.seal(refresh, "refresh")?;
        let sealed = SealedTokens {
            access_token: &access,
            access_renew_at: millis(tokens.renew_at),
            refresh_token: Some(&refresh),
        };
        let db = &self.ctx.db;
        db.save_consent(self.id.as_str(), sealed, admin, self.now_millis())
            .await
            .map_err(|e| self.store_error(e))?;
        *self.cached.lock().await = Some(Cached { value: tokens.access, renew_at: tokens.renew_at });
        Ok(())
    }

    /// Forgets the consent here and in the database.
    pub async fn disconnect(&self) -> Result<(), CredentialError> {
        let mut cached = self.cached.lock().await;
        *cached = None;
        self.ctx
            .db
            .disconnect_connection(self.id.as_str(), self.now_millis())
            .await
            .map_err(|e| self.store_error(e))
    }

    /// Drops this replica's copy of the token (another replica changed the consent).
    pub async fn forget_cached(&self) {
        *self.cached.lock().await = None;
    }

    pub(super) async fn record_error(&self, error: &CredentialError) {
        let forget = matches!(error, CredentialError::Provider { consent_lost: true, .. })
            && self.grant == Grant::AuthorizationCode;
        let db = &self.ctx.db;
        if let Err(e) =
            db.record_connection_error(self.id.as_str(), &error.to_string(), forget, self.now_millis()).await
        {
            tracing::warn!(error = %e, connection = %self.id, "cannot record an error on the connection's state");
        }
        tracing::warn!(connection = %self.id, error = %error, "no token for the connection");
    }

    fn context(&self, what: &str) -> Vec<u8> {
        format!("credential-connection/{}/{what}", self.id).into_bytes()
    }

    fn seal(&self, token: &SecretString, what: &str) -> Result<String, CredentialError> {
        let sealed = self.ctx.keys.seal(&self.context(what), token.expose_secret().as_bytes());
        let sealed = sealed
            .ok_or_else(|| CredentialError::Config(self.id.clone(), "cannot seal a token".to_owned()))?;
        Ok(base64::engine::general_purpose::STANDARD.encode(sealed))
    }

    /// `None` when the stored value was sealed under another `session.secret` or altered.
    fn open(&self, stored: &str, what: &str) -> Option<SecretString> {
        let sealed = base64::engine::general_purpose::STANDARD.decode(stored).ok()?;
        let plain = self.ctx.keys.open(&self.context(what), &sealed)?;
        String::from_utf8(plain).ok().map(SecretString::from)
    }
}
