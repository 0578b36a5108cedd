//! Settings in the admin UI: what overrides the config file (and saying so), taking effect at
//! once for consumers, saving the file's value to remove an override, messages for bad values.

use super::{NOWHERE, builder, page, signed_in};
use crate::support::managers::start_master;
use crate::support::{TestApp, TestDatabase, csrf_in, location};

crate::on_both_databases!(
    saved_settings_override_the_file_say_so_and_take_effect,
    bad_settings_get_messages_and_nothing_is_saved,
);

/// A full settings form: the file's values except the `changes`.
fn settings<'a>(token: &'a str, changes: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut form = vec![
        ("csrf_token", token),
        ("label", "Region"),
        ("login_failure_policy", "master"),
        ("login_protection_enabled", "on"),
        ("max_failures", "5"),
        ("window", "15m"),
        ("lock_duration", "15m"),
        ("max_failures_per_ip", "20"),
        ("catalog_ttl", "5m"),
        ("organization_ttl", "15m"),
    ];
    for (key, value) in changes {
        form.retain(|(k, _)| k != key);
        if !value.is_empty() {
            form.push((key, value));
        }
    }
    form
}

/// The hint under a field: where its value comes from.
fn source(page: &str, id: &str) -> String {
    let marker = format!("id=\"{id}-source\">");
    let at = page.find(&marker).unwrap_or_else(|| panic!("{id} on the page")) + marker.len();
    page[at..at + page[at..].find("</p>").unwrap()].to_owned()
}

async fn save(app: &TestApp, changes: &[(&str, &str)]) -> reqwest::Response {
    let token = csrf_in(&page(app, "/admin/settings").await).unwrap();
    app.post_form("/admin/settings", &settings(&token, changes)).await
}

async fn saved_settings_override_the_file_say_so_and_take_effect(db: TestDatabase) {
    let master = start_master().await;
    let app = builder(&db, master.url.as_str())
        .slave("staging", "Staging", NOWHERE)
        .toml("[federation]\nlabel = \"Region\"\n")
        .spawn()
        .await;
    signed_in(&app).await;
    let form = page(&app, "/admin/settings").await;
    assert!(form.contains("id=\"label\" name=\"label\" type=\"text\" value=\"Region\""), "{form}");
    assert_eq!(source(&form, "label"), "From the config file.");
    assert!(form.contains(
        "id=\"policy-master\" name=\"login_failure_policy\" type=\"radio\" value=\"master\" checked"
    ));
    assert!(!form.contains("Overrides the config file"));
    assert_eq!(
        app.sign_in("alice", "alice-password").await.status(),
        303,
        "the master policy tolerates staging down"
    );
    assert_eq!(app.sign_out().await.status(), 303);

    let res = save(
        &app,
        &[("label", "Stage"), ("login_failure_policy", "all"), ("max_failures", "3"), ("catalog_ttl", "1m")],
    )
    .await;
    assert_eq!((res.status().as_u16(), location(&res)), (303, "/admin/settings".to_owned()));
    let form = page(&app, "/admin/settings").await;
    assert!(form.contains("Settings saved. They are in force on every replica within a second."));
    assert!(form.contains("value=\"Stage\""));
    let overridden = |id: &str, file: &str| {
        format!(
            "<span class=\"override\">Overrides the config file</span>, which says <code>{file}</code>. Enter that value to go back to it."
        ) == source(&form, id)
    };
    assert!(overridden("label", "Region"), "{}", source(&form, "label"));
    assert!(overridden("policy", "master"));
    assert!(overridden("max-failures", "5"));
    assert!(overridden("catalog-ttl", "5m"));
    for id in [
        "window",
        "lock-duration",
        "lock-by-ip",
        "max-failures-per-ip",
        "organization-ttl",
        "protection-enabled",
    ] {
        assert_eq!(source(&form, id), "From the config file.", "{id}");
    }

    let runtime = app.state.runtime();
    assert_eq!((runtime.label.as_str(), runtime.policy.as_str()), ("Stage", "all"));
    assert_eq!(runtime.login_protection.max_failures, 3);
    assert_eq!(app.state.catalog().ttl(), std::time::Duration::from_secs(60));
    let stored = app.state.db().load_overrides().await.unwrap();
    assert_eq!(stored.label.as_deref(), Some("Stage"));
    assert_eq!(stored.window, None, "values equal to the file's are not stored");
    let res = app.sign_in("alice", "alice-password").await;
    assert_eq!(res.status(), 503, "the all policy needs staging, which is down");
    assert!(res.text().await.unwrap().contains("Staging"));

    let entry = &app.state.db().audit_page(None, 10).await.unwrap();
    let entry = entry.iter().find(|e| e.action == "settings.update").unwrap();
    let detail: serde_json::Value = serde_json::from_str(entry.detail.as_deref().unwrap()).unwrap();
    assert_eq!(
        detail["before"],
        serde_json::json!({
            "federation.label": "Region", "federation.login_failure_policy": "master",
            "login_protection.max_failures": "5", "cache.catalog_ttl": "5m",
        })
    );
    assert_eq!(detail["after"]["federation.login_failure_policy"], "all");

    // The file's value again removes the override.
    let res =
        save(&app, &[("login_failure_policy", "all"), ("max_failures", "3"), ("catalog_ttl", "1m")]).await;
    assert_eq!(res.status(), 303);
    let form = page(&app, "/admin/settings").await;
    assert_eq!(source(&form, "label"), "From the config file.");
    assert_eq!(app.state.db().load_overrides().await.unwrap().label, None);
    assert_eq!(app.state.runtime().label, "Region");
    let res =
        save(&app, &[("login_failure_policy", "all"), ("max_failures", "3"), ("catalog_ttl", "1m")]).await;
    assert_eq!(res.status(), 303);
    assert!(page(&app, "/admin/settings").await.contains("Nothing to save: the settings are unchanged."));
    app.stop().await;
}

