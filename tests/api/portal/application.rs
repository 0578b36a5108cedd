//! One application, managed by its owner through the portal: its page, edit, delete after a
//! confirmation, API keys (a secret shown once: not in Redis, not in logs, not on a later page)
//! and access to APIs in the state the manager decides; another organization's application is
//! refused; manager refusals are explained.

use portico::simulator::{Failure, FaultRule, Operation};

use super::fixture;
use crate::support::{csrf_in, location, logs};

const ACME_MOBILE: &str = "/environments/master/applications/m-app-acme-mobile";

/// Asks, as the signed-in user, for Acme Mobile's access to `api_id` on Main.
async fn request_access(f: &super::Fixture, api_id: &str, token: &str) -> reqwest::Response {
    f.app.post_form(&format!("{ACME_MOBILE}/apis"), &[("api_id", api_id), ("csrf_token", token)]).await
}

fn user_calls(sim: &portico::simulator::Simulator, method: &str, suffix: &str) -> usize {
    sim.requests().iter().filter(|r| r.method == method && r.path.ends_with(suffix)).count()
}

#[tokio::test]
async fn the_application_page_shows_what_it_is_its_apis_and_keys() {
    let Some(f) = fixture("the_application_page_shows").await else { return };
    f.sign_in("alice").await;
    let (status, list) = f.page("/environments/master/applications").await;
    assert_eq!(status, 200);
    assert!(list.contains(&format!("href=\"{ACME_MOBILE}\"")), "the list links each application: {list}");
    let (status, page) = f.page(ACME_MOBILE).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("<h1 id=\"app-title\">Acme Mobile</h1>"), "{page}");
    assert!(
        page.contains("Petstore") && page.contains("badge ok\">approved"),
        "its API and its state: {page}"
    );
    assert!(page.contains("No API key yet."), "{page}");
    assert!(
        page.contains("<option value=\"m-api-payments\">Payments</option>"),
        "what it may ask for: {page}"
    );
    assert!(!page.contains("<option value=\"m-api-petstore\""), "not what it has");
    assert_eq!(user_calls(&f.master, "GET", "/applications/m-app-acme-mobile"), 1);
    // Its usage over the last day, drawn and said: the demo data's calls per hour.
    let usage: f64 =
        f.master.data().applications.iter().find(|a| a.id == "m-app-acme-mobile").unwrap().usage.iter().sum();
    assert!(page.contains("<svg class=\"chart\"") && page.contains("role=\"img\""), "{page}");
    assert!(page.contains(&format!("{usage} calls in the last 25 hours")), "the text summary: {page}");
    assert!(page.contains("<caption>Calls per hour</caption>"), "the data table: {page}");
    assert!(page.contains("Quota: 1000 messages per 1 hour on every API."), "its quota: {page}");
    let report =
        f.master.requests().into_iter().find(|r| r.path.contains("/metrics/reports/app/timeline/")).unwrap();
    assert_eq!(report.user.as_deref(), Some("alice"));
    assert!(report.query.contains("client=m-app-acme-mobile"), "{}", report.query);
    let read =
        f.master.requests().into_iter().find(|r| r.path.ends_with("/applications/m-app-acme-mobile/apis"));
    assert_eq!(read.and_then(|r| r.user).as_deref(), Some("alice"), "read as the user");
}

