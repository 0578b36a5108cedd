//! The manager API the simulator serves, under its base path.

mod appinfo;
mod application;
mod applications;
mod discovery;
mod echo;
mod login;
mod metrics;
mod oauth;
mod organizations;

use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use futures_util::stream;

use super::auth::{self, Caller};
use super::faults::{Failure, Operation};
use super::state::SimState;
use super::views;

pub use echo::pattern_byte;

pub(crate) fn configure(cfg: &mut web::ServiceConfig, base_path: &str) {
    cfg.service(
        web::scope(base_path.trim_end_matches('/'))
            .route("/login", web::post().to(login::login))
            .route("/login", web::delete().to(login::logout))
            .route("/currentuser", web::get().to(login::current_user))
            .route("/organizations", web::get().to(organizations::list))
            .route("/organizations/{id}", web::get().to(organizations::one))
            .route("/organizations/{id}/apis", web::get().to(organizations::apis))
            .route("/discovery/apis", web::get().to(discovery::apis))
            .route("/discovery/swagger/api/id/{id}", web::get().to(discovery::definition))
            .route("/applications", web::get().to(applications::list))
            .route("/applications", web::post().to(applications::create))
            .route("/applications/{id}", web::get().to(application::get))
            .route("/applications/{id}", web::put().to(application::update))
            .route("/applications/{id}", web::delete().to(application::delete))
            .route("/applications/{id}/quota", web::get().to(application::quota))
            .route("/applications/{id}/apikeys", web::get().to(application::api_keys))
            .route("/applications/{id}/apikeys", web::post().to(application::create_api_key))
            .route("/applications/{id}/apikeys/{key_id}", web::delete().to(application::delete_api_key))
            .route("/applications/{id}/apis", web::get().to(application::api_access))
            .route("/applications/{id}/apis", web::post().to(application::request_access))
            .route("/applications/{id}/apis/{access_id}", web::delete().to(application::remove_access))
            .route("/applications/{id}/oauth", web::get().to(oauth::list))
            .route("/applications/{id}/oauth", web::post().to(oauth::create))
            .route("/applications/{id}/oauth/{client_id}/newsecret", web::put().to(oauth::new_secret))
            .route("/applications/{id}/oauth/{client_id}", web::delete().to(oauth::delete))
            .route("/metrics/reports/{type}/timeline/{level}/{metric}", web::get().to(metrics::timeline))
            .route("/appinfo", web::get().to(appinfo::appinfo))
            // A test instrument, not part of the manager protocol (see `echo`).
            .route("/__echo", web::route().to(echo::echo))
            .route("/__echo/{tail:.*}", web::route().to(echo::echo)),
    );
}

/// Authenticates the caller and applies the injected faults for the operation (after reading
/// who calls, so faults can target one user; before refusing, so an unauthenticated probe meets
/// them too).
pub(crate) async fn guard(
    req: &HttpRequest,
    state: &SimState,
    operation: Operation,
) -> Result<Caller, HttpResponse> {
    let caller = auth::authenticate(req, state).await;
    let login_name = caller.as_ref().ok().map(|c| c.user.login_name.clone());
    if let Some(response) = inject(state, operation, login_name.as_deref()).await {
        return Err(response);
    }
    caller.map_err(HttpResponse::from)
}

/// Waits the configured latency, then answers with the injected failure, if any.
pub(crate) async fn inject(
    state: &SimState,
    operation: Operation,
    user: Option<&str>,
) -> Option<HttpResponse> {
    let injected = state.faults.take(operation, user);
    let latency = state.latency + injected.map_or(Duration::ZERO, |i| i.latency);
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    match injected?.failure? {
        Failure::Status { status } => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            Some(views::error(status, "Injected failure"))
        }
        Failure::Hang => {
            std::future::pending::<()>().await;
            None
        }
        Failure::Drop => Some(dropped_connection()),
        Failure::GarbageJson => {
            Some(HttpResponse::Ok().content_type("application/json").body("{\"id\": \"broken\", <html>"))
        }
    }
}

/// A response whose body fails at once: the server closes the connection mid-answer, which is
/// what a crashing manager or a cut connection looks like to the client.
fn dropped_connection() -> HttpResponse {
    let failing = stream::once(async {
        Err::<web::Bytes, _>(std::io::Error::new(
            std::io::ErrorKind::ConnectionAborted,
            "connection dropped by fault injection",
        ))
    });
    HttpResponse::Ok().content_type("application/json").streaming(failing)
}
