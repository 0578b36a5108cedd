//! The edge under attack: each test performs one of the attacks a hostile caller or a malicious
//! signed-in consumer would try, against the real app (real Redis, simulated managers over
//! HTTP), and asserts what they get — and what the managers never see.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use portico::clock::ManualClock;
use portico::simulator::Simulator;
use portico::store::SESSION_FRESH_FOR;
use reqwest::Method;

use crate::support::managers::{start_master, start_slave};
use crate::support::{RedisServer, TestApp, TestAppBuilder, csrf_in, set_cookies};

const API: &str = "/api/portal/v1.3";

struct Fixture {
    app: TestApp,
    master: Simulator,
    eu: Simulator,
    redis: RedisServer,
    clock: ManualClock,
}

async fn fixture_with(
    test: &str,
    configure: impl FnOnce(TestAppBuilder) -> TestAppBuilder,
) -> Option<Fixture> {
    let redis = RedisServer::start(test)?;
    let master = start_master().await;
    let eu = start_slave("eu", &master.url).await;
    let builder = TestAppBuilder::new(master.url.as_str())
        .redis(&redis)
        .slave("prod-eu", "Production EU", eu.url.as_str())
        .timeouts("1s", "1s");
    let builder = configure(builder);
    let clock = builder.clock();
    let app = builder.spawn().await;
    Some(Fixture { app, master, eu, redis, clock })
}

async fn fixture(test: &str) -> Option<Fixture> {
    fixture_with(test, |b| b).await
}

/// Signs in and returns the portal session cookie (`name=value`) and its CSRF token.
async fn sign_in(app: &TestApp, user: &str) -> (String, String) {
    let res = app.sign_in(user, &format!("{user}-password")).await;
    assert_eq!(res.status(), 303, "{user} signs in");
    let cookie = set_cookies(&res)
        .into_iter()
        .find(|c| c.starts_with("portico_session="))
        .map(|c| c.split(';').next().unwrap().to_owned())
        .expect("session cookie");
    (cookie, app.csrf_token("/environments").await)
}

fn header(res: &reqwest::Response, name: &str) -> String {
    res.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned()
}

/// One HTTP/1.1 exchange written byte for byte (no client library normalizes the path), and
/// the status and whole answer.
fn raw(address: SocketAddr, request: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(address).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let status = answer.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    (status, answer)
}

fn raw_get(app: &TestApp, path: &str, cookie: &str) -> (u16, String) {
    raw(
        app.address,
        &format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nCookie: {cookie}\r\nConnection: close\r\n\r\n"),
    )
}

// 1. Routed sign-in is no password oracle.

