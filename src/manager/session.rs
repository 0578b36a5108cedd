//! A user's session on one manager and the credentials of one call, and how a session is read
//! from the manager's answers (the `Set-Cookie` of login, the `CSRF-Token` header).

use reqwest::header::{LOCATION, SET_COOKIE};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use super::ManagerError;

/// The name of the header that carries the manager's CSRF token, both ways.
pub const CSRF_HEADER: &str = "CSRF-Token";

/// A user's session on one manager: the session cookie and the CSRF token. Serializable so the
/// session store can keep it (encrypted) server-side.
#[derive(Clone, Serialize, Deserialize)]
pub struct ManagerSession {
    /// `name=value` of the session cookie(s), ready for a `Cookie` header.
    #[serde(with = "crate::compact::text")]
    pub cookie: String,
    #[serde(with = "crate::compact::optional_text")]
    pub csrf_token: Option<String>,
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
pub(crate) fn session_cookie(response: &reqwest::Response) -> Result<String, ManagerError> {
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
    Ok(pairs.join("; "))
}

pub(crate) fn csrf_token(response: &reqwest::Response) -> Option<String> {
    response
        .headers()
        .get(CSRF_HEADER)
        .and_then(|value| value.to_str().ok())
        .filter(|token| !token.is_empty())
        .map(str::to_owned)
}
