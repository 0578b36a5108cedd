//! Loading as a user meets it: the example file, mistakes reported all at once with their lines,
//! environment overrides, warnings, and reports that never show a secret.
//! (One file, over 400 lines: the loader is one feature and its tests read as one story, from
//! the example file to overrides and reports; split by section they would repeat the fixtures.)
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;

use proptest::prelude::*;

use super::*;

const EXAMPLE: &str = include_str!("../../config/portico.toml");
const FILE: &str = "config/portico.toml";
const GOOD_SECRET: &str = "k3J9vQ2xL8mN4pR7tW1yZ5aC6eG0hJ2uB8dF3sV9";

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
}

fn load_text(text: &str, pairs: &[(&str, &str)]) -> ConfigReport {
    load_from_sources(Some((Path::new(FILE), text)), env(pairs))
}

fn problem<'a>(report: &'a ConfigReport, key: &str) -> &'a ConfigProblem {
    report
        .problems
        .iter()
        .find(|p| p.key == key)
        .unwrap_or_else(|| panic!("no problem for {key} in:\n{}", report.render()))
}

fn errors(report: &ConfigReport) -> Vec<&str> {
    report.problems.iter().filter(|p| p.severity == Severity::Error).map(|p| p.key.as_str()).collect()
}

#[test]
fn the_example_file_loads_without_any_problem() {
    let report = load_text(EXAMPLE, &[("PORTICO_SESSION_SECRET", GOOD_SECRET)]);
    assert!(report.problems.is_empty(), "{}", report.render());
    let settings = report.settings.expect("settings");
    assert_eq!(settings.master.url.as_str(), "http://127.0.0.1:8075/");
    assert!(settings.slaves.is_empty());
    assert!(settings.session.secret.is_some());
    assert_eq!(report_text(&[]), "configuration OK\n");
}

fn report_text(problems: &[ConfigProblem]) -> String {
    ConfigReport { settings: None, problems: problems.to_vec() }.render()
}

const MISTAKES: &str = r#"[server]
lisen = "0.0.0.0:8080"

[session]
secret = { env = "MISSING_SECRET" }
idle_timeout = "fifteen minutes"

[federation]
login_failure_policy = "sometimes"

[master]
url = "not a url"

[[slaves]]
id = "eu"
name = "EU"
url = "https://eu.example.com"

[[slaves]]
id = "eu"
name = "EU again"
url = "ftp://eu2.example.com"
"#;

#[test]
fn every_mistake_is_reported_with_its_key_and_line() {
    let report = load_text(MISTAKES, &[]);
    assert!(report.settings.is_none());
    assert!(report.has_errors());
    let expected = [
        ("server.lisen", 2),
        ("session.secret", 5),
        ("session.idle_timeout", 6),
        ("federation.login_failure_policy", 9),
        ("master.url", 12),
        ("slaves[1].id", 20),
        ("slaves[1].url", 22),
    ];
    for (key, line) in expected {
        let p = problem(&report, key);
        assert_eq!(p.severity, Severity::Error, "{key}");
        assert_eq!(p.line, Some(line), "{key}: {p:?}");
        assert_eq!(p.file.as_deref(), Some(Path::new(FILE)), "{key}");
        assert!(!p.from_env, "{key}");
    }
    assert_eq!(errors(&report).len(), expected.len(), "{}", report.render());
    assert!(problem(&report, "server.lisen").message.contains("did you mean `listen`?"));
    assert_eq!(problem(&report, "session.secret").message, "environment variable MISSING_SECRET is not set");
    assert!(
        problem(&report, "session.idle_timeout").message.contains("\"fifteen minutes\" is not a duration")
    );
    assert_eq!(
        problem(&report, "federation.login_failure_policy").message,
        "unknown value `sometimes`; expected one of `master`, `all`, `any`"
    );
    assert!(problem(&report, "slaves[1].id").message.contains("already used by slaves[0]"));
    assert_eq!(problem(&report, "slaves[1].url").env_var, "PORTICO__SLAVES__1__URL");
}

