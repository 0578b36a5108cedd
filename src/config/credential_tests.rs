//! `[[credentials]]` and managers' token credentials as an operator meets them: the documented
//! example, and every mistake reported at once with its key.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;

use super::*;

const EXAMPLE: &str = include_str!("../../config/portico.toml");

fn load_text(text: &str, env: &[(&str, &str)]) -> ConfigReport {
    let env: Vec<(String, String)> = env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
    load_from_sources(Some((Path::new("portico.toml"), text)), env)
}

fn messages(report: &ConfigReport, severity: Severity) -> Vec<(String, String)> {
    report
        .problems
        .iter()
        .filter(|p| p.severity == severity)
        .map(|p| (p.key.clone(), p.message.clone()))
        .collect()
}

/// The example file's commented `[[credentials]]` block, uncommented.
fn example_credentials() -> String {
    let start = EXAMPLE.find("# [[credentials]]").expect("the example documents [[credentials]]");
    let end = start + EXAMPLE[start..].find("\n\n").expect("the block ends");
    EXAMPLE[start..end]
        .lines()
        .filter_map(|l| l.strip_prefix("# "))
        .filter(|l| !l.starts_with('#'))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn the_documented_example_loads_when_uncommented() {
    let text = format!(
        "[session]\nsecret = {{ env = \"S\" }}\n[master]\nurl = \"http://m\"\nauth = {{ connection = \"managers-eu\" }}\n\
         [[slaves]]\nid = \"eu\"\nname = \"EU\"\nurl = \"http://eu\"\n\
         auth = {{ managed_identity = {{ resource = \"api://managers\", client_id = \"cid\" }} }}\n{}\n",
        example_credentials()
    );
    let report =
        load_text(&text, &[("S", "k3J9vQ2xL8mN4pR7tW1yZ5aC6eG0hJ2uB8dF3sV9"), ("PORTICO_IDP_SECRET", "x")]);
    assert!(report.problems.is_empty(), "{}", report.render());
    let settings = report.settings.unwrap();
    let provider = &settings.credentials[0];
    assert_eq!((provider.id.as_str(), provider.grant), ("corp-idp", Grant::ClientCredentials));
    let connection = &provider.connections[0];
    assert_eq!(connection.allowed.organizations, ["Acme", "Globex"]);
    assert_eq!(connection.allowed.roles, [crate::domain::Role::User, crate::domain::Role::Oadmin]);
    assert!(
        matches!(&settings.master.auth, Some(ManagerAuthSettings::Connection(id)) if id.as_str() == "managers-eu")
    );
    assert!(matches!(
        &settings.slaves[0].auth,
        Some(ManagerAuthSettings::ManagedIdentity { resource, client_id: Some(c) }) if resource == "api://managers" && c == "cid"
    ));
}

const MISTAKES: &str = r#"[master]
url = "http://m"
auth = { connection = "nope" }

[[slaves]]
id = "eu"
name = "EU"
url = "http://eu"
auth = { managed_identity = { resource = "" } }

[[credentials]]
id = "idp"
token_url = "ftp://idp"
grant = "authorization_code"

[[credentials.connections]]
id = "one"
client_id = ""
scopes = ["two words"]
roles = ["user"]

[[credentials]]
id = "idp"
token_url = "https://idp2"
grant = "client_credentials"

[[credentials.connections]]
id = "one"
client_id = "c"
allowed = { organizations = ["*"], roles = ["superuser"] }

[[credentials.connections]]
id = "Bad Id"
client_id = "c"
client_secret = "plain-client-secret"
"#;

#[test]
fn every_credentials_mistake_is_reported_with_its_key() {
    let report = load_text(MISTAKES, &[]);
    let errors = messages(&report, Severity::Error);
    let expect = |key: &str, words: &str| {
        assert!(
            errors.iter().any(|(k, m)| k == key && m.contains(words)),
            "{key}: {words}\n{}",
            report.render()
        );
    };
    expect("master.auth.connection", "unknown connection \"nope\"; known connections: one,");
    expect("slaves[0].auth.managed_identity.resource", "must name the resource");
    expect("credentials[0].token_url", "http:// or https://");
    expect("credentials[0].authorize_url", "required with grant = \"authorization_code\"");
    expect("credentials[0].connections[0].client_id", "must not be empty");
    expect("credentials[0].connections[0].scopes[0]", "one word per entry");
    expect("credentials[0].connections[0].roles", "unknown key `roles`");
    expect("credentials[1].id", "provider id \"idp\" is already used by credentials[0]");
    expect("credentials[1].connections[0].id", "already used by credentials[0].connections[0]");
    expect("credentials[1].connections[0].client_secret", "required with grant = \"client_credentials\"");
    expect("credentials[1].connections[0].allowed.roles[0]", "unknown value `superuser`");
    expect("credentials[1].connections[1].id", "is not a valid id");
    let warnings = messages(&report, Severity::Warning);
    assert!(
        warnings.iter().any(|(k, m)| k == "credentials[0].connections[0].allowed.organizations" && m.contains("refused")),
        "{}",
        report.render()
    );
    assert!(!report.render().contains("plain-client-secret"), "no secret value in the report");
}
