//! Where a manager is and how to reach it.

use std::time::Duration;

use url::Url;

use crate::domain::{EnvironmentId, TlsMode};

/// Where a manager is and how to reach it.
#[derive(Debug, Clone, PartialEq)]
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
