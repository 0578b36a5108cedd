//! A user's own sessions, against a real Redis and two replicas: the list (when, how, from what,
//! which environments, this one), ending one or all the others — refused on the other replica at
//! the next request, their manager sessions ended — a reference that is not yours, sessions that
//! expire on their own, and the cap on sessions per user.

use std::time::Duration;

use portico::clock::ManualClock;
use portico::simulator::Simulator;

use crate::support::consumers::{
    session_references as references, session_row as row, signed_in_browser as browser,
};
use crate::support::managers::{start_master, start_slave};
use crate::support::{RedisServer, TestApp, TestAppBuilder, csrf_in};

struct Replicas {
    a: TestApp,
    b: TestApp,
    master: Simulator,
    _eu: Simulator,
    clock: ManualClock,
    _redis: RedisServer,
}

async fn replicas(test: &str, cap: Option<&str>) -> Option<Replicas> {
    let redis = RedisServer::start(test)?;
    let master = start_master().await;
    let eu = start_slave("eu", &master.url).await;
    let builder = || {
        let b = TestAppBuilder::new(master.url.as_str())
            .redis(&redis)
            .admin("root", "root-password-123")
            .slave("prod-eu", "Production EU", eu.url.as_str())
            .timeouts("1s", "1s");
        match cap {
            Some(cap) => b.set("session.max_per_user", cap),
            None => b,
        }
    };
    let first = builder();
    let clock = first.clock();
    let second = builder().same_prefix_as(&first).with_clock(clock.clone());
    let (a, b) = (first.spawn().await, second.spawn().await);
    Some(Replicas { a, b, master, _eu: eu, clock, _redis: redis })
}

async fn page(client: &reqwest::Client, app: &TestApp, path: &str) -> (u16, String) {
    let res = client.get(app.url(path)).send().await.unwrap();
    (res.status().as_u16(), res.text().await.unwrap())
}

async fn post(client: &reqwest::Client, app: &TestApp, path: &str, token: &str) -> u16 {
    client.post(app.url(path)).form(&[("csrf_token", token)]).send().await.unwrap().status().as_u16()
}

#[tokio::test]
async fn a_user_sees_every_session_and_ends_one_then_the_others_on_every_replica() {
    let Some(r) = replicas("user_sessions", None).await else { return };
    let firefox = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";
    let first = browser(&r.a, "alice", firefox).await;
    r.clock.advance(Duration::from_secs(60));
    let second = browser(&r.b, "alice", "curl/8.5.0").await;
    r.clock.advance(Duration::from_secs(60));
    let third = browser(&r.a, "alice", "Mozilla/5.0 (Windows NT 10.0) Chrome/126.0 Safari/537.36").await;

    let (status, list) = page(&first, &r.a, "/account/sessions").await;
    assert_eq!(status, 200);
    let refs = references(&list);
    assert_eq!(refs.len(), 3, "three sessions:\n{list}");
    assert_eq!(list.matches("this session").count(), 1);
    assert!(
        row(&list, &refs[0]).contains("this session") && row(&list, &refs[0]).contains("Firefox on Linux")
    );
    assert!(row(&list, &refs[1]).contains("curl") && row(&list, &refs[1]).contains("127.0.0.x"));
    assert!(row(&list, &refs[2]).contains("Chrome on Windows"));
    assert!(
        row(&list, &refs[1]).contains("password") && row(&list, &refs[1]).contains("Main, Production EU")
    );

    // Ending the second (signed in on the other replica): refused there at the next request,
    // and its manager sessions are closed.
    let token = csrf_in(&list).unwrap();
    let open_before = r.master.open_sessions().len();
    assert_eq!(post(&first, &r.a, &format!("/account/sessions/{}/end", refs[1]), &token).await, 303);
    assert_eq!(page(&second, &r.b, "/environments").await.0, 303, "refused on the other replica");
    assert_eq!(r.master.open_sessions().len(), open_before - 1, "its master session was closed");
    let list = page(&first, &r.a, "/account/sessions").await.1;
    assert_eq!(references(&list), [refs[0].clone(), refs[2].clone()]);

    // All the others.
    assert_eq!(post(&first, &r.a, "/account/sessions/end-others", &token).await, 303);
    assert_eq!(page(&third, &r.b, "/environments").await.0, 303);
    assert_eq!(page(&third, &r.a, "/environments").await.0, 303);
    let list = page(&first, &r.a, "/account/sessions").await.1;
    assert_eq!(references(&list), [refs[0].clone()], "only this one is left");
    assert!(list.contains("Your other session was ended."), "{list}");
}

