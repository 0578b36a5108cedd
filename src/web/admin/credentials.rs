//! `GET /admin/credentials`: every OAuth2 credential connection with its provider, grant, access
//! policy, the managers that use it and its state (connected / needs consent / error), the last
//! token, error and refusal; `POST /admin/credentials/{id}/disconnect` forgets a consent.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;

use super::access::{Admin, Flash, flash};
use super::page::{Shell, ago, audit, client_address, render, see_other};
use super::slaves::CsrfForm;
use crate::config::Grant;
use crate::credentials::{Connection, Connections};
use crate::credentials::{ConnectionState, describe_policy};
use crate::federation::ServiceCredential;
use crate::state::AppState;
use crate::web::WebError;

/// One connection on the page.
pub struct ConnectionView {
    pub id: String,
    pub provider: String,
    pub grant: &'static str,
    pub client_id: String,
    pub scopes: String,
    pub allowed: String,
    /// The managers whose service credential it is.
    pub managers: Vec<String>,
    /// `connected`, `needs consent`, `error`, `not used yet`.
    pub state: &'static str,
    /// CSS class of the state badge.
    pub badge: &'static str,
    pub consent: bool,
    pub connected: Option<String>,
    pub last_token: Option<String>,
    pub last_error: Option<(String, String)>,
    pub last_refusal: Option<(String, String)>,
}

#[derive(Template)]
#[template(path = "admin/credentials.html")]
struct CredentialsPage {
    shell: Shell,
    connections: Vec<ConnectionView>,
}

async fn view(state: &AppState, connection: &Connection) -> ConnectionView {
    let now = state.clock().now();
    let managers = state
        .environments()
        .snapshot()
        .all()
        .filter(|env| matches!(&env.service, Some(ServiceCredential::Connection(c)) if c.id == connection.id))
        .map(|env| format!("{} ({})", env.name(), env.id()))
        .collect();
    let status = connection.status().await;
    let (state_name, badge, connected, last_token, last_error, last_refusal) = match status {
        Ok(s) => (
            s.state.as_str(),
            match s.state {
                ConnectionState::Connected => "ok",
                ConnectionState::Error => "bad",
                ConnectionState::NeedsConsent => "warn",
                ConnectionState::NotUsedYet => "",
            },
            s.connected_at.map(|t| match &s.connected_by {
                Some(by) => format!("{} by {}", ago(now, t), by.trim_start_matches("admin:")),
                None => ago(now, t),
            }),
            s.last_token_at.map(|t| ago(now, t)),
            s.last_error.map(|(e, t)| (e, ago(now, t))),
            s.last_refusal.map(|(e, t)| (e, ago(now, t))),
        ),
        Err(e) => ("error", "bad", None, None, Some((e.to_string(), "now".to_owned())), None),
    };
    ConnectionView {
        id: connection.id.to_string(),
        provider: connection.provider.to_string(),
        grant: connection.grant.as_str(),
        client_id: connection.client_id.clone(),
        scopes: if connection.scopes.is_empty() { "none".to_owned() } else { connection.scopes.join(" ") },
        allowed: describe_policy(&connection.allowed),
        managers,
        state: state_name,
        badge,
        consent: connection.grant == Grant::AuthorizationCode,
        connected,
        last_token,
        last_error,
        last_refusal,
    }
}

pub async fn list(state: web::Data<AppState>, admin: Admin) -> Result<HttpResponse, WebError> {
    let mut connections = Vec::new();
    for connection in state.connections().all() {
        connections.push(view(&state, connection).await);
    }
    let page = CredentialsPage { shell: Shell::new(&state, &admin, "credentials").await?, connections };
    render(StatusCode::OK, &page)
}

/// The connection named in the path; anything else is a page that does not exist.
pub fn path_connection(connections: &Connections, raw: &str) -> Result<std::sync::Arc<Connection>, WebError> {
    connections.find(raw).ok_or(WebError::NotFound)
}

pub async fn disconnect(
    req: HttpRequest,
    state: web::Data<AppState>,
    admin: Admin,
    path: web::Path<String>,
    posted: web::Form<CsrfForm>,
) -> Result<HttpResponse, WebError> {
    admin.check_csrf(&posted.csrf_token)?;
    let connection = path_connection(state.connections(), &path)?;
    connection.disconnect().await.map_err(|e| WebError::Unexpected(e.into()))?;
    let ip = client_address(&req, &state);
    audit(
        &state,
        &admin.actor(),
        "credential.disconnected",
        Some(connection.id.as_str()),
        None,
        ip.as_deref(),
    )
    .await;
    let text = format!(
        "Connection “{}” disconnected: an admin must consent again before it is used.",
        connection.id
    );
    flash(&state, &admin, Flash::ok(text)).await?;
    Ok(see_other("/admin/credentials"))
}
