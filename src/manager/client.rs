//! The API Manager v1.3 client. One per manager, pooled connections, no shared cookie jar:
//! the manager session of each user travels in a [`ManagerSession`] value.
//!
//! CONTRACT (implementation pending).

use std::time::Duration;

use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use url::Url;

use super::{Application, DiscoveredApi, ManagerError, NewApplication, Organization, User};
use crate::domain::{EnvironmentId, TlsMode};

/// Where a manager is and how to reach it.
#[derive(Debug, Clone)]
pub struct ManagerEndpoint {
    pub id: EnvironmentId,
    pub name: String,
    /// Scheme, host, port (no path).
    pub url: Url,
    /// e.g. `/api/portal/v1.3`.
    pub base_path: String,
    pub tls_mode: TlsMode,
    /// PEM of extra trusted roots (from `ca_file`).
    pub ca_pem: Option<String>,
    pub timeout: Duration,
}

/// A user's session on one manager: the session cookie and the CSRF token. Serializable so the
/// session store can keep it (encrypted) server-side.
#[derive(Clone, Serialize, Deserialize)]
pub struct ManagerSession {
    /// `name=value` of the session cookie(s), ready for a `Cookie` header.
    pub cookie: String,
    pub csrf_token: Option<String>,
}

impl std::fmt::Debug for ManagerSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ManagerSession([redacted])")
    }
}

/// How one call authenticates.
#[derive(Clone, Copy)]
pub enum ManagerCredentials<'a> {
    Session(&'a ManagerSession),
    Bearer(&'a SecretString),
    Basic { username: &'a str, password: &'a SecretString },
}

/// The client for one manager.
#[derive(Clone)]
pub struct ManagerClient {
    endpoint: ManagerEndpoint,
}

#[derive(Deserialize)]
struct _Unused;

impl ManagerClient {
    pub fn new(endpoint: ManagerEndpoint) -> Result<Self, ManagerError> {
        Ok(Self { endpoint })
    }

    pub fn endpoint(&self) -> &ManagerEndpoint {
        &self.endpoint
    }

    /// `POST /login`: 303 → a new session.
    pub async fn login(
        &self,
        _username: &str,
        _password: &SecretString,
    ) -> Result<ManagerSession, ManagerError> {
        Err(ManagerError::Config("pending".into()))
    }

    /// `GET /currentuser`; stores the `CSRF-Token` answer header in the session.
    pub async fn current_user(&self, _session: &mut ManagerSession) -> Result<User, ManagerError> {
        Err(ManagerError::Config("pending".into()))
    }

    pub async fn organization(
        &self,
        _creds: ManagerCredentials<'_>,
        _id: &str,
    ) -> Result<Organization, ManagerError> {
        Err(ManagerError::Config("pending".into()))
    }

    /// `GET /organizations?field=name&op=eq&value=NAME`; `None` when no organization has it.
    pub async fn organization_by_name(
        &self,
        _creds: ManagerCredentials<'_>,
        _name: &str,
    ) -> Result<Option<Organization>, ManagerError> {
        Err(ManagerError::Config("pending".into()))
    }

    pub async fn discovery_apis(
        &self,
        _creds: ManagerCredentials<'_>,
    ) -> Result<Vec<DiscoveredApi>, ManagerError> {
        Err(ManagerError::Config("pending".into()))
    }

    pub async fn api_definition(
        &self,
        _creds: ManagerCredentials<'_>,
        _id: &str,
    ) -> Result<serde_json::Value, ManagerError> {
        Err(ManagerError::Config("pending".into()))
    }

    pub async fn applications(
        &self,
        _creds: ManagerCredentials<'_>,
    ) -> Result<Vec<Application>, ManagerError> {
        Err(ManagerError::Config("pending".into()))
    }

    pub async fn create_application(
        &self,
        _creds: ManagerCredentials<'_>,
        _app: &NewApplication,
    ) -> Result<Application, ManagerError> {
        Err(ManagerError::Config("pending".into()))
    }

    /// `DELETE /login`.
    pub async fn logout(&self, _session: &ManagerSession) -> Result<(), ManagerError> {
        Err(ManagerError::Config("pending".into()))
    }

    /// A cheap unauthenticated probe for health checks and "test connection".
    pub async fn probe(&self) -> Result<Duration, ManagerError> {
        Err(ManagerError::Config("pending".into()))
    }
}
