//! The environments a consumer can be joined to: the master and the slave managers, each with a
//! ready client.

use std::sync::{Arc, RwLock};

use std::collections::HashMap;
use std::time::Duration;

use super::service::{CredentialSetupError, ServiceCredential, ServiceCredentials};
use crate::config::{AuthReference, Settings};
use crate::domain::{EnvironmentId, ManagerDefinition};
use crate::manager::{ManagerClient, ManagerError};
use crate::store::SlaveRow;

/// One manager as the portal sees it: its client (built from its [`ManagerDefinition`]) and
/// where the definition came from.
pub struct Environment {
    pub client: ManagerClient,
    pub is_master: bool,
    /// Defined in the config file (read-only in the admin UI).
    pub provisioned: bool,
    /// The stored version of a slave added in the admin UI.
    pub version: Option<i64>,
    /// The manager's service credential (`auth`), for health checks and service calls.
    pub service: Option<ServiceCredential>,
    /// A stored slave's `auth` as saved (its credential is `service` once it could be read).
    pub auth: Option<AuthReference>,
}

impl Environment {
    pub fn definition(&self) -> &ManagerDefinition {
        self.client.definition()
    }

    pub fn id(&self) -> &EnvironmentId {
        &self.definition().id
    }

    pub fn name(&self) -> &str {
        &self.definition().name
    }

    /// Offered to consumers.
    pub fn enabled(&self) -> bool {
        self.definition().enabled
    }

    /// Under the `master` policy, sign-in fails when a required slave cannot be joined.
    pub fn required(&self) -> bool {
        self.definition().required
    }

    /// Same manager, same way of reaching it, same role: its client can be kept.
    fn same_definition(&self, other: &Environment) -> bool {
        self.definition() == other.definition()
            && self.client.timeout() == other.client.timeout()
            && (self.is_master, self.provisioned, self.version)
                == (other.is_master, other.provisioned, other.version)
            && self.service == other.service
            && self.auth == other.auth
    }
}

#[derive(Debug, thiserror::Error)]
#[error("environment {id}: {source}")]
pub struct EnvironmentError {
    pub id: EnvironmentId,
    #[source]
    pub source: ManagerError,
}

/// The environments in force at one moment: the master first, then the slaves from the config
/// file in their order, then the slaves added in the admin UI in theirs.
pub struct EnvironmentSet {
    list: Vec<Arc<Environment>>,
}

impl EnvironmentSet {
    pub fn all(&self) -> impl Iterator<Item = &Arc<Environment>> {
        self.list.iter()
    }

    pub fn get(&self, id: &EnvironmentId) -> Option<&Arc<Environment>> {
        self.list.iter().find(|e| e.id() == id)
    }

    pub fn master(&self) -> Option<&Arc<Environment>> {
        self.list.iter().find(|e| e.is_master)
    }

    /// Enabled slaves, in order.
    pub fn slaves(&self) -> impl Iterator<Item = &Arc<Environment>> {
        self.list.iter().filter(|e| !e.is_master && e.enabled())
    }
}

/// The live registry. Readers take a [`snapshot`](Environments::snapshot) (one cheap lock and
/// an `Arc` clone) and keep a consistent view for the rest of their request, while an admin
/// change swaps in a new set for later requests.
#[derive(Clone)]
pub struct Environments {
    current: Arc<RwLock<Arc<EnvironmentSet>>>,
    credentials: Arc<ServiceCredentials>,
}

impl Environments {
    /// The master and the config file's slaves.
    pub fn from_settings(
        settings: &Settings,
        credentials: ServiceCredentials,
    ) -> Result<Self, EnvironmentError> {
        let set = Self::build_set(settings, &credentials, &[], &HashMap::new(), None)?;
        Ok(Self { current: Arc::new(RwLock::new(Arc::new(set))), credentials: Arc::new(credentials) })
    }

