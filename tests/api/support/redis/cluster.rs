//! Six nodes in Redis Cluster mode (three masters, each with a replica), created with
//! `redis-cli --cluster create`; the master of a key can be killed to watch its replica take over.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::{Node, answers_as_master, blocking, field, installed, query, url, wait_for};

const SLOTS: u32 = 16384;

pub struct RedisCluster {
    nodes: Vec<Node>,
}

impl RedisCluster {
    /// Starts and creates the cluster; returns once every node reports `cluster_state:ok` and
    /// every master has a replica in sync. `None` (after saying why) without `redis-server` or
    /// `redis-cli`.
    pub fn start(test: &str) -> Option<Self> {
        if !installed(test, "redis-server") || !installed(test, "redis-cli") {
            return None;
        }
        Some(blocking(Self::launch))
    }

    fn launch() -> Self {
        let ports = crate::support::free_ports(12);
        let mut cluster = Self { nodes: Vec::new() };
        // An explicit bus port: the default (port + 10000) may be taken, or past 65535.
        for pair in ports.chunks(2) {
            let bus = pair[1].to_string();
            let args = ["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"];
            let args = [&args[..], &["--cluster-node-timeout", "1000", "--cluster-port", &bus]].concat();
            cluster.nodes.push(Node::server(pair[0], &args));
        }
        cluster.create();
        wait_for(
            Duration::from_secs(20),
            || format!("every node ok and every master with a replica in sync:\n{}", cluster.describe()),
            || (cluster.serving() && cluster.replicated()).then_some(()),
        );
        cluster
    }

