//! Slave managers in the admin UI: the list with the config file's slaves read-only, adding,
//! validation next to each field, editing with the two-admin conflict, disabling, deleting — each
//! in force at once and in the audit log.

use portico::domain::EnvironmentId;

use super::{
    Browser, NOWHERE, add_slave, audit_actions, builder, csrf, field_error, item, page, signed_in,
    slave_fields,
};
use crate::support::managers::{start_master, start_slave};
use crate::support::{TestApp, TestDatabase, csrf_in, location};

crate::on_both_databases!(
    added_slaves_are_listed_editable_and_in_force_at_once,
    config_slaves_and_the_master_are_read_only,
    every_bad_field_gets_its_message_and_nothing_is_saved,
    a_second_admin_saving_first_makes_the_stale_save_a_conflict,
    disabling_and_deleting_take_the_slave_away,
);

fn id(raw: &str) -> EnvironmentId {
    EnvironmentId::parse(raw).unwrap()
}

async fn added_slaves_are_listed_editable_and_in_force_at_once(db: TestDatabase) {
    let master = start_master().await;
    let us = start_slave("eu", &master.url).await;
    let app = builder(&db, master.url.as_str()).slave("staging", "Staging", NOWHERE).spawn().await;
    signed_in(&app).await;
    let form = page(&app, "/admin/slaves/new").await;
    assert!(form.contains("<label for=\"slave-url\">Address</label>"), "{form}");
    assert!(form.contains("<option value=\"full\" selected>"), "full TLS checks by default");
    assert!(
        form.contains("id=\"slave-enabled\" name=\"enabled\" type=\"checkbox\" checked"),
        "enabled by default"
    );

    let mut fields = slave_fields("prod-us", "Production US", us.url.as_str());
    let gateway = format!("{}gateway", us.url);
    fields.extend([("timeout", "3s"), ("required", "on"), ("gateway", gateway.as_str())]);
    let res = add_slave(&app, &fields).await;
    assert_eq!((res.status().as_u16(), location(&res)), (303, "/admin/slaves".to_owned()));

    let env = app.state.environments().get(&id("prod-us")).expect("in force without a restart");
    assert_eq!(env.name(), "Production US");
    assert!(env.enabled() && env.required() && !env.provisioned);
    assert_eq!(env.client.timeout(), std::time::Duration::from_secs(3));
    let stored = app.state.db().get_slave(&id("prod-us")).await.unwrap().expect("stored");
    assert_eq!((stored.version, stored.updated_by.as_str()), (1, "admin:root"));
    assert_eq!(stored.manager.base_path, "/api/portal/v1.3", "the default base path");
    assert_eq!(stored.manager.gateway.as_ref().map(|g| g.as_str()), Some(gateway.as_str()));
    assert_eq!(env.client.definition().gateway, stored.manager.gateway, "try it calls it at once");

    let list = page(&app, "/admin/slaves").await;
    assert!(list.contains("Slave manager “Production US” (prod-us) added."), "{list}");
    let entry = item(&list, "slave-prod-us");
    assert!(!entry.contains("from config"), "{entry}");
    for part in [
        "Production US",
        "required",
        "3s",
        "by root, just now",
        "href=\"/admin/slaves/prod-us/edit\"",
        "/admin/slaves/prod-us/delete",
    ] {
        assert!(entry.contains(part), "{part} in {entry}");
    }
    let staging = item(&list, "slave-staging");
    assert!(staging.contains("<span class=\"badge\">from config</span>"), "{staging}");
    assert!(staging.contains("Read-only: defined in the config file."), "{staging}");
    assert!(!staging.contains("/edit") && !staging.contains("/delete"), "{staging}");
    assert!(staging.contains("/admin/slaves/staging/test"), "config slaves can be tested");

    // A consumer signing in now is joined to it.
    assert_eq!(app.sign_in("alice", "alice-password").await.status(), 303);
    let picker = page(&app, "/environments").await;
    assert!(picker.contains("id=\"env-prod-us\""), "{picker}");
    let api = page(&app, "/environments/prod-us/apis/eu-api-weather").await;
    assert!(api.contains("id=\"try-it-form\""), "try it is offered there: {api}");

    let created = app.state.db().audit_page(None, 10).await.unwrap();
    let created = created.iter().find(|e| e.action == "slave.create").expect("audited");
    assert_eq!((created.actor.as_str(), created.target.as_deref()), ("admin:root", Some("prod-us")));
    let detail: serde_json::Value = serde_json::from_str(created.detail.as_deref().unwrap()).unwrap();
    assert_eq!(detail["before"], serde_json::Value::Null);
    assert_eq!(detail["after"]["name"], "Production US");
    assert_eq!(detail["after"]["timeout"], "3s");
    assert_eq!(detail["after"]["gateway"], gateway.as_str());
    app.stop().await;
}

