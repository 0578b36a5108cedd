//! Secret values in the configuration: where they come from, and types that never print them.
//!
//! A secret is `{ env = "NAME" }`, `{ file = "/run/secrets/x" }`, a Key Vault secret read with
//! the managed identity (`{ keyvault = "https://NAME.vault.azure.net/secrets/S", identity = … }`),
//! a HashiCorp Vault / OpenBao KV v2 field (`{ vault = URL, path = …, field = …, token = {…} }`),
//! or (development only) a plain string, which `check-config` warns about. Local sources are
//! read here; remote ones by `crate::secrets`, which also re-reads unversioned ones.

use std::fmt;
use std::path::PathBuf;

use secrecy::SecretString;
use serde::de::{self, Deserialize, Deserializer, MapAccess, Visitor};
use url::Url;

use super::Duration;

/// How often an unversioned remote secret is read again when the reference does not say.
pub const DEFAULT_REFRESH: Duration = Duration::from_secs(4 * 60 * 60);

/// A reference to a secret, as written in the config file. Resolving it yields a
/// [`SecretString`]; neither type prints the value in `Debug`.
#[derive(Clone)]
pub enum SecretRef {
    /// A value written in the file itself (warned about unless it is public, like a default).
    Plain(SecretString),
    Env {
        env: String,
    },
    File {
        file: PathBuf,
    },
    /// An Azure Key Vault secret, read with the managed identity.
    KeyVault(KeyVaultRef),
    /// A HashiCorp Vault / OpenBao KV v2 secret field.
    Vault(VaultRef),
}

/// `{ keyvault = "https://NAME.vault.azure.net/secrets/SECRET[/VERSION]", identity = "CLIENT-ID",
/// refresh = "4h" }`.
#[derive(Clone, Debug, PartialEq)]
pub struct KeyVaultRef {
    /// `https://NAME.vault.azure.net` (scheme, host and port only).
    pub vault: Url,
    pub name: String,
    /// Pinned version; `None` reads the current one, again every `refresh`.
    pub version: Option<String>,
    /// Client id of a user-assigned identity; `None` is the system-assigned identity.
    pub identity: Option<String>,
    pub refresh: Duration,
}

/// `{ vault = "http://127.0.0.1:8200", path = "secret/data/portico", field = "x", token = {…},
/// refresh = "4h" }`.
#[derive(Clone, Debug)]
pub struct VaultRef {
    pub address: Url,
    /// The KV v2 API path after `/v1/` (`MOUNT/data/NAME`).
    pub path: String,
    pub field: String,
    /// The Vault token: itself a secret (env or file, typically).
    pub token: Box<SecretRef>,
    pub refresh: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("environment variable {0} is not set")]
    EnvMissing(String),
    #[error("environment variable {0} is not valid UTF-8")]
    EnvNotUnicode(String),
    #[error("cannot read secret file {path}: {reason}")]
    File { path: PathBuf, reason: String },
    #[error("the secret is empty")]
    Empty,
    /// A remote secret asked of the local resolver (a bug, not an operator mistake).
    #[error("this secret is read from {0}, which needs the secret resolver")]
    Remote(&'static str),
}

impl SecretRef {
    /// A non-secret default written as a plain value (e.g. the default SQLite URL).
    pub fn plain_public(value: &str) -> Self {
        SecretRef::Plain(SecretString::from(value.to_owned()))
    }

    pub fn is_plain(&self) -> bool {
        matches!(self, SecretRef::Plain(_))
    }

    /// Read over the network (Key Vault, Vault) rather than from this machine.
    pub fn is_remote(&self) -> bool {
        matches!(self, SecretRef::KeyVault(_) | SecretRef::Vault(_))
    }

    /// What the reference points at, for messages (never the value).
    pub fn describe(&self) -> String {
        match self {
            SecretRef::Plain(_) => "a plain value".to_owned(),
            SecretRef::Env { env } => format!("environment variable {env}"),
            SecretRef::File { file } => format!("file {}", file.display()),
            SecretRef::KeyVault(r) => format!("Key Vault secret {} in {}", r.name, r.vault),
            SecretRef::Vault(r) => format!("Vault secret {}#{} at {}", r.path, r.field, r.address),
        }
    }

    /// Reads the secret now from the process environment or the file system. The value is
    /// trimmed of one trailing newline (files).
    pub fn resolve(&self) -> Result<SecretString, SecretError> {
        self.resolve_with(&|name| match std::env::var(name) {
            Ok(v) => Ok(Some(v)),
            Err(std::env::VarError::NotPresent) => Ok(None),
            Err(std::env::VarError::NotUnicode(_)) => Err(SecretError::EnvNotUnicode(name.to_owned())),
        })
    }

