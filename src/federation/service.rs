//! Managers' service credentials (config `auth`): HTTP Basic with a (rotating) secret password,
//! a bearer token from the managed identity, or a bearer token from an OAuth2 credential
//! connection. [`ServiceCredential::authorize`] is the one way to get the credentials of a call,
//! for health probes, the admin's connection test and calls made on behalf of users alike.

use std::collections::HashMap;
use std::sync::Arc;

use secrecy::{ExposeSecret, SecretString};

use crate::config::{AuthReference, ManagerAuthSettings, Settings};
use crate::credentials::{Caller, Connection, Connections, CredentialError};
use crate::domain::{CredentialId, EnvironmentId};
use crate::managed_identity::ManagedIdentity;
use crate::manager::ManagerCredentials;
use crate::secrets::{LiveSecret, SecretReadError, Secrets};

/// A manager's service credential; secrets and tokens are read when a call needs them.
#[derive(Clone)]
pub enum ServiceCredential {
    Basic {
        username: String,
        password: LiveSecret,
    },
    /// A token of the managed identity for `resource` (`client_id`: a user-assigned identity).
    ManagedIdentity {
        identity: ManagedIdentity,
        resource: String,
        client_id: Option<String>,
    },
    Connection(Arc<Connection>),
}

impl std::fmt::Debug for ServiceCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

/// Same definition (the same secret handle, resource or connection), not the same value.
impl PartialEq for ServiceCredential {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Self::Basic { username: a, password: p }, Self::Basic { username: b, password: q }) => {
                a == b && p == q
            }
            (
                Self::ManagedIdentity { resource: a, client_id: c, .. },
                Self::ManagedIdentity { resource: b, client_id: d, .. },
            ) => a == b && c == d,
            (Self::Connection(a), Self::Connection(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }
}

/// The credentials of one call (or a few): keep it only for the call at hand.
pub enum ServiceAuth {
    Basic { username: String, password: SecretString },
    Bearer(SecretString),
}

impl ServiceAuth {
    pub fn credentials(&self) -> ManagerCredentials<'_> {
        match self {
            ServiceAuth::Basic { username, password } => ManagerCredentials::Basic { username, password },
            ServiceAuth::Bearer(token) => ManagerCredentials::Bearer(token.expose_secret()),
        }
    }
}

impl ServiceCredential {
    /// The credentials for a call made now on behalf of `caller`. A connection's access policy
    /// refuses a user it does not allow before any request is sent.
    pub async fn authorize(&self, caller: Caller<'_>) -> Result<ServiceAuth, CredentialError> {
        match self {
            ServiceCredential::Basic { username, password } => {
                Ok(ServiceAuth::Basic { username: username.clone(), password: password.current() })
            }
            ServiceCredential::ManagedIdentity { identity, resource, client_id } => {
                Ok(ServiceAuth::Bearer(identity.token(resource, client_id.as_deref()).await?))
            }
            ServiceCredential::Connection(connection) => {
                Ok(ServiceAuth::Bearer(connection.token_for(caller).await?))
            }
        }
    }

    /// What it is, in words (no secret): for the admin's connection test and logs.
    pub fn describe(&self) -> String {
        match self {
            ServiceCredential::Basic { username, .. } => format!("“{username}”"),
            ServiceCredential::ManagedIdentity { resource, client_id: None, .. } => {
                format!("the system-assigned managed identity (bearer token for {resource})")
            }
            ServiceCredential::ManagedIdentity { resource, client_id: Some(id), .. } => {
                format!("the managed identity {id} (bearer token for {resource})")
            }
            ServiceCredential::Connection(c) => {
                format!(
                    "connection “{}” of provider “{}” (bearer token, {})",
                    c.id,
                    c.provider,
                    c.grant.as_str()
                )
            }
        }
    }
}

/// A service credential that cannot be prepared: its secret cannot be read, or it names a
/// connection that does not exist. Says where, and why, never a value.
#[derive(Debug, thiserror::Error)]
pub enum CredentialSetupError {
    /// `{key}` is the setting (e.g. `slaves[0].auth.basic.password`); the source says why.
    #[error("{key}")]
    Secret {
        key: String,
        #[source]
        source: SecretReadError,
    },
    #[error("{at}.auth.connection: unknown connection \"{name}\"")]
    UnknownConnection { at: String, name: CredentialId },
}

impl CredentialSetupError {
    /// Why, without the setting's key: for a message next to a form field.
    pub fn reason(&self) -> String {
        match self {
            CredentialSetupError::Secret { source, .. } => format!("Portico cannot read it: {source}."),
            CredentialSetupError::UnknownConnection { name, .. } => {
                format!("There is no credential connection “{name}” in the config file.")
            }
        }
    }
}

/// The service credentials of the managers: the config file's, resolved at start, and the way
/// to resolve the one of a slave stored from the admin UI (the same reading, from the same
/// secret resolver and connections).
#[derive(Clone)]
pub struct ServiceCredentials {
    configured: HashMap<EnvironmentId, ServiceCredential>,
    secrets: Secrets,
    connections: Connections,
}

impl ServiceCredentials {
    /// Reads every configured `auth` secret (remote ones are then kept fresh) and ties each
    /// manager to its managed identity resource or connection.
    pub async fn resolve(
        settings: &Settings,
        secrets: &Secrets,
        connections: &Connections,
    ) -> anyhow::Result<Self> {
        let managers = std::iter::once((
            "master".to_owned(),
            &settings.master.id,
            settings.master.auth.as_ref(),
        ))
        .chain(
            settings.slaves.iter().enumerate().map(|(i, s)| (format!("slaves[{i}]"), &s.id, s.auth.as_ref())),
        );
        let mut configured = HashMap::new();
        for (at, id, auth) in managers {
            if let Some(auth) = auth {
                configured.insert(id.clone(), credential(&at, auth, secrets, connections).await?);
            }
        }
        Ok(Self { configured, secrets: secrets.clone(), connections: connections.clone() })
    }

    pub(super) fn get(&self, id: &EnvironmentId) -> Option<ServiceCredential> {
        self.configured.get(id).cloned()
    }

    /// The credential of the slave `id` stored from the admin UI with `auth`: read as a config
    /// slave's is (a remote secret is then kept fresh while the credential is in use).
    pub async fn stored(
        &self,
        id: &EnvironmentId,
        auth: &AuthReference,
    ) -> Result<ServiceCredential, CredentialSetupError> {
        credential(&format!("stored_slaves.{id}"), auth.settings(), &self.secrets, &self.connections).await
    }
}

/// The credential `auth` describes; `at` names the manager's setting in reports.
async fn credential(
    at: &str,
    auth: &ManagerAuthSettings,
    secrets: &Secrets,
    connections: &Connections,
) -> Result<ServiceCredential, CredentialSetupError> {
    Ok(match auth {
        ManagerAuthSettings::Basic { username, password } => {
            let key = format!("{at}.auth.basic.password");
            match secrets.live(&key, password).await {
                Ok(password) => ServiceCredential::Basic { username: username.clone(), password },
                Err(source) => return Err(CredentialSetupError::Secret { key, source }),
            }
        }
        ManagerAuthSettings::ManagedIdentity { resource, client_id } => ServiceCredential::ManagedIdentity {
            identity: secrets.identity().clone(),
            resource: resource.clone(),
            client_id: client_id.clone(),
        },
        ManagerAuthSettings::Connection(name) => match connections.get(name) {
            Some(connection) => ServiceCredential::Connection(connection),
            None => {
                return Err(CredentialSetupError::UnknownConnection {
                    at: at.to_owned(),
                    name: name.clone(),
                });
            }
        },
    })
}
