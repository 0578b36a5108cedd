//! Single sign-on (SPEC §3.2): `GET /login/oidc` sends the browser to the identity provider,
//! `GET /auth/callback` takes it back, joins the managers under the login-failure policy and
//! opens the portal session. Every failure is a page that says what happened with a way back,
//! and is counted in the audit log and the metrics; a callback without a state Portico issued is
//! nobody's sign-in, shown a fixed page and only counted.

use actix_web::cookie::{Cookie, SameSite, time::Duration as CookieDuration};
use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::login::{FailureView, audit, failure_detail};
use crate::federation::{ClientFacts, SignInMethod};
use crate::federation::{Credential, JoinFailure, SignInError};
use crate::sso::{Callback, Identity, OidcError};
use crate::state::AppState;
use crate::web::client_ip::ClientAddress;
use crate::web::session::{self, local_path, removal_cookie, session_cookie};
use crate::web::{WebError, current_request_id};

#[derive(Deserialize)]
pub struct StartQuery {
    return_to: Option<String>,
}

#[derive(Template)]
#[template(path = "sso_error.html")]
struct SsoErrorPage {
    provider: String,
    message: String,
    failures: Vec<FailureView>,
    status: u16,
    request_id: String,
}

/// The cookie that ties a callback to the browser that started the sign-in (so a link with
/// someone else's `code` and `state` cannot sign this browser in as them). `Lax`: the callback
/// is a top-level navigation from the provider.
fn binding_cookie_name(state: &AppState) -> String {
    format!("{}_oidc", session::cookie_name(state))
}

fn identity(state: &AppState) -> Result<&Identity, WebError> {
    state.identity().map(|identity| &**identity).ok_or(WebError::NotFound)
}

/// `GET /login/oidc`: to the provider.
pub async fn start(
    req: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<StartQuery>,
) -> Result<HttpResponse, WebError> {
    let identity = identity(&state)?;
    let return_to = local_path(query.return_to.as_deref());
    if session::load(&req, &state).await?.is_some() {
        return Ok(see_other(return_to.as_deref().unwrap_or("/")));
    }
    match identity.start(return_to).await {
        Ok(started) => {
            let cookie = Cookie::build(binding_cookie_name(&state), started.browser_binding)
                .path("/")
                .http_only(true)
                .secure(state.is_https())
                .same_site(SameSite::Lax)
                .max_age(CookieDuration::minutes(10))
                .finish();
            Ok(HttpResponse::SeeOther()
                .insert_header((header::LOCATION, started.url.as_str()))
                .insert_header((header::CACHE_CONTROL, "no-store"))
                .cookie(cookie)
                .finish())
        }
        Err(e) => Ok(failed(&req, &state, identity, e, None).await),
    }
}

/// `GET /auth/callback`: back from the provider.
pub async fn callback(
    req: HttpRequest,
    state: web::Data<AppState>,
    address: ClientAddress,
    query: web::Query<Callback>,
) -> Result<HttpResponse, WebError> {
    let identity = identity(&state)?;
    let binding = req.cookie(&binding_cookie_name(&state)).map(|c| c.value().to_owned());
    let finished = match identity.finish(query.into_inner(), binding.as_deref()).await {
        Ok(finished) => finished,
        Err(e) => return Ok(failed(&req, &state, identity, e, None).await),
    };
    let username = finished.user.login_name.clone();
    let credential =
        Credential::single_sign_on(identity.manager_auth(), &finished.tokens.access_token, &username);
    let policy = state.sign_in_rules().policy;
    let result = state
        .federation()
        .sign_in_external(&state.environments().snapshot(), policy, finished.user.clone(), credential)
        .await;
    let ip = address.text();
    let mut signed_in = match result {
        Ok(signed_in) => signed_in,
        Err(SignInError::Store(e)) => return Err(e.into()),
        Err(e) => return Ok(refused(&state, identity, &username, ip.as_deref(), e).await),
    };
    crate::metrics::count(|m| &m.sign_ins, &["sso_success"]);
    audit(
        &state,
        &username,
        ip.as_deref(),
        "signin.success",
        serde_json::json!({ "method": "oidc", "unavailable": failure_detail(&signed_in.failures) }),
    )
    .await;
    signed_in.session.sso = Some(finished.tokens);
    let previous = session::load(&req, &state).await?.map(|old| old.id);
    signed_in.session.client =
        Some(ClientFacts::describe(SignInMethod::SingleSignOn, super::login::user_agent(&req), address.0));
    let session = state.start_session(previous.as_ref(), signed_in.session).await?;
    Ok(HttpResponse::SeeOther()
        .insert_header((header::LOCATION, finished.return_to.as_deref().unwrap_or("/")))
        .cookie(session_cookie(&state, &session.id))
        .cookie(removal_cookie(&state, binding_cookie_name(&state)))
        .finish())
}

