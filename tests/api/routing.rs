//! Routing API calls through the portal (`/api/portal/v1.3/…` and
//! `/environments/{id}/manager/…`) against a real Redis and simulated managers over HTTP: who
//! the manager sees, which headers and cookies cross, big bodies both ways, every refusal in the
//! manager's error shape, managers that fail or end the session, and Redis round trips.

use std::collections::BTreeMap;
use std::time::Duration;

use portico::federation::PortalSession;
use portico::simulator::{Failure, FaultRule, Operation, Simulator, pattern_byte};
use portico::store::{SESSION_FRESH_FOR, SessionId};
use reqwest::Method;
use sha2::{Digest, Sha256};

use crate::support::{RedisServer, TestApp, TestAppBuilder, logs, set_cookies};

const API: &str = "/api/portal/v1.3";
const MIB: usize = 1024 * 1024;

use crate::support::Federation as Fixture;

async fn fixture(test: &str) -> Option<Fixture> {
    Fixture::start(test).await
}

/// Signs in and returns the portal session's cookie value and its CSRF token.
async fn sign_in(app: &TestApp, user: &str) -> (String, String) {
    let res = app.sign_in(user, &format!("{user}-password")).await;
    assert_eq!(res.status(), 303, "{user} signs in");
    let cookie = set_cookies(&res)
        .into_iter()
        .find_map(|c| {
            c.strip_prefix("portico_session=").map(|rest| rest.split(';').next().unwrap().to_owned())
        })
        .expect("session cookie");
    (cookie, app.csrf_token("/environments").await)
}

async fn call(app: &TestApp, method: &str, path: &str, csrf: Option<&str>) -> reqwest::Response {
    let mut request = app.client.request(Method::from_bytes(method.as_bytes()).unwrap(), app.url(path));
    if let Some(token) = csrf {
        request = request.header("X-CSRF-Token", token);
    }
    request.send().await.expect("request")
}

fn header(res: &reqwest::Response, name: &str) -> String {
    res.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned()
}

/// The headers the echo instrument received.
fn echoed(res: &reqwest::Response) -> BTreeMap<String, Vec<String>> {
    serde_json::from_str(&header(res, "x-echo-headers")).expect("x-echo-headers is JSON")
}

/// Asserts the manager's error shape and returns the message.
async fn error_message(res: reqwest::Response, status: u16) -> String {
    assert_eq!(res.status(), status);
    assert!(header(&res, "content-type").starts_with("application/json"), "JSON answer");
    let body: serde_json::Value = res.json().await.expect("JSON body");
    let errors = body["errors"].as_array().expect("errors array");
    assert_eq!(errors.len(), 1, "{body}");
    assert_eq!(errors[0]["code"], status, "{body}");
    errors[0]["message"].as_str().expect("message").to_owned()
}

fn echo_calls(sim: &Simulator) -> usize {
    sim.requests().iter().filter(|r| r.path.contains("/__echo")).count()
}

fn sha256(bytes: &[u8]) -> Vec<u8> {
    Sha256::digest(bytes).to_vec()
}

/// What a manager answers `user` directly, with its own session.
async fn direct_get(sim: &Simulator, user: &str, path: &str) -> serde_json::Value {
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let base = format!("{}{}", sim.url.as_str().trim_end_matches('/'), sim.base_path());
    let login = http
        .post(format!("{base}/login"))
        .form(&[("username", user), ("password", &format!("{user}-password"))])
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 303);
    let cookie = set_cookies(&login)[0].split(';').next().unwrap().to_owned();
    let res = http.get(format!("{base}{path}")).header("cookie", cookie).send().await.unwrap();
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

