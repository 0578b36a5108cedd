//! Attacks on the portal's own pages (issue 11): single sign-on callbacks nobody started
//! (finding 8), forms posted without their `csrf_token` (finding 13), and managers' 403 answers
//! that must be read, not guessed (finding 14). Each is performed against the real app, with a
//! real Redis and managers over HTTP, and judged by what a user, the audit log and `/metrics` see.

use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

use crate::sso::forged::{Fake, Key, attempt, es256, now, start_fake};
use crate::support::managers::{refusing_manager, requests_without_probes, start_master, start_slave};
use crate::support::{RedisServer, TestApp, TestAppBuilder};

/// The fixed page of a callback without a state Portico issued.
const NEUTRAL: &str = "This sign-in attempt has expired or was already used. Start again.";
/// The page of a form refused for its token.
const FORM_REFUSED: &str = "This form has expired or did not come from this site.";
const REJECTED_CALLBACKS: &str = "portico_oidc_callbacks_rejected_total{reason=\"unknown_state\"}";

/// Every audit entry, newest first, as (action, actor, detail).
async fn audit_rows(app: &TestApp) -> Vec<(String, String, Value)> {
    let entries = app.state.db().audit_page(None, 500).await.expect("audit log");
    entries
        .into_iter()
        .map(|e| {
            (e.action, e.actor, e.detail.and_then(|d| serde_json::from_str(&d).ok()).unwrap_or(Value::Null))
        })
        .collect()
}

/// The value of one series on `/metrics` (0 when it is not there yet).
async fn metric(app: &TestApp, series: &str) -> u64 {
    let text = app.get("/metrics").await.text().await.unwrap();
    text.lines()
        .find_map(|line| line.strip_prefix(series).and_then(|v| v.trim().parse::<f64>().ok()))
        .map_or(0, |v| v as u64)
}

/// A browser of its own (its own cookies), as an attacker's or a victim's.
fn browser() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).cookie_store(true).build().unwrap()
}

// ---- Finding 8: callbacks without a state Portico issued ------------------------------------

/// An app whose identity provider is a test-only fake (discovery, keys, token endpoint), with
/// its state in a real Redis.
async fn sso_app(redis: &RedisServer, manager_auth: &str, master: &str) -> (TestApp, Arc<Mutex<Fake>>, Key) {
    let key = Key::generate("a");
    let fake = Arc::new(Mutex::new(Fake { keys: vec![key.jwk()], ..Fake::default() }));
    let issuer = start_fake(fake.clone()).await;
    let app = TestAppBuilder::new(master)
        .redis(redis)
        .toml(&format!(
            "[oidc]\nissuer = \"{issuer}\"\nclient_id = \"portico\"\nclient_secret = \"portico-test-secret\"\n\
             manager_auth = \"{manager_auth}\"\n\n[master.auth.basic]\nusername = \"apiadmin\"\npassword = \"apiadmin-password\"\n"
        ))
        .spawn()
        .await;
    (app, fake, key)
}

/// The `state` Portico sent the provider when `client` started a sign-in.
async fn issued_state(app: &TestApp, client: &reqwest::Client) -> String {
    let start = client.get(app.url("/login/oidc")).send().await.unwrap();
    assert_eq!(start.status(), 303);
    let to_provider = url::Url::parse(&crate::support::location(&start)).unwrap();
    to_provider.query_pairs().find(|(k, _)| k == "state").map(|(_, v)| v.into_owned()).unwrap()
}

