//! Reads of one session shared by its concurrent requests. When a session's in-process copy goes
//! stale (its window, [`crate::store::session_cache::FRESH_FOR`], is over), every request of that
//! session in flight finds it stale at the same moment: without this, each would read it from the
//! store, open and decode it and touch its index entries (an API client on 32 connections: 32
//! reads a second instead of one). The first request reads; the others wait for its value, then ask
//! whether the session is still that value, as a request holding a copy does (`sessions`, the
//! module comment, step 3): the read went out before they started, so its answer alone could miss
//! an ending or a rewrite in between — unless the read went out within the revocation window
//! (then an ending or a rewrite waits the window out before it answers).

use std::any::Any;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use foldhash::fast::RandomState;
use futures_util::future::{BoxFuture, FutureExt, Shared};
use serde::de::DeserializeOwned;

use super::{Session, SessionStore, Version};
use crate::store::session_index::Grouped;
use crate::store::{SessionId, StoreError};

/// A session as read from the store (`None`: not there), typed by the caller, with the version of
/// the value it was read from.
type ReadSession = Option<(Version, Arc<dyn Any + Send + Sync>)>;

/// A read in flight, awaited by every request that shares it.
type Read = Shared<BoxFuture<'static, Result<ReadSession, StoreError>>>;

impl SessionStore {
    /// [`Self::read`], shared by the session's requests that find its copy stale together (the
    /// module comment). Those that join a read in flight ask whether the session is still what
    /// was read once they have its value.
    pub(super) async fn read_shared<T>(
        &self,
        id: &SessionId,
        now: i64,
    ) -> Result<Option<Arc<Session<T>>>, StoreError>
    where
        T: DeserializeOwned + Grouped + Send + Sync + 'static,
    {
        let key = self.key(id);
        // (The key is derived once: a keyed hash of the id.)
        let own_read =
            |key: String| async move { Ok(self.read::<T>(id, key, now).await?.map(|(_, session)| session)) };
        let Some(copies) = &self.copies else { return own_read(key).await };
        let (store, owned, stored_under) = (self.clone(), id.clone(), key.clone());
        let copied = || copies.cache.get::<Session<T>>(id.as_str(), self.clock.steady_millis()).is_some();
        let started = copies.reads.join_or_start(&key, copied, move || {
            async move {
                let session = store.read::<T>(&owned, stored_under, now).await?;
                Ok(session.map(|(version, session)| (version, session as Arc<dyn Any + Send + Sync>)))
            }
            .boxed()
        });
        let Some((read, leading)) = started else {
            // The read that left a fresh copy ended after this request found the copy stale: the
            // copy is asked about, as any copy is.
            return match self.confirmed_copy::<T>(copies, id, self.clock.steady_millis()).await? {
                Some(answer) => Ok(answer),
                None => Box::pin(own_read(key)).await,
            };
        };
        let joined = leading.is_none();
        let session = read.await?.map(|(version, session)| (version, session.downcast::<Session<T>>()));
        drop(leading);
        match session {
            None => Ok(None),
            Some((_, Ok(session))) if !joined => Ok(Some(session)),
            // Within the revocation window of the read, its answer stands for this request too.
            Some((version, Ok(session))) if self.recently_confirmed::<T>(copies, id, version, now) => {
                Ok(Some(session))
            }
            Some((version, Ok(session))) => {
                let key: Arc<str> = key.into();
                match self.stored_version(copies, &key).await? {
                    Some(now_stored) if now_stored == version => Ok(Some(session)),
                    // Rewritten since the read went out: this request reads it itself.
                    Some(_) => Box::pin(own_read(key.to_string())).await,
                    None => {
                        self.forget(&key);
                        Ok(None)
                    }
                }
            }
            // (Another type under the same key: not shared, read for this caller.)
            Some((_, Err(_))) => Box::pin(own_read(key)).await,
        }
    }

    /// Whether this replica's copy of the session is the value `version` and the store confirmed
    /// it less than the revocation window before `now` (never without a window).
    fn recently_confirmed<T: Send + Sync + 'static>(
        &self,
        copies: &super::Copies,
        id: &SessionId,
        version: Version,
        now: i64,
    ) -> bool {
        self.revocation.window_ms > 0
            && copies.cache.get::<Session<T>>(id.as_str(), now).is_some_and(|hit| {
                hit.version == version && hit.confirmed_within(self.revocation.window_ms, now)
            })
    }
}

/// The reads in flight, by store key.
#[derive(Default)]
pub struct Reads {
    in_flight: Mutex<HashMap<String, Read, RandomState>>,
}

