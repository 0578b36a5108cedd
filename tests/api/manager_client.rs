//! The manager client against real sockets: how every kind of failure is classified, the TLS
//! modes, and that sessions travel only in `ManagerSession` values.

use std::time::{Duration, Instant};

use portico::domain::TlsMode;
use portico::manager::{
    ForwardPath, ForwardRequest, ManagerClient, ManagerCredentials, ManagerError, ManagerSession,
};
use portico::simulator::{Failure, FaultRule, Operation};

use crate::support::managers::{client, closed_port, definition, secret, silent_server, start_master};
use crate::support::tls_server::{issued_by_test_ca, self_signed, serve};

fn https(addr: std::net::SocketAddr) -> String {
    format!("https://{addr}")
}

fn tls_client(url: &str, mode: TlsMode, ca_pem: Option<String>) -> ManagerClient {
    ManagerClient::new(definition(url, mode, ca_pem), Duration::from_secs(5)).expect("client")
}

#[tokio::test]
async fn a_closed_port_is_connection_refused() {
    let url = format!("http://{}", closed_port());
    let client =
        ManagerClient::new(definition(&url, TlsMode::Full, None), Duration::from_secs(5)).expect("client");
    let error = client.probe(None).await.expect_err("nothing listens");
    assert_eq!(error, ManagerError::ConnectionRefused);
    assert!(error.is_unavailable());
    let error = client.login("alice", &secret("alice-password")).await.expect_err("refused");
    assert_eq!(error, ManagerError::ConnectionRefused);
}

#[tokio::test]
async fn a_server_that_never_answers_times_out_within_the_endpoint_timeout() {
    let (addr, _server) = silent_server().await;
    let timeout = Duration::from_millis(300);
    let client = ManagerClient::new(definition(&format!("http://{addr}"), TlsMode::Full, None), timeout)
        .expect("client");
    let started = Instant::now();
    let error = client.login("alice", &secret("alice-password")).await.expect_err("no answer");
    assert_eq!(error, ManagerError::Timeout(timeout));
    assert!(started.elapsed() < Duration::from_secs(2), "took {:?}", started.elapsed());
}

#[tokio::test]
async fn a_self_signed_certificate_fails_full_verification_and_passes_with_none() {
    let cert = self_signed(&["localhost", "127.0.0.1"]);
    let url = https(serve(&cert).await);

    let error = tls_client(&url, TlsMode::Full, None).probe(None).await.expect_err("untrusted");
    let ManagerError::Tls(reason) = &error else { panic!("expected a TLS error, got {error:?}") };
    assert!(reason.contains("trusted authority"), "{reason}");
    assert!(error.is_unavailable());

    tls_client(&url, TlsMode::None, None).probe(None).await.expect("none accepts any certificate");
}

#[tokio::test]
async fn certificate_mode_checks_the_chain_but_not_the_host_name() {
    let cert = issued_by_test_ca(&["manager.other.example"]);
    let url = https(serve(&cert).await);

    tls_client(&url, TlsMode::Certificate, Some(cert.ca_pem.clone()))
        .probe(None)
        .await
        .expect("the chain verifies; the name is not compared");

    let error = tls_client(&url, TlsMode::Full, Some(cert.ca_pem.clone()))
        .probe(None)
        .await
        .expect_err("full compares the name");
    assert!(
        matches!(&error, ManagerError::Tls(reason) if reason.contains("does not name this host")),
        "{error:?}"
    );

    let error = tls_client(&url, TlsMode::Certificate, None)
        .probe(None)
        .await
        .expect_err("without the CA the chain does not verify");
    assert!(matches!(&error, ManagerError::Tls(reason) if reason.contains("trusted authority")), "{error:?}");
}

#[tokio::test]
async fn full_mode_accepts_a_certificate_from_the_configured_ca_naming_the_host() {
    let cert = issued_by_test_ca(&["127.0.0.1"]);
    let url = https(serve(&cert).await);
    tls_client(&url, TlsMode::Full, Some(cert.ca_pem.clone()))
        .probe(None)
        .await
        .expect("chain and name verify");
}

/// A routed `GET /currentuser` through `client`.
async fn forward(client: &ManagerClient) -> Result<portico::manager::ForwardedResponse, ManagerError> {
    let session = ManagerSession::new("SESSION=1", None);
    let path = ForwardPath::parse("/currentuser", None).expect("path");
    let request = ForwardRequest {
        method: reqwest::Method::GET,
        path,
        headers: reqwest::header::HeaderMap::new(),
        body: None,
        credentials: ManagerCredentials::Session(&session),
    };
    client.forward(request).await
}

