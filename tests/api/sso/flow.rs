//! The whole single sign-on through an HTTP client, its refusals, and the login-failure policy.

use super::*;
use crate::support::{RedisServer, TestAppBuilder};

#[tokio::test]
async fn sso_signs_in_joins_every_manager_with_the_access_token_and_signs_out_at_the_provider() {
    const TEST: &str = "sso_signs_in_joins_every_manager_with_the_access_token_and_signs_out_at_the_provider";
    let Some(provider) = OidcProvider::start(TEST, provider_options()) else { return };
    let Some(redis) = RedisServer::start(TEST) else { return };
    let master = bearer_master(&provider).await;
    let eu = bearer_slave(&provider, "eu", &master).await;
    let app = TestAppBuilder::new(master.url.as_str())
        .redis(&redis)
        .slave("prod-eu", "Production EU", eu.url.as_str())
        .toml(&provider.config("bearer"))
        .spawn()
        .await;

    let login_page = app.get("/login").await.text().await.unwrap();
    assert!(login_page.contains("Sign in with Test IdP"), "{login_page}");
    assert!(login_page.contains("name=\"password\""), "the password form stays by default");

    let start = app.get("/login/oidc?return_to=/environments").await;
    assert_eq!(start.status(), 303);
    let to_provider = url::Url::parse(&location(&start)).unwrap();
    let query: std::collections::HashMap<String, String> = to_provider.query_pairs().into_owned().collect();
    assert!(to_provider.as_str().starts_with(&provider.issuer()), "{to_provider}");
    assert_eq!(query["code_challenge_method"], "S256");
    assert_eq!(query["response_type"], "code");
    for param in ["state", "nonce", "code_challenge"] {
        assert!(query[param].len() >= 22, "{param} is random");
    }
    assert!(query["scope"].split(' ').any(|s| s == "openid"));
    let back = sign_in_at_provider(to_provider.as_str(), "alice", "http://localhost/auth/callback").await;
    let callback = app.get(&format!("/auth/callback?{}", back.query().unwrap())).await;
    assert_eq!(callback.status(), 303, "{}", callback.text().await.unwrap());
    assert_eq!(location(&callback), "/environments");

    let picker = app.get("/environments").await.text().await.unwrap();
    assert!(picker.contains("Alice") && picker.contains("Acme"), "{picker}");
    assert_eq!(picker.matches("badge ok\">connected").count(), 2, "master and slave joined: {picker}");

    // Routed calls carry the access token, never a manager cookie; the managers know the user.
    master.clear_requests();
    let me = app.get("/api/portal/v1.3/currentuser").await;
    assert_eq!(me.status(), 200);
    let me: Value = me.json().await.unwrap();
    assert_eq!(me["loginName"], "alice");
    let seen = master.requests();
    let routed = seen.iter().find(|r| r.path.ends_with("/currentuser")).expect("routed call");
    // (the simulator's log keeps only the scheme of an Authorization header)
    assert_eq!(routed.headers.get("authorization").map(String::as_str), Some("Bearer"), "{routed:?}");
    assert!(!routed.headers.contains_key("cookie"));
    let catalog = app.get("/environments/prod-eu/apis").await;
    assert_eq!(catalog.status(), 200, "the slave maps the organization claim");

    // Nothing of the tokens is in Redis in clear.
    // (every JWT starts with the base64 of `{"alg":`)
    for (key, value) in redis.dump() {
        assert!(!value.windows(10).any(|w| w == b"eyJhbGciOi"), "{key} holds a token in clear");
    }

    let successes = audit(&app, "signin.success").await;
    assert_eq!(successes.len(), 1);
    assert_eq!(successes[0].0, "alice");
    assert_eq!(successes[0].1["method"], "oidc");

    // Sign-out ends the portal session and goes on to the provider's end_session_endpoint.
    let out = app.sign_out().await;
    assert_eq!(out.status(), 303);
    let end = url::Url::parse(&location(&out)).unwrap();
    assert!(end.as_str().starts_with(&format!("{}/session/end", provider.issuer())), "{end}");
    let end_query: std::collections::HashMap<String, String> = end.query_pairs().into_owned().collect();
    assert!(end_query.contains_key("id_token_hint"));
    assert_eq!(end_query["post_logout_redirect_uri"], "http://localhost/login");
    assert_eq!(app.get("/environments").await.status(), 303, "signed out locally");
    let csp = app.get("/login").await.headers()["content-security-policy"].to_str().unwrap().to_owned();
    assert!(csp.contains(&format!("form-action 'self' {}", provider.issuer())), "{csp}");
    app.stop().await;
}

