//! The pages in a real browser (Debian's Chromium through `tests/browser/`): what a person sees
//! and can reach with the keyboard, on a desktop and on a phone. Screenshots land in
//! `target/screenshots/<test>/`.

use crate::support::TestAppBuilder;
use crate::support::browser::run_journey;

const NOWHERE: &str = "http://127.0.0.1:9";

#[tokio::test]
async fn browser_smoke_start_page_and_error_page() {
    const TEST: &str = "browser_smoke_start_page_and_error_page";
    // Nothing listens at the managers' addresses: nobody signs in here.
    let app = TestAppBuilder::new(NOWHERE)
        .slave("prod-eu", "Production EU", NOWHERE)
        .slave("staging", "Staging", NOWHERE)
        .spawn()
        .await;
    let Some(report) = run_journey(TEST, "smoke.mjs", &app.url(""), &[]).await else {
        return;
    };
    assert_eq!(
        report.step_names(),
        [
            "start page is the sign-in form",
            "stylesheet applied",
            "start page accessibility",
            "keyboard: skip link is the first focus target",
            "unknown page shows the request id",
            "error page accessibility",
            "dark colour scheme",
            "phone viewport",
        ]
    );
    assert_eq!(
        report.step("start page is the sign-in form").data["labels"],
        serde_json::json!(["Username", "Password"])
    );
    assert_eq!(report.step("start page accessibility").data["violations"], serde_json::json!([]));
    assert_eq!(report.step("error page accessibility").data["violations"], serde_json::json!([]));
    assert_eq!(report.step("keyboard: skip link is the first focus target").data["first"], "Skip to content");
    assert_eq!(report.screenshots.len(), 6, "{:?}", report.screenshots);
    for shot in &report.screenshots {
        assert!(shot.starts_with(&report.dir), "{} is under {}", shot.display(), report.dir.display());
        let bytes = std::fs::read(shot).unwrap();
        assert!(bytes.starts_with(b"\x89PNG"), "{} is a PNG", shot.display());
    }
    app.stop().await;
}

#[tokio::test]
async fn browser_sign_in_and_out_through_the_form() {
    const TEST: &str = "browser_sign_in_and_out_through_the_form";
    let master = crate::support::managers::start_master().await;
    let eu = crate::support::managers::start_slave("eu", &master.url).await;
    let app = TestAppBuilder::new(master.url.as_str())
        .slave("prod-eu", "Production EU", eu.url.as_str())
        .slave("staging", "Staging", NOWHERE)
        .spawn()
        .await;
    let Some(report) = run_journey(TEST, "signin.mjs", &app.url(""), &[]).await else {
        return;
    };
    let entries = &report.step("signing in, then the environment list").data["entries"];
    assert_eq!(entries[0]["name"], "Main");
    assert_eq!(entries[0]["badges"], serde_json::json!(["current", "connected"]));
    assert_eq!(entries[1]["name"], "Production EU");
    assert_eq!(entries[1]["badges"], serde_json::json!(["connected"]));
    assert_eq!(entries[2]["name"], "Staging");
    assert_eq!(entries[2]["badges"], serde_json::json!(["unavailable"]));
    assert_eq!(entries[2]["reason"], "environment unavailable (connection refused)");
    assert_eq!(
        report.step("signing in, then the environment list").data["violations"],
        serde_json::json!([])
    );
    assert!(master.open_sessions().is_empty(), "signed out of the master");
    assert!(eu.open_sessions().is_empty(), "signed out of the slave");
    app.stop().await;
}

