//! Federated sign-in (SPEC §3.1, §3.2, §3.3): login protection first (password sign-in), then
//! the master, then every enabled slave concurrently, then the login-failure policy decides — with
//! a password, or with the identity provider's access token or the managers' service credential.
//! Reconnecting one environment lives here too; ending sessions is in `signout`.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;

use futures_util::future::join_all;
use secrecy::SecretString;

use super::join::{Credential, Joined, OrganizationCache, join};
use super::policy::{self, JoinResult};
use super::preference::Preferences;
use super::protection::{Locked, LoginProtection};
use super::signout::close_all;
use super::user_sessions::UserSessions;
use super::{Environment, EnvironmentLink, EnvironmentSet, JoinFailure, PortalSession};
use crate::config::LoginProtectionSettings;
use crate::crypto::random_token;
use crate::domain::SessionUser;
use crate::domain::{EnvironmentId, LoginFailurePolicy};
use crate::manager::ManagerError;
use crate::store::StoreError;

/// One environment that could not be joined.
#[derive(Debug, Clone)]
pub struct EnvironmentFailure {
    pub id: EnvironmentId,
    pub name: String,
    pub reason: JoinFailure,
}

#[derive(Debug, thiserror::Error)]
pub enum SignInError {
    #[error("locked")]
    Locked(Locked),
    /// The master refused this user: wrong credentials, password change required, disabled.
    #[error("refused: {failure}")]
    Refused { failure: JoinFailure, locked: Option<Locked> },
    #[error("the master manager is unavailable: {0}")]
    MasterUnavailable(JoinFailure),
    /// The login-failure policy was not met; every manager session opened was closed again.
    #[error("the login-failure policy was not met")]
    PolicyNotMet { failures: Vec<EnvironmentFailure> },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The policy and limits in force for one sign-in (settings can change at run time).
#[derive(Debug, Clone)]
pub struct SignInRules {
    pub policy: LoginFailurePolicy,
    pub limits: LoginProtectionSettings,
}

/// A successful sign-in: the new session's contents, and what happened per environment.
pub struct SignedIn {
    pub session: PortalSession,
    pub failures: Vec<EnvironmentFailure>,
}

#[derive(Clone)]
pub struct Federation {
    protection: LoginProtection,
    cache: OrganizationCache,
    preferences: Preferences,
    users: UserSessions,
}

impl Federation {
    pub fn new(
        protection: LoginProtection,
        cache: OrganizationCache,
        preferences: Preferences,
        users: UserSessions,
    ) -> Self {
        Self { protection, cache, preferences, users }
    }

    /// Each user's sessions.
    pub fn user_sessions(&self) -> &UserSessions {
        &self.users
    }

    /// The environment each consumer last picked.
    pub fn organizations(&self) -> &OrganizationCache {
        &self.cache
    }

    pub fn preferences(&self) -> &Preferences {
        &self.preferences
    }

    /// Signs a user in to the federation with a password (SPEC §3.1). The password is only
    /// passed to the managers.
    #[tracing::instrument(skip_all, fields(user = %username))]
    pub async fn sign_in(
        &self,
        environments: &EnvironmentSet,
        rules: &SignInRules,
        username: &str,
        password: &SecretString,
        client_ip: Option<IpAddr>,
    ) -> Result<SignedIn, SignInError> {
        let attempt = match self.protection.admit(&rules.limits, username, client_ip).await? {
            Ok(attempt) => attempt,
            Err(locked) => return Err(SignInError::Locked(locked)),
        };
        let credential = Credential::Password { username, password };
        match self.federate(environments, rules.policy, credential, None, None).await {
            Err(SignInError::Refused { failure: JoinFailure::WrongCredentials, .. }) => {
                let locked = attempt.failed().await?;
                Err(SignInError::Refused { failure: JoinFailure::WrongCredentials, locked })
            }
            Ok(signed_in) => {
                attempt.succeeded().await?;
                Ok(signed_in)
            }
            other => {
                attempt.unjudged().await?;
                other
            }
        }
    }