#[tokio::test]
async fn a_callback_without_an_issued_state_shows_fixed_text_is_counted_and_never_audited() {
    const TEST: &str = "a_callback_without_an_issued_state_shows_fixed_text_is_counted_and_never_audited";
    let Some(redis) = RedisServer::start(TEST) else { return };
    let master = start_master().await;
    let (app, _fake, _key) = sso_app(&redis, "service", master.url.as_str()).await;
    let before = metric(&app, REJECTED_CALLBACKS).await;

    // A state Portico issued, but to the victim's browser: the attacker's link lacks its cookie.
    let victim = browser();
    let victims_state = issued_state(&app, &victim).await;
    let lure = "error=access_denied&error_description=Your+account+is+locked.+Call+%2B1-555-0100+%3Cscript%3Ealert(1)%3C%2Fscript%3E";
    let mut attacks = vec![
        format!("/auth/callback?{lure}"),
        format!("/auth/callback?state=made-up-by-the-attacker&{lure}"),
        format!("/auth/callback?state={}&{lure}", "x".repeat(600)),
        "/auth/callback?state=made-up&code=some-code".to_owned(),
        "/auth/callback".to_owned(),
        format!("/auth/callback?state={victims_state}&{lure}"),
    ];
    // Anonymous noise, 200 requests of it.
    let template = attacks.clone();
    while attacks.len() < 200 {
        attacks.extend(template.iter().take(5).cloned());
    }
    let attacker = browser();
    for path in &attacks {
        let answer = attacker.get(app.url(path)).send().await.unwrap();
        assert_eq!(answer.status(), 400, "{path}");
        assert!(
            answer.headers().get("set-cookie").is_none(),
            "{path}: the anonymous request changes nothing"
        );
        let page = answer.text().await.unwrap();
        assert!(page.contains(NEUTRAL), "{path}: {page}");
        // (request ids are hex: "555-0100" cannot appear in one by chance)
        for planted in ["555-0100", "locked", "alert(1)", "access_denied", "made-up"] {
            assert!(!page.contains(planted), "{path}: the attacker's {planted:?} is on the page: {page}");
        }
    }
    assert!(audit_rows(&app).await.is_empty(), "not one audit row: {:?}", audit_rows(&app).await);
    let counted = metric(&app, REJECTED_CALLBACKS).await - before;
    assert!(counted >= attacks.len() as u64, "{counted} of {} counted", attacks.len());
    app.stop().await;
}

#[tokio::test]
async fn a_providers_error_for_a_state_portico_issued_is_shown_escaped_and_audited_once() {
    const TEST: &str = "a_providers_error_for_a_state_portico_issued_is_shown_escaped_and_audited_once";
    let Some(redis) = RedisServer::start(TEST) else { return };
    let master = start_master().await;
    let (app, _fake, _key) = sso_app(&redis, "service", master.url.as_str()).await;
    let state = issued_state(&app, &app.client).await;
    let callback = format!(
        "/auth/callback?state={state}&error=access_denied&error_description=You+cancelled+%3Cb%3Ehere%3C%2Fb%3E"
    );
    let answer = app.get(&callback).await;
    assert_eq!(answer.status(), 403);
    let page = answer.text().await.unwrap();
    assert!(page.contains("did not sign you in (access_denied): You cancelled &#60;b&#62;here"), "{page}");
    assert!(!page.contains("<b>here"), "escaped: {page}");
    let rows = audit_rows(&app).await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!((rows[0].0.as_str(), &rows[0].2["reason"]), ("signin.failure", &json!("provider_error")));

    // The same callback again: the state is used up, so it is anonymous now.
    let replay = app.get(&callback).await;
    assert_eq!(replay.status(), 400);
    assert!(!replay.text().await.unwrap().contains("cancelled"));
    assert_eq!(audit_rows(&app).await.len(), 1, "the replay is not audited");
    app.stop().await;
}

// ---- Finding 13: forms without `csrf_token` -------------------------------------------------

/// Posts `fields` to `path` the ways a forged or broken form arrives without a usable token:
/// the field left out, left empty, sent twice, no body at all, and a cross-site form's
/// `text/plain` body. Each must be refused with 403 and the refusal page.
async fn forged_posts(client: &reqwest::Client, app: &TestApp, path: &str, fields: &[(&str, &str)]) {
    let url = app.url(path);
    let with = |extra: &[(&'static str, &'static str)]| {
        let mut form: Vec<(&str, &str)> = fields.to_vec();
        form.extend_from_slice(extra);
        form
    };
    let attempts = vec![
        ("no csrf_token field", client.post(&url).form(&with(&[]))),
        ("an empty csrf_token", client.post(&url).form(&with(&[("csrf_token", "")]))),
        ("csrf_token twice", client.post(&url).form(&with(&[("csrf_token", "a"), ("csrf_token", "b")]))),
        ("no body, no content type", client.post(&url)),
        (
            "a text/plain body",
            client.post(&url).header("content-type", "text/plain").body("csrf_token=\r\nname=x\r\n"),
        ),
    ];
    for (what, request) in attempts {
        let answer = request.send().await.unwrap();
        assert_eq!(answer.status(), 403, "POST {path} with {what}");
        let page = answer.text().await.unwrap();
        assert!(page.contains(FORM_REFUSED), "POST {path} with {what}: {page}");
    }
}

