//! Keys derived from `session.secret`, and what they are used for: sealing session data (AEAD),
//! keyed hashes that name Redis keys without revealing ids or usernames, and CSRF tags.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;
use subtle::ConstantTimeEq;

const NONCE_LEN: usize = 24;

/// A sealed value ([`Keys::seal`]) begins with this many bytes that no other seal shares (its
/// nonce, drawn at random for each seal): a store can tell two writes of one key apart by them
/// without reading the rest.
pub const SEAL_STAMP_LEN: usize = NONCE_LEN;

/// Keys for one deployment. Every replica with the same `session.secret` derives the same keys.
pub struct Keys {
    cipher: XChaCha20Poly1305,
    lookup: [u8; 32],
    csrf: [u8; 32],
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Keys([redacted])")
    }
}

fn expand(hkdf: &Hkdf<Sha256>, info: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    // 32 bytes is far below HKDF-SHA256's limit, so expansion cannot fail.
    let _ = hkdf.expand(info.as_bytes(), &mut out);
    out
}

impl Keys {
    pub fn derive(secret: &SecretString) -> Self {
        let hkdf = Hkdf::<Sha256>::new(Some(b"portico/v1"), secret.expose_secret().as_bytes());
        let encryption = expand(&hkdf, "session-encryption");
        Self {
            cipher: XChaCha20Poly1305::new(&encryption.into()),
            lookup: expand(&hkdf, "lookup-hash"),
            csrf: expand(&hkdf, "csrf"),
        }
    }

    /// Encrypts and authenticates `plaintext`, bound to `context` (e.g. the key it is stored
    /// under). Output: nonce ‖ ciphertext ‖ tag (the nonce is the seal's stamp,
    /// [`SEAL_STAMP_LEN`]).
    pub fn seal(&self, context: &[u8], plaintext: &[u8]) -> Option<Vec<u8>> {
        let nonce_bytes: [u8; NONCE_LEN] = rand::random();
        let nonce = XNonce::from(nonce_bytes);
        let sealed = self.cipher.encrypt(&nonce, Payload { msg: plaintext, aad: context }).ok()?;
        let mut out = Vec::with_capacity(NONCE_LEN + sealed.len());
        out.extend_from_slice(&nonce_bytes);
        out.extend_from_slice(&sealed);
        Some(out)
    }

    /// Reverses [`Keys::seal`]; `None` when the data was altered, sealed under another key or
    /// for another context.
    pub fn open(&self, context: &[u8], sealed: &[u8]) -> Option<Vec<u8>> {
        if sealed.len() < NONCE_LEN {
            return None;
        }
        let (nonce, body) = sealed.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().ok()?;
        self.cipher.decrypt(&XNonce::from(nonce), Payload { msg: body, aad: context }).ok()
    }

    /// A keyed hash (hex, 128 bits) that names something in Redis without revealing it.
    pub fn lookup_hash(&self, domain: &str, value: &[u8]) -> String {
        hex(&self.mac(&self.lookup, domain, value)[..16])
    }

    /// The CSRF tag of a value (hex, 256 bits).
    pub fn csrf_tag(&self, value: &[u8]) -> String {
        hex(&self.mac(&self.csrf, "csrf", value))
    }

    /// Compares a submitted CSRF tag with the expected one in constant time.
    pub fn csrf_matches(&self, value: &[u8], submitted: &str) -> bool {
        constant_time_eq(self.csrf_tag(value).as_bytes(), submitted.as_bytes())
    }

    fn mac(&self, key: &[u8; 32], domain: &str, value: &[u8]) -> [u8; 32] {
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key) else {
            return [0; 32];
        };
        mac.update(domain.as_bytes());
        mac.update(&[0]);
        mac.update(value);
        mac.finalize().into_bytes().into()
    }
}

/// Equality that takes the same time wherever the inputs differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

/// Whether a submitted secret token (a CSRF token) is the expected one, in constant time. An
/// empty expected token matches nothing: a session that somehow lost its token must refuse every
/// form, not accept the form that sends none.
pub fn token_matches(expected: &str, submitted: &str) -> bool {
    !expected.is_empty() && constant_time_eq(expected.as_bytes(), submitted.as_bytes())
}

