//! Sessions in the key-value store (portal sessions, and admin sessions in a namespace of their
//! own): sealed (encrypted and authenticated) with a key derived from `session.secret`, stored
//! under a keyed hash of the session id (so reading Redis gives neither the session contents nor
//! a usable id), with a sliding idle timeout and an absolute one. What is sealed is the session in
//! a compact binary form behind a format byte ([`super::session_format`]).
//!
//! Portal session reads go through a short-lived in-process copy ([`super::session_cache`]):
//! within its window a session is neither fetched, decrypted nor parsed again, and its idle
//! timeout is refreshed in the store by the first read after the window. Writes and destroys
//! drop the copy here and announce it on the change bus, so other replicas drop theirs. Admin
//! sessions, read a few times a minute, are not copied.
//!
//! **An ended or rewritten session is served as it now is on every replica from the moment its
//! ending or rewrite answers**, with no window, whatever happens to the notifications. The
//! argument, step by step:
//! 1. Ending a session deletes its key in the store, and a rewrite replaces its value, before
//!    the request that did it answers ([`SessionStore::destroy`], [`SessionStore::save`]).
//! 2. Nothing brings a deleted key or a replaced value back: a new session gets a new 256-bit id,
//!    every rewrite is `SET … XX` (it replaces a value that exists, never creates one; a request
//!    that loaded the session before it ended and saves it after changes nothing), every value
//!    written is sealed anew and so begins with a stamp no other write shares ([`Version`]), and
//!    reads never write a value.
//! 3. Every request that uses a session asks the store about its key after the request started:
//!    either it reads it (`GETEX`), or it holds a copy and asks for the stamp of the value stored
//!    now (`GETRANGE` of its first bytes: nothing decrypted), and serves the copy only when that
//!    is the stamp of the value the copy was made from; when the session was rewritten, it reads
//!    it. Concurrent requests of one session may share that question, but only one sent after
//!    each of them started ([`super::session_confirm`]); they may share a read, but those that
//!    joined it after it went out then ask the question too ([`reads`]). (With a revocation
//!    window, below, a copy confirmed less than the window ago answers for the store, and the
//!    change waits the window out instead.)
//! 4. The store answers each key from one place, in order (a Redis node runs commands one at a
//!    time; a key lives on one master, Sentinel and Cluster send every command there; the
//!    in-process store takes a lock): a question asked after a delete or a write was
//!    acknowledged sees it.
//!
//! The one exception is Redis's own: replication is asynchronous, so a failover can lose an
//! acknowledged write, a delete included, as it can lose a new session.
//!
//! **A revocation window moves the wait from the reads to the changes**
//! (`session.revocation_window`, at most [`FRESH_FOR`]; zero asks at every request:
//! [`SessionStore::with_revocation_window`]). A copy the store confirmed less than the window
//! ago, measured on the replica's steady clock from before the question, is served without
//! asking again, which spares a busy session's requests their round trip. The guarantee above
//! holds all the same, because an ending or a rewrite then answers only once the window, and a
//! margin for clocks that run at slightly different rates, has passed since the store
//! acknowledged it ([`SessionStore::outlast_the_window`]). By then every copy confirmed by a
//! question asked before the change has left its window, and every question asked after it sees
//! the change (step 4), whether or not the replica heard the announcement. What the window costs
//! is the time an ending or a rewrite takes to answer (a sign-out, an environment switch), never
//! its reach. A replica that hears the announcement drops its copy at once anyway, and a
//! resubscription drops every copy.

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::SessionId;
use super::session_cache::{FRESH_FOR, SessionCache, Version, follow};
use super::session_confirm::Confirmations;
use super::session_format;
use super::session_index::{Grouped, SessionIndex};
use super::{Change, ChangeBus, KvStore, StoreError};
use crate::clock::SharedClock;
use crate::crypto::Keys;
use reads::Reads;

mod reads;

/// A session read by its reference ([`SessionStore::peek`]).
#[derive(Debug, Clone)]
pub struct Peeked<T> {
    pub created_at: i64,
    pub last_seen_ms: i64,
    pub data: T,
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
    /// The in-process copies, for the portal sessions' store.
    copies: Option<Arc<Copies>>,
    /// The live sessions, in all and by group.
    index: SessionIndex,
    /// The revocation window (none by default).
    revocation: Revocation,
}

