//! Joining one environment as a user: with a password, log in, read the user (and its CSRF
//! token) and find the user's organization there (a partly opened manager session is closed when
//! a later step fails); with an access token, read the user the manager sees in it; with the
//! manager's service credential, only find the organization.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use secrecy::SecretString;

use super::{Environment, ManagerAccess};
use crate::credentials::{Caller, CredentialError};
use crate::crypto::Keys;
use crate::manager::{ManagerCredentials, ManagerError, ManagerSession, User};
use crate::store::CACHE_PREFIX;
use crate::store::KvStore;

/// What Portico presents to a manager to join it as the user.
#[derive(Clone, Copy)]
pub enum Credential<'a> {
    Password {
        username: &'a str,
        password: &'a SecretString,
    },
    /// The user's access token from the identity provider.
    Bearer {
        token: &'a str,
    },
    /// The manager's own service credential, used on behalf of `username` (known by
    /// organization only); a credential connection's access policy applies.
    Service {
        username: &'a str,
    },
}

impl Credential<'_> {
    pub fn is_password(&self) -> bool {
        matches!(self, Credential::Password { .. })
    }
}

/// A joined environment.
pub struct Joined {
    pub access: ManagerAccess,
    /// The manager's record of the user (none with the service credential).
    pub user: Option<User>,
    pub organization_id: String,
    pub organization_name: String,
}

/// Lookups cached in the shared store (`cache.organization_ttl`): the master's organization
/// names by id, each slave's organization ids by name, and the master's users. Keys are keyed
/// hashes and values are sealed: the store holds no name, email or organization in clear.
#[derive(Clone)]
pub struct OrganizationCache {
    kv: KvStore,
    keys: Arc<Keys>,
    /// `cache.organization_ttl` in milliseconds (the admin UI may change it at run time).
    ttl_ms: Arc<AtomicU64>,
}

