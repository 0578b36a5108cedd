//! What `/readyz` shows of the store's topology: each node in use, its role, and whether it
//! answers; and the masters of a Cluster, read from `CLUSTER NODES`. And the ping that tells.

use redis::cluster_routing::{MultipleNodeRoutingInfo, ResponsePolicy, RoutingInfo, SingleNodeRoutingInfo};

use super::topology::{self, Conn, Topology};
use super::{RedisStore, StoreError, unavailable};

/// One node the store uses, as `/readyz` shows it (an address and a role, never a credential).
#[derive(Debug, Clone, serde::Serialize)]
pub struct NodeStatus {
    pub address: String,
    /// `master`, `replica` or `sentinel`.
    pub role: &'static str,
    pub reachable: bool,
}

impl RedisStore {
    /// The nodes this store uses and whether they answer: the node; the Sentinel master as last
    /// found and each sentinel (pinged now); every Cluster node as the cluster sees it.
    pub async fn nodes(&self) -> Vec<NodeStatus> {
        let topology = &self.inner.topology;
        if let Some((_, sentinels)) = topology.sentinels() {
            // (Pinging a connection also finds the master again when it changed.)
            let reachable = self.ping_one(0).await.is_ok();
            let mut nodes: Vec<NodeStatus> = topology
                .sentinel_master()
                .map(|address| NodeStatus { address, role: "master", reachable })
                .into_iter()
                .collect();
            let pings = sentinels.iter().map(|url| async move {
                let address =
                    format!("{}:{}", url.host_str().unwrap_or_default(), url.port().unwrap_or(26379));
                NodeStatus { address, role: "sentinel", reachable: ping_url(url).await }
            });
            nodes.extend(futures_util::future::join_all(pings).await);
            return nodes;
        }
        let Ok(mut c) = self.conn().await else { return Vec::new() };
        match &mut c {
            Conn::Cluster(cluster) => {
                let any = RoutingInfo::SingleNode(SingleNodeRoutingInfo::Random);
                let answer = cluster.route_command(redis::cmd("CLUSTER").arg("NODES").clone(), any).await;
                let text: String =
                    answer.ok().and_then(|v| redis::from_redis_value(v).ok()).unwrap_or_default();
                parse_cluster_nodes(&text)
                    .into_iter()
                    .map(|n| NodeStatus {
                        address: format!("{}:{}", n.host, n.port),
                        role: if n.master { "master" } else { "replica" },
                        reachable: n.reachable,
                    })
                    .collect()
            }
            _ => {
                let address = topology.single_address().unwrap_or_default();
                let reachable = redis::cmd("PING").query_async::<String>(&mut c).await.is_ok();
                vec![NodeStatus { address, role: "master", reachable }]
            }
        }
    }
}

/// Whether a node (a sentinel) answers PING within the connect and response times.
async fn ping_url(url: &url::Url) -> bool {
    let ping = async {
        let client = redis::Client::open(url.as_str())?;
        let mut connection = client.get_multiplexed_async_connection().await?;
        redis::cmd("PING").query_async::<String>(&mut connection).await
    };
    matches!(
        tokio::time::timeout(topology::CONNECT_TIMEOUT + topology::RESPONSE_TIMEOUT, ping).await,
        Ok(Ok(_))
    )
}

/// The reachable masters of a Cluster, `(host, port)`, from `CLUSTER NODES` as a node sees it.
pub(super) async fn cluster_masters(
    cluster: &mut redis::cluster_async::ClusterConnection,
) -> Result<Vec<(String, u16)>, StoreError> {
    let any = RoutingInfo::SingleNode(SingleNodeRoutingInfo::Random);
    let value =
        cluster.route_command(redis::cmd("CLUSTER").arg("NODES").clone(), any).await.map_err(unavailable)?;
    let text: String = redis::from_redis_value(value).map_err(|e| StoreError::Protocol(e.to_string()))?;
    Ok(parse_cluster_nodes(&text)
        .into_iter()
        .filter(|n| n.master && n.reachable)
        .map(|n| (n.host, n.port))
        .collect())
}

/// One line of `CLUSTER NODES`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterNode {
    pub host: String,
    pub port: u16,
    pub master: bool,
    pub reachable: bool,
}

/// `<id> <ip:port@cport[,hostname]> <flags> …` lines; others are skipped.
pub fn parse_cluster_nodes(text: &str) -> Vec<ClusterNode> {
    text.lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let _id = fields.next()?;
            let address = fields.next()?.split(['@', ',']).next()?;
            let flags = fields.next()?;
            let (host, port) = address.rsplit_once(':')?;
            let port = port.parse().ok()?;
            let flags: Vec<&str> = flags.split(',').collect();
            let master = flags.contains(&"master");
            let reachable = !flags.iter().any(|f| matches!(*f, "fail" | "fail?" | "handshake" | "noaddr"));
            Some(ClusterNode { host: host.to_owned(), port, master, reachable })
        })
        .collect()
}

/// Pings connection `i` of `topology` (on a Cluster, every master).
pub(super) async fn ping_on(topology: &Topology, i: usize) -> Result<(), StoreError> {
    let mut c = topology.connection(i).await.map_err(unavailable)?;
    if let Conn::Cluster(cluster) = &mut c {
        let every_master =
            RoutingInfo::MultiNode((MultipleNodeRoutingInfo::AllMasters, Some(ResponsePolicy::AllSucceeded)));
        cluster.route_command(redis::cmd("PING"), every_master).await.map_err(unavailable)?;
        return Ok(());
    }
    let pong: String = redis::cmd("PING").query_async(&mut c).await.map_err(unavailable)?;
    if pong == "PONG" { Ok(()) } else { Err(StoreError::Protocol(format!("PING answered {pong:?}"))) }
}
