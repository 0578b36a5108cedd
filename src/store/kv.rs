//! The key-value store interface shared by Redis and the in-process store.
//!
//! Keys given to these methods are relative: the store adds `redis.key_prefix` itself, so no
//! caller can forget it and every replica agrees on the layout.

use std::time::Duration;

use super::{MemoryStore, RedisStore};

#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// The store could not be reached or did not answer in time.
    #[error("session store unavailable: {0}")]
    Unavailable(String),
    /// The store answered something unexpected.
    #[error("session store error: {0}")]
    Protocol(String),
}

/// What [`KvStore::admit`] decided about one attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Counted: this is attempt number `n` of the window.
    Counted(i64),
    /// Refused: a lock stands, ending in this long.
    Locked(Duration),
    /// Refused, and not counted: as many attempts as are allowed are already counted (some may
    /// still be in flight).
    Full,
}

/// The key-value store in use. An enum rather than a trait object: two implementations, no
/// boxing on the hot path.
#[derive(Clone)]
pub enum KvStore {
    Redis(RedisStore),
    Memory(MemoryStore),
}

macro_rules! dispatch {
    ($self:ident, $store:ident => $call:expr) => {
        match $self {
            KvStore::Redis($store) => $call,
            KvStore::Memory($store) => $call,
        }
    };
}

