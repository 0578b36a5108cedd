//! Federated sign-in against a real Redis and simulated managers over HTTP: every policy against
//! every failure kind, concurrency seen by the simulators, login protection on a test clock,
//! what lands in Redis and in the logs, session fixation and timeouts, sign-out everywhere.

use std::time::Duration;

use portico::simulator::{Failure, FaultRule, Operation, Simulator};

use crate::support::managers::{requests_without_probes, start_master};
use crate::support::{RedisServer, TestApp, TestAppBuilder, location, set_cookies};

/// A master, slaves `prod-eu` (flavour eu) and `staging`, a private Redis and the app.
use crate::support::Federation as Fixture;

async fn fixture(test: &str, extra: &str) -> Option<Fixture> {
    fixture_with(test, extra, |b| b).await
}

async fn fixture_with(
    test: &str,
    extra: &str,
    adjust: impl FnOnce(TestAppBuilder) -> TestAppBuilder,
) -> Option<Fixture> {
    Fixture::start_with(test, |b| adjust(b.toml(extra))).await
}

async fn environments_page(app: &TestApp) -> String {
    let res = app.get("/environments").await;
    assert_eq!(res.status(), 200, "signed in");
    res.text().await.unwrap()
}

/// The `<li>` of one environment on the environments page.
fn environment_entry(page: &str, id: &str) -> String {
    let start = page.find(&format!("id=\"env-{id}\"")).unwrap_or_else(|| panic!("{id} listed:\n{page}"));
    let rest = &page[start..];
    rest[..rest.find("</li>").unwrap()].to_owned()
}

fn logins(sim: &Simulator) -> usize {
    sim.requests().iter().filter(|r| r.path.ends_with("/login") && r.method == "POST").count()
}

#[tokio::test]
async fn master_policy_signs_in_everywhere_with_a_fresh_session_cookie() {
    let Some(f) = fixture("master_policy_signs_in_everywhere", "").await else { return };
    let res = f.app.sign_in("alice", "alice-password").await;
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), "/");
    let cookies = set_cookies(&res);
    let session = cookies.iter().find(|c| c.starts_with("portico_session=")).expect("session cookie");
    assert!(
        session.contains("HttpOnly") && session.contains("SameSite=Lax") && session.contains("Path=/"),
        "{session}"
    );
    assert!(!session.contains("Secure"), "plain http in this test");
    let value = session.split(';').next().unwrap().trim_start_matches("portico_session=");
    assert!(value.len() >= 22, "128+ bits of id");

    let page = environments_page(&f.app).await;
    for id in ["master", "prod-eu", "staging"] {
        assert!(environment_entry(&page, id).contains("connected"), "{id}:\n{page}");
    }
    assert!(environment_entry(&page, "master").contains("current"));
    for sim in std::iter::once(&f.master).chain(f.slaves()) {
        assert_eq!(sim.open_sessions(), vec!["alice".to_owned()], "one open session per manager");
    }
}

#[tokio::test]
async fn a_wrong_password_is_refused_at_the_master_and_no_slave_is_contacted() {
    let Some(f) = fixture("a_wrong_password_is_refused", "").await else { return };
    let res = f.app.sign_in("alice", "not-her-password").await;
    assert_eq!(res.status(), 401);
    assert!(set_cookies(&res).iter().all(|c| !c.starts_with("portico_session=")));
    assert!(res.text().await.unwrap().contains("Wrong username or password"));
    assert!(f.slaves().iter().all(|s| logins(s) == 0), "slaves untouched");
    assert_eq!(f.app.get("/environments").await.status(), 303, "still signed out");
}

#[tokio::test]
async fn a_master_that_is_down_or_too_slow_is_unavailable_and_counts_no_failure() {
    let Some(f) = fixture("a_master_that_is_down", "[login_protection]\nmax_failures = 2\n").await else {
        return;
    };
    f.master.faults().fail(Operation::Login, Failure::Status { status: 503 });
    for _ in 0..3 {
        let res = f.app.sign_in("alice", "alice-password").await;
        assert_eq!(res.status(), 503);
        assert!(res.text().await.unwrap().contains("master manager is unavailable"));
    }
    f.master.faults().clear();
    f.master.faults().delay(Operation::Login, Duration::from_millis(1500));
    let res = f.app.sign_in("alice", "alice-password").await;
    assert_eq!(res.status(), 503);
    assert!(res.text().await.unwrap().contains("no answer in time"));
    f.master.faults().clear();
    assert_eq!(f.app.sign_in("alice", "alice-password").await.status(), 303, "no lock from unavailability");
}

