//! Service credentials of slaves added in the admin UI: given by reference (an environment
//! variable, a file), stored and audited as the reference, read as the config file's are, and
//! used by the health probes and the connection test; a password typed where the reference
//! belongs is refused and never kept.

use std::io::Write;

use portico::domain::EnvironmentId;
use portico::simulator::{Simulator, SimulatorData, SimulatorOptions};

use super::{add_slave, builder, csrf, eventually, field_error, item, page, signed_in, slave_fields};
use crate::support::managers::listener;
use crate::support::{TestApp, TestDatabase, logs};

crate::on_both_databases!(
    stored_slaves_are_probed_and_tested_with_their_referenced_credential,
    a_password_where_a_reference_belongs_is_refused_and_not_kept,
);

fn id(raw: &str) -> EnvironmentId {
    EnvironmentId::parse(raw).unwrap()
}

/// An environment variable every test process has; the master gets a user `svc` whose password
/// is its value, so `env:PATH` is a working reference without changing the process environment.
const ENV_VAR: &str = "PATH";

/// The demo master, plus the service account `svc` (password: the value of [`ENV_VAR`]).
async fn master_with_service_account() -> Simulator {
    let mut data = SimulatorData::demo_master();
    let mut svc = data.user_by_login("alice").expect("alice").clone();
    svc.id = "m-user-svc".to_owned();
    svc.login_name = "svc".to_owned();
    svc.name = "Portico service".to_owned();
    svc.password = Some(std::env::var(ENV_VAR).expect("PATH is set"));
    data.users.push(svc);
    Simulator::start(listener(), SimulatorOptions::master(data)).await.expect("master")
}

/// `(badge, detail)` of the "Service credential" line of a connection test.
async fn service_check(app: &TestApp, token: &str, slave: &str) -> (String, String) {
    let res = app.post_form(&format!("/admin/slaves/{slave}/test"), &[("csrf_token", token)]).await;
    assert_eq!(res.status(), 200);
    let text = res.text().await.unwrap();
    let name = "<span class=\"check-name\">Service credential";
    let line = &text[text.find(name).expect("the check") + name.len()..];
    let between = |start: &str| {
        let at = line.find(start).unwrap() + start.len();
        line[at..at + line[at..].find("</span>").unwrap()].to_owned()
    };
    let badge = between("\">");
    (badge.rsplit('>').next().unwrap().to_owned(), between("<span class=\"check-detail\">"))
}