async fn config_slaves_and_the_master_are_read_only(db: TestDatabase) {
    let app = builder(&db, NOWHERE).slave("staging", "Staging", NOWHERE).spawn().await;
    signed_in(&app).await;
    let token = csrf(&app).await;
    let res = app.get("/admin/slaves/staging/edit").await;
    assert_eq!(res.status(), 409);
    let text = res.text().await.unwrap();
    assert!(text.contains("“Staging” is defined in the config file ([[slaves]] with id = &#34;staging&#34;) and is read-only here."), "{text}");
    let mut fields = slave_fields("staging", "Renamed", "https://elsewhere.example");
    fields.extend([("csrf_token", token.as_str()), ("version", "1")]);
    assert_eq!(app.post_form("/admin/slaves/staging", &fields).await.status(), 409);
    assert_eq!(app.post_form("/admin/slaves/staging/delete", &[("csrf_token", &token)]).await.status(), 409);
    let confirmed = [("csrf_token", token.as_str()), ("confirm", "yes")];
    assert_eq!(app.post_form("/admin/slaves/staging/delete", &confirmed).await.status(), 409);
    assert_eq!(app.get("/admin/slaves/staging/delete").await.status(), 409);
    let res = app.post_form("/admin/slaves/master/delete", &[("csrf_token", &token)]).await;
    assert_eq!(res.status(), 409);
    assert!(res.text().await.unwrap().contains("“Main” is the master manager."));
    assert_eq!(app.get("/admin/slaves/master/edit").await.status(), 409);
    let res = app.get("/admin/slaves/nope/edit").await;
    assert_eq!(res.status(), 404);
    assert!(res.text().await.unwrap().contains("There is no slave manager “nope”"));
    assert_eq!(app.get("/admin/slaves/Not%20An%20Id/edit").await.status(), 404);

    assert_eq!(app.state.environments().get(&id("staging")).unwrap().name(), "Staging", "unchanged");
    let actions: Vec<String> = audit_actions(&app).await.into_iter().map(|(_, a, _)| a).collect();
    assert_eq!(actions, ["admin.signin.success"], "refusals change nothing");
    app.stop().await;
}