#[tokio::test]
async fn a_password_change_required_on_the_master_is_explained() {
    let Some(f) = fixture("a_password_change_required", "").await else { return };
    let res = f.app.sign_in("dave", "dave-password").await;
    assert_eq!(res.status(), 409);
    assert!(res.text().await.unwrap().contains("must be changed on the master"));
}

#[tokio::test]
async fn under_master_policy_failed_slaves_are_listed_with_their_reasons() {
    let Some(f) = fixture("under_master_policy_failed_slaves", "").await else { return };
    // prod-eu: the user is unknown there; staging: too slow.
    f.eu.faults().add(FaultRule::new(Operation::Login).failure(Failure::Status { status: 401 }));
    f.staging.faults().delay(Operation::Login, Duration::from_millis(1500));
    let res = f.app.sign_in("alice", "alice-password").await;
    assert_eq!(res.status(), 303);
    let page = environments_page(&f.app).await;
    assert!(environment_entry(&page, "master").contains("connected"));
    assert!(environment_entry(&page, "prod-eu").contains("not known on this environment"), "{page}");
    assert!(environment_entry(&page, "staging").contains("no answer in time"), "{page}");
    assert!(page.contains("Password to connect Staging"), "a reconnect form");
}

#[tokio::test]
async fn a_missing_organization_and_a_down_slave_are_named() {
    let Some(f) =
        fixture_with("a_missing_organization", "", |b| b.slave("gone", "Gone", "http://127.0.0.1:9")).await
    else {
        return;
    };
    let res = f.app.sign_in("frank", "frank-password").await;
    assert_eq!(res.status(), 303);
    let page = environments_page(&f.app).await;
    assert!(
        environment_entry(&page, "prod-eu").contains("organization &#34;Initech&#34; does not exist"),
        "{page}"
    );
    assert!(environment_entry(&page, "gone").contains("connection refused"), "{page}");
}

#[tokio::test]
async fn a_slave_whose_certificate_fails_verification_says_so() {
    let Some(redis) = RedisServer::start("a_slave_whose_certificate_fails") else { return };
    let master = start_master().await;
    let cert = crate::support::tls_server::self_signed(&["localhost"]);
    let tls = crate::support::tls_server::serve(&cert).await;
    let app = TestAppBuilder::new(master.url.as_str())
        .redis(&redis)
        .slave("secure", "Secure", &format!("https://localhost:{}", tls.port()))
        .spawn()
        .await;
    assert_eq!(app.sign_in("alice", "alice-password").await.status(), 303);
    let page = environments_page(&app).await;
    assert!(environment_entry(&page, "secure").contains("certificate verification failed"), "{page}");
}

#[tokio::test]
async fn policy_all_refuses_and_leaves_no_session_open_anywhere() {
    let Some(f) = fixture("policy_all_refuses", "[federation]\nlogin_failure_policy = \"all\"\n").await
    else {
        return;
    };
    f.staging.faults().fail(Operation::Login, Failure::Status { status: 500 });
    let res = f.app.sign_in("alice", "alice-password").await;
    assert_eq!(res.status(), 503);
    assert!(set_cookies(&res).iter().all(|c| !c.starts_with("portico_session=")));
    let body = res.text().await.unwrap();
    assert!(body.contains("Staging") && body.contains("server error 500"), "{body}");
    assert!(f.master.open_sessions().is_empty(), "master session closed");
    assert!(f.eu.open_sessions().is_empty(), "prod-eu session closed");
    assert!(logins(&f.eu) == 1, "prod-eu had been joined");
}

