//! `POST /login`, `DELETE /login` and `GET /currentuser`.

use actix_web::cookie::Cookie;
use actix_web::http::StatusCode;
use actix_web::http::header::LOCATION;
use actix_web::{HttpRequest, HttpResponse, web};

use super::super::auth;
use super::super::data::SimUser;
use super::super::faults::Operation;
use super::super::sessions::SESSION_COOKIE;
use super::super::slave;
use super::super::state::SimState;
use super::super::views::{self, Refusal};
use super::{guard, inject};

/// The form of `POST /login`.
#[derive(Default)]
struct LoginForm {
    username: Option<String>,
    password: Option<String>,
    success: Option<String>,
    failure: Option<String>,
}

impl LoginForm {
    fn parse(body: &[u8]) -> Self {
        let mut form = Self::default();
        for (key, value) in url::form_urlencoded::parse(body) {
            let slot = match key.as_ref() {
                "username" => &mut form.username,
                "password" => &mut form.password,
                "success" => &mut form.success,
                "failure" => &mut form.failure,
                _ => continue,
            };
            *slot = Some(value.into_owned());
        }
        form
    }
}

pub(super) async fn login(req: HttpRequest, state: web::Data<SimState>, body: web::Bytes) -> HttpResponse {
    let form = LoginForm::parse(&body);
    if let Some(username) = &form.username {
        auth::remember_user(&req, username);
    }
    if let Some(response) = inject(&state, Operation::Login, form.username.as_deref()).await {
        return response;
    }
    let outcome = match (&form.username, &form.password) {
        (Some(username), Some(password)) if !username.is_empty() => match &state.master {
            None => local_login(&state, username, password),
            Some(master) => slave::login(&state, master, username, password).await,
        },
        _ => Err(Refusal::new(StatusCode::BAD_REQUEST, "username and password are required")),
    };
    match outcome {
        Ok(user) => {
            let session_id = state.sessions.open(&user.id, &user.login_name);
            let cookie = Cookie::build(SESSION_COOKIE, session_id).path("/").http_only(true).finish();
            HttpResponse::SeeOther()
                .insert_header((LOCATION, form.success.as_deref().unwrap_or("/")))
                .cookie(cookie)
                .finish()
        }
        // With a `failure` location the manager redirects instead of answering an error.
        Err(_) if form.failure.is_some() => HttpResponse::SeeOther()
            .insert_header((LOCATION, form.failure.as_deref().unwrap_or("/")))
            .finish(),
        Err(refusal) => refusal.response(),
    }
}

/// A login against the simulator's own users (master mode). The password is checked first, so
/// the account's state is only revealed to someone who knows it.
fn local_login(state: &SimState, username: &str, password: &str) -> Result<SimUser, Refusal> {
    let data = state.data();
    let user = data
        .user_by_login(username)
        .filter(|user| auth::password_matches(user, password))
        .ok_or_else(|| Refusal::new(StatusCode::UNAUTHORIZED, "Invalid username or password"))?;
    if !user.enabled {
        return Err(Refusal::new(StatusCode::FORBIDDEN, "The account is disabled"));
    }
    if user.password_change_required {
        return Err(Refusal::new(StatusCode::CONFLICT, "The password must be changed"));
    }
    Ok(user.clone())
}

pub(super) async fn logout(req: HttpRequest, state: web::Data<SimState>) -> HttpResponse {
    match guard(&req, &state, Operation::Logout).await {
        Ok(caller) => {
            if let Some(session_id) = &caller.session_id {
                state.sessions.close(session_id);
            }
            // The manager also clears the cookie in the browser.
            let mut expired = Cookie::build(SESSION_COOKIE, "").path("/").http_only(true).finish();
            expired.make_removal();
            HttpResponse::NoContent().cookie(expired).finish()
        }
        Err(response) => response,
    }
}

pub(super) async fn current_user(req: HttpRequest, state: web::Data<SimState>) -> HttpResponse {
    let caller = match guard(&req, &state, Operation::CurrentUser).await {
        Ok(caller) => caller,
        Err(response) => return response,
    };
    let csrf_token =
        caller.session_id.as_deref().and_then(|id| state.sessions.get(id)).map(|session| session.csrf_token);
    let body = {
        let data = state.data();
        views::user(&caller.user, data.organization(&caller.user.organization_id))
    };
    let mut response = HttpResponse::Ok();
    if let Some(token) = csrf_token {
        response.insert_header((crate::manager::CSRF_HEADER, token));
    }
    response.json(body)
}