#[tokio::test]
async fn every_method_reaches_the_current_environment_as_the_signed_in_user() {
    let Some(f) = fixture("every_method_reaches_the_current_environment").await else { return };
    let (portal_cookie, csrf) = sign_in(&f.app, "alice").await;
    f.master.clear_requests();

    let res = call(&f.app, "GET", &format!("{API}/__echo/things/a%20b?x=1&y=two"), None).await;
    assert_eq!(res.status(), 200);
    assert_eq!(header(&res, "x-echo-method"), "GET");
    assert_eq!(header(&res, "x-echo-user"), "alice");
    assert_eq!(header(&res, "x-echo-path"), "/api/portal/v1.3/__echo/things/a%20b");
    assert_eq!(header(&res, "x-echo-query"), "x=1&y=two");
    let headers = echoed(&res);
    assert_eq!(headers["cookie"], ["APIMANAGERSESSION"], "only the manager's cookie");
    assert!(!headers.contains_key("csrf-token"), "no CSRF token on a safe call");
    assert!(!headers.contains_key("x-csrf-token"));

    for method in ["POST", "PUT", "PATCH", "DELETE"] {
        let body = format!("{{\"method\":\"{method}\"}}");
        let res = f
            .app
            .client
            .request(Method::from_bytes(method.as_bytes()).unwrap(), f.app.url(&format!("{API}/__echo/x")))
            .header("X-CSRF-Token", &csrf)
            .header("content-type", "application/json")
            .header("accept", "application/json")
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{method}");
        assert_eq!(header(&res, "x-echo-method"), method);
        assert_eq!(header(&res, "x-echo-user"), "alice");
        assert_eq!(header(&res, "content-type"), "application/json");
        let headers = echoed(&res);
        assert_eq!(headers["cookie"], ["APIMANAGERSESSION"]);
        let injected = &headers["csrf-token"][0];
        assert!(!injected.is_empty() && injected != &csrf, "the manager's own token, not the portal's");
        assert!(!headers.contains_key("x-csrf-token"), "the portal's token stays at the portal");
        assert_eq!(headers["content-length"], [body.len().to_string()]);
        assert_eq!(headers["accept"], ["application/json"]);
        assert_eq!(res.text().await.unwrap(), body, "{method} body");
    }
    let res = call(&f.app, "HEAD", &format!("{API}/__echo/x?size=1000"), None).await;
    assert_eq!((res.status().as_u16(), header(&res, "content-length").as_str()), (200, "1000"));
    assert!(res.bytes().await.unwrap().is_empty());
    let res = call(&f.app, "OPTIONS", &format!("{API}/__echo/x"), None).await;
    assert_eq!(res.status(), 200, "OPTIONS is safe");

    let seen = f.master.requests();
    assert_eq!(seen.len(), 7, "every call reached the master once: {seen:#?}");
    for request in &seen {
        assert_eq!(request.user.as_deref(), Some("alice"));
        assert_eq!(request.headers.get("cookie").map(String::as_str), Some("APIMANAGERSESSION"));
    }
    assert_eq!(echo_calls(&f.eu) + echo_calls(&f.staging), 0, "slaves untouched");
    let logs = logs::text();
    for secret in f.master.session_cookies().iter().chain([&portal_cookie]) {
        assert!(!logs.contains(secret.as_str()), "a session cookie reached the logs");
    }
}

#[tokio::test]
async fn the_catalog_through_the_portal_is_what_the_manager_answers_that_user() {
    let Some(f) = fixture("the_catalog_through_the_portal").await else { return };
    sign_in(&f.app, "alice").await;
    let res = call(&f.app, "GET", &format!("{API}/discovery/apis"), None).await;
    assert_eq!(res.status(), 200);
    let through_portal: serde_json::Value = res.json().await.unwrap();
    assert_eq!(through_portal, direct_get(&f.master, "alice", "/discovery/apis").await);
    assert_eq!(through_portal.as_array().unwrap().len(), 2, "Acme sees Petstore and Payments");

    let res = call(&f.app, "GET", "/environments/prod-eu/manager/discovery/apis", None).await;
    assert_eq!(res.status(), 200);
    let eu: serde_json::Value = res.json().await.unwrap();
    assert_eq!(eu, direct_get(&f.eu, "alice", "/discovery/apis").await);
    assert_ne!(eu, through_portal);

    // Another user, another organization, another answer.
    let bob = TestAppBuilder::new(f.master.url.as_str()).redis(&f.redis).spawn().await;
    sign_in(&bob, "bob").await;
    let res = call(&bob, "GET", &format!("{API}/discovery/apis"), None).await;
    let for_bob: serde_json::Value = res.json().await.unwrap();
    assert_eq!(for_bob, direct_get(&f.master, "bob", "/discovery/apis").await);
    assert_ne!(for_bob, through_portal);
}