    /// Like [`SecretRef::resolve`], with environment variables looked up by `env` (the config
    /// loader checks references against the environment it was given, not the process's).
    pub fn resolve_with(
        &self,
        env: &dyn Fn(&str) -> Result<Option<String>, SecretError>,
    ) -> Result<SecretString, SecretError> {
        let value = match self {
            SecretRef::Plain(v) => return Ok(v.clone()),
            SecretRef::Env { env: name } => {
                env(name)?.ok_or_else(|| SecretError::EnvMissing(name.clone()))?
            }
            SecretRef::File { file } => std::fs::read_to_string(file)
                .map(trim_one_newline)
                .map_err(|e| SecretError::File { path: file.clone(), reason: e.kind().to_string() })?,
            SecretRef::KeyVault(_) => return Err(SecretError::Remote("Key Vault")),
            SecretRef::Vault(_) => return Err(SecretError::Remote("Vault")),
        };
        if value.is_empty() {
            return Err(SecretError::Empty);
        }
        Ok(SecretString::from(value))
    }
}

fn trim_one_newline(mut v: String) -> String {
    if v.ends_with('\n') {
        v.pop();
        if v.ends_with('\r') {
            v.pop();
        }
    }
    v
}

impl fmt::Debug for SecretRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretRef::Plain(_) => f.write_str("SecretRef::Plain([redacted])"),
            SecretRef::Env { env } => write!(f, "SecretRef::Env({env})"),
            SecretRef::File { file } => write!(f, "SecretRef::File({})", file.display()),
            SecretRef::KeyVault(r) => write!(f, "SecretRef::KeyVault({}/secrets/{})", r.vault, r.name),
            SecretRef::Vault(r) => write!(f, "SecretRef::Vault({} {}#{})", r.address, r.path, r.field),
        }
    }
}

/// Written by hand so that a mistake yields a message that names the accepted forms and never
/// echoes the value (serde's untagged enums say only "did not match any variant").
impl<'de> Deserialize<'de> for SecretRef {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(SecretRefVisitor)
    }
}

struct SecretRefVisitor;

const EXPECTED: &str = "a secret: { env = \"NAME\" }, { file = \"PATH\" }, { keyvault = \"URL\" }, \
                        { vault = \"URL\", path = \"…\", field = \"…\", token = {…} } or (development only) a string";

/// Every key a secret table may have; which combination is valid is checked after.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRef {
    env: Option<String>,
    file: Option<PathBuf>,
    keyvault: Option<String>,
    identity: Option<String>,
    vault: Option<String>,
    path: Option<String>,
    field: Option<String>,
    token: Option<Box<SecretRef>>,
    refresh: Option<Duration>,
}

impl RawRef {
    fn into_ref(self) -> Result<SecretRef, String> {
        let sources =
            [self.env.is_some(), self.file.is_some(), self.keyvault.is_some(), self.vault.is_some()];
        match sources.iter().filter(|s| **s).count() {
            0 => return Err(format!("no secret source: expected {EXPECTED}")),
            1 => {}
            _ => return Err(format!("a secret has exactly one source: {EXPECTED}")),
        }
        let only_for = |key: &str, present: bool, kind: &str| {
            if present { Err(format!("`{key}` belongs to a {kind} secret")) } else { Ok(()) }
        };
        if self.env.is_some() || self.file.is_some() {
            only_for("refresh", self.refresh.is_some(), "keyvault or vault")?;
            only_for("identity", self.identity.is_some(), "keyvault")?;
            only_for("path", self.path.is_some(), "vault")?;
            only_for("field", self.field.is_some(), "vault")?;
            only_for("token", self.token.is_some(), "vault")?;
        }
        if let Some(env) = self.env {
            return Ok(SecretRef::Env { env });
        }
        if let Some(file) = self.file {
            return Ok(SecretRef::File { file });
        }
        let refresh = self.refresh.unwrap_or(DEFAULT_REFRESH);
        if refresh.get().is_zero() {
            return Err("`refresh` must be longer than zero".to_owned());
        }
        if let Some(raw) = self.keyvault {
            only_for("path", self.path.is_some(), "vault")?;
            only_for("field", self.field.is_some(), "vault")?;
            only_for("token", self.token.is_some(), "vault")?;
            let (vault, name, version) = parse_keyvault(&raw)?;
            return Ok(SecretRef::KeyVault(KeyVaultRef {
                vault,
                name,
                version,
                identity: self.identity,
                refresh,
            }));
        }
        only_for("identity", self.identity.is_some(), "keyvault")?;
        let raw = self.vault.unwrap_or_default();
        let address = Url::parse(&raw).map_err(|e| format!("`vault` {raw:?} is not a URL ({e})"))?;
        if !matches!(address.scheme(), "http" | "https") || address.host_str().is_none() {
            return Err(format!("`vault` {raw:?} must be an http:// or https:// URL with a host"));
        }
        let path = self
            .path
            .filter(|p| !p.trim_matches('/').is_empty())
            .ok_or("a vault secret needs `path` (e.g. \"secret/data/portico\")")?;
        let field = self.field.filter(|f| !f.is_empty()).ok_or("a vault secret needs `field`")?;
        let token = self
            .token
            .ok_or("a vault secret needs `token` (itself a secret, e.g. { env = \"VAULT_TOKEN\" })")?;
        if token.is_remote() {
            return Err("a vault `token` must be an env, file or plain secret".to_owned());
        }
        Ok(SecretRef::Vault(VaultRef {
            address,
            path: path.trim_matches('/').to_owned(),
            field,
            token,
            refresh,
        }))
    }
}

