//! The access token refreshed before it expires, once, whatever the number of requests that find
//! it due at the same time (the provider rotates refresh tokens: a second use would fail).

use std::time::Duration;

use futures_util::future::join_all;

use super::*;
use crate::support::{RedisServer, TestAppBuilder};

#[tokio::test]
async fn sso_twenty_concurrent_calls_across_the_expiry_share_one_refresh() {
    const TEST: &str = "sso_twenty_concurrent_calls_across_the_expiry_share_one_refresh";
    let mut options = provider_options();
    options["accessTokenTtl"] = serde_json::json!(60);
    let Some(provider) = OidcProvider::start(TEST, options) else { return };
    let Some(redis) = RedisServer::start(TEST) else { return };
    let master = bearer_master(&provider).await;
    let builder = TestAppBuilder::new(master.url.as_str())
        .redis(&redis)
        .set("oidc.refresh_margin", "10s")
        .toml(&provider.config("bearer"));
    let clock = builder.clock();
    let app = builder.spawn().await;
    assert_eq!(single_sign_on(&app, "alice").await.status(), 303);
    assert_eq!(provider.stats().await["refresh_token"], 0);

    // Before the margin: no refresh.
    clock.advance(Duration::from_secs(45));
    assert_eq!(app.get("/api/portal/v1.3/currentuser").await.status(), 200);
    assert_eq!(provider.stats().await["refresh_token"], 0);

    // Across the expiry (as Portico's clock sees it): twenty calls at once.
    clock.advance(Duration::from_secs(20));
    let calls = (0..20).map(|_| app.client.get(app.url("/api/portal/v1.3/currentuser")).send());
    let answers = join_all(calls).await;
    for answer in answers {
        let answer = answer.expect("answer");
        assert_eq!(answer.status(), 200);
        let me: Value = answer.json().await.unwrap();
        assert_eq!(me["loginName"], "alice");
    }
    let stats = provider.stats().await;
    assert_eq!(stats["refresh_token"], 1, "exactly one refresh: {stats}");
    assert_eq!(stats["reused_refresh_tokens"], 0, "{stats}");
    let keys: Vec<String> = redis.dump().into_iter().map(|(k, _)| k).collect();
    assert!(!keys.iter().any(|k| k.contains("oidc:refresh:")), "the lock is released: {keys:?}");

    // The new token lasts: later calls do not refresh again, and the next expiry refreshes with
    // the rotated refresh token.
    assert_eq!(app.get("/api/portal/v1.3/currentuser").await.status(), 200);
    assert_eq!(provider.stats().await["refresh_token"], 1);
    clock.advance(Duration::from_secs(55));
    assert_eq!(app.get("/environments/master/apis").await.status(), 200, "pages refresh too");
    let stats = provider.stats().await;
    assert_eq!(stats["refresh_token"], 2, "{stats}");
    assert_eq!(stats["reused_refresh_tokens"], 0, "{stats}");
    app.stop().await;
}
