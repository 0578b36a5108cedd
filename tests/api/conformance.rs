//! Conformance: every manager client call goes through Prism, a proxy that validates each request
//! and response against the API Manager v1.3 swagger, in front of the simulated master.
//!
//! How, and what is worked around:
//! - Prism validates against a copy of the swagger derived at test time
//!   (`support::prism::derived_swagger`): base path folded into the paths, `$ref` examples
//!   dropped, the session cookie and `Authorization` accepted beside `basic`. Nothing a request
//!   or response must look like is changed.
//! - Prism runs through `tests/peers/prism-proxy.cjs`, which changes two things in Prism's
//!   forwarding and nothing in its validation: the 303 answering `POST /login` is passed back
//!   instead of followed (Prism would otherwise validate and return the redirect target's answer
//!   and drop the session cookie), and repeated `Set-Cookie` headers stay separate.
//! - With `--errors`, Prism refuses an invalid request (422) before it reaches the simulator and
//!   turns an invalid response into an error answer, so a violation fails the call; the test also
//!   fails on any error-level line in Prism's output. Warnings are allowed: they are statuses the
//!   swagger does not declare (404 on a definition, 401 on most operations).
//! - No exception: any error-level line fails the test. Prism answers a secured operation asked
//!   without credentials itself (a 401, at error level) and never forwards it, so a probe that
//!   asked one would fail both here and in the count of probes that reached the simulator.
//! - The health probe runs as the application sends it: the application itself, with its master
//!   and a slave holding a service credential behind Prism, probes both, signs a user in and out.
//! - The slave simulator's own client (login, current user, organization, logout at the master)
//!   also goes through Prism: the slave's master URL is the proxy.
//! - Two negative controls prove Prism validates at all: an invalid request body is refused
//!   before the simulator sees it, and an answer that breaks the swagger becomes an error.

use std::time::Duration;

use portico::domain::{EnvironmentId, ManagerDefinition};
use portico::manager::{CSRF_HEADER, ManagerClient, ManagerCredentials, ManagerError, NewApplication};
use portico::simulator::{Failure, FaultRule, Operation, Simulator};
use serde_json::Value;

use crate::support::TestAppBuilder;
use crate::support::managers::{is_health_probe, secret, start_master, start_slave};
use crate::support::prism::{self, PrismProxy};

#[tokio::test]
async fn every_client_call_conforms_to_the_swagger() {
    const TEST: &str = "conformance::every_client_call_conforms_to_the_swagger";
    if let Some((what, install)) = prism::missing() {
        crate::support::missing_peer(TEST, &what, &install);
        return;
    }
    let original: Value =
        serde_json::from_slice(&std::fs::read(prism::swagger_path()).expect("read the swagger"))
            .expect("the swagger is JSON");
    let dir = tempfile::tempdir().expect("tempdir");
    let spec = dir.path().join("api-manager-v1.3.derived.json");
    std::fs::write(&spec, serde_json::to_vec(&prism::derived_swagger(&original)).expect("json"))
        .expect("write");

    let master = start_master().await;
    let upstream = master.url.clone();
    let proxy = tokio::task::spawn_blocking(move || PrismProxy::start(&spec, &upstream))
        .await
        .expect("join")
        .unwrap_or_else(|e| panic!("{e}"));
    let through_prism = ManagerDefinition {
        name: "master through Prism".into(),
        url: proxy.url.clone(),
        ..master.definition(EnvironmentId::master())
    };
    let client = ManagerClient::new(through_prism, Duration::from_secs(30)).expect("client");

    let probes = probe_both_ways(&client).await;
    let outcome = drive_every_call(&client).await;
    let slave = start_slave("eu", &proxy.url).await;
    let slave_outcome = crate::support::managers::client(&slave).login("bob", &secret("bob-password")).await;
    let portal = portal_through(&proxy).await;
    let log = settled_log(&proxy).await;
    for (what, result) in [("probe", probes), ("client calls", outcome), ("the application", portal)] {
        if let Err(failure) = result {
            panic!("{what}: {failure}\n--- Prism output ---\n{log}");
        }
    }
    if let Err(failure) = &slave_outcome {
        panic!("login through the slave: {failure}\n--- Prism output ---\n{log}");
    }
    let errors = prism::error_violations(&log);
    assert!(errors.is_empty(), "Prism found violations:\n{errors:#?}\n--- Prism output ---\n{log}");
    // The client's probe, its `app_info` read and the application's probe of its master got through.
    let probes =
        master.requests().iter().filter(|r| is_health_probe(r) && r.path.ends_with("/appinfo")).count();
    assert!(probes >= 3, "only {probes} unauthenticated probes reached the simulator:\n{log}");
    for warning in prism::warnings(&log) {
        eprintln!("Prism warning (allowed): {warning}");
    }
    let slave_asked_master = master
        .requests()
        .iter()
        .any(|r| r.path == "/api/portal/v1.3/organizations/m-org-globex" && r.user.as_deref() == Some("bob"));
    assert!(slave_asked_master, "the slave's calls to the master went through Prism");
    let forwarded = master.requests().len();
    assert!(forwarded >= 23, "only {forwarded} calls reached the simulator:\n{log}");

    negative_controls(&proxy, &master, &client).await;
}

