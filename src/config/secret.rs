//! Secret values in the configuration: where they come from, and types that never print them.
//!
//! A secret is `{ env = "NAME" }`, `{ file = "/run/secrets/x" }`, or (development only) a plain
//! string, which `check-config` warns about.

use std::path::PathBuf;

use secrecy::SecretString;
use serde::Deserialize;

/// A reference to a secret, as written in the config file. Resolving it yields a
/// [`SecretString`]; neither type prints the value in `Debug`.
#[derive(Clone, Deserialize)]
#[serde(untagged)]
pub enum SecretRef {
    /// A value written in the file itself (warned about unless it is public, like a default).
    Plain(#[serde(deserialize_with = "plain")] SecretString),
    Env {
        env: String,
    },
    File {
        file: PathBuf,
    },
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
}

fn plain<'de, D: serde::Deserializer<'de>>(d: D) -> Result<SecretString, D::Error> {
    String::deserialize(d).map(SecretString::from)
}

impl SecretRef {
    /// A non-secret default written as a plain value (e.g. the default SQLite URL).
    pub fn plain_public(value: &str) -> Self {
        SecretRef::Plain(SecretString::from(value.to_owned()))
    }

    pub fn is_plain(&self) -> bool {
        matches!(self, SecretRef::Plain(_))
    }

    /// Reads the secret now. The value is trimmed of one trailing newline (files).
    pub fn resolve(&self) -> Result<SecretString, SecretError> {
        use secrecy::ExposeSecret;
        let value = match self {
            SecretRef::Plain(v) => return Ok(v.clone()),
            SecretRef::Env { env } => match std::env::var(env) {
                Ok(v) => v,
                Err(std::env::VarError::NotPresent) => {
                    return Err(SecretError::EnvMissing(env.clone()));
                }
                Err(std::env::VarError::NotUnicode(_)) => {
                    return Err(SecretError::EnvNotUnicode(env.clone()));
                }
            },
            SecretRef::File { file } => std::fs::read_to_string(file)
                .map(|mut v| {
                    if v.ends_with('\n') {
                        v.pop();
                        if v.ends_with('\r') {
                            v.pop();
                        }
                    }
                    v
                })
                .map_err(|e| SecretError::File { path: file.clone(), reason: e.kind().to_string() })?,
        };
        if value.is_empty() {
            return Err(SecretError::Empty);
        }
        let secret = SecretString::from(value);
        debug_assert!(!secret.expose_secret().is_empty());
        Ok(secret)
    }
}

impl std::fmt::Debug for SecretRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SecretRef::Plain(_) => f.write_str("SecretRef::Plain([redacted])"),
            SecretRef::Env { env } => write!(f, "SecretRef::Env({env})"),
            SecretRef::File { file } => write!(f, "SecretRef::File({})", file.display()),
        }
    }
}
