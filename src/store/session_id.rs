//! The id of a session as its cookie carries it.

use crate::crypto::random_token;

/// The length of an id: 32 bytes in base64url without padding.
const LENGTH: usize = 43;

/// A session id as carried by the cookie: 32 CSPRNG bytes, base64url (256 bits). Kept inline:
/// every routed call reads one from its cookie, and it needs no allocation.
#[derive(Clone, PartialEq, Eq)]
pub struct SessionId([u8; LENGTH]);

impl SessionId {
    pub(super) fn generate() -> Self {
        let token = random_token(32);
        Self::parse(&token).unwrap_or_else(|| unreachable!("32 bytes are 43 base64url characters"))
    }

    /// Accepts only what [`SessionId::generate`] produces; anything else is not a session.
    pub fn parse(raw: &str) -> Option<Self> {
        let raw: [u8; LENGTH] = raw.as_bytes().try_into().ok()?;
        raw.iter().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_')).then_some(Self(raw))
    }

    pub fn as_str(&self) -> &str {
        // ASCII only (checked by `parse`), so always a string.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

impl std::fmt::Debug for SessionId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionId([redacted])")
    }
}
