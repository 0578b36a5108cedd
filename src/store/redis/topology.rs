//! Where the Redis commands go: one node, the master a Sentinel group names, or a Cluster.
//!
//! Each form hands out a [`Conn`] that every command method uses alike. Discovery and failover
//! following are the `redis` crate's: a one-node connection reconnects by itself
//! (`ConnectionManager`); a Sentinel master is looked up through the sentinels (which also check
//! that it is a master) whenever a connection to it fails, so a promoted replica is found by the
//! next command; a Cluster connection follows slots as they move and resubscribes by itself.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use super::sentinel::{SentinelPool, master_may_have_changed};
use std::time::Duration;

use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig, MultiplexedConnection};
use redis::cluster::{ClusterClient, ClusterClientBuilder};
use redis::cluster_async::ClusterConnection;
use redis::sentinel::{SentinelClientBuilder, SentinelServerType};
use redis::{
    Client, Cmd, ConnectionAddr, ErrorKind, Pipeline, RedisError, RedisFuture, RedisResult, TlsCertificates,
    TlsMode, Value,
};
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::OnceCell;
use url::Url;

/// How long one command may take before the store counts as unavailable.
pub const RESPONSE_TIMEOUT: Duration = Duration::from_secs(2);
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// What the store connects to, with secrets already resolved.
#[derive(Clone)]
pub struct RedisTarget {
    pub form: TargetForm,
    /// The data nodes' ACL user and password (any form).
    pub username: Option<String>,
    pub password: Option<SecretString>,
    /// Connections to one node or to the Sentinel master.
    pub pool_size: usize,
    /// PEM of a private CA for `rediss://` (else the public web roots).
    pub ca_pem: Option<Vec<u8>>,
}

/// The TLS roots for `rediss://` connections, when a private CA is given.
fn certificates(ca_pem: Option<&Vec<u8>>) -> Option<TlsCertificates> {
    ca_pem.map(|pem| TlsCertificates { client_tls: None, root_cert: Some(pem.clone()) })
}

#[derive(Clone)]
pub enum TargetForm {
    /// A `redis://` or `rediss://` URL (it may hold a password itself).
    Single(SecretString),
    Sentinel {
        master_name: String,
        nodes: Vec<Url>,
        username: Option<String>,
        password: Option<SecretString>,
        db: i64,
        tls: bool,
    },
    Cluster {
        nodes: Vec<Url>,
    },
}

impl std::fmt::Debug for RedisTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self.form {
            TargetForm::Single(_) => "RedisTarget::Single",
            TargetForm::Sentinel { .. } => "RedisTarget::Sentinel",
            TargetForm::Cluster { .. } => "RedisTarget::Cluster",
        })
    }
}

/// The connections of one form.
// (One value per store, made once: the size of a variant does not matter.)
#[allow(clippy::large_enum_variant)]
pub(super) enum Topology {
    Single { client: Client, connections: Vec<OnceCell<ConnectionManager>> },
    Sentinel(Arc<SentinelPool>),
    Cluster(Box<ClusterPool>),
}

/// A Cluster client and its one (multiplexed, self-routing) connection.
pub(super) struct ClusterPool {
    settings: ClusterAccess,
    client: ClusterClient,
    connection: OnceCell<ClusterConnection>,
}

/// What a Cluster client is built from (the data connection, and the subscriber's own).
pub(super) struct ClusterAccess {
    nodes: Vec<Url>,
    username: Option<String>,
    password: Option<SecretString>,
    ca_pem: Option<Vec<u8>>,
}

impl ClusterAccess {
    fn builder(&self) -> ClusterClientBuilder {
        let mut builder = ClusterClientBuilder::new(self.nodes.iter().map(Url::as_str).collect::<Vec<_>>())
            .connection_timeout(CONNECT_TIMEOUT)
            .response_timeout(RESPONSE_TIMEOUT)
            // One retry, soon: enough to follow a MOVED once a slot has moved, while a request
            // for a master that is down fails at once (503) instead of backing off for seconds.
            .retries(1)
            .min_retry_wait(10)
            .max_retry_wait(100);
        if let Some(username) = &self.username {
            builder = builder.username(username);
        }
        if let Some(password) = &self.password {
            builder = builder.password(password.expose_secret());
        }
        if let Some(roots) = certificates(self.ca_pem.as_ref()) {
            builder = builder.certs(roots);
        }
        builder
    }
}

