//! `GET /login` (the form) and `POST /login` (federated sign-in), `POST /logout`.
//!
//! The sign-in form is protected against cross-site posting before any session exists by a
//! short-lived random cookie whose keyed tag the form carries (`csrf_token`).

use std::time::Duration;

use actix_web::cookie::{Cookie, SameSite, time::Duration as CookieDuration};
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use secrecy::SecretString;
use serde::Deserialize;

use crate::federation::{ClientFacts, EnvironmentFailure, JoinFailure, Locked, SignInError, SignInMethod};
use crate::state::AppState;
use crate::web::WebError;
use crate::web::client_ip::ClientAddress;
use crate::web::session::{
    self, LoginForm, LoginQuery, check_csrf, local_path, removal_cookie, session_cookie,
};

pub(super) struct FailureView {
    pub name: String,
    pub reason: String,
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    csrf_token: String,
    username: String,
    return_to: Option<String>,
    error: Option<String>,
    failures: Vec<FailureView>,
    /// "Sign in with {provider}" when single sign-on is configured.
    sso: Option<String>,
    /// The password form (off when single sign-on replaces it).
    password: bool,
}

/// Writes one audit entry; an audit log that cannot be written is logged, never a failed page.
pub(super) async fn audit(
    state: &AppState,
    actor: &str,
    client_ip: Option<&str>,
    action: &'static str,
    detail: serde_json::Value,
) {
    crate::web::audit(state, actor, action, None, Some(detail), client_ip).await;
}

fn login_cookie_name(state: &AppState) -> String {
    format!("{}_login", session::cookie_name(state))
}

/// Renders the form with a fresh anti-forgery pair (cookie + tag).
fn form_response(state: &AppState, status: actix_web::http::StatusCode, mut page: LoginPage) -> HttpResponse {
    if let Some(identity) = &state.identity() {
        page.sso = Some(identity.display_name().to_owned());
        page.password = identity.password_login();
    }
    let (nonce, tag) = session::pre_session_pair(state);
    page.csrf_token = tag;
    let cookie = Cookie::build(login_cookie_name(state), nonce)
        .path("/")
        .http_only(true)
        .secure(state.is_https())
        .same_site(SameSite::Strict)
        .max_age(CookieDuration::hours(2))
        .finish();
    match page.render() {
        Ok(body) => HttpResponse::build(status)
            .cookie(cookie)
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .content_type("text/html; charset=utf-8")
            .body(body),
        Err(e) => actix_web::ResponseError::error_response(&WebError::Unexpected(e.into())),
    }
}

fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther().insert_header((header::LOCATION, location)).finish()
}

pub async fn login_form(
    req: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<LoginQuery>,
) -> Result<HttpResponse, WebError> {
    let return_to = local_path(query.return_to.as_deref());
    if session::load(&req, &state).await?.is_some() {
        return Ok(see_other(return_to.as_deref().unwrap_or("/")));
    }
    let page = LoginPage {
        csrf_token: String::new(),
        username: String::new(),
        return_to,
        error: None,
        failures: vec![],
        sso: None,
        password: true,
    };
    Ok(form_response(&state, actix_web::http::StatusCode::OK, page))
}

fn minutes(d: Duration) -> u64 {
    d.as_secs().div_ceil(60).max(1)
}

fn locked_message(d: Duration) -> String {
    let m = minutes(d);
    format!("Too many failed sign-ins. Try again in {m} minute{}.", if m == 1 { "" } else { "s" })
}

pub async fn login(
    req: HttpRequest,
    state: web::Data<AppState>,
    address: ClientAddress,
    form: web::Form<LoginForm>,
) -> Result<HttpResponse, WebError> {
    if state.identity().is_some_and(|identity| !identity.password_login()) {
        return Err(WebError::NotFound);
    }
    let form = form.into_inner();
    if !session::pre_session_matches(&req, &state, &login_cookie_name(&state), &form.csrf_token) {
        return Err(WebError::Csrf);
    }
    let return_to = local_path(form.return_to.as_deref());
    let username = form.username.trim().to_owned();
    // The password is moved into a secret at once and dropped when this request ends.
    let password = SecretString::from(form.password);
    let page = |error: String, failures: Vec<FailureView>| LoginPage {
        csrf_token: String::new(),
        username: username.clone(),
        return_to: return_to.clone(),
        error: Some(error),
        failures,
        sso: None,
        password: true,
    };
    let typed_well = !username.is_empty() && username.len() <= 255 && !username.chars().any(char::is_control);
    if !typed_well || secrecy::ExposeSecret::expose_secret(&password).is_empty() {
        let page = page("Enter your username and password.".to_owned(), vec![]);
        return Ok(form_response(&state, actix_web::http::StatusCode::BAD_REQUEST, page));
    }

    let ip_text = address.text();
    let rules = state.sign_in_rules();
    let environments = state.environments().snapshot();
    let result = state.federation().sign_in(&environments, &rules, &username, &password, address.0).await;
    drop(password);

    crate::metrics::count(|m| &m.sign_ins, &[sign_in_outcome(&result)]);
    let signed_in = match result {
        Ok(signed_in) => signed_in,
        Err(error) => return refused(&state, error, &username, ip_text.as_deref(), page).await,
    };
    let audit = |action: &'static str, detail: serde_json::Value| {
        let state = state.clone();
        let username = username.clone();
        let ip_text = ip_text.clone();
        async move { audit(&state, &username, ip_text.as_deref(), action, detail).await }
    };
    audit("signin.success", serde_json::json!({ "unavailable": failure_detail(&signed_in.failures) })).await;
    // A brand-new session id: whatever session cookie the browser had before is not reused.
    let previous = session::load(&req, &state).await?.map(|old| old.id);
    let mut data = signed_in.session;
    data.client = Some(ClientFacts::describe(SignInMethod::Password, user_agent(&req), address.0));
    let session = state.start_session(previous.as_ref(), data).await?;
    Ok(HttpResponse::SeeOther()
        .insert_header((header::LOCATION, return_to.as_deref().unwrap_or("/")))
        .cookie(session_cookie(&state, &session.id))
        .cookie(removal_cookie(&state, login_cookie_name(&state)))
        .finish())
}

