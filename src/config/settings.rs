//! The typed configuration tree, section by section, with the defaults Portico embeds.

use std::net::SocketAddr;
use std::path::PathBuf;

use ipnet::IpNet;
use serde::Deserialize;
use url::Url;

use super::{CredentialProviderSettings, Duration, IdentitySettings, OidcSettings, RedisSettings, SecretRef};
use crate::domain::{CredentialId, EnvironmentId, LoginFailurePolicy, ManagerDefinition, TlsMode};

/// The whole configuration file. Every section has embedded defaults except `[master]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    #[serde(default)]
    pub server: ServerSettings,
    #[serde(default)]
    pub session: SessionSettings,
    /// Absent: the in-process store (single instance).
    #[serde(default)]
    pub redis: Option<RedisSettings>,
    #[serde(default)]
    pub database: DatabaseSettings,
    #[serde(default)]
    pub federation: FederationSettings,
    pub master: MasterSettings,
    #[serde(default)]
    pub slaves: Vec<SlaveSettings>,
    #[serde(default)]
    pub login_protection: LoginProtectionSettings,
    #[serde(default)]
    pub cache: CacheSettings,
    /// `[oidc]`: single sign-on through an OpenID provider. Absent: password sign-in only.
    #[serde(default)]
    pub oidc: Option<OidcSettings>,
    #[serde(default)]
    pub identity: IdentitySettings,
    /// `[[credentials]]`: OAuth2 credential providers and their connections.
    #[serde(default)]
    pub credentials: Vec<CredentialProviderSettings>,
    #[serde(default)]
    pub log: LogSettings,
    #[serde(default)]
    pub metrics: MetricsSettings,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerSettings {
    /// Address and port to listen on. Default `127.0.0.1:8080`.
    pub listen: SocketAddr,
    /// The URL browsers use to reach Portico. `https` turns on `Secure` cookies, the `__Host-`
    /// cookie prefix and HSTS. Default `http://localhost:8080`.
    pub public_url: Url,
    /// Proxies whose `X-Forwarded-For` is believed (addresses or CIDR ranges). Default none.
    #[serde(deserialize_with = "addresses_or_ranges")]
    pub trusted_proxies: Vec<IpNet>,
    /// HTTP worker threads; 0 = one per core.
    pub workers: usize,
    /// `[server.tls]`: serve HTTPS directly. Absent: plain HTTP (TLS ends at a proxy).
    pub tls: Option<ServerTlsSettings>,
    /// How long a request body may take to arrive, from the end of its head to its last byte
    /// (forms and routed uploads alike); a caller that trickles it is cut off with 408. Default
    /// `30s`.
    pub body_timeout: Duration,
}

/// The certificate Portico serves HTTPS with: PEM `cert_file` + `key_file`, or a `pkcs12` bundle.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerTlsSettings {
    /// PEM certificate chain, leaf first.
    pub cert_file: Option<PathBuf>,
    /// PEM private key of the leaf certificate.
    pub key_file: Option<PathBuf>,
    /// A base64 PKCS#12 bundle (e.g. a Key Vault certificate secret), as a secret reference.
    pub pkcs12: Option<SecretRef>,
    /// How often the certificate source is checked for a new certificate. Default `1h`.
    #[serde(default = "default_tls_refresh")]
    pub refresh: Duration,
}

fn default_tls_refresh() -> Duration {
    Duration::from_secs(60 * 60)
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            public_url: default_public_url(),
            trusted_proxies: Vec::new(),
            workers: 0,
            tls: None,
            body_timeout: Duration::from_secs(30),
        }
    }
}

/// Reads `["10.0.0.0/8", "192.0.2.7"]`: a bare address is a range of one.
fn addresses_or_ranges<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<IpNet>, D::Error> {
    let raw = Vec::<String>::deserialize(d)?;
    raw.iter()
        .enumerate()
        .map(|(i, item)| {
            item.parse::<IpNet>().or_else(|_| item.parse::<std::net::IpAddr>().map(IpNet::from)).map_err(
                |_| {
                    serde::de::Error::custom(format_args!(
                        "entry {i}: {item:?} is not an IP address or a CIDR range such as \"10.0.0.0/8\""
                    ))
                },
            )
        })
        .collect()
}