/// Lowercase hex (keyed hashes, several per request: no formatting machinery).
pub fn hex(bytes: &[u8]) -> String {
    let mut out = vec![0; bytes.len() * 2];
    hex_into(bytes, &mut out);
    // Hex digits only, so always UTF-8.
    String::from_utf8(out).unwrap_or_default()
}

/// Lowercase hex of `bytes` into `out`, two digits per byte (as far as `out` reaches): for ids
/// kept inline rather than in a `String`.
pub fn hex_into(bytes: &[u8], out: &mut [u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for (&b, pair) in bytes.iter().zip(out.chunks_exact_mut(2)) {
        pair[0] = DIGITS[usize::from(b >> 4)];
        pair[1] = DIGITS[usize::from(b & 0x0f)];
    }
}

/// `n` bytes from the operating system's CSPRNG, base64url without padding.
pub fn random_token(n: usize) -> String {
    use base64::Engine;
    let mut bytes = vec![0u8; n];
    rand::fill(&mut bytes[..]);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn keys(secret: &str) -> Keys {
        Keys::derive(&SecretString::from(secret.to_owned()))
    }

    #[test]
    fn two_seals_of_the_same_data_have_different_stamps() {
        let k = keys("one secret");
        let (first, second) = (k.seal(b"ctx", b"same").unwrap(), k.seal(b"ctx", b"same").unwrap());
        assert_ne!(first[..SEAL_STAMP_LEN], second[..SEAL_STAMP_LEN]);
        assert_eq!(k.open(b"ctx", &first), k.open(b"ctx", &second));
    }

    #[test]
    fn sealed_data_opens_only_with_the_same_key_and_context() {
        let k = keys("one secret");
        let sealed = k.seal(b"ctx", b"manager cookie").unwrap();
        assert!(!sealed.windows(14).any(|w| w == b"manager cookie"), "not in clear");
        assert_eq!(k.open(b"ctx", &sealed).as_deref(), Some(&b"manager cookie"[..]));
        assert_eq!(k.open(b"other", &sealed), None);
        assert_eq!(keys("another secret").open(b"ctx", &sealed), None);
        let mut tampered = sealed.clone();
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        assert_eq!(k.open(b"ctx", &tampered), None);
        assert_eq!(k.open(b"ctx", b"short"), None);
    }

    #[test]
    fn csrf_tags_verify_and_lookup_hashes_are_stable() {
        let k = keys("s");
        let tag = k.csrf_tag(b"v");
        assert!(k.csrf_matches(b"v", &tag));
        assert!(!k.csrf_matches(b"w", &tag));
        assert!(!k.csrf_matches(b"v", ""));
        assert_eq!(k.lookup_hash("user", b"alice"), keys("s").lookup_hash("user", b"alice"));
        assert_ne!(k.lookup_hash("user", b"alice"), k.lookup_hash("ip", b"alice"));
        assert_eq!(random_token(32).len(), 43);
    }

    #[test]
    fn hex_is_lowercase_two_digits_per_byte() {
        assert_eq!(hex(&[0x00, 0x0f, 0x10, 0xa5, 0xff]), "000f10a5ff");
        assert_eq!(hex(&[]), "");
    }

    #[test]
    fn an_empty_token_never_matches() {
        assert!(!token_matches("", ""), "a session without a token refuses every form");
        assert!(!token_matches(&random_token(32), ""));
        assert!(!keys("s").csrf_matches(b"", ""), "a pre-session tag is never empty");
    }

    proptest! {
        #[test]
        fn only_the_expected_token_matches(expected in ".{0,64}", submitted in ".{0,64}") {
            prop_assert_eq!(
                token_matches(&expected, &submitted),
                !expected.is_empty() && expected == submitted
            );
            prop_assert_eq!(token_matches(&expected, &expected), !expected.is_empty());
        }

        #[test]
        fn a_pre_session_tag_matches_only_its_own_value(value in ".{0,64}", submitted in ".{0,80}") {
            let k = keys("s");
            prop_assert!(k.csrf_matches(value.as_bytes(), &k.csrf_tag(value.as_bytes())));
            prop_assert_eq!(k.csrf_matches(value.as_bytes(), &submitted), submitted == k.csrf_tag(value.as_bytes()));
        }

        #[test]
        fn opening_arbitrary_bytes_never_panics(data in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = keys("s").open(b"ctx", &data);
        }
    }
}
