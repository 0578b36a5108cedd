//! Texts kept as their bytes in binary formats (the sealed sessions): a random token written in
//! hex, base64url or as a UUID, a JWT, a manager's session cookie. Such a text is a third to a
//! half longer than the bytes it spells, and a session holds a few of them per environment.
//!
//! Use `#[serde(with = "crate::compact::text")]` (or `optional_text` for an `Option<String>`).
//! A human-readable format (JSON) still reads and writes the plain string; a binary one writes a
//! form byte and the bytes, and gives back exactly the text it was given (a form is chosen only
//! when it spells the text the same way: lowercase hex, canonical base64url, …).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

/// The API Manager's session cookie name, the same in every manager session of every
/// environment: written as one byte, not once per environment in every portal session.
const MANAGER_COOKIE: &str = "APIMANAGERSESSION=";

/// The forms (first byte of the packed text).
const TEXT: u8 = 0;
const HEX: u8 = 1;
const UUID: u8 = 2;
const BASE64URL: u8 = 3;
/// Dot-separated base64url segments (a JWT): each segment's length (u16, big-endian), its bytes.
const DOTTED: u8 = 4;
/// [`MANAGER_COOKIE`] followed by the rest in one of the forms above.
const COOKIE: u8 = 5;

/// The packed form of `text`.
pub fn pack(text: &str) -> Vec<u8> {
    match text.strip_prefix(MANAGER_COOKIE) {
        Some(value) => {
            let mut out = vec![COOKIE];
            pack_value(value, &mut out);
            out
        }
        None => {
            let mut out = Vec::with_capacity(text.len() + 1);
            pack_value(text, &mut out);
            out
        }
    }
}

/// The text `packed` spells; `None` when it is not a packed text.
pub fn unpack(packed: &[u8]) -> Option<String> {
    match packed.split_first()? {
        (&COOKIE, rest) => Some(format!("{MANAGER_COOKIE}{}", unpack_value(rest)?)),
        _ => unpack_value(packed),
    }
}

fn pack_value(text: &str, out: &mut Vec<u8>) {
    if let Some(bytes) = uuid(text) {
        out.push(UUID);
        out.extend_from_slice(&bytes);
    } else if let Some(bytes) = hex(text) {
        out.push(HEX);
        out.extend_from_slice(&bytes);
    } else if let Some(bytes) = base64url(text) {
        out.push(BASE64URL);
        out.extend_from_slice(&bytes);
    } else if let Some(segments) = dotted(text) {
        out.push(DOTTED);
        for segment in segments {
            // Each segment's length fits: `dotted` refuses longer ones.
            out.extend_from_slice(&u16::try_from(segment.len()).unwrap_or(u16::MAX).to_be_bytes());
            out.extend_from_slice(&segment);
        }
    } else {
        out.push(TEXT);
        out.extend_from_slice(text.as_bytes());
    }
}

fn unpack_value(packed: &[u8]) -> Option<String> {
    let (&form, bytes) = packed.split_first()?;
    match form {
        TEXT => String::from_utf8(bytes.to_vec()).ok(),
        HEX if !bytes.is_empty() => Some(crate::crypto::hex(bytes)),
        UUID if bytes.len() == 16 => {
            let h = crate::crypto::hex(bytes);
            Some(format!("{}-{}-{}-{}-{}", &h[..8], &h[8..12], &h[12..16], &h[16..20], &h[20..]))
        }
        BASE64URL if !bytes.is_empty() => Some(URL_SAFE_NO_PAD.encode(bytes)),
        DOTTED => {
            let mut segments = Vec::new();
            let mut rest = bytes;
            while let [high, low, tail @ ..] = rest {
                let len = usize::from(u16::from_be_bytes([*high, *low]));
                let segment = tail.get(..len)?;
                segments.push(URL_SAFE_NO_PAD.encode(segment));
                rest = &tail[len..];
            }
            (rest.is_empty() && segments.len() >= 2).then(|| segments.join("."))
        }
        _ => None,
    }
}

fn is_hex_digit(b: u8) -> bool {
    b.is_ascii_digit() || (b'a'..=b'f').contains(&b)
}

/// Lowercase hex of an even length.
fn hex(text: &str) -> Option<Vec<u8>> {
    let digits = text.as_bytes();
    if digits.is_empty() || !digits.len().is_multiple_of(2) || !digits.iter().copied().all(is_hex_digit) {
        return None;
    }
    let value = |b: u8| if b.is_ascii_digit() { b - b'0' } else { b - b'a' + 10 };
    Some(digits.chunks_exact(2).map(|pair| (value(pair[0]) << 4) | value(pair[1])).collect())
}

/// A UUID as `8-4-4-4-12` lowercase hex digits.
fn uuid(text: &str) -> Option<Vec<u8>> {
    let b = text.as_bytes();
    let dashes = [8, 13, 18, 23];
    if b.len() != 36 || dashes.iter().any(|&i| b[i] != b'-') {
        return None;
    }
    let digits: String = text.chars().filter(|&c| c != '-').collect();
    hex(&digits).filter(|bytes| bytes.len() == 16)
}

/// base64url without padding, spelled as Portico's encoder spells its bytes.
fn base64url(text: &str) -> Option<Vec<u8>> {
    if text.is_empty() {
        return None;
    }
    let bytes = URL_SAFE_NO_PAD.decode(text).ok()?;
    (URL_SAFE_NO_PAD.encode(&bytes) == text).then_some(bytes)
}