/// The page for a sign-in that did not succeed, audited: locked (429 with `Retry-After`),
/// refused (with the reason), the master down or the policy not met (503).
async fn refused(
    state: &AppState,
    error: SignInError,
    username: &str,
    ip: Option<&str>,
    page: impl Fn(String, Vec<FailureView>) -> LoginPage,
) -> Result<HttpResponse, WebError> {
    use actix_web::http::StatusCode;
    let locked_detail = |locked: Locked| serde_json::json!({ "retry_after_s": locked.retry_after.as_secs() });
    match error {
        SignInError::Store(e) => Err(e.into()),
        SignInError::Locked(locked) => {
            audit(state, username, ip, "signin.locked", locked_detail(locked)).await;
            let page = page(locked_message(locked.retry_after), vec![]);
            let mut res = form_response(state, StatusCode::TOO_MANY_REQUESTS, page);
            if let Ok(v) = header::HeaderValue::from_str(&locked.retry_after.as_secs().max(1).to_string()) {
                res.headers_mut().insert(header::RETRY_AFTER, v);
            }
            Ok(res)
        }
        SignInError::Refused { failure, locked } => {
            audit(state, username, ip, "signin.failure", serde_json::json!({ "reason": failure.kind() }))
                .await;
            if let Some(locked) = locked {
                audit(state, username, ip, "signin.locked", locked_detail(locked)).await;
            }
            let (status, message) = match &failure {
                JoinFailure::WrongCredentials => {
                    (StatusCode::UNAUTHORIZED, "Wrong username or password.".to_owned())
                }
                JoinFailure::PasswordChangeRequired => (
                    StatusCode::CONFLICT,
                    "Your password must be changed on the master before you can sign in.".to_owned(),
                ),
                JoinFailure::AccountDisabled => {
                    (StatusCode::FORBIDDEN, "Your account is disabled.".to_owned())
                }
                other => (StatusCode::FORBIDDEN, format!("Sign-in refused: {other}.")),
            };
            Ok(form_response(state, status, page(message, vec![])))
        }
        SignInError::MasterUnavailable(reason) => {
            let detail = serde_json::json!({ "reason": "master_unavailable", "detail": reason.kind() });
            audit(state, username, ip, "signin.failure", detail).await;
            let message =
                format!("The master manager is unavailable ({reason}). Please try again in a moment.");
            Ok(form_response(state, StatusCode::SERVICE_UNAVAILABLE, page(message, vec![])))
        }
        SignInError::PolicyNotMet { failures } => {
            let detail = serde_json::json!({ "reason": "policy", "environments": failure_detail(&failures) });
            audit(state, username, ip, "signin.failure", detail).await;
            let views = failures
                .iter()
                .map(|f| FailureView { name: f.name.clone(), reason: f.reason.to_string() })
                .collect();
            let message =
                "You could not be signed in because these environments could not be joined:".to_owned();
            Ok(form_response(state, StatusCode::SERVICE_UNAVAILABLE, page(message, views)))
        }
    }
}

/// The request's `User-Agent`, when it is text.
pub(super) fn user_agent(req: &HttpRequest) -> Option<&str> {
    req.headers().get(header::USER_AGENT).and_then(|v| v.to_str().ok())
}

pub(super) fn failure_detail(failures: &[EnvironmentFailure]) -> serde_json::Value {
    failures
        .iter()
        .map(|f| serde_json::json!({ "environment": f.id.as_str(), "reason": f.reason.kind() }))
        .collect()
}

#[derive(Deserialize)]
pub struct LogoutForm {
    #[serde(default)]
    csrf_token: String,
}

/// Ends the portal session first (so nothing keeps the user signed in locally, whatever the
/// managers do), then every manager session; a single sign-on ends at the provider too, when it
/// offers `end_session_endpoint`.
pub async fn logout(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<LogoutForm>,
) -> Result<HttpResponse, WebError> {
    let Some(session) = session::load(&req, &state).await? else {
        return Ok(see_other("/login"));
    };
    check_csrf(&session.data, &form.csrf_token)?;
    state.end_session(&session).await?;
    let mut next = "/login".to_owned();
    if let (Some(identity), Some(tokens)) = (&state.identity(), &session.data.sso)
        && let Some(url) = identity.end_session_url(&tokens.id_token).await
    {
        next = url.to_string();
    }
    Ok(HttpResponse::SeeOther()
        .insert_header((header::LOCATION, next))
        .cookie(removal_cookie(&state, session::cookie_name(&state)))
        .finish())
}

/// The `outcome` label of `sign_ins_total`.
fn sign_in_outcome<T>(result: &Result<T, SignInError>) -> &'static str {
    match result {
        Ok(_) => "success",
        Err(SignInError::Locked(_)) => "locked",
        Err(SignInError::Refused { failure, .. }) => failure.kind(),
        Err(SignInError::MasterUnavailable(_)) => "master_unavailable",
        Err(SignInError::PolicyNotMet { .. }) => "policy_not_met",
        Err(SignInError::Store(_)) => "store_unavailable",
    }
}
