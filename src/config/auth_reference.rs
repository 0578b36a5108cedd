//! A manager's service credential kept as text: the value of `auth = …` in the config file's
//! inline-table syntax, read with the same parser. Slaves added in the admin UI store it this
//! way, so every secret in it is a *reference* (env, file, Key Vault, Vault): a value written
//! in the text itself is refused, and the text never holds a password.

use std::fmt;

use serde::Deserialize;

use super::{DEFAULT_REFRESH, ManagerAuthSettings, SecretRef};

/// An `auth` setting whose secrets are all references, with its canonical text.
#[derive(Clone)]
pub struct AuthReference {
    settings: ManagerAuthSettings,
    text: String,
}

/// Why a text is not a usable `auth` reference. Never echoes the text (it may hold a password
/// typed where a reference belongs).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthReferenceError {
    #[error("{0}")]
    Invalid(String),
    #[error(
        "a secret is written as a value: Portico keeps only where a secret is (an env, file, keyvault or vault reference), never the secret itself"
    )]
    PlainSecret,
}

impl AuthReference {
    /// Reads `{ basic = { username = "…", password = { env = "…" } } }` (or any other `auth`
    /// form of the config file).
    pub fn parse(text: &str) -> Result<Self, AuthReferenceError> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Holder {
            auth: ManagerAuthSettings,
        }
        let holder: Holder = toml::from_str(&format!("auth = {}", text.trim()))
            .map_err(|e| AuthReferenceError::Invalid(e.message().trim().to_owned()))?;
        Self::from_settings(holder.auth)
    }

    /// `settings` with its canonical text; refused when a secret in it is a plain value.
    pub fn from_settings(settings: ManagerAuthSettings) -> Result<Self, AuthReferenceError> {
        let text = match &settings {
            ManagerAuthSettings::Basic { username, password } => {
                format!(
                    "{{ basic = {{ username = {}, password = {} }} }}",
                    quote(username),
                    secret(password)?
                )
            }
            ManagerAuthSettings::ManagedIdentity { resource, client_id } => {
                let client = client_id.as_deref().map(|c| format!(", client_id = {}", quote(c)));
                format!(
                    "{{ managed_identity = {{ resource = {}{} }} }}",
                    quote(resource),
                    client.unwrap_or_default()
                )
            }
            ManagerAuthSettings::Connection(id) => format!("{{ connection = {} }}", quote(id.as_str())),
        };
        Ok(Self { settings, text })
    }

    pub fn settings(&self) -> &ManagerAuthSettings {
        &self.settings
    }

    /// The canonical text, which [`AuthReference::parse`] reads back to the same setting.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// `basic`, `managed_identity` or `connection`.
    pub fn kind(&self) -> &'static str {
        self.settings.kind()
    }
}

impl ManagerAuthSettings {
    /// `basic`, `managed_identity` or `connection`.
    pub fn kind(&self) -> &'static str {
        match self {
            ManagerAuthSettings::Basic { .. } => "basic",
            ManagerAuthSettings::ManagedIdentity { .. } => "managed_identity",
            ManagerAuthSettings::Connection(_) => "connection",
        }
    }

    /// The kind and what it names, in words, for pages and the audit log: a secret by where it
    /// is, never by its value.
    pub fn describe(&self) -> String {
        match self {
            ManagerAuthSettings::Basic { username, password } => {
                format!("basic: “{username}”, password from {}", password.describe())
            }
            ManagerAuthSettings::ManagedIdentity { resource, client_id: None } => {
                format!("managed identity (system-assigned) for {resource}")
            }
            ManagerAuthSettings::ManagedIdentity { resource, client_id: Some(id) } => {
                format!("managed identity {id} for {resource}")
            }
            ManagerAuthSettings::Connection(id) => format!("credential connection “{id}”"),
        }
    }
}

impl SecretRef {
    /// The reference as the config file's inline table (`{ env = "NAME" }`); `None` for a plain
    /// value, which is never written out.
    pub fn reference_text(&self) -> Option<String> {
        secret(self).ok()
    }
}

/// Same setting: the same canonical text.
impl PartialEq for AuthReference {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

/// The text holds references only, so it can be shown.
impl fmt::Debug for AuthReference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AuthReference({})", self.text)
    }
}

/// A TOML basic string (quoted and escaped).
fn quote(value: &str) -> String {
    toml::Value::String(value.to_owned()).to_string()
}

/// A secret reference as an inline table; a plain value is refused.
fn secret(reference: &SecretRef) -> Result<String, AuthReferenceError> {
    let refresh = |r: super::Duration| {
        if r == DEFAULT_REFRESH { String::new() } else { format!(", refresh = {}", quote(&r.to_string())) }
    };
    Ok(match reference {
        SecretRef::Plain(_) => return Err(AuthReferenceError::PlainSecret),
        SecretRef::Env { env } => format!("{{ env = {} }}", quote(env)),
        SecretRef::File { file } => format!("{{ file = {} }}", quote(&file.to_string_lossy())),
        SecretRef::KeyVault(r) => {
            let mut url = format!("{}secrets/{}", r.vault, r.name);
            if let Some(version) = &r.version {
                url = format!("{url}/{version}");
            }
            let identity = r.identity.as_deref().map(|i| format!(", identity = {}", quote(i)));
            format!("{{ keyvault = {}{}{} }}", quote(&url), identity.unwrap_or_default(), refresh(r.refresh))
        }
        SecretRef::Vault(r) => format!(
            "{{ vault = {}, path = {}, field = {}, token = {}{} }}",
            quote(r.address.as_str()),
            quote(&r.path),
            quote(&r.field),
            secret(&r.token)?,
            refresh(r.refresh)
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_reads_back_to_the_same_text() {
        for text in [
            r#"{ basic = { username = "portico", password = { env = "PORTICO_PW" } } }"#,
            r#"{ basic = { username = 'a "b"', password = { file = "/run/secrets/pw" } } }"#,
            r#"{ basic = { username = "p", password = { keyvault = "https://kv1.vault.azure.net/secrets/pw/0a1b", identity = "cid", refresh = "1h" } } }"#,
            r#"{ basic = { username = "p", password = { vault = "http://127.0.0.1:8200/", path = "secret/data/p", field = "pw", token = { env = "VAULT_TOKEN" } } } }"#,
            r#"{ managed_identity = { resource = "api://managers", client_id = "cid" } }"#,
            r#"{ managed_identity = { resource = "api://managers" } }"#,
            r#"{ connection = "managers-eu" }"#,
        ] {
            let parsed = AuthReference::parse(text).unwrap();
            assert_eq!(parsed.as_str(), text);
            assert_eq!(AuthReference::parse(parsed.as_str()).unwrap(), parsed);
        }
    }

    #[test]
    fn plain_secrets_and_bad_text_are_refused_without_echo() {
        let plain = r#"{ basic = { username = "p", password = "hunter2-secret" } }"#;
        assert_eq!(AuthReference::parse(plain), Err(AuthReferenceError::PlainSecret));
        let token = r#"{ basic = { username = "p", password = { vault = "http://127.0.0.1:8200", path = "s/data/p", field = "f", token = "s.hunter2" } } }"#;
        assert_eq!(AuthReference::parse(token), Err(AuthReferenceError::PlainSecret));
        for bad in ["hunter2-secret", "{ basic = { username = \"p\" } }", "{ nope = 1 }", "{ env = \"X\" } x"]
        {
            let error = AuthReference::parse(bad).unwrap_err().to_string();
            assert!(!error.contains("hunter2"), "{error}");
        }
    }
}
