//! `GET/POST /admin/login` and `POST /admin/logout`: the local admin accounts (argon2id, verified
//! on a blocking thread, with a dummy verify for unknown names), behind the admin lockout.
//!
//! The sign-in form is protected against cross-site posting before any session exists the way
//! the consumer form is: a random `SameSite=Strict` cookie whose keyed tag the form carries.

use std::time::Duration;

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::access::{
    self, Admin, AdminSession, admin_return_to, login_cookie, removal_cookie, session_cookie,
};
use super::page::{audit, see_other};
use crate::crypto::random_token;
use crate::federation::Locked;
use crate::state::AppState;
use crate::store::sql::AdminName;
use crate::web::WebError;
use crate::web::client_ip::ClientAddress;
use crate::web::session::{LoginForm, LoginQuery, pre_session_matches, pre_session_pair};

#[derive(Template)]
#[template(path = "admin/login.html")]
struct LoginPage {
    csrf_token: String,
    username: String,
    return_to: Option<String>,
    error: Option<String>,
}

/// The form with a fresh anti-forgery pair (cookie + tag).
fn form(state: &AppState, status: StatusCode, mut page: LoginPage) -> Result<HttpResponse, WebError> {
    let (nonce, tag) = pre_session_pair(state);
    page.csrf_token = tag;
    let body = page.render().map_err(|e| WebError::Unexpected(e.into()))?;
    Ok(HttpResponse::build(status)
        .cookie(login_cookie(state, nonce))
        .content_type("text/html; charset=utf-8")
        .body(body))
}

pub async fn login_form(
    req: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<LoginQuery>,
) -> Result<HttpResponse, WebError> {
    let return_to = admin_return_to(query.return_to.as_deref());
    if access::load(&req, &state).await?.is_some() {
        return Ok(see_other(return_to.as_deref().unwrap_or("/admin")));
    }
    let page = LoginPage { csrf_token: String::new(), username: String::new(), return_to, error: None };
    form(&state, StatusCode::OK, page)
}

fn locked_message(d: Duration) -> String {
    let m = d.as_secs().div_ceil(60).max(1);
    format!("Too many failed sign-ins. Try again in {m} minute{}.", if m == 1 { "" } else { "s" })
}

fn retry_after(res: &mut HttpResponse, d: Duration) {
    if let Ok(v) = header::HeaderValue::from_str(&d.as_secs().max(1).to_string()) {
        res.headers_mut().insert(header::RETRY_AFTER, v);
    }
}

pub async fn login(
    req: HttpRequest,
    state: web::Data<AppState>,
    address: ClientAddress,
    posted: web::Form<LoginForm>,
) -> Result<HttpResponse, WebError> {
    let posted = posted.into_inner();
    if !pre_session_matches(&req, &state, &access::login_cookie_name(&state), &posted.csrf_token) {
        return Err(WebError::Csrf);
    }
    let return_to = admin_return_to(posted.return_to.as_deref());
    let username = posted.username.trim().to_owned();
    let password = SecretString::from(posted.password);
    let page = |error: String| LoginPage {
        csrf_token: String::new(),
        username: username.clone(),
        return_to: return_to.clone(),
        error: Some(error),
    };
    let typed_well = !username.is_empty() && username.len() <= 64 && !username.chars().any(char::is_control);
    if !typed_well || password.expose_secret().is_empty() {
        return form(&state, StatusCode::BAD_REQUEST, page("Enter your admin name and password.".to_owned()));
    }

    let ip = address.0;
    let ip_text = address.text();
    let who = access::actor(&username);
    let limits = &state.admin().limits;
    let attempt = match state.admin().protection.admit(limits, &username, ip).await? {
        Ok(attempt) => attempt,
        Err(locked) => return refuse_locked(&state, &who, ip_text.as_deref(), page, locked).await,
    };

    // A name that cannot exist is verified against the dummy hash, like an unknown one.
    let stored = match AdminName::parse(&username) {
        Ok(name) => {
            state.db().admin_password_hash(&name).await.map_err(|e| WebError::Unexpected(e.into()))?
        }
        Err(_) => None,
    };
    if !crate::password::verify(password, stored).await {
        let locked = attempt.failed().await?;
        audit(&state, &who, "admin.signin.failure", None, None, ip_text.as_deref()).await;
        if let Some(locked) = locked {
            return refuse_locked(&state, &who, ip_text.as_deref(), page, locked).await;
        }
        return form(&state, StatusCode::UNAUTHORIZED, page("Wrong admin name or password.".to_owned()));
    }

    attempt.succeeded().await?;
    audit(&state, &who, "admin.signin.success", None, None, ip_text.as_deref()).await;
    // A new session id at every sign-in: an id planted before it is never promoted.
    if let Some(old) = access::load(&req, &state).await? {
        state.admin().sessions.destroy::<AdminSession>(&old.id).await?;
    }
    let session = state
        .admin()
        .sessions
        .create(AdminSession { username, csrf_token: random_token(32), flash: None })
        .await?;
    Ok(HttpResponse::SeeOther()
        .insert_header((header::LOCATION, return_to.as_deref().unwrap_or("/admin")))
        .cookie(session_cookie(&state, &session.id))
        .cookie(removal_cookie(&state, access::login_cookie_name(&state)))
        .finish())
}

/// 429 with the time to wait, audited.
async fn refuse_locked(
    state: &AppState,
    who: &str,
    ip: Option<&str>,
    page: impl Fn(String) -> LoginPage,
    locked: Locked,
) -> Result<HttpResponse, WebError> {
    audit(state, who, "admin.signin.locked", None, locked_detail(locked.retry_after), ip).await;
    let mut res = form(state, StatusCode::TOO_MANY_REQUESTS, page(locked_message(locked.retry_after)))?;
    retry_after(&mut res, locked.retry_after);
    Ok(res)
}

fn locked_detail(retry_after: Duration) -> Option<serde_json::Value> {
    Some(serde_json::json!({ "retry_after_s": retry_after.as_secs() }))
}

#[derive(Deserialize)]
pub struct LogoutForm {
    #[serde(default)]
    csrf_token: String,
}

pub async fn logout(
    state: web::Data<AppState>,
    admin: Admin,
    address: ClientAddress,
    posted: web::Form<LogoutForm>,
) -> Result<HttpResponse, WebError> {
    admin.check_csrf(&posted.csrf_token)?;
    state.admin().sessions.destroy::<AdminSession>(&admin.0.id).await?;
    let ip = address.text();
    audit(&state, &admin.actor(), "admin.signout", None, None, ip.as_deref()).await;
    Ok(HttpResponse::SeeOther()
        .insert_header((header::LOCATION, "/admin/login"))
        .cookie(removal_cookie(&state, access::cookie_name(&state)))
        .finish())
}
