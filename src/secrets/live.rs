//! A secret that may change while Portico runs: readers always get the last good value.

use std::sync::{Arc, RwLock, Weak};
use std::time::{Duration, SystemTime};

use secrecy::SecretString;

use super::{Fetched, Secrets};
use crate::config::SecretRef;

/// A secret's state for reports; never its value.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SecretStatus {
    /// The config key it is used for.
    pub key: String,
    /// Where it comes from (e.g. "Vault secret secret/data/portico#x at http://…").
    pub source: String,
    /// The version in use, when the store tells.
    pub version: Option<String>,
    /// When the value in use was read.
    #[serde(skip)]
    pub read_at: SystemTime,
    /// The last refresh's error; `None` when it succeeded.
    pub error: Option<String>,
}

pub(super) struct Shared {
    value: RwLock<SecretString>,
    status: RwLock<SecretStatus>,
}

/// A handle to a secret's current value. Cloning is cheap; the background refresh stops when
/// the last handle is dropped.
#[derive(Clone)]
pub struct LiveSecret {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for LiveSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LiveSecret([redacted])")
    }
}

/// Two handles are equal when they are the same secret (not when the values match).
impl PartialEq for LiveSecret {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.shared, &other.shared)
    }
}

impl LiveSecret {
    pub(super) fn new(key: &str, source: String, first: Fetched, now: SystemTime) -> Self {
        let status =
            SecretStatus { key: key.to_owned(), source, version: first.version, read_at: now, error: None };
        Self { shared: Arc::new(Shared { value: RwLock::new(first.value), status: RwLock::new(status) }) }
    }

    pub(super) fn from_shared(shared: Arc<Shared>) -> Self {
        Self { shared }
    }

    pub(super) fn downgrade(&self) -> Weak<Shared> {
        Arc::downgrade(&self.shared)
    }

    /// The value to use now.
    pub fn current(&self) -> SecretString {
        self.shared.value.read().map(|v| v.clone()).unwrap_or_else(|p| p.into_inner().clone())
    }

    pub fn status(&self) -> SecretStatus {
        self.shared.status.read().map(|s| s.clone()).unwrap_or_else(|p| p.into_inner().clone())
    }

    fn update(&self, result: Result<Fetched, String>, now: SystemTime) {
        let mut status = self.shared.status.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        match result {
            Ok(fetched) => {
                let changed = fetched.version.is_some() && fetched.version != status.version;
                *self.shared.value.write().unwrap_or_else(std::sync::PoisonError::into_inner) = fetched.value;
                if changed || status.error.is_some() {
                    tracing::info!(key = %status.key, version = fetched.version.as_deref().unwrap_or(""), "secret refreshed");
                }
                status.version = fetched.version;
                status.read_at = now;
                status.error = None;
            }
            Err(reason) => {
                tracing::warn!(key = %status.key, error = %reason, "secret refresh failed; keeping the last good value");
                status.error = Some(reason);
            }
        }
    }

    /// Re-reads `reference` every `every` while any handle lives.
    pub(super) fn keep_fresh(&self, secrets: Secrets, reference: SecretRef, every: Duration) {
        let weak = self.downgrade();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                let result = secrets.fetch(&reference).await.map_err(|e| e.to_string());
                let Some(shared) = weak.upgrade() else { return };
                LiveSecret::from_shared(shared).update(result, secrets.clock().now());
            }
        });
    }
}