/// `session.revocation_window` as the store applies it (the module comment).
#[derive(Clone, Copy, Default)]
struct Revocation {
    /// How long a confirmed copy is served without asking the store again, in steady clock
    /// milliseconds; zero: never.
    window_ms: i64,
    /// How long an ending or a rewrite waits before it answers, so that no replica serves the old
    /// session from a copy afterwards: the window and a margin.
    wait: Duration,
}

struct Copies {
    cache: Arc<SessionCache>,
    changes: ChangeBus,
    /// Follows the change bus for as long as the store lives.
    follower: tokio::task::AbortHandle,
    /// The version questions in flight, shared by a session's concurrent requests.
    confirmations: Arc<Confirmations<Option<Version>>>,
    /// The reads in flight, shared the same way.
    reads: Reads,
}

impl Drop for Copies {
    fn drop(&mut self) {
        self.follower.abort();
    }
}

/// Key namespace of portal sessions (after `redis.key_prefix`).
pub const SESSION_PREFIX: &str = "session:";

impl SessionStore {
    /// The portal sessions' store. Must run inside the Tokio runtime: it starts following
    /// `changes`.
    pub fn new(
        kv: KvStore,
        keys: Arc<Keys>,
        idle: Duration,
        absolute: Duration,
        clock: SharedClock,
        changes: ChangeBus,
    ) -> Self {
        // A copy must never outlive the idle timeout its read set in the store.
        let cache = Arc::new(SessionCache::new(FRESH_FOR.min(idle)));
        let follower = follow(cache.clone(), &changes);
        let copies = Some(Arc::new(Copies {
            cache,
            changes,
            follower,
            confirmations: Arc::default(),
            reads: Reads::default(),
        }));
        let (prefix, domain) = (SESSION_PREFIX, "session");
        let index = SessionIndex::new(kv.clone(), clock.clone(), domain);
        let revocation = Revocation::default();
        Self { kv, keys, idle, absolute, clock, prefix, domain, copies, index, revocation }
    }

    /// Serves a copy the store confirmed less than `window` ago without asking again (capped at
    /// the copies' window, [`FRESH_FOR`], and the idle timeout), and makes every ending and
    /// rewrite wait that long, and a margin, before it answers (the module comment). Zero asks at
    /// every request and makes nothing wait.
    #[must_use]
    pub fn with_revocation_window(mut self, window: Duration) -> Self {
        let window = window.min(FRESH_FOR).min(self.idle);
        // The wait: one percent more for clocks' rates (theirs differ by millionths), and two
        // milliseconds for the millisecond each side reads its clock to.
        self.revocation = Revocation {
            window_ms: i64::try_from(window.as_millis()).unwrap_or(0),
            wait: if window.is_zero() {
                Duration::ZERO
            } else {
                window + window / 100 + Duration::from_millis(2)
            },
        };
        self
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
        let index = SessionIndex::new(kv.clone(), clock.clone(), prefix);
        let (domain, copies, revocation) = (prefix, None, Revocation::default());
        Self { kv, keys, idle, absolute, clock, prefix, domain, copies, index, revocation }
    }

    fn key(&self, id: &SessionId) -> String {
        format!("{}{}", self.prefix, self.keys.lookup_hash(self.domain, id.as_str().as_bytes()))
    }

    #[cfg(test)]
    pub(super) fn revocation_window_ms(&self) -> i64 {
        self.revocation.window_ms
    }

    /// The idle timeout (sliding).
    pub fn idle_timeout(&self) -> Duration {
        self.idle
    }

    /// The absolute timeout: no session outlives it.
    pub fn absolute_timeout(&self) -> Duration {
        self.absolute
    }

    /// Time left before the absolute timeout, capped by the idle timeout.
    fn ttl(&self, created_at: i64) -> Option<Duration> {
        let age = u64::try_from(self.clock.now_millis().saturating_sub(created_at)).unwrap_or(0);
        let left = self.absolute.checked_sub(Duration::from_millis(age))?;
        (!left.is_zero()).then(|| left.min(self.idle))
    }