#[tokio::test]
async fn routed_calls_make_the_same_tls_checks_and_failure_classes() {
    let cert = issued_by_test_ca(&["127.0.0.1"]);
    let url = https(serve(&cert).await);
    let error = forward(&tls_client(&url, TlsMode::Full, None)).await.expect_err("untrusted");
    assert!(matches!(&error, ManagerError::Tls(reason) if reason.contains("trusted authority")), "{error:?}");
    let answer = forward(&tls_client(&url, TlsMode::Full, Some(cert.ca_pem.clone())))
        .await
        .expect("chain and name verify");
    assert_eq!(answer.status, 401, "the manager's own answer is passed on, not an error");

    let refused = tls_client(&format!("http://{}", closed_port()), TlsMode::Full, None);
    let error = forward(&refused).await.expect_err("nothing listens");
    assert_eq!(error, ManagerError::ConnectionRefused);
}

// On a runtime with a `LocalSet`, as the server's serving threads: the body goes to the TLS
// client's connection as it is.
#[actix_web::test]
async fn a_routed_body_reaches_a_tls_manager_whole() {
    let cert = issued_by_test_ca(&["127.0.0.1"]);
    let client = tls_client(&https(serve(&cert).await), TlsMode::Full, Some(cert.ca_pem.clone()));
    let session = ManagerSession::new("SESSION=1", Some("t"));
    let path = ForwardPath::parse("/applications", None).expect("path");
    let chunks: Vec<Result<bytes::Bytes, std::io::Error>> =
        (0..100u8).map(|n| Ok(bytes::Bytes::from(vec![n; 1000]))).collect();
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert("content-length", "100000".parse().unwrap());
    let request = ForwardRequest {
        method: reqwest::Method::PUT,
        path,
        headers,
        body: Some(Box::pin(futures_util::stream::iter(chunks))),
        credentials: ManagerCredentials::Session(&session),
    };
    let answer = client.forward(request).await.expect("answer");
    assert_eq!(answer.status, 401);
    assert_eq!(answer.headers["x-body-length"], "100000", "the whole body arrived");
}

#[test]
fn an_unusable_ca_file_is_a_configuration_error() {
    for pem in ["", "not a certificate", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"] {
        let result = ManagerClient::new(
            definition("https://127.0.0.1:1", TlsMode::Full, Some(pem.to_owned())),
            Duration::from_secs(1),
        );
        assert!(matches!(result, Err(ManagerError::Config(_))), "{pem:?}");
    }
}

#[tokio::test]
async fn login_outcomes_are_classified() {
    let master = start_master().await;
    let client = client(&master);
    let error = client.login("alice", &secret("wrong-secret-123")).await.expect_err("wrong password");
    assert_eq!(error, ManagerError::WrongCredentials);
    assert!(!error.is_unavailable());
    assert!(!error.to_string().contains("wrong-secret-123"));
    assert_eq!(
        client.login("nobody", &secret("x")).await.expect_err("unknown"),
        ManagerError::WrongCredentials
    );
    assert_eq!(
        client.login("dave", &secret("dave-password")).await.expect_err("409"),
        ManagerError::PasswordChangeRequired
    );
    assert_eq!(
        client.login("carol", &secret("carol-password")).await.expect_err("403"),
        ManagerError::AccountDisabled
    );
    master.faults().add(FaultRule::new(Operation::Login).failure(Failure::Status { status: 409 }).times(1));
    assert_eq!(
        client.login("alice", &secret("alice-password")).await.expect_err("injected 409"),
        ManagerError::PasswordChangeRequired
    );
}