async fn bad_settings_get_messages_and_nothing_is_saved(db: TestDatabase) {
    let app = builder(&db, NOWHERE).spawn().await;
    signed_in(&app).await;
    let res = save(
        &app,
        &[
            ("label", " "),
            ("login_failure_policy", "sometimes"),
            ("max_failures", "0"),
            ("window", "soon"),
            ("catalog_ttl", "30d"),
            ("max_failures_per_ip", "lots"),
        ],
    )
    .await;
    assert_eq!(res.status(), 400);
    let form = res.text().await.unwrap();
    assert!(form.contains("Please correct the fields marked below. Nothing was saved."));
    let error = |id: &str| {
        let marker = format!("id=\"{id}-error\">");
        let at = form.find(&marker).unwrap_or_else(|| panic!("no error for {id}:\n{form}")) + marker.len();
        form[at..at + form[at..].find("</p>").unwrap()].to_owned()
    };
    assert_eq!(error("label"), "Enter a label of 1 to 60 characters on one line.");
    assert_eq!(error("policy"), "Choose master, all or any.");
    assert_eq!(error("max-failures"), "Enter a whole number from 1 to 100.");
    assert_eq!(error("max-failures-per-ip"), "Enter a whole number from 1 to 10000.");
    assert_eq!(error("window"), "Write a duration like &#34;30s&#34;, &#34;15m&#34; or &#34;1h&#34;.");
    assert_eq!(error("catalog-ttl"), "Use a duration between 1s and 7 days.");
    assert!(form.contains("id=\"window\" name=\"window\" type=\"text\" value=\"soon\""), "typed values kept");
    assert!(form.contains("aria-describedby=\"window-source window-error\" aria-invalid=\"true\""));
    assert_eq!(app.state.db().load_overrides().await.unwrap(), Default::default());
    assert!(app.state.db().audit_page(None, 10).await.unwrap().iter().all(|e| e.action != "settings.update"));
    app.stop().await;
}
