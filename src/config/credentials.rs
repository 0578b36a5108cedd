//! `[[credentials]]`: OAuth2 credential providers and their connections, which managers use as
//! their service credential with `auth = { connection = "ID" }`.

use serde::Deserialize;
use url::Url;

use super::{Duration, SecretRef};
use crate::domain::CredentialId;
use crate::domain::Role;

/// One OAuth2 authorization server (a token endpoint), with the client registrations Portico
/// holds there.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CredentialProviderSettings {
    pub id: CredentialId,
    /// Where tokens are requested (RFC 6749 §3.2).
    pub token_url: Url,
    /// How the connections of this provider obtain their tokens.
    pub grant: Grant,
    /// Where an admin gives consent (RFC 6749 §3.1); required with `authorization_code`.
    #[serde(default)]
    pub authorize_url: Option<Url>,
    /// How long one call to the provider may take. Default `10s`.
    #[serde(default = "default_timeout")]
    pub timeout: Duration,
    #[serde(default)]
    pub connections: Vec<ConnectionSettings>,
}

fn default_timeout() -> Duration {
    Duration::from_secs(10)
}

/// The OAuth2 grant a provider's connections use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Grant {
    /// Portico's own client identity (RFC 6749 §4.4): no one has to consent.
    ClientCredentials,
    /// An admin consents once in the admin UI (with PKCE); the refresh token is kept, sealed,
    /// in the database and access tokens are refreshed from it.
    AuthorizationCode,
}

impl Grant {
    pub fn as_str(self) -> &'static str {
        match self {
            Grant::ClientCredentials => "client_credentials",
            Grant::AuthorizationCode => "authorization_code",
        }
    }
}

/// One client registration at a provider.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectionSettings {
    /// Unique across every provider: managers name connections by id alone.
    pub id: CredentialId,
    pub client_id: String,
    /// The client's secret (a secret reference). Required with `client_credentials`; absent
    /// with `authorization_code` means a public client (PKCE only).
    #[serde(default)]
    pub client_secret: Option<SecretRef>,
    /// Scopes asked for. Default none.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// A resource indicator (RFC 8707) sent with every token request. Default none.
    #[serde(default)]
    pub resource: Option<String>,
    /// Who calls may be made for with this connection. Default: nobody (only Portico's own
    /// calls, such as health checks).
    #[serde(default)]
    pub allowed: AccessPolicy,
}

/// The organizations and roles on whose behalf calls may be made with a connection.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessPolicy {
    /// Organization names (as on the master); `"*"` allows every organization. Empty: none.
    #[serde(default)]
    pub organizations: Vec<String>,
    /// Manager roles (`user`, `oadmin`, `admin`). Empty: every role.
    #[serde(default)]
    pub roles: Vec<Role>,
}

impl AccessPolicy {
    /// Every organization is allowed.
    pub fn any_organization(&self) -> bool {
        self.organizations.iter().any(|o| o == "*")
    }
}
