//! The Redis topologies the tests run on (single server, Sentinel, Cluster) start, replicate and
//! fail over as the store's tests expect them to. Only the harness is exercised here, through the
//! `redis` crate's own clients; Portico is not started.

use std::time::{Duration, Instant};

use crate::support::redis::RedisConfig;
use crate::support::{RedisCluster, RedisSentinel, Topology, TopologyKind};

#[test]
fn a_sentinel_group_replicates_and_promotes_its_replica_when_the_master_is_killed() {
    let test = "topologies::sentinel_failover";
    let starting = Instant::now();
    let Some(mut group) = RedisSentinel::start(test) else { return };
    eprintln!("sentinel: group ready in {:.2} s", starting.elapsed().as_secs_f64());
    assert_eq!(group.master_name(), "portico");
    assert_eq!(group.sentinel_urls().len(), 3);
    let (master, replica) = (group.master_port(), group.replica_port().expect("a replica"));

    let mut c = group.client();
    redis::cmd("SET").arg("before-the-kill").arg("kept").exec(&mut c).unwrap();
    let acked: u32 = redis::cmd("WAIT").arg(1).arg(1000).query(&mut c).unwrap();
    assert_eq!(acked, 1, "the replica acknowledged the write");
    let mut on_replica =
        redis::Client::open(format!("redis://127.0.0.1:{replica}")).unwrap().get_connection().unwrap();
    let on_replica: Option<String> = redis::cmd("GET").arg("before-the-kill").query(&mut on_replica).unwrap();
    assert_eq!(on_replica.as_deref(), Some("kept"), "a write on the master is read on the replica");

    let killed_at = group.kill_master();
    let promoted = group.wait_for_promotion(Duration::from_secs(15));
    let took = killed_at.elapsed();
    eprintln!(
        "sentinel: replica {promoted} promoted {:.2} s after master {master} was killed",
        took.as_secs_f64()
    );
    assert_eq!(promoted, replica, "the only replica is promoted");
    assert!(took < Duration::from_secs(10), "promotion took {took:?}");
    assert_eq!(group.master_port(), promoted);

    let mut c = group.client();
    redis::cmd("SET")
        .arg("after-the-kill")
        .arg("written")
        .exec(&mut c)
        .expect("the new master accepts writes");
    let dump = group.dump();
    assert!(dump.contains(&("before-the-kill".to_owned(), b"kept".to_vec())), "{dump:?}");
    assert!(dump.contains(&("after-the-kill".to_owned(), b"written".to_vec())), "{dump:?}");
}

#[test]
fn a_cluster_shards_keys_and_fails_over_the_master_of_a_killed_key() {
    let test = "topologies::cluster_failover";
    let starting = Instant::now();
    let Some(mut cluster) = RedisCluster::start(test) else { return };
    eprintln!("cluster: ready in {:.2} s", starting.elapsed().as_secs_f64());
    assert_eq!(cluster.node_urls().len(), 6);
    assert_eq!(cluster.masters().len(), 3);

    let mut c = cluster.client();
    for i in 0..30 {
        redis::cmd("SET").arg(format!("spread-{i}")).arg(i).exec(&mut c).unwrap();
    }
    redis::cmd("SET").arg("survivor").arg("kept").exec(&mut c).unwrap();
    // WAIT goes to every master; each answers once its replica has the writes.
    let acked: u32 = redis::cmd("WAIT").arg(1).arg(1000).query(&mut c).unwrap();
    assert_eq!(acked, 1, "every master's replica acknowledged the writes");
    let dump = cluster.dump();
    assert_eq!(dump.len(), 31, "every key is found on exactly one master: {dump:?}");
    assert!(dump.contains(&("survivor".to_owned(), b"kept".to_vec())));
    assert!(cluster.commands().get("set").is_some_and(|&n| n >= 31));

    let killed_at = Instant::now();
    let killed = cluster.kill_master_for_key("survivor");
    cluster.wait_until_ok(Duration::from_secs(15));
    let took = killed_at.elapsed();
    eprintln!("cluster: ok again {:.2} s after master {killed} was killed", took.as_secs_f64());
    assert!(took < Duration::from_secs(10), "failover took {took:?}");
    assert!(!cluster.masters().contains(&killed));
    assert_eq!(cluster.masters().len(), 3, "the killed master's replica serves its slots");

    let mut c = cluster.client();
    let survivor: Option<String> = redis::cmd("GET").arg("survivor").query(&mut c).unwrap();
    assert_eq!(survivor.as_deref(), Some("kept"), "a key written before the kill survives it");
    assert_eq!(cluster.dump().len(), 31, "no key was lost in the failover");
    redis::cmd("SET")
        .arg("survivor")
        .arg("rewritten")
        .exec(&mut c)
        .expect("the promoted replica accepts writes");
}

#[test]
fn the_url_form_of_the_redis_section_is_unchanged() {
    let toml = RedisConfig::Url("redis://127.0.0.1:6379".to_owned()).toml("p:");
    assert_eq!(toml, "[redis]\nurl = \"redis://127.0.0.1:6379\"\nkey_prefix = \"p:\"\n\n");
}

crate::on_every_topology!(
    every_topology_serves_keys_and_renders_its_redis_section,
    |topology: Topology| async move {
        let mut c = topology.client();
        redis::cmd("SET").arg("smoke").arg(topology.name()).exec(c.as_mut()).unwrap();
        let read: String = redis::cmd("GET").arg("smoke").query(c.as_mut()).unwrap();
        assert_eq!(read, topology.name());
        assert_eq!(topology.dump(), vec![("smoke".to_owned(), topology.name().as_bytes().to_vec())]);
        assert!(topology.commands().get("set").is_some_and(|&n| n >= 1), "{:?}", topology.commands());

        let section: toml::Table = toml::from_str(&topology.redis_toml("smoke:")).unwrap();
        let redis = section["redis"].as_table().unwrap();
        assert_eq!(redis["key_prefix"].as_str(), Some("smoke:"));
        let nodes = |table: &toml::Value| table["nodes"].as_array().unwrap().len();
        match topology.kind() {
            TopologyKind::Single => assert!(redis["url"].as_str().unwrap().starts_with("redis://127.0.0.1:")),
            TopologyKind::Sentinel => {
                assert_eq!(redis["sentinel"]["master_name"].as_str(), Some("portico"));
                assert_eq!(nodes(&redis["sentinel"]), 3);
            }
            TopologyKind::Cluster => assert_eq!(nodes(&redis["cluster"]), 6),
        }
        assert_eq!(redis.len(), 2, "exactly one of url, sentinel, cluster: {redis:?}");
    }
);
