//! The portal session as the web layer sees it: the cookie, loading the session for a request,
//! and the CSRF checks for signed-in forms and API calls.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use actix_web::cookie::{Cookie, SameSite, time::Duration as CookieDuration};
use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, web};

use serde::Deserialize;

use super::WebError;
use crate::crypto::{random_token, token_matches};
use crate::federation::PortalSession;
use crate::state::AppState;
use crate::store::{Session, SessionId};

/// The session cookie's name: `__Host-` prefixed over https.
pub fn cookie_name(state: &AppState) -> String {
    let base = &state.settings().session.cookie_name;
    if state.is_https() { format!("__Host-{base}") } else { base.clone() }
}

/// The cookie that carries a new session id.
pub fn session_cookie(state: &AppState, id: &SessionId) -> Cookie<'static> {
    Cookie::build(cookie_name(state), id.as_str().to_owned())
        .path("/")
        .http_only(true)
        .secure(state.is_https())
        .same_site(SameSite::Lax)
        .finish()
}

/// A cookie that makes the browser forget `name`.
pub fn removal_cookie(state: &AppState, name: String) -> Cookie<'static> {
    let mut c = Cookie::build(name, "").path("/").http_only(true).secure(state.is_https()).finish();
    c.set_max_age(CookieDuration::ZERO);
    c
}

/// Loads the request's session: `None` for no cookie, a malformed id, or a session that is
/// unknown, expired or tampered with — all of them simply "signed out".
pub async fn load(req: &HttpRequest, state: &AppState) -> Result<Option<Session<PortalSession>>, WebError> {
    let Some(id) = session_id(req, state) else {
        return Ok(None);
    };
    Ok(state.sessions().load::<PortalSession>(&id).await?)
}

/// [`load`] for a request that only reads the session (a routed API call): no copy is made.
pub async fn load_shared(
    req: &HttpRequest,
    state: &AppState,
) -> Result<Option<Arc<Session<PortalSession>>>, WebError> {
    let Some(id) = session_id(req, state) else {
        return Ok(None);
    };
    Ok(state.sessions().load_shared::<PortalSession>(&id).await?)
}

/// The session cookie's id. Read straight from the `Cookie` headers (the first cookie with the
/// name wins, as with actix's parser): parsing every cookie into owned values on each API call
/// is measurable. A session id never needs decoding, and anything else is not one. The headers
/// are read as bytes: another cookie's value in UTF-8 (which a header's `to_str` refuses) must
/// not hide the session's.
fn session_id(req: &HttpRequest, state: &AppState) -> Option<SessionId> {
    session_id_from(req.headers().get_all(actix_web::http::header::COOKIE).map(|h| h.as_bytes()), state)
}

/// [`session_id`] from the values of a request's `Cookie` headers.
pub fn session_id_from<'a>(cookies: impl Iterator<Item = &'a [u8]>, state: &AppState) -> Option<SessionId> {
    session_id_in(cookies, &state.settings().session.cookie_name, state.is_https())
}

/// [`session_id`] from the `Cookie` header values: the cookie named `base` (`__Host-{base}` over
/// https), whose value is a well-formed session id.
fn session_id_in<'a>(headers: impl Iterator<Item = &'a [u8]>, base: &str, https: bool) -> Option<SessionId> {
    let prefix: &[u8] = if https { b"__Host-" } else { b"" };
    for header in headers {
        // (memchr: the header is read once per routed call, and a byte-by-byte split of it was
        // a measurable part of the call.)
        let mut start = 0;
        for end in memchr::memchr_iter(b';', header).chain([header.len()]) {
            let pair = &header[start..end];
            start = end + 1;
            if let Some(at) = memchr::memchr(b'=', pair)
                && pair[..at].trim_ascii().strip_prefix(prefix) == Some(base.as_bytes())
            {
                return std::str::from_utf8(pair[at + 1..].trim_ascii()).ok().and_then(SessionId::parse);
            }
        }
    }
    None
}

/// A handler argument for pages that need a signed-in consumer: when there is none, the
/// consumer is sent to the sign-in page and comes back afterwards.
pub struct SignedIn(pub Session<PortalSession>);

impl FromRequest for SignedIn {
    type Error = WebError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, WebError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let state = req
                .app_data::<web::Data<AppState>>()
                .ok_or_else(|| WebError::Unexpected(anyhow::anyhow!("application state missing")))?
                .clone();
            match load(&req, &state).await? {
                Some(session) => Ok(SignedIn(session)),
                None => {
                    let return_to = (req.method() == actix_web::http::Method::GET)
                        .then(|| req.uri().path_and_query().map(|p| p.to_string()))
                        .flatten();
                    Err(WebError::SignInRequired { return_to })
                }
            }
        })
    }
}

/// Refuses a signed-in form whose `csrf_token` is not the session's. A form without the field
/// reads as an empty token (every form field is `#[serde(default)]`), which never matches: a
/// missing token is refused with 403 like a wrong one, not with the form parser's 400.
pub fn check_csrf(session: &PortalSession, submitted: &str) -> Result<(), WebError> {
    if token_matches(&session.csrf_token, submitted) { Ok(()) } else { Err(WebError::Csrf) }
}

