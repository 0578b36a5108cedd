//! The environment picker: states with reasons, health from the background monitor, choosing an
//! environment (joined only, with the form token) and the choice remembered at the next sign-in.

use std::time::Duration;

use portico::simulator::{Failure, FaultRule, Operation};

use super::{environment_entry, fixture, fixture_with};
use crate::support::location;

#[tokio::test]
async fn the_picker_shows_states_reasons_health_and_the_current_environment() {
    let Some(f) = fixture_with("the_picker_shows_states", |b| {
        b.slave("gone", "Gone", "http://127.0.0.1:9").toml("[federation]\nlabel = \"Region\"\n")
    })
    .await
    else {
        return;
    };
    // prod-eu does not know the account this time; "gone" refuses connections.
    f.eu.faults().add(FaultRule::new(Operation::Login).failure(Failure::Status { status: 401 }).times(1));
    f.sign_in("alice").await;
    f.app.state.health().probe_all(f.app.state.environments(), f.app.state.clock()).await;

    let (status, page) = f.page("/environments").await;
    assert_eq!(status, 200);
    assert!(page.contains("<h1 id=\"env-title\">Region</h1>"), "the public label is the heading:\n{page}");
    assert!(page.contains("<title>Region · Portico</title>"));

    let master = environment_entry(&page, "master");
    assert!(master.contains(">current<") && master.contains(">connected<"), "{master}");
    assert!(master.contains("Health: up"), "{master}");
    assert!(master.contains("href=\"/environments/master/apis\""), "the current one opens: {master}");

    let staging = environment_entry(&page, "staging");
    assert!(!staging.contains(">current<") && staging.contains(">connected<"), "{staging}");
    assert!(staging.contains("Health: up") && staging.contains("value=\"staging\""), "{staging}");

    let eu = environment_entry(&page, "prod-eu");
    assert!(eu.contains(">unavailable<") && eu.contains("not known on this environment"), "{eu}");
    assert!(eu.contains("Health: up"), "the manager answers even though this user is not joined: {eu}");
    assert!(eu.contains("action=\"/environments/prod-eu/connect\""), "a reconnect form: {eu}");

    let gone = environment_entry(&page, "gone");
    assert!(gone.contains(">unavailable<") && gone.contains("connection refused"), "{gone}");
    assert!(gone.contains("health down") && gone.contains("Health: down · connection refused"), "{gone}");
    assert!(!gone.contains("/connect"), "no password form for a manager that is down: {gone}");

    // The header's switcher offers the joined environments; the others are shown disabled.
    assert!(page.contains("<option value=\"master\" selected>Main</option>"), "{page}");
    assert!(page.contains("<option value=\"gone\" disabled>Gone (unavailable)</option>"), "{page}");
}

#[tokio::test]
async fn the_health_monitor_probes_at_start_and_sees_a_manager_go_down() {
    let Some(f) = fixture("the_health_monitor_probes_at_start").await else { return };
    // The first round runs when the application starts, without waiting for an interval.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while f.app.state.health().snapshot().len() < 3 {
        assert!(
            std::time::Instant::now() < deadline,
            "no first probe: {:?}",
            f.app.state.health().snapshot()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let before = f.app.state.health().snapshot();
    assert!(before.values().all(|h| h.up && h.latency.is_some() && h.last_error.is_none()), "{before:?}");
    let probes = f.eu.requests().iter().filter(|r| crate::support::managers::is_health_probe(r)).count();
    assert_eq!(probes, 1, "one unauthenticated probe");

    f.clock.advance(Duration::from_secs(60));
    let _refusing = crate::support::managers::stop_refusing(f.eu).await;
    let app = &f.app;
    let id = portico::domain::EnvironmentId::parse("prod-eu").unwrap();
    // A keep-alive connection opened before the stop can still carry one answer; the next
    // probes see the manager gone (bounded).
    let mut health = None;
    for _ in 0..20 {
        app.state.health().probe_all(app.state.environments(), app.state.clock()).await;
        let now = app.state.health().get(&id).unwrap();
        if !now.up {
            health = Some(now);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let health = health.expect("the stopped manager is seen down");
    assert!(!health.up && health.latency.is_none(), "{health:?}");
    // Usually "connection refused"; on a loaded machine the stopped server's socket can linger
    // long enough for the probe to time out, or a kept-alive connection is closed under the
    // probe. Either way the manager is down with a reason.
    assert!(
        health.last_error.as_deref().is_some_and(|r| r == "connection refused"
            || r.starts_with("no answer")
            || r.ends_with("the connection was closed")),
        "{health:?}"
    );
    assert_eq!(health.checked_at, app.state.clock().now(), "stamped with the application's clock");
    assert!(app.state.health().get(&portico::domain::EnvironmentId::master()).unwrap().up);
}

#[tokio::test]
async fn only_a_joined_environment_can_be_selected_and_only_with_the_form_token() {
    let Some(f) = fixture("only_a_joined_environment_can_be_selected").await else { return };
    f.eu.faults().add(FaultRule::new(Operation::Login).failure(Failure::Status { status: 503 }).times(1));
    f.sign_in("alice").await;
    assert_eq!(location(&f.app.get("/").await), "/environments/master/apis", "/ opens the current catalog");
    let token = f.token().await;

    let select = |environment: &'static str, token: String| {
        let app = &f.app;
        async move {
            app.post_form("/environments/select", &[("environment", environment), ("csrf_token", &token)])
                .await
        }
    };
    assert_eq!(select("staging", String::new()).await.status(), 403, "no token");
    assert_eq!(select("staging", "forged".to_owned()).await.status(), 403, "a wrong token");
    assert_eq!(location(&f.app.get("/").await), "/environments/master/apis", "nothing changed");

    let res = select("staging", token.clone()).await;
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), "/environments/staging/apis");
    assert_eq!(location(&f.app.get("/").await), "/environments/staging/apis");
    let (_, page) = f.page("/environments").await;
    assert!(environment_entry(&page, "staging").contains(">current<"), "{page}");
    assert!(!environment_entry(&page, "master").contains(">current<"));

    let res = select("prod-eu", token.clone()).await;
    assert_eq!(res.status(), 303, "refused back to the picker");
    assert_eq!(location(&res), "/environments");
    let (_, page) = f.page("/environments").await;
    assert!(
        page.contains("Production EU is not connected: environment unavailable (server error 503)."),
        "the reason is given: {page}"
    );
    assert!(environment_entry(&page, "staging").contains(">current<"), "still staging");

    assert_eq!(select("nowhere", token.clone()).await.status(), 404);
    assert_eq!(select("Not An Id", token).await.status(), 404);
}

