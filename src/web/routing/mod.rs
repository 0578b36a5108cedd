//! Routing API calls through the portal (SPEC §5): `* /api/portal/v1.3/{path}` goes to the
//! signed-in consumer's current environment, `* /environments/{id}/manager/{path}` to the named
//! one, each as that consumer — their manager session is added server-side, and the portal's
//! own cookies never leave the portal.
//!
//! What the router refuses (SPEC §5): paths that climb or smuggle separators (400), the
//! manager's credential endpoints (403: the portal keeps the manager sessions, so a routed call
//! never tests a password), TRACE and CONNECT; the caller's forwarding headers are dropped and
//! the manager's security headers replaced by Portico's (see `exchange`).
//!
//! A routed call costs one session-store round trip (the session read, which also slides its
//! idle timeout); the session is written back only when the manager has ended its session.

mod error;
mod exchange;

use std::net::IpAddr;
use std::sync::Arc;

use futures_util::FutureExt;
use hyper::header::HeaderName;
use hyper::http::request::Parts;
use hyper::{Method, Response};

use crate::crypto::token_matches;
use crate::domain::EnvironmentId;
use crate::federation::{self, Environment, EnvironmentLink, PortalSession};
use crate::manager::{ForwardBody, ForwardPath, ForwardRequest, PathRefusal};
use crate::state::AppState;
use crate::store::Session;
use crate::web::client_ip::client_ip_of;
use crate::web::front::Body;
use crate::web::{label_route, session};
pub use error::RouteError;

/// The manager API's base path, as clients of the portal address it.
pub const API_PREFIX: &str = "/api/portal/v1.3";

/// The header that carries the portal session's CSRF token on unsafe routed calls
/// (`X-CSRF-Token`). A name, not text: text is parsed and checked on each lookup.
pub const CSRF_HEADER: HeaderName = HeaderName::from_static("x-csrf-token");

/// The metrics label of calls routed to the current environment.
const CURRENT_ROUTE: &str = "/api/portal/v1.3/{path}";
/// The metrics label of calls routed to a named environment.
const NAMED_ROUTE: &str = "/environments/{id}/manager/{path}";

/// Where a routed call goes, read from its path as sent (nothing decoded).
enum Target<'a> {
    /// `/api/portal/v1.3{tail}`: the current environment.
    Current { tail: &'a str },
    /// `/environments/{id}/manager{tail}`: the named one.
    Named { id: &'a str, tail: &'a str },
}

/// `path` past `prefix`, when it is `prefix` itself or goes on below it.
fn below<'a>(path: &'a str, prefix: &str) -> Option<&'a str> {
    path.strip_prefix(prefix).filter(|tail| tail.is_empty() || tail.starts_with('/'))
}

fn target(path: &str) -> Option<Target<'_>> {
    if let Some(tail) = below(path, API_PREFIX) {
        return Some(Target::Current { tail });
    }
    let rest = path.strip_prefix("/environments/")?;
    let (id, rest) = rest.split_once('/')?;
    let tail = below(rest, "manager").map(|_| &rest["manager".len()..])?;
    (!id.is_empty()).then_some(Target::Named { id, tail })
}

/// Whether the public listener routes a request for `path` to a manager (everything else goes to
/// the portal's pages).
pub fn is_routed(path: &str) -> bool {
    target(path).is_some()
}

/// A routed call, the caller's address as Portico trusts it and its body (deadline bound).
pub struct Call {
    pub head: Parts,
    pub body: Option<ForwardBody>,
    pub peer: IpAddr,
}

/// Serves a call [`is_routed`] said is routed: the manager's answer, or Portico's own error in the
/// manager's error shape.
///
/// (Not an `async fn`: one awaiting `route` would be about twice its size, and so would every
/// future above it.)
pub fn serve(call: Call, state: &AppState) -> impl Future<Output = Response<Body>> {
    route(call, state).map(|answer| answer.unwrap_or_else(RouteError::into_response))
}

async fn route(call: Call, state: &AppState) -> Result<Response<Body>, RouteError> {
    let path = call.head.uri.path();
    let (session, env, tail) = match target(path) {
        Some(Target::Current { tail }) => {
            label_route(CURRENT_ROUTE);
            let session = signed_in(&call, state).await?;
            let env = session
                .data
                .current
                .as_ref()
                .and_then(|id| state.environments().get(id))
                .filter(|env| env.enabled())
                .ok_or(RouteError::NoCurrentEnvironment)?;
            (session, env, tail)
        }
        Some(Target::Named { id, tail }) => {
            label_route(NAMED_ROUTE);
            let session = signed_in(&call, state).await?;
            let env = EnvironmentId::parse(id)
                .ok()
                .and_then(|id| state.environments().get(&id))
                .filter(|env| env.enabled())
                .ok_or(RouteError::UnknownEnvironment)?;
            (session, env, tail)
        }
        None => return Err(RouteError::BadPath),
    };
    // (Where the tail starts, not the tail: the call itself goes on to the manager.)
    let tail_at = path.len() - tail.len();
    forward(call, state, session, env, tail_at).await
}

