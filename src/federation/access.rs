//! How a joined environment's calls are made for a signed-in consumer: one decision, for pages
//! (which may use the manager's service credential, scoping its answers themselves) and for
//! routed calls (which never may: a raw call's answer cannot be scoped).

use super::{
    Environment, EnvironmentLink, JoinFailure, ManagerAccess, PortalSession, ServiceAuth, service_error,
};
use crate::credentials::Caller;
use crate::domain::SessionUser;
use crate::manager::{ManagerCredentials, ManagerSession};

/// How one page's calls to a manager are made, decided when the page starts.
pub enum PageAccess {
    Session(ManagerSession),
    Bearer(String),
    /// The service credential's secret or token in force when the page started.
    Service(ServiceAuth),
}

impl PageAccess {
    pub fn credentials(&self) -> ManagerCredentials<'_> {
        match self {
            PageAccess::Session(session) => ManagerCredentials::Session(session),
            PageAccess::Bearer(token) => ManagerCredentials::Bearer(token),
            PageAccess::Service(auth) => auth.credentials(),
        }
    }

    /// Calls go with the manager's service credential: the caller scopes the answers to the
    /// user's organization itself.
    pub fn is_service(&self) -> bool {
        matches!(self, PageAccess::Service(_))
    }
}

impl PortalSession {
    /// The credentials of the user's own calls to a joined environment (routing): the manager
    /// session, or the access token. `None` when not joined, and for the service credential,
    /// which is never lent to a caller's raw calls since its answers cannot be scoped.
    pub fn credentials(&self, id: &crate::domain::EnvironmentId) -> Option<ManagerCredentials<'_>> {
        match self.links.get(id)? {
            EnvironmentLink::Joined { manager: ManagerAccess::Session(session), .. } => {
                Some(ManagerCredentials::Session(session))
            }
            EnvironmentLink::Joined { manager: ManagerAccess::Bearer, .. } => {
                self.sso.as_ref().map(|t| ManagerCredentials::Bearer(&t.access_token))
            }
            _ => None,
        }
    }

    /// How a page's calls to `env` are made, with the id of the user's organization there; or why
    /// the user cannot use it now.
    pub async fn page_access(&self, env: &Environment) -> Result<(PageAccess, String), JoinFailure> {
        let (manager, organization_id) = match self.links.get(env.id()) {
            Some(EnvironmentLink::Joined { manager, organization_id }) => (manager, organization_id.clone()),
            Some(EnvironmentLink::Unavailable { reason }) => return Err(reason.clone()),
            None => return Err(JoinFailure::NotJoined),
        };
        let access = match manager {
            ManagerAccess::Session(session) => PageAccess::Session(session.clone()),
            ManagerAccess::Bearer => match &self.sso {
                Some(tokens) => PageAccess::Bearer(tokens.access_token.clone()),
                // (A bearer link without the provider's tokens cannot be used: sign in again.)
                None => return Err(JoinFailure::SessionEnded),
            },
            ManagerAccess::Service => PageAccess::Service(service_auth(env, &self.user).await?),
        };
        Ok((access, organization_id))
    }
}

/// The service credential for a page's calls on behalf of `user` (its connection's access policy
/// is checked on every use: a policy changed since sign-in applies at once).
async fn service_auth(env: &Environment, user: &SessionUser) -> Result<ServiceAuth, JoinFailure> {
    let Some(service) = &env.service else {
        return Err(JoinFailure::Unavailable);
    };
    let caller = Caller::User { username: &user.login_name, organization: &user.organization, role: None };
    let error = match service.authorize(caller).await {
        Ok(auth) => return Ok(auth),
        Err(e) => service_error(env, &e),
    };
    Err(JoinFailure::from_error(&error, env.is_master))
}