#[tokio::test]
async fn the_choice_is_remembered_for_the_next_sign_in_under_a_hashed_key() {
    let Some(f) = fixture("the_choice_is_remembered").await else { return };
    f.sign_in("alice").await;
    let token = f.token().await;
    let res =
        f.app.post_form("/environments/select", &[("environment", "prod-eu"), ("csrf_token", &token)]).await;
    assert_eq!(res.status(), 303);
    assert_eq!(f.app.sign_out().await.status(), 303);

    f.sign_in("alice").await;
    assert_eq!(location(&f.app.get("/").await), "/environments/prod-eu/apis", "picked up again");

    let preferences: Vec<(String, Vec<u8>)> =
        f.redis.dump().into_iter().filter(|(k, _)| k.contains("pref:env:")).collect();
    assert_eq!(preferences.len(), 1, "one preference: {preferences:?}");
    let (key, value) = &preferences[0];
    assert_eq!(value, b"prod-eu");
    assert!(!key.to_lowercase().contains("alice"), "no username in the key: {key}");
    let ttl: i64 = redis::cmd("TTL").arg(key).query(&mut f.redis.client()).unwrap();
    assert!(ttl > 30 * 24 * 3600, "kept for months, not minutes: {ttl} s");
    for (key, _) in f.redis.dump() {
        assert!(!key.contains("alice"), "usernames are never in keys: {key}");
    }

    // Another user is not affected.
    f.app.sign_out().await;
    f.sign_in("bob").await;
    assert_eq!(location(&f.app.get("/").await), "/environments/master/apis");
    f.app.sign_out().await;

    // A remembered environment that cannot be joined this time falls back to the master.
    f.eu.faults().fail(Operation::Login, Failure::Status { status: 503 });
    f.sign_in("alice").await;
    assert_eq!(location(&f.app.get("/").await), "/environments/master/apis");
}

#[tokio::test]
async fn a_password_is_asked_only_where_it_can_help() {
    let Some(f) = fixture("a_password_only_where_it_helps").await else { return };
    // frank's organization, Initech, exists on the master only.
    f.sign_in("frank").await;
    let page = f.page("/environments").await.1;
    for id in ["prod-eu", "staging"] {
        let entry = environment_entry(&page, id);
        assert!(entry.contains(">unavailable<") && entry.contains("Initech"), "{entry}");
        assert!(!entry.contains("/connect"), "a password cannot create an organization: {entry}");
    }
    // A session the manager ended: connecting again helps, the form is there.
    assert_eq!(f.master.end_sessions("frank"), 1);
    let routed = f.app.get("/api/portal/v1.3/discovery/apis").await;
    assert_eq!(routed.status(), 401);
    let page = f.page("/environments").await.1;
    let master = environment_entry(&page, "master");
    assert!(
        master.contains("your session there has ended") && master.contains("/environments/master/connect"),
        "{master}"
    );
}
