//! The simulator as an API gateway too, under [`PREFIX`]: the APIs of its data answer there, at
//! their definition's `basePath`, to a caller with an API key (header `KeyId`) of an application
//! whose access to the API is approved — as a manager's gateway does. What a gateway would send
//! to the service behind it is a small JSON document that says what was called.
//!
//! This is what the portal's "try it" reaches in tests and in `portico demo`. Not part of the
//! manager protocol (the swagger has no gateway), so the conformance test leaves it out.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::json;

use super::data::SimApi;
use super::state::SimState;
use super::views::Refusal;

/// Where the gateway answers.
pub const PREFIX: &str = "/gateway";

pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route(&format!("{PREFIX}/{{tail:.*}}"), web::route().to(call));
}

/// The `basePath` an API is served under (Swagger 2; the path of the first server of OpenAPI 3).
fn base_path(api: &SimApi) -> Option<String> {
    let definition = &api.definition;
    let raw = definition["basePath"].as_str().map(str::to_owned).or_else(|| {
        let server = definition["servers"][0]["url"].as_str()?;
        url::Url::parse(server).ok().map(|u| u.path().to_owned())
    })?;
    let trimmed = raw.trim_end_matches('/');
    (!trimmed.is_empty()).then(|| trimmed.to_owned())
}

async fn call(req: HttpRequest, state: web::Data<SimState>, tail: web::Path<String>) -> HttpResponse {
    let path = format!("/{}", tail.into_inner());
    let data = state.data();
    let Some((api, base)) = data.apis.iter().find_map(|api| {
        let base = base_path(api)?;
        let under = path == base || path.starts_with(&format!("{base}/"));
        under.then_some((api, base))
    }) else {
        return Refusal::not_found().response();
    };
    let key = req.headers().get("keyid").and_then(|v| v.to_str().ok());
    let Some(key) = key.and_then(|key| data.api_keys.iter().find(|k| k.id == key && k.enabled)) else {
        return Refusal::new(StatusCode::UNAUTHORIZED, "An API key (header KeyId) is required").response();
    };
    let approved = data.api_access.iter().any(|access| {
        access.application_id == key.application_id
            && access.api_id == api.id
            && access.enabled
            && access.state == "approved"
    });
    if !approved {
        return Refusal::new(StatusCode::FORBIDDEN, "This application may not call this API").response();
    }
    HttpResponse::Ok().json(json!({
        "api": api.name,
        "method": req.method().as_str(),
        "path": &path[base.len()..],
        "query": req.query_string(),
        "application": key.application_id,
    }))
}
