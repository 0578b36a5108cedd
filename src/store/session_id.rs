//! The id of a session as its cookie carries it.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// The length of an id: 32 bytes in base64url without padding.
const LENGTH: usize = 43;
const _: () = assert!(matches!(base64::encoded_len(32, false), Some(LENGTH)));

/// A session id as carried by the cookie: 32 CSPRNG bytes, base64url (256 bits). Kept inline:
/// every routed call reads one from its cookie, and it needs no allocation.
#[derive(Clone, PartialEq, Eq)]
pub struct SessionId([u8; LENGTH]);

impl SessionId {
    pub(super) fn generate() -> Self {
        let bytes: [u8; 32] = rand::random();
        let mut id = [0u8; LENGTH];
        // (The id's length is checked against the encoding's at compile time, above: the slice
        // always fits, and the only error `encode_slice` has is a slice too small.)
        let _ = URL_SAFE_NO_PAD.encode_slice(bytes, &mut id);
        Self(id)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_are_what_parse_accepts_and_differ() {
        let (a, b) = (SessionId::generate(), SessionId::generate());
        for id in [&a, &b] {
            assert_eq!(SessionId::parse(id.as_str()).as_ref(), Some(id));
            assert_eq!(URL_SAFE_NO_PAD.decode(id.as_str()).map(|bytes| bytes.len()), Ok(32));
        }
        assert_ne!(a, b);
    }
}
