//! Sessions read a moment ago, kept decrypted and parsed in this process, so a burst of API calls
//! with one session reads, decrypts and parses it once per [`FRESH_FOR`] instead of once per
//! call.
//!
//! A copy never decides alone that a session is still what it was: the caller
//! ([`super::SessionStore`]) serves one only after the store has confirmed, for that request,
//! that the session's key still holds the very value the copy was read from (its [`Version`]:
//! the first bytes of the sealed value, which no other write shares; one `GETRANGE`). What the
//! copy spares is the value: its transfer, its decryption and its parsing. So a session ended or
//! rewritten on any replica (an environment switch, an environment marked for reconnecting) is
//! seen everywhere at the next request, whether or not the notification below has arrived.
//!
//! The window bounds the rest: a copy is served only while it is younger than [`FRESH_FOR`],
//! measured from *before* the read that produced it, so it can never outlive the idle timeout
//! that read set in the store. A write or a destroy on this replica drops the copy at once; other
//! replicas drop theirs when the change bus tells them ([`Change::SessionEnded`],
//! [`Change::SessionChanged`]: memory freed sooner, and a round trip saved), and a
//! resubscription drops everything.
//!
//! A read that started before a copy was dropped must not put the old value back: every drop
//! moves an epoch, and a read inserts its result only if the epoch has not moved since it began.
//!
//! [`Change::SessionEnded`]: super::Change::SessionEnded
//! [`Change::SessionChanged`]: super::Change::SessionChanged

use std::any::Any;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use foldhash::fast::RandomState;
use tokio::sync::broadcast::error::RecvError;

use super::{Change, ChangeBus};
use crate::crypto::SEAL_STAMP_LEN;

/// How long a copy is served without reading the session from the store again (its version is
/// confirmed at every request regardless). One second: the precision of the sliding idle
/// timeout, which the store refreshes at most once per window and session.
pub const FRESH_FOR: Duration = Duration::from_secs(1);

/// The most sessions kept. A window is one second, so this is the number of distinct sessions a
/// replica can serve from memory per second; beyond it the others are read from the store as
/// before. Bounds the memory used (a portal session is one to a few kilobytes).
pub const CAPACITY: usize = 10_000;

pub(super) struct SessionCache {
    map: Mutex<Map>,
    epoch: AtomicU64,
    fresh_for_ms: i64,
}

#[derive(Default)]
struct Map {
    /// By session id (the cookie value): a hit needs no keyed hash. The maps hash with foldhash,
    /// seeded per process: their keys are ids and store keys of sessions that exist, which a
    /// caller cannot choose, so SipHash's resistance to chosen keys buys nothing here.
    by_id: HashMap<String, Entry, RandomState>,
    /// Store key → session id, for the drops announced by store key.
    ids: HashMap<Arc<str>, String, RandomState>,
    /// When stale copies were last swept out of a full cache (at most once per window: with more
    /// fresh sessions than room, a sweep per read would cost more than the reads it saves).
    swept_at: Option<i64>,
}

/// Which stored value of a session a copy was made from: the stamp its seal begins with, drawn
/// at random for each write ([`SEAL_STAMP_LEN`]), so no two writes of a session share one. (Not a
/// secret: every reader of the store sees it.)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Version([u8; SEAL_STAMP_LEN]);

impl Version {
    /// How many bytes of a stored value [`Version::of`] reads.
    pub const LEN: usize = SEAL_STAMP_LEN;

    /// The version of a stored (sealed) value, or of its first [`Version::LEN`] bytes; `None`
    /// when it is shorter (no seal is).
    pub fn of(stored: &[u8]) -> Option<Self> {
        stored.get(..Self::LEN)?.try_into().ok().map(Self)
    }
}

struct Entry {
    /// Steady clock milliseconds (`Clock::steady_millis`) taken before the read that produced
    /// this copy.
    read_at: i64,
    /// When the store last said this copy is current: steady clock milliseconds taken before the
    /// question (or the read) that said so.
    confirmed_at: i64,
    /// The session's store key, whose value is compared with `version` before the copy is served.
    key: Arc<str>,
    /// The stored value this copy was made from.
    version: Version,
    /// An `Arc<Session<T>>`.
    session: Arc<dyn Any + Send + Sync>,
}

/// A fresh copy, the store key to confirm it by, and the version it must still find there.
pub(super) struct Hit<S> {
    pub session: Arc<S>,
    pub key: Arc<str>,
    pub version: Version,
    confirmed_at: i64,
}