async fn stored_slaves_are_probed_and_tested_with_their_referenced_credential(db: TestDatabase) {
    let master = master_with_service_account().await;
    let mut file = tempfile::NamedTempFile::new().unwrap();
    writeln!(file, "alice-password").unwrap();
    let file_ref = format!("file:{}", file.path().display());
    let app = builder(&db, master.url.as_str()).spawn().await;
    signed_in(&app).await;
    let env_ref = format!("env:{ENV_VAR}");
    for (slave, name, user, reference) in
        [("by-env", "By env", "svc", env_ref.as_str()), ("by-file", "By file", "alice", file_ref.as_str())]
    {
        let mut fields = slave_fields(slave, name, master.url.as_str());
        fields.extend([("auth_kind", "basic"), ("auth_username", user), ("auth_password", reference)]);
        let res = add_slave(&app, &fields).await;
        assert_eq!(res.status(), 303, "{}", res.text().await.unwrap());
        let env = app.state.environments().get(&id(slave)).expect("in force");
        assert!(env.service.is_some(), "{slave} runs with its credential");
    }

    // Stored as the reference, as the config file would write it.
    let stored = app.state.db().get_slave(&id("by-env")).await.unwrap().unwrap();
    let text = stored.auth.as_ref().map(|a| a.as_str().to_owned()).unwrap();
    assert_eq!(text, r#"{ basic = { username = "svc", password = { env = "PATH" } } }"#);
    let stored = app.state.db().get_slave(&id("by-file")).await.unwrap().unwrap();
    let text = stored.auth.as_ref().map(|a| a.as_str().to_owned()).unwrap();
    assert!(text.contains(&format!("{{ file = \"{}\" }}", file.path().display())), "{text}");
    assert!(!text.contains("alice-password"), "{text}");

    // The health probes present it: the master sees `GET /currentuser` as each user, with Basic.
    for user in ["svc", "alice"] {
        eventually(&format!("a probe as {user}"), async || {
            master.requests().iter().any(|r| {
                r.path.ends_with("/currentuser")
                    && r.headers.get("authorization").map(String::as_str) == Some("Basic")
                    && r.user.as_deref() == Some(user)
                    && r.status == Some(200)
            })
        })
        .await;
    }

    // The connection test passes the service-credential check.
    let token = csrf(&app).await;
    let (badge, detail) = service_check(&app, &token, "by-env").await;
    assert_eq!(badge, "ok", "{detail}");
    assert!(detail.starts_with("accepted: “svc” is known there as svc"), "{detail}");
    let (badge, detail) = service_check(&app, &token, "by-file").await;
    assert_eq!((badge.as_str(), detail.as_str()), ("ok", "accepted: “alice” is known there as alice (user)"));

    // Shown by its kind and reference on the list and in the edit form.
    let list = page(&app, "/admin/slaves").await;
    let entry = item(&list, "slave-by-env");
    assert!(entry.contains("basic: “svc”, password from environment variable PATH"), "{entry}");
    let form = page(&app, "/admin/slaves/by-file/edit").await;
    assert!(form.contains(&format!("value=\"{file_ref}\"")), "the reference is prefilled");
    assert!(form.contains("<option value=\"basic\" selected>"), "{form}");

    // The audit log holds the kind and the reference's name, never a value.
    let entries = app.state.db().audit_page(None, 20).await.unwrap();
    let created: Vec<_> = entries.iter().filter(|e| e.action == "slave.create").collect();
    let detail: serde_json::Value = serde_json::from_str(created[1].detail.as_deref().unwrap()).unwrap();
    assert_eq!(
        detail["after"]["service_credential"],
        "basic: “svc”, password from environment variable PATH"
    );
    let secret_path = std::env::var(ENV_VAR).unwrap();
    for entry in &entries {
        let detail = entry.detail.as_deref().unwrap_or_default();
        assert!(!detail.contains("alice-password") && !detail.contains(&secret_path), "{detail}");
    }
    assert!(!page(&app, "/admin/audit").await.contains(&secret_path));
    assert!(!logs::text().contains(&secret_path), "the secret never reaches a log");
    app.stop().await;
}

async fn a_password_where_a_reference_belongs_is_refused_and_not_kept(db: TestDatabase) {
    let app = builder(&db, super::NOWHERE).spawn().await;
    signed_in(&app).await;
    let basic = |password: &'static str| {
        let mut fields = slave_fields("eu", "Europe", "https://eu.example.com");
        fields.extend([("auth_kind", "basic"), ("auth_username", "svc"), ("auth_password", password)]);
        fields
    };
    let res = add_slave(&app, &basic("Sup3r-Secret-Pa55")).await;
    assert_eq!(res.status(), 400);
    let form = res.text().await.unwrap();
    let message = field_error(&form, "auth-password");
    assert!(
        message.starts_with("This is not a reference to a secret. Portico never keeps a password"),
        "{message}"
    );
    assert!(!form.contains("Sup3r-Secret-Pa55"), "what was typed is not shown again");

    for (typed, expected) in [
        (
            "env:PORTICO_TEST_UNSET_VARIABLE",
            "Portico cannot read it: environment variable PORTICO_TEST_UNSET_VARIABLE is not set.",
        ),
        (
            "file:/nonexistent/portico-secret",
            "Portico cannot read it: cannot read secret file /nonexistent/portico-secret: entity not found.",
        ),
        (
            "env:not a name",
            "After env: write the name of an environment variable, like env:PORTICO_EU_PASSWORD.",
        ),
    ] {
        let res = add_slave(&app, &basic(typed)).await;
        assert_eq!(res.status(), 400, "{typed}");
        assert_eq!(field_error(&res.text().await.unwrap(), "auth-password"), expected, "{typed}");
    }
    let vault_token = r#"{ vault = "http://127.0.0.1:8200", path = "secret/data/p", field = "f", token = "s.Sup3r-Token" }"#;
    let res = add_slave(&app, &basic(vault_token)).await;
    assert_eq!(res.status(), 400);
    let form = res.text().await.unwrap();
    assert!(field_error(&form, "auth-password").starts_with("This is not a reference to a secret."));
    assert!(!form.contains("Sup3r-Token"), "what was typed is not shown again");

    let mut fields = slave_fields("eu", "Europe", "https://eu.example.com");
    fields.extend([("auth_kind", "connection"), ("auth_connection", "nowhere")]);
    let res = add_slave(&app, &fields).await;
    assert_eq!(
        field_error(&res.text().await.unwrap(), "auth-connection"),
        "There is no credential connection “nowhere” in the config file."
    );

    assert!(app.state.db().list_slaves().await.unwrap().is_empty(), "nothing stored");
    let actions = super::audit_actions(&app).await;
    assert!(actions.iter().all(|(_, a, _)| a != "slave.create"), "{actions:?}");
    assert!(!logs::text().contains("Sup3r-Secret-Pa55") && !logs::text().contains("Sup3r-Token"));
    app.stop().await;
}