#[test]
fn the_rendered_report_names_key_line_and_variable_with_errors_first() {
    let report = load_text(MISTAKES, &[]);
    let text = report.render();
    assert!(
        text.contains(
            "error: session.idle_timeout (config/portico.toml line 6): \"fifteen minutes\" is not a duration"
        ),
        "{text}"
    );
    assert!(text.contains("  set in the file or override with PORTICO__SESSION__IDLE_TIMEOUT\n"), "{text}");
    let first_warning = text.find("warning:").unwrap_or(text.len());
    assert!(text.rfind("error:").unwrap() < first_warning, "{text}");
    assert!(text.ends_with("7 errors\n"), "{text}");
}

#[test]
fn missing_required_keys_are_problems() {
    let report = load_text("[server]\nlisten = \"127.0.0.1:9000\"\n", &[]);
    let p = problem(&report, "master.url");
    assert_eq!(p.message, "required key is missing");
    assert_eq!(p.env_var, "PORTICO__MASTER__URL");
    let report = load_text("[master]\nurl = \"http://m\"\n[[slaves]]\nurl = \"http://s\"\n", &[]);
    assert_eq!(errors(&report), ["slaves[0].id", "slaves[0].name"], "{}", report.render());
    assert_eq!(problem(&report, "slaves[0].id").line, Some(3));
}

#[test]
fn environment_overrides_win_and_are_reported_as_such() {
    let file = "[server]\nlisten = \"127.0.0.1:8080\"\n[master]\nurl = \"http://127.0.0.1:8075\"\n";
    let ok = load_text(
        file,
        &[("PORTICO__SERVER__LISTEN", "0.0.0.0:9000"), ("PORTICO__FEDERATION__LABEL", "2024")],
    );
    let settings = ok.settings.expect("settings");
    assert_eq!(settings.server.listen.to_string(), "0.0.0.0:9000");
    assert_eq!(settings.federation.label, "2024");

    let bad = load_text(
        file,
        &[
            ("PORTICO__SESSION__IDLE_TIMEOUT", "soon"),
            ("PORTICO__SERVER__LISTN", "x"),
            ("PORTICO_CONFIG", "x.toml"),
        ],
    );
    let p = problem(&bad, "session.idle_timeout");
    assert!(p.from_env && p.line.is_none() && p.file.is_none(), "{p:?}");
    assert_eq!(p.env_var, "PORTICO__SESSION__IDLE_TIMEOUT");
    let p = problem(&bad, "server.listn");
    assert!(p.from_env && p.message.contains("did you mean `listen`?"), "{p:?}");
    assert!(
        bad.render()
            .contains("error: server.listn (environment variable PORTICO__SERVER__LISTN): unknown key")
    );
    assert_eq!(errors(&bad).len(), 2, "{}", bad.render());
}

