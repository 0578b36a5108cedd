//! The environments a consumer can be joined to: the master and the slave managers, each with a
//! ready client.

use std::sync::Arc;

use secrecy::SecretString;

use crate::config::{ManagerAuthSettings, MasterSettings, Settings, SlaveSettings};
use crate::domain::EnvironmentId;
use crate::manager::{ManagerClient, ManagerCredentials, ManagerEndpoint, ManagerError};

/// One manager as the portal sees it.
pub struct Environment {
    pub client: ManagerClient,
    pub is_master: bool,
    pub enabled: bool,
    /// Under the `master` policy, sign-in fails when a required slave cannot be joined.
    pub required: bool,
    /// Defined in the config file (read-only in the admin UI).
    pub provisioned: bool,
    /// The manager's service credential (`auth`), when it has one.
    pub service: Option<ServiceCredential>,
}

/// A manager's service credential (`auth = { basic = … }`), resolved at start.
pub struct ServiceCredential {
    pub username: String,
    pub password: SecretString,
}

impl ServiceCredential {
    pub fn credentials(&self) -> ManagerCredentials<'_> {
        ManagerCredentials::Basic { username: &self.username, password: &self.password }
    }

    fn from_settings(
        id: &EnvironmentId,
        auth: Option<&ManagerAuthSettings>,
    ) -> Result<Option<Self>, EnvironmentError> {
        let Some(ManagerAuthSettings::Basic { username, password }) = auth else {
            return Ok(None);
        };
        let password = password.resolve().map_err(|e| EnvironmentError {
            id: id.clone(),
            source: ManagerError::Config(format!("service credential (auth): {e}")),
        })?;
        Ok(Some(Self { username: username.clone(), password }))
    }
}

impl Environment {
    pub fn id(&self) -> &EnvironmentId {
        &self.client.endpoint().id
    }

    pub fn name(&self) -> &str {
        &self.client.endpoint().name
    }
}

#[derive(Debug, thiserror::Error)]
#[error("environment {id}: {source}")]
pub struct EnvironmentError {
    pub id: EnvironmentId,
    #[source]
    pub source: ManagerError,
}

/// The master first, then the slaves in configuration order.
#[derive(Clone)]
pub struct Environments {
    list: Arc<Vec<Arc<Environment>>>,
}

impl Environments {
    pub fn from_settings(settings: &Settings) -> Result<Self, EnvironmentError> {
        let default_timeout = settings.federation.timeout.get();
        let mut list = vec![Arc::new(master(&settings.master, default_timeout)?)];
        for slave in &settings.slaves {
            list.push(Arc::new(slave_env(slave, default_timeout)?));
        }
        Ok(Self { list: Arc::new(list) })
    }

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
        service: ServiceCredential::from_settings(&m.id, m.auth.as_ref())?,
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
        service: ServiceCredential::from_settings(&s.id, s.auth.as_ref())?,
    })
}