#[tokio::test]
async fn browser_consumer_journey_through_the_portal() {
    const TEST: &str = "browser_consumer_journey_through_the_portal";
    let master = crate::support::managers::start_master().await;
    let eu = crate::support::managers::start_slave("eu", &master.url).await;
    let staging = crate::support::managers::start_slave("staging", &master.url).await;
    let app = TestAppBuilder::new(master.url.as_str())
        .slave("prod-eu", "Production EU", eu.url.as_str())
        .slave("staging", "Staging", staging.url.as_str())
        .spawn()
        .await;
    let Some(report) = run_journey(TEST, "portal.mjs", &app.url(""), &[]).await else {
        return;
    };
    assert_eq!(
        report.step_names(),
        [
            "signing in lands on the current catalog",
            "the picker shows each environment with its health",
            "picking an environment opens its catalog",
            "searching the catalog by name",
            "opening an API shows its operations and definition",
            "an application without a name is refused with a message",
            "creating an application",
            "switching environment from the header",
            "the pages fit a phone",
            "signing out ends the session",
        ]
    );
    let data = |step: &str| &report.step(step).data;
    let signed_in = data("signing in lands on the current catalog");
    assert_eq!(signed_in["path"], "/environments/master/apis");
    assert_eq!(signed_in["environment"], "Main");
    assert_eq!(signed_in["apis"], serde_json::json!(["Payments", "Petstore"]));
    let entries =
        data("the picker shows each environment with its health")["entries"].as_array().unwrap().clone();
    assert_eq!(entries.len(), 3);
    assert_eq!(entries[0]["badges"], serde_json::json!(["current", "connected"]));
    for entry in &entries {
        let health = entry["health"].as_str().unwrap();
        assert!(health.starts_with("Health: up · ") && health.ends_with("checked just now"), "{health}");
    }
    let picked = data("picking an environment opens its catalog");
    assert_eq!(picked["environment"], "Production EU");
    assert_eq!(picked["selected"], "Production EU", "the switcher shows it");
    assert_eq!(picked["apis"], serde_json::json!(["EU VAT", "EU Weather"]));
    assert_eq!(data("searching the catalog by name")["apis"], serde_json::json!(["EU VAT"]));
    let api = data("opening an API shows its operations and definition");
    assert_eq!(api["title"], "EU VAT");
    assert_eq!(
        api["operations"],
        serde_json::json!(["GET /items https://gateway.example/euvat/items List EU VAT items"]),
        "each operation with the URL to call"
    );
    assert_eq!(api["swagger"], "2.0");
    assert_eq!(
        data("an application without a name is refused with a message")["error"],
        "Enter a name for the application."
    );
    let created = data("creating an application");
    assert_eq!(created["notice"], "Application “Journey App” created on Production EU.");
    assert_eq!(created["after"], serde_json::json!(["Acme Batch", "Journey App"]));
    let switched = data("switching environment from the header");
    assert_eq!(switched["environment"], "Staging");
    assert_eq!(switched["apis"], serde_json::json!(["Payments (next)", "Sandbox"]));
    for step in &report.steps {
        if let Some(violations) = step.data.get("violations") {
            assert_eq!(violations, &serde_json::json!([]), "{}", step.name);
        }
    }

    let journey_app =
        eu.data().applications.into_iter().find(|a| a.name == "Journey App").expect("on prod-eu");
    assert_eq!(journey_app.organization_id, "eu-org-acme");
    assert!(
        master
            .data()
            .applications
            .iter()
            .chain(&staging.data().applications)
            .all(|a| a.name != "Journey App")
    );
    // The sign-out answered after asking every manager to end its session; on a loaded machine a
    // manager may take a moment to process it.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while ![&master, &eu, &staging].iter().all(|s| s.open_sessions().is_empty())
        && std::time::Instant::now() < deadline
    {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!([&master, &eu, &staging].iter().all(|s| s.open_sessions().is_empty()), "signed out everywhere");
    assert_eq!(report.screenshots.len(), 13, "{:?}", report.screenshots);
    app.stop().await;
}

#[tokio::test]
async fn browser_admin_journey() {
    const TEST: &str = "browser_admin_journey";
    let master = crate::support::managers::start_master().await;
    let eu = crate::support::managers::start_slave("eu", &master.url).await;
    let us = crate::support::managers::start_slave("staging", &master.url).await;
    let app = TestAppBuilder::new(master.url.as_str())
        .slave("prod-eu", "Production EU", eu.url.as_str())
        .admin("root", "admin-password-123")
        .spawn()
        .await;
    let slave_url = us.url.as_str().trim_end_matches('/').to_owned();
    let env = [("PORTICO_SLAVE_URL", slave_url.as_str())];
    let Some(report) = run_journey(TEST, "admin.mjs", &app.url(""), &env).await else {
        return;
    };
    assert_eq!(
        report.step_names(),
        [
            "a wrong password is refused with a message",
            "signing in opens the dashboard",
            "a slave with a bad id is refused with the message next to the field",
            "adding the slave",
            "testing the new slave",
            "changing the login-failure policy",
            "purging the caches",
            "reading the audit log",
            "the admin pages fit a phone",
            "signing out ends the admin session",
        ]
    );
    let data = |step: &str| &report.step(step).data;
    assert_eq!(data("a wrong password is refused with a message")["alert"], "Wrong admin name or password.");
    let dashboard = data("signing in opens the dashboard");
    assert_eq!(dashboard["heading"], "Managers");
    assert_eq!(dashboard["current"], "Dashboard");
    assert_eq!(dashboard["managers"][0]["name"], "Main");
    assert_eq!(dashboard["managers"][1]["name"], "Production EU");
    assert_eq!(dashboard["managers"][1]["badges"][1], "from config");
    assert_eq!(
        dashboard["cookie"],
        serde_json::json!({ "path": "/admin", "sameSite": "Strict", "httpOnly": true })
    );
    let refused = data("a slave with a bad id is refused with the message next to the field");
    assert_eq!(
        refused["described"],
        serde_json::json!([
            "Lowercase letters, digits, '-' and '_', e.g. prod-us. It appears in URLs and cannot be changed later.",
            "Use 1 to 64 lowercase letters, digits, '-' or '_', starting with a letter or digit."
        ])
    );
    let added = data("adding the slave");
    assert_eq!(added["flash"], "Slave manager “Production US” (prod-us) added.");
    assert_eq!(
        added["slaves"],
        serde_json::json!([
            { "name": "Production EU", "badges": ["from config"], "editable": false },
            { "name": "Production US", "badges": [], "editable": true },
        ])
    );
    let tested = data("testing the new slave");
    assert_eq!(tested["summary"], "Portico can work with this manager.");
    assert_eq!(
        tested["checks"],
        serde_json::json!([
            { "name": "Reachability", "result": "ok" },
            { "name": "TLS", "result": "not checked" },
            { "name": "API", "result": "ok" },
            { "name": "Service credential", "result": "not checked" },
        ])
    );
    let policy = data("changing the login-failure policy");
    assert_eq!(policy["flash"], "Settings saved. They are in force on every replica within a second.");
    assert_eq!(policy["checked"], "all");
    assert_eq!(
        policy["source"],
        "Overrides the config file, which says master. Enter that value to go back to it."
    );
    assert_eq!(app.state.runtime().policy.as_str(), "all", "in force");
    let purged = data("purging the caches");
    assert!(purged["flash"].as_str().unwrap().starts_with("Caches purged: "), "{purged}");
    assert_eq!(purged["entries"], "0");
    let rows = data("reading the audit log")["rows"].as_array().unwrap().clone();
    let actions: Vec<&str> = rows.iter().map(|r| r["what"].as_str().unwrap()).collect();
    assert_eq!(
        actions,
        ["cache.purge", "settings.update", "slave.create", "admin.signin.success", "admin.signin.failure"]
    );
    assert!(rows.iter().take(4).all(|r| r["who"] == "admin:root"));
    assert_eq!(rows[1]["changes"], serde_json::json!(["federation.login_failure_policy: master → all"]));
    assert_eq!(data("the admin pages fit a phone")["overflowing"], serde_json::json!([]));
    for step in &report.steps {
        if let Some(violations) = step.data.get("violations") {
            assert_eq!(violations, &serde_json::json!([]), "{}", step.name);
        }
    }
    assert_eq!(report.screenshots.len(), 11, "{:?}", report.screenshots);
    app.stop().await;
}

#[tokio::test]
async fn browser_a_user_ends_their_other_session() {
    const TEST: &str = "browser_a_user_ends_their_other_session";
    let master = crate::support::managers::start_master().await;
    let eu = crate::support::managers::start_slave("eu", &master.url).await;
    let app = TestAppBuilder::new(master.url.as_str())
        .slave("prod-eu", "Production EU", eu.url.as_str())
        .spawn()
        .await;
    let Some(report) = run_journey(TEST, "sessions.mjs", &app.url(""), &[]).await else {
        return;
    };
    assert_eq!(
        report.step_names(),
        [
            "signing in from two browsers",
            "the sessions page lists both, this one marked",
            "the sessions page on a phone",
            "ending the other session",
            "the other browser is sent to sign in on its next page",
        ]
    );
    let data = |step: &str| &report.step(step).data;
    let facts = |rows: &serde_json::Value| -> Vec<(String, bool)> {
        let rows = rows.as_array().unwrap();
        for r in rows {
            assert_eq!(r["how"], "password", "{r}");
            assert_eq!(r["environments"], "Main, Production EU", "{r}");
        }
        // (In the order they started: the test's clock stands still, so here in any order.)
        let mut facts: Vec<(String, bool)> = rows
            .iter()
            .map(|r| (r["client"].as_str().unwrap().to_owned(), r["thisSession"] == true))
            .collect();
        facts.sort();
        facts
    };
    let (desktop, phone) =
        ("Chrome on Linux · 127.0.0.x".to_owned(), "Firefox on Android · 127.0.0.x".to_owned());
    let listed = &data("the sessions page lists both, this one marked")["rows"];
    assert_eq!(facts(listed), [(desktop.clone(), true), (phone.clone(), false)]);
    let mut buttons: Vec<String> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["button"].as_str().unwrap().split(" the session").next().unwrap().to_owned())
        .collect();
    buttons.sort();
    assert_eq!(buttons, ["End", "Sign out"], "this one signs out, the other is ended: {listed}");
    let on_phone = &data("the sessions page on a phone")["rows"];
    assert_eq!(facts(on_phone), [(desktop.clone(), false), (phone, true)], "the phone's own is marked there");
    let after = data("ending the other session");
    assert_eq!(after["notice"], "The session was ended.");
    assert_eq!(facts(&after["rows"]), [(desktop, true)]);
    let signed_out = data("the other browser is sent to sign in on its next page");
    assert_eq!(
        (signed_out["path"].as_str(), signed_out["heading"].as_str()),
        (Some("/login"), Some("Sign in"))
    );
    assert_eq!(signed_out["fits"], true);
    for step in &report.steps {
        if let Some(violations) = step.data.get("violations") {
            assert_eq!(violations, &serde_json::json!([]), "{}", step.name);
        }
    }
    assert_eq!(report.screenshots.len(), 4, "{:?}", report.screenshots);
    app.stop().await;
}

