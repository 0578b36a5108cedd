//! `[redis]`: one node, a Sentinel group or a Cluster, and the credentials of its nodes.

use std::path::PathBuf;

use serde::Deserialize;
use url::Url;

use super::SecretRef;

/// `[redis]`: exactly one of `url` (one node), `sentinel` or `cluster`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisSettings {
    /// One node: `redis://[:password@]host:port[/db]` or `rediss://…`. May be a secret reference.
    pub url: Option<SecretRef>,
    /// A master found through Redis Sentinel, followed when Sentinel promotes a replica.
    pub sentinel: Option<SentinelSettings>,
    /// A Redis Cluster, found from any of its nodes; slots are followed as they move.
    pub cluster: Option<ClusterSettings>,
    /// The ACL user of the data nodes (all three forms). A secret reference.
    pub username: Option<SecretRef>,
    /// The password of the data nodes (all three forms). A secret reference.
    pub password: Option<SecretRef>,
    /// PEM certificates of the CA that signed the Redis nodes' (and sentinels') TLS certificates,
    /// for `rediss://` with a private CA. Absent: the public web roots.
    pub ca_file: Option<PathBuf>,
    /// Multiplexed connections to one node or the Sentinel master (a Cluster connection
    /// multiplexes to every node by itself).
    #[serde(default = "default_pool_size")]
    pub pool_size: usize,
    #[serde(default = "default_key_prefix")]
    pub key_prefix: String,
}

/// `[redis] sentinel = { … }`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SentinelSettings {
    /// The name the sentinels monitor the master under.
    pub master_name: String,
    /// The sentinels: `redis://host:26379` (`rediss://` for TLS to them), no password in them.
    pub nodes: Vec<Url>,
    /// The sentinels' own ACL user and password (secret references), when they need one.
    pub username: Option<SecretRef>,
    pub password: Option<SecretRef>,
    /// The database on the master. Default 0.
    #[serde(default)]
    pub db: i64,
    /// Connect to the master and replicas over TLS. Default false.
    #[serde(default)]
    pub tls: bool,
}

/// `[redis] cluster = { … }`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterSettings {
    /// Some of the cluster's nodes (`redis://host:7000`, `rediss://` for TLS), no password in
    /// them; the rest are discovered.
    pub nodes: Vec<Url>,
}

fn default_pool_size() -> usize {
    16
}

fn default_key_prefix() -> String {
    "portico:".to_owned()
}