#[tokio::test]
async fn every_consumer_form_without_its_csrf_token_is_refused_with_403() {
    const TEST: &str = "every_consumer_form_without_its_csrf_token_is_refused_with_403";
    let Some(redis) = RedisServer::start(TEST) else { return };
    let master = start_master().await;
    let eu = start_slave("eu", &master.url).await;
    let app = TestAppBuilder::new(master.url.as_str())
        .redis(&redis)
        .slave("prod-eu", "Production EU", eu.url.as_str())
        .spawn()
        .await;

    // Before any session: the sign-in form, which must not reach the master.
    app.get("/login").await;
    forged_posts(&app.client, &app, "/login", &[("username", "alice"), ("password", "alice-password")]).await;
    let master_logins = |m: &portico::simulator::Simulator| {
        requests_without_probes(m).iter().filter(|r| r.method == "POST" && r.path.ends_with("/login")).count()
    };
    assert_eq!(master_logins(&master), 0, "no forged sign-in reached the master");

    assert_eq!(app.sign_in("alice", "alice-password").await.status(), 303);
    let signed_in = master_logins(&master);
    let routes: [(&str, &[(&str, &str)]); 4] = [
        ("/environments/select", &[("environment", "prod-eu")]),
        ("/environments/prod-eu/connect", &[("password", "alice-password")]),
        ("/environments/master/applications", &[("name", "Forged App"), ("description", "planted")]),
        ("/logout", &[]),
    ];
    for (path, fields) in routes {
        forged_posts(&app.client, &app, path, fields).await;
    }
    // Nothing happened: still signed in, no application made.
    assert_eq!(app.get("/environments").await.status(), 200, "the forged sign-outs did not sign out");
    assert!(!master.data().applications.iter().any(|a| a.name == "Forged App"));
    assert_eq!(master_logins(&master), signed_in, "no forged connect reached a manager");
    app.stop().await;
}

#[tokio::test]
async fn every_admin_form_without_its_csrf_token_is_refused_with_403() {
    let app = TestAppBuilder::new("http://127.0.0.1:9").admin("root", "admin-password-123").spawn().await;
    forged_posts(
        &app.client,
        &app,
        "/admin/login",
        &[("username", "root"), ("password", "admin-password-123")],
    )
    .await;
    assert_eq!(app.get("/admin").await.status(), 303, "no admin session from a forged sign-in");

    assert_eq!(app.admin_sign_in("root", "admin-password-123").await.status(), 303);
    let new_slave = crate::admin::slave_fields("prod-us", "Production US", "http://127.0.0.1:9");
    assert_eq!(crate::admin::add_slave(&app, &new_slave).await.status(), 303, "a slave to aim at");
    let mut edited = crate::admin::slave_fields("prod-us", "Forged", "http://127.0.0.1:9");
    edited.push(("version", "1"));
    let planted = crate::admin::slave_fields("planted", "Planted", "http://127.0.0.1:9");
    let routes: [(&str, &[(&str, &str)]); 8] = [
        ("/admin/slaves", &planted),
        ("/admin/slaves/prod-us", &edited),
        ("/admin/slaves/prod-us/delete", &[]),
        ("/admin/slaves/prod-us/test", &[]),
        ("/admin/settings", &[("label", "Forged label")]),
        ("/admin/cache/purge", &[]),
        ("/admin/credentials/any/disconnect", &[]),
        ("/admin/logout", &[]),
    ];
    for (path, fields) in routes {
        forged_posts(&app.client, &app, path, fields).await;
    }
    // Nothing happened: still signed in, the slave as it was, no other slave, the label kept.
    let slaves = app.get("/admin/slaves").await;
    assert_eq!(slaves.status(), 200, "the forged sign-outs did not sign out");
    let slaves = slaves.text().await.unwrap();
    assert!(
        slaves.contains("Production US") && !slaves.contains("Forged") && !slaves.contains("Planted"),
        "{slaves}"
    );
    assert!(!app.get("/admin/settings").await.text().await.unwrap().contains("Forged label"));
    app.stop().await;
}

// ---- Finding 14: what a manager's 403 says ---------------------------------------------------

fn error_object(message: &str) -> String {
    json!({ "errors": [{ "code": 403, "message": message }] }).to_string()
}

/// The `<li>` of one environment on the environments page.
fn entry(page: &str, id: &str) -> String {
    let start = page.find(&format!("id=\"env-{id}\"")).unwrap_or_else(|| panic!("{id} listed:\n{page}"));
    let rest = &page[start..];
    rest[..rest.find("</li>").unwrap()].to_owned()
}