    /// Stores a new session under a new id.
    pub async fn create<T: Serialize + DeserializeOwned + Grouped>(
        &self,
        data: T,
    ) -> Result<Session<T>, StoreError> {
        let session = Session { id: SessionId::generate(), created_at: self.clock.now_millis(), data };
        self.write(&session, false).await?;
        Ok(session)
    }

    /// Writes the session back (after a change), keeping its creation time. Every replica serves
    /// the new version from its next request on (the module comment says why). A session that
    /// ended meanwhile stays ended: nothing is written.
    pub async fn save<T: Serialize + DeserializeOwned + Grouped>(
        &self,
        session: &Session<T>,
    ) -> Result<(), StoreError> {
        self.write(session, true).await
    }

    async fn write<T: Serialize + DeserializeOwned + Grouped>(
        &self,
        session: &Session<T>,
        rewrite: bool,
    ) -> Result<(), StoreError> {
        let Some(ttl) = self.ttl(session.created_at) else {
            return self.destroy::<T>(&session.id).await;
        };
        let key = self.key(&session.id);
        let groups = session.data.groups();
        let plain = session_format::encode(session.created_at, &session.data)
            .map_err(|e| StoreError::Protocol(e.to_string()))?;
        let sealed = self
            .keys
            .seal(key.as_bytes(), &plain)
            .ok_or_else(|| StoreError::Protocol("cannot seal the session".to_owned()))?;
        self.forget(&key);
        // A new id is in nobody's memory and cannot have ended; a rewrite must find the session
        // still there (see the module comment, step 2).
        let written = if rewrite {
            self.kv.set_existing(&key, &sealed, ttl).await
        } else {
            self.kv.set(&key, &sealed, Some(ttl)).await.map(|()| true)
        };
        // Again after the write: a read that overtook it must not keep the old version.
        self.forget(&key);
        if !written? {
            tracing::debug!("a session ended while a request was using it; its change is dropped");
            return Ok(());
        }
        self.index.written(&key, ttl, &groups).await?;
        if rewrite {
            self.announce(Change::SessionChanged { key }).await;
            self.outlast_the_window().await;
        }
        Ok(())
    }

    /// Loads a session; `None` for an unknown, expired, tampered or undecodable session. A read
    /// from the store slides the idle timeout in the same round trip.
    pub async fn load<T>(&self, id: &SessionId) -> Result<Option<Session<T>>, StoreError>
    where
        T: DeserializeOwned + Grouped + Clone + Send + Sync + 'static,
    {
        Ok(self.load_shared::<T>(id).await?.map(|session| Session::clone(&session)))
    }

    /// [`SessionStore::load`] from the store itself, never from an in-process copy: for a read
    /// that decides on a change another replica may just have made (a token refresh under a
    /// lock). It refreshes the copy too.
    pub async fn load_fresh<T>(&self, id: &SessionId) -> Result<Option<Session<T>>, StoreError>
    where
        T: DeserializeOwned + Grouped + Clone + Send + Sync + 'static,
    {
        let read = self.read(id, self.key(id), self.clock.steady_millis()).await?;
        Ok(read.map(|(_, session)| Session::clone(&session)))
    }

    /// [`SessionStore::load`] without copying the session out of the in-process copies.
    pub async fn load_shared<T>(&self, id: &SessionId) -> Result<Option<Arc<Session<T>>>, StoreError>
    where
        T: DeserializeOwned + Grouped + Send + Sync + 'static,
    {
        // Taken before the read: the copy's window starts no later than the idle timeout it sets.
        let now = self.clock.steady_millis();
        if let Some(copies) = &self.copies
            && let Some(answer) = self.confirmed_copy::<T>(copies, id, now).await?
        {
            return Ok(answer);
        }
        // (Boxed: a routed call's future would otherwise be as large as a read's, on every call.)
        Box::pin(self.read_shared(id, now)).await
    }