#[tokio::test]
async fn policy_all_with_a_missing_organization_names_it() {
    let Some(f) = fixture("policy_all_missing_org", "[federation]\nlogin_failure_policy = \"all\"\n").await
    else {
        return;
    };
    let res = f.app.sign_in("frank", "frank-password").await;
    assert_eq!(res.status(), 503);
    let body = res.text().await.unwrap();
    assert!(body.contains("Production EU") && body.contains("Initech"), "{body}");
    assert!(f.master.open_sessions().is_empty());
}

#[tokio::test]
async fn a_required_slave_decides_under_the_master_policy() {
    let Some(f) = fixture_with("a_required_slave", "", |b| {
        b.toml("[[slaves]]\nid = \"core\"\nname = \"Core\"\nurl = \"http://127.0.0.1:9\"\nrequired = true\n")
    })
    .await
    else {
        return;
    };
    let res = f.app.sign_in("alice", "alice-password").await;
    assert_eq!(res.status(), 503);
    let body = res.text().await.unwrap();
    assert!(body.contains("Core") && body.contains("connection refused"), "{body}");
    assert!(f.master.open_sessions().is_empty());
    assert!(f.slaves().iter().all(|s| s.open_sessions().is_empty()));
}

#[tokio::test]
async fn policy_any_accepts_one_manager_and_refuses_none() {
    let Some(f) = fixture("policy_any", "[federation]\nlogin_failure_policy = \"any\"\n").await else {
        return;
    };
    for s in f.slaves() {
        s.faults().fail(Operation::Login, Failure::Status { status: 502 });
    }
    assert_eq!(f.app.sign_in("alice", "alice-password").await.status(), 303, "the master alone is enough");
    f.app.sign_out().await;
    // With the master down the slaves cannot authenticate either (they delegate to it).
    f.master.faults().fail(Operation::Login, Failure::Status { status: 503 });
    let res = f.app.sign_in("alice", "alice-password").await;
    assert_eq!(res.status(), 503);
    assert!(f.slaves().iter().all(|s| s.open_sessions().is_empty()));
}

#[tokio::test]
async fn slaves_are_joined_concurrently() {
    let Some(f) = fixture("slaves_are_joined_concurrently", "").await else { return };
    for s in f.slaves() {
        s.faults().delay(Operation::Login, Duration::from_millis(300));
    }
    assert_eq!(f.app.sign_in("alice", "alice-password").await.status(), 303);
    let eu = f.eu.requests().into_iter().find(|r| r.path.ends_with("/login")).unwrap();
    let staging = f.staging.requests().into_iter().find(|r| r.path.ends_with("/login")).unwrap();
    assert!(eu.overlaps(&staging), "the two slave logins were served at the same time");
}

#[tokio::test]
async fn repeated_failures_lock_the_account_until_the_lock_ends() {
    let extra = "[login_protection]\nmax_failures = 3\nwindow = \"15m\"\nlock_duration = \"15m\"\n";
    let Some(f) = fixture("repeated_failures_lock_the_account", extra).await else { return };
    for _ in 0..3 {
        assert_eq!(f.app.sign_in("alice", "wrong").await.status(), 401);
    }
    let before = logins(&f.master);
    let res = f.app.sign_in("alice", "alice-password").await;
    assert_eq!(res.status(), 429, "locked even with the right password");
    assert!(res.headers().get("retry-after").is_some());
    assert!(res.text().await.unwrap().contains("Try again in 15 minutes"));
    assert_eq!(logins(&f.master), before, "a locked account does not reach the master");

    f.clock.advance(Duration::from_secs(14 * 60));
    let res = f.app.sign_in("alice", "alice-password").await;
    assert_eq!(res.status(), 429);
    assert!(res.text().await.unwrap().contains("Try again in 1 minute."));

    f.clock.advance(Duration::from_secs(61));
    assert_eq!(f.app.sign_in("alice", "alice-password").await.status(), 303, "unlocked");
}

#[tokio::test]
async fn a_success_resets_the_counter() {
    let Some(f) = fixture("a_success_resets_the_counter", "[login_protection]\nmax_failures = 3\n").await
    else {
        return;
    };
    for _ in 0..2 {
        f.app.sign_in("alice", "wrong").await;
    }
    assert_eq!(f.app.sign_in("alice", "alice-password").await.status(), 303);
    f.app.sign_out().await;
    for _ in 0..2 {
        assert_eq!(f.app.sign_in("alice", "wrong").await.status(), 401, "counting from zero again");
    }
}