/// The probe as the health monitor sends it, without and with a service credential.
async fn probe_both_ways(client: &ManagerClient) -> Result<(), String> {
    client.probe(None).await.map_err(|e| format!("without credentials: {e}"))?;
    let password = secret("alice-password");
    let service = ManagerCredentials::Basic { username: "alice", password: &password };
    client.probe(Some(service)).await.map_err(|e| format!("with a service credential: {e}"))?;
    Ok(())
}

/// The application with its master, and a slave with a service credential, behind Prism: its
/// health probes of both, then a sign-in and a sign-out, as it sends them.
async fn portal_through(proxy: &PrismProxy) -> Result<(), String> {
    let url = proxy.url.as_str().trim_end_matches('/');
    let app = TestAppBuilder::new(url)
        .timeouts("20s", "20s")
        .toml(&format!(
            "[[slaves]]\nid = \"svc\"\nname = \"Service credential\"\nurl = \"{url}\"\ntimeout = \"20s\"\n\
             auth = {{ basic = {{ username = \"alice\", password = \"alice-password\" }} }}\n"
        ))
        .spawn()
        .await;
    app.state.health().probe_all(app.state.environments(), app.state.clock()).await;
    let health = app.state.health().snapshot();
    if health.len() != 2 || !health.values().all(|h| h.up) {
        return Err(format!("every manager answers the probe: {health:?}"));
    }
    let signed_in = app.sign_in("alice", "alice-password").await.status();
    let signed_out = app.sign_out().await.status();
    app.stop().await;
    if signed_in != 303 || signed_out != 303 {
        return Err(format!("sign-in answered {signed_in}, sign-out {signed_out}"));
    }
    Ok(())
}

/// The calls of one application's page and its changes: read, update, keys, API access, delete.
async fn drive_one_application(
    client: &ManagerClient,
    creds: ManagerCredentials<'_>,
    app: &portico::manager::Application,
    api_id: &str,
) -> Result<(), String> {
    let shown = |what: &'static str| move |e: ManagerError| format!("{what}: {e} ({})", e.kind());
    client.application(creds, &app.id).await.map_err(shown("application"))?;
    let update = portico::manager::ApplicationUpdate {
        id: app.id.clone(),
        name: "Conformance app (renamed)".into(),
        description: "updated through Prism".into(),
        organization_id: app.organization_id.clone(),
    };
    client.update_application(creds, &update).await.map_err(shown("update application"))?;
    let key = client.create_api_key(creds, &app.id).await.map_err(shown("create API key"))?;
    client.api_keys(creds, &app.id).await.map_err(shown("API keys"))?;
    client.delete_api_key(creds, &app.id, &key.id).await.map_err(shown("delete API key"))?;
    let oauth = client.create_oauth_client(creds, &app.id).await.map_err(shown("create OAuth client"))?;
    // (`PUT …/oauth/{clientid}/newsecret` is left out here: the swagger gives its 204 answer an
    // `OAuthClient` body, which no HTTP server can send with a 204, so Prism refuses every
    // answer to it. The portal tests drive it against the simulator, which answers 204 without a
    // body; Portico then reads the new secret from `GET …/oauth`.)
    client.delete_oauth_client(creds, &app.id, &oauth.id).await.map_err(shown("delete OAuth client"))?;
    let access = client.request_api_access(creds, &app.id, api_id).await.map_err(shown("request access"))?;
    client.api_access(creds, &app.id).await.map_err(shown("API access"))?;
    client.remove_api_access(creds, &app.id, &access.id).await.map_err(shown("remove access"))?;
    let now = std::time::SystemTime::now();
    let day = std::time::Duration::from_secs(86_400);
    client.usage(creds, &app.id, now - day, now).await.map_err(shown("usage report"))?;
    client.quota(creds, &app.id).await.map_err(shown("quota"))?;
    client.delete_application(creds, &app.id).await.map_err(shown("delete application"))?;
    Ok(())
}

