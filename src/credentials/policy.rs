//! A connection's access policy (`allowed`): which organizations and roles calls may be made
//! for. A refusal is recorded on the connection's state and in the audit log, at most once per
//! organization and role every [`RECORD_EVERY`] on a replica.

use std::time::Duration;

use super::{Caller, Connection, CredentialError};
use crate::config::AccessPolicy;
use crate::domain::Role;
use crate::store::sql::NewAuditEntry;

const RECORD_EVERY: Duration = Duration::from_secs(5 * 60);

fn role_name(role: Role) -> &'static str {
    match role {
        Role::User => "user",
        Role::Oadmin => "oadmin",
        Role::Admin => "admin",
    }
}

/// The policy in words, for the admin UI.
pub fn describe_policy(policy: &AccessPolicy) -> String {
    let organizations = if policy.any_organization() {
        "every organization".to_owned()
    } else if policy.organizations.is_empty() {
        "no organization (Portico's own calls only)".to_owned()
    } else {
        format!("organizations {}", quoted(&policy.organizations))
    };
    if policy.roles.is_empty() {
        organizations
    } else {
        let roles: Vec<String> = policy.roles.iter().map(|r| role_name(*r).to_owned()).collect();
        format!("{organizations}; roles {}", roles.join(", "))
    }
}

fn quoted(names: &[String]) -> String {
    names.iter().map(|n| format!("“{n}”")).collect::<Vec<_>>().join(", ")
}

/// Why `policy` refuses a call for `organization` with `role`, if it does.
pub fn refusal(policy: &AccessPolicy, organization: &str, role: Option<Role>) -> Option<String> {
    if !policy.any_organization() && !policy.organizations.iter().any(|o| o == organization) {
        return Some(if policy.organizations.is_empty() {
            "the connection allows no organization (allowed.organizations is empty)".to_owned()
        } else {
            format!("allowed organizations are {}", quoted(&policy.organizations))
        });
    }
    if policy.roles.is_empty() {
        return None;
    }
    let roles: Vec<&str> = policy.roles.iter().map(|r| role_name(*r)).collect();
    match role {
        Some(role) if policy.roles.contains(&role) => None,
        Some(role) => {
            Some(format!("role “{}” is not allowed (allowed roles: {})", role_name(role), roles.join(", ")))
        }
        None => Some(format!("the user's role is not known and only roles {} are allowed", roles.join(", "))),
    }
}

impl Connection {
    /// Refuses `caller` when the policy does not allow it, recording why.
    pub(super) async fn check(&self, caller: Caller<'_>) -> Result<(), CredentialError> {
        let Caller::User { username, organization, role } = caller else {
            return Ok(());
        };
        let Some(reason) = refusal(&self.allowed, organization, role) else {
            return Ok(());
        };
        let subject = match role {
            Some(role) => format!("organization “{organization}” (role {})", role_name(role)),
            None => format!("organization “{organization}”"),
        };
        let error = CredentialError::Refused { connection: self.id.clone(), subject, reason };
        tracing::warn!(connection = %self.id, organization, "service call refused by the connection's access policy");
        if self.first_in_a_while(organization, role) {
            self.record_refusal(username, organization, role, &error).await;
        }
        Err(error)
    }

    fn first_in_a_while(&self, organization: &str, role: Option<Role>) -> bool {
        let key = format!("{organization}\u{0}{}", role.map(role_name).unwrap_or_default());
        let now = self.ctx.clock.now();
        let mut seen = self.refusals.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let recent =
            seen.get(&key).is_some_and(|at| now.duration_since(*at).unwrap_or_default() < RECORD_EVERY);
        if !recent {
            seen.insert(key, now);
        }
        !recent
    }

    async fn record_refusal(
        &self,
        username: &str,
        organization: &str,
        role: Option<Role>,
        error: &CredentialError,
    ) {
        let message = error.to_string();
        if let Err(e) =
            self.ctx.db.record_connection_refusal(self.id.as_str(), &message, self.now_millis()).await
        {
            tracing::warn!(error = %e, connection = %self.id, "cannot record a refusal on the connection's state");
        }
        let actor = format!("consumer:{username}");
        let detail = serde_json::json!({
            "organization": organization,
            "role": role.map(role_name),
            "reason": message,
        });
        let entry = NewAuditEntry {
            actor: &actor,
            action: "credential.refused",
            target: Some(self.id.as_str()),
            detail: Some(detail),
            client_ip: None,
        };
        if let Err(e) = self.ctx.db.audit(entry).await {
            tracing::warn!(error = %e, "audit log unavailable");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(organizations: &[&str], roles: &[Role]) -> AccessPolicy {
        AccessPolicy {
            organizations: organizations.iter().map(|s| (*s).to_owned()).collect(),
            roles: roles.to_vec(),
        }
    }

    #[test]
    fn organizations_and_roles_are_both_required() {
        let acme = policy(&["Acme"], &[]);
        assert_eq!(refusal(&acme, "Acme", None), None);
        assert!(refusal(&acme, "Globex", Some(Role::Admin)).is_some_and(|r| r.contains("“Acme”")));
        assert!(refusal(&acme, "acme", None).is_some(), "names compare exactly, as the managers map them");
        assert!(
            refusal(&policy(&[], &[]), "Acme", None).is_some_and(|r| r.contains("allows no organization"))
        );
        let admins = policy(&["*"], &[Role::Admin]);
        assert_eq!(refusal(&admins, "Anything", Some(Role::Admin)), None);
        assert!(refusal(&admins, "Anything", Some(Role::User)).is_some_and(|r| r.contains("“user”")));
        assert!(refusal(&admins, "Anything", None).is_some_and(|r| r.contains("not known")));
        assert_eq!(describe_policy(&admins), "every organization; roles admin");
    }
}
