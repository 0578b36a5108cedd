//! Secrets that live elsewhere: Key Vault through the managed identity (local endpoints that
//! follow the documented wire formats, see `support::azure`: no emulator of them runs here) and
//! a real OpenBao server. What is checked is what an operator sees: `/readyz` detail, what the
//! manager receives with the service credential, `check-config` output, start-up errors.

use std::time::{Duration, Instant};

use portico::simulator::Simulator;
use serde_json::Value;

use crate::cli::{portico, text};
use crate::support::TestApp;
use crate::support::TestAppBuilder;
use crate::support::azure::AzureEndpoints;
use crate::support::managers::start_master;
use crate::support::openbao::{OpenBao, ROOT_TOKEN};

/// The master's service credential is alice with `password` (a secret reference, TOML).
fn with_service_password(master: &Simulator, identity: &str, password: &str) -> TestAppBuilder {
    TestAppBuilder::new(master.url.as_str()).toml(&format!(
        "[identity]\nendpoint = \"{identity}\"\n\n[master.auth.basic]\nusername = \"alice\"\npassword = {password}\n"
    ))
}

async fn readyz(app: &TestApp) -> (u16, Value) {
    let res = app.get("/readyz").await;
    let status = res.status().as_u16();
    (status, res.json().await.unwrap())
}