impl Topology {
    pub fn open(target: RedisTarget) -> RedisResult<Self> {
        let pool = target.pool_size.max(1);
        match target.form {
            TargetForm::Single(url) => {
                let mut info = redis::IntoConnectionInfo::into_connection_info(url.expose_secret())?;
                if target.username.is_some() || target.password.is_some() {
                    let mut redis = info.redis_settings().clone();
                    if let Some(username) = &target.username {
                        redis = redis.set_username(username);
                    }
                    if let Some(password) = &target.password {
                        redis = redis.set_password(password.expose_secret());
                    }
                    info = info.set_redis_settings(redis);
                }
                let client = match certificates(target.ca_pem.as_ref()) {
                    Some(roots) => Client::build_with_tls(info, roots)?,
                    None => Client::open(info)?,
                };
                Ok(Topology::Single { client, connections: (0..pool).map(|_| OnceCell::new()).collect() })
            }
            TargetForm::Sentinel { master_name, nodes, username, password, db, tls } => {
                let sentinels = nodes.iter().map(address).collect::<RedisResult<Vec<_>>>()?;
                let mut builder =
                    SentinelClientBuilder::new(sentinels, &master_name, SentinelServerType::Master)?
                        .set_client_to_redis_db(db);
                if tls {
                    builder = builder.set_client_to_redis_tls_mode(TlsMode::Secure);
                }
                if let Some(roots) = certificates(target.ca_pem.as_ref()) {
                    builder = builder
                        .set_client_to_redis_certificates(roots.clone())
                        .set_client_to_sentinel_certificates(roots);
                }
                if let Some(username) = &target.username {
                    builder = builder.set_client_to_redis_username(username);
                }
                if let Some(password) = &target.password {
                    builder = builder.set_client_to_redis_password(password.expose_secret());
                }
                if let Some(username) = &username {
                    builder = builder.set_client_to_sentinel_username(username);
                }
                if let Some(password) = &password {
                    builder = builder.set_client_to_sentinel_password(password.expose_secret());
                }
                let pool = SentinelPool {
                    master_name,
                    nodes,
                    sentinel: tokio::sync::Mutex::new(builder.build()?),
                    slots: (0..pool).map(|_| Mutex::new(None)).collect(),
                    generation: AtomicU64::new(0),
                    master: Mutex::new(None),
                };
                Ok(Topology::Sentinel(Arc::new(pool)))
            }
            TargetForm::Cluster { nodes } => {
                let settings = ClusterAccess {
                    nodes,
                    username: target.username,
                    password: target.password,
                    ca_pem: target.ca_pem,
                };
                let client = settings.builder().build()?;
                Ok(Topology::Cluster(Box::new(ClusterPool { settings, client, connection: OnceCell::new() })))
            }
        }
    }

    /// How many connections a command may be sent on (each is pinged by the keeper).
    pub fn len(&self) -> usize {
        match self {
            Topology::Single { connections, .. } => connections.len(),
            Topology::Sentinel(pool) => pool.slots.len(),
            Topology::Cluster(_) => 1,
        }
    }

    /// `single`, `sentinel` or `cluster`.
    pub fn form(&self) -> &'static str {
        match self {
            Topology::Single { .. } => "single",
            Topology::Sentinel(_) => "sentinel",
            Topology::Cluster(_) => "cluster",
        }
    }

    /// Connection `i` (of [`Topology::len`]), made when first needed.
    pub async fn connection(&self, i: usize) -> RedisResult<Conn> {
        match self {
            Topology::Single { client, connections } => {
                let cell = connections.get(i % connections.len().max(1)).ok_or_else(no_connection)?;
                let manager = cell
                    .get_or_try_init(|| async {
                        let config = ConnectionManagerConfig::new()
                            .set_connection_timeout(Some(CONNECT_TIMEOUT))
                            .set_response_timeout(Some(RESPONSE_TIMEOUT))
                            .set_number_of_retries(1)
                            .set_max_delay(Duration::from_secs(2));
                        ConnectionManager::new_with_config(client.clone(), config).await
                    })
                    .await?;
                Ok(Conn::Single(manager.clone()))
            }
            // (Boxed: the sentinels' discovery is a deep future, and every request awaits this.)
            Topology::Sentinel(pool) => Box::pin(pool.connection(i)).await,
            Topology::Cluster(pool) => {
                let cluster =
                    pool.connection.get_or_try_init(|| Box::pin(pool.client.get_async_connection())).await?;
                Ok(Conn::Cluster(cluster.clone()))
            }
        }
    }

    /// A client of the node that pub/sub goes through (one node, or the Sentinel master now);
    /// `None` on a Cluster, whose connection subscribes by itself.
    pub async fn pubsub_client(&self) -> RedisResult<Option<Client>> {
        match self {
            Topology::Single { client, .. } => Ok(Some(client.clone())),
            Topology::Sentinel(pool) => pool.master_client().await.map(Some),
            Topology::Cluster(_) => Ok(None),
        }
    }

    /// A Cluster connection of its own that sends pushed messages to `sender` (RESP3).
    pub async fn cluster_subscriber(
        &self,
        sender: tokio::sync::mpsc::UnboundedSender<redis::PushInfo>,
    ) -> RedisResult<Option<ClusterConnection>> {
        let Topology::Cluster(pool) = self else { return Ok(None) };
        let client = pool
            .settings
            .builder()
            .use_protocol(redis::ProtocolVersion::RESP3)
            .push_sender(sender)
            .build()?;
        client.get_async_connection().await.map(Some)
    }

    /// The Sentinel group (its name and the sentinels), for `/readyz`.
    pub fn sentinels(&self) -> Option<(&str, &[Url])> {
        match self {
            Topology::Sentinel(pool) => Some((&pool.master_name, &pool.nodes)),
            _ => None,
        }
    }

    /// The one node's `host:port`.
    pub fn single_address(&self) -> Option<String> {
        match self {
            Topology::Single { client, .. } => Some(client.get_connection_info().addr().to_string()),
            _ => None,
        }
    }

    /// The Sentinel master as last found, `host:port`.
    pub fn sentinel_master(&self) -> Option<String> {
        match self {
            Topology::Sentinel(pool) => pool.master.lock().ok().and_then(|m| m.clone()),
            _ => None,
        }
    }
}