    /// Signs in a user the identity provider vouched for (SPEC §3.2): every manager is joined
    /// with the user's access token (`bearer`) or its own service credential (`service`), the
    /// user's organization is the one the provider named, and the same login-failure policy
    /// decides. Login protection does not apply: the provider authenticated the user.
    #[tracing::instrument(skip_all, fields(user = %user.login_name))]
    pub async fn sign_in_external(
        &self,
        environments: &EnvironmentSet,
        policy: LoginFailurePolicy,
        user: SessionUser,
        credential: Credential<'_>,
    ) -> Result<SignedIn, SignInError> {
        let organization = user.organization.clone();
        self.federate(environments, policy, credential, Some(&organization), Some(user)).await
    }

    /// The master, then every enabled slave concurrently, then the policy. `organization` is
    /// the user's organization name when known before joining (from the identity provider);
    /// otherwise the master's answer gives it. `known` is the user when the identity provider
    /// described them.
    /// The environment picked last time when it was joined, else the master, else the first
    /// joined one.
    async fn current_environment(
        &self,
        environments: &EnvironmentSet,
        login_name: &str,
        links: &BTreeMap<EnvironmentId, EnvironmentLink>,
    ) -> Option<EnvironmentId> {
        let joined = |id: &EnvironmentId| links.get(id).is_some_and(EnvironmentLink::is_joined);
        self.preferences
            .recall(login_name)
            .await
            .filter(|id| joined(id))
            .or_else(|| environments.master().map(|m| m.id().clone()).filter(|id| joined(id)))
            .or_else(|| links.iter().find(|(_, l)| l.is_joined()).map(|(id, _)| id.clone()))
    }

    async fn federate(
        &self,
        environments: &EnvironmentSet,
        policy: LoginFailurePolicy,
        credential: Credential<'_>,
        organization: Option<&str>,
        known: Option<SessionUser>,
    ) -> Result<SignedIn, SignInError> {
        let Some(master) = environments.master() else {
            return Err(SignInError::MasterUnavailable(JoinFailure::Unavailable));
        };
        // A 401 from the master means "wrong password" only when a password was sent.
        let on_master = |env: &Environment| env.is_master && credential.is_password();

        let master_result = join(master, &self.cache, credential, organization).await;
        let organization = match (&master_result, organization) {
            (_, Some(known)) => Some(known.to_owned()),
            (Ok(joined), None) => Some(joined.organization_name.clone()),
            (Err(_), None) => None,
        };
        if let Err(e) = &master_result {
            let failure = JoinFailure::from_error(e, on_master(master));
            if !failure.is_unavailability() {
                return Err(SignInError::Refused { failure, locked: None });
            }
            if policy != LoginFailurePolicy::Any {
                return Err(SignInError::MasterUnavailable(failure));
            }
        }

        let slaves: Vec<&Arc<Environment>> = environments.slaves().collect();
        let slave_results =
            join_all(slaves.iter().map(|env| join(env, &self.cache, credential, organization.as_deref())))
                .await;

        let mut results: Vec<(&Arc<Environment>, Result<Joined, ManagerError>)> =
            vec![(master, master_result)];
        results.extend(slaves.into_iter().zip(slave_results));
        let failures = failures_of(&results, credential.is_password());

        if !policy::accepts(policy, &decisions(&results)) {
            close_all(results.iter().filter_map(|(env, r)| r.as_ref().ok().map(|j| (env.as_ref(), j)))).await;
            return Err(SignInError::PolicyNotMet { failures });
        }

        let user = portal_user(known, &results)?;

        let links: BTreeMap<EnvironmentId, EnvironmentLink> = results
            .into_iter()
            .map(|(env, result)| {
                let link = match result {
                    Ok(j) => {
                        EnvironmentLink::Joined { manager: j.access, organization_id: j.organization_id }
                    }
                    Err(e) => {
                        EnvironmentLink::Unavailable { reason: JoinFailure::from_error(&e, on_master(env)) }
                    }
                };
                (env.id().clone(), link)
            })
            .collect();
        let current = self.current_environment(environments, &user.login_name, &links).await;
        let session = PortalSession {
            user,
            csrf_token: random_token(32),
            current,
            links,
            notice: None,
            sso: None,
            client: None,
        };
        Ok(SignedIn { session, failures })
    }

