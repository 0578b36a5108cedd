//! The sorted index of live sessions of a namespace (`index:session`), so counting them needs no
//! scan of the keyspace. Member: the session's store key; score: when it expires unless read
//! again. A count drops the members past their score first, so a session that expired on its own
//! is never counted.
//!
//! The entry follows the session: a write puts it there, a read moves its score at most once per
//! [`SLACK_MS`] and replica (never adding one), and ending it removes it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::{KvStore, StoreError};
use crate::clock::SharedClock;

/// How stale a session's entry may get before a read moves it: the count is exact to within this
/// much of the idle timeout.
const SLACK_MS: i64 = 60_000;
/// At most this many sessions are remembered as recently indexed (then the memory starts over).
const REMEMBERED: usize = 10_000;

#[derive(Clone)]
pub(super) struct SessionIndex {
    kv: KvStore,
    clock: SharedClock,
    /// `index:session`.
    name: String,
    /// When this replica last moved each session's entry.
    moved: Arc<Mutex<HashMap<String, i64>>>,
}

impl SessionIndex {
    pub fn new(kv: KvStore, clock: SharedClock, domain: &str) -> Self {
        let name = format!("index:{}", domain.trim_end_matches(':'));
        Self { kv, clock, name, moved: Arc::default() }
    }

    fn until(&self, ttl: Duration) -> i64 {
        self.clock.now_millis().saturating_add(i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX))
    }

    /// After a write of the session stored under `key`, live for `ttl`.
    pub async fn written(&self, key: &str, ttl: Duration) -> Result<(), StoreError> {
        self.kv.index_put(&self.name, key, self.until(ttl), false).await?;
        self.remember(key);
        Ok(())
    }

    /// After a read that slid the idle timeout to `ttl`: moves the entry there, when this replica
    /// has not for a while. Only an entry that exists is moved: a read never adds one.
    pub async fn read(&self, key: &str, ttl: Duration) -> Result<(), StoreError> {
        if !self.due(key) {
            return Ok(());
        }
        self.kv.index_put(&self.name, key, self.until(ttl), true).await?;
        self.remember(key);
        Ok(())
    }

    /// After the session ended.
    pub async fn ended(&self, key: &str) -> Result<(), StoreError> {
        self.kv.index_remove(&self.name, key).await?;
        if let Ok(mut moved) = self.moved.lock() {
            moved.remove(key);
        }
        Ok(())
    }

    /// When the session expires unless read again, as its index entry says.
    pub async fn expires(&self, key: &str) -> Result<Option<i64>, StoreError> {
        self.kv.index_score(&self.name, key).await
    }

    /// How many sessions are live.
    pub async fn count(&self) -> Result<u64, StoreError> {
        self.kv.index_count(&self.name, self.clock.now_millis()).await
    }

    fn due(&self, key: &str) -> bool {
        let now = self.clock.now_millis();
        self.moved.lock().map_or(true, |moved| moved.get(key).is_none_or(|at| now - at >= SLACK_MS))
    }

    fn remember(&self, key: &str) {
        if let Ok(mut moved) = self.moved.lock() {
            if moved.len() >= REMEMBERED {
                moved.clear();
            }
            moved.insert(key.to_owned(), self.clock.now_millis());
        }
    }
}
