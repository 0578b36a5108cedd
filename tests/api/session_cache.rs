//! The in-process session copy (a session read less than a second ago is not read from Redis
//! again, only confirmed with one `GETRANGE` of the stored value's stamp) against two replicas
//! sharing one Redis: a sign-out or a rewrite on one replica is seen by the other at once — even
//! by a replica that hears no change notification at all — the idle timeout still slides and
//! still ends a session — at once, not at the end of the copy's window — and repeated calls
//! cost one `GETRANGE` each and no read. Every test keeps its clocks still unless it says so, so
//! a copy can only go because it was dropped, its session is gone or was rewritten, never because
//! its window ran out.

use std::collections::BTreeMap;
use std::time::Duration;

use portico::clock::{Clock, ManualClock};
use portico::simulator::Simulator;
use portico::store::SESSION_FRESH_FOR;

use crate::support::managers::{start_master, start_slave};
use crate::support::{RedisServer, TestApp, TestAppBuilder, set_cookies};

const API: &str = "/api/portal/v1.3";

struct Replicas {
    a: TestApp,
    b: TestApp,
    b_clock: ManualClock,
    master: Simulator,
    eu: Simulator,
    redis: RedisServer,
}

async fn replicas(test: &str) -> Option<Replicas> {
    replicas_where(test, Hearing::Both).await
}

/// Whether replica B hears the change notifications.
#[derive(PartialEq)]
enum Hearing {
    Both,
    /// B's Redis user may do anything but pub/sub: it never hears that a session changed (nor
    /// can it tell A anything), so only the store itself can tell it.
    BIsDeaf,
}

async fn replicas_where(test: &str, hearing: Hearing) -> Option<Replicas> {
    replicas_with(test, hearing, None).await
}

/// [`replicas_where`]; with a `session.revocation_window`, the replicas run on one clock, so that
/// what one waits on it the other sees pass.
async fn replicas_with(test: &str, hearing: Hearing, window: Option<&str>) -> Option<Replicas> {
    let redis = RedisServer::start(test)?;
    if hearing == Hearing::BIsDeaf {
        let _: () = redis::cmd("ACL")
            .arg(&["SETUSER", "deaf", "on", ">deaf-password", "~*", "&*", "+@all", "-@pubsub"])
            .query(&mut redis.client())
            .unwrap();
    }
    let master = start_master().await;
    let eu = start_slave("eu", &master.url).await;
    let builder = |redis: &RedisServer| {
        TestAppBuilder::new(master.url.as_str())
            .redis(redis)
            .slave("prod-eu", "Production EU", eu.url.as_str())
            .timeouts("1s", "1s")
    };
    let mut first = builder(&redis);
    let mut second = builder(&redis).same_prefix_as(&first);
    if let Some(window) = window {
        first = first.set("session.revocation_window", window);
        second = second.set("session.revocation_window", window).with_clock(first.clock());
    }
    if hearing == Hearing::BIsDeaf {
        second = second.set("redis.username", "deaf").set("redis.password", "deaf-password");
    }
    let b_clock = second.clock();
    let a = first.spawn().await;
    let b = second.spawn().await;
    Some(Replicas { a, b, b_clock, master, eu, redis })
}

/// Signs `alice` in on `app`; returns the `Cookie` header of her portal session.
async fn sign_in(app: &TestApp) -> String {
    let res = app.sign_in("alice", "alice-password").await;
    assert_eq!(res.status(), 303);
    let cookie = set_cookies(&res).into_iter().find(|c| c.starts_with("portico_session=")).unwrap();
    cookie.split(';').next().unwrap().to_owned()
}

/// A call to `app` with `cookie`, from a client of its own (no cookie jar).
async fn get(app: &TestApp, path: &str, cookie: &str) -> reqwest::Response {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(app.url(path))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap()
}

fn echo_calls(sim: &Simulator) -> usize {
    sim.requests().iter().filter(|r| r.path.contains("/__echo")).count()
}

fn session_key(redis: &RedisServer) -> String {
    let keys: Vec<String> = redis::cmd("KEYS").arg("*:session:*").query(&mut redis.client()).unwrap();
    assert_eq!(keys.len(), 1, "one session: {keys:?}");
    keys.into_iter().next().unwrap()
}