#[tokio::test]
async fn the_named_route_reaches_that_environment() {
    let Some(f) = fixture("the_named_route_reaches_that_environment").await else { return };
    let (_, csrf) = sign_in(&f.app, "alice").await;
    let res = call(&f.app, "POST", "/environments/staging/manager/__echo/here?q=1", Some(&csrf)).await;
    assert_eq!(res.status(), 200);
    assert_eq!(header(&res, "x-echo-path"), "/api/portal/v1.3/__echo/here");
    assert_eq!(header(&res, "x-echo-user"), "alice");
    assert!(echoed(&res).contains_key("csrf-token"));
    assert_eq!((echo_calls(&f.staging), echo_calls(&f.master), echo_calls(&f.eu)), (1, 0, 0));
    let res = call(&f.app, "GET", "/environments/staging/manager/applications", None).await;
    let apps: serde_json::Value = res.json().await.unwrap();
    assert_eq!(apps, direct_get(&f.staging, "alice", "/applications").await);
}

#[tokio::test]
async fn unsafe_calls_without_the_portal_csrf_token_never_reach_the_manager() {
    let Some(f) = fixture("unsafe_calls_without_the_portal_csrf_token").await else { return };
    let (_, csrf) = sign_in(&f.app, "alice").await;
    f.master.clear_requests();
    f.eu.clear_requests();
    for (method, token) in [
        ("POST", None),
        ("POST", Some("wrong")),
        ("PUT", Some("")),
        ("DELETE", None),
        ("PATCH", Some(&csrf[..csrf.len() - 1])),
        ("PROPFIND", None),
    ] {
        let res = call(&f.app, method, &format!("{API}/__echo/x"), token).await;
        let message = error_message(res, 403).await;
        assert!(message.contains("X-CSRF-Token"), "{method}: {message}");
        let res = call(&f.app, method, "/environments/prod-eu/manager/__echo/x", token).await;
        assert_eq!(res.status(), 403);
    }
    // The token in a form field or a cookie does not count: only the header.
    let res = f
        .app
        .client
        .post(f.app.url(&format!("{API}/applications")))
        .form(&[("csrf_token", csrf.as_str()), ("name", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    assert!(f.master.requests().is_empty() && f.eu.requests().is_empty(), "nothing reached a manager");
    let res = call(&f.app, "TRACE", &format!("{API}/__echo/x"), Some(&csrf)).await;
    assert_eq!(error_message(res, 405).await, "The method TRACE cannot be routed to a manager.");
}

#[tokio::test]
async fn signed_out_calls_are_refused_with_401() {
    let Some(f) = fixture("signed_out_calls_are_refused").await else { return };
    for (method, path) in [
        ("GET", format!("{API}/discovery/apis")),
        ("POST", format!("{API}/applications")),
        ("GET", "/environments/prod-eu/manager/discovery/apis".to_owned()),
        ("GET", "/environments/nope/manager/discovery/apis".to_owned()),
    ] {
        let message = error_message(call(&f.app, method, &path, None).await, 401).await;
        assert_eq!(message, "Sign in to the portal first.");
    }
    let res = f
        .app
        .client
        .get(f.app.url(&format!("{API}/discovery/apis")))
        .header("cookie", "portico_session=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401, "an unknown session is no session");
    sign_in(&f.app, "alice").await;
    assert_eq!(call(&f.app, "GET", &format!("{API}/discovery/apis"), None).await.status(), 200);
    f.app.sign_out().await;
    assert_eq!(call(&f.app, "GET", &format!("{API}/discovery/apis"), None).await.status(), 401);
    let reached = f.master.requests().iter().filter(|r| r.path.ends_with("/discovery/apis")).count();
    assert_eq!(reached, 1, "only the signed-in call reached the manager");
}

#[tokio::test]
async fn without_a_current_environment_or_a_joined_one_the_answer_is_409() {
    let Some(f) = fixture("without_a_current_environment").await else { return };
    f.staging.faults().fail(Operation::Login, Failure::Status { status: 500 });
    let (cookie, _) = sign_in(&f.app, "alice").await;

    let message =
        error_message(call(&f.app, "GET", "/environments/staging/manager/discovery/apis", None).await, 409)
            .await;
    assert_eq!(message, "You are not connected to Staging. Connect it on the environments page.");

    // A session whose current environment is not set (the sign-in always sets one).
    let id = SessionId::parse(&cookie).unwrap();
    let mut session = f.app.state.sessions().load::<PortalSession>(&id).await.unwrap().unwrap();
    session.data.current = None;
    f.app.state.sessions().save(&session).await.unwrap();
    let message = error_message(call(&f.app, "GET", &format!("{API}/discovery/apis"), None).await, 409).await;
    assert!(message.contains("No environment is selected"), "{message}");
    let res = call(&f.app, "GET", "/environments/prod-eu/manager/discovery/apis", None).await;
    assert_eq!(res.status(), 200, "the named route still works");
}

#[tokio::test]
async fn unknown_environments_are_404_and_paths_cannot_climb_out() {
    let Some(f) = fixture("unknown_environments_are_404").await else { return };
    let (cookie, csrf) = sign_in(&f.app, "alice").await;
    for path in ["/environments/nope/manager/discovery/apis", "/environments/NOT%20AN%20ID/manager/x"] {
        let message = error_message(call(&f.app, "GET", path, None).await, 404).await;
        assert_eq!(message, "This environment does not exist.");
    }
    let res = call(&f.app, "DELETE", "/environments/nope/manager/login", Some(&csrf)).await;
    assert_eq!(res.status(), 404);
    // HTTP clients resolve dot segments before sending, so this one is written by hand.
    for path in ["/__echo/%2e%2e/%2e%2e/__simulator/health", "/__echo/../x", "/__echo/./x"] {
        let answer = raw_get(&f.app, &format!("{API}{path}"), &cookie).await;
        assert!(answer.starts_with("HTTP/1.1 400"), "{path}: {answer}");
        assert!(answer.contains("This path cannot be routed to a manager."), "{answer}");
    }
    assert!(f.master.requests().iter().all(|r| !r.path.contains("__echo")));
}

/// A GET written on the socket as given, with the portal session cookie.
async fn raw_get(app: &TestApp, path: &str, cookie: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut socket = tokio::net::TcpStream::connect(app.address).await.unwrap();
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nCookie: portico_session={cookie}\r\nConnection: close\r\n\r\n"
    );
    socket.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    socket.read_to_end(&mut answer).await.unwrap();
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test]
async fn another_cookie_in_utf8_does_not_sign_the_consumer_out() {
    let Some(f) = fixture("another_cookie_in_utf8_does_not_sign_the_consumer_out").await else { return };
    let (portal_cookie, _) = sign_in(&f.app, "alice").await;
    // Another application on the same host keeps a UTF-8 value in its cookie (browsers send the
    // bytes as they are): the portal's session beside it is still read.
    let answer =
        raw_get(&f.app, &format!("{API}/discovery/apis"), &format!("{portal_cookie}; theme=dunkelgrün"))
            .await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

#[tokio::test]
async fn cookies_stay_on_their_own_side() {
    let Some(f) = fixture("cookies_stay_on_their_own_side").await else { return };
    let (portal_cookie, csrf) = sign_in(&f.app, "alice").await;
    // A client of its own, to send other cookies beside the portal's.
    let res = reqwest::Client::new()
        .post(f.app.url(&format!(
            "{API}/__echo/x?header=Set-Cookie:tracker%3D1%3B%20Path%3D%2F&header=CSRF-Token:manager-token&header=X-Kept:yes"
        )))
        .header("X-CSRF-Token", &csrf)
        .header("Authorization", "Bearer client-token")
        .header("Cookie", format!("other=1; portico_session={portal_cookie}; APIMANAGERSESSION=forged"))
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(set_cookies(&res).is_empty(), "no Set-Cookie from the manager: {:?}", set_cookies(&res));
    assert!(res.headers().get("csrf-token").is_none(), "the manager's CSRF token stays with the portal");
    assert_eq!(header(&res, "x-kept"), "yes");
    let headers = echoed(&res);
    assert_eq!(headers["cookie"], ["APIMANAGERSESSION"], "neither the portal cookie nor the client's");
    assert_eq!(f.master.requests().last().unwrap().user.as_deref(), Some("alice"), "not the forged one");
    assert!(!headers.contains_key("authorization"));
    // Logging in through the route is refused (no manager session is made for the caller).
    let res = f
        .app
        .client
        .post(f.app.url(&format!("{API}/login")))
        .header("X-CSRF-Token", &csrf)
        .form(&[("username", "alice"), ("password", "alice-password")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    assert!(set_cookies(&res).is_empty());
    for request in f.master.requests() {
        assert!(!request.headers.get("cookie").is_some_and(|c| c.contains("portico")), "{request:?}");
    }
}

#[tokio::test]
async fn hop_by_hop_headers_are_dropped_both_ways() {
    let Some(f) = fixture("hop_by_hop_headers_are_dropped").await else { return };
    sign_in(&f.app, "alice").await;
    let answer_headers = ["Keep-Alive:timeout%3D5", "Proxy-Authenticate:Basic", "Trailer:X-T", "X-Kept:yes"];
    let query: Vec<String> = answer_headers.iter().map(|h| format!("header={h}")).collect();
    let with_hop_headers = |request: reqwest::RequestBuilder| {
        request
            .header("Connection", "keep-alive, X-Hop")
            .header("X-Hop", "1")
            .header("Keep-Alive", "timeout=5")
            .header("TE", "trailers")
            .header("Trailer", "X-T")
            .header("Proxy-Authorization", "Basic eDp5")
            .header("Proxy-Connection", "keep-alive")
            .header("X-Kept", "yes")
            .header("Accept", "application/vnd.test+json")
    };
    let hop =
        ["connection", "x-hop", "keep-alive", "te", "trailer", "proxy-authorization", "proxy-connection"];
    let returned = ["keep-alive", "proxy-authenticate", "trailer"];

    // Sent straight to the manager, they all arrive, and all come back: the check below means something.
    let direct =
        format!("{}{}/__echo/x?{}", f.master.url.as_str().trim_end_matches('/'), API, query.join("&"));
    let res =
        with_hop_headers(reqwest::Client::new().get(direct).basic_auth("alice", Some("alice-password")))
            .send()
            .await
            .unwrap();
    assert_eq!(res.status(), 200);
    let sent = echoed(&res);
    assert!(hop.iter().all(|name| sent.contains_key(*name)), "{sent:?}");
    assert!(returned.iter().all(|name| res.headers().contains_key(*name)), "{:?}", res.headers());

    let res = with_hop_headers(f.app.client.get(f.app.url(&format!("{API}/__echo/x?{}", query.join("&")))))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let sent = echoed(&res);
    for name in hop {
        assert!(!sent.contains_key(name), "{name} reached the manager: {sent:?}");
    }
    assert_eq!(sent["x-kept"], ["yes"]);
    assert_eq!(sent["accept"], ["application/vnd.test+json"]);
    for name in returned {
        assert!(res.headers().get(name).is_none(), "{name} came back");
    }
    assert_eq!(header(&res, "x-kept"), "yes");
}

#[tokio::test]
async fn twenty_mebibytes_stream_up_and_down() {
    let Some(f) = fixture("twenty_mebibytes_stream").await else { return };
    let (_, csrf) = sign_in(&f.app, "alice").await;
    let size = 20 * MIB;
    let upload: Vec<u8> = (0..size as u64).map(|i| pattern_byte(i ^ 0x5a5a)).collect();

    // Upload with a length: echoed back with the same length and bytes.
    let res = f
        .app
        .client
        .put(f.app.url(&format!("{API}/__echo/upload")))
        .header("X-CSRF-Token", &csrf)
        .header("content-type", "application/octet-stream")
        .body(upload.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(echoed(&res)["content-length"], [size.to_string()], "the length reached the manager");
    assert_eq!(header(&res, "content-length"), size.to_string(), "and came back");
    let back = res.bytes().await.unwrap();
    assert_eq!((back.len(), sha256(&back)), (size, sha256(&upload)));

    // Upload in chunks without a length.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        upload.chunks(100_000).map(|c| Ok(c.to_vec())).collect();
    let res = f
        .app
        .client
        .post(f.app.url(&format!("{API}/__echo/chunked")))
        .header("X-CSRF-Token", &csrf)
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(chunks)))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(!echoed(&res).contains_key("content-length"));
    let back = res.bytes().await.unwrap();
    assert_eq!((back.len(), sha256(&back)), (size, sha256(&upload)));

    // A caller that pauses longer than the manager's timeout (1s) between chunks is not cut off.
    let slow = futures_util::stream::unfold(0u8, |n| async move {
        if n == 3 {
            return None;
        }
        if n > 0 {
            tokio::time::sleep(Duration::from_millis(1500)).await;
        }
        Some((Ok::<_, std::io::Error>(vec![n; 1000]), n + 1))
    });
    let res = f
        .app
        .client
        .post(f.app.url(&format!("{API}/__echo/slow")))
        .header("X-CSRF-Token", &csrf)
        .body(reqwest::Body::wrap_stream(slow))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.bytes().await.unwrap().len(), 3000);

    // Download.
    let mut res = call(&f.app, "GET", &format!("{API}/__echo/download?size={size}"), None).await;
    assert_eq!(res.status(), 200);
    assert_eq!(header(&res, "content-length"), size.to_string());
    let (mut received, mut hasher) = (0usize, Sha256::new());
    while let Some(chunk) = res.chunk().await.unwrap() {
        received += chunk.len();
        hasher.update(&chunk);
    }
    let expected: Vec<u8> = (0..size as u64).map(pattern_byte).collect();
    assert_eq!((received, hasher.finalize().to_vec()), (size, sha256(&expected)));
}

#[tokio::test]
async fn a_manager_that_fails_gives_502_or_504_in_the_managers_error_shape() {
    let Some(f) = fixture("a_manager_that_fails_gives_502").await else { return };
    let (_, csrf) = sign_in(&f.app, "alice").await;
    f.eu.faults().add(FaultRule::new(Operation::Echo).failure(Failure::Hang).times(1));
    let started = std::time::Instant::now();
    let res = call(&f.app, "GET", "/environments/prod-eu/manager/__echo/slow", None).await;
    assert_eq!(error_message(res, 504).await, "Production EU did not answer in time.");
    assert!(started.elapsed() < Duration::from_secs(5));

    // Keep Redis and the slaves running; only the master goes away.
    // A manager that stops taking an upload is timed out too.
    f.eu.faults().add(FaultRule::new(Operation::Echo).failure(Failure::Hang).times(1));
    let started = std::time::Instant::now();
    let res = f
        .app
        .client
        .put(f.app.url("/environments/prod-eu/manager/__echo/stuck"))
        .header("X-CSRF-Token", &csrf)
        .body(vec![7u8; 64 * MIB])
        .send()
        .await
        .unwrap();
    assert_eq!(error_message(res, 504).await, "Production EU did not answer in time.");
    assert!(started.elapsed() < Duration::from_secs(10), "{:?}", started.elapsed());

    let Fixture { app, master, .. } = f;
    let _refusing = crate::support::managers::stop_refusing(master).await;
    let message = error_message(call(&app, "GET", &format!("{API}/discovery/apis"), None).await, 502).await;
    assert!(message.starts_with("Main is unavailable: "), "{message}");
    assert!(!message.contains("127.0.0.1"), "no internals: {message}");
}

#[tokio::test]
async fn a_session_the_manager_ended_passes_its_401_and_asks_for_reconnecting() {
    let Some(f) = fixture("a_session_the_manager_ended").await else { return };
    let (_, csrf) = sign_in(&f.app, "alice").await;
    // A routed login is refused before the manager: the session stays.
    let res = f
        .app
        .client
        .post(f.app.url(&format!("{API}/login")))
        .header("X-CSRF-Token", &csrf)
        .form(&[("username", "alice"), ("password", "wrong")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    assert_eq!(call(&f.app, "GET", &format!("{API}/discovery/apis"), None).await.status(), 200);

    assert_eq!(f.master.end_sessions("alice"), 1);
    let res = call(&f.app, "GET", &format!("{API}/discovery/apis"), None).await;
    assert_eq!(error_message(res, 401).await, "Unauthorized", "the manager's own answer");

    let page = f.app.get("/environments").await.text().await.unwrap();
    let start = page.find("id=\"env-master\"").expect("master listed");
    let entry = &page[start..start + page[start..].find("</li>").unwrap()];
    assert!(entry.contains("unavailable") && entry.contains("your session there has ended"), "{entry}");
    assert!(entry.contains("Password to connect"), "a reconnect form: {entry}");

    let message = error_message(call(&f.app, "GET", &format!("{API}/discovery/apis"), None).await, 409).await;
    assert!(message.contains("not connected to Main"), "{message}");
    assert_eq!(f.master.requests().iter().filter(|r| r.path.ends_with("/discovery/apis")).count(), 2);

    let token = f.app.csrf_token("/environments").await;
    let res = f
        .app
        .post_form("/environments/master/connect", &[("password", "alice-password"), ("csrf_token", &token)])
        .await;
    assert_eq!(res.status(), 303);
    assert_eq!(
        call(&f.app, "GET", &format!("{API}/discovery/apis"), None).await.status(),
        200,
        "reconnected"
    );
}

/// Every command the Redis server has run, by name.
fn command_counts(redis: &RedisServer) -> BTreeMap<String, u64> {
    redis.commands()
}

/// The Redis commands run since `before`, by name (without the test's own INFO, nor the PINGs
/// with which the store keeps its connections alive).
fn commands_since(redis: &RedisServer, before: &BTreeMap<String, u64>) -> BTreeMap<String, u64> {
    command_counts(redis)
        .into_iter()
        .map(|(name, calls)| {
            let added = calls - before.get(&name).copied().unwrap_or(0);
            (name, added)
        })
        .filter(|(name, added)| *added > 0 && name != "info" && name != "ping")
        .collect()
}

#[tokio::test]
async fn a_routed_call_costs_one_redis_command_and_repeats_read_nothing() {
    let Some(f) = fixture("a_routed_call_costs_one_redis_command").await else { return };
    let (_, csrf) = sign_in(&f.app, "alice").await;
    // Warm up every pooled connection, so connection set-up is not counted.
    for _ in 0..20 {
        assert_eq!(call(&f.app, "GET", &format!("{API}/discovery/apis"), None).await.status(), 200);
    }
    let routed = |i: usize| {
        let (app, csrf) = (&f.app, csrf.clone());
        async move {
            match i % 2 {
                0 => call(app, "GET", &format!("{API}/discovery/apis"), None).await,
                _ => call(app, "POST", "/environments/prod-eu/manager/__echo/x", Some(&csrf)).await,
            }
        }
    };

    // The session was read a moment ago: it is served from memory, each call asking Redis only
    // for the stamp of the value stored now (so that a session ended or rewritten elsewhere is
    // seen at once).
    let before = command_counts(&f.redis);
    for i in 0..50 {
        assert_eq!(routed(i).await.status(), 200);
    }
    let delta = commands_since(&f.redis, &before);
    assert_eq!(delta.into_iter().collect::<Vec<_>>(), [("getrange".to_owned(), 50)], "nothing read");

    // Once the window is over, the next call reads the session again, sliding its idle timeout
    // in the same command; the calls after it are served from memory again.
    for round in 0..3 {
        f.clock.advance(SESSION_FRESH_FOR);
        let before = command_counts(&f.redis);
        for i in 0..10 {
            assert_eq!(routed(i).await.status(), 200);
        }
        let delta = commands_since(&f.redis, &before);
        let expected = [("getex".to_owned(), 1), ("getrange".to_owned(), 9)];
        assert_eq!(delta.into_iter().collect::<Vec<_>>(), expected, "round {round}");
    }
}

#[tokio::test]
async fn calls_that_find_the_copy_stale_together_share_one_read() {
    let Some(f) = fixture("calls_that_find_the_copy_stale_together").await else { return };
    sign_in(&f.app, "alice").await;
    for _ in 0..5 {
        assert_eq!(call(&f.app, "GET", &format!("{API}/discovery/apis"), None).await.status(), 200);
    }
    // The copy's window ends under an API client with calls on many connections at once: one
    // of them reads the session (sliding its idle timeout), the others wait for that read and
    // then ask whether the session is still the value read, as they would with a copy.
    for round in 0..3 {
        f.clock.advance(SESSION_FRESH_FOR);
        let before = command_counts(&f.redis);
        let path = format!("{API}/discovery/apis");
        let calls = (0..16).map(|_| call(&f.app, "GET", &path, None));
        for answer in futures_util::future::join_all(calls).await {
            assert_eq!(answer.status(), 200, "round {round}");
        }
        let delta = commands_since(&f.redis, &before);
        assert_eq!(delta.get("getex"), Some(&1), "round {round}: one read, {delta:?}");
        let asked = delta.get("getrange").copied().unwrap_or(0);
        assert!((1..=15).contains(&asked), "round {round}: the other calls confirmed, {delta:?}");
    }
}

#[tokio::test]
async fn without_the_session_store_the_answer_is_503_json() {
    let Some(mut f) = fixture("without_the_session_store").await else { return };
    sign_in(&f.app, "alice").await;
    f.redis.stop();
    // At once: a copy of the session read a moment ago is not served without Redis either.
    let message = error_message(call(&f.app, "GET", &format!("{API}/discovery/apis"), None).await, 503).await;
    assert_eq!(message, "The session store is unavailable. Please try again in a moment.");
    f.redis.restart();
    let mut status = 0;
    for _ in 0..50 {
        status = call(&f.app, "GET", &format!("{API}/discovery/apis"), None).await.status().as_u16();
        if status != 503 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(status, 401, "back by itself; the session was in the Redis that went away");
}