pub(super) fn no_connection() -> RedisError {
    RedisError::from((ErrorKind::Client, "no Redis connection"))
}

/// A sentinel's or cluster node's address from its URL (validated by the config check).
fn address(url: &Url) -> RedisResult<ConnectionAddr> {
    let host = url.host_str().ok_or_else(|| RedisError::from((ErrorKind::InvalidClientConfig, "no host")))?;
    let port = url.port().unwrap_or(26379);
    Ok(match url.scheme() {
        "rediss" => ConnectionAddr::TcpTls { host: host.to_owned(), port, insecure: false, tls_params: None },
        _ => ConnectionAddr::Tcp(host.to_owned(), port),
    })
}

/// One connection, whatever the form; commands are sent through [`ConnectionLike`].
pub enum Conn {
    Single(ConnectionManager),
    Sentinel { connection: MultiplexedConnection, pool: Arc<SentinelPool>, slot: usize, generation: u64 },
    Cluster(ClusterConnection),
}

impl Conn {
    /// After a failed command: a Sentinel connection that may point at a former master is
    /// dropped, so the next command asks the sentinels again.
    fn after<T>(&self, result: &RedisResult<T>) {
        if let (Conn::Sentinel { pool, slot, generation, .. }, Err(e)) = (self, result)
            && master_may_have_changed(e)
        {
            pool.forget(*slot, *generation);
        }
    }
}

/// A Cluster command may wait for slots to be found again: never past the response time.
async fn bounded<T>(future: impl Future<Output = RedisResult<T>>) -> RedisResult<T> {
    tokio::time::timeout(RESPONSE_TIMEOUT + CONNECT_TIMEOUT, future)
        .await
        .map_err(|_| RedisError::from((ErrorKind::Io, "no answer from the cluster in time")))?
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        Box::pin(async move {
            let result = match self {
                Conn::Single(c) => c.req_packed_command(cmd).await,
                Conn::Sentinel { connection, .. } => connection.req_packed_command(cmd).await,
                Conn::Cluster(c) => bounded(c.req_packed_command(cmd)).await,
            };
            self.after(&result);
            result
        })
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        Box::pin(async move {
            let result = match self {
                Conn::Single(c) => c.req_packed_commands(pipeline, offset, count).await,
                Conn::Sentinel { connection, .. } => {
                    connection.req_packed_commands(pipeline, offset, count).await
                }
                Conn::Cluster(c) => bounded(c.req_packed_commands(pipeline, offset, count)).await,
            };
            self.after(&result);
            result
        })
    }

    fn get_db(&self) -> i64 {
        match self {
            Conn::Single(c) => c.get_db(),
            Conn::Sentinel { connection, .. } => connection.get_db(),
            Conn::Cluster(c) => c.get_db(),
        }
    }
}

/// A counter of connections handed out, for round robin.
#[derive(Default)]
pub(super) struct RoundRobin(AtomicUsize);

impl RoundRobin {
    pub fn next(&self, len: usize) -> usize {
        self.0.fetch_add(1, Ordering::Relaxed) % len.max(1)
    }
}