/// The state of the one refreshed secret on `/readyz`, once `check` holds (bounded wait: the
/// refresh runs every 200 ms).
async fn secret_state(app: &TestApp, check: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, body) = readyz(app).await;
        let secret = body["secrets"][0].clone();
        if check(&secret) || Instant::now() > deadline {
            return secret;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Probes the managers now and returns the status the master answered the probe with.
/// What the manager answered the probe made now. Only requests made since then, and finished,
/// count: the background monitor's own probe may still be in flight from before.
async fn probe_status(app: &TestApp, master: &Simulator) -> Option<u16> {
    let before = master.requests().len();
    app.state.health().probe_all(app.state.environments(), app.state.clock()).await;
    let probes: Vec<_> =
        master.requests().into_iter().skip(before).filter(|r| r.path.ends_with("/currentuser")).collect();
    probes.iter().rev().find_map(|r| r.status)
}

#[tokio::test]
async fn a_key_vault_secret_rotates_without_restart_and_a_failed_refresh_keeps_the_last_value() {
    let azure = AzureEndpoints::start().await;
    azure.set_secret("svc-password", "v1", "not-the-password");
    let master = start_master().await;
    let reference = format!("{{ keyvault = \"{}\", refresh = \"200ms\" }}", azure.secret_url("svc-password"));
    let app = with_service_password(&master, &azure.imds_url(), &reference)
        .admin("root", "root-password-123")
        .spawn()
        .await;

    let (status, body) = readyz(&app).await;
    assert_eq!(status, 200);
    let secret = &body["secrets"][0];
    assert_eq!(secret["key"], "master.auth.basic.password");
    assert_eq!(secret["status"], "ok");
    assert_eq!(secret["version"], "v1");
    assert!(!body.to_string().contains("not-the-password"), "the value never shows");
    assert_eq!(probe_status(&app, &master).await, Some(401), "v1 is the wrong password");

    azure.set_secret("svc-password", "v2", "alice-password");
    let secret = secret_state(&app, |s| s["version"] == "v2").await;
    assert_eq!(secret["version"], "v2", "rotation seen without restart: {secret}");
    assert_eq!(probe_status(&app, &master).await, Some(200), "the manager now receives v2");

    // One token (system-assigned identity, instance metadata protocol) served every read.
    let tokens = azure.token_requests();
    assert_eq!(tokens.len(), 1, "{tokens:?}");
    assert_eq!(tokens[0].flavour, "imds");
    assert_eq!(tokens[0].resource.as_deref(), Some("https://vault.azure.net"));
    assert_eq!(tokens[0].client_id, None);
    assert_eq!(tokens[0].api_version.as_deref(), Some("2018-02-01"));
    assert!(azure.secret_reads() >= 2);

    azure.disable_secret("svc-password");
    let secret = secret_state(&app, |s| s["status"] == "stale").await;
    assert_eq!(secret["status"], "stale", "{secret}");
    let error = secret["error"].as_str().unwrap();
    assert!(error.contains("svc-password") && error.contains("SecretDisabled"), "{error}");
    assert_eq!(readyz(&app).await.0, 200, "the last good value is still in use");
    assert_eq!(app.admin_sign_in("root", "root-password-123").await.status(), 303);
    let dashboard = app.get("/admin").await.text().await.unwrap();
    let panel = &dashboard
        [dashboard.find("id=\"secret-master.auth.basic.password\"").expect("secret on the dashboard")..];
    assert!(panel.contains("stale") && panel.contains("SecretDisabled") && panel.contains("v2"), "{panel}");
    assert!(!dashboard.contains("alice-password"));
    assert_eq!(probe_status(&app, &master).await, Some(200), "and the manager still receives it");
    assert!(!crate::support::logs::text().contains("alice-password"));
}

#[tokio::test]
async fn a_user_assigned_identity_on_app_service_asks_for_its_client_id() {
    let azure = AzureEndpoints::start().await;
    azure.set_secret("svc-password", "v1", "alice-password");
    let master = start_master().await;
    let reference =
        format!("{{ keyvault = \"{}\", identity = \"cid-1234\" }}", azure.secret_url("svc-password"));
    let app = with_service_password(&master, "http://127.0.0.1:9/unused", &reference)
        .env("IDENTITY_ENDPOINT", &azure.app_service_url())
        .env("IDENTITY_HEADER", &azure.app_service_header())
        .spawn()
        .await;
    let tokens = azure.token_requests();
    assert_eq!(tokens.len(), 1, "{tokens:?}");
    assert_eq!(tokens[0].flavour, "app_service");
    assert_eq!(tokens[0].client_id.as_deref(), Some("cid-1234"));
    assert_eq!(tokens[0].api_version.as_deref(), Some("2019-08-01"));
    assert_eq!(probe_status(&app, &master).await, Some(200));
}

#[tokio::test]
async fn an_expiring_token_is_renewed_and_throttling_is_retried() {
    let azure = AzureEndpoints::start().await;
    azure.set_secret("svc-password", "v1", "alice-password");
    azure.fail_token_requests(&[429, 503]);
    let master = start_master().await;
    let reference = format!("{{ keyvault = \"{}\", refresh = \"200ms\" }}", azure.secret_url("svc-password"));
    let builder = with_service_password(&master, &azure.imds_url(), &reference);
    let clock = builder.clock();
    let app = builder.spawn().await;
    // 429, then 503, then a token: the start waited it out.
    assert_eq!(azure.token_requests().len(), 3);
    assert_eq!(readyz(&app).await.1["secrets"][0]["status"], "ok");

    // The token lasts an hour: refreshes reuse it until it is close to expiry.
    let reads = azure.secret_reads();
    let deadline = Instant::now() + Duration::from_secs(10);
    while azure.secret_reads() < reads + 2 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(azure.token_requests().len(), 3, "no new token while the old one is good");

    clock.advance(Duration::from_secs(3600));
    let deadline = Instant::now() + Duration::from_secs(10);
    while azure.token_requests().len() < 4 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(azure.token_requests().len(), 4, "an expired token is renewed");
    assert_eq!(readyz(&app).await.1["secrets"][0]["status"], "ok");
}

#[tokio::test]
async fn a_missing_secret_stops_the_start_with_its_name() {
    let azure = AzureEndpoints::start().await;
    let master = start_master().await;
    let reference = format!("{{ keyvault = \"{}\" }}", azure.secret_url("svc-missing"));
    let error = match with_service_password(&master, &azure.imds_url(), &reference).try_spawn().await {
        Ok(_) => panic!("Portico started without its secret"),
        Err(e) => e,
    };
    assert!(error.contains("master.auth.basic.password"), "{error}");
    assert!(error.contains("svc-missing") && error.contains("SecretNotFound"), "{error}");
}

#[tokio::test]
async fn an_openbao_secret_is_read_and_its_rotation_is_seen_without_restart() {
    let Some(bao) = OpenBao::start("an_openbao_secret_is_read").await else { return };
    bao.put("portico", serde_json::json!({ "svc": "not-the-password" })).await;
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("bao-token");
    std::fs::write(&token_file, format!("{ROOT_TOKEN}\n")).unwrap();
    let master = start_master().await;
    let reference = format!(
        "{{ vault = \"{}\", path = \"secret/data/portico\", field = \"svc\", token = {{ file = \"{}\" }}, refresh = \"200ms\" }}",
        bao.url,
        token_file.display()
    );
    let app = with_service_password(&master, "http://127.0.0.1:9/unused", &reference).spawn().await;
    let secret = readyz(&app).await.1["secrets"][0].clone();
    assert_eq!((secret["status"].as_str(), secret["version"].as_str()), (Some("ok"), Some("1")), "{secret}");
    assert_eq!(probe_status(&app, &master).await, Some(401));

    bao.put("portico", serde_json::json!({ "svc": "alice-password" })).await;
    let secret = secret_state(&app, |s| s["version"] == "2").await;
    assert_eq!(secret["version"], "2", "{secret}");
    assert_eq!(probe_status(&app, &master).await, Some(200));

    // A version without the field: the refresh fails, says why, and keeps version 2.
    bao.put("portico", serde_json::json!({ "other": "x" })).await;
    let secret = secret_state(&app, |s| s["status"] == "stale").await;
    assert!(secret["error"].as_str().unwrap().contains("no field `svc`"), "{secret}");
    assert_eq!(probe_status(&app, &master).await, Some(200));
}

/// Runs `portico check-config` off the test's runtime, which keeps serving the local endpoints.
async fn check_config(path: &std::path::Path) -> std::process::Output {
    let path = path.to_str().unwrap().to_owned();
    tokio::task::spawn_blocking(move || portico(&["check-config", "--config", &path], &[], None))
        .await
        .unwrap()
}

#[tokio::test]
async fn check_config_reads_every_reference_and_prints_no_value() {
    let Some(bao) = OpenBao::start("check_config_reads_every_reference").await else { return };
    let session_secret = "s3ssion-secret-0123456789abcdef0123456789";
    bao.put("portico", serde_json::json!({ "session": session_secret, "db": "sqlite://data/check.db" }))
        .await;
    let azure = AzureEndpoints::start().await;
    azure.set_secret("svc-password", "v7", "alice-password");
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("bao-token");
    std::fs::write(&token_file, ROOT_TOKEN).unwrap();
    let vault = |field: &str| {
        format!(
            "{{ vault = \"{}\", path = \"secret/data/portico\", field = \"{field}\", token = {{ file = \"{}\" }} }}",
            bao.url,
            token_file.display()
        )
    };
    let config = format!(
        "[session]\nsecret = {}\n\n[database]\nurl = {}\n\n[identity]\nendpoint = \"{}\"\n\n\
         [master]\nurl = \"http://127.0.0.1:9\"\n\n[master.auth.basic]\nusername = \"alice\"\n\
         password = {{ keyvault = \"{}\" }}\n",
        vault("session"),
        vault("db"),
        azure.imds_url(),
        azure.secret_url("svc-password")
    );
    let path = dir.path().join("portico.toml");
    std::fs::write(&path, &config).unwrap();
    let out = check_config(&path).await;
    let printed = text(&out);
    assert!(out.status.success(), "{printed}");
    assert!(
        printed.contains("ok      session.secret: Vault secret secret/data/portico#session"),
        "{printed}"
    );
    assert!(printed.contains("ok      database.url: Vault secret secret/data/portico#db"), "{printed}");
    assert!(
        printed.contains("ok      master.auth.basic.password: Key Vault secret svc-password"),
        "{printed}"
    );
    assert!(printed.contains("(version v7)"), "{printed}");
    for value in [session_secret, "sqlite://data/check.db", "alice-password", ROOT_TOKEN] {
        assert!(!printed.contains(value), "check-config printed a secret value:\n{printed}");
    }

    // The same file with one reference broken: named, explained, exit 1.
    std::fs::write(&path, config.replace("svc-password", "svc-gone")).unwrap();
    let out = check_config(&path).await;
    let printed = text(&out);
    assert!(!out.status.success());
    assert!(
        printed.contains("error   master.auth.basic.password: Key Vault secret svc-gone")
            && printed.contains("404 SecretNotFound"),
        "{printed}"
    );
}
