//! The id of a session as its cookie carries it.

use crate::crypto::random_token;

/// A session id as carried by the cookie: 32 CSPRNG bytes, base64url (256 bits).
#[derive(Clone, PartialEq, Eq)]
pub struct SessionId(String);

impl SessionId {
    pub(super) fn generate() -> Self {
        Self(random_token(32))
    }

    /// Accepts only what [`SessionId::generate`] produces; anything else is not a session.
    pub fn parse(raw: &str) -> Option<Self> {
        let ok = raw.len() == 43 && raw.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        ok.then(|| Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for SessionId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionId([redacted])")
    }
}