/// Two or more dot-separated base64url segments (empty ones allowed, as a JWT's signature may
/// be), each shorter than 64 KiB.
fn dotted(text: &str) -> Option<Vec<Vec<u8>>> {
    if !text.contains('.') {
        return None;
    }
    text.split('.')
        .map(|segment| match segment {
            "" => Some(Vec::new()),
            _ => base64url(segment).filter(|bytes| bytes.len() <= usize::from(u16::MAX)),
        })
        .collect()
}

/// A text that serializes packed in binary formats and as itself in human-readable ones.
struct Packed<'a>(&'a str);

impl Serialize for Packed<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            serializer.serialize_str(self.0)
        } else {
            serializer.serialize_bytes(&pack(self.0))
        }
    }
}

/// Reads what [`Packed`] wrote.
struct Unpacked(String);

impl<'de> Deserialize<'de> for Unpacked {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        if deserializer.is_human_readable() {
            String::deserialize(deserializer).map(Unpacked)
        } else {
            deserializer.deserialize_byte_buf(PackedVisitor)
        }
    }
}

struct PackedVisitor;

impl Visitor<'_> for PackedVisitor {
    type Value = Unpacked;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a packed text")
    }

    fn visit_bytes<E: de::Error>(self, bytes: &[u8]) -> Result<Unpacked, E> {
        unpack(bytes).map(Unpacked).ok_or_else(|| E::custom("not a packed text"))
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Unpacked, E> {
        Ok(Unpacked(text.to_owned()))
    }
}

/// `#[serde(with = "crate::compact::text")]` on a `String`.
pub mod text {
    use super::*;

    pub fn serialize<S: Serializer>(value: &str, serializer: S) -> Result<S::Ok, S::Error> {
        Packed(value).serialize(serializer)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
        Unpacked::deserialize(deserializer).map(|u| u.0)
    }
}

/// `#[serde(with = "crate::compact::optional_text")]` on an `Option<String>`.
pub mod optional_text {
    use super::*;

    pub fn serialize<S: Serializer>(value: &Option<String>, serializer: S) -> Result<S::Ok, S::Error> {
        value.as_deref().map(Packed).serialize(serializer)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
        Option::<Unpacked>::deserialize(deserializer).map(|o| o.map(|u| u.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn form(text: &str) -> u8 {
        pack(text)[0]
    }

    #[test]
    fn each_shape_of_token_is_kept_as_its_bytes() {
        let hex64 = "0f".repeat(32);
        assert_eq!((form(&hex64), pack(&hex64).len()), (HEX, 33));
        let uuid = "3f2504e0-4f89-41d3-9a0c-0305e82c3301";
        assert_eq!((form(uuid), pack(uuid).len()), (UUID, 17));
        let token = crate::crypto::random_token(32);
        assert_eq!((form(&token), pack(&token).len()), (BASE64URL, 33));
        let jwt = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl";
        assert_eq!(form(jwt), DOTTED);
        assert!(pack(jwt).len() < jwt.len());
        let cookie = format!("APIMANAGERSESSION={hex64}");
        assert_eq!(pack(&cookie), [&[COOKIE, HEX][..], &[0x0f; 32]].concat());
        for text in [hex64.as_str(), uuid, &token, jwt, &cookie] {
            assert_eq!(unpack(&pack(text)).as_deref(), Some(text));
        }
    }

    #[test]
    fn a_text_of_no_known_shape_is_kept_as_it_is() {
        for text in [
            "",
            "alice",
            "Firefox on Linux",
            "0F0F",
            "abc",
            "3F2504E0-4F89-41D3-9A0C-0305E82C3301",
            "a=b; c=d",
            "a..b",
        ] {
            assert!(matches!(form(text), TEXT | BASE64URL | DOTTED), "{text}");
            assert_eq!(unpack(&pack(text)).as_deref(), Some(text));
        }
        assert_eq!(form("Firefox on Linux"), TEXT);
        assert_eq!(form("a=b; c=d"), TEXT);
    }

    #[test]
    fn bytes_that_are_no_packed_text_are_refused() {
        for bad in [
            &[][..],
            &[9, 1, 2],
            &[HEX],
            &[UUID, 1, 2],
            &[BASE64URL],
            &[DOTTED, 0, 5, 1],
            &[TEXT, 0xff],
            &[COOKIE, COOKIE, 1],
        ] {
            assert_eq!(unpack(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn json_still_reads_and_writes_the_plain_text() {
        #[derive(Serialize, Deserialize, PartialEq, Debug)]
        struct Both {
            #[serde(with = "text")]
            a: String,
            #[serde(with = "optional_text")]
            b: Option<String>,
        }
        let value = Both { a: "0f".repeat(4), b: Some("3f2504e0-4f89-41d3-9a0c-0305e82c3301".to_owned()) };
        let json = serde_json::to_string(&value).unwrap();
        assert_eq!(json, r#"{"a":"0f0f0f0f","b":"3f2504e0-4f89-41d3-9a0c-0305e82c3301"}"#);
        assert_eq!(serde_json::from_str::<Both>(&json).unwrap(), value);
        let binary = postcard::to_allocvec(&value).unwrap();
        assert!(binary.len() < json.len() / 2);
        assert_eq!(postcard::from_bytes::<Both>(&binary).unwrap(), value);
    }

    proptest! {
        #[test]
        fn any_text_comes_back_as_it_was(text in ".{0,80}") {
            prop_assert_eq!(unpack(&pack(&text)), Some(text));
        }

        #[test]
        fn any_token_comes_back_as_it_was(text in "(APIMANAGERSESSION=)?[0-9a-fA-F_.-]{0,80}") {
            prop_assert_eq!(unpack(&pack(&text)), Some(text));
        }

        #[test]
        fn unpacking_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..100)) {
            let _ = unpack(&bytes);
        }
    }
}