impl KvStore {
    /// `redis` or `memory`, for `/readyz` and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            KvStore::Redis(_) => "redis",
            KvStore::Memory(_) => "memory",
        }
    }

    /// The Redis nodes in use and whether they answer (`None` for the in-process store).
    pub async fn nodes(&self) -> Option<(&'static str, Vec<super::redis::NodeStatus>)> {
        match self {
            KvStore::Redis(redis) => Some((redis.form(), redis.nodes().await)),
            KvStore::Memory(_) => None,
        }
    }

    pub async fn ping(&self) -> Result<(), StoreError> {
        dispatch!(self, s => s.ping().await)
    }

    pub async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        dispatch!(self, s => s.get(key).await)
    }

    /// Reads a value and, in the same round trip, resets its time to live (sliding expiry).
    pub async fn get_and_touch(&self, key: &str, ttl: Duration) -> Result<Option<Vec<u8>>, StoreError> {
        dispatch!(self, s => s.get_and_touch(key, ttl).await)
    }

    pub async fn set(&self, key: &str, value: &[u8], ttl: Option<Duration>) -> Result<(), StoreError> {
        dispatch!(self, s => s.set(key, value, ttl).await)
    }

    /// Replaces the value of a key that exists, never creating one (`SET … XX`); `true` when it
    /// did. A rewrite that must not bring back what was deleted meanwhile.
    pub async fn set_existing(&self, key: &str, value: &[u8], ttl: Duration) -> Result<bool, StoreError> {
        dispatch!(self, s => s.set_existing(key, value, ttl).await)
    }

    /// The first `len` bytes of a key's value (`GETRANGE`), without touching it; `None` when the
    /// key does not exist. (A value that is empty reads as absent: the callers store none.)
    pub async fn head(&self, key: &str, len: usize) -> Result<Option<Vec<u8>>, StoreError> {
        dispatch!(self, s => s.head(key, len).await)
    }

    /// Sets the value only when the key does not exist; `true` when it was set.
    pub async fn set_if_absent(&self, key: &str, value: &[u8], ttl: Duration) -> Result<bool, StoreError> {
        dispatch!(self, s => s.set_if_absent(key, value, ttl).await)
    }

    /// Resets the time to live of `key` only while it still holds `value` (a lock's owner renewing
    /// its lease); `true` when it did.
    pub async fn renew_if(&self, key: &str, value: &[u8], ttl: Duration) -> Result<bool, StoreError> {
        dispatch!(self, s => s.renew_if(key, value, ttl).await)
    }

    /// Deletes `key` only while it still holds `value` (a lock released by its owner, never by a
    /// request whose lease ran out and was taken over); `true` when it did.
    pub async fn delete_if(&self, key: &str, value: &[u8]) -> Result<bool, StoreError> {
        dispatch!(self, s => s.delete_if(key, value).await)
    }

    /// Deletes a key; `true` when it existed.
    pub async fn delete(&self, key: &str) -> Result<bool, StoreError> {
        dispatch!(self, s => s.delete(key).await)
    }

    /// Reads and deletes a key in one step (one-use values such as OIDC `state`).
    pub async fn take(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        dispatch!(self, s => s.take(key).await)
    }

    /// Increments a counter; a new counter expires after `window`.
    pub async fn increment(&self, key: &str, window: Duration) -> Result<i64, StoreError> {
        dispatch!(self, s => s.increment(key, window).await)
    }

    /// One attempt against a limit, decided in one atomic step so that parallel attempts cannot
    /// all pass a check before any is counted: refused while `lock` holds a time (ms) after
    /// `now_ms`; otherwise `counter` is incremented (a new one expires after `window`), and the
    /// attempt is counted when that stays within `max`, or refused uncounted (`Full`) beyond it.
    /// Both keys must hash to the same Redis Cluster slot.
    pub async fn admit(
        &self,
        counter: &str,
        lock: &str,
        now_ms: i64,
        window: Duration,
        max: u32,
    ) -> Result<Admission, StoreError> {
        dispatch!(self, s => s.admit(counter, lock, now_ms, window, max).await)
    }

    /// Gives back a counted attempt that was never judged (the manager could not be asked):
    /// decrements `counter` if it still exists.
    pub async fn release(&self, counter: &str) -> Result<(), StoreError> {
        dispatch!(self, s => s.release(counter).await)
    }

    /// Records `member` in the sorted index `index` as live until `until_ms`; with
    /// `only_existing`, only a member already there is updated (a read never adds one).
    pub async fn index_put(
        &self,
        index: &str,
        member: &str,
        until_ms: i64,
        only_existing: bool,
    ) -> Result<(), StoreError> {
        dispatch!(self, s => s.index_put(index, member, until_ms, only_existing).await)
    }

    /// [`KvStore::index_put`] into an index of members that all end within `keep_for` (sessions
    /// under their absolute timeout): the whole index expires `keep_for` after this write, so an
    /// index nobody reads again does not stay behind.
    pub async fn index_put_expiring(
        &self,
        index: &str,
        member: &str,
        until_ms: i64,
        keep_for: Duration,
    ) -> Result<(), StoreError> {
        dispatch!(self, s => s.index_put_expiring(index, member, until_ms, keep_for).await)
    }

    pub async fn index_remove(&self, index: &str, member: &str) -> Result<(), StoreError> {
        dispatch!(self, s => s.index_remove(index, member).await)
    }

    /// Every member of `index` with its score, lowest score first.
    pub async fn index_members(&self, index: &str) -> Result<Vec<(String, i64)>, StoreError> {
        dispatch!(self, s => s.index_members(index).await)
    }

    /// One member's score, when it is in `index`.
    pub async fn index_score(&self, index: &str, member: &str) -> Result<Option<i64>, StoreError> {
        dispatch!(self, s => s.index_score(index, member).await)
    }

    /// The members of `index` still live at `now_ms`; those past their time are dropped.
    pub async fn index_count(&self, index: &str, now_ms: i64) -> Result<u64, StoreError> {
        dispatch!(self, s => s.index_count(index, now_ms).await)
    }

    /// Deletes every key that starts with `prefix`; returns how many.
    pub async fn delete_prefix(&self, prefix: &str) -> Result<u64, StoreError> {
        dispatch!(self, s => s.delete_prefix(prefix).await)
    }

    /// Counts the keys that start with `prefix` (admin figures; not for hot paths).
    pub async fn count_prefix(&self, prefix: &str) -> Result<u64, StoreError> {
        dispatch!(self, s => s.count_prefix(prefix).await)
    }
}