#[tokio::test]
async fn another_users_session_cannot_be_ended_and_the_index_holds_no_name() {
    let Some(r) = replicas("user_sessions_attack", None).await else { return };
    let alice = browser(&r.a, "alice", "curl/1").await;
    let alice_list = page(&alice, &r.a, "/account/sessions").await.1;
    let alice_ref = references(&alice_list).pop().unwrap();

    let bob = browser(&r.b, "bob", "curl/2").await;
    let bob_list = page(&bob, &r.b, "/account/sessions").await.1;
    let token = csrf_in(&bob_list).unwrap();
    assert_eq!(post(&bob, &r.b, &format!("/account/sessions/{alice_ref}/end"), &token).await, 404);
    assert_eq!(post(&bob, &r.b, "/account/sessions/..%2f..%2fsession/end", &token).await, 404);
    assert_eq!(page(&alice, &r.a, "/environments").await.0, 200, "alice is still signed in");
    assert_eq!(references(&page(&bob, &r.b, "/account/sessions").await.1).len(), 1, "bob sees only his");

    let keys: Vec<String> = redis::cmd("KEYS").arg("*user-sessions*").query(&mut r._redis.client()).unwrap();
    assert_eq!(keys.len(), 2, "{keys:?}");
    assert!(keys.iter().all(|k| !k.contains("alice") && !k.contains("bob")), "{keys:?}");
}

#[tokio::test]
async fn sessions_that_expire_on_their_own_leave_the_list() {
    let Some(r) = replicas("user_sessions_expire", None).await else { return };
    let old = browser(&r.a, "alice", "curl/old").await;
    r.clock.advance(Duration::from_secs(11 * 3600));
    let new = browser(&r.a, "alice", "curl/new").await;
    assert_eq!(references(&page(&new, &r.a, "/account/sessions").await.1).len(), 2);
    // Past the first one's absolute timeout (12 h) but not the second's.
    r.clock.advance(Duration::from_secs(3600 + 60));
    assert_eq!(page(&old, &r.a, "/environments").await.0, 303, "the old one has expired");
    let list = page(&new, &r.a, "/account/sessions").await.1;
    assert_eq!(references(&list).len(), 1, "and it is gone from the list:\n{list}");
}

#[tokio::test]
async fn a_cap_on_sessions_per_user_ends_the_oldest() {
    let Some(r) = replicas("user_sessions_cap", Some("2")).await else { return };
    let first = browser(&r.a, "alice", "curl/1").await;
    r.clock.advance(Duration::from_secs(1));
    let second = browser(&r.b, "alice", "curl/2").await;
    assert_eq!(page(&first, &r.a, "/environments").await.0, 200);
    r.clock.advance(Duration::from_secs(1));
    let third = browser(&r.a, "alice", "curl/3").await;
    assert_eq!(page(&first, &r.b, "/environments").await.0, 303, "the oldest ended, on every replica");
    assert_eq!(page(&second, &r.b, "/environments").await.0, 200);
    assert_eq!(references(&page(&third, &r.a, "/account/sessions").await.1).len(), 2);
}

#[tokio::test]
async fn an_admin_sees_a_users_sessions_and_ends_them_all_everywhere() {
    let Some(r) = replicas("admin_ends_sessions", None).await else { return };
    let on_a = browser(&r.a, "alice", "curl/a").await;
    r.clock.advance(Duration::from_secs(1));
    let on_b = browser(&r.b, "alice", "curl/b").await;
    let bob = browser(&r.a, "bob", "curl/bob").await;

    assert_eq!(r.a.admin_sign_in("root", "root-password-123").await.status(), 303);
    let (status, listed) = {
        let res = r.a.get("/admin/sessions?user=alice").await;
        (res.status().as_u16(), res.text().await.unwrap())
    };
    assert_eq!(status, 200);
    assert_eq!(listed.matches("<tr><td>").count(), 2, "alice's two sessions:\n{listed}");
    assert!(listed.contains("curl") && listed.contains("Main, Production EU"), "{listed}");

    let token = csrf_in(&listed).unwrap();
    let res =
        r.a.post_form("/admin/sessions/end", &[("user", "alice"), ("csrf_token", token.as_str())]).await;
    assert_eq!(res.status(), 303);
    assert_eq!(page(&on_a, &r.a, "/environments").await.0, 303, "ended on this replica");
    assert_eq!(page(&on_b, &r.b, "/environments").await.0, 303, "and on the other");
    assert_eq!(page(&bob, &r.b, "/environments").await.0, 200, "another user is untouched");
    let after = r.a.get("/admin/sessions?user=alice").await.text().await.unwrap();
    assert!(after.contains("alice&#39;s 2 sessions were ended."), "{after}");
    let audit = r.a.get("/admin/audit").await.text().await.unwrap();
    assert!(audit.contains("sessions.end_all"), "audited:\n{audit}");

    // Without the form's token, nothing ends.
    let res = r.a.post_form("/admin/sessions/end", &[("user", "bob")]).await;
    assert_eq!(res.status(), 403);
    assert_eq!(page(&bob, &r.b, "/environments").await.0, 200);
}