#[tokio::test]
async fn fifty_guesses_through_every_routed_path_reveal_nothing_lock_nothing_and_reach_no_manager() {
    let Some(f) = fixture("routed_guesses").await else { return };
    let (cookie, csrf) = sign_in(&f.app, "alice").await;
    f.master.clear_requests();
    f.eu.clear_requests();
    let http = reqwest::Client::new();
    let mut answers = std::collections::BTreeSet::new();
    let prefixes = [
        API.to_owned(),
        "/environments/master/manager".to_owned(),
        "/environments/prod-eu/manager".to_owned(),
    ];
    let endpoints = [
        ("POST", "/login"),
        ("POST", "/Login"),
        ("POST", "/login;jsessionid=x"),
        ("POST", "//login/"),
        ("POST", "/%6cogin"),
        ("DELETE", "/login"),
        ("POST", "/currentuser/changepassword"),
        ("POST", "/users/forgotpassword"),
        ("GET", "/users/resetpassword"),
        ("PUT", "/users/alice/resetpassword"),
        ("POST", "/users/alice/changepassword"),
        ("POST", "/connectors/c1/login"),
    ];
    for prefix in &prefixes {
        for (method, endpoint) in endpoints {
            for guess in 0..50 {
                // The 50th guess is the right password.
                let password =
                    if guess == 49 { "alice-password".to_owned() } else { format!("guess-{guess}") };
                let form = [
                    ("username", "alice"),
                    ("password", password.as_str()),
                    ("oldPassword", password.as_str()),
                ];
                let res = http
                    .request(
                        Method::from_bytes(method.as_bytes()).unwrap(),
                        f.app.url(&format!("{prefix}{endpoint}")),
                    )
                    .header("cookie", &cookie)
                    .header("x-csrf-token", &csrf)
                    .form(&form)
                    .send()
                    .await
                    .unwrap();
                let status = res.status().as_u16();
                answers.insert((status, res.text().await.unwrap()));
            }
        }
    }
    assert_eq!(answers.len(), 1, "every guess gets the same answer: {answers:?}");
    let (status, body) = answers.into_iter().next().unwrap();
    assert_eq!(status, 403);
    assert!(body.contains("sign-in and password endpoints are not routed"), "{body}");

    let reached = |sim: &Simulator| {
        sim.requests()
            .into_iter()
            .filter(|r| r.path.contains("login") || r.path.contains("password"))
            .map(|r| format!("{} {}", r.method, r.path))
            .collect::<Vec<_>>()
    };
    assert_eq!(reached(&f.master), Vec::<String>::new(), "no guess reached the master");
    assert_eq!(reached(&f.eu), Vec::<String>::new(), "no guess reached the slave");
    // Nothing was counted against alice, and her manager sessions still stand.
    let routed =
        http.get(f.app.url(&format!("{API}/discovery/apis"))).header("cookie", &cookie).send().await.unwrap();
    assert_eq!(routed.status(), 200, "the manager session was not ended by the routed DELETE /login");
    let pair = pre_session(&f.app, "/login").await;
    assert_eq!(
        post_sign_in(&f.app, "/login", &pair, "alice", "alice-password").await,
        303,
        "alice is not locked"
    );
}

// 2. Metrics labels come from a closed set; /metrics on a listener of its own.

