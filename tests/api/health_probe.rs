//! The managers' health probe as the managers see it: `GET /appinfo`, the one read the swagger
//! leaves open, or `GET /currentuser` with the service credential; never a secured operation
//! without credentials. And what the probe makes of each answer.

use std::time::Duration;

use portico::domain::EnvironmentId;
use portico::manager::{ManagerClient, ManagerError};
use portico::simulator::{Failure, FaultRule, Operation, RecordedRequest, Simulator};

use crate::support::TestAppBuilder;
use crate::support::managers::{client, start_master, start_slave};

const APPINFO: &str = "/api/portal/v1.3/appinfo";

fn unauthenticated(r: &RecordedRequest) -> bool {
    !r.headers.contains_key("cookie") && !r.headers.contains_key("authorization")
}

/// Requests to operations the swagger secures, sent without credentials (only `POST /login` and
/// a few reads Portico never makes are open).
fn secured_without_credentials(sim: &Simulator) -> Vec<RecordedRequest> {
    let open = |r: &RecordedRequest| r.path == APPINFO || (r.method == "POST" && r.path.ends_with("/login"));
    sim.requests().into_iter().filter(|r| unauthenticated(r) && !open(r)).collect()
}

#[tokio::test]
async fn the_health_probe_reads_appinfo_or_uses_the_service_credential() {
    let master = start_master().await;
    let eu = start_slave("eu", &master.url).await;
    let master_url = master.url.as_str().trim_end_matches('/');
    let app = TestAppBuilder::new(master.url.as_str())
        .slave("prod-eu", "Production EU", eu.url.as_str())
        .toml(&format!(
            "[[slaves]]\nid = \"svc\"\nname = \"Service credential\"\nurl = \"{master_url}\"\n\
             auth = {{ basic = {{ username = \"alice\", password = \"alice-password\" }} }}\n"
        ))
        .spawn()
        .await;
    app.state.health().probe_all(app.state.environments(), app.state.clock()).await;

    for id in ["master", "prod-eu", "svc"] {
        let health = app.state.health().get(&EnvironmentId::parse(id).unwrap()).expect("probed");
        assert!(health.up && health.latency.is_some() && health.last_error.is_none(), "{id}: {health:?}");
    }
    for sim in [&master, &eu] {
        let seen = sim.requests();
        let probes: Vec<&RecordedRequest> = seen.iter().filter(|r| r.path == APPINFO).collect();
        assert!(!probes.is_empty(), "the probe reads /appinfo: {seen:#?}");
        assert!(
            probes.iter().all(|r| r.method == "GET" && unauthenticated(r) && r.status == Some(200)),
            "{probes:#?}"
        );
        let refused = secured_without_credentials(sim);
        assert!(refused.is_empty(), "secured operations asked without credentials: {refused:#?}");
    }
    // The slave with a service credential is probed with it (it is the master's address).
    let with_credential: Vec<RecordedRequest> =
        master.requests().into_iter().filter(|r| r.path.ends_with("/currentuser")).collect();
    assert!(!with_credential.is_empty(), "the service credential is used");
    assert!(
        with_credential.iter().all(|r| r.headers.get("authorization").map(String::as_str) == Some("Basic")
            && r.user.as_deref() == Some("alice")
            && r.status == Some(200)),
        "{with_credential:#?}"
    );
    app.stop().await;
}

/// The probe, with the manager answering `/appinfo` with `failure` this once.
async fn probe_answered(
    master: &Simulator,
    client: &ManagerClient,
    failure: Failure,
) -> Result<Duration, ManagerError> {
    master.faults().add(FaultRule::new(Operation::AppInfo).failure(failure).times(1));
    client.probe(None).await
}

#[tokio::test]
async fn the_probe_tells_a_manager_from_a_page_that_is_not_one() {
    let master = start_master().await;
    let client = client(&master);
    assert!(client.probe(None).await.is_ok());
    // A manager that describes itself to signed-in callers only still answers under the path.
    assert!(probe_answered(&master, &client, Failure::Status { status: 401 }).await.is_ok());
    // A 200 that is not the manager's description (a catch-all page) is not a manager.
    let error = probe_answered(&master, &client, Failure::GarbageJson).await.expect_err("not a description");
    assert!(matches!(error, ManagerError::Malformed(_)) && error.is_unavailable(), "{error:?}");
    let not_found = probe_answered(&master, &client, Failure::Status { status: 404 }).await;
    assert_eq!(not_found, Err(ManagerError::NotFound));
    let down = probe_answered(&master, &client, Failure::Status { status: 503 }).await;
    assert_eq!(down, Err(ManagerError::ServerError(503)));
    assert!(master.requests().iter().all(|r| r.path == APPINFO && unauthenticated(r)));
}
