//! The credentials page and an admin's consent in headless Chromium (`tests/browser/
//! credentials.mjs`). Portico is reached as `localhost` and the provider as `127.0.0.1`: two
//! sites, so the browser applies its SameSite rules to the way back from the provider as it
//! would in production.

use super::{provider, slave};
use crate::support::TestAppBuilder;
use crate::support::browser::run_journey;
use crate::support::managers::start_master;
use crate::support::oauth::OAuthServer;

#[tokio::test]
async fn browser_credentials_consent_journey() {
    const TEST: &str = "browser_credentials_consent_journey";
    let oauth = OAuthServer::start().await;
    oauth.client("portico-reports", Some("reports-secret"));
    oauth.client("portico-crm", Some("crm-secret"));
    let master = start_master().await;
    let url = master.url.as_str().trim_end_matches('/');
    let code = "[[credentials.connections]]\nid = \"reports\"\nclient_id = \"portico-reports\"\n\
        client_secret = \"reports-secret\"\nscopes = [\"managers\"]\nallowed = { organizations = [\"Acme\"] }\n";
    let client = "[[credentials.connections]]\nid = \"crm\"\nclient_id = \"portico-crm\"\n\
        client_secret = \"crm-secret\"\nallowed = { organizations = [\"*\"] }\n";
    let config = format!(
        "{}{}{}{}",
        slave("reports-env", url, "{ connection = \"reports\" }", false),
        slave("crm-env", url, "{ connection = \"crm\" }", true),
        provider("consent-idp", &oauth.token_url(), "authorization_code", Some(&oauth.authorize_url()), code),
        provider("service-idp", &oauth.token_url(), "client_credentials", None, client),
    );
    // The public URL must be where the browser reaches Portico: the provider sends it back there.
    let port = crate::support::managers::listener().local_addr().unwrap().port();
    let app = TestAppBuilder::new(master.url.as_str())
        .set("server.listen", &format!("127.0.0.1:{port}"))
        .public_url(&format!("http://localhost:{port}"))
        .toml(&config)
        .admin("root", "admin-password-123")
        .spawn()
        .await;
    // The health probe of crm-env fetches its token; wait for it so the page is predictable.
    crate::admin::eventually("the first health probe", async || !oauth.requests().is_empty()).await;
    let Some(report) = run_journey(TEST, "credentials.mjs", &format!("http://localhost:{port}"), &[]).await
    else {
        return;
    };
    let data = |step: &str| &report.step(step).data;
    let before = data("signing in leads to the credentials");
    assert_eq!(before["heading"], "Credential connections");
    assert_eq!(before["current"], "Credentials");
    assert_eq!(
        before["connections"],
        serde_json::json!([
            { "id": "reports", "badges": ["authorization_code", "needs consent"] },
            { "id": "crm", "badges": ["client_credentials", "connected"] },
        ])
    );
    let consent = data("consenting at the provider");
    assert_eq!(consent["heading"], "Connection “reports” connected");
    assert_eq!(consent["connections"][0]["badges"][1], "connected");
    assert_eq!(data("the page fits a phone")["wide"], false);
    assert_eq!(oauth.requests_of("authorization_code").len(), 1);
    drop(app);
}