#[tokio::test]
async fn any_method_a_caller_invents_is_counted_as_other() {
    let app = TestAppBuilder::new("http://127.0.0.1:9").spawn().await;
    for i in 0..100 {
        let method = Method::from_bytes(format!("ZQ{i:05}").as_bytes()).unwrap();
        for path in ["/login", "/nowhere", "/api/portal/v1.3/x", "/environments/x/manager/y"] {
            app.client.request(method.clone(), app.url(path)).send().await.unwrap();
        }
    }
    // A method of 8 KB, written by hand.
    let long = "Q".repeat(8 * 1024);
    let (status, _) =
        raw(app.address, &format!("{long} /login HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
    assert_ne!(status, 0, "the server answered");

    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(!metrics.contains("ZQ0"), "no invented method became a label");
    assert!(!metrics.contains("QQQQ"), "nor the long one");
    assert!(metrics.contains("method=\"other\""), "{metrics}");
    // Routed calls are counted under their route's pattern, never their path.
    for pattern in ["/api/portal/v1.3/{path}", "/environments/{id}/manager/{path}"] {
        assert!(metrics.contains(&format!("method=\"other\",route=\"{pattern}\"")), "{pattern}: {metrics}");
    }
    assert!(!metrics.contains("route=\"/api/portal/v1.3/x\"") && !metrics.contains("manager/y"), "{metrics}");
    // Every one of them counted (the series is shared with other tests, so at least).
    let series =
        "portico_http_requests_total{method=\"other\",route=\"/api/portal/v1.3/{path}\",status=\"401\"} ";
    let count =
        metrics.lines().find_map(|l| l.strip_prefix(series)).and_then(|v| v.trim().parse::<u64>().ok());
    assert!(count.is_some_and(|n| n >= 100), "{count:?}: {metrics}");
    // (The registry is the process's, shared with the other tests: every series is checked.)
    let closed = ["GET", "POST", "HEAD", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "CONNECT", "other"];
    for line in metrics.lines().filter(|l| l.starts_with("portico_http_requests_total{")) {
        let method = line.split("method=\"").nth(1).and_then(|rest| rest.split('"').next()).unwrap();
        assert!(closed.contains(&method), "{line}");
    }
}

#[tokio::test]
async fn metrics_can_be_served_on_their_own_listener_only() {
    let app =
        TestAppBuilder::new("http://127.0.0.1:9").toml("[metrics]\nlisten = \"127.0.0.1:0\"").spawn().await;
    assert_eq!(app.get("/metrics").await.status(), 404, "not on the public listener");
    let metrics = app.metrics_address.expect("a metrics listener");
    let res = reqwest::get(format!("http://{metrics}/metrics")).await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.text().await.unwrap().contains("portico_http_requests_total"));
    let res = reqwest::get(format!("http://{metrics}/login")).await.unwrap();
    assert_eq!(res.status(), 404, "the metrics listener serves nothing else");
}

// 3. Lockout holds under parallel guesses, on every replica.

/// The sign-in form's anti-forgery pair, for posting without a cookie jar: (cookie, token).
async fn pre_session(app: &TestApp, path: &str) -> (String, String) {
    let res = reqwest::get(app.url(path)).await.unwrap();
    let cookie =
        set_cookies(&res).first().map(|c| c.split(';').next().unwrap().to_owned()).expect("form cookie");
    let token = csrf_in(&res.text().await.unwrap()).expect("form token");
    (cookie, token)
}

async fn post_sign_in(app: &TestApp, path: &str, pair: &(String, String), user: &str, password: &str) -> u16 {
    post_sign_in_via(app, path, pair, user, password, None).await
}

/// A sign-in form posted without a cookie jar, optionally through a proxy that says
/// `X-Forwarded-For: {forwarded_for}`; the status.
async fn post_sign_in_via(
    app: &TestApp,
    path: &str,
    pair: &(String, String),
    user: &str,
    password: &str,
    forwarded_for: Option<&str>,
) -> u16 {
    let mut request = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .post(app.url(path))
        .header("cookie", &pair.0)
        .form(&[("username", user), ("password", password), ("csrf_token", pair.1.as_str())]);
    if let Some(address) = forwarded_for {
        request = request.header("x-forwarded-for", address);
    }
    request.send().await.unwrap().status().as_u16()
}

#[tokio::test]
async fn twenty_nine_parallel_guesses_on_two_replicas_judge_at_most_five() {
    let Some(f) = fixture("parallel_guesses").await else { return };
    // Two replicas sharing Redis and its key prefix, so they share the counters.
    let first = TestAppBuilder::new(f.master.url.as_str()).redis(&f.redis).slave(
        "prod-eu",
        "Production EU",
        f.eu.url.as_str(),
    );
    let second = TestAppBuilder::new(f.master.url.as_str()).redis(&f.redis).same_prefix_as(&first);
    let (a, b) = (first.spawn().await, second.spawn().await);
    let pair_a = pre_session(&a, "/login").await;
    let pair_b = pre_session(&b, "/login").await;
    f.master.clear_requests();

    let guesses = (0..29).map(|i| {
        let (app, pair) = if i % 2 == 0 { (&a, &pair_a) } else { (&b, &pair_b) };
        post_sign_in(app, "/login", pair, "alice", "wrong")
    });
    let statuses = join_all(guesses).await;
    let judged = statuses.iter().filter(|s| **s == 401).count();
    assert!(judged <= 5, "at most five guesses judged: {statuses:?}");
    assert!(statuses.iter().all(|s| *s == 401 || *s == 429), "{statuses:?}");
    let logins =
        f.master.requests().iter().filter(|r| r.path.ends_with("/login") && r.method == "POST").count();
    assert!(logins <= 5, "the master was asked at most five times, not {logins}");

    assert_eq!(
        post_sign_in(&a, "/login", &pair_a, "alice", "alice-password").await,
        429,
        "then the right one is locked out"
    );
    assert_eq!(
        post_sign_in(&b, "/login", &pair_b, "alice", "alice-password").await,
        429,
        "on the other replica too"
    );
}

#[tokio::test]
async fn twenty_nine_parallel_admin_guesses_judge_at_most_three() {
    let Some(redis) = RedisServer::start("parallel_admin_guesses") else { return };
    let app = TestAppBuilder::new("http://127.0.0.1:9")
        .redis(&redis)
        .admin("root", "admin-password-123")
        .spawn()
        .await;
    let pair = pre_session(&app, "/admin/login").await;
    let guesses = (0..29).map(|_| post_sign_in(&app, "/admin/login", &pair, "root", "wrong"));
    let statuses = join_all(guesses).await;
    let judged = statuses.iter().filter(|s| **s == 401).count();
    assert!(judged <= 3, "at most three admin guesses judged: {statuses:?}");
    assert!(statuses.iter().all(|s| *s == 401 || *s == 429), "{statuses:?}");
    assert_eq!(post_sign_in(&app, "/admin/login", &pair, "root", "admin-password-123").await, 429);
}

// 4. The manager's security headers never replace the portal's.

#[tokio::test]
async fn a_managers_security_headers_never_reach_the_portal_origin() {
    let Some(f) = fixture("manager_security_headers").await else { return };
    let (cookie, _) = sign_in(&f.app, "alice").await;
    let hostile = [
        "Content-Security-Policy:default-src *",
        "Content-Security-Policy-Report-Only:default-src *",
        "X-Frame-Options:ALLOWALL",
        "Referrer-Policy:unsafe-url",
        "X-Content-Type-Options:sniff",
        "Strict-Transport-Security:max-age=0",
        "Refresh:0;url=https://evil.example/",
        "Clear-Site-Data:\"*\"",
        "Access-Control-Allow-Origin:https://evil.example",
        "Access-Control-Allow-Credentials:true",
        "WWW-Authenticate:Basic realm=portal",
        "Alt-Svc:h2=\"evil.example:443\"",
        "X-Kept:yes",
    ];
    let query: Vec<String> = hostile.iter().map(|h| format!("header={}", urlencode(h))).collect();
    let res = reqwest::Client::new()
        .get(f.app.url(&format!("{API}/__echo/x?{}", query.join("&"))))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        header(&res, "content-security-policy"),
        "default-src 'none'; frame-ancestors 'none'; sandbox"
    );
    assert_eq!(header(&res, "x-frame-options"), "DENY");
    assert_eq!(header(&res, "referrer-policy"), "same-origin");
    assert_eq!(header(&res, "x-content-type-options"), "nosniff");
    for gone in [
        "content-security-policy-report-only",
        "strict-transport-security",
        "refresh",
        "clear-site-data",
        "access-control-allow-origin",
        "access-control-allow-credentials",
        "www-authenticate",
        "alt-svc",
    ] {
        assert!(res.headers().get(gone).is_none(), "{gone} must not pass");
    }
    assert_eq!(res.headers().get_all("content-security-policy").iter().count(), 1);
    assert_eq!(header(&res, "x-kept"), "yes", "ordinary headers still pass");
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

// 5. Path tricks never reach the manager.

// Two workers: this test talks over a blocking socket, and the app's Redis connections, opened on
// this runtime, must be driven meanwhile (every request with a session asks Redis about it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dot_segments_with_parameters_and_encoded_separators_are_refused_before_the_manager() {
    let Some(f) = fixture("path_tricks").await else { return };
    let (cookie, _) = sign_in(&f.app, "alice").await;
    f.master.clear_requests();
    for trick in [
        "/__echo/..;/organizations",
        "/__echo/.%2e;/organizations",
        "/__echo/%2e%2e%3b/organizations",
        "/__echo/a%2F..%2F..%2Forganizations",
        "/__echo/%5c..%5corganizations",
        "/__echo/%252e%252e/organizations",
        "/__echo/..;jsessionid=1/organizations",
        "/__echo/%2e;/x",
    ] {
        for prefix in [API, "/environments/master/manager"] {
            let (status, answer) = raw_get(&f.app, &format!("{prefix}{trick}"), &cookie);
            assert_eq!(status, 400, "{prefix}{trick}: {answer}");
            assert!(answer.contains("This path cannot be routed"), "{answer}");
        }
    }
    assert!(f.master.requests().is_empty(), "nothing reached the manager: {:?}", f.master.requests());
    let (status, _) = raw_get(&f.app, &format!("{API}/__echo/x..y/.z;v=1"), &cookie);
    assert_eq!(status, 200, "dots inside names are no dot segments");
}