#[tokio::test]
async fn another_organizations_application_is_not_found_and_never_changed() {
    let Some(f) = fixture("another_organizations_application").await else { return };
    f.sign_in("bob").await;
    let token = f.token().await;
    let (status, page) = f.page(ACME_MOBILE).await;
    assert_eq!(status, 404, "{page}");
    assert!(page.contains("Application not found"), "says what was not found: {page}");
    assert!(page.contains("m-app-acme-mobile"), "{page}");
    assert!(page.contains("Sign out"), "the signed-in header stays: {page}");
    for (path, form) in [
        (ACME_MOBILE.to_owned(), vec![("name", "Taken"), ("description", "")]),
        (format!("{ACME_MOBILE}/delete"), vec![("confirm", "yes")]),
        (format!("{ACME_MOBILE}/apikeys"), vec![]),
        (format!("{ACME_MOBILE}/apis"), vec![("api_id", "m-api-logistics")]),
    ] {
        let mut form = form;
        form.push(("csrf_token", &token));
        let res = f.app.post_form(&path, &form).await;
        assert_eq!(res.status(), 404, "{path}");
    }
    let data = f.master.data();
    let app = data.applications.iter().find(|a| a.id == "m-app-acme-mobile").expect("still there");
    assert_eq!(app.name, "Acme Mobile");
    assert!(data.api_keys.is_empty());
    assert_eq!(data.api_access.len(), 1);
    for method in ["PUT", "DELETE", "POST"] {
        let changes = f
            .master
            .requests()
            .iter()
            .filter(|r| r.method == method && r.path.contains("m-app-acme-mobile"))
            .count();
        assert_eq!(changes, 0, "no {method} reached the manager");
    }
    // Crafted ids are not found without asking the manager anything odd.
    for crafted in ["..", "m-app%2F..%2Fx", "a%20b"] {
        let (status, _) = f.page(&format!("/environments/master/applications/{crafted}")).await;
        assert_eq!(status, 404, "{crafted}");
    }
}

#[tokio::test]
async fn an_application_is_edited_and_deleted_only_after_confirmation() {
    let Some(f) = fixture("an_application_is_edited_and_deleted").await else { return };
    f.sign_in("alice").await;
    let token = f.token().await;
    let res =
        f.app.post_form(ACME_MOBILE, &[("name", ""), ("description", "x"), ("csrf_token", &token)]).await;
    assert_eq!(res.status(), 400);
    assert!(res.text().await.unwrap().contains("Enter a name for the application."));
    let res = f
        .app
        .post_form(
            ACME_MOBILE,
            &[("name", "Acme Mobile 2"), ("description", "Renamed"), ("csrf_token", &token)],
        )
        .await;
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), ACME_MOBILE);
    let (_, page) = f.page(ACME_MOBILE).await;
    assert!(page.contains("Application “Acme Mobile 2” saved."), "{page}");
    let data = f.master.data();
    let app = data.applications.iter().find(|a| a.id == "m-app-acme-mobile").unwrap();
    assert_eq!((app.name.as_str(), app.description.as_deref()), ("Acme Mobile 2", Some("Renamed")));

    // The first step asks; nothing is deleted until the confirmation is posted.
    let (status, confirm) = f.page(&format!("{ACME_MOBILE}/delete")).await;
    assert_eq!(status, 200);
    assert!(
        confirm.contains("Delete “Acme Mobile 2”?") && confirm.contains("name=\"confirm\" value=\"yes\"")
    );
    let res = f.app.post_form(&format!("{ACME_MOBILE}/delete"), &[("csrf_token", &token)]).await;
    assert_eq!(res.status(), 200, "without the confirmation: asked again");
    assert!(f.master.data().applications.iter().any(|a| a.id == "m-app-acme-mobile"));
    let res = f
        .app
        .post_form(&format!("{ACME_MOBILE}/delete"), &[("confirm", "yes"), ("csrf_token", "forged")])
        .await;
    assert_eq!(res.status(), 403, "CSRF checked");
    assert!(f.master.data().applications.iter().any(|a| a.id == "m-app-acme-mobile"));
    let res = f
        .app
        .post_form(&format!("{ACME_MOBILE}/delete"), &[("confirm", "yes"), ("csrf_token", &token)])
        .await;
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), "/environments/master/applications");
    assert!(!f.master.data().applications.iter().any(|a| a.id == "m-app-acme-mobile"));
    let (_, list) = f.page("/environments/master/applications").await;
    assert!(list.contains("Application “Acme Mobile 2” deleted."), "{list}");
    let audit = f.app.state.db().audit_page(None, 20).await.unwrap();
    let actions: Vec<&str> = audit.iter().map(|e| e.action.as_str()).collect();
    assert!(
        actions.contains(&"application.update") && actions.contains(&"application.delete"),
        "{actions:?}"
    );
    let deleted = audit.iter().find(|e| e.action == "application.delete").unwrap();
    assert_eq!(deleted.actor, "user:alice");
    assert_eq!(deleted.target.as_deref(), Some("master/m-app-acme-mobile"));
}

