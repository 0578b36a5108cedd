//! Client-credentials connections: one token for many calls, one request at a time, renewed
//! after its lifetime on the app's clock; a refused client shows as an error with the provider's
//! reason.

use std::time::Duration;

use portico::credentials::Caller;

use super::{bearer, bearer_calls, provider, slave};
use crate::admin::{builder, csrf, item, page, signed_in};
use crate::support::TestDatabase;
use crate::support::managers::start_master;
use crate::support::oauth::OAuthServer;

crate::on_both_databases!(a_token_is_fetched_once_cached_and_renewed_before_it_expires);

async fn a_token_is_fetched_once_cached_and_renewed_before_it_expires(db: TestDatabase) {
    let oauth = OAuthServer::start().await;
    oauth.client("portico-crm", Some("crm-secret"));
    oauth.token_lifetime(Duration::from_secs(300));
    let master = start_master().await;
    let connections = "[[credentials.connections]]\nid = \"crm\"\nclient_id = \"portico-crm\"\n\
        client_secret = \"crm-secret\"\nscopes = [\"managers.read\", \"managers.write\"]\n\
        resource = \"https://managers.example.com\"\nallowed = { organizations = [\"*\"] }\n\n\
        [[credentials.connections]]\nid = \"wrong\"\nclient_id = \"portico-crm\"\n\
        client_secret = \"not-the-secret\"\nallowed = { organizations = [\"*\"] }\n";
    let url = master.url.as_str().trim_end_matches('/');
    let config = format!(
        "{}{}{}",
        slave("crm-env", url, "{ connection = \"crm\" }", true),
        slave("wrong-env", url, "{ connection = \"wrong\" }", true),
        provider("idp", &oauth.token_url(), "client_credentials", None, connections)
    );
    let builder = builder(&db, master.url.as_str()).toml(&config);
    let clock = builder.clock();
    let app = builder.spawn().await;
    signed_in(&app).await;

    // The admin's connection test, three times: each presents a bearer token to the manager.
    let token = csrf(&app).await;
    for _ in 0..3 {
        let res = app.post_form("/admin/slaves/crm-env/test", &[("csrf_token", &token)]).await;
        let text = res.text().await.unwrap();
        assert!(
            text.contains("connection “crm” of provider “idp” (bearer token, client_credentials)"),
            "{text}"
        );
    }
    // Twenty calls at once share the one token.
    let calls = (0..20).map(|_| bearer(&app, "crm-env", Caller::Portico));
    let tokens: Vec<String> =
        futures_util::future::join_all(calls).await.into_iter().map(Result::unwrap).collect();
    let granted = oauth.requests_of("client_credentials");
    let crm: Vec<_> = granted.iter().filter(|r| r.issued.is_some()).collect();
    assert_eq!(crm.len(), 1, "one token for every call: {granted:?}");
    assert!(tokens.iter().all(|t| Some(t) == crm[0].issued.as_ref()), "the token issued is the one sent");
    assert_eq!(crm[0].client_id.as_deref(), Some("portico-crm"));
    assert_eq!(crm[0].scope.as_deref(), Some("managers.read managers.write"));
    assert_eq!(crm[0].resource.as_deref(), Some("https://managers.example.com"));
    assert!(bearer_calls(&master) >= 3, "the manager received bearer tokens: {:?}", master.requests());

    // Renewed a minute before it expires (by the app's clock), once.
    clock.advance(Duration::from_secs(230));
    assert_eq!(bearer(&app, "crm-env", Caller::Portico).await.unwrap(), tokens[0], "still fresh");
    clock.advance(Duration::from_secs(20));
    let renewed = bearer(&app, "crm-env", Caller::Portico).await.unwrap();
    assert_ne!(renewed, tokens[0]);
    assert_eq!(bearer(&app, "crm-env", Caller::Portico).await.unwrap(), renewed);
    assert_eq!(oauth.requests_of("client_credentials").iter().filter(|r| r.issued.is_some()).count(), 2);

    // The admin sees both connections' state. The wrong one has been tried once (what the
    // background health probe would do, done here so the test does not race it).
    let refused = bearer(&app, "wrong-env", Caller::Portico).await;
    assert!(refused.is_err(), "the wrong client secret gets no token");
    let credentials = page(&app, "/admin/credentials").await;
    let crm = item(&credentials, "connection-crm");
    assert!(crm.contains(">connected<"), "{crm}");
    assert!(crm.contains("every organization"), "{crm}");
    assert!(crm.contains("crm-env (crm-env)"), "used by: {crm}");
    assert!(crm.contains("managers.read managers.write"), "{crm}");
    let wrong = item(&credentials, "connection-wrong");
    assert!(wrong.contains(">error<"), "{wrong}");
    assert!(
        wrong.contains("the token endpoint refused: invalid_client: client authentication failed"),
        "{wrong}"
    );
    assert!(
        !credentials.contains("crm-secret") && !credentials.contains(&renewed),
        "no secret or token shown"
    );

    // The connection test says why a refused client cannot be used.
    let res = app.post_form("/admin/slaves/wrong-env/test", &[("csrf_token", &token)]).await;
    let text = res.text().await.unwrap();
    assert!(text.contains("invalid_client: client authentication failed"), "{text}");
}
