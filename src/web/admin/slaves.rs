//! `GET /admin/slaves` (the config file's slaves, read-only, and the ones added here); what the
//! slave pages share: who owns an id, the refusal page, the audit view of a stored slave.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::access::Admin;
use super::page::{Shell, ago, db_error, render};
use crate::config::{AuthReference, SlaveSettings};
use crate::domain::{EnvironmentId, ManagerDefinition};
use crate::federation::ManagerHealth;
use crate::state::AppState;
use crate::store::{Change, SlaveRow};
use crate::web::WebError;

/// Who defines an environment id.
pub enum Owner {
    /// The master (config file).
    Master(String),
    /// A slave of the config file.
    Config(SlaveSettings),
    /// A slave added in the admin UI.
    Stored(SlaveRow),
    Unknown,
}

pub async fn owner(state: &AppState, id: &EnvironmentId) -> Result<Owner, WebError> {
    if &state.settings().master.id == id {
        return Ok(Owner::Master(state.settings().master.name.clone()));
    }
    if let Some(slave) = state.settings().slaves.iter().find(|s| &s.id == id) {
        return Ok(Owner::Config(slave.clone()));
    }
    Ok(state.db().get_slave(id).await.map_err(db_error)?.map_or(Owner::Unknown, Owner::Stored))
}

/// A path's id; anything that cannot be an id is a page that does not exist.
pub fn path_id(raw: &str) -> Result<EnvironmentId, WebError> {
    EnvironmentId::parse(raw).map_err(|_| WebError::NotFound)
}

#[derive(Template)]
#[template(path = "admin/message.html")]
struct MessagePage {
    shell: Shell,
    title: String,
    message: String,
}

/// A page that explains why nothing was done (409 read-only, 404 gone), with a way back.
pub async fn message(
    state: &AppState,
    admin: &Admin,
    status: StatusCode,
    title: &str,
    message: String,
) -> Result<HttpResponse, WebError> {
    let shell = Shell::new(state, admin, "slaves").await?;
    render(status, &MessagePage { shell, title: title.to_owned(), message })
}

/// The refusal for an id the config file defines.
pub async fn read_only(state: &AppState, admin: &Admin, owner: &Owner) -> Result<HttpResponse, WebError> {
    let text = match owner {
        Owner::Master(name) => format!(
            "“{name}” is the master manager. It is defined in the config file ([master]) and cannot be changed or deleted here."
        ),
        Owner::Config(s) => format!(
            "“{}” is defined in the config file ([[slaves]] with id = \"{}\") and is read-only here. Change or remove it in the config file.",
            s.name, s.id
        ),
        Owner::Stored(_) | Owner::Unknown => String::new(),
    };
    message(state, admin, StatusCode::CONFLICT, "Defined in the config file", text).await
}

pub async fn gone(state: &AppState, admin: &Admin, id: &EnvironmentId) -> Result<HttpResponse, WebError> {
    let text = format!("There is no slave manager “{id}” (any more): it may have just been deleted.");
    message(state, admin, StatusCode::NOT_FOUND, "No such slave manager", text).await
}

/// `3 certificates, sha256 1a2b3c4d…`: enough to tell two CAs apart in the audit log.
fn ca_summary(pem: &str) -> String {
    let count = pem.matches("-----BEGIN CERTIFICATE-----").count();
    let digest = crate::crypto::hex(&Sha256::digest(pem.trim().as_bytes()));
    format!("{count} certificate{}, sha256 {}…", if count == 1 { "" } else { "s" }, &digest[..16])
}

pub fn timeout_text(timeout: Option<std::time::Duration>) -> String {
    timeout.map_or_else(|| "default".to_owned(), |t| humantime::format_duration(t).to_string())
}

/// A service credential in words: its kind and the names of what it refers to, never a secret.
pub fn credential_text(auth: Option<&AuthReference>) -> String {
    auth.map_or_else(|| "none".to_owned(), |a| a.settings().describe())
}