#[tokio::test]
async fn a_new_keys_secret_is_shown_once_and_kept_nowhere() {
    logs::capture();
    let Some(f) = fixture("a_new_keys_secret_is_shown_once").await else { return };
    f.sign_in("alice").await;
    let token = f.token().await;
    let res = f.app.post_form(&format!("{ACME_MOBILE}/apikeys"), &[("csrf_token", &token)]).await;
    assert_eq!(res.status(), 201);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let created = res.text().await.unwrap();
    let key = f.master.data().api_keys.into_iter().next().expect("created on the manager");
    assert!(created.contains(&key.secret), "shown on the page that created it");
    assert!(created.contains("this once"), "{created}");

    let (_, later) = f.page(ACME_MOBILE).await;
    assert!(!later.contains(&key.secret), "never again");
    let tail = &key.secret[key.secret.len() - 4..];
    assert!(later.contains(&format!("…{tail}")), "only its last characters: {later}");
    for (name, value) in f.redis.dump() {
        assert!(!String::from_utf8_lossy(&value).contains(&key.secret), "not in Redis ({name})");
    }
    assert!(!logs::text().contains(&key.secret), "not in the logs");
    let audit = f.app.state.db().audit_page(None, 10).await.unwrap();
    assert!(audit.iter().any(|e| e.action == "application.apikey.create"));
    assert!(
        audit.iter().all(|e| !e.detail.as_deref().unwrap_or_default().contains(&key.secret)),
        "not in the audit log"
    );

    let token = csrf_in(&later).unwrap();
    let res =
        f.app.post_form(&format!("{ACME_MOBILE}/apikeys/{}/delete", key.id), &[("csrf_token", &token)]).await;
    assert_eq!(res.status(), 303);
    assert!(f.master.data().api_keys.is_empty());
}

#[tokio::test]
async fn access_to_an_api_is_requested_in_the_state_the_manager_decides_and_removed() {
    let Some(f) = fixture("access_to_an_api_is_requested").await else { return };
    f.sign_in("alice").await;
    let token = f.token().await;
    // Payments waits for an administrator's approval on the master.
    let res = request_access(&f, "m-api-payments", &token).await;
    assert_eq!(res.status(), 303);
    let (_, page) = f.page(ACME_MOBILE).await;
    assert!(
        page.contains("Access to Payments requested: it waits for an administrator&#39;s approval."),
        "{page}"
    );
    assert!(page.contains("Payments</span>\n      <span class=\"badge warn\">pending approval"), "{page}");
    // An API outside the user's catalog is not asked for.
    let res = request_access(&f, "m-api-logistics", &token).await;
    assert_eq!(res.status(), 400);
    assert_eq!(user_calls(&f.master, "POST", "/apis"), 1, "only the one in the catalog reached the manager");

    let access = f.master.data().api_access.into_iter().find(|a| a.api_id == "m-api-payments").unwrap();
    assert_eq!(access.state, "pending");
    let res =
        f.app.post_form(&format!("{ACME_MOBILE}/apis/{}/delete", access.id), &[("csrf_token", &token)]).await;
    assert_eq!(res.status(), 303);
    assert!(!f.master.data().api_access.iter().any(|a| a.api_id == "m-api-payments"));
}

