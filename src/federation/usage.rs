//! A consumer using the environments they joined: which credential a single sign-on uses on a
//! manager, what a manager's 401 means for the portal session, and the portal session a sign-in
//! starts. Decided here once, so the web layer only parses, calls and renders.

use super::{Credential, EnvironmentLink, EnvironmentSet, JoinFailure, PortalSession, UserSessions};
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
/// browser had before is ended, so an id planted before the sign-in is never promoted. The
/// session joins its user's list (and, for a single sign-on, the provider's names for it, which
/// a back-channel logout looks up), and with a cap on sessions per user (`session.max_per_user`)
/// the oldest beyond it end.
pub async fn start_session(
    sessions: &SessionStore,
    users: &UserSessions,
    environments: &EnvironmentSet,
    previous: Option<&SessionId>,
    signed_in: PortalSession,
    max_per_user: Option<usize>,
) -> Result<Session<PortalSession>, StoreError> {
    if let Some(previous) = previous {
        sessions.destroy::<PortalSession>(previous).await?;
    }
    let login_name = signed_in.user.login_name.clone();
    let provider_session = signed_in.sso.as_ref().and_then(|t| t.signed_in_as.clone());
    let session = sessions.create(signed_in).await?;
    let reference = sessions.reference(&session.id);
    users.add(&login_name, &reference, session.created_at).await?;
    if let Some(who) = &provider_session {
        let keep_for = sessions.absolute_timeout();
        users.add_provider_session(who, &reference, session.created_at, keep_for).await?;
    }
    if let Some(max) = max_per_user {
        users.cap(sessions, environments, &login_name, &reference, max).await?;
    }
    Ok(session)
}

/// Signs a session out: it ends on every replica, leaves its indexes, and its manager sessions
/// are ended (concurrently, each bounded by its timeout).
pub async fn end_session(
    sessions: &SessionStore,
    users: &UserSessions,
    environments: &EnvironmentSet,
    session: &Session<PortalSession>,
) -> Result<(), StoreError> {
    sessions.destroy::<PortalSession>(&session.id).await?;
    users.ended(&session.data, &sessions.reference(&session.id)).await?;
    super::sign_out(environments, &session.data).await;
    Ok(())
}
