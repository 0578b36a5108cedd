//! `GET /discovery/apis` and `GET /discovery/swagger/api/id/{id}`: the APIs the caller's
//! organization sees (API administrators see all).

use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::Value;

use super::super::auth::Caller;
use super::super::data::SimApi;
use super::super::faults::Operation;
use super::super::state::SimState;
use super::super::views;
use super::guard;
use crate::domain::Role;

pub(super) fn visible(caller: &Caller, api: &SimApi) -> bool {
    caller.user.role == Role::Admin || api.organizations.contains(&caller.user.organization_id)
}

pub(super) async fn apis(req: HttpRequest, state: web::Data<SimState>) -> HttpResponse {
    let caller = match guard(&req, &state, Operation::DiscoveryApis).await {
        Ok(caller) => caller,
        Err(response) => return response,
    };
    let data = state.data();
    let found: Vec<Value> = data
        .apis
        .iter()
        .filter(|api| visible(&caller, api))
        .map(|api| views::discovery_api(api, &state.base_path))
        .collect();
    HttpResponse::Ok().json(found)
}

pub(super) async fn definition(
    req: HttpRequest,
    state: web::Data<SimState>,
    id: web::Path<String>,
) -> HttpResponse {
    let caller = match guard(&req, &state, Operation::ApiDefinition).await {
        Ok(caller) => caller,
        Err(response) => return response,
    };
    let data = state.data();
    match data.api(&id).filter(|api| visible(&caller, api)) {
        Some(api) => HttpResponse::Ok().json(&api.definition),
        None => views::not_found(),
    }
}
