//! The sessions of one user, wherever they signed in: an index per user (under a keyed hash of
//! the login name — no name in clear) of their sessions' references, kept as sessions start and
//! end. A listing reads each session without touching it and drops the references of sessions
//! that expired on their own, so no stale entry is ever shown.

use std::net::IpAddr;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::{EnvironmentSet, PortalSession, sign_out};
use crate::crypto::Keys;
use crate::store::{KvStore, SessionStore, StoreError};

/// How many of a user's sessions are ended at once when several end together.
const ENDED_AT_ONCE: usize = 16;

/// How a session was started, what it runs in and from where (coarsely): shown to its user so
/// they can tell their sessions apart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientFacts {
    pub method: SignInMethod,
    /// A short description of the user agent ("Firefox on Linux").
    pub agent: String,
    /// The client's network, coarsely ("203.0.113.x", "2001:db8:1::/48"), never the address.
    pub network: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SignInMethod {
    Password,
    SingleSignOn,
}

impl ClientFacts {
    pub fn describe(method: SignInMethod, user_agent: Option<&str>, address: Option<IpAddr>) -> Self {
        Self { method, agent: agent(user_agent.unwrap_or_default()), network: address.map(network) }
    }
}

/// "Browser on System", from the few names a user would recognise.
fn agent(user_agent: &str) -> String {
    const BROWSERS: [(&str, &str); 7] = [
        ("Edg/", "Edge"),
        ("OPR/", "Opera"),
        ("Firefox/", "Firefox"),
        ("Chrome/", "Chrome"),
        ("Safari/", "Safari"),
        ("curl/", "curl"),
        ("python-requests", "Python"),
    ];
    const SYSTEMS: [(&str, &str); 6] = [
        ("Android", "Android"),
        ("iPhone", "iOS"),
        ("iPad", "iPadOS"),
        ("Windows", "Windows"),
        ("Mac OS X", "macOS"),
        ("Linux", "Linux"),
    ];
    let find = |names: &[(&str, &'static str)]| {
        names.iter().find(|(token, _)| user_agent.contains(token)).map(|(_, n)| *n)
    };
    match (find(&BROWSERS), find(&SYSTEMS)) {
        (Some(browser), Some(system)) => format!("{browser} on {system}"),
        (Some(browser), None) => browser.to_owned(),
        (None, Some(system)) => format!("a browser on {system}"),
        (None, None) => "an unknown client".to_owned(),
    }
}

/// The network of an address: the first three bytes of IPv4, the first 48 bits of IPv6.
fn network(address: IpAddr) -> String {
    match address {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            format!("{a}.{b}.{c}.x")
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}::/48", s[0], s[1], s[2])
        }
    }
}

/// One of a user's sessions, as its user sees it.
#[derive(Debug, Clone)]
pub struct UserSession {
    /// The session's reference: shown and posted back, never its cookie.
    pub reference: String,
    pub created_at: i64,
    pub last_seen_ms: i64,
    pub data: PortalSession,
}

#[derive(Clone)]
pub struct UserSessions {
    pub(super) kv: KvStore,
    pub(super) keys: Arc<Keys>,
}

impl UserSessions {
    pub fn new(kv: KvStore, keys: Arc<Keys>) -> Self {
        Self { kv, keys }
    }

    fn index(&self, login_name: &str) -> String {
        format!(
            "user-sessions:{}",
            self.keys.lookup_hash("user-sessions", login_name.to_lowercase().as_bytes())
        )
    }

    /// Records a new session of `login_name`.
    pub async fn add(&self, login_name: &str, reference: &str, created_at: i64) -> Result<(), StoreError> {
        self.kv.index_put(&self.index(login_name), reference, created_at, false).await
    }

    /// Takes a session that ended out of every index that names it: its user's list and, for a
    /// single sign-on, the provider's names for it.
    pub async fn ended(&self, data: &PortalSession, reference: &str) -> Result<(), StoreError> {
        self.kv.index_remove(&self.index(&data.user.login_name), reference).await?;
        self.forget_provider_session(data, reference).await
    }

