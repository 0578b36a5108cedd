//! Authorization-code connections: an admin consents from `/admin/credentials` (redirect to the
//! provider's authorize page with state and PKCE, back to the callback), the state shows
//! connected, the refresh token is kept sealed in the database, and a restarted Portico on the
//! same database uses it (refreshing when the access token is due).

use std::time::Duration;

use portico::credentials::Caller;

use super::{bearer, provider, slave};
use crate::admin::{ADMIN, PASSWORD, audit_actions, item, page, signed_in};
use crate::support::managers::start_master;
use crate::support::oauth::OAuthServer;
use crate::support::{TestApp, TestAppBuilder, TestDatabase, location};

crate::on_both_databases!(an_admin_consents_and_the_connection_survives_a_restart);

/// Follows a consent from the Connect link through the provider back to the callback, as the
/// admin's browser would; returns the callback's answer.
async fn consent(app: &TestApp, connection: &str) -> reqwest::Response {
    let res = app.get(&format!("/admin/credentials/{connection}/connect")).await;
    assert_eq!(res.status(), 303);
    let authorize = url::Url::parse(&location(&res)).unwrap();
    let query: std::collections::HashMap<_, _> = authorize.query_pairs().into_owned().collect();
    assert_eq!(query.get("code_challenge_method").map(String::as_str), Some("S256"));
    assert_eq!(
        query.get("redirect_uri").map(String::as_str),
        Some("http://localhost/admin/credentials/callback")
    );
    assert!(query.get("state").is_some_and(|s| s.len() >= 32));
    let provider = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let back = provider.get(authorize).send().await.unwrap();
    assert_eq!(back.status(), 302, "the provider sends the browser back");
    let back = url::Url::parse(&location(&back)).unwrap();
    assert_eq!(back.path(), "/admin/credentials/callback");
    app.get(&format!("{}?{}", back.path(), back.query().unwrap_or_default())).await
}

/// A database two apps can share, one after the other.
fn shared(db: &TestDatabase, dir: &std::path::Path) -> String {
    match db {
        TestDatabase::Sqlite => format!("sqlite://{}", dir.join("portico.db").display()),
        TestDatabase::Postgres(pg) => pg.url.clone(),
    }
}

