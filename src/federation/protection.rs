//! Login protection (SPEC §3.4): failure counters per username and, optionally, per client
//! address, kept in the shared store so every replica sees them; a lock with a known end.
//!
//! Usernames and addresses appear in the store only as keyed hashes. Lock ends are compared with
//! the injected clock (the store's own expiry only cleans up), so tests move time instead of
//! sleeping.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::clock::SharedClock;
use crate::config::LoginProtectionSettings;
use crate::crypto::Keys;
use crate::store::{KvStore, StoreError};

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

enum Subject<'a> {
    User(&'a str),
    Address(IpAddr),
}

impl LoginProtection {
    pub fn new(kv: KvStore, keys: Arc<Keys>, clock: SharedClock, scope: &'static str) -> Self {
        Self { kv, keys, clock, scope }
    }

    fn key(&self, what: &str, subject: &Subject<'_>) -> String {
        let (kind, hash) = match subject {
            // Case-insensitive, like the managers' login names.
            Subject::User(u) => ("user", self.keys.lookup_hash("login-user", u.to_lowercase().as_bytes())),
            Subject::Address(ip) => ("ip", self.keys.lookup_hash("login-ip", ip.to_string().as_bytes())),
        };
        format!("lp:{}:{what}:{kind}:{hash}", self.scope)
    }

    fn subjects<'a>(
        limits: &LoginProtectionSettings,
        username: &'a str,
        ip: Option<IpAddr>,
    ) -> Vec<(Subject<'a>, u32)> {
        let mut subjects = vec![(Subject::User(username), limits.max_failures)];
        if let (true, Some(ip)) = (limits.lock_by_ip, ip) {
            subjects.push((Subject::Address(ip), limits.max_failures_per_ip));
        }
        subjects
    }

    /// `Err(Locked)` when the username (or the address) is locked now.
    pub async fn check(
        &self,
        limits: &LoginProtectionSettings,
        username: &str,
        ip: Option<IpAddr>,
    ) -> Result<Option<Locked>, StoreError> {
        if !limits.enabled {
            return Ok(None);
        }
        let now = self.clock.now_millis();
        let mut longest: Option<Locked> = None;
        for (subject, _) in Self::subjects(limits, username, ip) {
            let Some(raw) = self.kv.get(&self.key("lock", &subject)).await? else {
                continue;
            };
            let until = std::str::from_utf8(&raw).ok().and_then(|s| s.parse::<i64>().ok()).unwrap_or(0);
            if until > now {
                let left = Duration::from_millis(u64::try_from(until - now).unwrap_or(0));
                if longest.is_none_or(|l| l.retry_after < left) {
                    longest = Some(Locked { retry_after: left });
                }
            }
        }
        Ok(longest)
    }

    /// Counts a failed attempt; returns the lock when this failure caused one.
    pub async fn record_failure(
        &self,
        limits: &LoginProtectionSettings,
        username: &str,
        ip: Option<IpAddr>,
    ) -> Result<Option<Locked>, StoreError> {
        if !limits.enabled {
            return Ok(None);
        }
        let mut locked = None;
        for (subject, max) in Self::subjects(limits, username, ip) {
            let count_key = self.key("failures", &subject);
            let count = self.kv.increment(&count_key, limits.window.get()).await?;
            if count >= i64::from(max.max(1)) {
                let until = self.clock.now_millis().saturating_add(millis(limits.lock_duration.get()));
                // The stored end decides; the expiry only cleans up (with a margin for clock skew
                // between replicas).
                let ttl = limits.lock_duration.get() + Duration::from_secs(60);
                self.kv.set(&self.key("lock", &subject), until.to_string().as_bytes(), Some(ttl)).await?;
                self.kv.delete(&count_key).await?;
                locked = Some(Locked { retry_after: limits.lock_duration.get() });
            }
        }
        Ok(locked)
    }

    /// A successful sign-in clears the username's failures (not the address's).
    pub async fn record_success(&self, username: &str) -> Result<(), StoreError> {
        self.kv.delete(&self.key("failures", &Subject::User(username))).await.map(|_| ())
    }
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}