// 6. The caller's forwarding headers stay behind.

#[tokio::test]
async fn forwarding_headers_a_caller_sends_never_reach_the_manager() {
    let Some(f) = fixture("caller_forwarding_headers").await else { return };
    let (cookie, _) = sign_in(&f.app, "alice").await;
    let res = reqwest::Client::new()
        .get(f.app.url(&format!("{API}/__echo/x")))
        .header("cookie", &cookie)
        .header("x-forwarded-for", "6.6.6.6")
        .header("x-forwarded-host", "evil.example")
        .header("forwarded", "for=6.6.6.6;host=evil.example")
        .header("x-real-ip", "6.6.6.6")
        .header("x-original-url", "/admin")
        .header("x-rewrite-url", "/admin")
        .header("x-http-method-override", "DELETE")
        .header("x-method-override", "DELETE")
        .header("x_forwarded_for", "6.6.6.6")
        .header("x_real_ip", "6.6.6.6")
        .header("true-client-ip", "6.6.6.6")
        .header("x-kept", "yes")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let echoed: std::collections::BTreeMap<String, Vec<String>> =
        serde_json::from_str(&header(&res, "x-echo-headers")).unwrap();
    for name in echoed.keys() {
        assert!(
            !(name.contains('_')
                || name.contains("forwarded-host")
                || name == "forwarded"
                || name.contains("real-ip")
                || name.contains("original")
                || name.contains("rewrite")
                || name.contains("override")
                || name == "true-client-ip"),
            "{name} reached the manager: {echoed:?}"
        );
    }
    assert_eq!(echoed["x-forwarded-for"], ["127.0.0.1"], "Portico's own word on the client address");
    assert_eq!(echoed["x-kept"], ["yes"]);
    assert_eq!(header(&res, "x-echo-method"), "GET");
}

