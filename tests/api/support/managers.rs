//! Simulated managers and clients for them, on real sockets.

use std::net::{SocketAddr, TcpListener};
use std::time::Duration;

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use portico::domain::ManagerDefinition;
use portico::domain::{EnvironmentId, TlsMode};
use portico::manager::ManagerClient;
use portico::simulator::{Simulator, SimulatorData, SimulatorOptions};
use secrecy::SecretString;
use url::Url;

pub fn listener() -> TcpListener {
    TcpListener::bind("127.0.0.1:0").expect("bind a local port")
}

pub async fn start_master() -> Simulator {
    Simulator::start(listener(), SimulatorOptions::master(SimulatorData::demo_master()))
        .await
        .expect("start the master simulator")
}

pub async fn start_slave(flavour: &str, master: &Url) -> Simulator {
    Simulator::start(listener(), SimulatorOptions::slave(SimulatorData::demo_slave(flavour), master.clone()))
        .await
        .expect("start a slave simulator")
}

/// A client for a simulator, with a short timeout.
pub fn client(simulator: &Simulator) -> ManagerClient {
    ManagerClient::new(simulator.definition(EnvironmentId::master()), Duration::from_secs(5)).expect("client")
}

/// A manager at `url` (timeout: the client's default).
pub fn definition(url: &str, tls_mode: TlsMode, ca_pem: Option<String>) -> ManagerDefinition {
    ManagerDefinition {
        id: EnvironmentId::parse("under-test").expect("id"),
        name: "Under test".to_owned(),
        url: Url::parse(url).expect("url"),
        base_path: "/api/portal/v1.3".to_owned(),
        tls_mode,
        ca_pem,
        timeout: None,
        enabled: true,
        required: false,
        gateway: None,
    }
}

pub fn secret(value: &str) -> SecretString {
    SecretString::from(value.to_owned())
}

/// An address where nothing listens.
pub fn closed_port() -> SocketAddr {
    let listener = listener();
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    addr
}

/// A server that accepts connections and never answers; keeps them open while the handle lives.
pub async fn silent_server() -> (SocketAddr, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    (addr, task)
}

/// What a simulator received, less the portal's background health probes, which arrive
/// whenever the monitor's interval says so.
pub fn requests_without_probes(sim: &Simulator) -> Vec<portico::simulator::RecordedRequest> {
    sim.requests().into_iter().filter(|r| !is_health_probe(r)).collect()
}

/// A health probe: `GET /appinfo` without credentials, or `GET /currentuser` with the manager's
/// service credential (never with a session cookie).
pub fn is_health_probe(r: &portico::simulator::RecordedRequest) -> bool {
    let unauthenticated = !r.headers.contains_key("cookie") && !r.headers.contains_key("authorization");
    r.method == "GET"
        && ((r.path.ends_with("/appinfo") && unauthenticated)
            || (r.path.ends_with("/currentuser") && r.headers.contains_key("authorization")))
}

/// A manager that refuses everyone: `POST …/login` and `GET …/currentuser` answer 403 with
/// `body` (as `content_type`); anything else is 404. Returns its URL.
pub async fn refusing_manager(body: String, content_type: &'static str) -> String {
    let listener = listener();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let server = HttpServer::new(move || {
        let body = body.clone();
        App::new().default_service(web::to(move |req: HttpRequest| {
            let body = body.clone();
            async move {
                let path = req.path();
                let refused =
                    (req.method() == "POST" && path.ends_with("/login")) || path.ends_with("/currentuser");
                if refused {
                    HttpResponse::Forbidden().content_type(content_type).body(body)
                } else {
                    HttpResponse::NotFound().finish()
                }
            }
        }))
    })
    .workers(1)
    .disable_signals()
    .listen(listener)
    .unwrap()
    .run();
    tokio::spawn(server);
    url
}

/// [`refusing_manager`] answering a JSON body.
pub async fn refusing_manager_json(body: serde_json::Value) -> String {
    refusing_manager(body.to_string(), "application/json").await
}

/// Stops `sim` and keeps its port refusing connections (bound, not listening) until the returned
/// socket is dropped: a test that expects "connection refused" must not meet a server another
/// test started on the freed port.
pub async fn stop_refusing(sim: Simulator) -> socket2::Socket {
    let host = sim.url.host_str().unwrap_or("127.0.0.1").to_owned();
    let port = sim.url.port().expect("a simulator's port");
    sim.stop().await;
    let address: SocketAddr = format!("{host}:{port}").parse().expect("the simulator's address");
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).expect("a socket");
    socket.set_reuse_address(true).expect("SO_REUSEADDR");
    socket.bind(&address.into()).expect("hold the stopped simulator's port");
    socket
}
