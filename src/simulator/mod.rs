//! A faithful stand-in for an API Manager (master or slave) over real HTTP: users,
//! organizations, sessions with CSRF tokens, API discovery, applications, delegation of logins
//! to a master, and injectable latency and failures.
//!
//! Beside the protocol, for tests only: the controls under `/__simulator/` (`control`) and an
//! echo instrument under the base path, `{base}/__echo/…` (`routes/echo.rs`), which is **not part
//! of the manager protocol**.

mod auth;
mod bearer;
mod cli;
mod control;
mod data;
mod demo;
mod faults;
mod gateway;
mod requests;
mod routes;
mod sessions;
mod slave;
mod state;
mod views;

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::ServerHandle;
use actix_web::middleware::from_fn;
use actix_web::{App, HttpResponse, HttpServer, web};
use url::Url;

pub use bearer::BearerOptions;
pub use cli::run_cli;
pub use data::{
    DataFileError, SimApi, SimApiKey, SimApplication, SimOAuthClient, SimOrganization, SimUser, SimulatorData,
};
pub use demo::DEMO_USERS;
pub use faults::{Failure, FaultRule, Faults, Operation};
pub use requests::RecordedRequest;
pub use routes::pattern_byte;
pub use sessions::SESSION_COOKIE;

use crate::domain::{EnvironmentId, ManagerDefinition, TlsMode};
use state::SimState;

/// The manager's default base path.
pub const DEFAULT_BASE_PATH: &str = "/api/portal/v1.3";

#[derive(Debug, Clone)]
pub struct SimulatorOptions {
    pub data: SimulatorData,
    /// Slave mode: logins are authenticated against this master (scheme://host:port, optionally
    /// with the master's base path).
    pub master: Option<Url>,
    /// Where the API is served; default `/api/portal/v1.3`.
    pub base_path: String,
    /// Added to every manager call, to stand in for a distant manager.
    pub latency: Duration,
    /// Accept this identity provider's access tokens (`Authorization: Bearer`).
    pub bearer: Option<BearerOptions>,
}

impl Default for SimulatorOptions {
    fn default() -> Self {
        Self {
            data: SimulatorData::default(),
            master: None,
            base_path: DEFAULT_BASE_PATH.to_owned(),
            latency: Duration::ZERO,
            bearer: None,
        }
    }
}

impl SimulatorOptions {
    pub fn master(data: SimulatorData) -> Self {
        Self { data, ..Self::default() }
    }

    pub fn slave(data: SimulatorData, master: Url) -> Self {
        Self { data, master: Some(master), ..Self::default() }
    }
}

/// A running simulator. Dropping it stops the server.
pub struct Simulator {
    /// `http://127.0.0.1:PORT` (no base path).
    pub url: Url,
    base_path: String,
    state: web::Data<SimState>,
    faults: Arc<Faults>,
    handle: ServerHandle,
}

impl Simulator {
    /// Serves on `listener` in the background of the current tokio runtime, with one worker.
    pub async fn start(listener: TcpListener, options: SimulatorOptions) -> std::io::Result<Self> {
        let addr = listener.local_addr()?;
        let url = Url::parse(&format!("http://{addr}")).map_err(std::io::Error::other)?;
        let base_path = normalised_base_path(&options.base_path);
        let master = options
            .master
            .as_ref()
            .map(|master| slave::master_client(master, DEFAULT_BASE_PATH))
            .transpose()
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e.to_string()))?;
        let bearer = options.bearer.map(bearer::BearerAuth::new);
        let state =
            web::Data::new(SimState::new(options.data, base_path.clone(), options.latency, master, bearer));
        let faults = state.faults.clone();
        listener.set_nonblocking(true)?;
        let app_state = state.clone();
        let app_base_path = base_path.clone();
        let server = HttpServer::new(move || {
            let base_path = app_base_path.clone();
            App::new()
                .app_data(app_state.clone())
                .wrap(from_fn(requests::record))
                .configure(control::configure)
                .configure(gateway::configure)
                .configure(move |cfg| routes::configure(cfg, &base_path))
                .default_service(web::to(|| async { HttpResponse::NotFound().json(not_found_body()) }))
        })
        .workers(1)
        .disable_signals()
        .shutdown_timeout(1)
        .listen(listener)?
        .run();
        let handle = server.handle();
        tokio::spawn(server);
        Ok(Self { url, base_path, state, faults, handle })
    }

    /// The base path the API is served under.
    pub fn base_path(&self) -> &str {
        &self.base_path
    }

    /// This simulator as the manager of environment `id`, for a
    /// [`crate::manager::ManagerClient`] (timeout: the client's default).
    pub fn definition(&self, id: EnvironmentId) -> ManagerDefinition {
        ManagerDefinition {
            name: id.to_string(),
            id,
            url: self.url.clone(),
            base_path: self.base_path.clone(),
            tls_mode: TlsMode::Full,
            ca_pem: None,
            timeout: None,
            enabled: true,
            required: false,
            gateway: Some(self.gateway_url()),
        }
    }

    /// The API gateway this simulator plays too ([`gateway`]): `{url}/gateway`.
    pub fn gateway_url(&self) -> url::Url {
        self.url.join(gateway::PREFIX.trim_start_matches('/')).unwrap_or_else(|_| self.url.clone())
    }

    /// Injected latency and failures.
    pub fn faults(&self) -> &Faults {
        &self.faults
    }

    /// Every manager request received so far, in arrival order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.state.log.snapshot()
    }

    pub fn clear_requests(&self) {
        self.state.log.clear();
    }

    /// The login names with a live session, one entry per session, sorted.
    pub fn open_sessions(&self) -> Vec<String> {
        self.state.sessions.login_names()
    }

    /// Ends every session of `login_name`, as a manager does when a session times out or an
    /// administrator ends it; returns how many ended.
    pub fn end_sessions(&self, login_name: &str) -> usize {
        self.state.sessions.close_all_of(login_name)
    }

    /// The values of the live `APIMANAGERSESSION` cookies.
    pub fn session_cookies(&self) -> Vec<String> {
        self.state.sessions.ids()
    }

    /// A copy of the simulator's current data (including applications created and the shadow
    /// users a slave made).
    pub fn data(&self) -> SimulatorData {
        self.state.data().clone()
    }

    /// Changes what the simulator knows, as an administrator of that manager would (tests).
    pub fn edit_data(&self, edit: impl FnOnce(&mut SimulatorData)) {
        edit(&mut self.state.data());
    }

    /// Stops serving; requests still running are cut.
    pub async fn stop(self) {
        self.handle.stop(false).await;
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        // Sending the stop command happens at the call; awaiting the future is optional.
        drop(self.handle.stop(false));
    }
}

fn normalised_base_path(raw: &str) -> String {
    let trimmed = raw.trim_matches('/');
    if trimmed.is_empty() { String::new() } else { format!("/{trimmed}") }
}

fn not_found_body() -> serde_json::Value {
    serde_json::json!({ "errors": [{ "code": 404, "message": "Not Found" }] })
}
