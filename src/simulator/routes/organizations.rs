//! `GET /organizations` (with the `field`/`op`/`value` filter) and `GET /organizations/{id}`.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::Value;

use super::super::auth::Caller;
use super::super::data::SimOrganization;
use super::super::faults::Operation;
use super::super::state::SimState;
use super::super::views;
use super::guard;
use crate::domain::Role;

/// Only API administrators see every organization; everyone else sees their own.
fn visible(caller: &Caller, organization: &SimOrganization) -> bool {
    caller.user.role == Role::Admin || caller.user.organization_id == organization.id
}

pub(super) async fn list(req: HttpRequest, state: web::Data<SimState>) -> HttpResponse {
    let caller = match guard(&req, &state, Operation::Organizations).await {
        Ok(caller) => caller,
        Err(response) => return response,
    };
    let filter = match Filter::parse(req.query_string()) {
        Ok(filter) => filter,
        Err(message) => return views::error(StatusCode::BAD_REQUEST, &message),
    };
    let data = state.data();
    let found: Vec<Value> = data
        .organizations
        .iter()
        .filter(|org| visible(&caller, org) && filter.accepts(org))
        .map(views::organization)
        .collect();
    HttpResponse::Ok().json(found)
}

pub(super) async fn one(req: HttpRequest, state: web::Data<SimState>, id: web::Path<String>) -> HttpResponse {
    let caller = match guard(&req, &state, Operation::Organization).await {
        Ok(caller) => caller,
        Err(response) => return response,
    };
    let data = state.data();
    match data.organization(&id).filter(|org| visible(&caller, org)) {
        Some(org) => HttpResponse::Ok().json(views::organization(org)),
        None => views::not_found(),
    }
}

/// `GET /organizations/{id}/apis`: the organization's API access (the APIs it may use).
pub(super) async fn apis(
    req: HttpRequest,
    state: web::Data<SimState>,
    id: web::Path<String>,
) -> HttpResponse {
    let caller = match guard(&req, &state, Operation::Organization).await {
        Ok(caller) => caller,
        Err(response) => return response,
    };
    let data = state.data();
    let Some(org) = data.organization(&id).filter(|org| visible(&caller, org)) else {
        return views::not_found();
    };
    let access: Vec<Value> = data
        .apis
        .iter()
        .filter(|api| api.organizations.contains(&org.id))
        .map(|api| serde_json::json!({ "id": format!("{}-{}", org.id, api.id), "apiId": api.id, "state": "approved", "enabled": true }))
        .collect();
    HttpResponse::Ok().json(access)
}

/// The manager's list filter: repeated `field`, `op`, `value` triples joined by `lop`.
struct Filter {
    any: bool,
    conditions: Vec<(String, String, String)>,
}

impl Filter {
    fn parse(query: &str) -> Result<Self, String> {
        let (mut fields, mut ops, mut values, mut any) = (Vec::new(), Vec::new(), Vec::new(), false);
        for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
            match key.as_ref() {
                "field" => fields.push(value.into_owned()),
                "op" => ops.push(value.into_owned()),
                "value" => values.push(value.into_owned()),
                "lop" => any = value.eq_ignore_ascii_case("or"),
                _ => {}
            }
        }
        if fields.len() != ops.len() || fields.len() != values.len() {
            return Err("each filter needs a field, an op and a value".into());
        }
        let conditions: Vec<(String, String, String)> =
            fields.into_iter().zip(ops).zip(values).map(|((field, op), value)| (field, op, value)).collect();
        for (field, op, _) in &conditions {
            if !matches!(field.as_str(), "name" | "description" | "email" | "enabled") {
                return Err(format!("unsupported filter field {field:?}"));
            }
            if !matches!(op.as_str(), "eq" | "ne" | "like") {
                return Err(format!("unsupported filter op {op:?}"));
            }
        }
        Ok(Self { any, conditions })
    }

    fn accepts(&self, org: &SimOrganization) -> bool {
        let check = |(field, op, value): &(String, String, String)| {
            let actual = match field.as_str() {
                "name" => org.name.clone(),
                "description" => org.description.clone().unwrap_or_default(),
                "email" => org.email.clone().unwrap_or_default(),
                _ => if org.enabled { "enabled" } else { "disabled" }.to_owned(),
            };
            match op.as_str() {
                "eq" => actual == *value,
                "ne" => actual != *value,
                _ => actual.to_lowercase().contains(&value.trim_matches('%').to_lowercase()),
            }
        };
        match (self.conditions.is_empty(), self.any) {
            (true, _) => true,
            (false, true) => self.conditions.iter().any(check),
            (false, false) => self.conditions.iter().all(check),
        }
    }
}