/// The page for a sign-in the provider part did not complete.
async fn failed(
    req: &HttpRequest,
    state: &AppState,
    identity: &Identity,
    error: OidcError,
    user: Option<&str>,
) -> HttpResponse {
    if error == OidcError::UnknownState {
        return anonymous_callback(identity);
    }
    let status = match &error {
        OidcError::Provider { .. } | OidcError::MissingClaim { .. } | OidcError::UnusableClaim { .. } => {
            StatusCode::FORBIDDEN
        }
        OidcError::MissingParameters | OidcError::UnknownState => StatusCode::BAD_REQUEST,
        OidcError::InvalidToken(_) => StatusCode::UNAUTHORIZED,
        OidcError::TokenRefused(_) => StatusCode::BAD_GATEWAY,
        OidcError::ProviderUnavailable(_) | OidcError::Store(_) => StatusCode::SERVICE_UNAVAILABLE,
    };
    crate::metrics::count(|m| &m.sign_ins, &[sso_outcome(&error)]);
    let ip = crate::web::client_ip::client_ip(req, &state.settings().server.trusted_proxies)
        .map(|i| i.to_string());
    let mut detail = serde_json::json!({ "method": "oidc", "reason": error.kind() });
    if let Some(d) = error.detail() {
        detail["detail"] = serde_json::json!(d);
    }
    audit(state, user.unwrap_or("(single sign-on)"), ip.as_deref(), "signin.failure", detail).await;
    let message = match &error {
        OidcError::Provider { description: Some(d), .. } if !d.is_empty() => {
            format!("{}: {d}.", capitalised(&error.to_string()))
        }
        OidcError::ProviderUnavailable(_) => {
            "The identity provider is unavailable. Please try again in a moment.".to_owned()
        }
        other => format!("{}.", capitalised(&other.to_string())),
    };
    let mut response = page(identity, status, message, vec![]);
    response.add_removal_cookie(&removal_cookie(state, binding_cookie_name(state))).ok();
    response
}

/// What a callback without a state Portico issued to this browser gets. Its parameters are
/// whoever's words, so the page is fixed text; it is anonymous noise, so it is counted in the
/// metrics instead of one audit row each (which anyone could write at will). The browser's
/// binding cookie stays: a link to a forged callback must not break a sign-in it has under way.
fn anonymous_callback(identity: &Identity) -> HttpResponse {
    tracing::debug!("single sign-on callback without a state Portico issued");
    crate::metrics::count(|m| &m.rejected_callbacks, &["unknown_state"]);
    page(identity, StatusCode::BAD_REQUEST, UNKNOWN_STATE_MESSAGE.to_owned(), vec![])
}

const UNKNOWN_STATE_MESSAGE: &str = "This sign-in attempt has expired or was already used. Start again.";

/// The page for a sign-in the managers refused (the login-failure policy, the master).
async fn refused(
    state: &AppState,
    identity: &Identity,
    username: &str,
    ip: Option<&str>,
    error: SignInError,
) -> HttpResponse {
    let (status, message, failures, detail) = match error {
        SignInError::Refused { failure, .. } => {
            let message = match &failure {
                JoinFailure::OrganizationMissing { organization } => {
                    format!("Your organization \"{organization}\" does not exist on the main environment.")
                }
                other => format!("The main environment refused your sign-in: {other}."),
            };
            (
                StatusCode::FORBIDDEN,
                message,
                vec![],
                serde_json::json!({ "method": "oidc", "reason": failure.kind() }),
            )
        }
        SignInError::MasterUnavailable(reason) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("The master manager is unavailable ({reason}). Please try again in a moment."),
            vec![],
            serde_json::json!({ "method": "oidc", "reason": "master_unavailable", "detail": reason.kind() }),
        ),
        SignInError::PolicyNotMet { failures } => {
            let detail = serde_json::json!({ "method": "oidc", "reason": "policy", "environments": failure_detail(&failures) });
            let views = failures
                .iter()
                .map(|f| FailureView { name: f.name.clone(), reason: f.reason.to_string() })
                .collect();
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "You could not be signed in because these environments could not be joined:".to_owned(),
                views,
                detail,
            )
        }
        SignInError::Locked(_) | SignInError::Store(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "Please try again in a moment.".to_owned(),
            vec![],
            serde_json::json!({ "method": "oidc", "reason": "unavailable" }),
        ),
    };
    crate::metrics::count(|m| &m.sign_ins, &["sso_refused"]);
    audit(state, username, ip, "signin.failure", detail).await;
    page(identity, status, message, failures)
}

fn page(
    identity: &Identity,
    status: StatusCode,
    message: String,
    failures: Vec<FailureView>,
) -> HttpResponse {
    let page = SsoErrorPage {
        provider: identity.display_name().to_owned(),
        message,
        failures,
        status: status.as_u16(),
        request_id: current_request_id(),
    };
    match page.render() {
        Ok(body) => HttpResponse::build(status)
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .content_type("text/html; charset=utf-8")
            .body(body),
        Err(e) => actix_web::ResponseError::error_response(&WebError::Unexpected(e.into())),
    }
}

fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map(|c| c.to_uppercase().chain(chars).collect()).unwrap_or_default()
}

fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther().insert_header((header::LOCATION, location)).finish()
}

/// The `outcome` label of `sign_ins_total` for a failed single sign-on.
fn sso_outcome(error: &OidcError) -> &'static str {
    match error {
        OidcError::Provider { .. } => "sso_provider_error",
        OidcError::MissingParameters => "sso_missing_parameters",
        OidcError::UnknownState => "sso_unknown_state",
        OidcError::ProviderUnavailable(_) => "sso_provider_unavailable",
        OidcError::TokenRefused(_) => "sso_token_refused",
        OidcError::InvalidToken(_) => "sso_invalid_token",
        OidcError::MissingClaim { .. } => "sso_missing_claim",
        OidcError::UnusableClaim { .. } => "sso_unusable_claim",
        OidcError::Store(_) => "sso_store_unavailable",
    }
}