    /// Joins one environment again for a user signed in through the identity provider, with
    /// the credential of that sign-in (their access token, or the manager's service credential).
    pub async fn rejoin(
        &self,
        env: &Environment,
        session: &PortalSession,
        credential: Credential<'_>,
    ) -> Result<EnvironmentLink, SignInError> {
        match join(env, &self.cache, credential, Some(&session.user.organization)).await {
            Ok(j) => Ok(EnvironmentLink::Joined { manager: j.access, organization_id: j.organization_id }),
            Err(e) => Err(SignInError::Refused { failure: JoinFailure::from_error(&e, false), locked: None }),
        }
    }

    /// Joins one environment for a signed-in user who re-entered their password (an
    /// environment that was unavailable at sign-in). Wrong passwords count against login
    /// protection like at sign-in.
    pub async fn reconnect(
        &self,
        env: &Environment,
        rules: &SignInRules,
        session: &PortalSession,
        password: &SecretString,
        client_ip: Option<IpAddr>,
    ) -> Result<EnvironmentLink, SignInError> {
        let username = session.user.login_name.as_str();
        let attempt = match self.protection.admit(&rules.limits, username, client_ip).await? {
            Ok(attempt) => attempt,
            Err(locked) => return Err(SignInError::Locked(locked)),
        };
        let organization = (!env.is_master).then_some(session.user.organization.as_str());
        let credential = Credential::Password { username, password };
        match join(env, &self.cache, credential, organization).await {
            Ok(j) => {
                attempt.succeeded().await?;
                Ok(EnvironmentLink::Joined { manager: j.access, organization_id: j.organization_id })
            }
            Err(e) => {
                let failure = JoinFailure::from_error(&e, env.is_master);
                let locked = match failure {
                    JoinFailure::WrongCredentials | JoinFailure::AccountUnknown => attempt.failed().await?,
                    _ => {
                        attempt.unjudged().await?;
                        None
                    }
                };
                Err(SignInError::Refused { failure, locked })
            }
        }
    }
}

/// Who signed in: the user the identity provider vouched for (with the role the managers give
/// them), or the one the first joined manager describes.
fn portal_user(
    known: Option<SessionUser>,
    results: &[(&Arc<Environment>, Result<Joined, ManagerError>)],
) -> Result<SessionUser, SignInError> {
    let first_joined = results.iter().find_map(|(_, r)| r.as_ref().ok());
    let manager_user = first_joined.and_then(|j| j.user.as_ref());
    match (known, first_joined) {
        (Some(mut user), Some(_)) => {
            // The managers decide the role; the provider decides who the user is.
            user.role = manager_user.map(|u| u.role).unwrap_or(user.role);
            Ok(user)
        }
        (None, Some(j)) => {
            let u = manager_user.ok_or(SignInError::MasterUnavailable(JoinFailure::Unavailable))?;
            Ok(SessionUser {
                login_name: u.login_name.clone(),
                name: u.name.clone(),
                email: u.email.clone(),
                role: u.role,
                organization: j.organization_name.clone(),
            })
        }
        (_, None) => Err(SignInError::MasterUnavailable(JoinFailure::Unavailable)),
    }
}

/// What the login-failure policy decides on: who joined, and whether they had to.
fn decisions(results: &[(&Arc<Environment>, Result<Joined, ManagerError>)]) -> Vec<JoinResult> {
    results
        .iter()
        .map(|(env, r)| JoinResult { is_master: env.is_master, required: env.required(), joined: r.is_ok() })
        .collect()
}

/// The environments that could not be joined, each with why (a master's 401 means a wrong
/// password only when a password was sent).
fn failures_of(
    results: &[(&Arc<Environment>, Result<Joined, ManagerError>)],
    password: bool,
) -> Vec<EnvironmentFailure> {
    results
        .iter()
        .filter_map(|(env, r)| {
            r.as_ref().err().map(|e| EnvironmentFailure {
                id: env.id().clone(),
                name: env.name().to_owned(),
                reason: JoinFailure::from_error(e, env.is_master && password),
            })
        })
        .collect()
}
