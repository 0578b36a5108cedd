//! The manager simulator over real HTTP: the consumer flow, CSRF, slave delegation to a master,
//! sessions, fault injection and the `/__simulator/` controls.

use std::time::{Duration, Instant};

use futures_util::future::join_all;
use portico::domain::Role;
use portico::manager::{CSRF_HEADER, ManagerCredentials, ManagerError, NewApplication};
use portico::simulator::{Failure, FaultRule, Operation, SimulatorData};
use reqwest::StatusCode;
use serde_json::Value;

use crate::support::managers::{client, closed_port, secret, start_master, start_slave};

/// A plain HTTP client that, like Portico's, neither follows redirects nor keeps cookies.
fn raw() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client")
}

#[tokio::test]
async fn a_consumer_signs_in_browses_creates_an_application_and_signs_out() {
    let master = start_master().await;
    let client = client(&master);
    let mut session = client.login("alice", &secret("alice-password")).await.expect("login");
    assert_eq!(master.open_sessions(), ["alice"]);

    let user = client.current_user(&mut session).await.expect("current user");
    assert_eq!((user.login_name.as_str(), user.role), ("alice", Role::User));
    assert!(session.csrf_token.is_some(), "currentuser hands out the CSRF token");
    let creds = ManagerCredentials::Session(&session);

    let org = client.organization(creds, &user.organization_id).await.expect("own organization");
    assert_eq!(org.name, "Acme");
    assert_eq!(
        client.organization_by_name(creds, "Acme").await.expect("by name").map(|o| o.id),
        Some(org.id.clone())
    );
    assert_eq!(client.organization_by_name(creds, "Globex").await.expect("not visible"), None);

    let apis = client.discovery_apis(creds).await.expect("apis");
    let mut names: Vec<&str> = apis.iter().map(|a| a.name.as_str()).collect();
    names.sort();
    assert_eq!(names, ["Payments", "Petstore"]);
    let definition = client.api_definition(creds, &apis[0].id).await.expect("definition");
    assert_eq!(definition["swagger"], "2.0");
    assert_eq!(
        client.api_definition(creds, "m-api-logistics").await.expect_err("Globex only"),
        ManagerError::NotFound
    );

    let before = client.applications(creds).await.expect("applications");
    assert!(before.iter().all(|app| app.organization_id == org.id));
    let new = NewApplication {
        name: "Alice's app".into(),
        description: Some("for tests".into()),
        organization_id: org.id.clone(),
    };
    let created = client.create_application(creds, &new).await.expect("create");
    assert_eq!(
        (created.name.as_str(), created.created_by.as_deref()),
        ("Alice's app", Some(user.id.as_str()))
    );
    assert_eq!(client.applications(creds).await.expect("applications").len(), before.len() + 1);

    client.logout(&session).await.expect("logout");
    assert!(master.open_sessions().is_empty());
    assert_eq!(
        client.applications(ManagerCredentials::Session(&session)).await.expect_err("ended"),
        ManagerError::SessionExpired
    );
}

#[tokio::test]
async fn unsafe_calls_need_the_session_csrf_token() {
    let master = start_master().await;
    let client = client(&master);
    let mut session = client.login("alice", &secret("alice-password")).await.expect("login");
    client.current_user(&mut session).await.expect("token");
    let token = session.csrf_token.as_ref().expect("token").as_str().to_owned();
    let url = format!("{}api/portal/v1.3/applications", master.url);
    let body = serde_json::json!({ "name": "x", "organizationId": "m-org-acme" });
    let post = |csrf: Option<&str>| {
        let mut request = raw().post(&url).header("cookie", session.cookie.as_str()).json(&body);
        if let Some(csrf) = csrf {
            request = request.header(CSRF_HEADER, csrf);
        }
        request.send()
    };
    assert_eq!(post(None).await.expect("send").status(), StatusCode::FORBIDDEN);
    assert_eq!(post(Some("not-the-token")).await.expect("send").status(), StatusCode::FORBIDDEN);
    assert_eq!(post(Some(&token)).await.expect("send").status(), StatusCode::CREATED);

    let logout_url = format!("{}api/portal/v1.3/login", master.url);
    let without =
        raw().delete(&logout_url).header("cookie", session.cookie.as_str()).send().await.expect("send");
    assert_eq!(without.status(), StatusCode::FORBIDDEN);
    assert_eq!(master.open_sessions(), ["alice"]);
    // The client fetches the token itself when the session has none.
    let bare = portico::manager::ManagerSession { cookie: session.cookie.clone(), csrf_token: None };
    client.logout(&bare).await.expect("logout");
    assert!(master.open_sessions().is_empty());
}

