//! The environments a consumer can be joined to: the master and the slave managers, each with a
//! ready client.

use std::sync::{Arc, RwLock};

use super::service::{ServiceCredential, ServiceCredentials};
use crate::config::{MasterSettings, Settings, SlaveSettings};
use crate::domain::EnvironmentId;
use crate::manager::{ManagerClient, ManagerEndpoint, ManagerError};
use crate::store::SlaveRow;

/// One manager as the portal sees it.
pub struct Environment {
    pub client: ManagerClient,
    pub is_master: bool,
    pub enabled: bool,
    /// Under the `master` policy, sign-in fails when a required slave cannot be joined.
    pub required: bool,
    /// Defined in the config file (read-only in the admin UI).
    pub provisioned: bool,
    /// The stored version of a slave added in the admin UI.
    pub version: Option<i64>,
    /// The manager's service credential (config `auth`), for health checks and service calls.
    pub service: Option<ServiceCredential>,
}

impl Environment {
    pub fn id(&self) -> &EnvironmentId {
        &self.client.endpoint().id
    }

    pub fn name(&self) -> &str {
        &self.client.endpoint().name
    }

    /// Same manager, same way of reaching it, same role: its client can be kept.
    fn same_definition(&self, other: &Environment) -> bool {
        self.client.endpoint() == other.client.endpoint()
            && (self.is_master, self.enabled, self.required, self.provisioned, self.version)
                == (other.is_master, other.enabled, other.required, other.provisioned, other.version)
            && self.service == other.service
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
        self.list.iter().filter(|e| !e.is_master && e.enabled)
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
        let set = Self::build_set(settings, &credentials, &[], None)?;
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
    /// it never takes the others down. A stored slave whose id the config file now uses is
    /// shadowed by the file's. `true` when anything changed.
    pub fn reload(&self, settings: &Settings, stored: &[SlaveRow]) -> Result<bool, EnvironmentError> {
        let previous = self.snapshot();
        let set = Self::build_set(settings, &self.credentials, stored, Some(&previous))?;
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

    fn build_set(
        settings: &Settings,
        credentials: &ServiceCredentials,
        stored: &[SlaveRow],
        previous: Option<&EnvironmentSet>,
    ) -> Result<EnvironmentSet, EnvironmentError> {
        let default_timeout = settings.federation.timeout.get();
        let reuse = |env: Environment| -> Result<Arc<Environment>, EnvironmentError> {
            let kept = previous.and_then(|p| p.get(env.id())).filter(|old| old.same_definition(&env));
            Ok(kept.cloned().unwrap_or_else(|| Arc::new(env)))
        };
        let mut master = master(&settings.master, default_timeout)?;
        master.service = credentials.get(master.id());
        let mut list = vec![reuse(master)?];
        for slave in &settings.slaves {
            let mut env = slave_env(slave, default_timeout)?;
            env.service = credentials.get(env.id());
            list.push(reuse(env)?);
        }
        for row in stored {
            if list.iter().any(|e| e.id() == &row.id) {
                tracing::warn!(id = %row.id, "a slave added in the admin UI has the id of a configured environment; the config file wins");
                continue;
            }
            match stored_env(row, default_timeout) {
                Ok(env) => list.push(reuse(env)?),
                Err(e) => {
                    tracing::warn!(id = %row.id, error = %e.source, "cannot prepare a stored slave; it is left out")
                }
            }
        }
        Ok(EnvironmentSet { list })
    }
}

fn read_ca(id: &EnvironmentId, path: Option<&std::path::Path>) -> Result<Option<String>, EnvironmentError> {
    path.map(|p| {
        std::fs::read_to_string(p).map_err(|e| EnvironmentError {
            id: id.clone(),
            source: ManagerError::Config(format!("cannot read CA file {}: {}", p.display(), e.kind())),
        })
    })
    .transpose()
}

fn client(endpoint: ManagerEndpoint) -> Result<ManagerClient, EnvironmentError> {
    let id = endpoint.id.clone();
    ManagerClient::new(endpoint).map_err(|source| EnvironmentError { id, source })
}

fn master(m: &MasterSettings, default_timeout: std::time::Duration) -> Result<Environment, EnvironmentError> {
    let endpoint = ManagerEndpoint {
        id: m.id.clone(),
        name: m.name.clone(),
        url: m.url.clone(),
        base_path: m.base_path.clone(),
        tls_mode: m.tls_mode,
        ca_pem: read_ca(&m.id, m.ca_file.as_deref())?,
        timeout: m.timeout.map(|t| t.get()).unwrap_or(default_timeout),
    };
    Ok(Environment {
        client: client(endpoint)?,
        is_master: true,
        enabled: true,
        required: true,
        provisioned: true,
        version: None,
        service: None,
    })
}

fn slave_env(
    s: &SlaveSettings,
    default_timeout: std::time::Duration,
) -> Result<Environment, EnvironmentError> {
    let endpoint = ManagerEndpoint {
        id: s.id.clone(),
        name: s.name.clone(),
        url: s.url.clone(),
        base_path: s.base_path.clone(),
        tls_mode: s.tls_mode,
        ca_pem: read_ca(&s.id, s.ca_file.as_deref())?,
        timeout: s.timeout.map(|t| t.get()).unwrap_or(default_timeout),
    };
    Ok(Environment {
        client: client(endpoint)?,
        is_master: false,
        enabled: s.enabled,
        required: s.required,
        provisioned: true,
        version: None,
        service: None,
    })
}

/// How to reach a slave saved in the admin UI (`default_timeout`: `federation.timeout`).
pub fn stored_endpoint(row: &SlaveRow, default_timeout: std::time::Duration) -> ManagerEndpoint {
    ManagerEndpoint {
        id: row.id.clone(),
        name: row.name.clone(),
        url: row.url.clone(),
        base_path: row.base_path.clone(),
        tls_mode: row.tls_mode,
        ca_pem: row.ca_pem.clone(),
        timeout: row.timeout.unwrap_or(default_timeout),
    }
}

fn stored_env(row: &SlaveRow, default_timeout: std::time::Duration) -> Result<Environment, EnvironmentError> {
    Ok(Environment {
        client: client(stored_endpoint(row, default_timeout))?,
        is_master: false,
        enabled: row.enabled,
        required: row.required,
        provisioned: false,
        version: Some(row.version),
        service: None,
    })
}