#[test]
fn overrides_reach_into_arrays() {
    let file = "[master]\nurl = \"http://m\"\n[[slaves]]\nid = \"a\"\nname = \"A\"\nurl = \"http://a\"\n";
    let report = load_text(
        file,
        &[
            ("PORTICO__SERVER__TRUSTED_PROXIES", r#"["10.0.0.0/8", "192.0.2.7"]"#),
            ("PORTICO__SLAVES__0__URL", "https://a.example.com"),
            ("PORTICO__SLAVES__1__ID", "b"),
            ("PORTICO__SLAVES__1__NAME", "B"),
            ("PORTICO__SLAVES__1__URL", "https://b.example.com"),
            ("PORTICO__SLAVES__1__REQUIRED", "true"),
        ],
    );
    let settings = report.settings.as_ref().unwrap_or_else(|| panic!("{}", report.render()));
    let proxies: Vec<String> = settings.server.trusted_proxies.iter().map(ToString::to_string).collect();
    assert_eq!(proxies, ["10.0.0.0/8", "192.0.2.7/32"]);
    assert_eq!(settings.slaves[0].url.as_str(), "https://a.example.com/");
    assert_eq!(settings.slaves[1].id.as_str(), "b");
    assert!(settings.slaves[1].required);

    let gap = load_text(file, &[("PORTICO__SLAVES__5__URL", "https://x")]);
    let p = gap.problems.iter().find(|p| p.env_var == "PORTICO__SLAVES__5__URL").expect("problem");
    assert!(p.from_env && p.message.contains("out of range"), "{p:?}");
}

#[test]
fn a_syntax_error_is_one_problem_with_its_line() {
    let report = load_text("[server]\nlisten = \"127.0.0.1:8080\"\npublic_url = http://x\n", &[]);
    assert_eq!(report.problems.len(), 1, "{}", report.render());
    assert_eq!(report.problems[0].line, Some(3));
    assert!(report.render().starts_with("error: config/portico.toml line 3: not valid TOML"));
}

const PLAIN: &str = r#"[session]
secret = "plain-session-secret-that-is-long-enough-0123"
[redis]
url = "redis://:hunter2-redis@127.0.0.1:6379"
[master]
url = "http://m"
auth = { basic = { username = "svc", password = "hunter2-basic" } }
"#;

#[test]
fn plain_secrets_are_warnings() {
    let report = load_text(PLAIN, &[]);
    assert!(report.settings.is_some(), "{}", report.render());
    for key in ["session.secret", "redis.url", "master.auth.basic.password"] {
        assert_eq!(problem(&report, key).severity, Severity::Warning, "{key}");
    }
    assert!(report.render().ends_with("configuration OK (3 warnings)\n"), "{}", report.render());
    // The same secret given by the environment is not "written in the file".
    let report = load_text("[master]\nurl = \"http://m\"\n", &[("PORTICO__SESSION__SECRET", GOOD_SECRET)]);
    assert!(report.problems.is_empty(), "{}", report.render());
}

#[test]
fn weak_or_absent_session_secrets_are_warnings() {
    let report = load_text("[master]\nurl = \"http://m\"\n", &[]);
    assert!(problem(&report, "session.secret").message.contains("will not survive a restart"));
    let short = "[master]\nurl = \"http://m\"\n[session]\nsecret = { env = \"S\" }\n";
    let report = load_text(short, &[("S", "short")]);
    assert!(problem(&report, "session.secret").message.contains("is only 5 bytes long"));
    assert!(report.settings.is_some());
}

#[test]
fn no_secret_value_appears_in_any_report() {
    let secrets =
        ["plain-session-secret-that-is-long-enough-0123", "hunter2-redis", "hunter2-basic", "env-secret-xyz"];
    let broken = format!("{PLAIN}[server]\nlisten = 5\n[database]\nurl = \"mysql://u:hunter2-basic@db\"\n");
    let env = [("PORTICO__REDIS__URL", "http://:env-secret-xyz@x"), ("PORTICO__SESSION__SECRET", "5")];
    let unterminated = "[session]\nsecret = \"hunter2-basic\nidle_timeout = 5\n";
    for report in [load_text(PLAIN, &[]), load_text(&broken, &env), load_text(unterminated, &[])] {
        let text = report.render();
        for secret in secrets {
            assert!(!text.contains(secret), "{secret} leaked:\n{text}");
        }
    }
}

#[test]
fn unreadable_files_and_bad_pem_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let not_pem = dir.path().join("ca.txt");
    std::fs::write(&not_pem, "hello").unwrap();
    let pem = dir.path().join("ca.pem");
    std::fs::write(&pem, "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n").unwrap();
    let file = format!(
        "[master]\nurl = \"https://m\"\nca_file = {:?}\n[[slaves]]\nid = \"s\"\nname = \"S\"\nurl = \"https://s\"\nca_file = {:?}\n[session]\nsecret = {{ file = \"/nonexistent/portico-secret\" }}\n",
        not_pem.display().to_string(),
        pem.display().to_string()
    );
    let report = load_text(&file, &[]);
    assert_eq!(errors(&report), ["master.ca_file", "session.secret"], "{}", report.render());
    assert!(problem(&report, "master.ca_file").message.contains("no PEM certificate"));
    assert!(problem(&report, "session.secret").message.contains("cannot read secret file"));
}