/// A stored slave as the audit log keeps it (before/after).
pub fn audit_view(row: &SlaveRow) -> Value {
    let m = &row.manager;
    json!({
        "name": m.name,
        "url": m.url.as_str(),
        "base_path": m.base_path,
        "tls_mode": m.tls_mode.as_str(),
        "ca": m.ca_pem.as_deref().map(ca_summary),
        "timeout": timeout_text(m.timeout),
        "gateway": m.gateway.as_ref().map(url::Url::as_str),
        "enabled": m.enabled,
        "required": m.required,
        "service_credential": credential_text(row.auth.as_ref()),
    })
}

/// After a saved change: in force here now, and on the other replicas within a second. A failure
/// here is logged; the follower's reconciliation applies the saved change shortly.
pub async fn apply_slaves(state: &AppState) {
    if let Err(e) = state.changed(Change::Slaves).await {
        tracing::warn!(error = %e, "a saved slave change is not in force on this replica yet");
    }
}

pub struct SlaveItem {
    pub id: String,
    pub name: String,
    pub address: String,
    pub tls_mode: &'static str,
    pub timeout: String,
    pub enabled: bool,
    pub required: bool,
    /// The service credential in words (kind and references, no secret).
    pub credential: String,
    pub provisioned: bool,
    /// A stored slave whose id the config file now uses: the file's wins.
    pub shadowed: bool,
    /// `up`, `down`, `unknown` or `disabled`.
    pub status: &'static str,
    pub health: String,
    /// `by alice, 5 minutes ago` (stored slaves).
    pub updated: Option<String>,
}

#[derive(Template)]
#[template(path = "admin/slaves.html")]
struct SlavesPage {
    shell: Shell,
    slaves: Vec<SlaveItem>,
}

fn health(state: &AppState, id: &EnvironmentId, enabled: bool) -> (&'static str, String) {
    match (enabled, state.health().get(id)) {
        (false, _) => ("disabled", "disabled".to_owned()),
        (true, None) => ("unknown", "not checked yet".to_owned()),
        (true, Some(h @ ManagerHealth { up: true, .. })) => {
            ("up", format!("up · {}", h.latency_text().unwrap_or_default()))
        }
        (true, Some(h)) => ("down", format!("down · {}", h.last_error.as_deref().unwrap_or("no answer"))),
    }
}

fn item(state: &AppState, m: &ManagerDefinition, credential: String, provisioned: bool) -> SlaveItem {
    let (status, health) = health(state, &m.id, m.enabled);
    SlaveItem {
        id: m.id.to_string(),
        name: m.name.clone(),
        address: format!("{}{}", m.url.as_str().trim_end_matches('/'), m.base_path),
        tls_mode: m.tls_mode.as_str(),
        timeout: timeout_text(m.timeout),
        enabled: m.enabled,
        required: m.required,
        credential,
        provisioned,
        shadowed: false,
        status,
        health,
        updated: None,
    }
}

pub async fn list(state: web::Data<AppState>, admin: Admin) -> Result<HttpResponse, WebError> {
    let stored = state.db().list_slaves().await.map_err(db_error)?;
    let now = state.clock().now();
    let configured = state.settings().slaves.iter().map(|s| {
        let credential = s.auth.as_ref().map_or_else(|| "none".to_owned(), |a| a.describe());
        item(&state, &s.definition_with_ca(None), credential, true)
    });
    let mut slaves: Vec<SlaveItem> = configured.collect();
    for row in &stored {
        let mut entry = item(&state, &row.manager, credential_text(row.auth.as_ref()), false);
        entry.shadowed = slaves.iter().any(|s| s.provisioned && s.id == entry.id);
        let at =
            std::time::UNIX_EPOCH + std::time::Duration::from_millis(row.updated_at.max(0).unsigned_abs());
        let by = row.updated_by.strip_prefix("admin:").unwrap_or(&row.updated_by);
        entry.updated = Some(format!("by {by}, {}", ago(now, at)));
        slaves.push(entry);
    }
    let page = SlavesPage { shell: Shell::new(&state, &admin, "slaves").await?, slaves };
    render(StatusCode::OK, &page)
}

#[derive(Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    pub csrf_token: String,
}
