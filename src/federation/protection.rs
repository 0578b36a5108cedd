//! Login protection (SPEC §3.4): failure counters per username and, optionally, per client
//! address, kept in the shared store so every replica sees them; a lock with a known end.
//!
//! An attempt is counted *before* its password is judged, in one atomic step of the store
//! ([`KvStore::admit`]): parallel guesses cannot all pass a check before any failure is counted,
//! so at most `max_failures` attempts are judged per window on every replica together. A failed
//! attempt stays counted (the one that reaches the limit sets the lock), a success clears the
//! username's count, and an attempt that was never judged (a manager could not be asked) is
//! given back.
//!
//! Usernames and addresses appear in the store only as keyed hashes, in hash tags so that a
//! subject's counter and lock live in one Redis Cluster slot. Lock ends are compared with the
//! injected clock (the store's own expiry only cleans up), so tests move time instead of
//! sleeping.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::clock::SharedClock;
use crate::config::LoginProtectionSettings;
use crate::crypto::Keys;
use crate::store::{Admission, KvStore, StoreError};

/// A refused attempt: how long until the lock ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Locked {
    pub retry_after: Duration,
}

#[derive(Clone)]
pub struct LoginProtection {
    kv: KvStore,
    keys: Arc<Keys>,
    clock: SharedClock,
    /// Separates consumer sign-in (`consumer`) from admin sign-in (`admin`) counters.
    scope: &'static str,
}

/// The store keys of one subject (a username or an address) and its limit.
struct Subject {
    counter: String,
    lock: String,
    max: u32,
    /// A success clears the username's count, not the address's.
    is_user: bool,
}

/// A counted attempt, waiting for its verdict: hand it back with [`Attempt::failed`],
/// [`Attempt::succeeded`] or [`Attempt::unjudged`].
#[must_use = "an attempt must be settled: failed, succeeded or unjudged"]
pub struct Attempt {
    protection: LoginProtection,
    limits: LoginProtectionSettings,
    /// Each subject with its count at admission (empty when protection is off).
    counted: Vec<(Subject, i64)>,
}

impl LoginProtection {
    pub fn new(kv: KvStore, keys: Arc<Keys>, clock: SharedClock, scope: &'static str) -> Self {
        Self { kv, keys, clock, scope }
    }

    fn subjects(&self, limits: &LoginProtectionSettings, username: &str, ip: Option<IpAddr>) -> Vec<Subject> {
        // Case-insensitive, like the managers' login names.
        let user = self.keys.lookup_hash("login-user", username.to_lowercase().as_bytes());
        let mut subjects = vec![self.subject("user", &user, limits.max_failures, true)];
        if let (true, Some(ip)) = (limits.lock_by_ip, ip) {
            let address = self.keys.lookup_hash("login-ip", ip.to_string().as_bytes());
            subjects.push(self.subject("ip", &address, limits.max_failures_per_ip, false));
        }
        subjects
    }

    fn subject(&self, kind: &str, hash: &str, max: u32, is_user: bool) -> Subject {
        let tag = format!("lp:{}:{kind}:{{{hash}}}", self.scope);
        Subject { counter: format!("{tag}:failures"), lock: format!("{tag}:lock"), max: max.max(1), is_user }
    }

    /// Counts an attempt before it is judged; `Err(Locked)` when the username (or the address)
    /// is locked, or as many attempts as allowed are already counted.
    pub async fn admit(
        &self,
        limits: &LoginProtectionSettings,
        username: &str,
        ip: Option<IpAddr>,
    ) -> Result<Result<Attempt, Locked>, StoreError> {
        let mut attempt = Attempt { protection: self.clone(), limits: limits.clone(), counted: Vec::new() };
        if !limits.enabled {
            return Ok(Ok(attempt));
        }
        let now = self.clock.now_millis();
        for subject in self.subjects(limits, username, ip) {
            let admission =
                self.kv.admit(&subject.counter, &subject.lock, now, limits.window.get(), subject.max).await;
            let refused = match admission {
                Ok(Admission::Counted(n)) => {
                    attempt.counted.push((subject, n));
                    continue;
                }
                Ok(Admission::Locked(left)) => Locked { retry_after: left },
                Ok(Admission::Full) => Locked { retry_after: limits.lock_duration.get() },
                Err(e) => {
                    attempt.unjudged().await?;
                    return Err(e);
                }
            };
            // The subjects admitted before this one give their attempt back.
            attempt.unjudged().await?;
            return Ok(Err(refused));
        }
        Ok(Ok(attempt))
    }
}

impl Attempt {
    /// The password was wrong: the attempt stays counted; returns the lock when it reached a
    /// limit.
    pub async fn failed(self) -> Result<Option<Locked>, StoreError> {
        let kv = &self.protection.kv;
        let lock_for = self.limits.lock_duration.get();
        let mut locked = None;
        for (subject, n) in &self.counted {
            if *n < i64::from(subject.max) {
                continue;
            }
            let until = self.protection.clock.now_millis().saturating_add(millis(lock_for));
            // The stored end decides; the expiry only cleans up (with a margin for clock skew
            // between replicas).
            let ttl = lock_for + Duration::from_secs(60);
            kv.set(&subject.lock, until.to_string().as_bytes(), Some(ttl)).await?;
            kv.delete(&subject.counter).await?;
            locked = Some(Locked { retry_after: lock_for });
        }
        Ok(locked)
    }

    /// The password was right: the username's failures are forgotten (not the address's).
    pub async fn succeeded(self) -> Result<(), StoreError> {
        for (subject, _) in self.counted.iter().filter(|(s, _)| s.is_user) {
            self.protection.kv.delete(&subject.counter).await?;
        }
        Ok(())
    }

    /// The password was never judged (a manager could not be asked): the attempt is given back.
    pub async fn unjudged(self) -> Result<(), StoreError> {
        for (subject, _) in &self.counted {
            self.protection.kv.release(&subject.counter).await?;
        }
        Ok(())
    }
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}