#[tokio::test]
async fn a_session_lives_in_its_value_only() {
    let master = start_master().await;
    let client = client(&master);
    let mut alice = client.login("alice", &secret("alice-password")).await.expect("alice");
    let mut bob = client.login("bob", &secret("bob-password")).await.expect("bob");
    assert!(alice.cookie.as_str().starts_with("APIMANAGERSESSION="), "cookie name");
    assert_eq!(format!("{alice:?}"), "ManagerSession([redacted])");
    // One client, two users: nothing is shared between them.
    assert_eq!(client.current_user(&mut alice).await.expect("alice").login_name, "alice");
    assert_eq!(client.current_user(&mut bob).await.expect("bob").login_name, "bob");
    let token = |session: &ManagerSession| session.csrf_token.as_ref().map(|t| t.as_str().to_owned());
    assert!(alice.csrf_token.is_some() && token(&alice) != token(&bob));
    // The 303 was not followed: the simulator saw exactly the login and the current-user calls.
    let paths: Vec<String> = master.requests().iter().map(|r| format!("{} {}", r.method, r.path)).collect();
    assert_eq!(
        paths,
        [
            "POST /api/portal/v1.3/login",
            "POST /api/portal/v1.3/login",
            "GET /api/portal/v1.3/currentuser",
            "GET /api/portal/v1.3/currentuser"
        ]
    );
    // A session the manager does not know is an expired one.
    let mut forged = ManagerSession::new("APIMANAGERSESSION=forged", None);
    assert_eq!(client.current_user(&mut forged).await.expect_err("forged"), ManagerError::SessionExpired);
}

#[tokio::test]
async fn garbage_json_is_malformed_without_quoting_the_body() {
    let master = start_master().await;
    let client = client(&master);
    let mut session = client.login("alice", &secret("alice-password")).await.expect("login");
    master.faults().fail(Operation::CurrentUser, Failure::GarbageJson);
    let error = client.current_user(&mut session).await.expect_err("garbage");
    let ManagerError::Malformed(reason) = &error else { panic!("expected Malformed, got {error:?}") };
    assert!(!reason.contains("broken") && !reason.contains("html"), "{reason}");
    assert!(error.is_unavailable());
}

#[tokio::test]
async fn server_errors_and_dropped_connections_make_the_manager_unavailable() {
    let master = start_master().await;
    let client = client(&master);
    let session = client.login("alice", &secret("alice-password")).await.expect("login");
    let creds = ManagerCredentials::Session(&session);

    master
        .faults()
        .add(FaultRule::new(Operation::DiscoveryApis).failure(Failure::Status { status: 500 }).times(1));
    assert_eq!(client.discovery_apis(creds).await.expect_err("500"), ManagerError::ServerError(500));

    master.faults().add(FaultRule::new(Operation::Login).failure(Failure::Status { status: 503 }).times(1));
    assert_eq!(
        client.login("alice", &secret("alice-password")).await.expect_err("503"),
        ManagerError::ServerError(503)
    );

    master.faults().add(FaultRule::new(Operation::Applications).failure(Failure::Drop).times(1));
    let error = client.applications(creds).await.expect_err("dropped");
    assert!(matches!(error, ManagerError::Unreachable(_)), "{error:?}");
    assert!(error.is_unavailable());

    master.faults().add(FaultRule::new(Operation::Applications).failure(Failure::Hang).times(1));
    let impatient =
        ManagerClient::new(definition(master.url.as_str(), TlsMode::Full, None), Duration::from_millis(200))
            .expect("client");
    assert!(matches!(impatient.applications(creds).await, Err(ManagerError::Timeout(_))));

    // After the injected faults the manager works again.
    assert!(!client.applications(creds).await.expect("works again").is_empty());
}

#[tokio::test]
async fn missing_resources_and_basic_credentials() {
    let master = start_master().await;
    let client = client(&master);
    let password = secret("alice-password");
    let basic = ManagerCredentials::Basic { username: "alice", password: &password };
    let apis = client.discovery_apis(basic).await.expect("basic auth works");
    assert_eq!(apis.len(), 2);
    assert_eq!(client.api_definition(basic, "no-such-api").await.expect_err("404"), ManagerError::NotFound);
    assert_eq!(
        client.organization(basic, "m-org-globex").await.expect_err("not visible"),
        ManagerError::NotFound
    );
    let wrong = secret("not-her-password");
    let wrong_basic = ManagerCredentials::Basic { username: "alice", password: &wrong };
    assert_eq!(
        client.discovery_apis(wrong_basic).await.expect_err("wrong basic"),
        ManagerError::WrongCredentials
    );
    let token = "not-a-manager-token";
    assert_eq!(
        client.discovery_apis(ManagerCredentials::Bearer(token)).await.expect_err("unknown bearer"),
        ManagerError::SessionExpired
    );
    assert_eq!(client.probe(None).await.map(|_| ()), Ok(()));
}

#[test]
fn error_texts_are_fit_for_people() {
    let errors = [
        ManagerError::WrongCredentials,
        ManagerError::Timeout(Duration::from_secs(3)),
        ManagerError::ConnectionRefused,
        ManagerError::Tls("the certificate does not name this host".into()),
        ManagerError::ServerError(502),
    ];
    for error in errors {
        let text = error.to_string();
        assert!(!text.is_empty() && !text.contains("APIMANAGERSESSION"), "{text}");
    }
}

