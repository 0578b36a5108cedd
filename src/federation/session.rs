//! What a portal session holds: the user, a CSRF token, the current environment, for each
//! environment either how Portico acts as the user there or why it could not be joined, and for a
//! single sign-on the provider's tokens. Stored sealed by `store::SessionStore`; never sent to the
//! browser.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::JoinFailure;
use crate::domain::{EnvironmentId, SessionUser};
use crate::manager::ManagerSession;
use crate::sso::SsoTokens;
use crate::store::{Grouped, Groups};

/// How Portico acts as the user on one joined environment.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "via", rename_all = "snake_case")]
pub enum ManagerAccess {
    /// The user's own manager session (password sign-in).
    Session(ManagerSession),
    /// The user's access token from the identity provider ([`SsoTokens`]).
    Bearer,
    /// The manager's service credential, scoped by Portico to the user's organization.
    Service,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum EnvironmentLink {
    Joined {
        manager: ManagerAccess,
        /// The id of the user's organization on that environment.
        organization_id: String,
    },
    Unavailable {
        reason: JoinFailure,
    },
}

impl EnvironmentLink {
    pub fn is_joined(&self) -> bool {
        matches!(self, EnvironmentLink::Joined { .. })
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PortalSession {
    pub user: SessionUser,
    /// Compared (in constant time) with `csrf_token` form fields and the `X-CSRF-Token` header.
    pub csrf_token: String,
    pub current: Option<EnvironmentId>,
    pub links: BTreeMap<EnvironmentId, EnvironmentLink>,
    /// A one-time message for the next page (after a redirect).
    #[serde(default)]
    pub notice: Option<Notice>,
    /// Signed in through the identity provider: its tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sso: Option<SsoTokens>,
    /// How and from where it was started, for its user's list of sessions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client: Option<super::ClientFacts>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notice {
    pub success: bool,
    pub text: String,
}

impl PortalSession {
    pub fn link(&self, id: &EnvironmentId) -> Option<&EnvironmentLink> {
        self.links.get(id)
    }

    /// Every manager session held, for sign-out.
    pub fn manager_sessions(&self) -> impl Iterator<Item = (&EnvironmentId, &ManagerSession)> {
        self.links.iter().filter_map(|(id, link)| match link {
            EnvironmentLink::Joined { manager: ManagerAccess::Session(session), .. } => Some((id, session)),
            _ => None,
        })
    }
}

/// A portal session counts towards the environments it has joined (the dashboard's figure per
/// environment); an environment it could not join, or whose manager ended its session, it has
/// left.
impl Grouped for PortalSession {
    fn groups(&self) -> Groups {
        let (joined, not): (Vec<_>, Vec<_>) = self.links.iter().partition(|(_, link)| link.is_joined());
        let ids = |links: Vec<(&EnvironmentId, &EnvironmentLink)>| {
            links.into_iter().map(|(id, _)| id.as_str().to_owned()).collect()
        };
        Groups { member_of: ids(joined), left: ids(not) }
    }
}