/// The page with every `csrf_token` value blanked (they differ on every render).
fn without_tokens(page: &str) -> String {
    let marker = "name=\"csrf_token\" value=\"";
    let mut out = String::new();
    let mut rest = page;
    while let Some(at) = rest.find(marker) {
        let (head, tail) = rest.split_at(at + marker.len());
        out.push_str(head);
        rest = &tail[tail.find('"').unwrap_or(0)..];
    }
    out.push_str(rest);
    out
}

#[tokio::test]
async fn unknown_and_known_usernames_get_identical_answers_and_locks() {
    let Some(f) = fixture("unknown_and_known_usernames", "[login_protection]\nmax_failures = 2\n").await
    else {
        return;
    };
    let known = f.app.sign_in("alice", "wrong").await;
    let unknown = f.app.sign_in("no-such-user", "wrong").await;
    assert_eq!(known.status(), unknown.status());
    let (known, unknown) = (known.text().await.unwrap(), unknown.text().await.unwrap());
    assert_eq!(
        without_tokens(&known).replace("alice", "USER"),
        without_tokens(&unknown).replace("no-such-user", "USER"),
        "same page apart from the echoed username"
    );
    let known = f.app.sign_in("alice", "wrong").await;
    let unknown = f.app.sign_in("no-such-user", "wrong").await;
    assert_eq!((known.status().as_u16(), unknown.status().as_u16()), (401, 401));
    let known = f.app.sign_in("alice", "wrong").await;
    let unknown = f.app.sign_in("no-such-user", "wrong").await;
    assert_eq!((known.status().as_u16(), unknown.status().as_u16()), (429, 429), "both locked alike");
}

