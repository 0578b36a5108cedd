//! `[oidc]` (single sign-on through an OpenID provider) and `[identity]` (Portico's own managed
//! identity).

use std::path::PathBuf;

use serde::Deserialize;
use url::Url;

use super::settings::{default_public_url, yes};
use super::{Duration, SecretRef};

/// Single sign-on through an OpenID Connect provider (SPEC §3.2).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcSettings {
    /// The provider's issuer URL; its discovery document is `{issuer}/.well-known/openid-configuration`.
    pub issuer: Url,
    pub client_id: String,
    /// The client's secret (a secret reference). Absent: a public client (PKCE only).
    #[serde(default)]
    pub client_secret: Option<SecretRef>,
    /// Scopes asked for besides `openid` (always asked for).
    #[serde(default = "default_oidc_scopes")]
    pub scopes: Vec<String>,
    /// The claim that holds the username. Default `preferred_username`.
    #[serde(default = "default_username_claim")]
    pub username_claim: String,
    /// The claim that holds the organization name. Default `org`.
    #[serde(default = "default_org_claim")]
    pub org_claim: String,
    /// How Portico acts as the user on the managers.
    #[serde(default)]
    pub manager_auth: ManagerAuthMode,
    /// The provider's name on the sign-in button ("Sign in with {display_name}").
    #[serde(default = "default_oidc_display_name")]
    pub display_name: String,
    /// Keep the password form beside the single sign-on button. Default true.
    #[serde(default = "yes")]
    pub password_login: bool,
    /// The resource indicator (RFC 8707) the access token is asked for, so that the provider
    /// issues it for the managers (`bearer`). Absent: none is sent.
    #[serde(default)]
    pub resource: Option<String>,
    /// Access tokens are refreshed this long before they expire. Default `30s`.
    #[serde(default = "default_refresh_margin")]
    pub refresh_margin: Duration,
    /// Extra trusted roots (PEM) for the provider's certificate.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// How long one call to the provider may take. Default `10s`.
    #[serde(default = "default_oidc_timeout")]
    pub timeout: Duration,
}

fn default_oidc_scopes() -> Vec<String> {
    vec!["profile".to_owned(), "email".to_owned()]
}

fn default_username_claim() -> String {
    "preferred_username".to_owned()
}

fn default_org_claim() -> String {
    "org".to_owned()
}

fn default_oidc_display_name() -> String {
    "single sign-on".to_owned()
}

fn default_refresh_margin() -> Duration {
    Duration::from_secs(30)
}

fn default_oidc_timeout() -> Duration {
    Duration::from_secs(10)
}

/// `oidc.manager_auth`: what goes to the managers for a user signed in through the provider.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ManagerAuthMode {
    /// The user's access token, as `Authorization: Bearer`.
    #[default]
    Bearer,
    /// The manager's service credential (`auth`), with results scoped to the user's organization.
    Service,
}

/// `[identity]`: the service's managed identity (used by `keyvault` secret references).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IdentitySettings {
    /// The instance metadata token endpoint (overridable for tests and unusual hosts).
    pub endpoint: Url,
    /// Its `api-version`.
    pub api_version: String,
    /// The Key Vault REST `api-version` used to read secrets.
    pub keyvault_api_version: String,
    /// Set from `IDENTITY_ENDPOINT` + `IDENTITY_HEADER` (App Service), never from the file.
    #[serde(skip)]
    pub app_service: Option<AppServiceIdentity>,
}

/// The App Service flavour of the managed identity endpoint.
#[derive(Clone)]
pub struct AppServiceIdentity {
    pub endpoint: Url,
    pub header: secrecy::SecretString,
}

impl std::fmt::Debug for AppServiceIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppServiceIdentity").field("endpoint", &self.endpoint).finish_non_exhaustive()
    }
}

impl Default for IdentitySettings {
    fn default() -> Self {
        Self {
            endpoint: Url::parse("http://169.254.169.254/metadata/identity/oauth2/token")
                .unwrap_or_else(|_| default_public_url()),
            api_version: "2018-02-01".to_owned(),
            keyvault_api_version: "7.4".to_owned(),
            app_service: None,
        }
    }
}
