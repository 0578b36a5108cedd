//! One master, one replica and three sentinels, as operators run Redis for high availability;
//! the master can be killed to watch the sentinels promote the replica.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use super::{Node, answers_as_master, blocking, field, info, installed, query, url, wait_for};

const MASTER_NAME: &str = "portico";

pub struct RedisSentinel {
    /// First so they go first on drop: no failover starts while the group is torn down.
    sentinels: Vec<Node>,
    /// The data nodes: the first started as master, the second as its replica.
    data: Vec<Node>,
    /// The master killed last, so that its successor can be told from it.
    killed: Option<u16>,
}

impl RedisSentinel {
    /// Starts the group and returns once the master has its replica in sync and every sentinel
    /// knows the replica and the two other sentinels; `None` (after saying why) without
    /// `redis-server`.
    pub fn start(test: &str) -> Option<Self> {
        if !installed(test, "redis-server") {
            return None;
        }
        Some(blocking(Self::launch))
    }

    fn launch() -> Self {
        let ports = crate::support::free_ports(5);
        let (master, replica) = (ports[0], ports[1]);
        let mut group = Self { sentinels: Vec::new(), data: Vec::new(), killed: None };
        group.data.push(Node::server(master, &[]));
        group.data.push(Node::server(replica, &["--replicaof", "127.0.0.1", &master.to_string()]));
        wait_for(
            Duration::from_secs(10),
            || format!("replica {replica} in sync with master {master}"),
            || {
                let (m, r) = (info(master, "replication")?, info(replica, "replication")?);
                let synced = field(&m, "connected_slaves") == Some("1")
                    && field(&r, "master_link_status") == Some("up");
                synced.then_some(())
            },
        );
        // Started once the replica is in sync, so each sentinel's first INFO of the master lists it.
        for &port in &ports[2..] {
            group.sentinels.push(Node::sentinel(port, MASTER_NAME, master));
        }
        wait_for(
            Duration::from_secs(20),
            || {
                format!(
                    "every sentinel to know the replica and the two other sentinels:\n{}",
                    group.describe()
                )
            },
            || group.settled(master, replica).then_some(()),
        );
        group
    }

    pub fn master_name(&self) -> &str {
        MASTER_NAME
    }

    /// `redis://127.0.0.1:P` of the three sentinels.
    pub fn sentinel_urls(&self) -> Vec<String> {
        self.sentinels.iter().map(|s| url(s.port)).collect()
    }

    /// The master's port as the sentinels report it now (`SENTINEL get-master-addr-by-name`).
    /// Right after a failover they may disagree for a moment: then the reported node that answers
    /// as master wins, and among those the one most sentinels report.
    pub fn master_port(&self) -> u16 {
        let mut votes: BTreeMap<u16, usize> = BTreeMap::new();
        for port in self.sentinels.iter().filter_map(|s| reported_master(s.port)) {
            *votes.entry(port).or_default() += 1;
        }
        votes
            .iter()
            .max_by_key(|&(&port, &count)| (answers_as_master(port), count))
            .map(|(&port, _)| port)
            .unwrap_or_else(|| panic!("no sentinel reports a master:\n{}", self.describe()))
    }

    /// A live data node that is not the master (before a failover: the replica).
    pub fn replica_port(&self) -> Option<u16> {
        let master = self.master_port();
        self.data.iter().find(|n| n.alive() && n.port != master).map(|n| n.port)
    }

    /// SIGKILLs the current master; returns when it was killed.
    pub fn kill_master(&mut self) -> Instant {
        let port = self.master_port();
        let node = self
            .data
            .iter_mut()
            .find(|n| n.alive() && n.port == port)
            .unwrap_or_else(|| panic!("the master {port} is none of the group's live nodes"));
        self.killed = Some(port);
        node.kill()
    }

    /// Waits until a sentinel reports a master other than the one killed last and that node
    /// answers `ROLE` as master; returns its port.
    pub fn wait_for_promotion(&self, timeout: Duration) -> u16 {
        let old = self.killed.expect("wait_for_promotion follows kill_master");
        blocking(|| {
            wait_for(
                timeout,
                || format!("the sentinels to promote a successor of {old}:\n{}", self.describe()),
                || {
                    self.sentinels
                        .iter()
                        .filter_map(|s| reported_master(s.port))
                        .find(|&port| port != old && answers_as_master(port))
                },
            )
        })
    }

    /// A connection to the current master.
    pub fn client(&self) -> redis::Connection {
        super::connect(self.master_port()).expect("connect to the master")
    }

    /// Every key on the current master and its raw value.
    pub fn dump(&self) -> Vec<(String, Vec<u8>)> {
        super::keys_and_values(&mut self.client())
    }

    /// Calls per command name, summed over the live data nodes (a replica does not count the
    /// writes it copies from its master; the sentinels' own commands are not included).
    pub fn commands(&self) -> BTreeMap<String, u64> {
        super::summed_command_counts(self.data.iter().filter(|n| n.alive()).map(|n| n.port))
    }

    /// Whether every sentinel reports `master`, knows `replica` as a linked replica and the two
    /// other sentinels, none of them down.
    fn settled(&self, master: u16, replica: u16) -> bool {
        self.sentinels.iter().all(|s| {
            let replica_known = entries(s.port, "replicas").is_some_and(|r| {
                r.len() == 1
                    && r[0].get("port").is_some_and(|p| *p == replica.to_string())
                    && r[0].get("master-link-status").is_some_and(|l| l == "ok")
                    && up(&r[0])
            });
            let others_known = entries(s.port, "sentinels").is_some_and(|o| o.len() == 2 && o.iter().all(up));
            reported_master(s.port) == Some(master) && replica_known && others_known
        })
    }

    /// What each node and sentinel says, for the message of a wait that gave up.
    fn describe(&self) -> String {
        let mut text = String::new();
        for n in &self.data {
            let role = info(n.port, "replication").and_then(|i| field(&i, "role").map(str::to_owned));
            let _ = writeln!(text, "  data {}: alive {}, role {role:?}", n.port, n.alive());
        }
        for s in &self.sentinels {
            let flags = |what| {
                entries(s.port, what).map(|e| e.iter().map(|e| e.get("flags").cloned()).collect::<Vec<_>>())
            };
            let _ = writeln!(
                text,
                "  sentinel {}: master {:?}, replicas {:?}, sentinels {:?}",
                s.port,
                reported_master(s.port),
                flags("replicas"),
                flags("sentinels")
            );
        }
        text
    }
}

/// The master's port according to one sentinel.
fn reported_master(sentinel: u16) -> Option<u16> {
    let addr: Option<Vec<String>> =
        query(sentinel, redis::cmd("SENTINEL").arg("get-master-addr-by-name").arg(MASTER_NAME))?;
    addr?.get(1)?.parse().ok()
}

/// `SENTINEL replicas|sentinels portico`, each entry as field → value.
fn entries(sentinel: u16, what: &str) -> Option<Vec<BTreeMap<String, String>>> {
    let raw: Vec<Vec<String>> = query(sentinel, redis::cmd("SENTINEL").arg(what).arg(MASTER_NAME))?;
    let pairs = |flat: Vec<String>| {
        flat.chunks(2).filter_map(|kv| Some((kv.first()?.clone(), kv.get(1)?.clone()))).collect()
    };
    Some(raw.into_iter().map(pairs).collect())
}

/// Whether an entry's flags say it is reachable and not down.
fn up(entry: &BTreeMap<String, String>) -> bool {
    entry
        .get("flags")
        .is_some_and(|f| !f.split(',').any(|f| matches!(f, "s_down" | "o_down" | "disconnected")))
}