// 7. X-Forwarded-For with ports; garbage never collapses onto the proxy.

async fn wrong_password_from(app: &TestApp, xff: &str, user: &str) -> u16 {
    let pair = pre_session(app, "/login").await;
    post_sign_in_via(app, "/login", &pair, user, "wrong", Some(xff)).await
}

#[tokio::test]
async fn gateway_addresses_with_ports_are_locked_apart_and_garbage_locks_no_one_else() {
    let extra = "[login_protection]\nlock_by_ip = true\nmax_failures_per_ip = 3\nmax_failures = 100\n";
    let Some(f) =
        fixture_with("forwarded_with_ports", |b| b.toml(extra).trusted_proxies(&["127.0.0.1/32"])).await
    else {
        return;
    };
    for user in ["a1", "a2", "a3"] {
        assert_eq!(wrong_password_from(&f.app, "203.0.113.7:4711", user).await, 401);
    }
    assert_eq!(
        wrong_password_from(&f.app, "203.0.113.7:5000", "a4").await,
        429,
        "that client is locked, whatever its port"
    );
    assert_eq!(wrong_password_from(&f.app, "[2001:db8::7]:443", "a5").await, 401, "another client is not");
    for user in ["g1", "g2", "g3", "g4", "g5"] {
        assert_eq!(
            wrong_password_from(&f.app, "not-an-address", user).await,
            401,
            "unknown clients lock no address"
        );
    }
    assert_eq!(
        wrong_password_from(&f.app, "198.51.100.9:80", "a6").await,
        401,
        "the proxy's address was never locked"
    );
    assert_eq!(wrong_password_from(&f.app, "", "a7").await, 401);
}

// 9. A trickled body is cut off.