impl Reads {
    /// The read of `key` in flight, or a new one made by `start`. With a new read comes the
    /// [`Leading`] that takes it off the list when the read is over (or its request is dropped).
    /// `None` when no read is in flight and `copied` says a fresh copy is there: a read keeps its
    /// copy before it leaves the list, so a request that found the copy stale just before that
    /// read ended finds the copy here instead of reading again.
    pub fn join_or_start(
        &self,
        key: &str,
        copied: impl FnOnce() -> bool,
        start: impl FnOnce() -> BoxFuture<'static, Result<ReadSession, StoreError>>,
    ) -> Option<(Read, Option<Leading<'_>>)> {
        let mut in_flight = self.lock();
        if let Some(read) = in_flight.get(key) {
            return Some((read.clone(), None));
        }
        if copied() {
            return None;
        }
        let read = start().shared();
        in_flight.insert(key.to_owned(), read.clone());
        let leading = Leading { reads: self, key: key.to_owned(), read: read.clone() };
        Some((read, Some(leading)))
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Read, RandomState>> {
        // (The map stays consistent whatever panicked while it was held: a plain insert or remove.)
        self.in_flight.lock().unwrap_or_else(PoisonError::into_inner)
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().len()
    }
}

/// The request that started a read; dropping it ends the sharing of that read (requests that
/// already joined it keep it).
pub struct Leading<'a> {
    reads: &'a Reads,
    key: String,
    read: Read,
}

impl Drop for Leading<'_> {
    fn drop(&mut self) {
        let mut in_flight = self.reads.lock();
        if in_flight.get(&self.key).is_some_and(|read| read.ptr_eq(&self.read)) {
            in_flight.remove(&self.key);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    fn counting(
        reads: &Arc<AtomicUsize>,
    ) -> impl FnOnce() -> BoxFuture<'static, Result<ReadSession, StoreError>> {
        let reads = reads.clone();
        move || {
            async move {
                reads.fetch_add(1, Ordering::SeqCst);
                tokio::task::yield_now().await;
                let version = Version::of(&[1; Version::LEN]).unwrap();
                Ok(Some((version, Arc::new(7_u32) as Arc<dyn Any + Send + Sync>)))
            }
            .boxed()
        }
    }

    #[tokio::test]
    async fn concurrent_reads_of_a_key_share_one_and_the_next_starts_anew() {
        let (reads, started) = (Reads::default(), Arc::new(AtomicUsize::new(0)));
        let (first, leading) = reads.join_or_start("k", || false, counting(&started)).unwrap();
        let (second, joined) = reads.join_or_start("k", || false, counting(&started)).unwrap();
        let (other, other_leading) = reads.join_or_start("other", || false, counting(&started)).unwrap();
        assert!(leading.is_some() && joined.is_none() && other_leading.is_some());
        for read in [first, second, other] {
            let (_, value) = read.await.unwrap().unwrap();
            assert_eq!(value.downcast::<u32>().ok().as_deref(), Some(&7));
        }
        assert_eq!(started.load(Ordering::SeqCst), 2, "one read per key");
        drop((leading, other_leading));
        assert_eq!(reads.len(), 0);
        let (_, leading) = reads.join_or_start("k", || false, counting(&started)).unwrap();
        assert!(leading.is_some(), "a read over is not joined again");
    }

    #[tokio::test]
    async fn a_fresh_copy_is_used_when_no_read_is_in_flight_and_a_read_in_flight_is_joined() {
        let (reads, started) = (Reads::default(), Arc::new(AtomicUsize::new(0)));
        assert!(reads.join_or_start("k", || true, counting(&started)).is_none());
        assert_eq!(reads.len(), 0);
        let (first, _leading) = reads.join_or_start("k", || false, counting(&started)).unwrap();
        let (second, joined) = reads.join_or_start("k", || true, counting(&started)).unwrap();
        assert!(joined.is_none(), "a read in flight is joined whatever the copy says");
        assert!(first.await.unwrap().is_some() && second.await.unwrap().is_some());
        assert_eq!(started.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_dropped_leader_leaves_the_read_to_those_who_joined() {
        let (reads, started) = (Reads::default(), Arc::new(AtomicUsize::new(0)));
        let (first, leading) = reads.join_or_start("k", || false, counting(&started)).unwrap();
        let (second, _) = reads.join_or_start("k", || false, counting(&started)).unwrap();
        drop((first, leading));
        assert_eq!(reads.len(), 0, "new requests read anew");
        assert!(second.await.unwrap().is_some());
        assert_eq!(started.load(Ordering::SeqCst), 1);
    }
}