#[test]
fn semantic_checks_name_their_keys() {
    let file = r#"
[server]
public_url = "ftp://portal"
[session]
secret = { env = "S" }
idle_timeout = "13h"
revocation_window = "2s"
cookie_name = "bad name;"
[redis]
url = "http://localhost"
pool_size = 0
[database]
url = "mysql://localhost/x"
[master]
url = "http://m"
base_path = "api"
gateway = "https://user:pw@gw.example/?x=1"
[login_protection]
max_failures = 0
[log]
level = "[[[not a filter"
"#;
    let report = load_text(file, &[("S", GOOD_SECRET)]);
    let mut keys = errors(&report);
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "database.url",
            "log.level",
            "login_protection.max_failures",
            "master.base_path",
            "master.gateway",
            "redis.pool_size",
            "redis.url",
            "server.public_url",
            "session.cookie_name",
            "session.idle_timeout",
            "session.revocation_window",
        ],
        "{}",
        report.render()
    );
    assert_eq!(problem(&report, "redis.pool_size").line, Some(11));
    assert!(
        problem(&report, "session.revocation_window").message.contains("2s is longer than 1s"),
        "{}",
        report.render()
    );
    assert!(!report.render().contains("pw@"), "a credential in a URL is not repeated: {}", report.render());
}

#[test]
fn defaults_are_the_documented_ones() {
    let report = load_from_sources(None, env(&[("PORTICO__MASTER__URL", "http://127.0.0.1:8075")]));
    let s = report.settings.as_ref().unwrap_or_else(|| panic!("{}", report.render()));
    assert_eq!(report.problems.len(), 1, "only the missing session secret: {}", report.render());
    assert_eq!(s.server.listen.to_string(), "127.0.0.1:8080");
    assert_eq!(s.server.public_url.as_str(), "http://localhost:8080/");
    assert_eq!(s.session.idle_timeout.get(), std::time::Duration::from_secs(30 * 60));
    assert_eq!(s.session.absolute_timeout.get(), std::time::Duration::from_secs(12 * 3600));
    assert_eq!(s.session.revocation_window.get(), std::time::Duration::from_millis(100));
    assert_eq!(s.session.cookie_name, "portico_session");
    assert!(s.redis.as_ref().map(|r| &r.key_prefix).is_none());
    assert_eq!(s.federation.login_failure_policy, crate::domain::LoginFailurePolicy::Master);
    assert_eq!(s.federation.timeout.get(), std::time::Duration::from_secs(10));
    assert_eq!(s.master.id.as_str(), "master");
    assert_eq!(s.master.base_path, "/api/portal/v1.3");
    assert_eq!(s.master.tls_mode, crate::domain::TlsMode::Full);
    assert_eq!(s.login_protection.max_failures, 5);
    assert_eq!(s.cache.catalog_ttl.get(), std::time::Duration::from_secs(300));
    assert_eq!(s.log.level, "info");
    assert!(s.metrics.enabled);
    // The example file documents the same values.
    let example = load_text(EXAMPLE, &[("PORTICO_SESSION_SECRET", GOOD_SECRET)]).settings.expect("example");
    assert_eq!(format!("{:?}", example.login_protection), format!("{:?}", s.login_protection));
    assert_eq!(format!("{:?}", example.cache), format!("{:?}", s.cache));
    assert_eq!(format!("{:?}", example.federation), format!("{:?}", s.federation));
}