#[allow(clippy::expect_used)] // a literal; `defaults_are_valid` in the config tests covers it
pub(super) fn default_public_url() -> Url {
    Url::parse("http://localhost:8080").expect("literal URL parses")
}

/// The default `session.revocation_window`, in milliseconds: a busy session asks the store about
/// ten times a second per serving thread instead of at every request, and a sign-out or an
/// environment switch answers a tenth of a second later.
pub const DEFAULT_REVOCATION_WINDOW_MS: u64 = 100;

/// The longest `session.revocation_window`: a replica reads a session from the store again after
/// this long anyway (the session copies' window, which a store test holds equal to it).
pub const MAX_REVOCATION_WINDOW: std::time::Duration = std::time::Duration::from_secs(1);

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SessionSettings {
    /// Key material for session encryption. Absent: a random key per process (sessions do not
    /// survive a restart and replicas cannot share them; a warning says so).
    pub secret: Option<SecretRef>,
    pub idle_timeout: Duration,
    pub absolute_timeout: Duration,
    /// How long a replica serves a session's copy the store confirmed without asking it again
    /// (0 to 1 s); an ending or a rewrite waits that long before it answers, so no replica serves
    /// the old session after it ([`crate::store::SessionStore`]). Zero: every request asks the
    /// store and nothing waits.
    pub revocation_window: Duration,
    pub cookie_name: String,
    /// At most this many sessions per user: a sign-in past it ends their oldest. Absent: no cap.
    pub max_per_user: Option<usize>,
}

