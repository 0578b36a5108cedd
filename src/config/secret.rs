//! Secret values in the configuration: where they come from, and types that never print them.
//!
//! A secret is `{ env = "NAME" }`, `{ file = "/run/secrets/x" }`, or (development only) a plain
//! string, which `check-config` warns about.

use std::fmt;
use std::path::PathBuf;

use secrecy::SecretString;
use serde::de::{self, Deserialize, Deserializer, MapAccess, Visitor};

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

impl SecretRef {
    /// A non-secret default written as a plain value (e.g. the default SQLite URL).
    pub fn plain_public(value: &str) -> Self {
        SecretRef::Plain(SecretString::from(value.to_owned()))
    }

    pub fn is_plain(&self) -> bool {
        matches!(self, SecretRef::Plain(_))
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

const EXPECTED: &str = "a secret: { env = \"NAME\" }, { file = \"PATH\" } or (development only) a string";

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

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<SecretRef, A::Error> {
        let mut found = None;
        while let Some(key) = map.next_key::<String>()? {
            let value = match key.as_str() {
                "env" => SecretRef::Env { env: map.next_value()? },
                "file" => SecretRef::File { file: map.next_value()? },
                other => {
                    return Err(de::Error::custom(format_args!(
                        "unknown secret source `{other}`: expected {EXPECTED}"
                    )));
                }
            };
            if found.replace(value).is_some() {
                return Err(de::Error::custom(format_args!("a secret has exactly one source: {EXPECTED}")));
            }
        }
        found.ok_or_else(|| de::Error::custom(format_args!("empty table: expected {EXPECTED}")))
    }
}