    /// The user's live sessions, oldest first; references of sessions gone meanwhile are dropped.
    pub async fn list(
        &self,
        sessions: &SessionStore,
        login_name: &str,
    ) -> Result<Vec<UserSession>, StoreError> {
        let index = self.index(login_name);
        let mut live = Vec::new();
        for (reference, _) in self.kv.index_members(&index).await? {
            match sessions.peek::<PortalSession>(&reference).await? {
                // (A reference reused under another name would be another user's session.)
                Some(p) if p.data.user.login_name.eq_ignore_ascii_case(login_name) => {
                    live.push(UserSession {
                        reference,
                        created_at: p.created_at,
                        last_seen_ms: p.last_seen_ms,
                        data: p.data,
                    })
                }
                _ => self.kv.index_remove(&index, &reference).await?,
            }
        }
        Ok(live)
    }

    /// Ends the user's session `reference` on every replica, and its manager sessions; `false`
    /// when it is not one of theirs (nothing happens then).
    pub async fn end(
        &self,
        sessions: &SessionStore,
        environments: &EnvironmentSet,
        login_name: &str,
        reference: &str,
    ) -> Result<bool, StoreError> {
        let Some(session) =
            self.list(sessions, login_name).await?.into_iter().find(|s| s.reference == reference)
        else {
            return Ok(false);
        };
        self.end_listed(sessions, environments, &session).await?;
        Ok(true)
    }

    /// Ends every session of the user but `keep` (their current one); how many ended.
    pub async fn end_others(
        &self,
        sessions: &SessionStore,
        environments: &EnvironmentSet,
        login_name: &str,
        keep: &str,
    ) -> Result<usize, StoreError> {
        let others: Vec<UserSession> =
            self.list(sessions, login_name).await?.into_iter().filter(|s| s.reference != keep).collect();
        self.end_each(sessions, environments, &others).await?;
        Ok(others.len())
    }

    /// Ends every session of the user (an admin's revocation); how many ended.
    pub async fn end_all(
        &self,
        sessions: &SessionStore,
        environments: &EnvironmentSet,
        login_name: &str,
    ) -> Result<usize, StoreError> {
        let all = self.list(sessions, login_name).await?;
        self.end_each(sessions, environments, &all).await?;
        Ok(all.len())
    }

    /// With a cap of `max` sessions per user, ends the oldest beyond it (keeping `keep`, the new
    /// one).
    pub async fn cap(
        &self,
        sessions: &SessionStore,
        environments: &EnvironmentSet,
        login_name: &str,
        keep: &str,
        max: usize,
    ) -> Result<(), StoreError> {
        let listed = self.list(sessions, login_name).await?;
        let excess = listed.len().saturating_sub(max.max(1));
        let oldest: Vec<UserSession> =
            listed.into_iter().filter(|s| s.reference != keep).take(excess).collect();
        self.end_each(sessions, environments, &oldest).await
    }

    /// [`Self::end_listed`] for each of `listed`, a few at a time: each ending waits out the
    /// revocation window before it answers (`SessionStore::destroy`), and those waits overlap.
    async fn end_each(
        &self,
        sessions: &SessionStore,
        environments: &EnvironmentSet,
        listed: &[UserSession],
    ) -> Result<(), StoreError> {
        use futures_util::{StreamExt, TryStreamExt};
        futures_util::stream::iter(listed)
            .map(|session| self.end_listed(sessions, environments, session))
            .buffer_unordered(ENDED_AT_ONCE)
            .try_collect()
            .await
    }

    /// Ends a listed session on every replica, takes it out of its indexes, and ends its
    /// manager sessions (concurrently).
    pub(super) async fn end_listed(
        &self,
        sessions: &SessionStore,
        environments: &EnvironmentSet,
        session: &UserSession,
    ) -> Result<(), StoreError> {
        sessions.destroy_reference::<PortalSession>(&session.reference).await?;
        self.ended(&session.data, &session.reference).await?;
        sign_out(environments, &session.data).await;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clients_are_described_coarsely() {
        let firefox = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";
        let chrome_android =
            "Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 Chrome/126.0 Mobile Safari/537.36";
        assert_eq!(agent(firefox), "Firefox on Linux");
        assert_eq!(agent(chrome_android), "Chrome on Android");
        assert_eq!(agent("curl/8.5.0"), "curl");
        assert_eq!(agent(""), "an unknown client");
        assert_eq!(network("203.0.113.77".parse().unwrap()), "203.0.113.x");
        assert_eq!(network("2001:db8:1:2::5".parse().unwrap()), "2001:db8:1::/48");
    }
}