#[tokio::test]
async fn a_slaves_403_is_explained_by_its_own_answer_never_guessed_and_never_echoed() {
    const TEST: &str = "a_slaves_403_is_explained_by_its_own_answer_never_guessed_and_never_echoed";
    let Some(redis) = RedisServer::start(TEST) else { return };
    let master = start_master().await;
    let hostile = format!("<script>alert('slave')</script>{}", "Call +1-555-0100. ".repeat(2000));
    let slaves = [
        // The manager's message, without any machine-readable reason, says the organization is
        // missing; the name shown is the one Portico asked for, not the one the answer names.
        (
            "no-org",
            error_object("Organization \"<b>Evil Corp</b>\" does not exist on this manager"),
            "application/json",
        ),
        ("disabled", error_object("The account is disabled"), "application/json"),
        ("hostile", error_object(&hostile), "application/json"),
        ("plain", "Forbidden".to_owned(), "text/plain"),
    ];
    let mut builder = TestAppBuilder::new(master.url.as_str()).redis(&redis);
    for (id, body, content_type) in &slaves {
        builder = builder.slave(id, id, &refusing_manager(body.clone(), content_type).await);
    }
    let app = builder.spawn().await;

    assert_eq!(app.sign_in("alice", "alice-password").await.status(), 303, "the master policy");
    let page = app.get("/environments").await.text().await.unwrap();
    assert!(
        entry(&page, "no-org").contains("organization &#34;Acme&#34; does not exist on this environment"),
        "{page}"
    );
    assert!(entry(&page, "disabled").contains("your account is disabled on this environment"), "{page}");
    for neutral in ["hostile", "plain"] {
        assert!(entry(&page, neutral).contains("your account is not allowed on this environment"), "{page}");
    }
    for planted in ["Evil Corp", "alert(", "555-0100"] {
        assert!(!page.contains(planted), "the manager's {planted:?} is on the page");
    }

    let rows = audit_rows(&app).await;
    let success = rows.iter().find(|(action, ..)| action == "signin.success").expect("audited");
    let mut reasons: Vec<(&str, &str)> = success.2["unavailable"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["environment"].as_str().unwrap(), f["reason"].as_str().unwrap()))
        .collect();
    reasons.sort();
    assert_eq!(
        reasons,
        [
            ("disabled", "account_disabled"),
            ("hostile", "forbidden"),
            ("no-org", "organization_missing"),
            ("plain", "forbidden")
        ]
    );
    app.stop().await;
}

#[tokio::test]
async fn a_masters_403_is_a_disabled_account_only_when_the_master_says_so() {
    const TEST: &str = "a_masters_403_is_a_disabled_account_only_when_the_master_says_so";
    let Some(redis) = RedisServer::start(TEST) else { return };
    // The simulator refuses the disabled account with its message alone (no reason member).
    let master = start_master().await;
    let app = TestAppBuilder::new(master.url.as_str()).redis(&redis).spawn().await;
    let carol = app.sign_in("carol", "carol-password").await;
    assert_eq!(carol.status(), 403);
    assert!(carol.text().await.unwrap().contains("Your account is disabled."));
    app.stop().await;

    // A master that refuses without saying why: a neutral refusal, not a disabled account.
    let silent = refusing_manager(error_object("Forbidden"), "application/json").await;
    let app = TestAppBuilder::new(&silent).redis(&redis).spawn().await;
    let refused = app.sign_in("alice", "alice-password").await;
    assert_eq!(refused.status(), 403);
    let page = refused.text().await.unwrap();
    assert!(page.contains("your account is not allowed on this environment"), "{page}");
    assert!(!page.contains("disabled"), "{page}");
    app.stop().await;
}

#[tokio::test]
async fn in_bearer_mode_a_managers_403_for_a_missing_organization_says_so() {
    const TEST: &str = "in_bearer_mode_a_managers_403_for_a_missing_organization_says_so";
    let Some(redis) = RedisServer::start(TEST) else { return };
    // The master reads the user from the access token and answers like a manager without the
    // user's organization: 403 and a message.
    let master =
        refusing_manager(error_object("Login failed: organization not found"), "application/json").await;
    let (app, fake, key) = sso_app(&redis, "bearer", &master).await;
    let issuer = fake.lock().unwrap().issuer.clone();
    let token = |nonce: &str| {
        es256(
            &key,
            "a",
            &json!({ "iss": issuer, "sub": "alice", "aud": "portico", "iat": now(), "exp": now() + 300,
                     "nonce": nonce, "preferred_username": "alice", "name": "Alice", "org": "Acme" }),
        )
    };
    let path = attempt(&app, &fake, &token).await;
    let answer = app.get(&path).await;
    assert_eq!(answer.status(), 403);
    let page = answer.text().await.unwrap();
    assert!(
        page.contains("Your organization &#34;Acme&#34; does not exist on the main environment."),
        "{page}"
    );
    assert!(!page.contains("disabled"), "{page}");
    let rows = audit_rows(&app).await;
    assert_eq!(rows[0].2["reason"], "organization_missing", "{rows:?}");
    app.stop().await;
}
