//! One application and what hangs from it: `GET`, `PUT`, `DELETE /applications/{id}`, its API
//! keys (`/applications/{id}/apikeys`) and its access to APIs (`/applications/{id}/apis`). An
//! application of another organization is not found (API administrators see all).

use std::sync::MutexGuard;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::Value;

use super::super::auth::Caller;
use super::super::data::{SimApiAccess, SimApiKey, SimApplication, SimulatorData, new_id, now_millis};
use super::super::faults::Operation;
use super::super::state::SimState;
use super::super::views;
use super::discovery::visible;
use super::guard;
use crate::domain::Role;

pub(super) fn not_found() -> HttpResponse {
    views::error(StatusCode::NOT_FOUND, "No such application")
}

/// The caller's application `id`, if they may see it.
pub(super) fn owned<'a>(
    data: &'a mut SimulatorData,
    caller: &Caller,
    id: &str,
) -> Option<&'a mut SimApplication> {
    data.applications.iter_mut().find(|a| {
        a.id == id && (caller.user.role == Role::Admin || a.organization_id == caller.user.organization_id)
    })
}

/// The caller and the data, once the caller may see application `id` (an API administrator any,
/// others their organization's); else the answer to send (the injected fault, 401, or 404).
pub(super) async fn with_application<'a>(
    req: &HttpRequest,
    state: &'a SimState,
    operation: Operation,
    id: &str,
) -> Result<(Caller, MutexGuard<'a, SimulatorData>), HttpResponse> {
    let caller = guard(req, state, operation).await?;
    let mut data = state.data();
    if owned(&mut data, &caller, id).is_none() {
        return Err(not_found());
    }
    Ok((caller, data))
}

pub(super) async fn get(req: HttpRequest, state: web::Data<SimState>, id: web::Path<String>) -> HttpResponse {
    let caller = match guard(&req, &state, Operation::Application).await {
        Ok(caller) => caller,
        Err(response) => return response,
    };
    match owned(&mut state.data(), &caller, &id) {
        Some(app) => HttpResponse::Ok().json(views::application(app)),
        None => not_found(),
    }
}

/// The members of the swagger's `Application` an update may change.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ApplicationUpdate {
    name: Option<String>,
    description: Option<String>,
    organization_id: Option<String>,
}

pub(super) async fn update(
    req: HttpRequest,
    state: web::Data<SimState>,
    id: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    let caller = match guard(&req, &state, Operation::Application).await {
        Ok(caller) => caller,
        Err(response) => return response,
    };
    let Ok(update) = serde_json::from_slice::<ApplicationUpdate>(&body) else {
        return views::error(StatusCode::BAD_REQUEST, "The body must be an application in JSON");
    };
    let Some(name) = update.name.filter(|n| !n.trim().is_empty()) else {
        return views::error(StatusCode::BAD_REQUEST, "The application needs a name");
    };
    let mut data = state.data();
    let Some(app) = owned(&mut data, &caller, &id) else { return not_found() };
    if update.organization_id.is_some_and(|org| org != app.organization_id) {
        return views::error(StatusCode::BAD_REQUEST, "An application cannot move to another organization");
    }
    app.name = name;
    app.description = update.description.filter(|d| !d.is_empty());
    HttpResponse::Ok().json(views::application(app))
}

pub(super) async fn delete(
    req: HttpRequest,
    state: web::Data<SimState>,
    id: web::Path<String>,
) -> HttpResponse {
    let (_, mut data) = match with_application(&req, &state, Operation::Application, &id).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    data.applications.retain(|a| a.id != *id);
    data.api_keys.retain(|k| k.application_id != *id);
    data.api_access.retain(|a| a.application_id != *id);
    data.oauth_clients.retain(|c| c.application_id != *id);
    HttpResponse::NoContent().finish()
}

pub(super) async fn api_keys(
    req: HttpRequest,
    state: web::Data<SimState>,
    id: web::Path<String>,
) -> HttpResponse {
    let (_, data) = match with_application(&req, &state, Operation::ApiKeys, &id).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let keys: Vec<Value> =
        data.api_keys.iter().filter(|k| k.application_id == *id).map(views::api_key).collect();
    HttpResponse::Ok().json(keys)
}

