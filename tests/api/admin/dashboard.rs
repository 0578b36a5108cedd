//! The dashboard (every manager with its live health, sessions in all and per environment, cache
//! figures) and purging the caches.

use super::{NOWHERE, builder, csrf, eventually, item, page, signed_in, text_of};
use crate::support::consumers::signed_in_browser;
use crate::support::managers::{start_master, start_slave};
use crate::support::{RedisServer, TestApp, TestDatabase, csrf_in, location};

crate::on_both_databases!(the_dashboard_shows_managers_with_live_health_sessions_and_cache_figures);

struct Fixture {
    app: TestApp,
    _redis: RedisServer,
    _managers: Vec<portico::simulator::Simulator>,
}

/// A master, `prod-eu` up, `staging` down (nothing listens), a private Redis; the consumer
/// `alice` signed in and the master's catalog read twice (a miss, then a hit); `root` signed in.
async fn fixture(test: &str, db: &TestDatabase) -> Option<Fixture> {
    let redis = RedisServer::start(test)?;
    let master = start_master().await;
    let eu = start_slave("eu", &master.url).await;
    let app = builder(db, master.url.as_str())
        .redis(&redis)
        .slave("prod-eu", "Production EU", eu.url.as_str())
        .slave("staging", "Staging", NOWHERE)
        .spawn()
        .await;
    assert_eq!(app.sign_in("alice", "alice-password").await.status(), 303);
    for _ in 0..2 {
        assert_eq!(app.get("/environments/master/apis").await.status(), 200);
    }
    let health = app.state.health().clone();
    eventually("every manager probed", async || {
        ["master", "prod-eu", "staging"].iter().all(|id| health.get(&id.parse().unwrap()).is_some())
    })
    .await;
    signed_in(&app).await;
    Some(Fixture { app, _redis: redis, _managers: vec![master, eu] })
}

async fn the_dashboard_shows_managers_with_live_health_sessions_and_cache_figures(db: TestDatabase) {
    let Some(f) = fixture("the_dashboard_shows_managers", &db).await else { return };
    let app = &f.app;
    let dashboard = page(app, "/admin").await;
    assert!(dashboard.contains("<h1 id=\"managers-title\">Managers</h1>"), "{dashboard}");
    assert!(dashboard.contains("aria-current=\"page\">Dashboard</a>"), "the navigation says where we are");

    let master = item(&dashboard, "manager-master");
    for part in
        ["Main", ">master<", "from config", "badge ok\">up", "Latency", " ms", "Last success", "just now"]
    {
        assert!(master.contains(part), "{part} in {master}");
    }
    assert!(!master.contains("Last error"), "{master}");
    let eu = item(&dashboard, "manager-prod-eu");
    assert!(eu.contains("Production EU") && eu.contains(">slave<") && eu.contains("from config"), "{eu}");
    assert!(eu.contains("badge ok\">up"), "{eu}");
    let staging = item(&dashboard, "manager-staging");
    for part in
        ["Staging", "badge bad\">down", "Last success</dt><dd>never", "Last error", "connection refused"]
    {
        assert!(staging.contains(part), "{part} in {staging}");
    }

    assert_eq!(text_of(&dashboard, "figure-sessions"), "1", "alice");
    assert_eq!(text_of(&dashboard, "figure-admin-sessions"), "1", "root");
    assert_eq!(text_of(&dashboard, "figure-hits"), "1");
    assert_eq!(text_of(&dashboard, "figure-misses"), "1");
    let entries: u64 = text_of(&dashboard, "figure-cache-entries").parse().unwrap();
    assert!(entries >= 2, "the catalog and the user's organization are cached: {entries}");

    // Purging empties every cache in the shared store, says so, and is audited.
    let token = csrf(app).await;
    let res = app.post_form("/admin/cache/purge", &[("csrf_token", &token)]).await;
    assert_eq!((res.status().as_u16(), location(&res)), (303, "/admin".to_owned()));
    assert_eq!(app.state.kv().count_prefix("cache:").await.unwrap(), 0);
    let after = page(app, "/admin").await;
    let flash = format!("Caches purged: {entries} entries removed.");
    assert!(after.contains(&flash), "{flash} in {after}");
    assert_eq!(text_of(&after, "figure-cache-entries"), "0");
    assert!(!page(app, "/admin").await.contains("Caches purged"), "the message is shown once");
    let entry = &app.state.db().audit_page(None, 1).await.unwrap()[0];
    assert_eq!((entry.actor.as_str(), entry.action.as_str()), ("admin:root", "cache.purge"));
    assert_eq!(entry.detail.as_deref(), Some(format!("{{\"removed_entries\":{entries}}}").as_str()));
    // The consumer reads the catalog from the manager again.
    assert_eq!(app.get("/environments/master/apis").await.status(), 200);
    assert_eq!(app.state.catalog().figures().misses, 2);
}

/// How many live sessions the dashboard says are joined to each of the fixture's environments.
async fn sessions_by_environment(app: &TestApp) -> [String; 3] {
    let dashboard = page(app, "/admin").await;
    ["master", "prod-eu", "staging"].map(|id| text_of(&dashboard, &format!("figure-sessions-{id}")))
}

#[tokio::test]
async fn the_dashboard_counts_the_sessions_joined_to_each_environment() {
    let Some(f) = fixture("the_dashboard_counts_sessions_per_environment", &TestDatabase::Sqlite).await
    else {
        return;
    };
    let app = &f.app;
    // alice joined Main and Production EU (Staging is down); frank's organization exists on the
    // master only, so he joined Main alone.
    let frank = signed_in_browser(app, "frank", "curl/frank").await;
    assert_eq!(sessions_by_environment(app).await, ["2", "1", "0"]);
    let dashboard = page(app, "/admin").await;
    assert_eq!(text_of(&dashboard, "figure-sessions"), "2", "two sessions in all");
    for name in ["Main", "Production EU", "Staging"] {
        assert!(
            dashboard.contains(&format!("<dt>{name}</dt><dd id=\"figure-sessions-")),
            "{name}: {dashboard}"
        );
    }

    // Production EU ends alice's manager session: her portal session has left it.
    assert_eq!(f._managers[1].end_sessions("alice"), 1);
    let routed = app.get("/environments/prod-eu/manager/discovery/apis").await;
    assert_eq!(routed.status(), 401, "the manager's answer, passed on");
    assert_eq!(sessions_by_environment(app).await, ["2", "0", "0"]);

    // frank signs out.
    let form = frank.get(app.url("/environments")).send().await.unwrap().text().await.unwrap();
    let token = csrf_in(&form).unwrap();
    let res = frank.post(app.url("/logout")).form(&[("csrf_token", token)]).send().await.unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(sessions_by_environment(app).await, ["1", "0", "0"]);
}
