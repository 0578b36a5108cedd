//! Sessions in the key-value store (portal sessions, and admin sessions in a namespace of their
//! own): sealed (encrypted and authenticated) with a key derived from `session.secret`, stored
//! under a keyed hash of the session id (so reading Redis gives neither the session contents nor
//! a usable id), with a sliding idle timeout and an absolute one.

use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::{KvStore, StoreError};
use crate::clock::SharedClock;
use crate::crypto::{Keys, random_token};

/// A session id as carried by the cookie: 32 CSPRNG bytes, base64url (256 bits).
#[derive(Clone, PartialEq, Eq)]
pub struct SessionId(String);

impl SessionId {
    fn generate() -> Self {
        Self(random_token(32))
    }

    /// Accepts only what [`SessionId::generate`] produces; anything else is not a session.
    pub fn parse(raw: &str) -> Option<Self> {
        let ok = raw.len() == 43 && raw.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        ok.then(|| Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for SessionId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionId([redacted])")
    }
}

#[derive(Serialize, Deserialize)]
struct Envelope<T> {
    created_at: i64,
    data: T,
}

/// A loaded session.
#[derive(Debug, Clone)]
pub struct Session<T> {
    pub id: SessionId,
    pub created_at: i64,
    pub data: T,
}

#[derive(Clone)]
pub struct SessionStore {
    kv: KvStore,
    keys: Arc<Keys>,
    idle: Duration,
    absolute: Duration,
    clock: SharedClock,
    /// Key namespace (after `redis.key_prefix`), e.g. [`SESSION_PREFIX`].
    prefix: &'static str,
    /// Keyed-hash domain of the ids: an id of one namespace means nothing in another.
    domain: &'static str,
}

/// Key namespace of portal sessions (after `redis.key_prefix`).
pub const SESSION_PREFIX: &str = "session:";

impl SessionStore {
    /// The portal sessions' store.
    pub fn new(kv: KvStore, keys: Arc<Keys>, idle: Duration, absolute: Duration, clock: SharedClock) -> Self {
        Self { kv, keys, idle, absolute, clock, prefix: SESSION_PREFIX, domain: "session" }
    }

    /// A store of other sessions (admin sessions) under `prefix`, with their own timeouts.
    pub fn namespaced(
        kv: KvStore,
        keys: Arc<Keys>,
        idle: Duration,
        absolute: Duration,
        clock: SharedClock,
        prefix: &'static str,
    ) -> Self {
        Self { kv, keys, idle, absolute, clock, prefix, domain: prefix }
    }

    fn key(&self, id: &SessionId) -> String {
        format!("{}{}", self.prefix, self.keys.lookup_hash(self.domain, id.0.as_bytes()))
    }

    /// The idle timeout (sliding).
    pub fn idle_timeout(&self) -> Duration {
        self.idle
    }

    /// Time left before the absolute timeout, capped by the idle timeout.
    fn ttl(&self, created_at: i64) -> Option<Duration> {
        let age = u64::try_from(self.clock.now_millis().saturating_sub(created_at)).unwrap_or(0);
        let left = self.absolute.checked_sub(Duration::from_millis(age))?;
        (!left.is_zero()).then(|| left.min(self.idle))
    }

    /// Stores a new session under a new id.
    pub async fn create<T: Serialize>(&self, data: T) -> Result<Session<T>, StoreError> {
        let session = Session { id: SessionId::generate(), created_at: self.clock.now_millis(), data };
        self.save(&session).await?;
        Ok(session)
    }

    /// Writes the session back (after a change), keeping its creation time.
    pub async fn save<T: Serialize>(&self, session: &Session<T>) -> Result<(), StoreError> {
        let Some(ttl) = self.ttl(session.created_at) else {
            return self.destroy(&session.id).await;
        };
        let key = self.key(&session.id);
        let envelope = Envelope { created_at: session.created_at, data: &session.data };
        let plain = serde_json::to_vec(&envelope).map_err(|e| StoreError::Protocol(e.to_string()))?;
        let sealed = self
            .keys
            .seal(key.as_bytes(), &plain)
            .ok_or_else(|| StoreError::Protocol("cannot seal the session".to_owned()))?;
        self.kv.set(&key, &sealed, Some(ttl)).await
    }

    /// Loads a session and slides its idle timeout in the same round trip. `None` for an
    /// unknown, expired, tampered or undecodable session.
    pub async fn load<T: DeserializeOwned>(&self, id: &SessionId) -> Result<Option<Session<T>>, StoreError> {
        let key = self.key(id);
        let Some(sealed) = self.kv.get_and_touch(&key, self.idle).await? else {
            return Ok(None);
        };
        let Some(plain) = self.keys.open(key.as_bytes(), &sealed) else {
            tracing::warn!("a stored session failed authentication; treating it as signed out");
            return Ok(None);
        };
        let Ok(envelope) = serde_json::from_slice::<Envelope<T>>(&plain) else {
            return Ok(None);
        };
        if self.ttl(envelope.created_at).is_none() {
            self.kv.delete(&key).await?;
            return Ok(None);
        }
        Ok(Some(Session { id: id.clone(), created_at: envelope.created_at, data: envelope.data }))
    }

    pub async fn destroy(&self, id: &SessionId) -> Result<(), StoreError> {
        self.kv.delete(&self.key(id)).await.map(|_| ())
    }

    /// How many sessions exist (admin dashboard; scans, so not for hot paths).
    pub async fn count(&self) -> Result<u64, StoreError> {
        self.kv.count_prefix(self.prefix).await
    }
}
