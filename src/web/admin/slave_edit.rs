//! Adding and editing a slave manager: `GET /admin/slaves/new`, `POST /admin/slaves`,
//! `GET /admin/slaves/{id}/edit`, `POST /admin/slaves/{id}`.
//!
//! An edit carries the version it started from; when another admin saved in between, nothing is
//! written and the form comes back with what is stored now and who changed it.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde_json::json;

use super::access::{Admin, Flash, flash};
use super::page::{Shell, ago, audit, client_address, db_error, render, see_other};
use super::slave_auth::{AUTH_KINDS, NOT_A_REFERENCE, check_auth, setup_error};
use super::slave_form::{FieldErrors, SlaveForm, check};
use super::slaves::{
    Owner, apply_slaves, audit_view, credential_text, gone, owner, path_id, read_only, timeout_text,
};
use crate::config::AuthReference;
use crate::domain::{EnvironmentId, ManagerDefinition};
use crate::state::AppState;
use crate::store::{DatabaseError, Saved, SlaveRow};
use crate::web::WebError;

/// Another admin's save that came first.
pub struct ConflictView {
    pub by: String,
    pub when: String,
    /// `(field, what is stored now)` for each field that differs from the form.
    pub stored: Vec<(&'static str, String)>,
}

#[derive(Template)]
#[template(path = "admin/slave_form.html")]
struct FormPage {
    shell: Shell,
    /// The id being edited; `None` for a new slave.
    editing: Option<String>,
    form: SlaveForm,
    errors: FieldErrors,
    conflict: Option<ConflictView>,
    /// The federation's default timeout, shown as the placeholder.
    default_timeout: String,
    tls_modes: [(&'static str, &'static str); 3],
    auth_kinds: [(&'static str, &'static str); 4],
    /// The credential connections of the config file, for the hint.
    connections: Vec<String>,
}

const TLS_MODES: [(&str, &str); 3] = [
    ("full", "Full: the certificate chain and the host name are verified"),
    ("certificate", "Certificate: the chain is verified, the host name is not"),
    ("none", "None: any certificate is accepted (test labs only)"),
];

async fn form_page(
    state: &AppState,
    admin: &Admin,
    status: StatusCode,
    editing: Option<&EnvironmentId>,
    form: SlaveForm,
    errors: FieldErrors,
    conflict: Option<ConflictView>,
) -> Result<HttpResponse, WebError> {
    let mut form = SlaveForm { csrf_token: String::new(), ..form }.without_plain_secret();
    if errors.auth.password.as_deref() == Some(NOT_A_REFERENCE) {
        // It may be a password: it is not shown again.
        form.auth_password.clear();
    }
    let page = FormPage {
        shell: Shell::new(state, admin, "slaves").await?,
        editing: editing.map(ToString::to_string),
        form,
        errors,
        conflict,
        default_timeout: humantime::format_duration(state.settings().federation.timeout.get()).to_string(),
        tls_modes: TLS_MODES,
        auth_kinds: AUTH_KINDS,
        connections: state
            .settings()
            .credentials
            .iter()
            .flat_map(|p| p.connections.iter().map(|c| c.id.to_string()))
            .collect(),
    };
    render(status, &page)
}

fn row((manager, auth): (ManagerDefinition, Option<AuthReference>), version: i64) -> SlaveRow {
    SlaveRow { manager, auth, version, updated_at: 0, updated_by: String::new() }
}

/// Why an id cannot be used for a new slave, if it cannot.
async fn id_taken(state: &AppState, id: &EnvironmentId) -> Result<Option<String>, WebError> {
    Ok(match owner(state, id).await? {
        Owner::Master(_) => Some("This is the master's id: choose another.".to_owned()),
        Owner::Config(_) => Some("A slave from the config file has this id: choose another.".to_owned()),
        Owner::Stored(s) => Some(format!("“{}” has this id already: choose another.", s.manager.name)),
        Owner::Unknown => None,
    })
}

/// Why a slave (`editing`, or a new one) cannot be called `name`: another manager is, compared
/// trimmed and case-insensitively.
async fn name_taken(
    state: &AppState,
    name: &str,
    editing: Option<&EnvironmentId>,
) -> Result<Option<String>, WebError> {
    let key = |n: &str| n.trim().to_lowercase();
    let wanted = key(name);
    let master = &state.settings().master;
    if wanted.is_empty() {
        return Ok(None);
    }
    if key(&master.name) == wanted {
        return Ok(Some(format!("The master manager is called “{}”: choose another name.", master.name)));
    }
    if let Some(s) = state.settings().slaves.iter().find(|s| key(&s.name) == wanted) {
        return Ok(Some(format!(
            "A slave from the config file ({}) is called “{}”: choose another name.",
            s.id, s.name
        )));
    }
    let stored = state.db().list_slaves().await.map_err(db_error)?;
    let other = stored.iter().find(|s| Some(&s.manager.id) != editing && key(&s.manager.name) == wanted);
    Ok(other
        .map(|s| format!("“{}” ({}) has this name already: choose another.", s.manager.name, s.manager.id)))
}

/// What a checked form describes: the manager and its service credential.
type Checked = (ManagerDefinition, Option<AuthReference>);

/// Checks the whole form (`editing`: the stored slave's id): every field, the id and the name
/// against the other managers, the service credential, and that its secret can be read now.
async fn check_all(
    state: &AppState,
    form: &SlaveForm,
    editing: Option<&EnvironmentId>,
) -> Result<Result<Checked, Box<FieldErrors>>, WebError> {
    let checked = check(form, editing);
    let mut errors = checked.as_ref().err().map(|e| (**e).clone()).unwrap_or_default();
    if editing.is_none()
        && let Ok(id) = EnvironmentId::parse(form.id.trim())
        && let Some(taken) = id_taken(state, &id).await?
    {
        errors.id = Some(taken);
    }
    if errors.name.is_none()
        && let Some(taken) = name_taken(state, &form.name, editing).await?
    {
        errors.name = Some(taken);
    }
    let auth = check_auth(form).map_err(|e| errors.auth = *e);
    let (manager, auth) = match (checked, auth) {
        (Ok(manager), Ok(auth)) if errors.is_empty() => (manager, auth),
        _ => return Ok(Err(Box::new(errors))),
    };
    if let Some(reference) = &auth
        && let Err(e) = state.environments().stored_credential(&manager.id, reference).await
    {
        setup_error(&mut errors.auth, &e);
        return Ok(Err(Box::new(errors)));
    }
    Ok(Ok((manager, auth)))
}

pub async fn new_form(state: web::Data<AppState>, admin: Admin) -> Result<HttpResponse, WebError> {
    form_page(&state, &admin, StatusCode::OK, None, SlaveForm::blank(), FieldErrors::default(), None).await
}

pub async fn create(
    req: HttpRequest,
    state: web::Data<AppState>,
    admin: Admin,
    posted: web::Form<SlaveForm>,
) -> Result<HttpResponse, WebError> {
    let form = posted.into_inner();
    admin.check_csrf(&form.csrf_token)?;
    let input = match check_all(&state, &form, None).await? {
        Ok(input) => input,
        Err(errors) => {
            return form_page(&state, &admin, StatusCode::BAD_REQUEST, None, form, *errors, None).await;
        }
    };
    let saved = match state.db().insert_slave(&row(input, 1), &admin.actor()).await {
        Ok(saved) => saved,
        // Another admin added the same id a moment ago.
        Err(DatabaseError::Conflict(_)) => {
            let errors = FieldErrors {
                id: Some("A slave with this id was just added: choose another.".to_owned()),
                ..FieldErrors::default()
            };
            return form_page(&state, &admin, StatusCode::CONFLICT, None, form, errors, None).await;
        }
        Err(e) => return Err(db_error(e)),
    };
    apply_slaves(&state).await;
    let detail = json!({ "before": null, "after": audit_view(&saved) });
    let ip = client_address(&req, &state);
    let (id, name) = (&saved.manager.id, &saved.manager.name);
    audit(&state, &admin.actor(), "slave.create", Some(id.as_str()), Some(detail), ip.as_deref()).await;
    let text = format!("Slave manager “{name}” ({id}) added.");
    flash(&state, &admin, Flash::ok(text)).await?;
    Ok(see_other("/admin/slaves"))
}

pub async fn edit_form(
    state: web::Data<AppState>,
    admin: Admin,
    path: web::Path<String>,
) -> Result<HttpResponse, WebError> {
    let id = path_id(&path)?;
    match owner(&state, &id).await? {
        Owner::Stored(row) => {
            let form = SlaveForm::from_row(&row);
            form_page(&state, &admin, StatusCode::OK, Some(&id), form, FieldErrors::default(), None).await
        }
        Owner::Unknown => gone(&state, &admin, &id).await,
        provisioned => read_only(&state, &admin, &provisioned).await,
    }
}

pub async fn update(
    req: HttpRequest,
    state: web::Data<AppState>,
    admin: Admin,
    path: web::Path<String>,
    posted: web::Form<SlaveForm>,
) -> Result<HttpResponse, WebError> {
    let mut form = posted.into_inner();
    admin.check_csrf(&form.csrf_token)?;
    let id = path_id(&path)?;
    let current = match owner(&state, &id).await? {
        Owner::Stored(row) => row,
        Owner::Unknown => return gone(&state, &admin, &id).await,
        provisioned => return read_only(&state, &admin, &provisioned).await,
    };
    form.id = id.to_string();
    let version: i64 = form
        .version
        .trim()
        .parse()
        .map_err(|_| WebError::BadRequest("The form lacks the version it was edited from.".to_owned()))?;
    let input = match check_all(&state, &form, Some(&id)).await? {
        Ok(input) => input,
        Err(errors) => {
            return form_page(&state, &admin, StatusCode::BAD_REQUEST, Some(&id), form, *errors, None).await;
        }
    };
    let wanted = row(input, version);
    if version == current.version
        && audit_view(&wanted) == audit_view(&current)
        && wanted.auth == current.auth
    {
        flash(
            &state,
            &admin,
            Flash::ok(format!("Nothing to save: “{}” is unchanged.", current.manager.name)),
        )
        .await?;
        return Ok(see_other("/admin/slaves"));
    }
    match state.db().update_slave(&wanted, &admin.actor()).await.map_err(db_error)? {
        Saved::Saved(_) => {}
        Saved::NotFound => return gone(&state, &admin, &id).await,
        Saved::Conflict => {
            let Some(latest) = state.db().get_slave(&id).await.map_err(db_error)? else {
                return gone(&state, &admin, &id).await;
            };
            let conflict = conflict_view(&state, &latest, &wanted);
            // Saving again is a deliberate decision over the newer version.
            form.version = latest.version.to_string();
            let errors = FieldErrors::default();
            return form_page(&state, &admin, StatusCode::CONFLICT, Some(&id), form, errors, Some(conflict))
                .await;
        }
    }
    apply_slaves(&state).await;
    let detail = json!({ "before": audit_view(&current), "after": audit_view(&wanted) });
    let ip = client_address(&req, &state);
    audit(&state, &admin.actor(), "slave.update", Some(id.as_str()), Some(detail), ip.as_deref()).await;
    flash(&state, &admin, Flash::ok(format!("Slave manager “{}” ({id}) saved.", wanted.manager.name)))
        .await?;
    Ok(see_other("/admin/slaves"))
}

fn conflict_view(state: &AppState, latest_row: &SlaveRow, wanted_row: &SlaveRow) -> ConflictView {
    let (latest, wanted) = (&latest_row.manager, &wanted_row.manager);
    let at =
        std::time::UNIX_EPOCH + std::time::Duration::from_millis(latest_row.updated_at.max(0).unsigned_abs());
    let mut stored = Vec::new();
    let mut differs = |field: &'static str, now: String, typed: String| {
        if now != typed {
            stored.push((field, now));
        }
    };
    differs("Name", latest.name.clone(), wanted.name.clone());
    differs("Address", latest.url.to_string(), wanted.url.to_string());
    differs("Base path", latest.base_path.clone(), wanted.base_path.clone());
    differs("TLS mode", latest.tls_mode.as_str().to_owned(), wanted.tls_mode.as_str().to_owned());
    let ca = |m: &ManagerDefinition| if m.ca_pem.is_some() { "set" } else { "none" }.to_owned();
    differs("CA certificates", ca(latest), ca(wanted));
    differs("Timeout", timeout_text(latest.timeout), timeout_text(wanted.timeout));
    let yes_no = |b: bool| if b { "yes" } else { "no" }.to_owned();
    differs("Enabled", yes_no(latest.enabled), yes_no(wanted.enabled));
    differs("Required", yes_no(latest.required), yes_no(wanted.required));
    differs(
        "Service credential",
        credential_text(latest_row.auth.as_ref()),
        credential_text(wanted_row.auth.as_ref()),
    );
    ConflictView {
        by: latest_row.updated_by.strip_prefix("admin:").unwrap_or(&latest_row.updated_by).to_owned(),
        when: ago(state.clock().now(), at),
        stored,
    }
}
