//! Routing API calls through the portal (SPEC §5): `* /api/portal/v1.3/{path}` goes to the
//! signed-in consumer's current environment, `* /environments/{id}/manager/{path}` to the named
//! one, each as that consumer — their manager session is added server-side, and the portal's
//! own cookies never leave the portal.
//!
//! A routed call costs one session-store round trip (the session read, which also slides its
//! idle timeout); the session is written back only when the manager has ended its session.

mod error;
mod exchange;

use std::sync::Arc;

use actix_web::http::Method;
use actix_web::{HttpRequest, HttpResponse, web};

use crate::crypto::constant_time_eq;
use crate::domain::EnvironmentId;
use crate::federation::{Environment, EnvironmentLink, JoinFailure, PortalSession};
use crate::manager::{ForwardPath, ForwardRequest};
use crate::startup::AppState;
use crate::store::Session;
use crate::web::session;
pub use error::RouteError;

/// The manager API's base path, as clients of the portal address it.
pub const API_PREFIX: &str = "/api/portal/v1.3";

/// The header that carries the portal session's CSRF token on unsafe routed calls.
pub const CSRF_HEADER: &str = "X-CSRF-Token";

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource([API_PREFIX, "/api/portal/v1.3/{tail:.*}"]).to(current)).service(
        web::resource(["/environments/{id}/manager", "/environments/{id}/manager/{tail:.*}"]).to(named),
    );
}

/// `* /api/portal/v1.3/{path}`: to the current environment.
async fn current(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, RouteError> {
    let session = signed_in(&req, &state).await?;
    let env = session
        .data
        .current
        .as_ref()
        .and_then(|id| state.environments.get(id))
        .filter(|env| env.enabled)
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
    let session = signed_in(&req, &state).await?;
    let raw_id = req.match_info().get("id").unwrap_or_default();
    let env = EnvironmentId::parse(raw_id)
        .ok()
        .and_then(|id| state.environments.get(&id))
        .filter(|env| env.enabled)
        .ok_or(RouteError::UnknownEnvironment)?;
    // A valid id is plain ASCII, so it appears in the raw path exactly as matched.
    let prefix = format!("/environments/{}/manager", env.id());
    let tail = req.uri().path().strip_prefix(&prefix).unwrap_or_default().to_owned();
    forward(req, payload, &state, session, env, &tail).await
}

async fn signed_in(req: &HttpRequest, state: &AppState) -> Result<Session<PortalSession>, RouteError> {
    match session::load(req, state).await {
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
    mut session: Session<PortalSession>,
    env: Arc<Environment>,
    tail: &str,
) -> Result<HttpResponse, RouteError> {
    // TRACE would echo the injected manager cookie back to the caller; CONNECT is no API call.
    if matches!(*req.method(), Method::TRACE | Method::CONNECT) {
        return Err(RouteError::MethodNotAllowed(req.method().to_string()));
    }
    if !is_safe(req.method()) {
        let sent = req.headers().get(CSRF_HEADER).map(|v| v.as_bytes()).unwrap_or_default();
        if !constant_time_eq(session.data.csrf_token.as_bytes(), sent) {
            return Err(RouteError::Csrf);
        }
    }
    if let Some(identity) = &state.identity {
        identity.keep_fresh(&state.sessions, &mut session).await.map_err(RouteError::from)?;
    }
    let credentials = match session.data.link(env.id()) {
        Some(EnvironmentLink::Joined { .. }) => {
            session.data.credentials(env.id()).ok_or(RouteError::NotRoutable(env.name().to_owned()))?
        }
        _ => return Err(RouteError::NotJoined(env.name().to_owned())),
    };
    let path = ForwardPath::parse(tail, req.uri().query()).ok_or(RouteError::BadPath)?;
    let method = reqwest::Method::from_bytes(req.method().as_str().as_bytes())
        .map_err(|_| RouteError::MethodNotAllowed(req.method().to_string()))?;
    let request = ForwardRequest {
        method,
        path: &path,
        headers: exchange::outgoing_headers(&req),
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
    // A 401 to a login is about the credentials in it, not about the session.
    let login = req.method() == Method::POST && path.path().trim_end_matches('/') == "/login";
    if forwarded.status == reqwest::StatusCode::UNAUTHORIZED && !login {
        // The manager ended the user's session there: the environment needs reconnecting. The
        // manager's own 401 still goes back to the caller.
        session
            .data
            .links
            .insert(env.id().clone(), EnvironmentLink::Unavailable { reason: JoinFailure::SessionEnded });
        if let Err(e) = state.sessions.save(&session).await {
            tracing::warn!(environment = %env.id(), error = %e, "could not mark the environment as ended");
        }
    }
    Ok(exchange::response(forwarded))
}