/// A failed sign-in as `user` that a proxy forwarded for `xff`; returns the status.
async fn failed_sign_in_from(app: &TestApp, xff: &str, user: &str) -> u16 {
    let token = app.csrf_token("/login").await;
    app.client
        .post(app.url("/login"))
        .header("x-forwarded-for", xff)
        .form(&[("username", user), ("password", "wrong"), ("csrf_token", token.as_str())])
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn addresses_are_locked_behind_a_trusted_proxy_only() {
    let extra = "[login_protection]\nlock_by_ip = true\nmax_failures_per_ip = 3\nmax_failures = 100\n";
    let Some(f) = fixture("addresses_are_locked", extra).await else { return };
    let from = |xff: &'static str, user: &'static str| failed_sign_in_from(&f.app, xff, user);
    // Without trusted proxies the header is ignored: every attempt counts for 127.0.0.1.
    assert_eq!(from("198.51.100.1", "u1").await, 401);
    assert_eq!(from("198.51.100.2", "u2").await, 401);
    assert_eq!(from("198.51.100.3", "u3").await, 401);
    assert_eq!(from("198.51.100.4", "u4").await, 429, "the peer address is locked");
    drop(f);

    let Some(f) =
        fixture_with("addresses_are_locked_trusted", extra, |b| b.trusted_proxies(&["127.0.0.1/32"])).await
    else {
        return;
    };
    let from = |xff: &'static str, user: &'static str| failed_sign_in_from(&f.app, xff, user);
    for user in ["a1", "a2", "a3"] {
        assert_eq!(from("198.51.100.7", user).await, 401);
    }
    assert_eq!(from("198.51.100.7", "a4").await, 429, "that client address is locked");
    assert_eq!(from("203.0.113.5", "a5").await, 401, "another client behind the same proxy is not");
}

#[tokio::test]
async fn neither_the_password_nor_a_manager_cookie_is_in_redis_or_the_logs() {
    let Some(f) = fixture("neither_the_password_nor_a_manager_cookie", "").await else { return };
    let res = f.app.sign_in("alice", "alice-password").await;
    let portal_cookie = set_cookies(&res)
        .iter()
        .find_map(|c| c.strip_prefix("portico_session=").map(|v| v.split(';').next().unwrap().to_owned()))
        .unwrap();
    let manager_cookies: Vec<String> =
        std::iter::once(&f.master).chain(f.slaves()).flat_map(|s| s.session_cookies()).collect();
    assert_eq!(manager_cookies.len(), 3);
    let dump = f.redis.dump();
    assert!(!dump.is_empty());
    for (key, value) in &dump {
        let text = String::from_utf8_lossy(value);
        for needle in ["alice-password", portal_cookie.as_str()]
            .iter()
            .copied()
            .chain(manager_cookies.iter().map(String::as_str))
        {
            assert!(!key.contains(needle) && !text.contains(needle), "{needle:?} found in Redis at {key}");
        }
        assert!(!key.contains("alice"), "usernames are hashed in keys: {key}");
    }
    assert!(dump.iter().any(|(k, _)| k.contains(":session:")), "the session is in Redis");
    let logs = crate::support::logs::text();
    assert!(!logs.contains("alice-password"), "password in logs");
    for c in &manager_cookies {
        assert!(!logs.contains(c.as_str()), "manager cookie in logs");
    }
    let leaked: Vec<&str> = logs.lines().filter(|l| l.contains(portal_cookie.as_str())).collect();
    assert!(leaked.is_empty(), "portal session id in logs: {leaked:?}");
}

#[tokio::test]
async fn session_fixation_forgery_tampering_and_expiry_mean_signed_out() {
    let Some(f) = fixture_with("session_fixation", "", |b| b.set("session.absolute_timeout", "12h")).await
    else {
        return;
    };
    // A planted, well-formed cookie is not adopted.
    let planted = "A".repeat(43);
    let res = f
        .app
        .client
        .post(f.app.url("/login"))
        .header("cookie", format!("portico_session={planted}"))
        .form(&[("username", "alice"), ("password", "alice-password")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403, "no csrf token: refused");
    let res = f.app.sign_in("alice", "alice-password").await;
    let issued = set_cookies(&res).into_iter().find(|c| c.starts_with("portico_session=")).unwrap();
    assert!(!issued.contains(&planted), "a new id is issued");
    assert_eq!(f.app.get("/environments").await.status(), 200);

    let value = issued.split(';').next().unwrap().trim_start_matches("portico_session=").to_owned();
    let with_cookie = |v: String| {
        let app = &f.app;
        async move {
            reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap()
                .get(app.url("/environments"))
                .header("cookie", format!("portico_session={v}"))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(with_cookie(value.clone()).await, 200, "the real cookie works from another client");
    let mut tampered = value.clone().into_bytes();
    tampered[10] = if tampered[10] == b'A' { b'B' } else { b'A' };
    assert_eq!(with_cookie(String::from_utf8(tampered).unwrap()).await, 303, "tampered");
    assert_eq!(with_cookie("not-a-session".to_owned()).await, 303, "malformed");
    assert_eq!(with_cookie("x".repeat(5000)).await, 303, "oversized");
    assert_eq!(with_cookie("B".repeat(43)).await, 303, "forged");

    f.clock.advance(Duration::from_secs(12 * 3600 + 1));
    assert_eq!(with_cookie(value).await, 303, "past the absolute timeout");
    assert_eq!(location(&f.app.get("/environments").await), "/login?return_to=%2Fenvironments");
}

#[tokio::test]
async fn the_idle_timeout_ends_an_unused_session() {
    let Some(f) = fixture_with("the_idle_timeout", "", |b| b.set("session.idle_timeout", "1s")).await else {
        return;
    };
    assert_eq!(f.app.sign_in("alice", "alice-password").await.status(), 303);
    assert_eq!(f.app.get("/environments").await.status(), 200);
    // Redis expires the idle session by itself; wait for that (bounded).
    let mut signed_out = false;
    for _ in 0..40 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if f.redis.dump().iter().all(|(k, _)| !k.contains(":session:")) {
            signed_out = true;
            break;
        }
    }
    assert!(signed_out, "the session expired in Redis");
    // At once, though a copy read a moment ago is within its window.
    assert_eq!(f.app.get("/environments").await.status(), 303);
}

#[tokio::test]
async fn sign_out_ends_every_manager_session_even_with_a_manager_down() {
    let Some(f) = fixture("sign_out_ends_every_manager_session", "").await else { return };
    assert_eq!(f.app.sign_in("alice", "alice-password").await.status(), 303);
    f.staging.faults().fail(Operation::Logout, Failure::Hang);
    let res = f.app.sign_out().await;
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), "/login");
    assert!(set_cookies(&res).iter().any(|c| c.starts_with("portico_session=;") || c.contains("Max-Age=0")));
    assert!(f.master.open_sessions().is_empty());
    assert!(f.eu.open_sessions().is_empty());
    assert_eq!(f.app.get("/environments").await.status(), 303, "signed out locally whatever staging does");
    assert!(f.redis.dump().iter().all(|(k, _)| !k.contains(":session:")));
}

#[tokio::test]
async fn forms_without_the_right_token_are_refused() {
    let Some(f) = fixture("forms_without_the_right_token", "").await else { return };
    let res = f.app.post_form("/login", &[("username", "alice"), ("password", "alice-password")]).await;
    assert_eq!(res.status(), 403);
    f.app.csrf_token("/login").await;
    let res = f
        .app
        .post_form(
            "/login",
            &[("username", "alice"), ("password", "alice-password"), ("csrf_token", "forged")],
        )
        .await;
    assert_eq!(res.status(), 403);
    assert_eq!(requests_without_probes(&f.master).len(), 0, "nothing reached a manager");
    assert_eq!(f.app.sign_in("alice", "alice-password").await.status(), 303);
    assert_eq!(f.app.post_form("/logout", &[("csrf_token", "forged")]).await.status(), 403);
    assert_eq!(f.app.get("/environments").await.status(), 200, "still signed in");
}

#[tokio::test]
async fn return_to_is_honoured_for_local_paths_only() {
    let Some(f) = fixture("return_to_is_honoured", "").await else { return };
    let res = f.app.get("/environments").await;
    assert_eq!(location(&res), "/login?return_to=%2Fenvironments");
    for (target, expected) in
        [("/environments", "/environments"), ("https://evil.example/", "/"), ("//evil.example", "/")]
    {
        let token = f.app.csrf_token("/login").await;
        let res = f
            .app
            .post_form(
                "/login",
                &[
                    ("username", "alice"),
                    ("password", "alice-password"),
                    ("csrf_token", &token),
                    ("return_to", target),
                ],
            )
            .await;
        assert_eq!(location(&res), expected, "{target}");
        f.app.sign_out().await;
    }
}

#[tokio::test]
async fn an_unavailable_environment_can_be_reconnected_with_the_password() {
    let Some(f) = fixture("an_unavailable_environment_can_be_reconnected", "").await else { return };
    f.eu.faults().fail(Operation::Login, Failure::Status { status: 503 });
    assert_eq!(f.app.sign_in("alice", "alice-password").await.status(), 303);
    assert!(environment_entry(&environments_page(&f.app).await, "prod-eu").contains("server error 503"));
    f.eu.faults().clear();

    let token = f.app.csrf_token("/environments").await;
    let res = f
        .app
        .post_form("/environments/prod-eu/connect", &[("password", "wrong"), ("csrf_token", &token)])
        .await;
    assert_eq!(res.status(), 303);
    let page = environments_page(&f.app).await;
    assert!(page.contains("Production EU could not be joined"), "{page}");

    let res = f
        .app
        .post_form("/environments/prod-eu/connect", &[("password", "alice-password"), ("csrf_token", &token)])
        .await;
    assert_eq!(res.status(), 303);
    let page = environments_page(&f.app).await;
    assert!(page.contains("Connected to Production EU"), "{page}");
    assert!(environment_entry(&page, "prod-eu").contains("connected"));
    assert_eq!(f.eu.open_sessions(), vec!["alice".to_owned()]);
    let res =
        f.app.post_form("/environments/nowhere/connect", &[("password", "x"), ("csrf_token", &token)]).await;
    assert_eq!(res.status(), 404);
}
