//! Walking the keyspace under a prefix (the admin's cache purge and figures): SCAN on the node,
//! or on every master of a Cluster, and deleting what it found.

use redis::AsyncCommands;
use redis::cluster_routing::{RoutingInfo, SingleNodeRoutingInfo};

use super::nodes::cluster_masters;
use super::topology::Conn;
use super::{RedisStore, StoreError, escape_glob, unavailable};

impl RedisStore {
    /// Every key under `prefix`: SCAN on the node, or on each master of a Cluster.
    async fn scan_prefix(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        let pattern = format!("{}*", escape_glob(&self.key(prefix)));
        let mut c = self.conn().await?;
        let nodes = match &mut c {
            Conn::Cluster(cluster) => cluster_masters(cluster).await?.into_iter().map(Some).collect(),
            _ => vec![None],
        };
        let mut keys = Vec::new();
        for node in nodes {
            let mut cursor: u64 = 0;
            loop {
                let mut scan = redis::cmd("SCAN");
                scan.arg(cursor).arg("MATCH").arg(&pattern).arg("COUNT").arg(500);
                let (next, batch): (u64, Vec<String>) = match (&mut c, &node) {
                    (Conn::Cluster(cluster), Some((host, port))) => {
                        let at = RoutingInfo::SingleNode(SingleNodeRoutingInfo::ByAddress {
                            host: host.clone(),
                            port: *port,
                        });
                        let value = cluster.route_command(scan, at).await.map_err(unavailable)?;
                        redis::from_redis_value(value).map_err(|e| StoreError::Protocol(e.to_string()))?
                    }
                    _ => scan.query_async(&mut c).await.map_err(unavailable)?,
                };
                keys.extend(batch);
                if next == 0 {
                    break;
                }
                cursor = next;
            }
        }
        Ok(keys)
    }

    pub async fn delete_prefix(&self, prefix: &str) -> Result<u64, StoreError> {
        let keys = self.scan_prefix(prefix).await?;
        let mut c = self.conn().await?;
        let mut deleted = 0;
        if let Conn::Cluster(cluster) = &c {
            // Keys of different slots cannot share one UNLINK.
            for chunk in keys.chunks(100) {
                let unlinks = chunk.iter().map(|key| {
                    let mut cluster = cluster.clone();
                    async move { cluster.unlink::<_, u64>(key).await }
                });
                for n in futures_util::future::join_all(unlinks).await {
                    deleted += n.map_err(unavailable)?;
                }
            }
            return Ok(deleted);
        }
        for chunk in keys.chunks(500) {
            let n: u64 = redis::cmd("UNLINK").arg(chunk).query_async(&mut c).await.map_err(unavailable)?;
            deleted += n;
        }
        Ok(deleted)
    }

    pub async fn count_prefix(&self, prefix: &str) -> Result<u64, StoreError> {
        Ok(self.scan_prefix(prefix).await?.len() as u64)
    }
}