async fn every_bad_field_gets_its_message_and_nothing_is_saved(db: TestDatabase) {
    let app = builder(&db, NOWHERE).slave("staging", "Staging", NOWHERE).spawn().await;
    signed_in(&app).await;
    let bad = [
        ("id", "Prod US"),
        ("name", ""),
        ("url", "https://manager.example.com/api/portal"),
        ("base_path", "api"),
        ("tls_mode", "sometimes"),
        ("ca_pem", "-----BEGIN CERTIFICATE-----\nnot base64 at all!\n-----END CERTIFICATE-----"),
        ("timeout", "soon"),
        ("gateway", "https://gw.example.com/?route=other"),
    ];
    let res = add_slave(&app, &bad).await;
    assert_eq!(res.status(), 400);
    let form = res.text().await.unwrap();
    assert!(form.contains("Please correct the fields marked below."));
    assert_eq!(form.matches("aria-invalid=\"true\"").count(), 8, "{form}");
    assert!(field_error(&form, "gateway").starts_with("Give the address with at most a path"), "{form}");
    assert!(field_error(&form, "id").starts_with("Use 1 to 64 lowercase letters"));
    assert_eq!(field_error(&form, "name"), "Enter a name.");
    assert_eq!(
        field_error(&form, "url"),
        "Give the address without a path: the API&#39;s path goes in Base path."
    );
    assert_eq!(
        field_error(&form, "base-path"),
        "Use a path that starts with &#39;/&#39;, like /api/portal/v1.3."
    );
    assert_eq!(
        field_error(&form, "tls-mode"),
        "Choose how the certificate is checked: full, certificate or none."
    );
    assert!(field_error(&form, "ca-pem").starts_with("This is not readable PEM"));
    assert_eq!(
        field_error(&form, "timeout"),
        "Write a duration like &#34;5s&#34;, &#34;500ms&#34; or &#34;1m&#34;."
    );
    assert!(form.contains("value=\"Prod US\""), "what was typed is kept");

    for (taken, message) in [
        ("staging", "A slave from the config file has this id: choose another."),
        ("master", "This is the master&#39;s id: choose another."),
    ] {
        let res = add_slave(&app, &slave_fields(taken, "Again", "https://m.example.com")).await;
        assert_eq!(res.status(), 400);
        assert_eq!(field_error(&res.text().await.unwrap(), "id"), message, "{taken}");
    }
    let res = add_slave(&app, &slave_fields("eu", "Europe", "https://eu.example.com")).await;
    assert_eq!(res.status(), 303);
    let res = add_slave(&app, &slave_fields("eu", "Europe again", "https://eu2.example.com")).await;
    assert_eq!(
        field_error(&res.text().await.unwrap(), "id"),
        "“Europe” has this id already: choose another."
    );
    for (name, message) in [
        (" main ", "The master manager is called “Main”: choose another name."),
        ("STAGING", "A slave from the config file (staging) is called “Staging”: choose another name."),
        ("europe  ", "“Europe” (eu) has this name already: choose another."),
    ] {
        let res = add_slave(&app, &slave_fields("other", name, "https://other.example.com")).await;
        assert_eq!(res.status(), 400, "{name}");
        assert_eq!(field_error(&res.text().await.unwrap(), "name"), message, "{name}");
    }
    for (field, value, message) in [
        ("url", "ftp://m.example.com", "The address must start with https:// (or http://) and name a host."),
        ("url", "https://user:secret@m.example.com", "Leave credentials out of the address."),
        ("timeout", "10m", "Use a duration between 100ms and 5m."),
        ("ca_pem", "hello", "No certificate found: paste one or more -----BEGIN CERTIFICATE----- blocks."),
    ] {
        let mut fields = slave_fields("other", "Other", "https://other.example.com");
        fields.retain(|(f, _)| *f != field);
        fields.push((field, value));
        let res = add_slave(&app, &fields).await;
        assert_eq!(res.status(), 400, "{field}={value}");
        assert_eq!(field_error(&res.text().await.unwrap(), &field.replace('_', "-")), message);
    }
    let stored: Vec<String> =
        app.state.db().list_slaves().await.unwrap().into_iter().map(|s| s.manager.id.to_string()).collect();
    assert_eq!(stored, ["eu"], "only the valid form was saved");
    app.stop().await;
}

/// The `version` hidden field of an edit form.
fn version_in(form: &str) -> String {
    let at =
        form.find("name=\"version\" value=\"").expect("a version field") + "name=\"version\" value=\"".len();
    form[at..at + form[at..].find('"').unwrap()].to_owned()
}