#[test]
fn a_missing_file_is_one_problem_naming_it() {
    let report = load(Some(Path::new("/nonexistent/portico.toml")));
    assert_eq!(report.problems.len(), 1);
    assert!(report.render().contains("/nonexistent/portico.toml"));
}

proptest! {
    #[test]
    fn arbitrary_text_never_panics_the_loader(text in "\\PC{0,300}", value in "\\PC{0,40}") {
        let report = load_text(&text, &[("PORTICO__SERVER__LISTEN", &value), ("PORTICO__SLAVES__0__ID", &value)]);
        prop_assert_eq!(report.settings.is_some(), !report.has_errors());
        let _ = report.render();
    }

    #[test]
    fn damaged_example_files_never_panic(
        edits in proptest::collection::vec((0usize..5000, "[a-z0-9 \"=\\[\\]{}.\n]{0,3}"), 1..6),
    ) {
        let mut text = EXAMPLE.to_owned();
        for (at, with) in &edits {
            let mut at = at % text.len();
            while !text.is_char_boundary(at) {
                at -= 1;
            }
            let end = (at + 3).min(text.len());
            let end = (end..=text.len()).find(|&e| text.is_char_boundary(e)).unwrap_or(text.len());
            text.replace_range(at..end, with);
        }
        let report = load_text(&text, &[("PORTICO_SESSION_SECRET", GOOD_SECRET)]);
        prop_assert_eq!(report.settings.is_some(), !report.has_errors());
        prop_assert!(!report.render().contains(GOOD_SECRET));
    }

    #[test]
    fn arbitrary_values_for_known_keys_never_panic(
        values in proptest::collection::vec("[a-z0-9 \"\\[\\]{}=.:/_-]{0,20}", 8),
    ) {
        let keys = ["[server]\nlisten", "public_url", "[session]\nidle_timeout", "secret",
            "[master]\nurl", "auth", "[[slaves]]\nid", "url"];
        let text: String = keys.iter().zip(&values).map(|(k, v)| format!("{k} = {v}\n")).collect();
        let report = load_text(&text, &[]);
        prop_assert_eq!(report.settings.is_some(), !report.has_errors());
    }
}

