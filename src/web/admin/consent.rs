//! An admin's consent to an authorization-code connection: `GET /admin/credentials/{id}/connect`
//! sends the browser to the provider's authorize URL (state + PKCE), and the provider sends it
//! back to `GET /admin/credentials/callback`.
//!
//! "Connect" is a link, not a form: browsers hold a form's redirects to the page's
//! `form-action` policy, which allows only this site, and starting a consent changes nothing
//! until the admin consents at the provider. The callback comes from the provider's site, so it
//! is not behind the admin guard (the `SameSite=Strict` admin cookie is not sent with it): the
//! one-use pending consent and a browser-bound cookie authenticate it.

use actix_web::cookie::{Cookie, SameSite, time::Duration as CookieDuration};
use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::access::Admin;
use super::credentials::path_connection;
use super::page::{audit, client_address, render};
use crate::config::Grant;
use crate::credentials::{CALLBACK_PATH, ConsentError};
use crate::state::AppState;
use crate::web::WebError;

fn cookie_name(state: &AppState) -> String {
    format!("{}_consent", state.settings().session.cookie_name)
}

fn browser_cookie(state: &AppState, value: String, max_age: CookieDuration) -> Cookie<'static> {
    let mut c = Cookie::build(cookie_name(state), value)
        .path(CALLBACK_PATH)
        .http_only(true)
        .secure(state.is_https())
        // Sent with the provider's redirect back (a top-level navigation from another site).
        .same_site(SameSite::Lax)
        .finish();
    c.set_max_age(max_age);
    c
}

pub async fn connect(
    req: HttpRequest,
    state: web::Data<AppState>,
    admin: Admin,
    path: web::Path<String>,
) -> Result<HttpResponse, WebError> {
    let connection = path_connection(state.connections(), &path)?;
    if connection.grant != Grant::AuthorizationCode {
        return Err(WebError::BadRequest(format!(
            "Connection “{}” uses client credentials: it needs no consent.",
            connection.id
        )));
    }
    let started = state
        .connections()
        .start_consent(&connection, &admin.actor())
        .await
        .map_err(|e| WebError::Unexpected(e.into()))?;
    let ip = client_address(&req, &state);
    audit(
        &state,
        &admin.actor(),
        "credential.consent_started",
        Some(connection.id.as_str()),
        None,
        ip.as_deref(),
    )
    .await;
    let ttl =
        CookieDuration::seconds(i64::try_from(crate::credentials::CONSENT_TTL.as_secs()).unwrap_or(600));
    Ok(HttpResponse::SeeOther()
        .insert_header((header::LOCATION, started.authorize_url.as_str()))
        .cookie(browser_cookie(&state, started.browser_nonce, ttl))
        .finish())
}

#[derive(Deserialize)]
pub struct CallbackQuery {
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    error_description: Option<String>,
}

#[derive(Template)]
#[template(path = "admin/consent.html")]
struct ConsentPage {
    connected: bool,
    title: String,
    message: String,
}

pub async fn callback(
    req: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<CallbackQuery>,
) -> Result<HttpResponse, WebError> {
    let query = query.into_inner();
    let Some(consent_state) = query.state.as_deref().filter(|s| !s.is_empty()) else {
        return Err(WebError::BadRequest(
            "This page is where a provider sends an admin back after consent.".into(),
        ));
    };
    let outcome = match (&query.code, &query.error) {
        (_, Some(error)) => Err(match &query.error_description {
            Some(description) => format!("{error}: {description}"),
            None => error.clone(),
        }),
        (Some(code), None) => Ok(code.as_str()),
        (None, None) => Err("the provider sent neither a code nor an error".to_owned()),
    };
    let nonce = req.cookie(&cookie_name(&state)).map(|c| c.value().to_owned());
    let result = state.connections().finish_consent(consent_state, nonce.as_deref(), outcome).await;
    let ip = client_address(&req, &state);
    let (status, page) = match result {
        Ok((connection, admin)) => {
            let detail = serde_json::json!({ "provider": connection.provider.as_str() });
            audit(
                &state,
                &admin,
                "credential.connected",
                Some(connection.id.as_str()),
                Some(detail),
                ip.as_deref(),
            )
            .await;
            let page = ConsentPage {
                connected: true,
                title: format!("Connection “{}” connected", connection.id),
                message: "Its refresh token is kept, sealed, in the database: every replica uses it, and it survives restarts.".to_owned(),
            };
            (StatusCode::OK, page)
        }
        Err(ConsentError::Failed { connection, admin, reason }) => {
            let detail = serde_json::json!({ "reason": reason });
            audit(
                &state,
                &admin,
                "credential.consent_failed",
                Some(connection.as_str()),
                Some(detail),
                ip.as_deref(),
            )
            .await;
            let page = ConsentPage {
                connected: false,
                title: format!("Connection “{connection}” not connected"),
                message: reason,
            };
            (StatusCode::BAD_GATEWAY, page)
        }
        Err(e @ ConsentError::Store(_)) => return Err(WebError::Unexpected(e.into())),
        Err(other) => {
            let page = ConsentPage {
                connected: false,
                title: "Consent not accepted".to_owned(),
                message: other.to_string(),
            };
            (StatusCode::BAD_REQUEST, page)
        }
    };
    let mut response = render(status, &page)?;
    let _ = response.add_cookie(&browser_cookie(&state, String::new(), CookieDuration::ZERO));
    Ok(response)
}