#[tokio::test]
async fn sso_refusals_are_clear_pages_counted_in_the_audit_log() {
    const TEST: &str = "sso_refusals_are_clear_pages_counted_in_the_audit_log";
    let Some(provider) = OidcProvider::start(TEST, provider_options()) else { return };
    let master = bearer_master(&provider).await;
    let app = TestAppBuilder::new(master.url.as_str()).toml(&provider.config("bearer")).spawn().await;

    // The provider refused (the user cancelled): the page says so and offers a way back.
    let start = app.get("/login/oidc").await;
    let state: String = url::Url::parse(&location(&start))
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "state")
        .map(|(_, v)| v.into_owned())
        .unwrap();
    let denied = app
        .get(&format!("/auth/callback?error=access_denied&error_description=End-User+aborted&state={state}"))
        .await;
    assert_eq!(denied.status(), 403);
    let page = denied.text().await.unwrap();
    assert!(page.contains("did not sign you in (access_denied)"), "{page}");
    assert!(page.contains("href=\"/login\""), "a way back");

    // No state, an unknown state: nobody's sign-in, a fixed page (`edge_forms` attacks these).
    let bare = app.get("/auth/callback").await;
    assert_eq!(bare.status(), 400);
    assert!(bare.text().await.unwrap().contains("expired or was already used"));
    let unknown = app.get("/auth/callback?code=x&state=never-issued").await;
    assert_eq!(unknown.status(), 400);
    assert!(unknown.text().await.unwrap().contains("expired or was already used"));

    // A callback replayed: the second use of the same state is refused.
    let start = app.get("/login/oidc").await;
    let back = sign_in_at_provider(&location(&start), "alice", "http://localhost/auth/callback").await;
    let first = app.get(&format!("/auth/callback?{}", back.query().unwrap())).await;
    assert_eq!(first.status(), 303);
    let replay =
        app.client.get(app.url(&format!("/auth/callback?{}", back.query().unwrap()))).send().await.unwrap();
    assert_eq!(replay.status(), 400);
    assert!(replay.text().await.unwrap().contains("expired or was already used"));
    app.sign_out().await;

    // No organization claim: a clear page, no session.
    let nora = single_sign_on(&app, "nora").await;
    assert_eq!(nora.status(), 403);
    let page = nora.text().await.unwrap();
    assert!(page.contains("no organization (claim &#34;org&#34;)"), "{page}");

    let failures = audit(&app, "signin.failure").await;
    let reasons: Vec<&str> = failures.iter().rev().map(|(_, d)| d["reason"].as_str().unwrap()).collect();
    assert_eq!(
        reasons,
        ["provider_error", "missing_claim"],
        "callbacks without a state Portico issued are counted, not audited: {failures:?}"
    );
    assert!(failures.iter().all(|(_, d)| d["method"] == "oidc"));
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains("portico_oidc_callbacks_rejected_total{reason=\"unknown_state\"}"),
        "counted in the metrics"
    );
    app.stop().await;
}

#[tokio::test]
async fn sso_with_the_provider_down_is_a_clear_page() {
    const TEST: &str = "sso_with_the_provider_down_is_a_clear_page";
    let closed = crate::support::managers::closed_port();
    let app = TestAppBuilder::new("http://127.0.0.1:9")
        .toml(&format!("[oidc]\nissuer = \"http://{closed}\"\nclient_id = \"portico\"\n"))
        .spawn()
        .await;
    let page = app.get("/login").await.text().await.unwrap();
    assert!(page.contains("Sign in with single sign-on"), "{page}");
    let start = app.get("/login/oidc").await;
    assert_eq!(start.status(), 503);
    let text = start.text().await.unwrap();
    assert!(text.contains("The identity provider is unavailable"), "{text}");
    assert!(!text.contains(&closed.to_string()), "no internals");
    assert_eq!(audit(&app, "signin.failure").await[0].1["reason"], "provider_unavailable");
    let _ = TEST;
    app.stop().await;
}