#[tokio::test]
async fn login_answers_303_with_an_http_only_session_cookie() {
    let master = start_master().await;
    let url = format!("{}api/portal/v1.3/login", master.url);
    let response = raw()
        .post(&url)
        .form(&[("username", "bob"), ("password", "bob-password"), ("success", "/home")])
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(response.headers()["location"], "/home");
    let cookie = response.headers()["set-cookie"].to_str().expect("ascii");
    assert!(
        cookie.starts_with("APIMANAGERSESSION=") && cookie.contains("HttpOnly") && cookie.contains("Path=/"),
        "{cookie}"
    );

    let refused =
        raw().post(&url).form(&[("username", "bob"), ("password", "nope")]).send().await.expect("send");
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    let body: Value = refused.json().await.expect("json error");
    assert_eq!(body["errors"][0]["code"], 401);

    let anonymous =
        raw().get(format!("{}api/portal/v1.3/currentuser", master.url)).send().await.expect("send");
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn applications_go_into_the_callers_organization_unless_admin() {
    let master = start_master().await;
    let client = client(&master);
    let mut alice = client.login("alice", &secret("alice-password")).await.expect("alice");
    client.current_user(&mut alice).await.expect("token");
    let elsewhere =
        NewApplication { name: "Sneaky".into(), description: None, organization_id: "m-org-globex".into() };
    assert_eq!(
        client
            .create_application(ManagerCredentials::Session(&alice), &elsewhere)
            .await
            .expect_err("other org"),
        ManagerError::Forbidden
    );
    let mut admin = client.login("apiadmin", &secret("apiadmin-password")).await.expect("admin");
    client.current_user(&mut admin).await.expect("token");
    let created =
        client.create_application(ManagerCredentials::Session(&admin), &elsewhere).await.expect("admin may");
    assert_eq!(created.organization_id, "m-org-globex");
}

#[tokio::test]
async fn a_slave_authenticates_at_the_master_and_maps_the_organization_by_name() {
    let master = start_master().await;
    let slave = start_slave("eu", &master.url).await;
    let client = client(&slave);
    let mut session = client.login("alice", &secret("alice-password")).await.expect("slave login");
    let user = client.current_user(&mut session).await.expect("current user");
    assert_eq!(user.organization_id, "eu-org-acme", "the slave's own Acme");
    let creds = ManagerCredentials::Session(&session);
    let names: Vec<String> =
        client.discovery_apis(creds).await.expect("apis").into_iter().map(|a| a.name).collect();
    assert!(names.contains(&"EU VAT".to_owned()) && !names.contains(&"EU Customs".to_owned()), "{names:?}");

    // The master saw the policies' calls and the slave's logout; no master session is left.
    let master_calls: Vec<String> =
        master.requests().iter().map(|r| format!("{} {}", r.method, r.path)).collect();
    assert_eq!(
        master_calls,
        [
            "POST /api/portal/v1.3/login",
            "GET /api/portal/v1.3/currentuser",
            "GET /api/portal/v1.3/organizations/m-org-acme",
            "DELETE /api/portal/v1.3/login"
        ]
    );
    assert!(master.open_sessions().is_empty());
    assert_eq!(slave.open_sessions(), ["alice"]);
    let shadow = slave.data().users.into_iter().find(|u| u.login_name == "alice").expect("shadow user");
    assert!(shadow.password.is_none() && shadow.external);

    // A second login reuses the shadow record.
    client.login("alice", &secret("alice-password")).await.expect("again");
    assert_eq!(slave.data().users.iter().filter(|u| u.login_name == "alice").count(), 1);
}

#[tokio::test]
async fn a_slave_refuses_what_the_master_refuses() {
    let master = start_master().await;
    let slave = start_slave("staging", &master.url).await;
    let client = client(&slave);
    assert_eq!(
        client.login("alice", &secret("wrong")).await.expect_err("401"),
        ManagerError::WrongCredentials
    );
    assert_eq!(
        client.login("nobody", &secret("x")).await.expect_err("unknown"),
        ManagerError::WrongCredentials
    );
    assert_eq!(
        client.login("dave", &secret("dave-password")).await.expect_err("409"),
        ManagerError::PasswordChangeRequired
    );
    assert!(slave.open_sessions().is_empty());
}

#[tokio::test]
async fn a_slave_without_the_users_organization_says_which_one_is_missing() {
    let master = start_master().await;
    let slave = start_slave("eu", &master.url).await;
    assert_eq!(
        client(&slave).login("frank", &secret("frank-password")).await.expect_err("403"),
        ManagerError::OrganizationMissing("Initech".to_owned())
    );
    let response = raw()
        .post(format!("{}api/portal/v1.3/login", slave.url))
        .form(&[("username", "frank"), ("password", "frank-password")])
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["errors"][0]["reason"], "organization_not_found");
    assert_eq!(body["errors"][0]["organization"], "Initech");
    assert!(body["errors"][0]["message"].as_str().unwrap_or_default().contains("\"Initech\""));
    assert!(master.open_sessions().is_empty(), "the slave logged out of the master");
}