    /// `redis-cli --cluster create … --cluster-replicas 1`, killed if it has not finished in 30 s.
    fn create(&self) {
        let log_dir = tempfile::tempdir().expect("temp dir");
        let log_path = log_dir.path().join("create.log");
        let log = std::fs::File::create(&log_path).expect("create.log");
        let mut child = Command::new("redis-cli")
            .args(["--cluster", "create"])
            .args(self.nodes.iter().map(|n| format!("127.0.0.1:{}", n.port)))
            .args(["--cluster-replicas", "1", "--cluster-yes"])
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("create.log"))
            .stderr(log)
            .spawn()
            .expect("spawn redis-cli");
        let deadline = Instant::now() + Duration::from_secs(30);
        let status = loop {
            if let Some(status) = child.try_wait().expect("redis-cli status") {
                break Some(status);
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        if !status.is_some_and(|s| s.success()) {
            let output = std::fs::read_to_string(&log_path).unwrap_or_default();
            panic!("redis-cli --cluster create failed ({status:?}):\n{output}");
        }
    }

    /// `redis://127.0.0.1:P` of all six nodes, killed ones included.
    pub fn node_urls(&self) -> Vec<String> {
        self.nodes.iter().map(|n| url(n.port)).collect()
    }

    /// The ports of the live nodes that answer `ROLE` as master.
    pub fn masters(&self) -> Vec<u16> {
        self.live().into_iter().filter(|&port| answers_as_master(port)).collect()
    }

    /// A cluster-aware connection (through the live nodes).
    pub fn client(&self) -> redis::cluster::ClusterConnection {
        redis::cluster::ClusterClient::builder(self.live().into_iter().map(url))
            .connection_timeout(Duration::from_secs(1))
            .response_timeout(Duration::from_secs(2))
            .build()
            .expect("cluster client")
            .get_connection()
            .expect("connect to the cluster")
    }

    /// SIGKILLs the master that owns `key`'s slot; returns its port.
    pub fn kill_master_for_key(&mut self, key: &str) -> u16 {
        let any = *self.live().first().expect("a live node");
        let slot: u16 = query(any, redis::cmd("CLUSTER").arg("KEYSLOT").arg(key)).expect("CLUSTER KEYSLOT");
        let owner = view(any)
            .and_then(|view| view.into_iter().find(|n| n.is_master() && n.owns(slot)))
            .unwrap_or_else(|| panic!("no master owns slot {slot}:\n{}", self.describe()))
            .port;
        let node = self
            .nodes
            .iter_mut()
            .find(|n| n.alive() && n.port == owner)
            .unwrap_or_else(|| panic!("the owner {owner} of slot {slot} is none of the live nodes"));
        node.kill();
        owner
    }

    /// Waits until every live node reports `cluster_state:ok` and sees every slot served by a
    /// live master (after a kill: the killed master's slots by its promoted replica).
    pub fn wait_until_ok(&self, timeout: Duration) {
        blocking(|| {
            wait_for(
                timeout,
                || format!("every live node ok with every slot on a live master:\n{}", self.describe()),
                || self.serving().then_some(()),
            )
        });
    }

    /// Every key on every live master and its raw value, sorted by key.
    pub fn dump(&self) -> Vec<(String, Vec<u8>)> {
        let mut all: Vec<_> = self
            .masters()
            .into_iter()
            .flat_map(|port| super::keys_and_values(&mut super::connect(port).expect("connect to a master")))
            .collect();
        all.sort();
        all
    }

    /// Calls per command name, summed over the live nodes (a replica does not count the writes it
    /// copies from its master, so nothing is counted twice).
    pub fn commands(&self) -> BTreeMap<String, u64> {
        super::summed_command_counts(self.live())
    }

    fn live(&self) -> Vec<u16> {
        self.nodes.iter().filter(|n| n.alive()).map(|n| n.port).collect()
    }

    /// Whether every live node says `cluster_state:ok` and, in its own view, every slot belongs to
    /// a live master that is not failing, and those masters answer as such.
    fn serving(&self) -> bool {
        let live = self.live();
        let mut owners = Vec::new();
        for &port in &live {
            let info: Option<String> = query(port, redis::cmd("CLUSTER").arg("INFO"));
            if info.as_deref().and_then(|i| field(i, "cluster_state")) != Some("ok") {
                return false;
            }
            let Some(view) = view(port) else { return false };
            let serving: Vec<_> = view.iter().filter(|n| !n.slots.is_empty()).collect();
            let covered: u32 = serving.iter().map(|n| n.slot_count()).sum();
            if covered != SLOTS
                || !serving.iter().all(|n| n.is_master() && !n.failing() && live.contains(&n.port))
            {
                return false;
            }
            owners.extend(serving.iter().map(|n| n.port));
        }
        owners.sort_unstable();
        owners.dedup();
        owners.into_iter().all(answers_as_master)
    }

    /// Whether every master has a replica whose link to it is up.
    fn replicated(&self) -> bool {
        let Some(view) = self.live().first().and_then(|&port| view(port)) else { return false };
        view.iter().filter(|m| m.is_master() && !m.slots.is_empty()).all(|m| {
            view.iter().filter(|r| r.master_id.as_deref() == Some(&m.id) && !r.failing()).any(|r| {
                let info = super::info(r.port, "replication");
                info.as_deref().and_then(|i| field(i, "master_link_status")) == Some("up")
            })
        })
    }

    /// Each live node's state and one node's `CLUSTER NODES`, for the message of a wait that gave up.
    fn describe(&self) -> String {
        let mut text = String::new();
        for n in &self.nodes {
            let info: Option<String> = query(n.port, redis::cmd("CLUSTER").arg("INFO"));
            let state = info.as_deref().and_then(|i| field(i, "cluster_state")).map(str::to_owned);
            let _ = writeln!(text, "  node {}: alive {}, cluster_state {state:?}", n.port, n.alive());
        }
        if let Some(&port) = self.live().first() {
            let nodes: Option<String> = query(port, redis::cmd("CLUSTER").arg("NODES"));
            let _ = writeln!(text, "  CLUSTER NODES on {port}:\n{}", nodes.unwrap_or_default());
        }
        text
    }
}

/// One line of `CLUSTER NODES`.
struct ClusterNode {
    id: String,
    port: u16,
    flags: Vec<String>,
    master_id: Option<String>,
    slots: Vec<(u16, u16)>,
}

impl ClusterNode {
    /// `<id> <ip:port@cport> <flags> <master> <ping> <pong> <epoch> <link> <slot>…`
    fn parse(line: &str) -> Option<Self> {
        let parts: Vec<&str> = line.split_whitespace().collect();
        let address = parts.get(1)?.split(['@', ',']).next()?;
        let port = address.rsplit_once(':')?.1.parse().ok()?;
        let slots = parts
            .get(8..)
            .unwrap_or_default()
            .iter()
            .filter(|s| !s.starts_with('[')) // slots being migrated
            .filter_map(|s| match s.split_once('-') {
                Some((a, b)) => Some((a.parse().ok()?, b.parse().ok()?)),
                None => s.parse().ok().map(|one| (one, one)),
            })
            .collect();
        Some(Self {
            id: (*parts.first()?).to_owned(),
            port,
            flags: parts.get(2)?.split(',').map(str::to_owned).collect(),
            master_id: parts.get(3).filter(|m| **m != "-").map(|m| (*m).to_owned()),
            slots,
        })
    }

    fn is_master(&self) -> bool {
        self.flags.iter().any(|f| f == "master")
    }

    fn failing(&self) -> bool {
        self.flags.iter().any(|f| f == "fail" || f == "fail?" || f == "noaddr")
    }

    fn owns(&self, slot: u16) -> bool {
        self.slots.iter().any(|&(a, b)| (a..=b).contains(&slot))
    }

    fn slot_count(&self) -> u32 {
        self.slots.iter().map(|&(a, b)| u32::from(b) - u32::from(a) + 1).sum()
    }
}

/// A node's `CLUSTER NODES`, parsed.
fn view(port: u16) -> Option<Vec<ClusterNode>> {
    let text: String = query(port, redis::cmd("CLUSTER").arg("NODES"))?;
    Some(text.lines().filter_map(ClusterNode::parse).collect())
}