    pub fn snapshot(&self) -> Arc<EnvironmentSet> {
        match self.current.read() {
            Ok(set) => set.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// One environment, from the current set.
    pub fn get(&self, id: &EnvironmentId) -> Option<Arc<Environment>> {
        self.snapshot().get(id).cloned()
    }

    /// Rebuilds the set from the config file and the stored slaves, keeping the client (and
    /// its connection pool) of every environment whose definition did not change. A stored
    /// slave that cannot be prepared (its CA no longer parses, say) is left out and reported;
    /// it never takes the others down; one whose service credential cannot be read runs without
    /// it (reported, and tried again at the next reload). A stored slave whose id the config
    /// file now uses is shadowed by the file's. `true` when anything changed.
    pub async fn reload(&self, settings: &Settings, stored: &[SlaveRow]) -> Result<bool, EnvironmentError> {
        let previous = self.snapshot();
        let mut services = HashMap::new();
        for row in stored {
            if let Some(auth) = &row.auth {
                let service = self.credential_of(&previous, &row.manager.id, auth).await;
                services.insert(row.manager.id.clone(), service.ok());
            }
        }
        let set = Self::build_set(settings, &self.credentials, stored, &services, Some(&previous))?;
        let unchanged = set.list.len() == previous.list.len()
            && set.list.iter().zip(&previous.list).all(|(a, b)| Arc::ptr_eq(a, b));
        if unchanged {
            return Ok(false);
        }
        match self.current.write() {
            Ok(mut current) => *current = Arc::new(set),
            Err(poisoned) => *poisoned.into_inner() = Arc::new(set),
        }
        Ok(true)
    }

    /// The service credential of the stored slave `id` with `auth`: the one in force when it is
    /// the same `auth`, else read now (as the config file's are). For the admin form and the
    /// connection test, which must not wait for a reload.
    pub async fn stored_credential(
        &self,
        id: &EnvironmentId,
        auth: &AuthReference,
    ) -> Result<ServiceCredential, CredentialSetupError> {
        self.credential_of(&self.snapshot(), id, auth).await
    }

    async fn credential_of(
        &self,
        current: &EnvironmentSet,
        id: &EnvironmentId,
        auth: &AuthReference,
    ) -> Result<ServiceCredential, CredentialSetupError> {
        let in_force = current.get(id).filter(|e| !e.provisioned && e.auth.as_ref() == Some(auth));
        if let Some(service) = in_force.and_then(|e| e.service.clone()) {
            return Ok(service);
        }
        self.credentials.stored(id, auth).await.inspect_err(|e| {
            tracing::warn!(%id, setting = %e, reason = %e.reason(), "a stored slave runs without its service credential")
        })
    }

    fn build_set(
        settings: &Settings,
        credentials: &ServiceCredentials,
        stored: &[SlaveRow],
        services: &HashMap<EnvironmentId, Option<ServiceCredential>>,
        previous: Option<&EnvironmentSet>,
    ) -> Result<EnvironmentSet, EnvironmentError> {
        let default_timeout = settings.federation.timeout.get();
        let reuse = |env: Environment| -> Result<Arc<Environment>, EnvironmentError> {
            let kept = previous.and_then(|p| p.get(env.id())).filter(|old| old.same_definition(&env));
            Ok(kept.cloned().unwrap_or_else(|| Arc::new(env)))
        };
        let file_managers = std::iter::once((true, settings.master.definition(), &settings.master.id))
            .chain(settings.slaves.iter().map(|s| (false, s.definition(), &s.id)));
        let mut list = Vec::new();
        for (is_master, definition, id) in file_managers {
            let definition = definition.map_err(|e| EnvironmentError {
                id: id.clone(),
                source: ManagerError::Config(e.to_string()),
            })?;
            let mut env = environment(definition, default_timeout, is_master, None)?;
            env.service = credentials.get(env.id());
            list.push(reuse(env)?);
        }
        for row in stored {
            let id = &row.manager.id;
            if list.iter().any(|e| e.id() == id) {
                tracing::warn!(%id, "a slave added in the admin UI has the id of a configured environment; the config file wins");
                continue;
            }
            match environment(row.manager.clone(), default_timeout, false, Some(row.version)) {
                Ok(mut env) => {
                    env.service = services.get(id).cloned().flatten();
                    env.auth = row.auth.clone();
                    list.push(reuse(env)?)
                }
                Err(e) => {
                    tracing::warn!(%id, error = %e.source, "cannot prepare a stored slave; it is left out")
                }
            }
        }
        Ok(EnvironmentSet { list })
    }
}

/// The environment of `definition`: from the config file when `version` is `None`, else a slave
/// stored from the admin UI at that version.
fn environment(
    definition: ManagerDefinition,
    default_timeout: Duration,
    is_master: bool,
    version: Option<i64>,
) -> Result<Environment, EnvironmentError> {
    let id = definition.id.clone();
    let client =
        ManagerClient::new(definition, default_timeout).map_err(|source| EnvironmentError { id, source })?;
    Ok(Environment { client, is_master, provisioned: version.is_none(), version, service: None, auth: None })
}