#[tokio::test]
async fn sso_joins_under_the_login_failure_policy() {
    const TEST: &str = "sso_joins_under_the_login_failure_policy";
    let Some(provider) = OidcProvider::start(TEST, provider_options()) else { return };
    let master = bearer_master(&provider).await;
    let down = crate::support::managers::closed_port();
    for (policy, expect_success) in [("all", false), ("any", true)] {
        let app = TestAppBuilder::new(master.url.as_str())
            .slave("staging", "Staging", &format!("http://{down}"))
            .set("federation.login_failure_policy", policy)
            .toml(&provider.config("bearer"))
            .spawn()
            .await;
        let answer = single_sign_on(&app, "alice").await;
        if expect_success {
            assert_eq!(answer.status(), 303, "{policy}");
            let picker = app.get("/environments").await.text().await.unwrap();
            assert!(picker.contains("connection refused"), "{picker}");
            assert!(!picker.contains("Password to connect"), "no password to re-enter: {picker}");
            // Staging comes up: "Connect" joins it with the access token.
            let options = SimulatorOptions {
                bearer: Some(provider.bearer_options()),
                ..SimulatorOptions::slave(SimulatorData::demo_slave("eu"), master.url.clone())
            };
            let listener = std::net::TcpListener::bind(down).expect("the freed port");
            let staging = Simulator::start(listener, options).await.expect("staging");
            let token = crate::support::app::csrf_in(&picker).unwrap();
            let connect = app.post_form("/environments/staging/connect", &[("csrf_token", &token)]).await;
            assert_eq!(connect.status(), 303);
            let picker = app.get("/environments").await.text().await.unwrap();
            assert!(picker.contains("Connected to Staging."), "{picker}");
            assert_eq!(app.get("/environments/staging/apis").await.status(), 200);
            assert!(staging.requests().iter().any(|r| r.user.as_deref() == Some("alice")));
        } else {
            assert_eq!(answer.status(), 503, "{policy}");
            let page = answer.text().await.unwrap();
            assert!(
                page.contains("<strong>Staging</strong>: environment unavailable (connection refused)"),
                "{page}"
            );
            assert_eq!(app.get("/environments").await.status(), 303, "no session");
            let failure = &audit(&app, "signin.failure").await[0].1;
            assert_eq!(failure["reason"], "policy");
            assert_eq!(failure["environments"][0]["environment"], "staging");
        }
        app.stop().await;
    }
}

#[tokio::test]
async fn browser_single_sign_on_through_the_provider_and_out_again() {
    const TEST: &str = "browser_single_sign_on_through_the_provider_and_out_again";
    // The browser follows real redirects: Portico's public URL is its real address.
    let port = crate::support::free_port();
    let public = format!("http://127.0.0.1:{port}");
    let options = serde_json::json!({
        "redirectUris": [format!("{public}/auth/callback")],
        "postLogoutRedirectUris": [format!("{public}/login")],
    });
    let Some(provider) = OidcProvider::start(TEST, options) else { return };
    let master = bearer_master(&provider).await;
    let eu = bearer_slave(&provider, "eu", &master).await;
    let app = TestAppBuilder::new(master.url.as_str())
        .public_url(&public)
        .set("server.listen", &format!("127.0.0.1:{port}"))
        .slave("prod-eu", "Production EU", eu.url.as_str())
        .toml(&provider.config("bearer"))
        .spawn()
        .await;
    let Some(report) = crate::support::browser::run_journey(TEST, "oidc.mjs", &public, &[]).await else {
        return;
    };
    assert_eq!(
        report.step("the sign-in page offers single sign-on").data["violations"],
        serde_json::json!([])
    );
    assert_eq!(report.step("signing in at the provider").data["provider"], provider.issuer());
    let list = &report.step("the environment list").data;
    assert_eq!(list["entries"][0]["badges"], serde_json::json!(["current", "connected"]));
    assert_eq!(list["entries"][1]["badges"], serde_json::json!(["connected"]));
    assert!(list["account"].as_str().unwrap().contains("Alice · Acme"), "{list}");
    assert_eq!(list["violations"], serde_json::json!([]));
    app.stop().await;
}
