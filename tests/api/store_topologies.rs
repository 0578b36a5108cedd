//! Everything Portico keeps in Redis, on a single node, a Sentinel group and a Cluster alike
//! (real redis-server processes): sealed sessions shared by two replicas and ended on both at
//! once, login protection's script, the catalog cache and its purge, the change bus, the
//! session count, `/readyz`'s view of the topology — and, on Sentinel and Cluster, a master
//! killed under load: how long until requests succeed again, how many failed meanwhile, and
//! that the same session, new sign-ins and the change bus all carry on; and an ACL user and
//! password reaching Redis without ever being shown.

use std::time::{Duration, Instant};

use portico::simulator::Simulator;
use portico::store::{Change, SESSION_FRESH_FOR};

use crate::support::managers::{start_master, start_slave};
use crate::support::{TestApp, TestAppBuilder, Topology, TopologyKind, csrf_in, set_cookies};

const API: &str = "/api/portal/v1.3";

struct Replicas {
    a: TestApp,
    b: TestApp,
    a_clock: portico::clock::ManualClock,
    _master: Simulator,
    _eu: Simulator,
}

async fn replicas(topology: &Topology, extra: &str) -> Replicas {
    let master = start_master().await;
    let eu = start_slave("eu", &master.url).await;
    let builder = || {
        TestAppBuilder::new(master.url.as_str())
            .redis_topology(topology)
            .slave("prod-eu", "Production EU", eu.url.as_str())
            .timeouts("1s", "1s")
            .toml(extra)
    };
    let first = builder();
    let second = builder().same_prefix_as(&first);
    let a_clock = first.clock();
    let (a, b) = (first.spawn().await, second.spawn().await);
    Replicas { a, b, a_clock, _master: master, _eu: eu }
}

/// Signs in through the form with a browser of its own; the answer.
async fn sign_in(app: &TestApp, user: &str, password: &str) -> reqwest::Response {
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_store(true)
        .build()
        .unwrap();
    let form = browser.get(app.url("/login")).send().await.unwrap().text().await.unwrap();
    let token = csrf_in(&form).expect("the sign-in form");
    browser
        .post(app.url("/login"))
        .form(&[("username", user), ("password", password), ("csrf_token", token.as_str())])
        .send()
        .await
        .unwrap()
}

/// Signs in on `app` and returns the portal session cookie (`name=value`).
async fn session_cookie(app: &TestApp, user: &str) -> String {
    let res = sign_in(app, user, &format!("{user}-password")).await;
    assert_eq!(res.status(), 303, "{user} signs in");
    set_cookies(&res)
        .into_iter()
        .find(|c| c.starts_with("portico_session="))
        .map(|c| c.split(';').next().unwrap().to_owned())
        .expect("session cookie")
}

async fn routed(app: &TestApp, cookie: &str) -> reqwest::Response {
    reqwest::Client::new()
        .get(app.url(&format!("{API}/discovery/apis")))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap()
}

/// A change published by `from` reaches `to`'s subscribers (retrying while `to` subscribes);
/// returns how long the last publication took to arrive.
async fn bus_carries(from: &TestApp, to: &TestApp, within: Duration) -> Duration {
    let mut received = to.state.changes().subscribe();
    let deadline = Instant::now() + within;
    loop {
        let sent = Instant::now();
        from.state.changes().publish(Change::CachesPurged).await.expect("publish");
        let wait = tokio::time::timeout(Duration::from_millis(500), async {
            loop {
                match received.recv().await {
                    Ok(Change::CachesPurged) => return true,
                    Ok(_) => continue,
                    Err(_) => return false,
                }
            }
        });
        if wait.await == Ok(true) {
            return sent.elapsed();
        }
        assert!(Instant::now() < deadline, "no change reached the other replica within {within:?}");
    }
}

