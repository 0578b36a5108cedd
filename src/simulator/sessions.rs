//! The simulator's live manager sessions: session cookie → user, with the session's CSRF token.

use std::collections::HashMap;
use std::sync::Mutex;

/// The session cookie the manager sets on login.
pub const SESSION_COOKIE: &str = "APIMANAGERSESSION";

#[derive(Debug, Clone)]
pub(crate) struct SimSession {
    pub user_id: String,
    pub login_name: String,
    pub csrf_token: String,
}

#[derive(Debug, Default)]
pub(crate) struct Sessions {
    live: Mutex<HashMap<String, SimSession>>,
}

impl Sessions {
    /// Opens a session; returns its cookie value.
    pub fn open(&self, user_id: &str, login_name: &str) -> String {
        let id = random_token();
        let session = SimSession {
            user_id: user_id.to_owned(),
            login_name: login_name.to_owned(),
            csrf_token: random_token(),
        };
        self.lock().insert(id.clone(), session);
        id
    }

    pub fn get(&self, id: &str) -> Option<SimSession> {
        self.lock().get(id).cloned()
    }

    pub fn close(&self, id: &str) -> bool {
        self.lock().remove(id).is_some()
    }

    /// Closes every session of one user; returns how many there were.
    pub fn close_all_of(&self, login_name: &str) -> usize {
        let mut live = self.lock();
        let before = live.len();
        live.retain(|_, session| session.login_name != login_name);
        before - live.len()
    }

    /// Login names with a live session (one entry per session), sorted.
    pub fn login_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.lock().values().map(|s| s.login_name.clone()).collect();
        names.sort();
        names
    }

    /// The session ids (cookie values) that are live: tests look for them where they must not be.
    pub fn ids(&self) -> Vec<String> {
        self.lock().keys().cloned().collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, SimSession>> {
        // A panic while holding the lock cannot leave the map half-updated (single inserts and
        // removes), so a poisoned lock is still usable.
        self.live.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// 256 bits from the OS-seeded CSPRNG, hex encoded.
fn random_token() -> String {
    let bytes: [u8; 32] = rand::random();
    crate::crypto::hex(&bytes)
}