/// The example's `[oidc]` block, uncommented.
fn example_with_oidc() -> String {
    let mut inside = false;
    EXAMPLE
        .lines()
        .map(|line| {
            if line == "# [oidc]" {
                inside = true;
            } else if inside && !line.starts_with("# ") {
                inside = false;
            }
            match line.strip_prefix("# ") {
                Some(rest) if inside && !rest.starts_with('#') => rest.to_owned(),
                _ => line.to_owned(),
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn the_example_single_sign_on_block_loads() {
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("idp-ca.pem");
    std::fs::write(&ca, rcgen::generate_simple_self_signed(vec!["idp".into()]).unwrap().cert.pem()).unwrap();
    let text = example_with_oidc().replace("/etc/portico/idp-ca.pem", &ca.display().to_string());
    let report = load_text(
        &text,
        &[("PORTICO_SESSION_SECRET", GOOD_SECRET), ("PORTICO_OIDC_CLIENT_SECRET", "a-client-secret")],
    );
    assert!(report.problems.is_empty(), "{}", report.render());
    let oidc = report.settings.expect("settings").oidc.expect("[oidc]");
    assert_eq!(oidc.client_id, "portico");
    assert_eq!(oidc.manager_auth, ManagerAuthMode::Bearer);
    assert_eq!((oidc.username_claim.as_str(), oidc.org_claim.as_str()), ("preferred_username", "org"));
}

#[test]
fn single_sign_on_mistakes_are_all_reported() {
    let text = r#"[master]
url = "http://127.0.0.1:8075"

[[slaves]]
id = "eu"
name = "EU"
url = "http://127.0.0.1:8076"

[oidc]
issuer = "ftp://idp.example.com"
client_id = " "
client_secret = { env = "MISSING_OIDC_SECRET" }
scopes = ["profile", "two words"]
username_claim = ""
manager_auth = "service"
timeout = "0s"
"#;
    let report = load_text(text, &[]);
    let errors = errors(&report);
    for key in [
        "oidc.issuer",
        "oidc.client_id",
        "oidc.client_secret",
        "oidc.scopes[1]",
        "oidc.username_claim",
        "oidc.timeout",
        "master.auth",
        "slaves[0].auth",
    ] {
        assert!(errors.contains(&key), "{key} in {errors:?}\n{}", report.render());
    }
    let unknown = load_text(
        "[master]\nurl = \"http://m\"\n[oidc]\nissuer = \"https://i\"\nclient_id = \"c\"\nmanager_auth = \"cookie\"\n",
        &[],
    );
    assert!(
        problem(&unknown, "oidc.manager_auth").message.contains("unknown value `cookie`"),
        "{}",
        unknown.render()
    );
    let defaults = load_text(
        "[master]\nurl = \"http://m\"\n[oidc]\nissuer = \"http://idp.example.com\"\nclient_id = \"c\"\n",
        &[],
    );
    assert_eq!(
        problem(&defaults, "oidc.issuer").severity,
        Severity::Warning,
        "plain http outside local development"
    );
}

#[test]
fn redis_takes_exactly_one_form_and_names_each_problem() {
    let base = "[session]\nsecret = { env = \"S\" }\n[master]\nurl = \"http://m\"\n";
    let check = |redis: &str| {
        let report = load_text(&format!("{base}[redis]\n{redis}\n"), &[("S", GOOD_SECRET), ("RP", "pw")]);
        let mut keys: Vec<String> = errors(&report).into_iter().map(str::to_owned).collect();
        keys.sort_unstable();
        (keys, report)
    };
    let (keys, report) = check("url = \"redis://127.0.0.1:6379\"");
    assert!(keys.is_empty(), "{}", report.render());
    let sentinel = "sentinel = { master_name = \"portico\", nodes = [\"redis://10.0.0.1:26379\"], db = 1 }\npassword = { env = \"RP\" }";
    let (keys, report) = check(sentinel);
    assert!(keys.is_empty(), "{}", report.render());
    let settings = report.settings.as_ref().and_then(|s| s.redis.as_ref()).expect("redis settings");
    assert_eq!(settings.sentinel.as_ref().map(|s| s.db), Some(1));
    let (keys, report) =
        check("cluster = { nodes = [\"redis://10.0.0.1:7000\", \"rediss://10.0.0.2:7000\"] }");
    assert!(keys.is_empty(), "{}", report.render());

    assert_eq!(check("pool_size = 4").0, ["redis"], "no form at all");
    assert_eq!(
        check("url = \"redis://h:1\"\ncluster = { nodes = [\"redis://h:7000\"] }").0,
        ["redis"],
        "two forms"
    );
    let (keys, report) = check(
        "sentinel = { master_name = \" \", nodes = [\"http://h:1\", \"redis://:pw@h:26379\", \"redis://h\"], db = -1 }",
    );
    assert_eq!(
        keys,
        [
            "redis.sentinel.db",
            "redis.sentinel.master_name",
            "redis.sentinel.nodes[0]",
            "redis.sentinel.nodes[1]",
            "redis.sentinel.nodes[2]",
        ],
        "{}",
        report.render()
    );
    assert!(!report.render().contains(":pw@"), "a password in a node address is never repeated");
    assert_eq!(check("cluster = { nodes = [] }").0, ["redis.cluster.nodes"]);
    assert_eq!(check("cluster = { nodes = [\"redis://h:7000/3\"] }").0, ["redis.cluster.nodes[0]"]);
    let (_, report) = check("url = \"redis://h:1\"\npassword = \"plain-pw\"");
    assert!(
        report.problems.iter().any(|p| p.key == "redis.password" && p.severity == Severity::Warning),
        "a plain password is warned about: {}",
        report.render()
    );
}
