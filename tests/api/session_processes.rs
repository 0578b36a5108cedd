//! Ending sessions across two `portico serve` processes sharing a Redis and a PostgreSQL database:
//! whatever ends a session on process A — its user ending one from the list, or all the others,
//! or an admin ending all of a user's sessions — process B refuses it at its very next request,
//! though B held a fresh in-process copy of it a moment before. There B never hears a change
//! notification at all (its Redis user may not use pub/sub), so nothing but the store itself can
//! tell it. Under load, several clients keep B busy with a session while A ends it, and every
//! request started after A's answer arrived must be refused: once with B hearing the
//! notifications, once with B deaf to them. Each says how many requests it checked.

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use crate::support::consumers::{session_references, session_row};
use crate::support::managers::start_master;
use crate::support::processes::{Browser, Replica, two_processes_with};
use crate::support::{RedisServer, TestPostgres};

const FIREFOX: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";
const CHROME: &str = "Mozilla/5.0 (Windows NT 10.0) Chrome/126.0 Safari/537.36";
const ROUTED: &str = "/api/portal/v1.3/discovery/apis";
/// How many clients keep a replica busy with one session.
const CLIENTS: usize = 6;

fn redis_section(redis: &RedisServer, user: Option<&str>) -> String {
    let user = user.map(|u| format!("username = \"{u}\"\npassword = \"{u}-password\"\n")).unwrap_or_default();
    format!("[redis]\nurl = \"{}\"\nkey_prefix = \"sessions:\"\n{user}\n", redis.url())
}

/// The reference of the row on `list` that mentions `client`.
fn reference_of(list: &str, client: &str) -> String {
    let refs = session_references(list);
    refs.into_iter()
        .find(|r| session_row(list, r).contains(client))
        .unwrap_or_else(|| panic!("{client}:\n{list}"))
}

/// `browser`'s session is served on its replica right now (so that replica holds a fresh copy).
async fn served(browser: &Browser) {
    assert_eq!(browser.get("/environments").await.0, 200, "served on {}", browser.base);
    assert_eq!(browser.get(ROUTED).await.0, 200, "routed on {}", browser.base);
}

/// Processes A and B on one Redis and database; with `deaf`, B's Redis user may do anything but
/// pub/sub, so B never hears that a session ended (nor anything else).
async fn processes(test: &str, deaf: bool) -> Option<(Replica, Replica, Peers)> {
    processes_with(test, deaf, "").await
}

/// [`processes`] with more `[session]` keys (TOML lines).
async fn processes_with(test: &str, deaf: bool, session: &str) -> Option<(Replica, Replica, Peers)> {
    let pg = TestPostgres::create(test).await?;
    let redis = RedisServer::start(test)?;
    let _: () = redis::cmd("ACL")
        .arg(&["SETUSER", "deaf", "on", ">deaf-password", "~*", "&*", "+@all", "-@pubsub"])
        .query(&mut redis.client())
        .unwrap();
    let master = start_master().await;
    let dir = tempfile::tempdir().unwrap();
    let sections = [redis_section(&redis, None), redis_section(&redis, deaf.then_some("deaf"))];
    let (a, b) = two_processes_with(&dir, [&sections[0], &sections[1]], session, &pg, &master).await;
    Some((a, b, Peers { _pg: pg, redis, _master: master, _dir: dir }))
}