#[tokio::test]
async fn browser_the_consumers_workspace() {
    const TEST: &str = "browser_the_consumers_workspace";
    let master = crate::support::managers::start_master().await;
    let eu = crate::support::managers::start_slave("eu", &master.url).await;
    let app = TestAppBuilder::new(master.url.as_str())
        .slave("prod-eu", "Production EU", eu.url.as_str())
        .master_gateway()
        .spawn()
        .await;
    let Some(report) = run_journey(TEST, "workspace.mjs", &app.url(""), &[]).await else {
        return;
    };
    let data = |step: &str| &report.step(step).data;
    let refused = data("an API is tried without a key");
    assert_eq!(refused["status"], "401", "{refused}");
    assert!(refused["body"].as_str().unwrap().contains("KeyId"), "{refused}");
    let answered = data("the API answers to the new key");
    assert_eq!(answered["status"], "200", "{answered}");
    assert!(answered["body"].as_str().unwrap().contains("m-app-acme-mobile"), "{answered}");
    assert_eq!(answered["wide"], false, "the API page fits a phone");
    let opened = data("an application opens from the list");
    assert_eq!(opened["title"], "Acme Mobile");
    assert_eq!(opened["chart"], 1, "the chart is an image with its title");
    assert!(opened["bars"].as_u64().unwrap() >= 24, "{opened}");
    assert!(opened["summary"].as_str().unwrap().contains("calls in the last"), "{opened}");
    let asked = data("asking for an API that needs approval");
    assert!(asked["notice"].as_str().unwrap().contains("waits for an administrator"), "{asked}");
    let key = data("a new key shows its secret once");
    assert_eq!(key["shownAgain"], false, "{key}");
    assert_eq!(key["hinted"], true, "{key}");
    assert!(key["secretLength"].as_u64().unwrap() >= 16);
    let promoted = data("promoting to another environment");
    assert_eq!(promoted["heading"], "“Acme Mobile” promoted to Production EU");
    assert_eq!(promoted["opened"], true);
    let rows = promoted["rows"].as_array().unwrap();
    assert!(rows.iter().all(|r| r.as_str().unwrap().contains("not found on Production EU")), "{rows:?}");
    assert_eq!(data("the application page fits a phone")["wide"], false);
    assert!(eu.data().applications.iter().any(|a| a.name == "Acme Mobile"), "created on prod-eu");
}
