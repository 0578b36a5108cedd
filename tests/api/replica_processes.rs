//! Two `portico serve` processes sharing a Redis and a PostgreSQL database, as two replicas
//! behind a load balancer: what an admin saves through the admin UI of one is in force on the
//! other — a new slave in a consumer's picker within a second, a disabled one gone, a new label
//! and login-failure policy at the next sign-in — on one Redis node, and on a Redis Cluster,
//! where a sign-out on one is also refused on the other at once.

use std::time::Duration;

use crate::support::managers::{closed_port, start_master, start_slave};
use crate::support::processes::{Browser, two_processes};
use crate::support::{RedisServer, TestPostgres, Topology, TopologyKind};

const SETTINGS: [(&str, &str); 9] = [
    ("label", "Environment"),
    ("login_failure_policy", "master"),
    ("login_protection_enabled", "on"),
    ("max_failures", "5"),
    ("window", "15m"),
    ("lock_duration", "15m"),
    ("max_failures_per_ip", "20"),
    ("catalog_ttl", "5m"),
    ("organization_ttl", "15m"),
];

fn settings_with<'a>(changes: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    SETTINGS.iter().map(|(k, v)| (*k, changes.iter().find(|(c, _)| c == k).map_or(*v, |(_, n)| *n))).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_on_a_cluster_share_sign_outs_and_admin_changes() {
    let Some(pg) = TestPostgres::create("two_processes_cluster").await else { return };
    let Some(cluster) = Topology::start(TopologyKind::Cluster, "two_processes_cluster") else { return };
    let master = start_master().await;
    let extra = start_slave("eu", &master.url).await;
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = two_processes(&dir, &cluster.redis_toml("replicas:"), &pg, &master).await;

    // Signed in on B; the same browser's cookie signed out on A: refused on B at once.
    let consumer = Browser::on(&b);
    let (status, _) =
        consumer.submit("/login", "/login", &[("username", "alice"), ("password", "alice-password")]).await;
    assert_eq!(status, 303);
    assert_eq!(consumer.get("/environments").await.0, 200);
    let on_a = consumer.at(&a);
    assert_eq!(on_a.submit("/environments", "/logout", &[]).await.0, 303, "signed out on A");
    assert_eq!(consumer.get("/environments").await.0, 303, "and refused on B at once");

    // An admin change on A is in B's picker within a second.
    let admin = Browser::on(&a);
    admin.admin_sign_in().await;
    let (status, _) =
        consumer.submit("/login", "/login", &[("username", "alice"), ("password", "alice-password")]).await;
    assert_eq!(status, 303);
    let fields = [
        ("id", "extra-eu"),
        ("name", "Extra EU"),
        ("url", extra.url.as_str()),
        ("base_path", ""),
        ("tls_mode", "full"),
        ("enabled", "on"),
    ];
    assert_eq!(admin.submit("/admin/slaves/new", "/admin/slaves", &fields).await.0, 303);
    let page = consumer.picker_within_a_second(|p| p.contains("Extra EU")).await;
    assert!(page.contains("Extra EU"), "B never showed the slave added on A:\n{page}");
}

#[tokio::test]
async fn two_processes_share_what_admins_save() {
    let Some(pg) = TestPostgres::create("two_processes_share").await else { return };
    let Some(redis) = RedisServer::start("two_processes_share") else { return };
    let master = start_master().await;
    let extra = start_slave("eu", &master.url).await;
    let dir = tempfile::tempdir().unwrap();
    let redis = format!("[redis]\nurl = \"{}\"\nkey_prefix = \"replicas:\"\n\n", redis.url());
    let (a, b) = two_processes(&dir, &redis, &pg, &master).await;

    let admin = Browser::on(&a);
    admin.admin_sign_in().await;
    let consumer = Browser::on(&b);
    let (status, _) =
        consumer.submit("/login", "/login", &[("username", "alice"), ("password", "alice-password")]).await;
    assert_eq!(status, 303);
    assert!(!consumer.get("/environments").await.1.contains("Extra EU"));

    // Added on A: in B's picker within a second.
    let slave = [
        ("id", "extra-eu"),
        ("name", "Extra EU"),
        ("url", extra.url.as_str()),
        ("base_path", ""),
        ("tls_mode", "full"),
    ];
    let mut fields = slave.to_vec();
    fields.push(("enabled", "on"));
    assert_eq!(admin.submit("/admin/slaves/new", "/admin/slaves", &fields).await.0, 303);
    let page = consumer.picker_within_a_second(|p| p.contains("Extra EU")).await;
    assert!(page.contains("Extra EU"), "B never showed the slave added on A:\n{page}");

    // Disabled on A (the checkbox left off): gone from B's picker within a second.
    let mut fields = slave.to_vec();
    fields.push(("version", "1"));
    assert_eq!(admin.submit("/admin/slaves/extra-eu/edit", "/admin/slaves/extra-eu", &fields).await.0, 303);
    let page = consumer.picker_within_a_second(|p| !p.contains("Extra EU")).await;
    assert!(!page.contains("Extra EU"), "B still shows the slave disabled on A:\n{page}");

    // A new label: B's picker says it.
    let form = settings_with(&[("label", "Stage")]);
    assert_eq!(admin.submit("/admin/settings", "/admin/settings", &form).await.0, 303);
    let page = consumer.picker_within_a_second(|p| p.contains(">Stage</h1>")).await;
    assert!(page.contains(">Stage</h1>"), "{page}");

    // Policy `all` with a slave that is down: B refuses the next sign-in.
    let down = format!("http://{}", closed_port());
    let broken = [
        ("id", "broken"),
        ("name", "Broken"),
        ("url", down.as_str()),
        ("base_path", ""),
        ("tls_mode", "full"),
        ("enabled", "on"),
    ];
    assert_eq!(admin.submit("/admin/slaves/new", "/admin/slaves", &broken).await.0, 303);
    let form = settings_with(&[("label", "Stage"), ("login_failure_policy", "all")]);
    assert_eq!(admin.submit("/admin/settings", "/admin/settings", &form).await.0, 303);
    // The promise to admins: in force everywhere within a second.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(consumer.submit("/environments", "/logout", &[]).await.0, 303);
    let (status, page) =
        consumer.submit("/login", "/login", &[("username", "alice"), ("password", "alice-password")]).await;
    assert_eq!(status, 503, "the policy saved on A rules B's sign-in:\n{page}");
    assert!(page.contains("Broken"), "{page}");
}