    /// The session as this replica's copy has it, once the store has confirmed the copy: `None`
    /// when there is no fresh copy, or the session was rewritten since (the copy is then
    /// forgotten): read it from the store.
    async fn confirmed_copy<T>(
        &self,
        copies: &Copies,
        id: &SessionId,
        now: i64,
    ) -> Result<Option<Option<Arc<Session<T>>>>, StoreError>
    where
        T: Send + Sync + 'static,
    {
        let Some(hit) = copies
            .cache
            .get::<Session<T>>(id.as_str(), now)
            .filter(|hit| self.ttl(hit.session.created_at).is_some())
        else {
            return Ok(None);
        };
        // Within the window the operator allowed, the store's last answer stands.
        if hit.confirmed_within(self.revocation.window_ms, now) {
            return Ok(Some(Some(hit.session)));
        }
        // The copy spares the value, never the question: is the session still what the copy
        // was made from, now that this request has started? (The module comment, step 3.)
        // When the store cannot answer, neither can the copy: 503, as for a read.
        match self.stored_version(copies, &hit.key).await? {
            Some(version) if version == hit.version => {
                if self.revocation.window_ms > 0 {
                    copies.cache.confirmed(id.as_str(), hit.version, now);
                }
                Ok(Some(Some(hit.session)))
            }
            // Rewritten (on another replica, whose notification has not come yet): read it.
            Some(_) => {
                self.forget(&hit.key);
                Ok(None)
            }
            None => {
                self.forget(&hit.key);
                Ok(Some(None))
            }
        }
    }

    /// Reads the session stored under `key` (its [`Self::key`]) from the store, sliding its idle
    /// timeout, and keeps a copy; `now` is taken before the read. With the session comes the
    /// version of the value it was read from.
    async fn read<T>(
        &self,
        id: &SessionId,
        key: String,
        now: i64,
    ) -> Result<Option<(Version, Arc<Session<T>>)>, StoreError>
    where
        T: DeserializeOwned + Grouped + Send + Sync + 'static,
    {
        let copies = self.cache();
        let epoch = copies.map(SessionCache::epoch);
        let Some(sealed) = self.kv.get_and_touch(&key, self.idle).await? else {
            return Ok(None);
        };
        let (Some(version), Some(plain)) = (Version::of(&sealed), self.keys.open(key.as_bytes(), &sealed))
        else {
            tracing::warn!("a stored session failed authentication; treating it as signed out");
            return Ok(None);
        };
        let Some((created_at, data)) = session_format::decode::<T>(&plain) else {
            // Another format (a session sealed before the current one): signed out, left as it
            // is (the module `session_format` says why).
            tracing::debug!("a stored session is in another format; treating it as signed out");
            return Ok(None);
        };
        if self.ttl(created_at).is_none() {
            self.forget(&key);
            self.kv.delete(&key).await?;
            return Ok(None);
        }
        let session = Arc::new(Session { id: id.clone(), created_at, data });
        if let Some(ttl) = self.ttl(created_at) {
            self.index.read(&key, ttl, &session.data.groups().member_of).await?;
        }
        if let (Some(copies), Some(epoch)) = (copies, epoch) {
            copies.insert(id.as_str(), key, now, epoch, (version, session.clone()));
        }
        Ok(Some((version, session)))
    }

    /// A handle of the session that may be shown and posted back (the keyed hash it is stored
    /// under): it names the session without being usable as its cookie.
    pub fn reference(&self, id: &SessionId) -> String {
        self.keys.lookup_hash(self.domain, id.as_str().as_bytes())
    }

    /// The key of a reference, when it has the shape of one (it may come from a URL).
    fn reference_key(&self, reference: &str) -> Option<String> {
        let well_formed = reference.len() == 32 && reference.bytes().all(|b| b.is_ascii_hexdigit());
        well_formed.then(|| format!("{}{}", self.prefix, reference))
    }

    /// A session by its reference, read without sliding its idle timeout (a listing is not the
    /// user's activity): when it started, when it was last seen (to within a minute), its data.
    pub async fn peek<T: DeserializeOwned>(&self, reference: &str) -> Result<Option<Peeked<T>>, StoreError> {
        let Some(key) = self.reference_key(reference) else { return Ok(None) };
        let Some(sealed) = self.kv.get(&key).await? else { return Ok(None) };
        let Some(plain) = self.keys.open(key.as_bytes(), &sealed) else { return Ok(None) };
        let Some((created_at, data)) = session_format::decode::<T>(&plain) else { return Ok(None) };
        if self.ttl(created_at).is_none() {
            return Ok(None);
        }
        let idle = i64::try_from(self.idle.as_millis()).unwrap_or(i64::MAX);
        let expires = self.index.expires(&key).await?;
        let last_seen_ms = expires.map_or(created_at, |at| at.saturating_sub(idle).max(created_at));
        Ok(Some(Peeked { created_at, last_seen_ms, data }))
    }