async fn an_admin_consents_and_the_connection_survives_a_restart(db: TestDatabase) {
    let oauth = OAuthServer::start().await;
    oauth.client("portico-reports", Some("reports-secret"));
    let master = start_master().await;
    let dir = tempfile::tempdir().unwrap();
    let connections = "[[credentials.connections]]\nid = \"reports\"\nclient_id = \"portico-reports\"\n\
        client_secret = \"reports-secret\"\nscopes = [\"managers\", \"offline_access\"]\n\
        allowed = { organizations = [\"*\"] }\n";
    let config = format!(
        "{}{}",
        slave(
            "reports-env",
            master.url.as_str().trim_end_matches('/'),
            "{ connection = \"reports\" }",
            false
        ),
        provider("idp", &oauth.token_url(), "authorization_code", Some(&oauth.authorize_url()), connections)
    );
    let database = shared(&db, dir.path());
    let configure = |b: TestAppBuilder| b.database(&database).toml(&config);
    let app = configure(TestAppBuilder::new(master.url.as_str())).admin(ADMIN, PASSWORD).spawn().await;
    signed_in(&app).await;

    // Before consent: the connection says so, and calls with it say so too.
    let before = item(&page(&app, "/admin/credentials").await, "connection-reports");
    assert!(before.contains(">needs consent<") && before.contains(">Connect<"), "{before}");
    let needs = bearer(&app, "reports-env", Caller::Portico).await.unwrap_err().to_string();
    assert_eq!(needs, "connection \"reports\" needs an admin's consent (admin UI, Credentials)");

    // A refused consent is shown with the provider's words.
    oauth.deny_consent(true);
    let denied = consent(&app, "reports").await;
    assert_eq!(denied.status(), 502);
    let text = denied.text().await.unwrap();
    assert!(text.contains("consent not given: access_denied: the resource owner refused"), "{text}");
    oauth.deny_consent(false);

    // The consent, end to end.
    let done = consent(&app, "reports").await;
    assert_eq!(done.status(), 200);
    assert!(done.text().await.unwrap().contains("Connection “reports” connected"));
    let after = item(&page(&app, "/admin/credentials").await, "connection-reports");
    assert!(
        after.contains(">connected<") && after.contains("by root") && after.contains(">Reconnect<"),
        "{after}"
    );
    let first = oauth.requests_of("authorization_code");
    assert_eq!(first.len(), 1);
    let token = bearer(&app, "reports-env", Caller::Portico).await.unwrap();
    assert_eq!(Some(&token), first[0].issued.as_ref(), "the access token of the consent is used");
    let actions = audit_actions(&app).await;
    assert!(
        actions.iter().any(|(actor, action, target)| actor == "admin:root"
            && action == "credential.connected"
            && target.as_deref() == Some("reports")),
        "{actions:?}"
    );
    // Sealed at rest: no token in clear in the database.
    let row = app.state.db().connection_state("reports").await.unwrap().unwrap();
    let stored = format!("{:?} {:?}", row.refresh_token, row.access_token);
    assert!(!stored.contains("refresh-") && !stored.contains(&token), "{stored}");

    // The callback is one use; another browser cannot finish someone's consent.
    let replay = app.get("/admin/credentials/callback?state=unknown&code=x").await;
    assert_eq!(replay.status(), 400);
    let elsewhere = app.get("/admin/credentials/reports/connect").await;
    let back = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(location(&elsewhere))
        .send()
        .await
        .unwrap();
    let back = url::Url::parse(&location(&back)).unwrap();
    let other_browser =
        reqwest::get(app.url(&format!("{}?{}", back.path(), back.query().unwrap()))).await.unwrap();
    assert_eq!(other_browser.status(), 400);
    assert!(other_browser.text().await.unwrap().contains("started in another browser"));
    app.stop().await;

    // A restart on the same database (the admin account is there already), as two replicas:
    // still connected, the stored token used, then refreshed once for both when it is due.
    let first = configure(TestAppBuilder::new(master.url.as_str()));
    let second = configure(TestAppBuilder::new(master.url.as_str()));
    let clocks = [first.clock(), second.clock()];
    let replicas = [first.spawn().await, second.spawn().await];
    for replica in &replicas {
        assert_eq!(bearer(replica, "reports-env", Caller::Portico).await.unwrap(), token);
    }
    assert!(oauth.requests_of("refresh_token").is_empty());
    for clock in &clocks {
        clock.advance(Duration::from_secs(300));
    }
    let calls = replicas.iter().flat_map(|r| (0..10).map(move |_| bearer(r, "reports-env", Caller::Portico)));
    let refreshed: Vec<String> =
        futures_util::future::join_all(calls).await.into_iter().map(Result::unwrap).collect();
    let refreshes = oauth.requests_of("refresh_token");
    assert_eq!(refreshes.len(), 1, "one refresh for every call on both replicas");
    assert!(refreshed.iter().all(|t| Some(t) == refreshes[0].issued.as_ref()), "{refreshed:?}");
    assert_eq!(oauth.reused_refresh_tokens(), 0, "a rotated refresh token is never presented twice");
    let again = &replicas[1];
    signed_in(again).await;
    let shown = item(&page(again, "/admin/credentials").await, "connection-reports");
    assert!(shown.contains(">connected<"), "{shown}");

    // Disconnected: consent is needed again.
    let csrf = crate::admin::csrf(again).await;
    let res = again.post_form("/admin/credentials/reports/disconnect", &[("csrf_token", &csrf)]).await;
    assert_eq!(res.status(), 303);
    let shown = item(&page(again, "/admin/credentials").await, "connection-reports");
    assert!(shown.contains(">needs consent<"), "{shown}");

    // Consent again; the provider then revokes the grant: the next refresh forgets the consent and
    // the admin sees why.
    assert_eq!(consent(again, "reports").await.status(), 200);
    oauth.revoke_refresh_tokens();
    clocks[1].advance(Duration::from_secs(300));
    let lost = bearer(again, "reports-env", Caller::Portico).await.unwrap_err().to_string();
    assert!(lost.contains("invalid_grant: refresh token unknown, revoked or already used"), "{lost}");
    let shown = item(&page(again, "/admin/credentials").await, "connection-reports");
    assert!(shown.contains(">needs consent<") && shown.contains("invalid_grant"), "{shown}");
}