pub(super) async fn create_api_key(
    req: HttpRequest,
    state: web::Data<SimState>,
    id: web::Path<String>,
) -> HttpResponse {
    let (caller, mut data) = match with_application(&req, &state, Operation::ApiKeys, &id).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let key = SimApiKey {
        id: new_id(),
        application_id: id.clone(),
        secret: new_id(),
        enabled: true,
        created_by: Some(caller.user.id.clone()),
        created_on: now_millis(),
    };
    let view = views::api_key(&key);
    data.api_keys.push(key);
    HttpResponse::Created().json(view)
}

pub(super) async fn delete_api_key(
    req: HttpRequest,
    state: web::Data<SimState>,
    path: web::Path<(String, String)>,
) -> HttpResponse {
    let (id, key_id) = path.into_inner();
    let (_, mut data) = match with_application(&req, &state, Operation::ApiKeys, &id).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let before = data.api_keys.len();
    data.api_keys.retain(|k| !(k.application_id == id && k.id == key_id));
    if data.api_keys.len() == before {
        return views::error(StatusCode::NOT_FOUND, "No such API key");
    }
    HttpResponse::NoContent().finish()
}

pub(super) async fn api_access(
    req: HttpRequest,
    state: web::Data<SimState>,
    id: web::Path<String>,
) -> HttpResponse {
    let (_, data) = match with_application(&req, &state, Operation::ApiAccess, &id).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let found: Vec<Value> =
        data.api_access.iter().filter(|a| a.application_id == *id).map(views::api_access).collect();
    HttpResponse::Ok().json(found)
}

/// The member of the swagger's `APIAccess` a request names.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AccessRequest {
    api_id: Option<String>,
}

pub(super) async fn request_access(
    req: HttpRequest,
    state: web::Data<SimState>,
    id: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    let caller = match guard(&req, &state, Operation::ApiAccess).await {
        Ok(caller) => caller,
        Err(response) => return response,
    };
    let Some(api_id) = serde_json::from_slice::<AccessRequest>(&body).ok().and_then(|r| r.api_id) else {
        return views::error(StatusCode::BAD_REQUEST, "The body must name an apiId");
    };
    let mut data = state.data();
    if owned(&mut data, &caller, &id).is_none() {
        return not_found();
    }
    let Some(api) = data.apis.iter().find(|a| a.id == api_id && visible(&caller, a)) else {
        return views::error(StatusCode::BAD_REQUEST, "No such API for this organization");
    };
    if data.api_access.iter().any(|a| a.application_id == *id && a.api_id == api_id) {
        return views::error(StatusCode::BAD_REQUEST, "The application has this API already");
    }
    let access = SimApiAccess {
        id: new_id(),
        application_id: id.clone(),
        api_id,
        state: if api.approval { "pending" } else { "approved" }.to_owned(),
        created_by: Some(caller.user.id.clone()),
        created_on: now_millis(),
        enabled: true,
    };
    let view = views::api_access(&access);
    data.api_access.push(access);
    HttpResponse::Created().json(view)
}

pub(super) async fn remove_access(
    req: HttpRequest,
    state: web::Data<SimState>,
    path: web::Path<(String, String)>,
) -> HttpResponse {
    let (id, access_id) = path.into_inner();
    let (_, mut data) = match with_application(&req, &state, Operation::ApiAccess, &id).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let before = data.api_access.len();
    data.api_access.retain(|a| !(a.application_id == id && a.id == access_id));
    if data.api_access.len() == before {
        return views::error(StatusCode::NOT_FOUND, "No such API access");
    }
    HttpResponse::NoContent().finish()
}

/// `GET /applications/{id}/quota`: the default application quota (the simulator keeps no other).
pub(super) async fn quota(
    req: HttpRequest,
    state: web::Data<SimState>,
    id: web::Path<String>,
) -> HttpResponse {
    let caller = match guard(&req, &state, Operation::Application).await {
        Ok(caller) => caller,
        Err(response) => return response,
    };
    if owned(&mut state.data(), &caller, &id).is_none() {
        return not_found();
    }
    HttpResponse::Ok().json(serde_json::json!({
        "id": "00000000-0000-4000-8000-000000000001",
        "type": "APPLICATION",
        "name": "Application Default",
        "description": "The default quota of every application",
        "system": true,
        "restrictions": [
            { "api": "*", "method": "*", "type": "throttle",
              "config": { "messages": "1000", "per": "1", "period": "hour" } }
        ]
    }))
}