crate::on_every_topology!(everything_kept_in_redis_works, |topology: Topology| async move {
    let r = replicas(&topology, "[login_protection]\nmax_failures = 3\n").await;

    // Sessions: made on one replica, served by the other; counted without a scan.
    let cookie = session_cookie(&r.a, "alice").await;
    assert_eq!(routed(&r.b, &cookie).await.status(), 200, "the other replica serves the session");
    assert_eq!(r.a.state.sessions().count().await.unwrap(), 1);
    let _again = session_cookie(&r.b, "alice").await;
    assert_eq!(r.b.state.sessions().count().await.unwrap(), 2);

    // Nothing personal in clear, whatever node holds it.
    let dump = topology.dump();
    assert!(dump.iter().any(|(k, _)| k.contains(":session:")), "sessions are in this Redis");
    for (key, value) in &dump {
        let text = String::from_utf8_lossy(value);
        assert!(!key.contains("alice") && !text.contains("alice"), "{key} holds alice in clear");
    }

    // Login protection's script, counted across both replicas.
    for app in [&r.a, &r.b, &r.a] {
        assert_eq!(sign_in(app, "bob", "wrong").await.status(), 401);
    }
    assert_eq!(sign_in(&r.b, "bob", "bob-password").await.status(), 429, "locked on every replica");

    // The catalog cache, filled and purged on every node that holds a part of it.
    let catalog = reqwest::Client::new().get(r.a.url("/environments/master/apis")).header("cookie", &cookie);
    assert_eq!(catalog.send().await.unwrap().status(), 200);
    assert!(topology.dump().iter().any(|(k, _)| k.contains(":cache:catalog:")), "the catalog is cached");
    assert!(r.a.state.catalog().purge().await.unwrap() >= 1);
    assert!(!topology.dump().iter().any(|(k, _)| k.contains(":cache:catalog:")), "and purged everywhere");

    // The change bus, both ways.
    let took = bus_carries(&r.a, &r.b, Duration::from_secs(5)).await;
    assert!(took < Duration::from_secs(1), "a change took {took:?}");
    bus_carries(&r.b, &r.a, Duration::from_secs(5)).await;

    // Signing out on one replica ends the session on the other at once.
    let page =
        reqwest::Client::new().get(r.a.url("/environments")).header("cookie", &cookie).send().await.unwrap();
    let token = csrf_in(&page.text().await.unwrap()).expect("the sign-out form");
    let res = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .post(r.a.url("/logout"))
        .header("cookie", &cookie)
        .form(&[("csrf_token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(routed(&r.b, &cookie).await.status(), 401, "refused on the other replica at once");
    assert_eq!(r.a.state.sessions().count().await.unwrap(), 1);

    // /readyz names the topology and its nodes, never a secret.
    let ready = r.a.get("/readyz").await;
    assert_eq!(ready.status(), 200);
    let body: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(body["checks"]["redis"]["topology"], topology.name(), "{body}");
    let nodes = body["checks"]["redis"]["nodes"].as_array().expect("nodes").clone();
    let expected = match topology.kind() {
        TopologyKind::Single => 1,
        TopologyKind::Sentinel => 4,
        TopologyKind::Cluster => 6,
    };
    assert_eq!(nodes.len(), expected, "{body}");
    assert!(nodes.iter().all(|n| n["reachable"] == true), "{body}");
    assert!(nodes.iter().any(|n| n["role"] == "master"), "{body}");
});

/// Kills the master holding the session and keeps calling: (seconds until the first success,
/// requests failed meanwhile).
async fn through_a_failover(topology: &mut Topology, r: &Replicas, cookie: &str) -> (f64, usize) {
    let session_key = topology
        .dump()
        .into_iter()
        .map(|(k, _)| k)
        .find(|k| k.contains(":session:"))
        .expect("the session is stored");
    // Replication is asynchronous: give the replica the moment it needs.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let killed = topology.kill_master_for(&session_key).expect("a master to kill");
    let mut failed = 0;
    loop {
        // Past the in-process copy's window, so each call reads the store.
        r.a_clock.advance(SESSION_FRESH_FOR);
        let started = Instant::now();
        let res = routed(&r.a, cookie).await;
        let took = started.elapsed();
        assert!(took < Duration::from_secs(4), "a request during the failover hung for {took:?}");
        match res.status().as_u16() {
            200 => break,
            503 => {
                // Failing fast: a request for a master that is down is not held while it waits.
                assert!(took < Duration::from_secs(1), "a failed request took {took:?}");
                failed += 1;
            }
            other => panic!("during the failover: {other} {}", res.text().await.unwrap_or_default()),
        }
        assert!(killed.elapsed() < Duration::from_secs(30), "no recovery within 30 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    (killed.elapsed().as_secs_f64(), failed)
}

async fn failover(kind: TopologyKind, test: &str) {
    let Some(mut topology) = Topology::start(kind, test) else { return };
    let r = replicas(&topology, "").await;
    let cookie = session_cookie(&r.a, "alice").await;
    assert_eq!(routed(&r.a, &cookie).await.status(), 200);

    let (seconds, failed) = through_a_failover(&mut topology, &r, &cookie).await;
    eprintln!(
        "{}: first successful request {seconds:.2} s after the master was killed; {failed} failed meanwhile (503)",
        kind.name()
    );
    topology.wait_for_failover(Duration::from_secs(15));

    assert_eq!(routed(&r.b, &cookie).await.status(), 200, "the same session on the other replica");
    let _bob = session_cookie(&r.b, "bob").await;
    let took = bus_carries(&r.a, &r.b, Duration::from_secs(10)).await;
    assert!(took < Duration::from_secs(1), "after the failover a change took {took:?}");
    let ready = r.a.get("/readyz").await;
    assert_eq!(ready.status(), 200, "ready again: {}", ready.text().await.unwrap_or_default());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_sentinel_master_is_followed_without_losing_the_session() {
    failover(TopologyKind::Sentinel, "store_topologies::sentinel_failover").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_cluster_master_is_followed_without_losing_the_session() {
    failover(TopologyKind::Cluster, "store_topologies::cluster_failover").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_acl_user_and_password_reach_redis_and_are_never_shown() {
    let Some(redis) = crate::support::RedisServer::start("redis_acl") else { return };
    let mut admin = redis.client();
    redis::cmd("ACL")
        .arg(&["SETUSER", "portico", "on", ">s3cret-redis-pw", "~*", "&*", "+@all"])
        .exec(&mut admin)
        .unwrap();
    redis::cmd("ACL").arg(&["SETUSER", "default", "off"]).exec(&mut admin).unwrap();
    let master = start_master().await;
    let secrets = tempfile::tempdir().unwrap();
    let app_with = |password: &str| {
        let file = secrets.path().join(password);
        std::fs::write(&file, format!("{password}\n")).unwrap();
        TestAppBuilder::new(master.url.as_str()).toml(&format!(
            "[redis]\nurl = \"{}\"\nusername = \"portico\"\npassword = {{ file = \"{}\" }}\n",
            redis.url(),
            file.display()
        ))
    };

    let app = app_with("s3cret-redis-pw").spawn().await;
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status(), 200);
    assert!(!ready.text().await.unwrap().contains("s3cret"), "no password in /readyz");
    assert_eq!(
        sign_in(&app, "alice", "alice-password").await.status(),
        303,
        "sessions go to Redis as portico"
    );

    let wrong = app_with("not-the-password").spawn().await;
    let ready = wrong.get("/readyz").await;
    assert_eq!(ready.status(), 503);
    let text = ready.text().await.unwrap();
    assert!(!text.contains("not-the-password") && !text.contains("s3cret"), "{text}");
    let refused = sign_in(&wrong, "alice", "alice-password").await;
    assert_eq!(refused.status(), 503, "the session store is unavailable, said plainly");
}

/// A `redis-server` serving TLS only, with a certificate from a test CA; killed on drop.
struct TlsRedis {
    child: std::process::Child,
    port: u16,
    ca_file: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for TlsRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn pem(label: &str, der: &[u8]) -> String {
    use base64::Engine;
    let body = base64::engine::general_purpose::STANDARD.encode(der);
    let lines: Vec<&str> = body.as_bytes().chunks(64).map(|c| std::str::from_utf8(c).unwrap()).collect();
    format!("-----BEGIN {label}-----\n{}\n-----END {label}-----\n", lines.join("\n"))
}

fn tls_redis() -> TlsRedis {
    let cert = crate::support::tls_server::issued_by_test_ca(&["localhost"]);
    let dir = tempfile::tempdir().unwrap();
    let (cert_file, key_file, ca_file) =
        (dir.path().join("cert.pem"), dir.path().join("key.pem"), dir.path().join("ca.pem"));
    std::fs::write(&cert_file, pem("CERTIFICATE", &cert.chain[0])).unwrap();
    std::fs::write(&key_file, pem("PRIVATE KEY", &cert.key_pkcs8)).unwrap();
    std::fs::write(&ca_file, &cert.ca_pem).unwrap();
    let port = crate::support::free_port();
    let child = std::process::Command::new("redis-server")
        .args(["--bind", "127.0.0.1", "--port", "0", "--tls-port", &port.to_string()])
        .arg("--tls-cert-file")
        .arg(&cert_file)
        .arg("--tls-key-file")
        .arg(&key_file)
        .arg("--tls-ca-cert-file")
        .arg(&ca_file)
        .args(["--tls-auth-clients", "no", "--save", "", "--appendonly", "no"])
        .arg("--dir")
        .arg(dir.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("redis-server with TLS");
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "redis-server did not listen for TLS");
        std::thread::sleep(Duration::from_millis(20));
    }
    TlsRedis { child, port, ca_file, _dir: dir }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rediss_with_a_private_ca_is_verified() {
    if crate::support::RedisServer::start("rediss_private_ca").is_none() {
        return;
    }
    let redis = tls_redis();
    let master = start_master().await;
    let url = format!("rediss://localhost:{}", redis.port);
    let trusted = TestAppBuilder::new(master.url.as_str())
        .toml(&format!("[redis]\nurl = \"{url}\"\nca_file = \"{}\"\n", redis.ca_file.display()))
        .spawn()
        .await;
    let ready = trusted.get("/readyz").await;
    assert_eq!(ready.status(), 200, "{}", ready.text().await.unwrap_or_default());
    assert_eq!(sign_in(&trusted, "alice", "alice-password").await.status(), 303, "sessions over TLS");

    // Without the CA, the node's certificate is not trusted: not ready, never a plain fallback.
    let untrusted =
        TestAppBuilder::new(master.url.as_str()).toml(&format!("[redis]\nurl = \"{url}\"\n")).spawn().await;
    assert_eq!(untrusted.get("/readyz").await.status(), 503);
}
