//! What a portal session holds: the user, a CSRF token, the current environment, and for each
//! environment either the user's manager session there or why it could not be joined.
//! Stored sealed by `store::SessionStore`; never sent to the browser.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::JoinFailure;
use crate::domain::EnvironmentId;
use crate::manager::{ManagerSession, Role};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionUser {
    pub login_name: String,
    pub name: String,
    pub email: Option<String>,
    pub role: Role,
    /// The organization name, the key that maps the user onto every environment.
    pub organization: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum EnvironmentLink {
    Joined {
        manager: ManagerSession,
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
            EnvironmentLink::Joined { manager, .. } => Some((id, manager)),
            EnvironmentLink::Unavailable { .. } => None,
        })
    }
}