/// A manager stand-in at the socket level (the simulator cannot say which connection a request
/// came on, nor drop its idle ones on demand): it answers every request `200 ok` on a kept-alive
/// connection, records each request's head and how many connections it accepted, and closes
/// every connection it holds when told to, as a manager's keep-alive timeout does.
struct KeepAliveServer {
    addr: std::net::SocketAddr,
    connections: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    heads: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    close: std::sync::Arc<tokio::sync::Notify>,
}

impl KeepAliveServer {
    async fn start() -> Self {
        use std::sync::atomic::Ordering;
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let server = Self {
            addr: listener.local_addr().expect("addr"),
            connections: Default::default(),
            heads: Default::default(),
            close: Default::default(),
        };
        let (connections, heads, close) =
            (server.connections.clone(), server.heads.clone(), server.close.clone());
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                connections.fetch_add(1, Ordering::SeqCst);
                let (heads, close) = (heads.clone(), close.clone());
                tokio::spawn(async move {
                    let mut received = Vec::new();
                    loop {
                        let mut chunk = [0u8; 4096];
                        let read = tokio::select! {
                            read = socket.read(&mut chunk) => read,
                            () = close.notified() => return,
                        };
                        let Ok(n @ 1..) = read else { return };
                        received.extend_from_slice(&chunk[..n]);
                        while let Some(end) = received.windows(4).position(|w| w == b"\r\n\r\n") {
                            let head: Vec<u8> = received.drain(..end + 4).collect();
                            heads.lock().unwrap().push(String::from_utf8_lossy(&head).into_owned());
                            let answer = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
                            if socket.write_all(answer).await.is_err() {
                                return;
                            }
                        }
                    }
                });
            }
        });
        server
    }

    fn connections(&self) -> usize {
        self.connections.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// A routed call's answer body, read to its end.
async fn read_body(answer: portico::manager::ForwardedResponse) -> Vec<u8> {
    use futures_util::StreamExt;
    let mut body = answer.body;
    let mut bytes = Vec::new();
    while let Some(chunk) = body.next().await {
        bytes.extend_from_slice(&chunk.expect("chunk"));
    }
    bytes
}

// On actix's runtime, as in the server: a routed call's connections are driven by tasks local to
// the thread that serves it.
#[actix_web::test]
async fn routed_calls_keep_their_connection_and_survive_the_manager_closing_it() {
    let server = KeepAliveServer::start().await;
    let client = ManagerClient::new(
        definition(&format!("http://{}", server.addr), TlsMode::Full, None),
        Duration::from_secs(5),
    )
    .expect("client");
    for _ in 0..3 {
        let answer = forward(&client).await.expect("answer");
        assert_eq!(answer.status, 200);
        assert_eq!(read_body(answer).await, b"ok");
    }
    assert_eq!(server.connections(), 1, "one kept-alive connection for calls one after another");
    let heads = server.heads.lock().unwrap().clone();
    assert_eq!(heads.len(), 3);
    let host = format!("host: {}\r\n", server.addr);
    for head in &heads {
        assert!(head.starts_with("GET /api/portal/v1.3/currentuser HTTP/1.1\r\n"), "origin-form: {head}");
        assert_eq!(head.to_ascii_lowercase().matches("host: ").count(), 1, "{head}");
        assert!(head.to_ascii_lowercase().contains(&host), "{head}");
    }

    // The manager closes the idle connection (its keep-alive timeout): the next call opens
    // another and is answered.
    server.close.notify_waiters();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let answer = forward(&client).await.expect("answered on a new connection");
    assert_eq!(read_body(answer).await, b"ok");
    assert_eq!(server.connections(), 2);

    // Two calls at once need two connections; both are kept for what follows.
    let (a, b) = tokio::join!(forward(&client), forward(&client));
    let (a, b) = (a.expect("a"), b.expect("b"));
    assert_eq!((read_body(a).await, read_body(b).await), (b"ok".to_vec(), b"ok".to_vec()));
    assert_eq!(server.connections(), 3);
    let (a, b) = tokio::join!(forward(&client), forward(&client));
    assert_eq!(
        (read_body(a.expect("a")).await, read_body(b.expect("b")).await),
        (b"ok".to_vec(), b"ok".to_vec())
    );
    assert_eq!(server.connections(), 3, "both connections reused");
}
