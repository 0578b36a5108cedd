//! Sorted indexes of live sessions, so figures need no scan of the keyspace: one of every session
//! of a namespace (`index:session`), and one per group a session's data puts it in
//! (`index:session@GROUP`; for portal sessions, each environment they have joined). Member: the
//! session's store key; score: when it expires unless read again. A count drops the members past
//! their score first, so a session that expired on its own is never counted.
//!
//! The entries follow the session: a write puts it in its groups and takes it out of those it
//! left, a read moves its scores at most once per [`SLACK_MS`] and replica (never adding one), and
//! ending it removes it from all of them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::future::try_join_all;

use super::{KvStore, StoreError};
use crate::clock::SharedClock;

/// How stale a session's entries may get before a read moves them: the counts are exact to
/// within this much of the idle timeout.
const SLACK_MS: i64 = 60_000;
/// At most this many sessions are remembered as recently indexed (then the memory starts over).
const REMEMBERED: usize = 10_000;

/// The groups a session's data puts it in, for figures per group.
pub trait Grouped {
    /// The groups it is in, and those it knows of but is no longer in (so a rewrite can take it
    /// out of them without reading what was stored before). None by default.
    fn groups(&self) -> Groups {
        Groups::default()
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Groups {
    pub member_of: Vec<String>,
    pub left: Vec<String>,
}

#[derive(Clone)]
pub(super) struct SessionIndex {
    kv: KvStore,
    clock: SharedClock,
    /// `index:session`, and `index:session@GROUP` for the groups.
    name: String,
    /// When this replica last moved each session's entries.
    moved: Arc<Mutex<HashMap<String, i64>>>,
}

impl SessionIndex {
    pub fn new(kv: KvStore, clock: SharedClock, domain: &str) -> Self {
        let name = format!("index:{}", domain.trim_end_matches(':'));
        Self { kv, clock, name, moved: Arc::default() }
    }

    fn group_key(&self, group: &str) -> String {
        format!("{}@{group}", self.name)
    }

    fn until(&self, ttl: Duration) -> i64 {
        self.clock.now_millis().saturating_add(i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX))
    }

    /// After a write of the session stored under `key`, live for `ttl`: in the index and its
    /// groups, out of the groups it left.
    pub async fn written(&self, key: &str, ttl: Duration, groups: &Groups) -> Result<(), StoreError> {
        let until = self.until(ttl);
        let put = std::iter::once(self.name.clone())
            .chain(groups.member_of.iter().map(|g| self.group_key(g)))
            .map(|index| async move { self.kv.index_put(&index, key, until, false).await });
        let removed =
            groups.left.iter().map(|g| async move { self.kv.index_remove(&self.group_key(g), key).await });
        tokio::try_join!(try_join_all(put), try_join_all(removed))?;
        self.remember(key);
        Ok(())
    }

    /// After a read that slid the idle timeout to `ttl`: moves the entries there, when this replica
    /// has not for a while. Only entries that exist are moved: a read never adds one.
    pub async fn read(&self, key: &str, ttl: Duration, member_of: &[String]) -> Result<(), StoreError> {
        if !self.due(key) {
            return Ok(());
        }
        let until = self.until(ttl);
        let moves = std::iter::once(self.name.clone())
            .chain(member_of.iter().map(|g| self.group_key(g)))
            .map(|index| async move { self.kv.index_put(&index, key, until, true).await });
        try_join_all(moves).await?;
        self.remember(key);
        Ok(())
    }

    /// After the session ended: out of the index and of the groups it was in.
    pub async fn ended(&self, key: &str, member_of: &[String]) -> Result<(), StoreError> {
        let removals = std::iter::once(self.name.clone())
            .chain(member_of.iter().map(|g| self.group_key(g)))
            .map(|index| async move { self.kv.index_remove(&index, key).await });
        try_join_all(removals).await?;
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

    /// How many live sessions are in `group`.
    pub async fn count_group(&self, group: &str) -> Result<u64, StoreError> {
        self.kv.index_count(&self.group_key(group), self.clock.now_millis()).await
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
