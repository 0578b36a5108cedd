//! A connection's state as the admin sees it, read from the database row every replica shares.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::{Connection, CredentialError};
use crate::config::Grant;
use crate::store::sql::ConnectionRow;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectionState {
    /// A token was obtained and no error since.
    Connected,
    /// Client credentials: no token asked for yet.
    NotUsedYet,
    /// Authorization code: an admin must consent.
    NeedsConsent,
    /// The last attempt failed (see `last_error`).
    Error,
}

impl ConnectionState {
    pub fn as_str(self) -> &'static str {
        match self {
            ConnectionState::Connected => "connected",
            ConnectionState::NotUsedYet => "not used yet",
            ConnectionState::NeedsConsent => "needs consent",
            ConnectionState::Error => "error",
        }
    }
}

/// What the admin UI shows of a connection. Never a token.
#[derive(Debug, Clone)]
pub struct ConnectionStatus {
    pub state: ConnectionState,
    pub connected_at: Option<SystemTime>,
    pub connected_by: Option<String>,
    pub last_token_at: Option<SystemTime>,
    pub last_error: Option<(String, SystemTime)>,
    pub last_refusal: Option<(String, SystemTime)>,
}

fn at(ms: Option<i64>) -> Option<SystemTime> {
    ms.map(|ms| UNIX_EPOCH + Duration::from_millis(u64::try_from(ms).unwrap_or(0)))
}

impl Connection {
    /// The state from the stored row (`None`: nothing happened yet).
    pub async fn status(&self) -> Result<ConnectionStatus, CredentialError> {
        let row = self.ctx.db.connection_state(self.id.as_str()).await.map_err(|e| self.store_error(e))?;
        Ok(self.status_of(&row.unwrap_or_default()))
    }

    fn status_of(&self, row: &ConnectionRow) -> ConnectionStatus {
        let last_error = row.last_error.clone().zip(at(row.last_error_at));
        let last_token_at = at(row.last_token_at);
        let failing = match (&last_error, last_token_at) {
            (Some((_, error_at)), Some(token_at)) => *error_at >= token_at,
            (Some(_), None) => true,
            (None, _) => false,
        };
        let state = match self.grant {
            Grant::AuthorizationCode if row.refresh_token.is_none() => ConnectionState::NeedsConsent,
            _ if failing => ConnectionState::Error,
            Grant::ClientCredentials if last_token_at.is_none() => ConnectionState::NotUsedYet,
            _ => ConnectionState::Connected,
        };
        ConnectionStatus {
            state,
            connected_at: at(row.connected_at),
            connected_by: row.connected_by.clone(),
            last_token_at,
            last_error,
            last_refusal: row.last_refusal.clone().zip(at(row.last_refusal_at)),
        }
    }
}