/// What the processes use, kept alive as long as they run.
struct Peers {
    _pg: TestPostgres,
    redis: RedisServer,
    _master: portico::simulator::Simulator,
    _dir: tempfile::TempDir,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_refuse_an_ended_session_on_the_other_at_its_next_request() {
    let Some((a, b, _peers)) = processes("two_processes_end_sessions", true).await else { return };

    let first = Browser::with_agent(&a, FIREFOX);
    first.sign_in("alice").await;
    let (second, third) = (Browser::with_agent(&b, "curl/8.5.0"), Browser::with_agent(&b, CHROME));
    second.sign_in("alice").await;
    third.sign_in("alice").await;

    let (status, list) = first.get("/account/sessions").await;
    assert_eq!(status, 200);
    assert_eq!(session_references(&list).len(), 3, "{list}");
    assert_eq!(list.matches("this session").count(), 1);
    assert!(session_row(&list, &reference_of(&list, "Firefox on Linux")).contains("this session"));

    // One ended from the list on A: refused on B at its next request.
    // (A page first: a routed call would also meet the manager's 401, its manager session
    // having ended too.)
    served(&second).await;
    let end = format!("/account/sessions/{}/end", reference_of(&list, "curl"));
    assert_eq!(first.submit("/account/sessions", &end, &[]).await.0, 303);
    assert_eq!(second.get("/environments").await.0, 303, "refused on B at once");
    assert_eq!(second.get(ROUTED).await.0, 401, "routed calls too");

    // The others ended on A: refused on B at its next request; this one goes on, on both.
    served(&third).await;
    assert_eq!(first.submit("/account/sessions", "/account/sessions/end-others", &[]).await.0, 303);
    assert_eq!(third.get("/environments").await.0, 303, "refused on B at once");
    assert_eq!(first.at(&b).get("/environments").await.0, 200, "the one that ended them goes on");
    assert_eq!(session_references(&first.get("/account/sessions").await.1).len(), 1);

    // An admin on A ends all of bob's sessions: refused on B at its next request.
    let bob = Browser::with_agent(&b, "curl/bob");
    bob.sign_in("bob").await;
    served(&bob).await;
    let admin = Browser::on(&a);
    admin.admin_sign_in().await;
    let (status, _) =
        admin.submit("/admin/sessions?user=bob", "/admin/sessions/end", &[("user", "bob")]).await;
    assert_eq!(status, 303);
    assert_eq!(bob.get("/environments").await.0, 303, "refused on B at once");
    assert_eq!(bob.at(&a).get("/environments").await.0, 303);
    assert_eq!(first.at(&b).get("/environments").await.0, 200, "alice is untouched");
}

/// One request of a client under load: when it started, and whether it was served.
struct Sent {
    started: Instant,
    served: bool,
}

/// Sends requests with `cookie` to the replica at `base`, `paths` in turn, until the time `stop`
/// holds, logging each.
async fn keep_sending(
    base: String,
    cookie: String,
    paths: &'static [&'static str],
    stop: Arc<OnceLock<Instant>>,
    log: Arc<Mutex<Vec<Sent>>>,
) {
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    for path in paths.iter().cycle() {
        if stop.get().is_some_and(|at| Instant::now() >= *at) {
            break;
        }
        let started = Instant::now();
        let status =
            http.get(format!("{base}{path}")).header("cookie", &cookie).send().await.unwrap().status();
        assert!([200, 303, 401].contains(&status.as_u16()), "{path}: {status}");
        log.lock().unwrap().push(Sent { started, served: status == 200 });
    }
}

/// [`CLIENTS`] clients keeping a replica busy with one session's requests.
struct Load {
    stop: Arc<OnceLock<Instant>>,
    log: Arc<Mutex<Vec<Sent>>>,
    clients: Vec<tokio::task::JoinHandle<()>>,
}

impl Load {
    /// The clients start sending `paths` in turn with `cookie` to `replica`.
    fn start(replica: &Replica, cookie: &str, paths: &'static [&'static str]) -> Self {
        let (stop, log) = (Arc::new(OnceLock::new()), Arc::new(Mutex::new(Vec::new())));
        let clients = (0..CLIENTS)
            .map(|_| {
                let (stop, log) = (stop.clone(), log.clone());
                tokio::spawn(keep_sending(replica.base.clone(), cookie.to_owned(), paths, stop, log))
            })
            .collect();
        Self { stop, log, clients }
    }

    /// Every request sent, once the clients have stopped at `at`.
    async fn until(self, at: Instant) -> Vec<Sent> {
        self.stop.set(at).unwrap();
        for client in self.clients {
            client.await.unwrap();
        }
        std::mem::take(&mut *self.log.lock().unwrap())
    }
}

/// Signs `user` in on `replica`; the `Cookie` header of the new portal session, for clients that
/// keep no cookies.
async fn session_cookie(replica: &Replica, user: &str) -> String {
    let browser = Browser::on(replica);
    let password = format!("{user}-password");
    let token = crate::support::csrf_in(&browser.get("/login").await.1).unwrap();
    let fields = [("username", user), ("password", password.as_str()), ("csrf_token", token.as_str())];
    let res = browser.http.post(format!("{}/login", replica.base)).form(&fields).send().await.unwrap();
    assert_eq!(res.status(), 303, "{user} signs in");
    let cookie = crate::support::set_cookies(&res).into_iter().find(|c| c.starts_with("portico_session="));
    cookie.unwrap().split(';').next().unwrap().to_owned()
}