    /// Ends the session with this reference on every replica (see [`SessionStore::destroy`]).
    pub async fn destroy_reference<T: DeserializeOwned + Grouped>(
        &self,
        reference: &str,
    ) -> Result<(), StoreError> {
        match self.reference_key(reference) {
            Some(key) => self.destroy_key::<T>(key).await,
            None => Ok(()),
        }
    }

    /// Ends a session (whose data is a `T`) on every replica: no request that starts after this
    /// returns is served with it, on any replica (the module comment says why). The announcement
    /// only frees the other replicas' memory sooner.
    pub async fn destroy<T: DeserializeOwned + Grouped>(&self, id: &SessionId) -> Result<(), StoreError> {
        self.destroy_key::<T>(self.key(id)).await
    }

    async fn destroy_key<T: DeserializeOwned + Grouped>(&self, key: String) -> Result<(), StoreError> {
        self.forget(&key);
        // Deleted and read in one step: its data says which groups' indexes to leave.
        let taken = self.kv.take(&key).await;
        self.forget(&key);
        let groups = taken?
            .and_then(|sealed| self.keys.open(key.as_bytes(), &sealed))
            .map(|plain| session_format::groups::<T>(&plain))
            .unwrap_or_default();
        self.index.ended(&key, &groups).await?;
        self.announce(Change::SessionEnded { key }).await;
        // (Also when there was nothing left to take: the ending that took it may still be
        // waiting, and this one must not answer sooner.)
        self.outlast_the_window().await;
        Ok(())
    }

    /// With a revocation window, waits until no replica can serve what was just ended or
    /// replaced: every copy confirmed before the store acknowledged the change has then left its
    /// window (the module comment). Without one, returns at once.
    async fn outlast_the_window(&self) {
        if self.copies.is_some() && !self.revocation.wait.is_zero() {
            self.clock.sleep(self.revocation.wait).await;
        }
    }

    /// The version of the session stored under `key` (`None`: there is none), by a question sent
    /// after this call began; the concurrent requests of one session share such questions
    /// ([`Confirmations`]). Nothing is decrypted: the stamp of a value is not secret. (Asked only
    /// by a store that keeps copies: a request without one reads the session.)
    async fn stored_version(&self, copies: &Copies, key: &Arc<str>) -> Result<Option<Version>, StoreError> {
        // (The store handle is taken only by the request that sends the question.)
        let ask = || {
            let (kv, asked) = (self.kv.clone(), key.clone());
            async move { Ok(kv.head(&asked, Version::LEN).await?.as_deref().and_then(Version::of)) }
        };
        copies.confirmations.answer(key, ask).await
    }

    fn cache(&self) -> Option<&SessionCache> {
        self.copies.as_deref().map(|c| &*c.cache)
    }

    /// Drops this replica's copy of the session stored under `key`.
    fn forget(&self, key: &str) {
        if let Some(copies) = &self.copies {
            copies.cache.forget(key);
        }
    }

    /// Tells the other replicas to drop their copy. When that fails, nothing is served stale
    /// there (their next request of the session finds the stored version changed, the module
    /// comment says why): the copy only stays in their memory until its window ([`FRESH_FOR`]) is
    /// over.
    async fn announce(&self, change: Change) {
        let Some(copies) = &self.copies else { return };
        if let Err(e) = copies.changes.publish(change).await {
            tracing::warn!(error = %e, "could not tell the other replicas of a session change; they will notice it at their next request of the session");
        }
    }

    /// How many sessions are live (the dashboard, `/metrics`): from the index, no scan.
    pub async fn count(&self) -> Result<u64, StoreError> {
        self.index.count().await
    }

    /// How many live sessions are in `group` ([`Grouped`]; for portal sessions, how many have
    /// joined an environment): from its index, no scan.
    pub async fn count_group(&self, group: &str) -> Result<u64, StoreError> {
        self.index.count_group(group).await
    }
}