#[tokio::test]
async fn manager_refusals_are_explained_in_the_users_words() {
    let Some(f) = fixture("application_manager_refusals").await else { return };
    f.sign_in("alice").await;
    let token = f.token().await;
    f.master.faults().add(FaultRule {
        failure: Some(Failure::Status { status: 403 }),
        times: Some(1),
        ..FaultRule::new(Operation::ApiKeys)
    });
    let res = f.app.post_form(&format!("{ACME_MOBILE}/apikeys"), &[("csrf_token", &token)]).await;
    assert_eq!(res.status(), 403);
    let page = res.text().await.unwrap();
    assert!(page.contains("Main did not allow you to create a key."), "{page}");
    f.master.faults().add(FaultRule {
        failure: Some(Failure::Status { status: 500 }),
        times: Some(1),
        ..FaultRule::new(Operation::Application)
    });
    let (status, page) = f.page(ACME_MOBILE).await;
    assert_eq!(status, 503, "a manager error is the manager's unavailability: {page}");
    assert!(page.contains("could not show this application") && !page.contains("panicked"), "{page}");
}

#[tokio::test]
async fn an_application_is_promoted_with_the_apis_that_exist_there_and_no_credentials() {
    let Some(f) = fixture("an_application_is_promoted").await else { return };
    f.sign_in("alice").await;
    let token = f.token().await;
    // On Main it may call Petstore (approved) and asks for Payments (pending); it has a key.
    let res = request_access(&f, "m-api-payments", &token).await;
    assert_eq!(res.status(), 303);
    let res = f.app.post_form(&format!("{ACME_MOBILE}/apikeys"), &[("csrf_token", &token)]).await;
    assert_eq!(res.status(), 201);
    let (_, page) = f.page(ACME_MOBILE).await;
    assert!(page.contains("<option value=\"prod-eu\">Production EU</option>"), "a target: {page}");

    // Staging has an API named like none of them but "Payments (next)"; nothing matches there.
    let res = f
        .app
        .post_form(&format!("{ACME_MOBILE}/promote"), &[("target", "staging"), ("csrf_token", &token)])
        .await;
    assert_eq!(res.status(), 201);
    let report = res.text().await.unwrap();
    assert!(report.contains("“Acme Mobile” promoted to Staging"), "{report}");
    assert!(report.contains("<td>Petstore</td>") && report.contains("not found on Staging"), "{report}");
    assert!(report.contains("<td>Payments</td>"), "{report}");
    let data = f.staging.data();
    let created = data.applications.iter().find(|a| a.name == "Acme Mobile").expect("created on staging");
    assert_eq!(created.organization_id, "staging-org-acme", "in the user's organization there");
    assert!(data.api_keys.is_empty(), "credentials are never copied");
    assert!(data.api_access.is_empty(), "nothing of that name there");
    assert!(report.contains(&format!("/environments/staging/applications/{}", created.id)), "{report}");
    let made =
        f.staging.requests().into_iter().find(|r| r.method == "POST" && r.path.ends_with("/applications"));
    assert_eq!(made.and_then(|r| r.user).as_deref(), Some("alice"), "as the user there");

    // The same API name on the target: requested there, in the state its manager decides.
    let res = f
        .app
        .post_form(&format!("{ACME_MOBILE}/promote"), &[("target", "master"), ("csrf_token", &token)])
        .await;
    assert_eq!(res.status(), 400, "not to the environment it is on");
    let audit = f.app.state.db().audit_page(None, 10).await.unwrap();
    let promoted = audit.iter().find(|e| e.action == "application.promote").expect("audited");
    assert!(promoted.detail.as_deref().unwrap_or_default().contains("staging"), "{promoted:?}");
}