/// Alice signed in on both processes: on A in a browser, which ends her session on B from its
/// list; on B as a bare cookie, for clients that keep none.
struct Alice {
    owner: Browser,
    cookie: String,
    list: String,
    ends: String,
}

impl Alice {
    async fn on(a: &Replica, b: &Replica) -> Self {
        let owner = Browser::with_agent(a, FIREFOX);
        owner.sign_in("alice").await;
        let cookie = session_cookie(b, "alice").await;
        let list = owner.get("/account/sessions").await.1;
        let on_b =
            session_references(&list).into_iter().find(|r| !session_row(&list, r).contains("this session"));
        let ends = format!("{}/account/sessions/{}/end", a.base, on_b.unwrap());
        Self { owner, cookie, list, ends }
    }

    /// Ends her session on B from A; when A's answer arrived.
    async fn end_on_a(&self) -> Instant {
        let token = crate::support::csrf_in(&self.list).unwrap();
        let res = self.owner.http.post(&self.ends).form(&[("csrf_token", token)]).send().await.unwrap();
        assert_eq!(res.status(), 303);
        res.bytes().await.unwrap();
        Instant::now()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_under_load_serve_no_request_started_after_the_end_answered() {
    under_load("two_processes_end_under_load", false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_under_load_without_notifications_serve_no_request_started_after_the_end() {
    under_load("two_processes_end_under_load_deaf", true).await;
}

/// Several clients keep sending requests with a session to B while A ends it: every request
/// started after A's answer arrived must be refused. With `deaf`, B never hears of the end.
async fn under_load(test: &str, deaf: bool) {
    let Some((a, b, _peers)) = processes(test, deaf).await else { return };
    let alice = Alice::on(&a, &b).await;

    let load = Load::start(&b, &alice.cookie, &[ROUTED, "/environments"]);
    // B serves the session for a while (from its copy, confirmed each time), then A ends it.
    tokio::time::sleep(Duration::from_millis(700)).await;
    let answered = alice.end_on_a().await;
    let log = load.until(answered + Duration::from_millis(800)).await;

    let served_before = log.iter().filter(|s| s.started < answered && s.served).count();
    let after: Vec<&Sent> = log.iter().filter(|s| s.started >= answered).collect();
    let served_after = after.iter().filter(|s| s.served).count();
    let _ = writeln!(
        std::io::stderr(),
        "{test}: {} requests from {CLIENTS} clients to B{}, {served_before} served before A's answer; \
         {} started after it were checked, {served_after} of them served",
        log.len(),
        if deaf { " (which hears no notification)" } else { "" },
        after.len(),
    );
    assert!(served_before >= CLIENTS, "B was serving the session before");
    assert!(after.len() >= 20, "enough requests after the end to mean something: {}", after.len());
    assert_eq!(served_after, 0, "no request started after A answered was served");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_revocation_window_a_replica_hearing_the_end_refuses_the_session_at_once() {
    within_the_window("two_processes_window", false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_revocation_window_a_deaf_replica_refuses_an_ended_session_once_the_end_answered() {
    within_the_window("two_processes_window_deaf", true).await;
}

/// With `session.revocation_window = "1s"` on both, B serves a busy session from its copy without
/// asking Redis at each request: one read a second, no version question (`GETRANGE`). When A
/// ends the session right after B confirmed its copy, A answers only once the window is over, and
/// B, deaf or not, serves none of the requests that start after that answer. (The end is watched
/// on pages only: a routed call would meet the manager's 401, the manager session having ended
/// too, and that alone makes B drop its copy.)
async fn within_the_window(test: &str, deaf: bool) {
    const WINDOW: Duration = Duration::from_secs(1);
    let session = "revocation_window = \"1s\"";
    let Some((a, b, peers)) = processes_with(test, deaf, session).await else { return };
    let calls = |command: &str| peers.redis.commands().get(command).copied().unwrap_or(0);
    let alice = Alice::on(&a, &b).await;

    // Routed calls and pages for 0.7 s: what they cost Redis.
    let (questions_before, reads_before) = (calls("getrange"), calls("getex"));
    let busy = Load::start(&b, &alice.cookie, &[ROUTED, "/environments"]);
    tokio::time::sleep(Duration::from_millis(700)).await;
    let log = busy.until(Instant::now()).await;
    let reads_so_far = calls("getex");
    let (questions, reads) = (calls("getrange") - questions_before, reads_so_far - reads_before);
    let (sent, served) = (log.len(), log.iter().filter(|s| s.served).count());
    assert_eq!(served, sent, "B served every request of the session");
    assert!(sent >= 60, "B was busy with the session: {sent} requests");
    assert_eq!(questions, 0, "no version question within the window");
    assert!(reads <= 2, "one read a second: {reads}");

    // Pages, and the end on A a moment after B's next read (its copy's second over): B's copy is
    // then as fresh as it gets, so without the notification B could serve it for most of a
    // second after the end, which is why A waits that second out before it answers.
    let pages = Load::start(&b, &alice.cookie, &["/environments"]);
    let deadline = Instant::now() + Duration::from_secs(3);
    while calls("getex") == reads_so_far && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let asked = Instant::now();
    let answered = alice.end_on_a().await;
    let log = pages.until(answered + Duration::from_millis(600)).await;

    let after: Vec<&Sent> = log.iter().filter(|s| s.started >= answered).collect();
    let served_after = after.iter().filter(|s| s.served).count();
    let last_served = after.iter().filter(|s| s.served).map(|s| s.started - answered).max();
    let served_while_ending =
        log.iter().filter(|s| s.started >= asked && s.started < answered && s.served).count();
    let _ = writeln!(
        std::io::stderr(),
        "{test}: {sent} requests to B in 0.7 s cost {questions} GETRANGE and {reads} GETEX; the end \
         took {:?} on A, meanwhile B served {served_while_ending} pages; of the {} pages sent \
         after A's answer {served_after} were served, the last one starting {last_served:?} after it",
        answered - asked,
        after.len(),
    );
    assert!(answered - asked >= WINDOW, "A waited the window out: {:?}", answered - asked);
    if deaf {
        // What the wait is for: meanwhile the deaf B went on serving its copy.
        assert!(served_while_ending > 0, "B served its copy while A waited");
    }
    assert!(after.len() >= 20, "enough requests after the end to mean something: {}", after.len());
    assert_eq!(served_after, 0, "no request started after A answered was served");
}

/// Both processes cap a user's sessions and drop the ones that expired on their own: a sign-in on
/// one past `session.max_per_user` ends the oldest, which both refuse at their next request; a
/// session left idle past its timeout leaves the list on both, without anyone ending it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_share_the_cap_and_drop_expired_sessions_from_the_list() {
    let test = "two_processes_cap_and_expiry";
    let Some(pg) = TestPostgres::create(test).await else { return };
    let Some(redis) = RedisServer::start(test) else { return };
    let master = start_master().await;
    let dir = tempfile::tempdir().unwrap();
    let section = redis_section(&redis, None);
    let session = "max_per_user = 2\nidle_timeout = \"2s\"\n";
    let (a, b) = two_processes_with(&dir, [&section, &section], session, &pg, &master).await;

    let oldest = Browser::with_agent(&a, FIREFOX);
    oldest.sign_in("alice").await;
    let idle = Browser::with_agent(&b, CHROME);
    idle.sign_in("alice").await;
    served(&oldest).await;
    served(&oldest.at(&b)).await;
    // A third sign-in passes the cap of two: the oldest ends, on both processes at once.
    let newest = Browser::with_agent(&a, "curl/8.5.0");
    newest.sign_in("alice").await;
    for (browser, on) in [(oldest.at(&a), "A"), (oldest.at(&b), "B")] {
        let (status, _) = browser.get("/environments").await;
        assert_eq!(status, 303, "the capped session is refused on {on}");
    }
    let (_, list) = newest.at(&b).get("/account/sessions").await;
    assert_eq!(session_references(&list).len(), 2, "{list}");
    assert!(!list.contains("Firefox on Linux"), "{list}");

    // The Chrome session sits idle past its timeout while the newest keeps being used.
    let until = Instant::now() + Duration::from_millis(2_600);
    while Instant::now() < until {
        assert_eq!(newest.get("/environments").await.0, 200);
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
    for browser in [newest.at(&a), newest.at(&b)] {
        let (status, list) = browser.get("/account/sessions").await;
        assert_eq!(status, 200);
        assert_eq!(session_references(&list).len(), 1, "only the live one on {}: {list}", browser.base);
        assert!(!list.contains("Chrome on Windows"), "{list}");
    }
    assert_eq!(idle.get("/environments").await.0, 303, "the idle one is over");
    drop((a, b));
    drop((pg, redis, master, dir));
}