#[tokio::test]
async fn a_slave_whose_master_is_down_is_unavailable() {
    let master_url = url::Url::parse(&format!("http://{}", closed_port())).expect("url");
    let slave = start_slave("eu", &master_url).await;
    let error = client(&slave).login("alice", &secret("alice-password")).await.expect_err("master down");
    assert_eq!(error, ManagerError::ServerError(503));
    assert!(error.is_unavailable());
}

#[tokio::test]
async fn concurrent_logins_are_served_concurrently_and_recorded_with_their_time_spans() {
    let master = start_master().await;
    master.faults().delay(Operation::Login, Duration::from_millis(300));
    let client = client(&master);
    let started = Instant::now();
    let users = [
        ("alice", "alice-password"),
        ("bob", "bob-password"),
        ("oadmin", "oadmin-password"),
        ("apiadmin", "apiadmin-password"),
    ];
    let results = join_all(users.iter().map(|(user, password)| {
        let client = client.clone();
        let password = secret(password);
        async move { client.login(user, &password).await }
    }))
    .await;
    assert!(results.iter().all(Result::is_ok));
    assert!(
        started.elapsed() < Duration::from_millis(1000),
        "served one after the other: {:?}",
        started.elapsed()
    );
    let logins = master.requests();
    assert_eq!(logins.len(), 4);
    for (i, a) in logins.iter().enumerate() {
        assert!(a.duration().expect("ended") >= Duration::from_millis(300));
        for b in &logins[i + 1..] {
            assert!(a.overlaps(b), "{a:?} / {b:?}");
        }
    }
    let mut who: Vec<String> = logins.iter().filter_map(|r| r.user.clone()).collect();
    who.sort();
    assert_eq!(who, ["alice", "apiadmin", "bob", "oadmin"]);
    assert_eq!(master.open_sessions(), ["alice", "apiadmin", "bob", "oadmin"]);
}

#[tokio::test]
async fn faults_can_target_one_user() {
    let master = start_master().await;
    master
        .faults()
        .add(FaultRule::new(Operation::Login).for_user("bob").failure(Failure::Status { status: 500 }));
    let client = client(&master);
    client.login("alice", &secret("alice-password")).await.expect("alice is fine");
    assert_eq!(
        client.login("bob", &secret("bob-password")).await.expect_err("bob"),
        ManagerError::ServerError(500)
    );
    master.faults().clear();
    client.login("bob", &secret("bob-password")).await.expect("bob is fine again");
}

#[tokio::test]
async fn the_controls_work_over_http() {
    let master = start_master().await;
    let control = |path: &str| format!("{}__simulator/{path}", master.url);
    let health: Value = raw().get(control("health")).send().await.expect("send").json().await.expect("json");
    assert_eq!(health["mode"], "master");

    let rule = serde_json::json!({ "operation": "login", "failure": { "kind": "status", "status": 502 }, "times": 1 });
    let added = raw().post(control("faults")).json(&rule).send().await.expect("send");
    assert_eq!(added.status(), StatusCode::CREATED);
    let client = client(&master);
    assert_eq!(
        client.login("alice", &secret("alice-password")).await.expect_err("injected"),
        ManagerError::ServerError(502)
    );
    client.login("alice", &secret("alice-password")).await.expect("rule used up");

    let sessions: Vec<String> =
        raw().get(control("sessions")).send().await.expect("send").json().await.expect("json");
    assert_eq!(sessions, ["alice"]);
    let requests: Vec<Value> =
        raw().get(control("requests")).send().await.expect("send").json().await.expect("json");
    assert_eq!(requests.len(), 2, "control calls are not recorded");
    assert_eq!(requests[0]["status"], 502);
    assert_eq!(requests[1]["user"], "alice");
    assert!(requests[1]["end_us"].as_u64() >= requests[1]["start_us"].as_u64());
    let cleared = raw().delete(control("requests")).send().await.expect("send");
    assert_eq!(cleared.status(), StatusCode::NO_CONTENT);
    assert!(master.requests().is_empty());
}

#[test]
fn data_files_round_trip() {
    let dir = tempfile::tempdir().expect("tempdir");
    for data in
        [SimulatorData::demo_master(), SimulatorData::demo_slave("eu"), SimulatorData::demo_slave("staging")]
    {
        let path = dir.path().join("data.json");
        std::fs::write(&path, serde_json::to_string_pretty(&data).expect("json")).expect("write");
        assert_eq!(SimulatorData::from_file(&path).expect("read back"), data);
    }
    let master = SimulatorData::demo_master();
    for slave in [SimulatorData::demo_slave("eu"), SimulatorData::demo_slave("staging")] {
        for name in ["Acme", "Globex"] {
            let (m, s) = (
                master.organization_named(name).expect("master"),
                slave.organization_named(name).expect("slave"),
            );
            assert_ne!(m.id, s.id, "same name, own id");
        }
        assert!(slave.users.is_empty(), "slaves hold no users");
    }
}
