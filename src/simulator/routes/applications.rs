//! `GET /applications` (the caller's organization's; all for API administrators) and
//! `POST /applications` (into the caller's organization unless the caller is an administrator).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::Value;

use super::super::data::{SimApplication, new_id, now_millis};
use super::super::faults::Operation;
use super::super::state::SimState;
use super::super::views;
use super::guard;
use crate::domain::Role;

pub(super) async fn list(req: HttpRequest, state: web::Data<SimState>) -> HttpResponse {
    let caller = match guard(&req, &state, Operation::Applications).await {
        Ok(caller) => caller,
        Err(response) => return response,
    };
    let data = state.data();
    let found: Vec<Value> = data
        .applications
        .iter()
        .filter(|app| caller.user.role == Role::Admin || app.organization_id == caller.user.organization_id)
        .map(views::application)
        .collect();
    HttpResponse::Ok().json(found)
}

/// The members of the swagger's `ApplicationRequest` the simulator uses; others are accepted
/// and ignored, as the manager keeps custom properties.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ApplicationRequest {
    name: Option<String>,
    description: Option<String>,
    organization_id: Option<String>,
}

pub(super) async fn create(req: HttpRequest, state: web::Data<SimState>, body: web::Bytes) -> HttpResponse {
    let caller = match guard(&req, &state, Operation::CreateApplication).await {
        Ok(caller) => caller,
        Err(response) => return response,
    };
    let Ok(request) = serde_json::from_slice::<ApplicationRequest>(&body) else {
        return views::error(StatusCode::BAD_REQUEST, "The body must be an application in JSON");
    };
    let Some(name) = request.name.filter(|name| !name.trim().is_empty()) else {
        return views::error(StatusCode::BAD_REQUEST, "The application needs a name");
    };
    let organization_id = request.organization_id.unwrap_or_else(|| caller.user.organization_id.clone());
    if caller.user.role != Role::Admin && organization_id != caller.user.organization_id {
        return views::error(
            StatusCode::FORBIDDEN,
            "Applications can only be created in your own organization",
        );
    }
    let mut data = state.data();
    if data.organization(&organization_id).is_none() {
        return views::error(StatusCode::BAD_REQUEST, "Unknown organization");
    }
    let application = SimApplication {
        id: new_id(),
        name,
        description: request.description,
        organization_id,
        created_by: Some(caller.user.id.clone()),
        created_on: now_millis(),
        enabled: true,
        state: "approved".to_owned(),
        usage: Vec::new(),
    };
    let view = views::application(&application);
    data.applications.push(application);
    HttpResponse::Created().json(view)
}