impl<S> Hit<S> {
    /// Whether the store said this copy is current less than `window_ms` before `now` (never
    /// when the clock went back).
    pub fn confirmed_within(&self, window_ms: i64, now: i64) -> bool {
        now >= self.confirmed_at && now - self.confirmed_at < window_ms
    }
}

/// The epoch a read started in; hand it back to [`SessionCache::insert`].
#[derive(Clone, Copy)]
pub(super) struct Epoch(u64);

impl SessionCache {
    /// `window` is capped by the caller at the idle timeout.
    pub fn new(window: Duration) -> Self {
        let fresh_for_ms = i64::try_from(window.as_millis()).unwrap_or(i64::MAX);
        Self { map: Mutex::new(Map::default()), epoch: AtomicU64::new(0), fresh_for_ms }
    }

    fn lock(&self) -> MutexGuard<'_, Map> {
        // The map is consistent after any panic-free operation; a poisoned lock still holds it.
        self.map.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn fresh(&self, read_at: i64, now: i64) -> bool {
        // A clock that went backwards makes every copy stale rather than fresh for longer.
        now >= read_at && now - read_at < self.fresh_for_ms
    }

    /// A fresh copy of the session with this id, if there is one, with its store key: not to be
    /// served before the store says that key still holds the copy's version.
    pub fn get<S: Send + Sync + 'static>(&self, id: &str, now: i64) -> Option<Hit<S>> {
        let map = self.lock();
        let entry = map.by_id.get(id).filter(|e| self.fresh(e.read_at, now))?;
        let (session, key, version) = (entry.session.clone(), entry.key.clone(), entry.version);
        let confirmed_at = entry.confirmed_at;
        drop(map);
        Some(Hit { session: session.downcast::<S>().ok()?, key, version, confirmed_at })
    }

    /// Call before reading the store.
    pub fn epoch(&self) -> Epoch {
        Epoch(self.epoch.load(Ordering::Acquire))
    }

    /// Keeps what a read started at `read_at` in `epoch` returned (the stored value's `version`
    /// and the session), unless a drop happened since (the value may predate it) or the cache is
    /// full of fresh copies.
    pub fn insert<S: Send + Sync + 'static>(
        &self,
        id: &str,
        key: String,
        read_at: i64,
        epoch: Epoch,
        (version, session): (Version, Arc<S>),
    ) {
        let mut map = self.lock();
        if self.epoch.load(Ordering::Acquire) != epoch.0 {
            return;
        }
        if map.by_id.len() >= CAPACITY && !map.by_id.contains_key(id) {
            if map.swept_at.is_some_and(|at| self.fresh(at, read_at)) {
                return;
            }
            let Map { by_id, ids, swept_at } = &mut *map;
            *swept_at = Some(read_at);
            by_id.retain(|_, e| self.fresh(e.read_at, read_at));
            ids.retain(|_, id| by_id.contains_key(id));
            if by_id.len() >= CAPACITY {
                return;
            }
        }
        let key: Arc<str> = key.into();
        map.ids.insert(key.clone(), id.to_owned());
        map.by_id.insert(id.to_owned(), Entry { read_at, confirmed_at: read_at, key, version, session });
    }

    /// Notes that the store said the copy of the session with this id is still `version`, in
    /// answer to a question sent after `at` (nothing when the copy has changed meanwhile).
    pub fn confirmed(&self, id: &str, version: Version, at: i64) {
        let mut map = self.lock();
        if let Some(entry) = map.by_id.get_mut(id).filter(|e| e.version == version) {
            entry.confirmed_at = entry.confirmed_at.max(at);
        }
    }

    /// Drops the copy stored under `key` (a store key), and stops reads in flight from putting
    /// one back.
    pub fn forget(&self, key: &str) {
        let mut map = self.lock();
        self.epoch.fetch_add(1, Ordering::AcqRel);
        if let Some(id) = map.ids.remove(key) {
            map.by_id.remove(&id);
        }
    }

    /// Drops every copy.
    pub fn clear(&self) {
        let mut map = self.lock();
        self.epoch.fetch_add(1, Ordering::AcqRel);
        map.by_id.clear();
        map.ids.clear();
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        let map = self.lock();
        debug_assert_eq!(map.by_id.len(), map.ids.len());
        debug_assert!(map.ids.values().all(|id| map.by_id.contains_key(id)));
        map.by_id.len()
    }
}