fn pttl(redis: &RedisServer, key: &str) -> i64 {
    redis::cmd("PTTL").arg(key).query(&mut redis.client()).unwrap()
}

fn calls_by_command(redis: &RedisServer) -> BTreeMap<String, u64> {
    // (Not the test's own INFO, nor the PINGs with which the store keeps its connections alive.)
    redis.commands().into_iter().filter(|(name, _)| name != "info" && name != "ping").collect()
}

/// The commands run since `before`, by name.
fn commands_since(redis: &RedisServer, before: &BTreeMap<String, u64>) -> Vec<(String, u64)> {
    calls_by_command(redis)
        .into_iter()
        .map(|(name, n)| (name.clone(), n - before.get(&name).copied().unwrap_or(0)))
        .filter(|(_, n)| *n > 0)
        .collect()
}

#[tokio::test]
async fn signing_out_on_one_replica_refuses_the_session_on_the_other_at_once() {
    let Some(r) = replicas("sign_out_on_one_replica").await else { return };
    let cookie = sign_in(&r.a).await;
    let routed = format!("{API}/discovery/apis");
    assert_eq!(get(&r.b, &routed, &cookie).await.status(), 200, "the other replica serves the session");
    let before = calls_by_command(&r.redis);
    assert_eq!(get(&r.b, &routed, &cookie).await.status(), 200);
    assert_eq!(
        commands_since(&r.redis, &before),
        [("getrange".to_owned(), 1)],
        "and keeps it in memory, asking Redis only whether it is still the value it read"
    );

    assert_eq!(r.a.sign_out().await.status(), 303);
    let res = get(&r.b, &routed, &cookie).await;
    assert_eq!(res.status(), 401, "refused on the other replica at once, its clock unmoved");
    assert_eq!(get(&r.b, "/environments", &cookie).await.status(), 303, "pages too");
    assert_eq!(get(&r.a, &routed, &cookie).await.status(), 401);
}

#[tokio::test]
async fn an_environment_switch_on_one_replica_is_routed_at_once_on_the_other_though_it_hears_nothing() {
    let Some(r) = replicas_where("environment_switch_on_one_replica", Hearing::BIsDeaf).await else { return };
    let cookie = sign_in(&r.a).await;
    let echo = format!("{API}/__echo/which");
    assert_eq!(get(&r.b, &echo, &cookie).await.status(), 200);
    assert_eq!((echo_calls(&r.master), echo_calls(&r.eu)), (1, 0), "the master is current");

    let token = r.a.csrf_token("/environments").await;
    let res =
        r.a.post_form("/environments/select", &[("environment", "prod-eu"), ("csrf_token", &token)]).await;
    assert_eq!(res.status(), 303);
    assert_eq!(get(&r.b, &echo, &cookie).await.status(), 200);
    assert_eq!(
        (echo_calls(&r.master), echo_calls(&r.eu)),
        (1, 1),
        "the switch is seen on the other replica at its next call, its clock unmoved"
    );
    assert_eq!(get(&r.a, &echo, &cookie).await.status(), 200);
    assert_eq!((echo_calls(&r.master), echo_calls(&r.eu)), (1, 2), "and on this one");
}

#[tokio::test]
async fn a_manager_ending_its_session_is_seen_on_the_other_replica_though_it_hears_nothing() {
    let Some(r) = replicas_where("manager_session_ended_on_one_replica", Hearing::BIsDeaf).await else {
        return;
    };
    let cookie = sign_in(&r.a).await;
    let routed = format!("{API}/discovery/apis");
    assert_eq!(get(&r.b, &routed, &cookie).await.status(), 200, "the other replica holds a copy");
    assert_eq!(r.master.end_sessions("alice"), 1);
    assert_eq!(get(&r.a, &routed, &cookie).await.status(), 401, "the manager's 401, passed through");
    let res = get(&r.b, &routed, &cookie).await;
    assert_eq!(res.status(), 409, "the other replica knows the environment needs reconnecting");
    let body: serde_json::Value = res.json().await.unwrap();
    assert!(body["errors"][0]["message"].as_str().unwrap().contains("not connected"), "{body}");
}

