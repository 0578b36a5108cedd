//! Replicas sharing Redis and PostgreSQL stay in step: what is saved on one (slaves, settings)
//! is in force on the other within a second, survives a restart, and a notification missed
//! while Redis was down is made up when it comes back.

use std::time::{Duration, Instant};

use portico::domain::{EnvironmentId, LoginFailurePolicy, ManagerDefinition, TlsMode};
use portico::simulator::Simulator;
use portico::store::{Change, Saved, SettingsOverrides, SlaveRow};

use crate::support::managers::{start_master, start_slave};
use crate::support::{RedisServer, TestApp, TestAppBuilder, TestPostgres};

struct Replicas {
    a: TestApp,
    b: TestApp,
    redis: RedisServer,
    pg: TestPostgres,
    master: Simulator,
    extra: Simulator,
}

fn builder(master: &Simulator, redis: &RedisServer, pg: &TestPostgres) -> TestAppBuilder {
    TestAppBuilder::new(master.url.as_str()).redis(redis).database(&pg.url).timeouts("1s", "1s")
}

async fn replicas(test: &str) -> Option<Replicas> {
    let pg = TestPostgres::create(test).await?;
    let redis = RedisServer::start(test)?;
    let master = start_master().await;
    let extra = start_slave("eu", &master.url).await;
    let first = builder(&master, &redis, &pg);
    let second = builder(&master, &redis, &pg).same_prefix_as(&first);
    let a = first.spawn().await;
    let b = second.spawn().await;
    Some(Replicas { a, b, redis, pg, master, extra })
}

fn slave_row(id: &str, name: &str, url: &url::Url) -> SlaveRow {
    SlaveRow {
        auth: None,
        manager: ManagerDefinition {
            id: EnvironmentId::parse(id).unwrap(),
            name: name.to_owned(),
            url: url.clone(),
            base_path: "/api/portal/v1.3".to_owned(),
            tls_mode: TlsMode::Full,
            ca_pem: None,
            timeout: Some(Duration::from_secs(1)),
            enabled: true,
            required: false,
            gateway: None,
        },
        version: 0,
        updated_at: 0,
        updated_by: String::new(),
    }
}