/// Drops copies as the other replicas announce session changes, for as long as the returned task
/// runs.
pub(super) fn follow(cache: Arc<SessionCache>, changes: &ChangeBus) -> tokio::task::AbortHandle {
    let mut received = changes.subscribe();
    let task = tokio::spawn(async move {
        loop {
            match received.recv().await {
                Ok(Change::SessionEnded { key } | Change::SessionChanged { key }) => cache.forget(&key),
                // (Re)subscribed, or too many at once: whatever was missed may concern any copy.
                Ok(Change::Resync) | Err(RecvError::Lagged(_)) => cache.clear(),
                Ok(_) => {}
                Err(RecvError::Closed) => return,
            }
        }
    });
    task.abort_handle()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache() -> SessionCache {
        SessionCache::new(Duration::from_millis(1000))
    }

    /// A stored value's version.
    fn v(byte: u8) -> Version {
        Version::of(&[byte; Version::LEN + 8]).unwrap()
    }

    /// The copy `get` offers (to be confirmed by its key), by value.
    fn offered<S: Copy + Send + Sync + 'static>(c: &SessionCache, id: &str, now: i64) -> Option<S> {
        c.get::<S>(id, now).map(|hit| *hit.session)
    }

    #[test]
    fn a_copy_is_offered_within_the_window_only_and_names_the_key_and_version_to_confirm() {
        let c = cache();
        c.insert("id", "session:k".into(), 10_000, c.epoch(), (v(3), Arc::new(7u32)));
        let hit = c.get::<u32>("id", 10_000).unwrap();
        assert_eq!((*hit.session, &*hit.key), (7, "session:k"), "the store is asked about this key");
        assert_eq!(hit.version, v(3), "and must still hold this value");
        assert_eq!(Version::of(&[3; Version::LEN - 1]), None, "no version in a value too short for a seal");
        assert_eq!(offered::<u32>(&c, "id", 10_999), Some(7));
        assert_eq!(offered::<u32>(&c, "id", 11_000), None, "the window is over");
        assert_eq!(offered::<u32>(&c, "id", 9_999), None, "the clock went back");
        assert_eq!(c.get::<u64>("id", 10_000).map(|h| *h.session), None, "another type is a miss");
        assert_eq!(offered::<u32>(&c, "other", 10_000), None);
    }

    #[test]
    fn a_confirmation_counts_for_the_version_it_was_about_only() {
        let c = cache();
        c.insert("id", "session:k".into(), 0, c.epoch(), (v(1), Arc::new(7u32)));
        let within = |now| c.get::<u32>("id", now).is_some_and(|hit| hit.confirmed_within(300, now));
        assert!(within(299) && !within(300), "confirmed by the read that made the copy");
        c.confirmed("id", v(2), 500);
        assert!(!within(700), "a confirmation of another value is not this copy's");
        c.confirmed("id", v(1), 500);
        assert!(within(700) && !within(800));
        c.confirmed("id", v(1), 400);
        assert!(within(700), "an older confirmation does not move it back");
    }

    #[test]
    fn a_drop_wins_over_a_read_that_started_before_it() {
        let c = cache();
        let before = c.epoch();
        c.forget("session:k");
        c.insert("id", "session:k".into(), 0, before, (v(0), Arc::new(1u32)));
        assert_eq!(offered::<u32>(&c, "id", 0), None, "the read may have returned the old value");
        c.insert("id", "session:k".into(), 0, c.epoch(), (v(0), Arc::new(2u32)));
        assert_eq!(offered::<u32>(&c, "id", 0), Some(2));
        c.forget("session:k");
        assert_eq!(offered::<u32>(&c, "id", 0), None);
        assert_eq!(c.len(), 0);
        c.insert("id", "session:k".into(), 0, c.epoch(), (v(0), Arc::new(3u32)));
        c.clear();
        assert_eq!(offered::<u32>(&c, "id", 0), None);
    }

    #[test]
    fn memory_stays_bounded() {
        let c = cache();
        for i in 0..CAPACITY {
            c.insert(&format!("id{i}"), format!("session:{i}"), 0, c.epoch(), (v(0), Arc::new(i)));
        }
        c.insert("late", "session:late".into(), 500, c.epoch(), (v(0), Arc::new(0usize)));
        assert_eq!(c.len(), CAPACITY, "full of fresh copies: the new one is read from the store");
        assert_eq!(offered::<usize>(&c, "late", 500), None);
        c.insert("later", "session:later".into(), 1_000, c.epoch(), (v(0), Arc::new(1usize)));
        assert_eq!(c.len(), CAPACITY, "swept a moment ago: not again within the window");
        c.insert("latest", "session:latest".into(), 1_500, c.epoch(), (v(0), Arc::new(2usize)));
        assert_eq!(c.len(), 1, "stale copies are swept to make room");
        assert_eq!(offered::<usize>(&c, "latest", 1_500), Some(2));
    }
}