/// A `return_to` value is honoured only when it is a path on this site.
pub fn local_path(raw: Option<&str>) -> Option<String> {
    let raw = raw?.trim();
    let ok = raw.starts_with('/')
        && !raw.starts_with("//")
        && !raw.starts_with("/\\")
        && raw.len() <= 2048
        && !raw.chars().any(|c| c.is_control() || c == '\\');
    ok.then(|| raw.to_owned())
}

#[cfg(test)]
mod tests {
    use super::local_path;

    #[test]
    fn only_local_paths_are_return_targets() {
        assert_eq!(local_path(Some("/environments")).as_deref(), Some("/environments"));
        assert_eq!(local_path(Some("/a?b=c")).as_deref(), Some("/a?b=c"));
        for bad in
            ["https://evil.example/", "//evil.example", "/\\evil.example", "evil", "", "/a\nb", "/a\\b"]
        {
            assert_eq!(local_path(Some(bad)), None, "{bad:?}");
        }
        assert_eq!(local_path(None), None);
    }
}

/// `?return_to=` of a sign-in page (consumer or admin).
#[derive(Deserialize)]
pub struct LoginQuery {
    pub return_to: Option<String>,
}

/// A posted sign-in form (consumer or admin).
#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    pub username: String,
    #[serde(default)]
    pub password: String,
    #[serde(default)]
    pub csrf_token: String,
    pub return_to: Option<String>,
}

/// The anti-forgery pair of a form posted before there is a session (the sign-in forms): a
/// random nonce for a `SameSite=Strict` cookie, and its keyed tag for the form's `csrf_token`.
pub fn pre_session_pair(state: &AppState) -> (String, String) {
    let nonce = random_token(32);
    let tag = state.keys().csrf_tag(nonce.as_bytes());
    (nonce, tag)
}

/// Whether the nonce in cookie `cookie_name` matches the form's `csrf_token`.
pub fn pre_session_matches(req: &HttpRequest, state: &AppState, cookie_name: &str, csrf_token: &str) -> bool {
    req.cookie(cookie_name).is_some_and(|n| state.keys().csrf_matches(n.value().as_bytes(), csrf_token))
}

#[cfg(test)]
mod cookie_tests {
    use proptest::prelude::*;

    use super::*;

    const ID: &str = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJ0123456";

    proptest! {
        /// Whatever a caller puts in `Cookie`, the id found is a well-formed one that was sent
        /// under the session cookie's exact name, or none.
        #[test]
        fn a_crafted_cookie_header_yields_a_sent_id_or_none(header in "[ -~]{0,200}", https in any::<bool>()) {
            if let Some(id) = session_id_in(std::iter::once(header.as_bytes()), "portico_session", https) {
                prop_assert_eq!(id.as_str().len(), 43);
                prop_assert!(header.contains(id.as_str()));
                let name = if https { "__Host-portico_session" } else { "portico_session" };
                prop_assert!(header.contains(name));
            }
        }

        /// Among other cookies, in any order and spacing, the session cookie is found; look-alike
        /// names are not it.
        #[test]
        fn the_session_cookie_is_found_among_others(
            others in prop::collection::vec(("[a-zA-Z_]{1,12}", "[a-zA-Z0-9=]{0,20}"), 0..5),
            spaces in "[ ]{0,3}",
        ) {
            let mut pairs: Vec<String> = others
                .iter()
                .filter(|(name, _)| name != "portico_session")
                .map(|(name, value)| format!("{name}={value}"))
                .collect();
            pairs.insert(pairs.len() / 2, format!("portico_session={spaces}{ID}"));
            let header = pairs.join(";");
            let found = session_id_in(std::iter::once(header.as_bytes()), "portico_session", false);
            prop_assert_eq!(found.as_ref().map(SessionId::as_str), Some(ID));
            let lookalikes = format!("xportico_session={ID}; portico_session2={ID}; __Host-portico_session={ID}");
            prop_assert!(session_id_in(std::iter::once(lookalikes.as_bytes()), "portico_session", false).is_none());
        }

        /// Another application's cookie on the same host may hold UTF-8 (or any byte a browser
        /// sends): the session cookie beside it is still found, in the same header or another.
        #[test]
        fn other_cookies_in_any_bytes_do_not_hide_the_session(other in prop::collection::vec(any::<u8>(), 0..40)) {
            let other: Vec<u8> = other.into_iter().filter(|b| *b != b';').collect();
            let mut header = b"theme=".to_vec();
            header.extend_from_slice(&other);
            header.extend_from_slice(format!("; portico_session={ID}").as_bytes());
            let found = session_id_in(std::iter::once(header.as_slice()), "portico_session", false);
            prop_assert_eq!(found.as_ref().map(SessionId::as_str), Some(ID));
            let ours = format!("portico_session={ID}");
            let two = [other.as_slice(), ours.as_bytes()];
            let found = session_id_in(two.iter().copied(), "portico_session", false);
            prop_assert_eq!(found.as_ref().map(SessionId::as_str), Some(ID));
        }
    }
}