/// With a revocation window (the default outside these tests), on one clock: B serves its copy
/// without asking Redis anything while the window runs, and an environment switch or a sign-out
/// on A waits the window out on that clock before it answers, so that B, deaf, routes to the new
/// environment and refuses the ended session at its next call.
#[tokio::test]
async fn with_a_revocation_window_a_deaf_replica_asks_nothing_and_changes_wait_the_window_out() {
    let test = "revocation_window_on_one_clock";
    let Some(r) = replicas_with(test, Hearing::BIsDeaf, Some("100ms")).await else { return };
    let waited_since = |at: std::time::SystemTime| r.b_clock.now().duration_since(at).unwrap();
    let cookie = sign_in(&r.a).await;
    let echo = format!("{API}/__echo/which");
    assert_eq!(get(&r.b, &echo, &cookie).await.status(), 200, "B reads the session");
    let before = calls_by_command(&r.redis);
    for _ in 0..5 {
        assert_eq!(get(&r.b, &echo, &cookie).await.status(), 200);
    }
    assert_eq!(commands_since(&r.redis, &before), [], "within the window B asks Redis nothing");
    assert_eq!((echo_calls(&r.master), echo_calls(&r.eu)), (6, 0));

    let asked = r.b_clock.now();
    let token = r.a.csrf_token("/environments").await;
    let res =
        r.a.post_form("/environments/select", &[("environment", "prod-eu"), ("csrf_token", &token)]).await;
    assert_eq!(res.status(), 303);
    assert!(
        waited_since(asked) >= Duration::from_millis(100),
        "the switch waited: {:?}",
        waited_since(asked)
    );
    assert_eq!(get(&r.b, &echo, &cookie).await.status(), 200);
    assert_eq!((echo_calls(&r.master), echo_calls(&r.eu)), (6, 1), "B routes the switch at its next call");

    let asked = r.b_clock.now();
    assert_eq!(r.a.sign_out().await.status(), 303);
    assert!(
        waited_since(asked) >= Duration::from_millis(100),
        "the sign-out waited: {:?}",
        waited_since(asked)
    );
    assert_eq!(get(&r.b, &echo, &cookie).await.status(), 401, "B refuses the session at its next call");
}

#[tokio::test]
async fn the_idle_timeout_still_slides_and_still_ends_the_session() {
    let Some(r) = replicas("idle_timeout_slides").await else { return };
    let cookie = sign_in(&r.a).await;
    let routed = format!("{API}/discovery/apis");
    assert_eq!(get(&r.b, &routed, &cookie).await.status(), 200);
    let key = session_key(&r.redis);
    let idle = 30 * 60 * 1000;
    assert!(pttl(&r.redis, &key) > 60_000 && pttl(&r.redis, &key) <= idle);

    // Make the session's idle time nearly used up, as if the user had paused.
    let _: i64 = redis::cmd("PEXPIRE").arg(&key).arg(60_000).query(&mut r.redis.client()).unwrap();
    assert_eq!(get(&r.b, &routed, &cookie).await.status(), 200);
    assert!(pttl(&r.redis, &key) <= 60_000, "within the window the copy is served: nothing slid yet");
    r.b_clock.advance(SESSION_FRESH_FOR);
    assert_eq!(get(&r.b, &routed, &cookie).await.status(), 200);
    assert!(pttl(&r.redis, &key) > 60_000, "the first call after the window slides the idle timeout");

    // Redis ends the session when its idle time is up, as it would after 30 idle minutes.
    let _: i64 = redis::cmd("PEXPIRE").arg(&key).arg(1).query(&mut r.redis.client()).unwrap();
    let mut gone = false;
    for _ in 0..100 {
        let exists: i64 = redis::cmd("EXISTS").arg(&key).query(&mut r.redis.client()).unwrap();
        if exists == 0 {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(gone, "Redis expired the session");
    assert_eq!(
        get(&r.b, &routed, &cookie).await.status(),
        401,
        "the session is over at once, though B's copy is within its window"
    );
    assert_eq!(get(&r.a, &routed, &cookie).await.status(), 401);
}
