//! What is sealed for a session: a format byte, then the session in that format.
//!
//! **Format 1** (byte `0x01`): `(created_at, data)` in postcard, a compact binary serde format —
//! no field names nor enum tags are written, integers are varints, and tokens, ids and cookies
//! are kept as their bytes (`crate::compact`). The groups a session is in ([`Grouped`]) are not
//! written: they are the data's own ([`Grouped::groups`]), read from it when the session ends.
//!
//! **The format before** (JSON of `{created_at, data, groups}`, first byte `{`) is not read as a
//! session: such a session counts as signed out, and its user signs in again once after the
//! upgrade. Its types were internally tagged enums that a binary format cannot read, and sessions
//! live at most `session.absolute_timeout`: keeping a second shape of every session type to read
//! them is not worth it. Its groups are still read, so ending it keeps the figures per
//! environment right, and it is not deleted when read (a rollback finds it intact).
//!
//! During a rolling upgrade a replica of the previous version reads a format-1 session as
//! undecodable, which it treats as signed out: no crash, nothing served, nothing written over it
//! (a rewrite needs the session it loaded). The seal itself does not change: the whole plaintext,
//! the format byte included, is encrypted and authenticated, bound to the session's key.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::Grouped;

/// The leading byte of format 1.
const COMPACT: u8 = 0x01;
/// The leading byte of the previous format (a JSON object).
const JSON: u8 = b'{';

/// The plaintext to seal for a session created at `created_at`.
pub(super) fn encode<T: Serialize>(created_at: i64, data: &T) -> Result<Vec<u8>, postcard::Error> {
    let body = postcard::to_allocvec(&(created_at, data))?;
    let mut plain = Vec::with_capacity(1 + body.len());
    plain.push(COMPACT);
    plain.extend_from_slice(&body);
    Ok(plain)
}

/// The creation time and the data of an opened session; `None` for another format or data that
/// does not decode.
pub(super) fn decode<T: DeserializeOwned>(plain: &[u8]) -> Option<(i64, T)> {
    match plain.split_first() {
        Some((&COMPACT, body)) => postcard::from_bytes(body).ok(),
        _ => None,
    }
}

/// The groups an opened session is in, whatever its format (what ending it takes it out of).
pub(super) fn groups<T: DeserializeOwned + Grouped>(plain: &[u8]) -> Vec<String> {
    if plain.first() == Some(&JSON) {
        #[derive(Deserialize)]
        struct Previous {
            #[serde(default)]
            groups: Vec<String>,
        }
        return serde_json::from_slice::<Previous>(plain).map(|p| p.groups).unwrap_or_default();
    }
    decode::<T>(plain).map(|(_, data)| data.groups().member_of).unwrap_or_default()
}
