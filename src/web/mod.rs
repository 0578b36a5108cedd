//! The HTTP surface: the public listener ([`front`]), which serves the routed API calls itself
//! ([`routing`]) and hands everything else to actix-web: one `configure` per area (consumer
//! pages, admin, operations), and the error pages.

pub mod admin;
mod assets;
pub mod body_deadline;
pub mod client_ip;
mod consumer;
mod error;
pub mod front;
mod ops;
pub mod routing;
pub mod session;
pub mod tls;

use actix_web::web;

pub use error::{WebError, current_request_id};
pub use front::{label_route, security_headers};

/// Appends to the audit log (admin and consumer actions alike). What it records has already
/// happened, so a log that cannot be written is reported in the service log rather than undoing
/// the action or failing the page.
pub(crate) async fn audit(
    state: &crate::state::AppState,
    actor: &str,
    action: &str,
    target: Option<&str>,
    detail: Option<serde_json::Value>,
    client_ip: Option<&str>,
) {
    let entry = crate::store::sql::NewAuditEntry { actor, action, target, detail, client_ip };
    if let Err(e) = state.db().audit(entry).await {
        tracing::warn!(error = %e, action, "audit log unavailable");
    }
}

/// Registers every route.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.app_data(error::form_config())
        .app_data(error::query_config())
        .app_data(error::path_config())
        .app_data(error::json_config())
        .configure(ops::configure)
        .configure(assets::configure)
        .configure(consumer::configure)
        .configure(admin::configure)
        .default_service(web::to(error::not_found));
}

/// Registers the routes of the metrics listener (`metrics.listen`).
pub fn configure_metrics(cfg: &mut web::ServiceConfig) {
    ops::configure_metrics(cfg);
}
