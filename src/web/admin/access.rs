//! Who may use `/admin`: the admin session (sealed in the key-value store under its own
//! namespace, shorter-lived than a portal session), its cookie (`SameSite=Strict`, path
//! `/admin`), the stricter lockout of admin sign-in, and the guard in front of every admin route.

use std::future::{Ready, ready};

use actix_web::body::{BoxBody, MessageBody};
use actix_web::cookie::{Cookie, SameSite, time::Duration as CookieDuration};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::{Method, header};
use actix_web::middleware::Next;
use actix_web::{FromRequest, HttpMessage, HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};

use crate::crypto::token_matches;
use crate::state::AppState;
use crate::store::{Session, SessionId};
use crate::web::WebError;

/// A one-time message shown on the next admin page (after a redirect).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Flash {
    pub success: bool,
    pub text: String,
}

impl Flash {
    pub fn ok(text: impl Into<String>) -> Self {
        Self { success: true, text: text.into() }
    }
}

/// The contents of an admin session.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AdminSession {
    pub username: String,
    #[serde(with = "crate::compact::text")]
    pub csrf_token: String,
    #[serde(default)]
    pub flash: Option<Flash>,
}

/// Admin sessions are counted in all only.
impl crate::store::Grouped for AdminSession {}

impl AdminSession {
    /// The audit log's actor for this admin.
    pub fn actor(&self) -> String {
        actor(&self.username)
    }
}

/// `admin:NAME`, the audit log's actor for an admin (or a name typed at the admin sign-in).
pub fn actor(username: &str) -> String {
    format!("admin:{username}")
}

/// The admin session cookie's name (a plain name: `__Host-` cookies cannot have a path).
pub fn cookie_name(state: &AppState) -> String {
    format!("{}_admin", state.settings().session.cookie_name)
}

/// The cookie of the sign-in form's anti-forgery nonce.
pub fn login_cookie_name(state: &AppState) -> String {
    format!("{}_admin_login", state.settings().session.cookie_name)
}

fn cookie(state: &AppState, name: String, value: String) -> Cookie<'static> {
    Cookie::build(name, value)
        .path("/admin")
        .http_only(true)
        .secure(state.is_https())
        .same_site(SameSite::Strict)
        .finish()
}

pub fn session_cookie(state: &AppState, id: &SessionId) -> Cookie<'static> {
    cookie(state, cookie_name(state), id.as_str().to_owned())
}

pub fn login_cookie(state: &AppState, nonce: String) -> Cookie<'static> {
    let mut c = cookie(state, login_cookie_name(state), nonce);
    c.set_max_age(CookieDuration::hours(2));
    c
}

/// A cookie (of path `/admin`) that makes the browser forget `name`.
pub fn removal_cookie(state: &AppState, name: String) -> Cookie<'static> {
    let mut c = cookie(state, name, String::new());
    c.set_max_age(CookieDuration::ZERO);
    c
}

/// The request's admin session, if any (unknown, expired or tampered sessions are none).
pub async fn load(req: &HttpRequest, state: &AppState) -> Result<Option<Session<AdminSession>>, WebError> {
    let Some(cookie) = req.cookie(&cookie_name(state)) else {
        return Ok(None);
    };
    let Some(id) = SessionId::parse(cookie.value()) else {
        return Ok(None);
    };
    Ok(state.admin().sessions.load::<AdminSession>(&id).await?)
}

/// A handler argument: the signed-in admin, put in place by [`guard`].
#[derive(Clone)]
pub struct Admin(pub Session<AdminSession>);

impl Admin {
    /// Refuses a form whose `csrf_token` is not this session's (a missing one reads as empty,
    /// which never matches).
    pub fn check_csrf(&self, submitted: &str) -> Result<(), WebError> {
        if token_matches(&self.0.data.csrf_token, submitted) { Ok(()) } else { Err(WebError::Csrf) }
    }

    pub fn actor(&self) -> String {
        self.0.data.actor()
    }
}

impl FromRequest for Admin {
    type Error = WebError;
    type Future = Ready<Result<Self, WebError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let admin = req.extensions().get::<Admin>().cloned();
        ready(
            admin.ok_or_else(|| WebError::Unexpected(anyhow::anyhow!("admin route outside the admin guard"))),
        )
    }
}

/// Paths under `/admin` that need no admin session: the sign-in form, and the return from a
/// credential provider (authenticated by its one-use consent; see `consent.rs`).
fn is_public(path: &str) -> bool {
    path == "/admin/login" || path == crate::credentials::CALLBACK_PATH
}

/// A second layer against cross-site forms besides the CSRF token: browsers say where an unsafe
/// request comes from (`Sec-Fetch-Site`); anything but this origin (or the user typing) is
/// refused. Browsers that do not send the header are left to the token.
fn cross_site(req: &ServiceRequest) -> bool {
    let unsafe_method = !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    let site = req.headers().get("sec-fetch-site").and_then(|v| v.to_str().ok());
    unsafe_method && site.is_some_and(|s| s != "same-origin" && s != "none")
}

/// The one guard in front of every admin route: a signed-in admin or the sign-in page, never
/// cached, never framed.
pub async fn guard(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    if cross_site(&req) {
        return Err(WebError::Csrf.into());
    }
    let state = req
        .app_data::<web::Data<AppState>>()
        .cloned()
        .ok_or_else(|| WebError::Unexpected(anyhow::anyhow!("application state missing")))?;
    if !is_public(req.path()) {
        let Some(session) = load(req.request(), &state).await? else {
            let location = if req.method() == Method::GET {
                let target = req.uri().path_and_query().map(|p| p.as_str()).unwrap_or("/admin");
                format!(
                    "/admin/login?return_to={}",
                    url::form_urlencoded::byte_serialize(target.as_bytes()).collect::<String>()
                )
            } else {
                "/admin/login".to_owned()
            };
            let response = HttpResponse::SeeOther().insert_header((header::LOCATION, location)).finish();
            return Ok(req.into_response(response));
        };
        req.extensions_mut().insert(Admin(session));
    }
    let mut res = next.call(req).await?.map_into_boxed_body();
    res.headers_mut().insert(header::CACHE_CONTROL, header::HeaderValue::from_static("no-store"));
    Ok(res)
}

/// A `return_to` after admin sign-in: only a page of the admin area.
pub fn admin_return_to(raw: Option<&str>) -> Option<String> {
    crate::web::session::local_path(raw)
        .filter(|p| p == "/admin" || p.starts_with("/admin/") || p.starts_with("/admin?"))
}

/// Saves a one-time message for the next page.
pub async fn flash(state: &AppState, admin: &Admin, flash: Flash) -> Result<(), WebError> {
    let mut session = admin.0.clone();
    session.data.flash = Some(flash);
    state.admin().sessions.save(&session).await?;
    Ok(())
}

/// Takes the one-time message out of the session (writing only when there was one).
pub async fn take_flash(state: &AppState, admin: &Admin) -> Result<Option<Flash>, WebError> {
    let Some(flash) = admin.0.data.flash.clone() else {
        return Ok(None);
    };
    let mut session = admin.0.clone();
    session.data.flash = None;
    state.admin().sessions.save(&session).await?;
    Ok(Some(flash))
}