// Two workers: this test talks over a blocking socket, and the app's Redis connections, opened on
// this runtime, must be driven meanwhile (every request with a session asks Redis about it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_sent_a_byte_at_a_time_is_cut_off_with_408() {
    let Some(f) = fixture_with("trickled_body", |b| b.set("server.body_timeout", "1s")).await else { return };
    let (cookie, csrf) = sign_in(&f.app, "alice").await;
    let routed = format!("Cookie: {cookie}\r\nX-CSRF-Token: {csrf}\r\n");
    // The form and a manager that reads the whole body before answering get 408; a manager
    // that already answers while the body arrives (the echo) has its answer cut at the deadline.
    let cases = [
        ("/login".to_owned(), "Content-Type: application/x-www-form-urlencoded\r\n".to_owned(), true),
        (format!("{API}/applications"), format!("{routed}Content-Type: application/json\r\n"), true),
        (format!("{API}/__echo/upload"), format!("{routed}Content-Type: application/json\r\n"), false),
    ];
    for (path, extra, before_any_answer) in cases {
        let mut stream = TcpStream::connect(f.app.address).unwrap();
        stream.set_read_timeout(Some(Duration::from_millis(250))).unwrap();
        let head = format!("POST {path} HTTP/1.1\r\nHost: localhost\r\n{extra}Content-Length: 1000\r\n\r\n");
        stream.write_all(head.as_bytes()).unwrap();
        let started = Instant::now();
        let mut answer = Vec::new();
        let mut closed = false;
        while started.elapsed() < Duration::from_secs(8) {
            if stream.write_all(b"a").is_err() {
                closed = true;
                break;
            }
            // (The managers and the app run on threads of their own.)
            std::thread::sleep(Duration::from_millis(100));
            let mut buf = [0u8; 4096];
            match stream.read(&mut buf) {
                Ok(0) => {
                    closed = true;
                    break;
                }
                Ok(n) => answer.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                    closed = true;
                    break;
                }
                Err(_) => {}
            }
        }
        let answer = String::from_utf8_lossy(&answer);
        if before_any_answer {
            assert!(answer.starts_with("HTTP/1.1 408"), "{path}: {answer}");
            assert!(answer.contains("did not arrive in time"), "{path}: {answer}");
            // The 408 is Portico's own answer, with the headers every answer carries.
            let head = answer.to_ascii_lowercase();
            for header in ["content-security-policy: ", "x-content-type-options: nosniff", "x-request-id: "] {
                assert!(head.contains(header), "{path}: {header} in {answer}");
            }
        } else {
            assert!(answer.starts_with("HTTP/1.1 200"), "{path}: {answer}");
            assert!(!answer.contains(&"a".repeat(100)), "{path}: the answer was cut: {answer}");
        }
        assert!(closed, "{path}: the connection is closed");
        assert!(started.elapsed() < Duration::from_secs(5), "{path}: cut off near the deadline");
    }
}

// 10. After Redis comes back, recovery goes by time, not by failed requests.

#[tokio::test]
async fn after_redis_returns_the_first_request_on_an_idle_replica_succeeds() {
    let Some(mut f) = fixture("redis_recovery_by_time").await else { return };
    let (cookie, _) = sign_in(&f.app, "alice").await;
    let routed = format!("{API}/discovery/apis");
    let http = reqwest::Client::new();
    f.redis.stop();
    std::thread::sleep(Duration::from_secs(1));
    f.redis.restart();
    // Idle: nobody calls Portico while it recovers (the restarted Redis is empty, so the old
    // session is gone and a new sign-in is the first request).
    tokio::time::sleep(Duration::from_secs(4)).await;
    let ready = f.app.get("/readyz").await;
    assert_eq!(ready.status(), 200, "ready by itself: {}", ready.text().await.unwrap());
    let res = f.app.sign_in("alice", "alice-password").await;
    assert_eq!(res.status(), 303, "the first request after Redis came back succeeds");
    let cookie_after = set_cookies(&res).into_iter().find(|c| c.starts_with("portico_session=")).unwrap();
    let cookie_after = cookie_after.split(';').next().unwrap().to_owned();
    assert_ne!(cookie_after, cookie);
    // Every pooled connection takes a turn: none fails its first command.
    for i in 0..40 {
        f.clock.advance(SESSION_FRESH_FOR);
        let res = http.get(f.app.url(&routed)).header("cookie", &cookie_after).send().await.unwrap();
        assert_eq!(res.status(), 200, "routed call {i} after the recovery");
    }
}
