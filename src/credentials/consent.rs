//! An admin's consent to an authorization-code connection: the authorization request (state +
//! PKCE), kept server-side for one use and bound to the admin's browser, then the callback's
//! code exchange and the sealed refresh token saved for every replica.
//!
//! The callback arrives from the provider's site, so the admin session cookie (`SameSite=Strict`)
//! is not sent with it; the pending consent (found by `state`) and a browser-bound nonce (a
//! `SameSite=Lax` cookie) are what authenticate it.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{Connection, Connections, CredentialError};
use crate::crypto::{constant_time_eq, random_token};
use crate::domain::CredentialId;

/// How long an admin has to consent at the provider.
pub const CONSENT_TTL: Duration = Duration::from_secs(10 * 60);
const PENDING_PREFIX: &str = "credential_consent:";

/// Where to send the admin, and the nonce the browser must bring back.
pub struct ConsentStarted {
    pub authorize_url: url::Url,
    pub browser_nonce: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ConsentError {
    #[error("this consent link is unknown, used or expired; start again from the Credentials page")]
    UnknownState,
    #[error("this consent was started in another browser; start again from the Credentials page")]
    OtherBrowser,
    #[error("the connection of this consent is no longer configured")]
    UnknownConnection,
    #[error("the consent cannot be kept: {0}")]
    Store(String),
    /// The provider refused, or the code exchange failed (recorded on the connection's state).
    #[error("{reason}")]
    Failed { connection: CredentialId, admin: String, reason: String },
}

impl From<CredentialError> for ConsentError {
    fn from(e: CredentialError) -> Self {
        ConsentError::Store(e.to_string())
    }
}

#[derive(Serialize, Deserialize)]
struct Pending {
    connection: String,
    admin: String,
    pkce_verifier: String,
    /// Keyed hash of the browser nonce.
    browser: String,
}

impl Connections {
    fn pending_key(&self, connection: &Connection, state: &str) -> String {
        format!("{PENDING_PREFIX}{}", connection.ctx.keys.lookup_hash("consent-state", state.as_bytes()))
    }

    /// Starts `admin`'s consent to `connection`.
    pub async fn start_consent(
        &self,
        connection: &Connection,
        admin: &str,
    ) -> Result<ConsentStarted, ConsentError> {
        let start = connection.authorization_start()?;
        let browser_nonce = random_token(32);
        let ctx = &connection.ctx;
        let pending = Pending {
            connection: connection.id.to_string(),
            admin: admin.to_owned(),
            pkce_verifier: start.pkce_verifier,
            browser: ctx.keys.lookup_hash("consent-browser", browser_nonce.as_bytes()),
        };
        let key = self.pending_key(connection, &start.state);
        let json = serde_json::to_vec(&pending).map_err(|e| ConsentError::Store(e.to_string()))?;
        let sealed =
            ctx.keys.seal(key.as_bytes(), &json).ok_or_else(|| ConsentError::Store("sealing".into()))?;
        ctx.kv.set(&key, &sealed, Some(CONSENT_TTL)).await.map_err(|e| ConsentError::Store(e.to_string()))?;
        Ok(ConsentStarted { authorize_url: start.url, browser_nonce })
    }

    /// The provider's answer: `code` (or `error`) for `state`, in the browser that brought
    /// `browser_nonce`. Returns the connection now connected and the admin who consented.
    pub async fn finish_consent(
        &self,
        state: &str,
        browser_nonce: Option<&str>,
        outcome: Result<&str, String>,
    ) -> Result<(std::sync::Arc<Connection>, String), ConsentError> {
        // Any connection's context will do to find the pending consent: they share keys and store.
        let any = self.all().next().ok_or(ConsentError::UnknownState)?;
        let key = self.pending_key(any, state);
        let taken = any.ctx.kv.take(&key).await.map_err(|e| ConsentError::Store(e.to_string()))?;
        let pending = taken
            .and_then(|sealed| any.ctx.keys.open(key.as_bytes(), &sealed))
            .and_then(|json| serde_json::from_slice::<Pending>(&json).ok())
            .ok_or(ConsentError::UnknownState)?;
        let expected = browser_nonce.map(|n| any.ctx.keys.lookup_hash("consent-browser", n.as_bytes()));
        if !expected.is_some_and(|e| constant_time_eq(e.as_bytes(), pending.browser.as_bytes())) {
            return Err(ConsentError::OtherBrowser);
        }
        let connection = self.find(&pending.connection).ok_or(ConsentError::UnknownConnection)?;
        let result = match outcome {
            Ok(code) => match connection.exchange_code(code, &pending.pkce_verifier).await {
                Ok(tokens) => connection.save_consent(tokens, &pending.admin).await,
                Err(e) => Err(e),
            },
            Err(denied) => Err(CredentialError::Provider {
                connection: connection.id.clone(),
                reason: format!("consent not given: {denied}"),
                consent_lost: false,
            }),
        };
        match result {
            Ok(()) => Ok((connection, pending.admin)),
            Err(e) => {
                connection.record_error(&e).await;
                Err(ConsentError::Failed {
                    connection: connection.id.clone(),
                    admin: pending.admin,
                    reason: e.to_string(),
                })
            }
        }
    }
}
