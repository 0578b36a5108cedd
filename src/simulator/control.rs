//! The simulator's own controls over HTTP under `/__simulator/` (JSON), so a simulator run as a
//! separate process can be driven and read by tests and benchmarks:
//!
//! - `GET /__simulator/health` → `{"status":"ok","mode":"master"|"slave"}`
//! - `GET /__simulator/requests` → every recorded request; `DELETE` forgets them
//! - `GET /__simulator/sessions` → the login names with a live session
//! - `GET /__simulator/faults` → the fault rules; `POST` adds one ([`FaultRule`]); `DELETE` clears

use actix_web::{HttpResponse, web};
use serde_json::json;

use super::faults::FaultRule;
use super::state::SimState;

pub(crate) const PREFIX: &str = "/__simulator";

pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope(PREFIX)
            .route("/health", web::get().to(health))
            .route("/requests", web::get().to(requests))
            .route("/requests", web::delete().to(clear_requests))
            .route("/sessions", web::get().to(sessions))
            .route("/faults", web::get().to(faults))
            .route("/faults", web::post().to(add_fault))
            .route("/faults", web::delete().to(clear_faults)),
    );
}

async fn health(state: web::Data<SimState>) -> HttpResponse {
    let mode = if state.master.is_some() { "slave" } else { "master" };
    HttpResponse::Ok().json(json!({ "status": "ok", "mode": mode, "basePath": state.base_path }))
}

async fn requests(state: web::Data<SimState>) -> HttpResponse {
    HttpResponse::Ok().json(state.log.snapshot())
}

async fn clear_requests(state: web::Data<SimState>) -> HttpResponse {
    state.log.clear();
    HttpResponse::NoContent().finish()
}

async fn sessions(state: web::Data<SimState>) -> HttpResponse {
    HttpResponse::Ok().json(state.sessions.login_names())
}

async fn faults(state: web::Data<SimState>) -> HttpResponse {
    HttpResponse::Ok().json(state.faults.rules())
}

async fn add_fault(state: web::Data<SimState>, rule: web::Json<FaultRule>) -> HttpResponse {
    state.faults.add(rule.into_inner());
    HttpResponse::Created().json(state.faults.rules())
}

async fn clear_faults(state: web::Data<SimState>) -> HttpResponse {
    state.faults.clear();
    HttpResponse::NoContent().finish()
}
