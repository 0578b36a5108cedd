//! Back-channel logout (OpenID Connect Back-Channel Logout 1.0, `POST /auth/backchannel-logout`)
//! against the real provider: a user signed in to Portico through it signs out there, and their
//! Portico session ends on both replicas (this test process and a `portico serve` process on the
//! same Redis). Then logout tokens that fail a check, signed by the provider's script with its
//! key or another one: each is refused with 400 and changes nothing.

use std::time::Duration;

use portico::clock::{Clock, ManualClock};
use portico::simulator::Simulator;
use serde_json::{Value, json};

use super::{PUBLIC_URL, audit, bearer_master, bearer_slave, provider_options, single_sign_on};
use crate::support::app::SESSION_SECRET;
use crate::support::oidc::{
    CLIENT_SECRET, OidcProvider, provider_browser, sign_in_with, sign_out_at_provider,
};
use crate::support::processes::Replica;
use crate::support::{RedisServer, TestApp, TestAppBuilder, free_port, location};

const EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";
const PATH: &str = "/auth/backchannel-logout";

/// A browser for Portico: cookies kept, no redirect followed.
fn browser() -> reqwest::Client {
    reqwest::Client::builder().cookie_store(true).redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

async fn status(client: &reqwest::Client, url: String) -> u16 {
    client.get(url).send().await.unwrap().status().as_u16()
}

/// The `portico serve` replica of `a`: the same Redis, key prefix, session secret, managers and
/// provider; a database of its own.
async fn second_process(dir: &tempfile::TempDir, config: String) -> Replica {
    let port = free_port();
    let file = dir.path().join("b.toml");
    let database = dir.path().join("b.db");
    let text = format!(
        "[server]\nlisten = \"127.0.0.1:{port}\"\nworkers = 1\npublic_url = \"{PUBLIC_URL}\"\n\n\
         [session]\nsecret = \"{SESSION_SECRET}\"\n\n[database]\nurl = \"sqlite://{}\"\n\n{config}",
        database.display()
    );
    std::fs::write(&file, text).unwrap();
    Replica::start(&file, port).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_out_at_the_provider_ends_the_portico_session_on_every_replica() {
    const TEST: &str = "signing_out_at_the_provider_ends_the_portico_session_on_every_replica";
    // The provider calls the in-process replica A, at an address known before it starts.
    let port = free_port();
    let mut options = provider_options();
    options["backchannelLogoutUri"] = json!(format!("http://127.0.0.1:{port}{PATH}"));
    let Some(provider) = OidcProvider::start(TEST, options) else { return };
    let Some(redis) = RedisServer::start(TEST) else { return };
    let master = bearer_master(&provider).await;
    let eu = bearer_slave(&provider, "eu", &master).await;
    let builder = TestAppBuilder::new(master.url.as_str())
        .redis(&redis)
        .set("server.listen", &format!("127.0.0.1:{port}"))
        .slave("prod-eu", "Production EU", eu.url.as_str())
        .toml(&provider.config("bearer"));
    let prefix = builder.key_prefix().to_owned();
    let shared = format!(
        "[redis]\nurl = \"{}\"\nkey_prefix = \"{}\"\n\n[master]\nurl = \"{}\"\n\n\
         [[slaves]]\nid = \"prod-eu\"\nname = \"Production EU\"\nurl = \"{}\"\n\n{}",
        redis.url(),
        prefix,
        master.url,
        eu.url,
        provider.config("bearer")
    );
    let a = builder.spawn().await;
    let dir = tempfile::tempdir().unwrap();
    let b = second_process(&dir, shared).await;

    // Signed in through the provider on B; the same cookie works on A.
    let consumer = browser();
    let start = consumer.get(format!("{}/login/oidc", b.base)).send().await.unwrap();
    assert_eq!(start.status(), 303);
    let at_provider = provider_browser();
    let back =
        sign_in_with(&at_provider, &location(&start), "alice", &format!("{PUBLIC_URL}/auth/callback")).await;
    let callback =
        consumer.get(format!("{}/auth/callback?{}", b.base, back.query().unwrap())).send().await.unwrap();
    assert_eq!(callback.status(), 303, "{}", callback.text().await.unwrap());
    assert_eq!(status(&consumer, format!("{}/environments", b.base)).await, 200);
    assert_eq!(status(&consumer, a.url("/environments")).await, 200);

    // The provider's names for the session are in Redis under keyed hashes, expiring with it.
    let indexes = keys(&redis, &format!("{prefix}sso-s*"));
    assert_eq!(indexes.len(), 2, "one by sid, one by sub: {indexes:?}");
    for index in &indexes {
        let ttl: i64 = redis::cmd("PTTL").arg(index).query(&mut redis.client()).unwrap();
        assert!(ttl > 0, "{index} expires");
    }
    assert!(keys(&redis, "*").iter().all(|key| !key.contains("alice")), "no key names the user");
    for (key, value) in redis.dump() {
        assert!(!value.windows(5).any(|w| w == b"alice"), "{key} holds the user in clear");
    }

    // Signed out at the provider: its logout token reaches A, and the session is refused on both.
    master.clear_requests();
    assert!(sign_out_at_provider(&at_provider, &provider.issuer()).await < 400);
    let calls = provider.stats().await["backchannel"].clone();
    assert_eq!(calls["success"], 1, "the provider's call reached Portico: {calls}");
    assert_eq!(calls["error"], 0, "{calls}");
    let refused = consumer.get(format!("{}/environments", b.base)).send().await.unwrap();
    assert_eq!(refused.status(), 303, "refused on B at the next request");
    assert!(location(&refused).starts_with("/login"), "{}", location(&refused));
    let refused = consumer.get(a.url("/environments")).send().await.unwrap();
    assert_eq!((refused.status().as_u16(), location(&refused).starts_with("/login")), (303, true));
    assert_eq!(status(&consumer, format!("{}/api/portal/v1.3/currentuser", b.base)).await, 401);
    // Joined with the access token, the managers hold no session of the user to end (no
    // `DELETE /login`), and nothing reaches them as the user any more.
    let after = master.requests();
    assert!(after.iter().all(|r| r.user.is_none() && r.method != "DELETE"), "{after:?}");

    assert_eq!(
        audit(&a, "signout.backchannel").await,
        [("alice".to_owned(), json!({ "method": "oidc", "sessions": 1 }))]
    );
    let left = keys(&redis, &format!("{prefix}sso-s*"));
    assert!(left.is_empty(), "the provider's names for the ended session are gone: {left:?}");
    a.stop().await;
}

/// The keys matching `pattern` (of every type: `RedisServer::dump` shows strings only).
fn keys(redis: &RedisServer, pattern: &str) -> Vec<String> {
    redis::cmd("KEYS").arg(pattern).query(&mut redis.client()).unwrap()
}

/// What Portico answers a logout token: status, `Cache-Control`, JSON body (if any). Posted as
/// the provider does: form-encoded, no cookie.
async fn post_token(app: &TestApp, token: &str) -> (u16, String, Value) {
    let answer =
        reqwest::Client::new().post(app.url(PATH)).form(&[("logout_token", token)]).send().await.unwrap();
    answered(answer).await
}

async fn answered(answer: reqwest::Response) -> (u16, String, Value) {
    let status = answer.status().as_u16();
    let cache =
        answer.headers().get("cache-control").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    let body = answer.json().await.unwrap_or(Value::Null);
    (status, cache, body)
}

/// The claims of a valid logout token for `sub` (no `sid`) issued at `now` (seconds), with a
/// fresh `jti`.
fn logout_claims(issuer: &str, sub: &str, now: i64) -> Value {
    json!({
        "iss": issuer, "aud": "portico", "iat": now, "exp": now + 120,
        "jti": format!("jti-{:016x}", rand::random::<u64>()), "sub": sub, "events": { EVENT: {} },
    })
}

/// Changes `claims` with `change` (a JSON merge: `null` removes the claim).
fn changed(mut claims: Value, change: Value) -> Value {
    for (name, value) in change.as_object().unwrap() {
        match value {
            Value::Null => drop(claims.as_object_mut().unwrap().remove(name)),
            value => claims[name] = value.clone(),
        }
    }
    claims
}

/// Whether Portico logged, while serving the request `request_id`, a refusal for `reason`.
fn refusal_logged(request_id: &str, reason: &str) -> bool {
    let needle = format!("back-channel logout refused reason=\"{reason}\"");
    crate::support::logs::text().lines().any(|line| line.contains(request_id) && line.contains(&needle))
}

/// A token Portico must refuse, for `reason` (in its log only), without changing anything.
async fn assert_refused(app: &TestApp, token: &str, reason: &str, case: &str) {
    let answer =
        reqwest::Client::new().post(app.url(PATH)).form(&[("logout_token", token)]).send().await.unwrap();
    let request_id = answer.headers()["x-request-id"].to_str().unwrap().to_owned();
    let (status, cache, body) = answered(answer).await;
    assert!(refusal_logged(&request_id, reason), "{case}: refused for {reason}");
    assert_eq!((status, cache.as_str()), (400, "no-store"), "{case}: {body}");
    assert_eq!(body["error"], "invalid_request", "{case}");
    assert_eq!(
        body["error_description"], "The logout token is not valid.",
        "{case}: the same words for every check"
    );
    assert_eq!(app.get("/environments").await.status(), 200, "{case}: the session still works");
}

/// A token signed with `header` and `signature` made by the test itself (not by the provider).
fn hand_signed(header: &Value, claims: &Value, sign: impl Fn(&[u8]) -> Vec<u8>) -> String {
    super::forged::jwt(header, claims, sign)
}

/// alice signed in through the provider on a Portico on Redis, whose clock the test moves.
struct SignedIn {
    provider: OidcProvider,
    redis: RedisServer,
    _master: Simulator,
    app: TestApp,
    clock: ManualClock,
}

impl SignedIn {
    async fn start(test: &str) -> Option<Self> {
        let provider = OidcProvider::start(test, provider_options())?;
        let redis = RedisServer::start(test)?;
        let master = bearer_master(&provider).await;
        let builder = TestAppBuilder::new(master.url.as_str()).redis(&redis).toml(&provider.config("bearer"));
        let clock = builder.clock();
        let app = builder.spawn().await;
        assert_eq!(single_sign_on(&app, "alice").await.status(), 303);
        Some(Self { provider, redis, _master: master, app, clock })
    }

    /// Seconds since the epoch on Portico's clock.
    fn now(&self) -> i64 {
        self.clock.now_millis() / 1000
    }

    /// The claims of a valid logout token for alice, now.
    fn valid(&self) -> Value {
        logout_claims(&self.provider.issuer(), "alice", self.now())
    }
}

#[tokio::test]
async fn logout_tokens_that_fail_a_check_are_refused_and_change_nothing() {
    const TEST: &str = "logout_tokens_that_fail_a_check_are_refused_and_change_nothing";
    let Some(t) = SignedIn::start(TEST).await else { return };
    let (provider, app) = (&t.provider, &t.app);

    let impostor = provider.sign(&t.valid(), "impostor").await;
    assert_refused(app, &impostor, "signature", "another key under the provider's key id").await;
    let unknown_kid = provider.sign_with(&t.valid(), "provider", &json!({ "kid": "not-a-key" })).await;
    assert_refused(app, &unknown_kid, "unknown_key", "a key the provider does not have").await;
    let unsigned = hand_signed(&json!({ "alg": "none" }), &t.valid(), |_| Vec::new());
    assert_refused(app, &unsigned, "malformed", "alg: none").await;
    let hmac = hand_signed(&json!({ "alg": "HS256", "kid": "test-key-1" }), &t.valid(), |input| {
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, CLIENT_SECRET.as_bytes());
        ring::hmac::sign(&key, input).as_ref().to_vec()
    });
    assert_refused(app, &hmac, "algorithm", "HS256 with the client secret").await;
    let now = t.now();
    let cases = [
        (json!({ "aud": "another-client" }), "audience", "another audience"),
        (json!({ "aud": ["portico", "another-client"] }), "audience", "another audience beside Portico"),
        (json!({ "iss": "http://127.0.0.1:1" }), "issuer", "another issuer"),
        (json!({ "nonce": "n-0S6_WzA2Mj" }), "nonce", "a nonce"),
        (json!({ "events": null }), "events", "no events"),
        (json!({ "events": { EVENT: "yes" } }), "events", "an event that is not an object"),
        (json!({ "events": { "http://schemas.openid.net/event/other": {} } }), "events", "another event"),
        (json!({ "sub": null }), "subject", "neither sid nor sub"),
        (json!({ "jti": null }), "jti", "no jti"),
        (json!({ "iat": now - 200, "exp": now - 90 }), "expired", "exp past (beyond the skew)"),
        (json!({ "iat": now - 3600, "exp": null }), "stale", "iat an hour old"),
        (json!({ "iat": now + 600 }), "issue_time", "iat in the future"),
        (json!({ "exp": "never" }), "expired", "exp not a number"),
    ];
    for (change, reason, case) in cases {
        assert_refused(app, &provider.sign(&changed(t.valid(), change), "provider").await, reason, case)
            .await;
    }
    // Requests that carry no single logout token: the same JSON 400, never a page.
    let http = reqwest::Client::new();
    let empty = http.post(app.url(PATH)).form(&[("other", "x")]).send().await.unwrap();
    let json_body = http.post(app.url(PATH)).json(&json!({ "logout_token": "x" })).send().await.unwrap();
    let twice = http
        .post(app.url(PATH))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("logout_token=a&logout_token=b")
        .send()
        .await
        .unwrap();
    let huge =
        http.post(app.url(PATH)).form(&[("logout_token", "a".repeat(64 * 1024))]).send().await.unwrap();
    for (answer, case) in [(empty, "no token"), (json_body, "JSON"), (twice, "two tokens"), (huge, "64 KiB")]
    {
        let (status, cache, body) = answered(answer).await;
        let got = (status, cache.as_str(), body["error"].as_str());
        assert_eq!(got, (400, "no-store", Some("invalid_request")), "{case}");
    }
    assert!(audit(app, "signout.backchannel").await.is_empty(), "nothing ended, nothing audited");
    let logs = crate::support::logs::text();
    for token in [&impostor, &unknown_kid, &hmac] {
        assert!(!logs.contains(token.rsplit('.').next().unwrap()), "no token reaches the log");
    }
    t.app.stop().await;
}

#[tokio::test]
async fn a_valid_logout_token_acts_once_while_it_is_recent_and_ends_the_sessions_it_names() {
    const TEST: &str = "a_valid_logout_token_acts_once_while_it_is_recent_and_ends_the_sessions_it_names";
    let Some(t) = SignedIn::start(TEST).await else { return };
    let (provider, app) = (&t.provider, &t.app);

    // A valid token acts once: a replay of its `jti` is refused (this one names nobody).
    let once = provider.sign(&logout_claims(&provider.issuer(), "nobody", t.now()), "provider").await;
    assert_eq!(post_token(app, &once).await, (200, "no-store".to_owned(), Value::Null));
    assert_refused(app, &once, "replayed", "a replayed jti").await;
    // Neither the token ids nor the subject are in Redis in clear.
    for (key, value) in t.redis.dump() {
        assert!(!key.contains("jti-") && !value.windows(4).any(|w| w == b"jti-"), "{key}");
    }
    assert!(keys(&t.redis, "*").iter().all(|key| !key.contains("nobody")));
    // A valid token that Portico's clock, moved on, finds too old.
    let late = provider.sign(&changed(t.valid(), json!({ "exp": null })), "provider").await;
    t.clock.advance(Duration::from_secs(6 * 60 + 1));
    assert_refused(app, &late, "stale", "iat too old on Portico's clock").await;
    assert!(audit(app, "signout.backchannel").await.is_empty(), "nothing ended, nothing audited");

    // The provider's own token for the subject alone ends their session.
    let (status, cache, _) = post_token(app, &provider.sign(&t.valid(), "provider").await).await;
    assert_eq!((status, cache.as_str()), (200, "no-store"));
    assert_eq!(app.get("/environments").await.status(), 303, "signed out");
    let ended = audit(app, "signout.backchannel").await;
    assert_eq!(ended, [("alice".to_owned(), json!({ "method": "oidc", "sessions": 1 }))]);
    let logs = crate::support::logs::text();
    for token in [&once, &late] {
        assert!(!logs.contains(token.rsplit('.').next().unwrap()), "no token reaches the log");
    }
    let metrics = app.get("/metrics").await.text().await.unwrap();
    for outcome in ["refused", "replayed", "no_session", "ended"] {
        let line = format!("portico_backchannel_logouts_total{{outcome=\"{outcome}\"}}");
        assert!(metrics.contains(&line), "{line}");
    }
    t.app.stop().await;
}

#[tokio::test]
async fn without_single_sign_on_the_route_answers_404() {
    let app = TestAppBuilder::new("http://127.0.0.1:9").spawn().await;
    let (status, cache, body) = post_token(&app, "a.b.c").await;
    assert_eq!((status, cache.as_str()), (404, "no-store"), "{body}");
    assert_eq!(body["error"], "not_found");
    app.stop().await;
}