async fn a_second_admin_saving_first_makes_the_stale_save_a_conflict(db: TestDatabase) {
    let app: TestApp = builder(&db, NOWHERE).admin("ops", "ops-password-456").spawn().await;
    signed_in(&app).await;
    assert_eq!(
        add_slave(&app, &slave_fields("prod-us", "Production US", "https://us.example.com")).await.status(),
        303
    );
    let ops = Browser::new(&app);
    ops.sign_in("ops", "ops-password-456").await;

    // Both open the edit form of version 1.
    let root_form = page(&app, "/admin/slaves/prod-us/edit").await;
    assert_eq!(version_in(&root_form), "1");
    assert!(root_form.contains("id=\"slave-id\" type=\"text\" value=\"prod-us\" readonly"), "the id stays");
    let ops_form = ops.get("/admin/slaves/prod-us/edit").await.text().await.unwrap();
    let ops_token = csrf_in(&ops_form).unwrap();
    let mut ops_fields = slave_fields("prod-us", "Production US (ops)", "https://us.example.com");
    ops_fields.extend([("csrf_token", ops_token.as_str()), ("version", "1")]);
    let res = ops.post_form("/admin/slaves/prod-us", &ops_fields).await;
    assert_eq!(res.status(), 303, "the first save wins");

    let root_token = csrf_in(&root_form).unwrap();
    let mut root_fields = slave_fields("prod-us", "Production US", "https://us.example.com");
    root_fields.extend([("csrf_token", root_token.as_str()), ("version", "1"), ("timeout", "5s")]);
    let res = app.post_form("/admin/slaves/prod-us", &root_fields).await;
    assert_eq!(res.status(), 409, "the stale save is refused");
    let conflict = res.text().await.unwrap();
    assert!(conflict.contains("<strong>Changed by ops since you opened it</strong>"), "{conflict}");
    assert!(conflict.contains("Nothing was saved."));
    assert!(conflict.contains("<li>Name: <strong>Production US (ops)</strong></li>"), "{conflict}");
    assert!(conflict.contains("<li>Timeout: <strong>default</strong></li>"), "{conflict}");
    assert!(conflict.contains("value=\"5s\""), "the admin's own values are kept");
    assert_eq!(version_in(&conflict), "2", "saving again is a decision over version 2");
    let stored = app.state.db().get_slave(&id("prod-us")).await.unwrap().unwrap();
    assert_eq!(
        (stored.manager.name.as_str(), stored.manager.timeout, stored.version),
        ("Production US (ops)", None, 2)
    );

    // Saving again from the conflict page replaces version 2 deliberately.
    let mut again = root_fields.clone();
    again.retain(|(f, _)| *f != "version");
    again.push(("version", "2"));
    assert_eq!(app.post_form("/admin/slaves/prod-us", &again).await.status(), 303);
    let stored = app.state.db().get_slave(&id("prod-us")).await.unwrap().unwrap();
    assert_eq!((stored.manager.name.as_str(), stored.version), ("Production US", 3));
    assert_eq!(stored.manager.timeout, Some(std::time::Duration::from_secs(5)));
    assert_eq!(app.state.environments().get(&id("prod-us")).unwrap().client.timeout().as_secs(), 5);
    let list = page(&app, "/admin/slaves").await;
    assert!(list.contains("Slave manager “Production US” (prod-us) saved."));

    // Saving what is stored changes nothing.
    let mut same = root_fields.clone();
    same.retain(|(f, _)| *f != "version");
    same.push(("version", "3"));
    assert_eq!(app.post_form("/admin/slaves/prod-us", &same).await.status(), 303);
    assert!(page(&app, "/admin/slaves").await.contains("Nothing to save: “Production US” is unchanged."));
    assert_eq!(app.state.db().get_slave(&id("prod-us")).await.unwrap().unwrap().version, 3);

    let updates: Vec<_> = app
        .state
        .db()
        .audit_page(None, 50)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.action == "slave.update")
        .collect();
    assert_eq!(updates.iter().map(|e| e.actor.as_str()).collect::<Vec<_>>(), ["admin:root", "admin:ops"]);
    let detail: serde_json::Value = serde_json::from_str(updates[1].detail.as_deref().unwrap()).unwrap();
    assert_eq!(
        (detail["before"]["name"].as_str(), detail["after"]["name"].as_str()),
        (Some("Production US"), Some("Production US (ops)"))
    );
    let audit = page(&app, "/admin/audit").await;
    assert!(
        audit.contains("<span class=\"field\">timeout</span>: <del>default</del> → <ins>5s</ins>"),
        "{audit}"
    );
    app.stop().await;
}