impl OrganizationCache {
    pub fn new(kv: KvStore, keys: Arc<Keys>, ttl: Duration) -> Self {
        Self {
            kv,
            keys,
            ttl_ms: Arc::new(AtomicU64::new(u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX))),
        }
    }

    /// Takes a new `cache.organization_ttl` for entries written from now on.
    pub fn set_ttl(&self, ttl: Duration) {
        self.ttl_ms.store(u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    /// A cache that cannot be read is a miss, never a failed sign-in. So is an entry that does
    /// not open under its key (altered in the store, moved from another key, or written in
    /// clear by an earlier version): it is fetched again and overwritten.
    async fn get(&self, key: &str) -> Option<String> {
        let sealed = match self.kv.get(key).await {
            Ok(v) => v?,
            Err(e) => {
                tracing::warn!(error = %e, "organization cache unavailable");
                return None;
            }
        };
        let Some(plain) = self.keys.open(key.as_bytes(), &sealed) else {
            tracing::warn!("a cache entry did not open under its key; fetching it again");
            return None;
        };
        String::from_utf8(plain).ok()
    }

    /// Entries hold login names, emails and organization names: sealed like sessions, so reading
    /// the store reveals none of them, and bound to their key, so one key's value cannot answer
    /// for another (another organization, user or environment).
    async fn put(&self, key: &str, value: &str) {
        let Some(sealed) = self.keys.seal(key.as_bytes(), value.as_bytes()) else {
            tracing::warn!("a cache entry could not be sealed; not cached");
            return;
        };
        if let Err(e) =
            self.kv.set(key, &sealed, Some(Duration::from_millis(self.ttl_ms.load(Ordering::Relaxed)))).await
        {
            tracing::warn!(error = %e, "organization cache unavailable");
        }
    }

    fn name_key(&self, env: &Environment, organization_id: &str) -> String {
        format!(
            "{CACHE_PREFIX}org-name:{}:{}",
            env.id(),
            self.keys.lookup_hash("org-id", organization_id.as_bytes())
        )
    }

    fn id_key(&self, env: &Environment, organization_name: &str) -> String {
        format!(
            "{CACHE_PREFIX}org-id:{}:{}",
            env.id(),
            self.keys.lookup_hash("org-name", organization_name.as_bytes())
        )
    }

    fn user_key(&self, env: &Environment, login: &str) -> String {
        format!(
            "{CACHE_PREFIX}user:{}:{}",
            env.id(),
            self.keys.lookup_hash("user", login.to_lowercase().as_bytes())
        )
    }

    async fn organization_name(
        &self,
        env: &Environment,
        creds: ManagerCredentials<'_>,
        organization_id: &str,
    ) -> Result<String, ManagerError> {
        let key = self.name_key(env, organization_id);
        if let Some(name) = self.get(&key).await {
            return Ok(name);
        }
        let org = env.client.organization(creds, organization_id).await?;
        self.put(&key, &org.name).await;
        Ok(org.name)
    }

    async fn organization_id(
        &self,
        env: &Environment,
        creds: ManagerCredentials<'_>,
        organization_name: &str,
    ) -> Result<Option<String>, ManagerError> {
        let key = self.id_key(env, organization_name);
        if let Some(id) = self.get(&key).await {
            return Ok(Some(id));
        }
        let found = env.client.organization_by_name(creds, organization_name).await?;
        if let Some(org) = &found {
            self.put(&key, &org.id).await;
        }
        Ok(found.map(|o| o.id))
    }

    async fn remember_user(&self, env: &Environment, user: &User) {
        if let Ok(json) = serde_json::to_string(user) {
            self.put(&self.user_key(env, &user.login_name), &json).await;
        }
    }
}

/// Joins `env`. With `organization` known (from the master, or from the identity provider), the
/// user's organization there is found by that name; without it (the master is the one being
/// joined with a password, or is down under the `any` policy) the environment's own record of
/// the user decides. Bounded by the environment's timeout as a whole.
pub async fn join(
    env: &Environment,
    cache: &OrganizationCache,
    credential: Credential<'_>,
    organization: Option<&str>,
) -> Result<Joined, ManagerError> {
    let timeout = env.client.timeout();
    let joining = async {
        match credential {
            Credential::Password { username, password } => {
                join_with_password(env, cache, username, password, organization).await
            }
            Credential::Bearer { token } => join_with_token(env, cache, token, organization).await,
            Credential::Service { username } => join_as_service(env, cache, username, organization).await,
        }
    };
    match tokio::time::timeout(timeout, joining).await {
        Ok(result) => result.map_err(|e| name_the_organization(e, organization)),
        Err(_) => Err(ManagerError::Timeout(timeout)),
    }
}

/// A manager's answer decides *that* the organization is missing; the name shown is the one
/// Portico asked for, not the manager's words.
fn name_the_organization(error: ManagerError, organization: Option<&str>) -> ManagerError {
    match (error, organization) {
        (ManagerError::OrganizationMissing(_), Some(known)) => {
            ManagerError::OrganizationMissing(known.to_owned())
        }
        (other, _) => other,
    }
}

async fn join_with_password(
    env: &Environment,
    cache: &OrganizationCache,
    username: &str,
    password: &SecretString,
    organization: Option<&str>,
) -> Result<Joined, ManagerError> {
    let mut session = env.client.login(username, password).await?;
    let result = describe(env, cache, &mut session, organization).await;
    match result {
        Ok((user, organization_id, organization_name)) => Ok(Joined {
            access: ManagerAccess::Session(session),
            user: Some(user),
            organization_id,
            organization_name,
        }),
        Err(e) => {
            // Leave nothing open on the manager.
            if let Err(close) = env.client.logout(&session).await {
                tracing::debug!(manager = %env.id(), error = %close, "closing a half-joined session failed");
            }
            Err(e)
        }
    }
}

/// The manager reads the user from the token; nothing is opened on it.
async fn join_with_token(
    env: &Environment,
    cache: &OrganizationCache,
    token: &str,
    organization: Option<&str>,
) -> Result<Joined, ManagerError> {
    let creds = ManagerCredentials::Bearer(token);
    let user = env.client.current_user_as(creds).await?;
    let (organization_id, organization_name) = match organization {
        Some(name) => {
            let id = cache
                .organization_id(env, creds, name)
                .await?
                .ok_or_else(|| ManagerError::OrganizationMissing(name.to_owned()))?;
            (id, name.to_owned())
        }
        None => {
            (user.organization_id.clone(), cache.organization_name(env, creds, &user.organization_id).await?)
        }
    };
    Ok(Joined { access: ManagerAccess::Bearer, user: Some(user), organization_id, organization_name })
}

/// The service credential must be accepted, and the user's organization must exist there.
async fn join_as_service(
    env: &Environment,
    cache: &OrganizationCache,
    username: &str,
    organization: Option<&str>,
) -> Result<Joined, ManagerError> {
    let service = env.service.as_ref().ok_or_else(|| ManagerError::Config("no service credential".into()))?;
    let name = organization.ok_or_else(|| ManagerError::OrganizationMissing(String::new()))?;
    // The user's manager role is not known in this mode (no manager record of the user).
    let caller = Caller::User { username, organization: name, role: None };
    let auth = service.authorize(caller).await.map_err(|e| service_error(env, &e))?;
    let id = cache
        .organization_id(env, auth.credentials(), name)
        .await?
        .ok_or_else(|| ManagerError::OrganizationMissing(name.to_owned()))?;
    Ok(Joined {
        access: ManagerAccess::Service,
        user: None,
        organization_id: id,
        organization_name: name.to_owned(),
    })
}

/// A service credential that cannot be used: refused by its access policy (the consumer is told
/// only that; the admin sees the policy on the connection), or no token to be had.
pub fn service_error(env: &Environment, error: &CredentialError) -> ManagerError {
    tracing::warn!(environment = %env.id(), error = %error, "service credential not usable");
    match error {
        CredentialError::Refused { .. } => ManagerError::ServiceCredentialRefused,
        _ => ManagerError::ServiceCredentialUnavailable,
    }
}

async fn describe(
    env: &Environment,
    cache: &OrganizationCache,
    session: &mut ManagerSession,
    organization: Option<&str>,
) -> Result<(User, String, String), ManagerError> {
    let user = env.client.current_user(session).await?;
    if env.is_master {
        cache.remember_user(env, &user).await;
    }
    let creds = ManagerCredentials::Session(session);
    match organization {
        Some(name) => {
            let id = cache
                .organization_id(env, creds, name)
                .await?
                .ok_or_else(|| ManagerError::OrganizationMissing(name.to_owned()))?;
            Ok((user, id, name.to_owned()))
        }
        None => {
            let name = cache.organization_name(env, creds, &user.organization_id).await?;
            let id = user.organization_id.clone();
            Ok((user, id, name))
        }
    }
}