#[tokio::test]
async fn promoting_requests_access_to_the_apis_of_the_same_name_in_the_state_decided_there() {
    let Some(f) = fixture("promoting_requests_access").await else { return };
    // Staging's administrators publish twins of the master's Petstore and Payments to Acme; the
    // Payments twin needs approval there.
    f.staging.edit_data(|data| {
        let twin = |id: &str, name: &str, approval: bool| portico::simulator::SimApi {
            id: id.to_owned(),
            name: name.to_owned(),
            summary: String::new(),
            kind: "rest".to_owned(),
            uri: None,
            organizations: vec!["staging-org-acme".to_owned()],
            definition: serde_json::json!({}),
            approval,
        };
        data.apis.push(twin("staging-api-petstore", "Petstore", false));
        data.apis.push(twin("staging-api-payments", "Payments", true));
    });
    f.sign_in("alice").await;
    let token = f.token().await;
    let res = request_access(&f, "m-api-payments", &token).await;
    assert_eq!(res.status(), 303);
    let res = f
        .app
        .post_form(&format!("{ACME_MOBILE}/promote"), &[("target", "staging"), ("csrf_token", &token)])
        .await;
    assert_eq!(res.status(), 201);
    let report = res.text().await.unwrap();
    assert!(report.contains("requested: approved"), "{report}");
    assert!(report.contains("requested: waits for approval"), "{report}");
    let data = f.staging.data();
    let created = data.applications.iter().find(|a| a.name == "Acme Mobile").expect("created on staging");
    let mut granted: Vec<(String, String)> = data
        .api_access
        .iter()
        .filter(|a| a.application_id == created.id)
        .map(|a| (a.api_id.clone(), a.state.clone()))
        .collect();
    granted.sort();
    assert_eq!(
        granted,
        [
            ("staging-api-payments".to_owned(), "pending".to_owned()),
            ("staging-api-petstore".to_owned(), "approved".to_owned())
        ]
    );
}

#[tokio::test]
async fn an_oauth_clients_secret_and_its_renewal_are_shown_once() {
    logs::capture();
    let Some(f) = fixture("an_oauth_clients_secret").await else { return };
    f.sign_in("alice").await;
    let token = f.token().await;
    let res = f.app.post_form(&format!("{ACME_MOBILE}/oauth"), &[("csrf_token", &token)]).await;
    assert_eq!(res.status(), 201);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let created = res.text().await.unwrap();
    let client = f.master.data().oauth_clients.into_iter().next().expect("created on the manager");
    assert!(created.contains(&client.secret) && created.contains("OAuth client"), "{created}");
    let (_, later) = f.page(ACME_MOBILE).await;
    assert!(!later.contains(&client.secret), "never again");

    let res = f
        .app
        .post_form(&format!("{ACME_MOBILE}/oauth/{}/secret", client.id), &[("csrf_token", &token)])
        .await;
    assert_eq!(res.status(), 200);
    let renewed_page = res.text().await.unwrap();
    let renewed = f.master.data().oauth_clients.into_iter().next().unwrap();
    assert_ne!(renewed.secret, client.secret, "a new secret on the manager");
    assert!(renewed_page.contains(&renewed.secret), "shown once, on the answer");
    let (_, later) = f.page(ACME_MOBILE).await;
    assert!(!later.contains(&renewed.secret));
    for (name, value) in f.redis.dump() {
        let value = String::from_utf8_lossy(&value);
        assert!(!value.contains(&client.secret) && !value.contains(&renewed.secret), "not in Redis ({name})");
    }
    let logs = logs::text();
    assert!(!logs.contains(&client.secret) && !logs.contains(&renewed.secret), "not in the logs");

    let res = f
        .app
        .post_form(&format!("{ACME_MOBILE}/oauth/{}/delete", client.id), &[("csrf_token", &token)])
        .await;
    assert_eq!(res.status(), 303);
    assert!(f.master.data().oauth_clients.is_empty());
    let res = f
        .app
        .post_form(&format!("{ACME_MOBILE}/oauth/{}/rotate", client.id), &[("csrf_token", &token)])
        .await;
    assert_eq!(res.status(), 404, "only the actions that exist");
}
