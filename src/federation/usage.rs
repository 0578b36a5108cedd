//! A consumer using the environments they joined: which credential a single sign-on uses on a
//! manager, what a manager's 401 means for the portal session, and the portal session a sign-in
//! starts. Decided here once, so the web layer only parses, calls and renders.

use super::{Credential, EnvironmentLink, JoinFailure, PortalSession};
use crate::config::ManagerAuthMode;
use crate::domain::EnvironmentId;
use crate::store::{Session, SessionId, SessionStore, StoreError};

impl<'a> Credential<'a> {
    /// What a user signed in through the identity provider is joined with: their access token
    /// (`bearer`), or the manager's own service credential on their behalf (`service`).
    pub fn single_sign_on(mode: ManagerAuthMode, access_token: &'a str, username: &'a str) -> Self {
        match mode {
            ManagerAuthMode::Bearer => Credential::Bearer { token: access_token },
            ManagerAuthMode::Service => Credential::Service { username },
        }
    }
}

/// A manager answered 401 to a call made as the user: their session there has ended. The
/// environment is marked so (it needs reconnecting) and the portal session saved.
pub async fn session_ended(
    sessions: &SessionStore,
    session: &mut Session<PortalSession>,
    environment: &EnvironmentId,
) -> Result<(), StoreError> {
    let ended = EnvironmentLink::Unavailable { reason: JoinFailure::SessionEnded };
    session.data.links.insert(environment.clone(), ended);
    sessions.save(session).await
}

/// The portal session of a successful sign-in, under a brand-new id: whatever session the
/// browser had before is ended, so an id planted before the sign-in is never promoted.
pub async fn start_session(
    sessions: &SessionStore,
    previous: Option<&SessionId>,
    signed_in: PortalSession,
) -> Result<Session<PortalSession>, StoreError> {
    if let Some(previous) = previous {
        sessions.destroy(previous).await?;
    }
    sessions.create(signed_in).await
}