/// Runs each client operation with the outcome the simulator's demo data implies.
async fn drive_every_call(client: &ManagerClient) -> Result<(), String> {
    let check = |what: &str, ok: bool| {
        if ok { Ok(()) } else { Err(format!("unexpected outcome: {what}")) }
    };
    let shown = |what: &'static str| move |e: ManagerError| format!("{what}: {e} ({})", e.kind());

    check(
        "wrong password",
        client.login("alice", &secret("wrong")).await.err() == Some(ManagerError::WrongCredentials),
    )?;
    check(
        "password change required",
        client.login("dave", &secret("dave-password")).await.err()
            == Some(ManagerError::PasswordChangeRequired),
    )?;
    check(
        "disabled account",
        client.login("carol", &secret("carol-password")).await.err() == Some(ManagerError::AccountDisabled),
    )?;

    let mut session = client.login("alice", &secret("alice-password")).await.map_err(shown("login"))?;
    let user = client.current_user(&mut session).await.map_err(shown("current user"))?;
    check("CSRF token from currentuser", session.csrf_token.is_some())?;
    let creds = ManagerCredentials::Session(&session);
    let org = client.organization(creds, &user.organization_id).await.map_err(shown("organization"))?;
    let by_name = client.organization_by_name(creds, &org.name).await.map_err(shown("by name"))?;
    check("organization by name", by_name.map(|o| o.id) == Some(org.id.clone()))?;
    let none = client.organization_by_name(creds, "No Such Org").await.map_err(shown("by name"))?;
    check("unknown organization name", none.is_none())?;
    let info = client.app_info(None).await.map_err(shown("app info"))?;
    check("product version", info.product_version.is_some())?;
    let apis = client.discovery_apis(creds).await.map_err(shown("discovery"))?;
    check("APIs listed", !apis.is_empty())?;
    for api in &apis {
        let definition = client.api_definition(creds, &api.id).await.map_err(shown("definition"))?;
        check("definition document", definition.is_object())?;
    }
    check(
        "unknown API",
        client.api_definition(creds, "no-such-api").await.err() == Some(ManagerError::NotFound),
    )?;
    let before = client.applications(creds).await.map_err(shown("applications"))?;
    let new = NewApplication {
        name: "Conformance app".into(),
        description: Some("made through Prism".into()),
        organization_id: org.id.clone(),
    };
    let created = client.create_application(creds, &new).await.map_err(shown("create application"))?;
    check("created application", created.organization_id == org.id)?;
    let after = client.applications(creds).await.map_err(shown("applications"))?;
    check("application listed", after.len() == before.len() + 1)?;
    let some_api = apis.first().map(|a| a.id.clone()).ok_or("bob sees no API")?;
    drive_one_application(client, creds, &created, &some_api).await?;

    let password = secret("bob-password");
    let basic = ManagerCredentials::Basic { username: "bob", password: &password };
    client.discovery_apis(basic).await.map_err(shown("discovery with basic credentials"))?;

    client.logout(&session).await.map_err(shown("logout"))?;
    check(
        "ended session",
        client.applications(ManagerCredentials::Session(&session)).await.err()
            == Some(ManagerError::SessionExpired),
    )?;
    // A session without a CSRF token yet: logout fetches it first.
    let bare = client.login("bob", &secret("bob-password")).await.map_err(shown("login"))?;
    client.logout(&bare).await.map_err(shown("logout without a token"))?;
    Ok(())
}

/// Proves the proxy validates at all: an invalid request is refused before the simulator sees
/// it, and an answer that breaks the swagger becomes an error for the client.
async fn negative_controls(proxy: &PrismProxy, master: &Simulator, client: &ManagerClient) {
    let mut session = client.login("bob", &secret("bob-password")).await.expect("login");
    client.current_user(&mut session).await.expect("token");
    let seen_before = master.requests().len();
    let invalid = reqwest::Client::new()
        .post(format!("{}api/portal/v1.3/applications", proxy.url))
        .header("cookie", session.cookie.as_str())
        .header(CSRF_HEADER, session.csrf_token.as_ref().map(|t| t.as_str()).unwrap_or_default())
        .json(&serde_json::json!({ "name": 5, "apis": "not-a-list" }))
        .send()
        .await
        .expect("send");
    assert_eq!(invalid.status(), reqwest::StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(master.requests().len(), seen_before, "the invalid request never reached the simulator");

    // An error body where the swagger promises a list of organizations.
    master
        .faults()
        .add(FaultRule::new(Operation::Organizations).failure(Failure::Status { status: 200 }).times(1));
    let broken = client.organization_by_name(ManagerCredentials::Session(&session), "Globex").await;
    assert_eq!(broken, Err(ManagerError::ServerError(500)));
    let log = settled_log(proxy).await;
    assert!(
        prism::error_violations(&log).iter().any(|line| line.contains("VIOLATIONS")),
        "Prism reported the broken answer:\n{log}"
    );
}

/// Prism's output once the lines of the last call have been read from its pipes.
async fn settled_log(proxy: &PrismProxy) -> String {
    let mut log = proxy.log();
    loop {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let now = proxy.log();
        if now == log {
            return now;
        }
        log = now;
    }
}
