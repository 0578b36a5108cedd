//! One test body on every Redis topology Portico supports: `on_every_topology!` makes a module
//! per body with a `single`, a `sentinel` and a `cluster` test, each with Redis processes of its
//! own, and [`Topology`] gives the body what is common to the three.

use std::collections::BTreeMap;
use std::future::Future;
use std::time::{Duration, Instant};

use super::{RedisCluster, RedisSentinel, RedisServer};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TopologyKind {
    Single,
    Sentinel,
    Cluster,
}

impl TopologyKind {
    pub const ALL: [Self; 3] = [Self::Single, Self::Sentinel, Self::Cluster];

    pub fn name(self) -> &'static str {
        match self {
            Self::Single => "single",
            Self::Sentinel => "sentinel",
            Self::Cluster => "cluster",
        }
    }
}

/// Where the app finds Redis: the `[redis]` section but for its key prefix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RedisConfig {
    Url(String),
    Sentinel { master_name: String, nodes: Vec<String> },
    Cluster { nodes: Vec<String> },
}

impl RedisConfig {
    /// The `[redis]` section, with a blank line after it.
    pub fn toml(&self, key_prefix: &str) -> String {
        let list = |nodes: &[String]| nodes.iter().map(|n| format!("\"{n}\"")).collect::<Vec<_>>().join(", ");
        match self {
            Self::Url(url) => format!("[redis]\nurl = \"{url}\"\nkey_prefix = \"{key_prefix}\"\n\n"),
            Self::Sentinel { master_name, nodes } => format!(
                "[redis]\nkey_prefix = \"{key_prefix}\"\nsentinel = {{ master_name = \"{master_name}\", nodes = [{}] }}\n\n",
                list(nodes)
            ),
            Self::Cluster { nodes } => {
                format!(
                    "[redis]\nkey_prefix = \"{key_prefix}\"\ncluster = {{ nodes = [{}] }}\n\n",
                    list(nodes)
                )
            }
        }
    }
}

/// The running processes of one topology; dropping it kills them all.
pub enum Topology {
    Single(RedisServer),
    Sentinel(RedisSentinel),
    Cluster(RedisCluster),
}

impl Topology {
    /// Starts the topology and waits until it serves (see each fixture's `start`); `None` (after
    /// saying why) when the Redis programs are not installed.
    pub fn start(kind: TopologyKind, test: &str) -> Option<Self> {
        Some(match kind {
            TopologyKind::Single => Self::Single(RedisServer::start(test)?),
            TopologyKind::Sentinel => Self::Sentinel(RedisSentinel::start(test)?),
            TopologyKind::Cluster => Self::Cluster(RedisCluster::start(test)?),
        })
    }

    pub fn kind(&self) -> TopologyKind {
        match self {
            Self::Single(_) => TopologyKind::Single,
            Self::Sentinel(_) => TopologyKind::Sentinel,
            Self::Cluster(_) => TopologyKind::Cluster,
        }
    }

    pub fn name(&self) -> &'static str {
        self.kind().name()
    }

    pub fn config(&self) -> RedisConfig {
        match self {
            Self::Single(server) => RedisConfig::Url(server.url()),
            Self::Sentinel(group) => RedisConfig::Sentinel {
                master_name: group.master_name().to_owned(),
                nodes: group.sentinel_urls(),
            },
            Self::Cluster(cluster) => RedisConfig::Cluster { nodes: cluster.node_urls() },
        }
    }

    /// The app's `[redis]` section for this topology.
    pub fn redis_toml(&self, key_prefix: &str) -> String {
        self.config().toml(key_prefix)
    }

    /// A synchronous connection that reaches every key: the server, the current master, or a
    /// cluster connection. Use it as `redis::cmd("GET").arg(k).query(client.as_mut())`.
    pub fn client(&self) -> Box<dyn redis::ConnectionLike + Send> {
        match self {
            Self::Single(server) => Box::new(server.client()),
            Self::Sentinel(group) => Box::new(group.client()),
            Self::Cluster(cluster) => Box::new(cluster.client()),
        }
    }

    /// Every key and its raw value (on a cluster: over all masters, sorted by key).
    pub fn dump(&self) -> Vec<(String, Vec<u8>)> {
        match self {
            Self::Single(server) => server.dump(),
            Self::Sentinel(group) => group.dump(),
            Self::Cluster(cluster) => cluster.dump(),
        }
    }

    /// Calls per command name, summed over the live data nodes.
    pub fn commands(&self) -> BTreeMap<String, u64> {
        match self {
            Self::Single(server) => server.commands(),
            Self::Sentinel(group) => group.commands(),
            Self::Cluster(cluster) => cluster.commands(),
        }
    }

    /// SIGKILLs the master that holds `key` (on Sentinel: the master); `None` on a single server,
    /// which has no failover.
    pub fn kill_master_for(&mut self, key: &str) -> Option<Instant> {
        match self {
            Self::Single(_) => None,
            Self::Sentinel(group) => Some(group.kill_master()),
            Self::Cluster(cluster) => {
                cluster.kill_master_for_key(key);
                Some(Instant::now())
            }
        }
    }

    /// After [`Topology::kill_master_for`]: waits until a replica serves in the killed master's
    /// place (a no-op on a single server).
    pub fn wait_for_failover(&self, timeout: Duration) {
        match self {
            Self::Single(_) => {}
            Self::Sentinel(group) => {
                group.wait_for_promotion(timeout);
            }
            Self::Cluster(cluster) => cluster.wait_until_ok(timeout),
        }
    }
}

/// Starts the topology and runs the body on it; what the tests of `on_every_topology!` call.
pub async fn run_on_topology<F, Fut>(kind: TopologyKind, test: &str, body: F)
where
    F: FnOnce(Topology) -> Fut,
    Fut: Future<Output = ()>,
{
    let Some(topology) = Topology::start(kind, test) else { return };
    body(topology).await;
}

/// Runs a test body on a single server, on Sentinel and on Cluster, as tests `<name>::single`,
/// `<name>::sentinel` and `<name>::cluster` (multi-threaded runtime, so the fixtures' blocking
/// waits leave the app's tasks running). Either named bodies, `async fn body(topology: Topology)`:
/// `on_every_topology!(body_a, body_b);` or a closure: `on_every_topology!(name, |topology| async
/// move { … });` (its module sees the file's items through `use super::*`).
#[macro_export]
macro_rules! on_every_topology {
    (@module $name:ident, $body:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn single() {
                let kind = $crate::support::redis::TopologyKind::Single;
                let test = concat!(module_path!(), "::single");
                $crate::support::redis::run_on_topology(kind, test, $body).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sentinel() {
                let kind = $crate::support::redis::TopologyKind::Sentinel;
                let test = concat!(module_path!(), "::sentinel");
                $crate::support::redis::run_on_topology(kind, test, $body).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn cluster() {
                let kind = $crate::support::redis::TopologyKind::Cluster;
                let test = concat!(module_path!(), "::cluster");
                $crate::support::redis::run_on_topology(kind, test, $body).await;
            }
        }
    };
    ($($body:ident),+ $(,)?) => {
        $( $crate::on_every_topology!(@module $body, super::$body); )+
    };
    ($name:ident, $body:expr $(,)?) => {
        $crate::on_every_topology!(@module $name, $body);
    };
}