async fn disabling_and_deleting_take_the_slave_away(db: TestDatabase) {
    let master = start_master().await;
    let us = start_slave("eu", &master.url).await;
    let app = builder(&db, master.url.as_str()).spawn().await;
    signed_in(&app).await;
    assert_eq!(
        add_slave(&app, &slave_fields("prod-us", "Production US", us.url.as_str())).await.status(),
        303
    );

    let form = page(&app, "/admin/slaves/prod-us/edit").await;
    let token = csrf_in(&form).unwrap();
    let mut fields = slave_fields("prod-us", "Production US", us.url.as_str());
    fields.retain(|(f, _)| *f != "enabled");
    fields.extend([("csrf_token", token.as_str()), ("version", "1")]);
    assert_eq!(app.post_form("/admin/slaves/prod-us", &fields).await.status(), 303);
    assert!(!app.state.environments().get(&id("prod-us")).unwrap().enabled(), "disabled at once");
    assert!(
        item(&page(&app, "/admin/slaves").await, "slave-prod-us")
            .contains("<span class=\"badge\">disabled</span>")
    );
    assert_eq!(app.sign_in("alice", "alice-password").await.status(), 303);
    assert!(!page(&app, "/environments").await.contains("env-prod-us"), "consumers no longer see it");

    // Deleting asks first: the list links to a page that names the slave and what deleting does.
    assert!(
        item(&page(&app, "/admin/slaves").await, "slave-prod-us")
            .contains("href=\"/admin/slaves/prod-us/delete\"")
    );
    let confirm = page(&app, "/admin/slaves/prod-us/delete").await;
    assert!(confirm.contains("Delete slave manager “Production US”?"), "{confirm}");
    assert!(confirm.contains("id=\"delete-effects\""), "{confirm}");
    assert!(confirm.contains("name=\"confirm\" value=\"yes\""), "{confirm}");
    let res = app.post_form("/admin/slaves/prod-us/delete", &[("csrf_token", &token)]).await;
    assert_eq!(res.status(), 200, "without confirm=yes the page is shown again");
    assert!(res.text().await.unwrap().contains("Delete slave manager “Production US”?"));
    let res =
        app.post_form("/admin/slaves/prod-us/delete", &[("csrf_token", "forged"), ("confirm", "yes")]).await;
    assert_eq!(res.status(), 403, "a forged token");
    assert!(app.state.db().get_slave(&id("prod-us")).await.unwrap().is_some(), "nothing deleted yet");
    assert!(app.state.environments().get(&id("prod-us")).is_some());
    let confirmed = [("csrf_token", token.as_str()), ("confirm", "yes")];
    let res = app.post_form("/admin/slaves/prod-us/delete", &confirmed).await;
    assert_eq!((res.status().as_u16(), location(&res)), (303, "/admin/slaves".to_owned()));
    assert!(app.state.environments().get(&id("prod-us")).is_none(), "gone at once");
    assert!(app.state.db().get_slave(&id("prod-us")).await.unwrap().is_none());
    let list = page(&app, "/admin/slaves").await;
    assert!(list.contains("Slave manager “Production US” (prod-us) deleted."));
    assert!(!list.contains("id=\"slave-prod-us\""));
    let res = app.post_form("/admin/slaves/prod-us/delete", &confirmed).await;
    assert_eq!(res.status(), 404, "deleting twice");
    assert_eq!(app.get("/admin/slaves/prod-us/delete").await.status(), 404);
    let deleted = &app.state.db().audit_page(None, 10).await.unwrap();
    let deleted = deleted.iter().find(|e| e.action == "slave.delete").unwrap();
    let detail: serde_json::Value = serde_json::from_str(deleted.detail.as_deref().unwrap()).unwrap();
    assert_eq!(detail["before"]["enabled"], false);
    assert!(detail.get("after").is_none());
    app.stop().await;
}
