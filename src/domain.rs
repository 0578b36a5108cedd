//! Checked domain types shared by configuration, federation, managers and the web layer.
//!
//! Input becomes one of these at the edge (config file, form, path segment), so the rest of the
//! code never re-validates a raw string.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A user's role on a manager (the v1.3 `role`): what they may see there, and which credential
/// connections they may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    User,
    Oadmin,
    Admin,
}

/// The portal user, as the master manager or the identity provider described them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionUser {
    pub login_name: String,
    pub name: String,
    pub email: Option<String>,
    pub role: Role,
    /// The organization name, the key that maps the user onto every environment.
    pub organization: String,
}

/// One manager: the environment it serves, where it is and how to reach it, and its place in the
/// federation. Every source of managers converts to this at its edge: the config file's
/// `[master]` and `[[slaves]]` (`config`), a slave stored from the admin UI (`store`), the admin
/// form (`web::admin`); the manager client is built from it.
#[derive(Debug, Clone, PartialEq)]
pub struct ManagerDefinition {
    pub id: EnvironmentId,
    /// Name consumers see.
    pub name: String,
    /// Scheme, host, port (no path).
    pub url: url::Url,
    /// e.g. `/api/portal/v1.3`.
    pub base_path: String,
    pub tls_mode: TlsMode,
    /// PEM of extra trusted roots.
    pub ca_pem: Option<String>,
    /// `None`: the federation's default (`federation.timeout`).
    pub timeout: Option<std::time::Duration>,
    /// Offered to consumers (the master always is).
    pub enabled: bool,
    /// Under the `master` policy, sign-in fails when a required slave cannot be joined (the
    /// master always is).
    pub required: bool,
    /// The API gateway the API page's "try it" sends calls to (scheme, host, port and an
    /// optional path prefix); `None`: try it is off for this environment.
    pub gateway: Option<url::Url>,
}

/// Identifier of a manager environment (`master`, `prod-eu`, …): 1–64 characters of lowercase
/// ASCII letters, digits, `-` and `_`, starting with a letter or digit. Safe in URLs, Redis keys
/// and HTML without escaping surprises.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct EnvironmentId(String);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error(
    "{0:?} is not a valid environment id: use 1 to 64 lowercase letters, digits, '-' or '_', starting with a letter or digit"
)]
pub struct InvalidEnvironmentId(pub String);

impl EnvironmentId {
    pub fn parse(raw: &str) -> Result<Self, InvalidEnvironmentId> {
        let valid_char = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_';
        let starts_well = raw.chars().next().is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
        if (1..=64).contains(&raw.len()) && starts_well && raw.chars().all(valid_char) {
            Ok(Self(raw.to_owned()))
        } else {
            Err(InvalidEnvironmentId(raw.to_owned()))
        }
    }

    /// The default id of the master manager's own environment.
    pub fn master() -> Self {
        Self("master".to_owned())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for EnvironmentId {
    type Err = InvalidEnvironmentId;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl TryFrom<String> for EnvironmentId {
    type Error = InvalidEnvironmentId;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<EnvironmentId> for String {
    fn from(id: EnvironmentId) -> Self {
        id.0
    }
}

impl fmt::Display for EnvironmentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for EnvironmentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EnvironmentId({})", self.0)
    }
}

/// Identifier of a credential provider or connection (`[[credentials]]`): the same rules as an
/// [`EnvironmentId`], since it appears in admin URLs and database keys.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CredentialId(String);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error(
    "{0:?} is not a valid id: use 1 to 64 lowercase letters, digits, '-' or '_', starting with a letter or digit"
)]
pub struct InvalidCredentialId(pub String);

impl CredentialId {
    pub fn parse(raw: &str) -> Result<Self, InvalidCredentialId> {
        EnvironmentId::parse(raw).map(|id| Self(id.0)).map_err(|e| InvalidCredentialId(e.0))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for CredentialId {
    type Error = InvalidCredentialId;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<CredentialId> for String {
    fn from(id: CredentialId) -> Self {
        id.0
    }
}

impl fmt::Display for CredentialId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for CredentialId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CredentialId({})", self.0)
    }
}

/// How a manager's TLS certificate is checked.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TlsMode {
    /// No verification at all (any certificate is accepted). For labs only.
    None,
    /// The certificate chain must lead to a trusted root (system roots or `ca_file`), but the
    /// host name is not compared — the manager's own "certificate name must match" switch off.
    Certificate,
    /// Chain and host name are verified.
    #[default]
    Full,
}

impl TlsMode {
    pub fn as_str(self) -> &'static str {
        match self {
            TlsMode::None => "none",
            TlsMode::Certificate => "certificate",
            TlsMode::Full => "full",
        }
    }
}

impl FromStr for TlsMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "none" => Ok(TlsMode::None),
            "certificate" => Ok(TlsMode::Certificate),
            "full" => Ok(TlsMode::Full),
            other => {
                Err(format!("unknown TLS mode {other:?}: expected \"none\", \"certificate\" or \"full\""))
            }
        }
    }
}

/// When a federated sign-in succeeds (SPEC §3.3).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LoginFailurePolicy {
    /// The master and every `required` slave must accept.
    #[default]
    Master,
    /// The master and every enabled slave must accept.
    All,
    /// At least one manager must accept.
    Any,
}

impl LoginFailurePolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            LoginFailurePolicy::Master => "master",
            LoginFailurePolicy::All => "all",
            LoginFailurePolicy::Any => "any",
        }
    }
}

impl FromStr for LoginFailurePolicy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "master" => Ok(Self::Master),
            "all" => Ok(Self::All),
            "any" => Ok(Self::Any),
            other => Err(format!(
                "unknown login-failure policy {other:?}: expected \"master\", \"all\" or \"any\""
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn environment_ids_accept_the_documented_alphabet() {
        for ok in ["master", "prod-eu", "staging_2", "0day"] {
            assert!(EnvironmentId::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["", "Prod", "-x", "a b", "a/b", "é", &"a".repeat(65)] {
            assert!(EnvironmentId::parse(bad).is_err(), "{bad}");
        }
    }

    proptest! {
        #[test]
        fn parsed_ids_round_trip_and_never_contain_unsafe_characters(raw in "\\PC{0,80}") {
            if let Ok(id) = EnvironmentId::parse(&raw) {
                prop_assert_eq!(id.as_str(), raw.as_str());
                prop_assert!(id.as_str().bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
            }
        }
    }
}