/// Polls the picker until `check` holds, for at most a second (the promise made to admins).
async fn picker_within_a_second(app: &TestApp, check: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(1);
    loop {
        let page = app.get("/environments").await.text().await.unwrap();
        if check(&page) || Instant::now() > deadline {
            return page;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

#[tokio::test]
async fn a_slave_saved_on_one_replica_is_in_the_others_picker_within_a_second() {
    let Some(r) = replicas("replicas_slave").await else { return };
    assert_eq!(r.b.sign_in("alice", "alice-password").await.status(), 303);
    assert!(!r.b.get("/environments").await.text().await.unwrap().contains("Extra EU"));

    let saved =
        r.a.state.db().insert_slave(&slave_row("extra-eu", "Extra EU", &r.extra.url), "root").await.unwrap();
    r.a.state.changed(Change::Slaves).await.unwrap();
    let page = picker_within_a_second(&r.b, |p| p.contains("Extra EU")).await;
    assert!(page.contains("Extra EU"), "replica b never showed the new slave:\n{page}");

    // Disabled on the first replica: gone from the other's picker, and from its routes.
    let disabled =
        SlaveRow { manager: ManagerDefinition { enabled: false, ..saved.manager.clone() }, ..saved };
    assert_eq!(r.a.state.db().update_slave(&disabled, "root").await.unwrap(), Saved::Saved(2));
    r.a.state.changed(Change::Slaves).await.unwrap();
    let page = picker_within_a_second(&r.b, |p| !p.contains("Extra EU")).await;
    assert!(!page.contains("Extra EU"), "replica b still shows the disabled slave:\n{page}");
    assert_eq!(r.b.get("/environments/extra-eu/apis").await.status(), 404);
}

#[tokio::test]
async fn settings_saved_on_one_replica_rule_the_others_next_sign_in() {
    let Some(r) = replicas("replicas_settings").await else { return };
    // A slave that is down: the default policy (master) lets alice in, `all` must not.
    let down = crate::support::managers::closed_port();
    let down_url = url::Url::parse(&format!("http://{down}")).unwrap();
    r.a.state.db().insert_slave(&slave_row("broken", "Broken", &down_url), "root").await.unwrap();
    let overrides = SettingsOverrides {
        label: Some("Stage".to_owned()),
        login_failure_policy: Some(LoginFailurePolicy::All),
        ..Default::default()
    };
    r.a.state.db().save_overrides(&overrides, "root").await.unwrap();
    r.a.state.changed(Change::Slaves).await.unwrap();
    r.a.state.changed(Change::Settings).await.unwrap();

    let deadline = Instant::now() + Duration::from_secs(1);
    while r.b.state.runtime().policy != LoginFailurePolicy::All && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let refused = r.b.sign_in("alice", "alice-password").await;
    assert_eq!(refused.status(), 503, "the `all` policy must refuse while Broken is down");
    assert!(refused.text().await.unwrap().contains("Broken"));

    // Back to the file's policy: the same sign-in on the same replica now succeeds, and the
    // picker carries the label saved on the other replica.
    let label_only = SettingsOverrides { label: Some("Stage".to_owned()), ..Default::default() };
    r.a.state.db().save_overrides(&label_only, "root").await.unwrap();
    r.a.state.changed(Change::Settings).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(1);
    while r.b.state.runtime().policy != LoginFailurePolicy::Master && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(r.b.sign_in("alice", "alice-password").await.status(), 303);
    let picker = r.b.get("/environments").await.text().await.unwrap();
    assert!(picker.contains(">Stage</h1>"), "label not shown:\n{picker}");
    assert!(r.b.state.runtime().is_overridden("federation.label"));
    assert!(!r.b.state.runtime().is_overridden("federation.login_failure_policy"));
}

#[tokio::test]
async fn a_restarted_replica_keeps_what_admins_saved() {
    let Some(r) = replicas("replicas_restart").await else { return };
    r.a.state.db().insert_slave(&slave_row("extra-eu", "Extra EU", &r.extra.url), "root").await.unwrap();
    let overrides = SettingsOverrides { catalog_ttl: Some(Duration::from_secs(42)), ..Default::default() };
    r.a.state.db().save_overrides(&overrides, "root").await.unwrap();
    r.a.stop().await;

    let restarted = builder(&r.master, &r.redis, &r.pg).spawn().await;
    assert!(restarted.state.environments().get(&EnvironmentId::parse("extra-eu").unwrap()).is_some());
    assert_eq!(restarted.state.runtime().catalog_ttl, Duration::from_secs(42));
    assert_eq!(restarted.state.catalog().ttl(), Duration::from_secs(42));
    assert_eq!(restarted.sign_in("alice", "alice-password").await.status(), 303);
    let picker = restarted.get("/environments").await.text().await.unwrap();
    assert!(picker.contains("Extra EU"));
    drop(r.b);
}

#[tokio::test]
async fn a_change_missed_while_redis_was_down_is_made_up_when_it_returns() {
    let Some(mut r) = replicas("replicas_resync").await else { return };
    r.redis.stop();
    r.a.state.db().insert_slave(&slave_row("extra-eu", "Extra EU", &r.extra.url), "root").await.unwrap();
    // Saved and applied here; the notification cannot be delivered.
    r.a.state.changed(Change::Slaves).await.unwrap();
    let id = EnvironmentId::parse("extra-eu").unwrap();
    assert!(r.a.state.environments().get(&id).is_some());
    assert!(r.b.state.environments().get(&id).is_none());

    r.redis.restart();
    // The other replica resubscribes (backing off at most 5 s) and reloads on resubscription.
    let deadline = Instant::now() + Duration::from_secs(15);
    while r.b.state.environments().get(&id).is_none() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(r.b.state.environments().get(&id).is_some(), "replica b never caught up");
}

#[tokio::test]
async fn a_stored_slave_with_a_configured_id_is_shadowed_by_the_config_file() {
    let Some(r) = replicas("replicas_shadow").await else { return };
    let master_id = EnvironmentId::master();
    let row = slave_row(master_id.as_str(), "Impostor", &r.extra.url);
    r.a.state.db().insert_slave(&row, "root").await.unwrap();
    r.a.state.changed(Change::Slaves).await.unwrap();
    let set = r.a.state.environments().snapshot();
    assert_eq!(set.all().filter(|e| e.id() == &master_id).count(), 1);
    assert!(set.get(&master_id).unwrap().is_master);
}
