//! Deleting a stored slave manager after a confirmation step: `GET /admin/slaves/{id}/delete`
//! shows what deleting it does, and `POST /admin/slaves/{id}/delete` deletes only with
//! `confirm=yes` (anything else shows the same page and deletes nothing).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;
use serde_json::json;

use super::access::{Admin, Flash, flash};
use super::page::{Shell, audit, client_address, db_error, render, see_other};
use super::slaves::{Owner, apply_slaves, audit_view, credential_text, gone, owner, path_id, read_only};
use crate::state::AppState;
use crate::store::SlaveRow;
use crate::web::WebError;

#[derive(Deserialize)]
pub struct DeleteForm {
    #[serde(default)]
    pub csrf_token: String,
    /// `yes` once the admin confirmed.
    #[serde(default)]
    pub confirm: String,
}

#[derive(Template)]
#[template(path = "admin/slave_delete.html")]
struct ConfirmPage {
    shell: Shell,
    id: String,
    name: String,
    address: String,
    credential: String,
    enabled: bool,
    /// Portal sessions joined to it now, when the store could count them.
    sessions: Option<u64>,
}

/// The stored slave `id`, or the page that says why it cannot be deleted here.
async fn stored(
    state: &AppState,
    admin: &Admin,
    raw_id: &str,
) -> Result<Result<SlaveRow, HttpResponse>, WebError> {
    let id = path_id(raw_id)?;
    Ok(match owner(state, &id).await? {
        Owner::Stored(row) => Ok(row),
        Owner::Unknown => Err(gone(state, admin, &id).await?),
        provisioned => Err(read_only(state, admin, &provisioned).await?),
    })
}

async fn confirm_page(state: &AppState, admin: &Admin, row: &SlaveRow) -> Result<HttpResponse, WebError> {
    let m = &row.manager;
    let sessions = state.sessions().count_group(m.id.as_str()).await.ok();
    let page = ConfirmPage {
        shell: Shell::new(state, admin, "slaves").await?,
        id: m.id.to_string(),
        name: m.name.clone(),
        address: format!("{}{}", m.url.as_str().trim_end_matches('/'), m.base_path),
        credential: credential_text(row.auth.as_ref()),
        enabled: m.enabled,
        sessions,
    };
    render(StatusCode::OK, &page)
}

pub async fn confirm_form(
    state: web::Data<AppState>,
    admin: Admin,
    path: web::Path<String>,
) -> Result<HttpResponse, WebError> {
    match stored(&state, &admin, &path).await? {
        Ok(row) => confirm_page(&state, &admin, &row).await,
        Err(refusal) => Ok(refusal),
    }
}

pub async fn delete(
    req: HttpRequest,
    state: web::Data<AppState>,
    admin: Admin,
    path: web::Path<String>,
    posted: web::Form<DeleteForm>,
) -> Result<HttpResponse, WebError> {
    admin.check_csrf(&posted.csrf_token)?;
    let row = match stored(&state, &admin, &path).await? {
        Ok(row) => row,
        Err(refusal) => return Ok(refusal),
    };
    if posted.confirm != "yes" {
        return confirm_page(&state, &admin, &row).await;
    }
    let id = &row.manager.id;
    if !state.db().delete_slave(id).await.map_err(db_error)? {
        return gone(&state, &admin, id).await;
    }
    apply_slaves(&state).await;
    let detail = json!({ "before": audit_view(&row) });
    let ip = client_address(&req, &state);
    audit(&state, &admin.actor(), "slave.delete", Some(id.as_str()), Some(detail), ip.as_deref()).await;
    flash(&state, &admin, Flash::ok(format!("Slave manager “{}” ({id}) deleted.", row.manager.name))).await?;
    Ok(see_other("/admin/slaves"))
}
