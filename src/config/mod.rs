//! Configuration: the TOML file, `PORTICO__SECTION__KEY` overrides, validation and secrets.
//!
//! `load` returns either checked [`Settings`] (plus warnings) or every problem found, each naming
//! its key, its line in the file and the environment variable that overrides it.

mod auth_reference;
mod check_credentials;
mod credentials;
mod duration;
mod file;
mod identity;
mod load;
mod overrides;
mod redis;
mod report;
mod secret;
mod settings;
mod tree;
mod typed;
mod validate;

#[cfg(test)]
mod credential_tests;
#[cfg(test)]
mod tests;

pub use auth_reference::{AuthReference, AuthReferenceError};
pub use credentials::{AccessPolicy, ConnectionSettings, CredentialProviderSettings, Grant};
pub use duration::Duration;
pub use identity::*;
pub use load::{ConfigProblem, ConfigReport, Severity, load, load_from_sources};
pub use redis::*;
pub use secret::{DEFAULT_REFRESH, KeyVaultRef, SecretError, SecretRef, VaultRef};
pub use settings::*;

/// Where `serve`, `check-config` and `migrate` look when no `--config` is given.
pub const DEFAULT_CONFIG_PATH: &str = "config/portico.toml";
/// The environment variable that names the config file.
pub const CONFIG_PATH_ENV: &str = "PORTICO_CONFIG";
/// Prefix of the per-key environment overrides (`PORTICO__SERVER__LISTEN`).
pub const ENV_PREFIX: &str = "PORTICO__";
