//! A user's session on one manager and the credentials of one call, and how a session is read
//! from the manager's answers (the `Set-Cookie` of login, the `CSRF-Token` header).

use bytes::Bytes;
use reqwest::header::{HeaderValue, LOCATION, SET_COOKIE};
use secrecy::SecretString;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::ManagerError;

/// The name of the header that carries the manager's CSRF token, both ways.
pub const CSRF_HEADER: &str = "CSRF-Token";

/// A user's session on one manager: the session cookie and the CSRF token. Serializable so the
/// session store can keep it (encrypted) server-side.
#[derive(Clone, Serialize, Deserialize)]
pub struct ManagerSession {
    /// `name=value` of the session cookie(s), ready for a `Cookie` header.
    pub cookie: SessionCredential,
    pub csrf_token: Option<SessionCredential>,
}

impl ManagerSession {
    pub fn new(cookie: &str, csrf_token: Option<&str>) -> Self {
        Self { cookie: SessionCredential::new(cookie), csrf_token: csrf_token.map(SessionCredential::new) }
    }
}

/// A credential of a manager session as the header value it is sent in: made (and marked
/// sensitive, so HTTP/2's header compression never indexes it) once, when the session is made or
/// read, and cloned — a reference count, no copy — into each call to the manager. Kept in the
/// session store as a compact text (`crate::compact`). (No `PartialEq`: a secret is compared in
/// constant time or not at all.)
#[derive(Clone)]
pub struct SessionCredential(HeaderValue);

impl SessionCredential {
    /// A text a header cannot carry (a control character) becomes an empty value, which a
    /// manager refuses as no credential.
    pub fn new(text: &str) -> Self {
        Self::from_string(text.to_owned())
    }

    fn from_string(text: String) -> Self {
        let mut value = HeaderValue::from_maybe_shared(Bytes::from(text))
            .unwrap_or_else(|_| HeaderValue::from_static(""));
        value.set_sensitive(true);
        Self(value)
    }

    pub fn as_str(&self) -> &str {
        // (Made from a `str`: always UTF-8.)
        std::str::from_utf8(self.0.as_bytes()).unwrap_or_default()
    }

    /// The header value, for one call.
    pub fn header(&self) -> HeaderValue {
        self.0.clone()
    }
}

impl std::fmt::Debug for SessionCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionCredential([redacted])")
    }
}

impl Serialize for SessionCredential {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        crate::compact::text::serialize(self.as_str(), serializer)
    }
}

impl<'de> Deserialize<'de> for SessionCredential {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        crate::compact::text::deserialize(deserializer).map(Self::from_string)
    }
}

impl std::fmt::Debug for ManagerSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ManagerSession([redacted])")
    }
}

/// How one call authenticates.
#[derive(Clone, Copy)]
pub enum ManagerCredentials<'a> {
    Session(&'a ManagerSession),
    /// An access token of the identity provider, sent as `Authorization: Bearer`.
    Bearer(&'a str),
    Basic {
        username: &'a str,
        password: &'a SecretString,
    },
}

impl std::fmt::Debug for ManagerCredentials<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ManagerCredentials::Session(_) => f.write_str("Session([redacted])"),
            ManagerCredentials::Bearer(_) => f.write_str("Bearer([redacted])"),
            ManagerCredentials::Basic { username, .. } => {
                write!(f, "Basic({username}, [redacted])")
            }
        }
    }
}

/// The session cookie(s) a successful login sets, as `name=value; name2=value2`.
pub(crate) fn session_cookie(response: &reqwest::Response) -> Result<SessionCredential, ManagerError> {
    let pairs: Vec<String> = response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .filter_map(|value| actix_web::cookie::Cookie::parse(value.to_owned()).ok())
        // A cookie set to expire at once is the manager clearing it, not a session.
        .filter(|cookie| !cookie.value().is_empty() && cookie.max_age().is_none_or(|age| age.is_positive()))
        .map(|cookie| format!("{}={}", cookie.name(), cookie.value()))
        .collect();
    if pairs.is_empty() {
        let what = if response.headers().contains_key(LOCATION) {
            "login redirected without setting a session cookie"
        } else {
            "login answered 303 without a session cookie"
        };
        return Err(ManagerError::Malformed(what.into()));
    }
    Ok(SessionCredential::from_string(pairs.join("; ")))
}

pub(crate) fn csrf_token(response: &reqwest::Response) -> Option<SessionCredential> {
    response
        .headers()
        .get(CSRF_HEADER)
        .and_then(|value| value.to_str().ok())
        .filter(|token| !token.is_empty())
        .map(SessionCredential::new)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The form sessions were stored in before the credentials were kept as header values.
    #[derive(Serialize)]
    struct StoredBefore {
        #[serde(with = "crate::compact::text")]
        cookie: String,
        #[serde(with = "crate::compact::optional_text")]
        csrf_token: Option<String>,
    }

    #[test]
    fn a_manager_session_is_stored_as_before_and_reads_back() {
        let cookie = format!("APIMANAGERSESSION={}", crate::crypto::hex(&[7; 32]));
        for token in [None, Some("3f2504e0-4f89-41d3-9a0c-0305e82c3301")] {
            let before = StoredBefore { cookie: cookie.clone(), csrf_token: token.map(str::to_owned) };
            let stored = postcard::to_allocvec(&before).unwrap();
            assert_eq!(postcard::to_allocvec(&ManagerSession::new(&cookie, token)).unwrap(), stored);
            let read: ManagerSession = postcard::from_bytes(&stored).unwrap();
            assert_eq!(read.cookie.as_str(), cookie);
            assert_eq!(read.csrf_token.as_ref().map(SessionCredential::as_str), token);
            assert!(read.cookie.header().is_sensitive());
        }
    }
}
