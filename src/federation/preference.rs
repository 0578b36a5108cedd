//! The environment a consumer last picked, remembered for their next sign-in.
//!
//! Stored under a keyed hash of the login name, so the store never holds a username in clear;
//! the value is only an environment id. A store that cannot be read or written loses the
//! preference, never a sign-in.

use std::sync::Arc;
use std::time::Duration;

use crate::crypto::Keys;
use crate::domain::EnvironmentId;
use crate::store::KvStore;

/// How long an unused preference is kept; every sign-in that reads it starts the period again.
pub const PREFERENCE_TTL: Duration = Duration::from_secs(180 * 24 * 60 * 60);

#[derive(Clone)]
pub struct Preferences {
    kv: KvStore,
    keys: Arc<Keys>,
}

impl Preferences {
    pub fn new(kv: KvStore, keys: Arc<Keys>) -> Self {
        Self { kv, keys }
    }

    /// `pref:env:{hash}`; login names compare without case, like the managers' do.
    fn key(&self, login_name: &str) -> String {
        format!("pref:env:{}", self.keys.lookup_hash("pref-env", login_name.to_lowercase().as_bytes()))
    }

    pub async fn remember(&self, login_name: &str, environment: &EnvironmentId) {
        let key = self.key(login_name);
        if let Err(e) = self.kv.set(&key, environment.as_str().as_bytes(), Some(PREFERENCE_TTL)).await {
            tracing::warn!(error = %e, "could not remember the chosen environment");
        }
    }

    pub async fn recall(&self, login_name: &str) -> Option<EnvironmentId> {
        match self.kv.get_and_touch(&self.key(login_name), PREFERENCE_TTL).await {
            Ok(value) => {
                value.and_then(|v| String::from_utf8(v).ok()).and_then(|v| EnvironmentId::parse(&v).ok())
            }
            Err(e) => {
                tracing::warn!(error = %e, "could not read the preferred environment");
                None
            }
        }
    }
}
