//! `GET /appinfo`: the manager describes itself (no credentials needed, as in the swagger).

use actix_web::{HttpResponse, web};
use serde_json::json;

use super::super::faults::Operation;
use super::super::state::SimState;
use super::inject;

/// The version the simulator reports: the protocol release it follows.
pub const SIMULATED_VERSION: &str = "7.7.0-simulated";

pub(super) async fn appinfo(state: web::Data<SimState>) -> HttpResponse {
    if let Some(response) = inject(&state, Operation::AppInfo, None).await {
        return response;
    }
    let role = if state.master.is_some() { "slave" } else { "master" };
    HttpResponse::Ok().json(json!({
        "portalName": format!("Simulated API Manager ({role})"),
        "productVersion": SIMULATED_VERSION,
        "sessionIdleTimeout": 360_000,
        "isApiPortalConfigured": true,
        "changePasswordOnFirstLogin": true,
    }))
}
