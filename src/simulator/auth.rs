//! Who is calling: the session cookie (with the CSRF check for unsafe methods), HTTP Basic, or
//! an identity provider's access token (`Authorization: Bearer`, when configured).

use actix_web::http::{Method, StatusCode};
use actix_web::{HttpMessage, HttpRequest};
use base64::Engine;
use subtle::ConstantTimeEq;

use super::data::SimUser;
use super::requests::RequestUser;
use super::sessions::SESSION_COOKIE;
use super::state::SimState;
use super::views::Refusal;

/// The authenticated caller of one request.
#[derive(Debug, Clone)]
pub(crate) struct Caller {
    pub user: SimUser,
    /// The session cookie value, when the call came with a session.
    pub session_id: Option<String>,
}

/// Authenticates a request, or gives the answer to refuse it with (401, or 403 for a missing or
/// wrong CSRF token on an unsafe call).
pub(crate) async fn authenticate(req: &HttpRequest, state: &SimState) -> Result<Caller, Refusal> {
    if let (Some(bearer), Some(token)) = (&state.bearer, bearer_token(req)) {
        let user = bearer.user(state, &token).await?;
        remember_user(req, &user.login_name);
        return Ok(Caller { user, session_id: None });
    }
    if let Some(cookie) = req.cookie(SESSION_COOKIE) {
        let session = state.sessions.get(cookie.value()).ok_or_else(Refusal::unauthorized)?;
        remember_user(req, &session.login_name);
        let user = state.data().user(&session.user_id).cloned();
        let user = user.ok_or_else(Refusal::unauthorized)?;
        if is_unsafe(req.method()) && !csrf_matches(req, &session.csrf_token) {
            return Err(Refusal::new(StatusCode::FORBIDDEN, "Missing or invalid CSRF token"));
        }
        return Ok(Caller { user, session_id: Some(cookie.value().to_owned()) });
    }
    if let Some((login_name, password)) = basic_credentials(req) {
        remember_user(req, &login_name);
        let data = state.data();
        let user = data
            .user_by_login(&login_name)
            .filter(|user| user.enabled && !user.password_change_required)
            .filter(|user| password_matches(user, &password))
            .cloned();
        return user.map(|user| Caller { user, session_id: None }).ok_or_else(Refusal::unauthorized);
    }
    Err(Refusal::unauthorized())
}

/// Whether the password is the user's. Shadow users of a slave have none and never match.
pub(crate) fn password_matches(user: &SimUser, password: &str) -> bool {
    user.password.as_deref().is_some_and(|known| bool::from(known.as_bytes().ct_eq(password.as_bytes())))
}

/// Notes the login name for the request log.
pub(crate) fn remember_user(req: &HttpRequest, login_name: &str) {
    req.extensions_mut().insert(RequestUser(login_name.to_owned()));
}

fn is_unsafe(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

fn csrf_matches(req: &HttpRequest, expected: &str) -> bool {
    req.headers()
        .get(crate::manager::CSRF_HEADER)
        .is_some_and(|sent| bool::from(sent.as_bytes().ct_eq(expected.as_bytes())))
}

fn bearer_token(req: &HttpRequest) -> Option<String> {
    let value = req.headers().get("authorization")?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim().to_owned())
}

fn basic_credentials(req: &HttpRequest) -> Option<(String, String)> {
    let value = req.headers().get("authorization")?.to_str().ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD.decode(encoded.trim()).ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (login_name, password) = decoded.split_once(':')?;
    Some((login_name.to_owned(), password.to_owned()))
}
