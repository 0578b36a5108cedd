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

use std::sync::Arc;

use actix_web::http::Method;
use actix_web::{HttpRequest, HttpResponse, web};

use crate::crypto::token_matches;
use crate::domain::EnvironmentId;
use crate::federation::{self, Environment, EnvironmentLink, PortalSession};
use crate::manager::{ForwardPath, ForwardRequest, PathRefusal};
use crate::state::AppState;
use crate::store::Session;
use crate::web::client_ip::client_ip;
use crate::web::{label_route, session};
pub use error::RouteError;

/// The manager API's base path, as clients of the portal address it.
pub const API_PREFIX: &str = "/api/portal/v1.3";

/// The header that carries the portal session's CSRF token on unsafe routed calls.
pub const CSRF_HEADER: &str = "X-CSRF-Token";

/// The metrics label of calls routed to the current environment.
const CURRENT_ROUTE: &str = "/api/portal/v1.3/{path}";
/// The metrics label of calls routed to a named environment.
const NAMED_ROUTE: &str = "/environments/{id}/manager/{path}";

/// The hot route, registered before every other one: a scope with a literal prefix is matched
/// by comparing strings, where a `{tail:.*}` resource costs a regex capture per call (and a
/// second one when the metrics ask for the pattern).
pub fn configure_current(cfg: &mut web::ServiceConfig) {
    cfg.service(web::scope(API_PREFIX).default_service(web::to(current)));
}

pub fn configure_named(cfg: &mut web::ServiceConfig) {
    cfg.service(web::scope("/environments/{id}/manager").default_service(web::to(named)));
}

/// `* /api/portal/v1.3/{path}`: to the current environment.
async fn current(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, RouteError> {
    label_route(CURRENT_ROUTE);
    let session = signed_in(&req, &state).await?;
    let env = session
        .data
        .current
        .as_ref()
        .and_then(|id| state.environments().get(id))
        .filter(|env| env.enabled())
        .ok_or(RouteError::NoCurrentEnvironment)?;
    let tail = req.uri().path().strip_prefix(API_PREFIX).unwrap_or_default().to_owned();
    forward(req, payload, &state, session, env, &tail).await
}

/// `* /environments/{id}/manager/{path}`: to the named environment.
async fn named(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, RouteError> {
    label_route(NAMED_ROUTE);
    let session = signed_in(&req, &state).await?;
    let raw_id = req.match_info().get("id").unwrap_or_default();
    let env = EnvironmentId::parse(raw_id)
        .ok()
        .and_then(|id| state.environments().get(&id))
        .filter(|env| env.enabled())
        .ok_or(RouteError::UnknownEnvironment)?;
    // A valid id is plain ASCII, so it appears in the raw path exactly as matched.
    let prefix = format!("/environments/{}/manager", env.id());
    let tail = req.uri().path().strip_prefix(&prefix).unwrap_or_default().to_owned();
    forward(req, payload, &state, session, env, &tail).await
}

async fn signed_in(req: &HttpRequest, state: &AppState) -> Result<Arc<Session<PortalSession>>, RouteError> {
    match session::load_shared(req, state).await {
        Ok(Some(session)) => Ok(session),
        Ok(None) => Err(RouteError::SignedOut),
        Err(crate::web::WebError::SessionStoreUnavailable) => Err(RouteError::StoreUnavailable),
        Err(other) => Err(RouteError::Unexpected(other.into())),
    }
}

/// Methods that change nothing; every other method needs the CSRF header.
fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

async fn forward(
    req: HttpRequest,
    payload: web::Payload,
    state: &AppState,
    mut session: Arc<Session<PortalSession>>,
    env: Arc<Environment>,
    tail: &str,
) -> Result<HttpResponse, RouteError> {
    // TRACE would echo the injected manager cookie back to the caller; CONNECT is no API call.
    if matches!(*req.method(), Method::TRACE | Method::CONNECT) {
        return Err(RouteError::MethodNotAllowed(req.method().to_string()));
    }
    // Before anything else is looked at: a refused path is refused the same way whatever the
    // request carries, so its answer tells nothing about any password in it.
    let path = ForwardPath::parse(tail, req.uri().query()).map_err(|refusal| match refusal {
        PathRefusal::Malformed => RouteError::BadPath,
        PathRefusal::CredentialEndpoint => RouteError::CredentialEndpoint,
    })?;
    if !is_safe(req.method()) {
        let sent = req.headers().get(CSRF_HEADER).and_then(|v| v.to_str().ok()).unwrap_or_default();
        if !token_matches(&session.data.csrf_token, sent) {
            return Err(RouteError::Csrf);
        }
    }
    // (The session is shared with the in-process copies: it is copied only when it changes.)
    if let Some(identity) = state.identity().filter(|identity| federation::refresh_due(identity, &session)) {
        let mut fresh = Session::clone(&session);
        federation::keep_fresh(identity, state.sessions(), &mut fresh).await.map_err(RouteError::from)?;
        session = Arc::new(fresh);
    }
    let credentials = match session.data.link(env.id()) {
        Some(EnvironmentLink::Joined { .. }) => {
            session.data.credentials(env.id()).ok_or(RouteError::NotRoutable(env.name().to_owned()))?
        }
        _ => return Err(RouteError::NotJoined(env.name().to_owned())),
    };
    let method = reqwest::Method::from_bytes(req.method().as_str().as_bytes())
        .map_err(|_| RouteError::MethodNotAllowed(req.method().to_string()))?;
    let client = client_ip(&req, &state.settings().server.trusted_proxies);
    let request = ForwardRequest {
        method,
        path: &path,
        headers: exchange::outgoing_headers(&req, client),
        body: exchange::request_body(&req, payload),
        credentials,
    };
    let forwarded = match env.client.forward(request).await {
        Ok(forwarded) => forwarded,
        Err(e) => {
            tracing::warn!(environment = %env.id(), kind = e.kind(), error = %e, "routed call failed");
            return Err(RouteError::manager(env.name(), &e));
        }
    };
    if forwarded.status == reqwest::StatusCode::UNAUTHORIZED {
        // The manager ended the user's session there: the environment needs reconnecting. The
        // manager's own 401 still goes back to the caller.
        let mut session = Session::clone(&session);
        if let Err(e) = federation::session_ended(state.sessions(), &mut session, env.id()).await {
            tracing::warn!(environment = %env.id(), error = %e, "could not mark the environment as ended");
        }
    }
    Ok(exchange::response(forwarded))
}