/// `https://NAME.vault.azure.net/secrets/SECRET[/VERSION]` → vault URL, name, version. Plain
/// `http` is accepted only for a loopback host (a local test endpoint).
fn parse_keyvault(raw: &str) -> Result<(Url, String, Option<String>), String> {
    let url = Url::parse(raw).map_err(|e| format!("`keyvault` {raw:?} is not a URL ({e})"))?;
    let loopback = matches!(url.host(), Some(url::Host::Ipv4(ip)) if ip.is_loopback())
        || matches!(url.host(), Some(url::Host::Ipv6(ip)) if ip.is_loopback())
        || url.host_str() == Some("localhost");
    if !(url.scheme() == "https" || (url.scheme() == "http" && loopback)) {
        return Err(format!("`keyvault` {raw:?} must be an https:// URL"));
    }
    let segments: Vec<&str> =
        url.path_segments().map(|s| s.filter(|p| !p.is_empty()).collect()).unwrap_or_default();
    let (name, version) = match segments.as_slice() {
        ["secrets", name] => (*name, None),
        ["secrets", name, version] => (*name, Some((*version).to_owned())),
        _ => {
            return Err(format!(
                "`keyvault` {raw:?} must look like https://NAME.vault.azure.net/secrets/SECRET[/VERSION]"
            ));
        }
    };
    let valid =
        |s: &str| !s.is_empty() && s.len() <= 127 && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    if !valid(name) || version.as_deref().is_some_and(|v| !valid(v)) {
        return Err(format!("`keyvault` {raw:?}: secret names and versions are letters, digits and '-'"));
    }
    let mut vault = url.clone();
    vault.set_path("");
    vault.set_query(None);
    vault.set_fragment(None);
    Ok((vault, name.to_owned(), version))
}

impl<'de> Visitor<'de> for SecretRefVisitor {
    type Value = SecretRef;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(EXPECTED)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<SecretRef, E> {
        Ok(SecretRef::Plain(SecretString::from(v.to_owned())))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<SecretRef, E> {
        Ok(SecretRef::Plain(SecretString::from(v)))
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<SecretRef, A::Error> {
        let raw = RawRef::deserialize(de::value::MapAccessDeserializer::new(map))?;
        raw.into_ref().map_err(de::Error::custom)
    }
}

#[cfg(test)]
mod reference_tests {
    use super::*;

    fn parse(toml_value: &str) -> Result<SecretRef, String> {
        #[derive(serde::Deserialize)]
        struct Holder {
            #[allow(dead_code)]
            s: SecretRef,
        }
        toml::from_str::<Holder>(&format!("s = {toml_value}")).map(|h| h.s).map_err(|e| e.to_string())
    }

    #[test]
    fn key_vault_references_name_the_secret_and_version() {
        let r =
            parse(r#"{ keyvault = "https://kv1.vault.azure.net/secrets/db-pass/0a1b", identity = "cid" }"#);
        let Ok(SecretRef::KeyVault(kv)) = r else { panic!("{r:?}") };
        assert_eq!(kv.vault.as_str(), "https://kv1.vault.azure.net/");
        assert_eq!((kv.name.as_str(), kv.version.as_deref()), ("db-pass", Some("0a1b")));
        assert_eq!(kv.identity.as_deref(), Some("cid"));
        assert_eq!(kv.refresh, DEFAULT_REFRESH);
    }

    #[test]
    fn bad_references_say_what_is_wrong() {
        let cases = [
            (r#"{ keyvault = "http://kv1.vault.azure.net/secrets/x" }"#, "must be an https:// URL"),
            (r#"{ keyvault = "https://kv1.vault.azure.net/keys/x" }"#, "must look like"),
            (
                r#"{ keyvault = "https://kv1.vault.azure.net/secrets/x", field = "y" }"#,
                "belongs to a vault secret",
            ),
            (r#"{ env = "X", refresh = "1h" }"#, "belongs to a keyvault or vault secret"),
            (
                r#"{ vault = "http://127.0.0.1:8200", path = "secret/data/p", token = { env = "T" } }"#,
                "needs `field`",
            ),
            (r#"{ vault = "http://127.0.0.1:8200", path = "secret/data/p", field = "f" }"#, "needs `token`"),
            (r#"{ env = "X", file = "/y" }"#, "exactly one source"),
            (r#"{ nope = "X" }"#, "unknown field"),
        ];
        for (input, expected) in cases {
            let error = parse(input).err().unwrap_or_default();
            assert!(error.contains(expected), "{input}: {error}");
        }
        assert!(
            parse(r#"{ keyvault = "http://127.0.0.1:8080/secrets/x" }"#).is_ok(),
            "loopback test endpoints"
        );
    }
}