impl Default for SessionSettings {
    fn default() -> Self {
        Self {
            secret: None,
            idle_timeout: Duration::from_secs(30 * 60),
            absolute_timeout: Duration::from_secs(12 * 3600),
            revocation_window: Duration::from_millis(DEFAULT_REVOCATION_WINDOW_MS),
            cookie_name: "portico_session".to_owned(),
            max_per_user: None,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseSettings {
    /// `sqlite://path` (created when missing) or `postgres://…`. May be a secret reference.
    pub url: SecretRef,
    pub max_connections: u32,
}

impl Default for DatabaseSettings {
    fn default() -> Self {
        Self { url: SecretRef::plain_public("sqlite://data/portico.db"), max_connections: 8 }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FederationSettings {
    /// The heading consumers see above the environment list.
    pub label: String,
    pub login_failure_policy: LoginFailurePolicy,
    /// Default timeout of one manager call (a manager may set its own).
    pub timeout: Duration,
}

impl Default for FederationSettings {
    fn default() -> Self {
        Self {
            label: "Environment".to_owned(),
            login_failure_policy: LoginFailurePolicy::Master,
            timeout: Duration::from_secs(10),
        }
    }
}

/// The manager that holds the users.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MasterSettings {
    #[serde(default = "default_master_id")]
    pub id: EnvironmentId,
    /// Name consumers see for the master's own environment.
    #[serde(default = "default_master_name")]
    pub name: String,
    pub url: Url,
    #[serde(default = "default_base_path")]
    pub base_path: String,
    #[serde(default)]
    pub tls_mode: TlsMode,
    pub ca_file: Option<PathBuf>,
    pub timeout: Option<Duration>,
    pub auth: Option<ManagerAuthSettings>,
    /// Where the API page's "try it" sends calls (docs/portal.md).
    pub gateway: Option<Url>,
}

fn default_master_id() -> EnvironmentId {
    EnvironmentId::master()
}

fn default_master_name() -> String {
    "Main".to_owned()
}

pub fn default_base_path() -> String {
    "/api/portal/v1.3".to_owned()
}

/// A slave manager defined in the file ("provisioned": read-only in the admin UI).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlaveSettings {
    pub id: EnvironmentId,
    pub name: String,
    pub url: Url,
    #[serde(default = "default_base_path")]
    pub base_path: String,
    #[serde(default)]
    pub tls_mode: TlsMode,
    pub ca_file: Option<PathBuf>,
    pub timeout: Option<Duration>,
    #[serde(default = "yes")]
    pub enabled: bool,
    #[serde(default)]
    pub required: bool,
    pub auth: Option<ManagerAuthSettings>,
    /// Where the API page's "try it" sends calls (docs/portal.md).
    pub gateway: Option<Url>,
}

pub(super) fn yes() -> bool {
    true
}

impl MasterSettings {
    /// The master as a [`ManagerDefinition`] (enabled and required, as the master always is),
    /// with its CA file read.
    pub fn definition(&self) -> Result<ManagerDefinition, CaFileError> {
        Ok(ManagerDefinition {
            id: self.id.clone(),
            name: self.name.clone(),
            url: self.url.clone(),
            base_path: self.base_path.clone(),
            tls_mode: self.tls_mode,
            ca_pem: read_ca(self.ca_file.as_deref())?,
            timeout: self.timeout.map(|t| t.get()),
            enabled: true,
            required: true,
            gateway: self.gateway.clone(),
        })
    }
}

impl SlaveSettings {
    /// The slave as a [`ManagerDefinition`], with its CA file read.
    pub fn definition(&self) -> Result<ManagerDefinition, CaFileError> {
        Ok(self.definition_with_ca(read_ca(self.ca_file.as_deref())?))
    }

    /// The slave as a [`ManagerDefinition`] with `ca_pem` for its CA (for views that do not
    /// show it, `None`).
    pub fn definition_with_ca(&self, ca_pem: Option<String>) -> ManagerDefinition {
        ManagerDefinition {
            id: self.id.clone(),
            name: self.name.clone(),
            url: self.url.clone(),
            base_path: self.base_path.clone(),
            tls_mode: self.tls_mode,
            ca_pem,
            timeout: self.timeout.map(|t| t.get()),
            enabled: self.enabled,
            required: self.required,
            gateway: self.gateway.clone(),
        }
    }
}

/// A manager's `ca_file` could not be read.
#[derive(Debug, thiserror::Error)]
#[error("cannot read CA file {path}: {kind}")]
pub struct CaFileError {
    pub path: String,
    pub kind: std::io::ErrorKind,
}

fn read_ca(path: Option<&std::path::Path>) -> Result<Option<String>, CaFileError> {
    path.map(|p| {
        std::fs::read_to_string(p).map_err(|e| CaFileError { path: p.display().to_string(), kind: e.kind() })
    })
    .transpose()
}

/// A manager's service credential.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub enum ManagerAuthSettings {
    /// HTTP Basic with a secret password.
    Basic { username: String, password: SecretRef },
    /// A bearer token from the service's managed identity for `resource`; `client_id` names a
    /// user-assigned identity (absent: the system-assigned one).
    ManagedIdentity {
        resource: String,
        #[serde(default)]
        client_id: Option<String>,
    },
    /// A bearer token from an OAuth2 credential connection (`[[credentials.connections]]` id).
    Connection(CredentialId),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LoginProtectionSettings {
    pub enabled: bool,
    pub max_failures: u32,
    pub window: Duration,
    pub lock_duration: Duration,
    pub lock_by_ip: bool,
    pub max_failures_per_ip: u32,
}

impl Default for LoginProtectionSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            max_failures: 5,
            window: Duration::from_secs(15 * 60),
            lock_duration: Duration::from_secs(15 * 60),
            lock_by_ip: false,
            max_failures_per_ip: 20,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CacheSettings {
    pub catalog_ttl: Duration,
    pub organization_ttl: Duration,
}

impl Default for CacheSettings {
    fn default() -> Self {
        Self { catalog_ttl: Duration::from_secs(5 * 60), organization_ttl: Duration::from_secs(15 * 60) }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogSettings {
    /// A `tracing` filter (`info`, `portico=debug,info`); `RUST_LOG` wins when set.
    pub level: String,
    pub format: LogFormat,
}

impl Default for LogSettings {
    fn default() -> Self {
        Self { level: "info".to_owned(), format: LogFormat::Text }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsSettings {
    /// Serve `/metrics`.
    pub enabled: bool,
    /// Serve `/metrics` on a listener of its own (e.g. `127.0.0.1:9090`) instead of the public
    /// one, so the figures are reachable only where the operator's scraper is.
    pub listen: Option<SocketAddr>,
}

impl Default for MetricsSettings {
    fn default() -> Self {
        Self { enabled: true, listen: None }
    }
}