async fn signed_in(call: &Call, state: &AppState) -> Result<Arc<Session<PortalSession>>, RouteError> {
    let cookies = call.head.headers.get_all(hyper::header::COOKIE).iter().map(|v| v.as_bytes());
    let Some(id) = session::session_id_from(cookies, state) else {
        return Err(RouteError::SignedOut);
    };
    match state.sessions().load_shared::<PortalSession>(&id).await {
        Ok(Some(session)) => Ok(session),
        Ok(None) => Err(RouteError::SignedOut),
        Err(e) => Err(e.into()),
    }
}

/// Methods that change nothing; every other method needs the CSRF header.
fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

async fn forward(
    call: Call,
    state: &AppState,
    mut session: Arc<Session<PortalSession>>,
    env: Arc<Environment>,
    tail_at: usize,
) -> Result<Response<Body>, RouteError> {
    let Call { head, body, peer } = call;
    // TRACE would echo the injected manager cookie back to the caller; CONNECT is no API call.
    if matches!(head.method, Method::TRACE | Method::CONNECT) {
        return Err(RouteError::MethodNotAllowed(head.method.to_string()));
    }
    // Before anything else is looked at: a refused path is refused the same way whatever the
    // request carries, so its answer tells nothing about any password in it.
    let path =
        ForwardPath::parse(&head.uri.path()[tail_at..], head.uri.query()).map_err(
            |refusal| match refusal {
                PathRefusal::Malformed => RouteError::BadPath,
                PathRefusal::CredentialEndpoint => RouteError::CredentialEndpoint,
            },
        )?;
    if !is_safe(&head.method) {
        let sent = head.headers.get(&CSRF_HEADER).and_then(|v| v.to_str().ok()).unwrap_or_default();
        if !token_matches(&session.data.csrf_token, sent) {
            return Err(RouteError::Csrf);
        }
    }
    // (The session is shared with the in-process copies: it is copied only when it changes.)
    if let Some(identity) = state.identity().filter(|identity| federation::refresh_due(identity, &session)) {
        let mut fresh = Session::clone(&session);
        // (Boxed, as the rare step below: a future kept inline would make every routed call's
        // future as large as its largest step, and that future is moved on each await.)
        Box::pin(federation::keep_fresh(identity, state.sessions(), &mut fresh))
            .await
            .map_err(RouteError::from)?;
        session = Arc::new(fresh);
    }
    let credentials = match session.data.link(env.id()) {
        Some(EnvironmentLink::Joined { .. }) => session
            .data
            .credentials(env.id())
            .ok_or_else(|| RouteError::NotRoutable(env.name().to_owned()))?,
        _ => return Err(RouteError::NotJoined(env.name().to_owned())),
    };
    let forwarded_for = head.headers.get_all(&exchange::X_FORWARDED_FOR).iter().map(|v| v.as_bytes());
    let client = client_ip_of(peer, forwarded_for, &state.settings().server.trusted_proxies);
    let request = ForwardRequest {
        method: head.method,
        path,
        headers: exchange::outgoing_headers(head.headers, client),
        body,
        credentials,
    };
    let forwarded = match env.client.forward(request).await {
        Ok(forwarded) => forwarded,
        Err(e) => {
            tracing::warn!(environment = %env.id(), kind = e.kind(), error = %e, "routed call failed");
            return Err(RouteError::manager(env.name(), &e));
        }
    };
    if forwarded.status == hyper::StatusCode::UNAUTHORIZED {
        // The manager ended the user's session there: the environment needs reconnecting. The
        // manager's own 401 still goes back to the caller.
        let mut session = Session::clone(&session);
        if let Err(e) = Box::pin(federation::session_ended(state.sessions(), &mut session, env.id())).await {
            tracing::warn!(environment = %env.id(), error = %e, "could not mark the environment as ended");
        }
    }
    Ok(exchange::response(forwarded))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn named(path: &str) -> Option<(&str, &str)> {
        match target(path)? {
            Target::Named { id, tail } => Some((id, tail)),
            Target::Current { .. } => None,
        }
    }

    #[test]
    fn routed_prefixes_end_at_a_segment() {
        for (path, tail) in
            [("/api/portal/v1.3", ""), ("/api/portal/v1.3/", "/"), ("/api/portal/v1.3/a/b", "/a/b")]
        {
            assert!(matches!(target(path), Some(Target::Current { tail: t }) if t == tail), "{path}");
        }
        assert_eq!(named("/environments/prod-eu/manager/apis"), Some(("prod-eu", "/apis")));
        assert_eq!(named("/environments/prod-eu/manager"), Some(("prod-eu", "")));
        for path in [
            "/api/portal/v1.30/x",
            "/api/portal/v1.3x",
            "/api/portal",
            "/environments//manager/x",
            "/environments/prod-eu/managers/x",
            "/environments/prod-eu/apis",
            "/environments/prod-eu",
            "/login",
        ] {
            assert!(!is_routed(path), "{path}");
        }
    }
}
