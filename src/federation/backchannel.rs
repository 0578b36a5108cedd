//! Back-channel logout (OpenID Connect Back-Channel Logout 1.0): the provider says that a user
//! signed out there, and the sessions its logout token names end here exactly as a session a
//! user or an admin ends: on every replica at once, out of its indexes, with its manager
//! sessions.

use std::collections::BTreeMap;

use super::{EnvironmentSet, UserSessions};
use crate::sso::{Identity, LogoutError, LogoutToken};
use crate::store::{SessionStore, StoreError};

/// What a valid logout token ended.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct LoggedOut {
    /// Each user signed out, with how many of their sessions ended (none: the token named no
    /// live session, which is no error).
    pub users: Vec<(String, usize)>,
}

impl LoggedOut {
    pub fn sessions(&self) -> usize {
        self.users.iter().map(|(_, n)| n).sum()
    }
}

/// Validates `logout_token` completely and ends the sessions it names. Nothing changes when it
/// is refused. When the sessions cannot all be ended (the store is down), the token's use is
/// forgotten again, so that the provider may send it once more.
pub async fn backchannel_logout(
    identity: &Identity,
    sessions: &SessionStore,
    users: &UserSessions,
    environments: &EnvironmentSet,
    logout_token: &str,
) -> Result<LoggedOut, LogoutError> {
    let token = identity.verify_logout_token(logout_token).await?;
    match end_named(sessions, users, environments, &token).await {
        Ok(ended) => Ok(ended),
        Err(e) => {
            tracing::warn!(error = %e, "the sessions a logout token names could not be ended");
            identity.forget_logout_token(&token).await;
            Err(LogoutError::Store)
        }
    }
}

async fn end_named(
    sessions: &SessionStore,
    users: &UserSessions,
    environments: &EnvironmentSet,
    token: &LogoutToken,
) -> Result<LoggedOut, StoreError> {
    let mut ended: BTreeMap<String, usize> = BTreeMap::new();
    for session in users.named_by(sessions, token).await? {
        users.end_listed(sessions, environments, &session).await?;
        *ended.entry(session.data.user.login_name).or_default() += 1;
    }
    Ok(LoggedOut { users: ended.into_iter().collect() })
}
