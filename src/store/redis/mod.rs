//! Redis as the key-value store: shared by every replica, on one node, a Sentinel group or a
//! Cluster ([`topology`]).
//!
//! A few multiplexed connections (`redis.pool_size`; a Cluster connection multiplexes to every
//! node by itself), used round robin by background work, and one more per request thread, opened
//! on that thread's runtime so a command does not wake another thread ([`local`]). Unlike a
//! checkout pool, nothing is sent besides the commands themselves: a request that needs one
//! command costs one round trip. The first connection is made lazily, so Portico starts (and
//! reports not-ready) while Redis is down, and recovers when it comes back.
//!
//! Recovery goes by time, not by traffic: a connection finds out that Redis went away only when
//! something is sent on it, and would fail that one request before reconnecting. A keeper pings
//! every connection each [`KEEPER_INTERVAL`], so dead ones are replaced within a few seconds of
//! Redis (or a promoted replica) being there, on an idle replica too, before a request needs
//! them.
//!
//! Every key one command or script touches hashes to one Cluster slot: scripts over several
//! keys put the shared part in a hash tag (`{…}`).

mod keyspace;
mod local;
mod nodes;
mod pubsub;
mod sentinel;
mod topology;

use std::sync::{Arc, LazyLock};
use std::time::Duration;

use redis::{AsyncCommands, ExistenceCheck, SetExpiry, SetOptions};

use super::{Admission, StoreError};
use nodes::ping_on;
pub use nodes::{ClusterNode, NodeStatus, parse_cluster_nodes};
pub use pubsub::Subscription;
use topology::{Conn, RoundRobin, Topology};
pub use topology::{RedisTarget, TargetForm};

/// How often the keeper pings every connection.
pub const KEEPER_INTERVAL: Duration = Duration::from_secs(1);

#[derive(Clone)]
pub struct RedisStore {
    inner: Arc<Inner>,
}

struct Inner {
    prefix: String,
    /// What the connections are made from (each request thread's own too: [`local`]).
    target: RedisTarget,
    topology: Topology,
    next: RoundRobin,
}

fn unavailable(e: redis::RedisError) -> StoreError {
    // The redis error text names the failure kind and address, never a password.
    StoreError::Unavailable(e.to_string())
}

impl RedisStore {
    /// One node at `url`; no connection is made until the first command.
    pub fn new(url: &str, key_prefix: &str, connections: usize) -> Result<Self, StoreError> {
        let target = RedisTarget {
            form: TargetForm::Single(secrecy::SecretString::from(url.to_owned())),
            username: None,
            password: None,
            pool_size: connections,
            ca_pem: None,
        };
        Self::open(target, key_prefix)
    }

    /// The store on `target`; no connection is made until the first command.
    pub fn open(target: RedisTarget, key_prefix: &str) -> Result<Self, StoreError> {
        let topology = Topology::open(target.clone())
            .map_err(|e| StoreError::Protocol(format!("bad Redis settings ({:?})", e.kind())))?;
        let inner = Inner { prefix: key_prefix.to_owned(), target, topology, next: RoundRobin::default() };
        Ok(Self { inner: Arc::new(inner) })
    }

    pub fn key_prefix(&self) -> &str {
        &self.inner.prefix
    }

    /// `single`, `sentinel` or `cluster`.
    pub fn form(&self) -> &'static str {
        self.inner.topology.form()
    }

    fn key(&self, key: &str) -> String {
        let mut full = String::with_capacity(self.inner.prefix.len() + key.len());
        full.push_str(&self.inner.prefix);
        full.push_str(key);
        full
    }

    /// A connection for one command: this thread's own on a request thread ([`local`]), else
    /// the next shared one.
    async fn conn(&self) -> Result<Conn, StoreError> {
        if let Some(own) = local::topology(&self.inner, &self.inner.target) {
            return own.connection(0).await.map_err(unavailable);
        }
        let i = self.inner.next.next(self.inner.topology.len());
        self.connection(i).await
    }

    async fn connection(&self, i: usize) -> Result<Conn, StoreError> {
        self.inner.topology.connection(i).await.map_err(unavailable)
    }

    /// Pings every shared connection (on a Cluster, every master): the store is up when each of
    /// them answers. (Each request thread keeps its own connection alive itself: [`local`].)
    pub async fn ping(&self) -> Result<(), StoreError> {
        let shared = (0..self.inner.topology.len()).map(|i| ping_on(&self.inner.topology, i));
        let results = futures_util::future::join_all(shared).await;
        let total = results.len();
        let mut failures = results.into_iter().filter_map(Result::err);
        match failures.next() {
            None => Ok(()),
            Some(first) => {
                let down = 1 + failures.count();
                Err(StoreError::Unavailable(format!("{down} of {total} connections down ({first})")))
            }
        }
    }

    /// Pings shared connection `i`.
    async fn ping_one(&self, i: usize) -> Result<(), StoreError> {
        ping_on(&self.inner.topology, i).await
    }

    /// Starts the keeper (see the module comment); it ends with the store, or when aborted.
    pub fn start_keeper(&self) -> tokio::task::AbortHandle {
        let store = Arc::downgrade(&self.inner);
        let task = tokio::spawn(async move {
            let mut ticks = tokio::time::interval(KEEPER_INTERVAL);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                let Some(inner) = store.upgrade() else { return };
                let store = RedisStore { inner };
                // A failed ping has already set its connection reconnecting; the outcome is
                // for /readyz to report.
                let _ = store.ping().await;
            }
        });
        task.abort_handle()
    }

    pub async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let mut c = self.conn().await?;
        c.get(self.key(key)).await.map_err(unavailable)
    }

    pub async fn get_and_touch(&self, key: &str, ttl: Duration) -> Result<Option<Vec<u8>>, StoreError> {
        let mut c = self.conn().await?;
        redis::cmd("GETEX")
            .arg(self.key(key))
            .arg("PX")
            .arg(millis(ttl))
            .query_async(&mut c)
            .await
            .map_err(unavailable)
    }

    pub async fn set(&self, key: &str, value: &[u8], ttl: Option<Duration>) -> Result<(), StoreError> {
        let mut c = self.conn().await?;
        let key = self.key(key);
        match ttl {
            Some(ttl) => c.pset_ex::<_, _, ()>(key, value, millis(ttl)).await,
            None => c.set::<_, _, ()>(key, value).await,
        }
        .map_err(unavailable)
    }

    pub async fn set_existing(&self, key: &str, value: &[u8], ttl: Duration) -> Result<bool, StoreError> {
        let mut c = self.conn().await?;
        let options = SetOptions::default()
            .conditional_set(ExistenceCheck::XX)
            .with_expiration(SetExpiry::PX(millis(ttl)));
        let set: Option<String> = c.set_options(self.key(key), value, options).await.map_err(unavailable)?;
        Ok(set.is_some())
    }

    pub async fn head(&self, key: &str, len: usize) -> Result<Option<Vec<u8>>, StoreError> {
        // (`GETRANGE key 0 -1` would be the whole value.)
        let Some(last) = len.checked_sub(1) else { return Ok(None) };
        let mut c = self.conn().await?;
        let head: Vec<u8> = redis::cmd("GETRANGE")
            .arg(self.key(key))
            .arg(0)
            .arg(last)
            .query_async(&mut c)
            .await
            .map_err(unavailable)?;
        // (A missing key reads as an empty string.)
        Ok((!head.is_empty()).then_some(head))
    }

    pub async fn set_if_absent(&self, key: &str, value: &[u8], ttl: Duration) -> Result<bool, StoreError> {
        let mut c = self.conn().await?;
        let options = SetOptions::default()
            .conditional_set(ExistenceCheck::NX)
            .with_expiration(SetExpiry::PX(millis(ttl)));
        let set: Option<String> = c.set_options(self.key(key), value, options).await.map_err(unavailable)?;
        Ok(set.is_some())
    }

    pub async fn renew_if(&self, key: &str, value: &[u8], ttl: Duration) -> Result<bool, StoreError> {
        let mut c = self.conn().await?;
        let script = redis::Script::new(
            "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) else return 0 end",
        );
        let n: i64 = script
            .key(self.key(key))
            .arg(value)
            .arg(millis(ttl))
            .invoke_async(&mut c)
            .await
            .map_err(unavailable)?;
        Ok(n == 1)
    }

    pub async fn delete_if(&self, key: &str, value: &[u8]) -> Result<bool, StoreError> {
        let mut c = self.conn().await?;
        let script = redis::Script::new(
            "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end",
        );
        let n: i64 = script.key(self.key(key)).arg(value).invoke_async(&mut c).await.map_err(unavailable)?;
        Ok(n == 1)
    }

    pub async fn delete(&self, key: &str) -> Result<bool, StoreError> {
        let mut c = self.conn().await?;
        let n: u64 = c.del(self.key(key)).await.map_err(unavailable)?;
        Ok(n > 0)
    }

    pub async fn take(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let mut c = self.conn().await?;
        redis::cmd("GETDEL").arg(self.key(key)).query_async(&mut c).await.map_err(unavailable)
    }

    pub async fn increment(&self, key: &str, window: Duration) -> Result<i64, StoreError> {
        let mut c = self.conn().await?;
        let key = self.key(key);
        // INCR and an expiry that only a new counter gets, in one round trip.
        let (count, _): (i64, i64) = redis::pipe()
            .atomic()
            .incr(&key, 1)
            .cmd("PEXPIRE")
            .arg(&key)
            .arg(millis(window))
            .arg("NX")
            .query_async(&mut c)
            .await
            .map_err(unavailable)?;
        Ok(count)
    }

    pub async fn admit(
        &self,
        counter: &str,
        lock: &str,
        now_ms: i64,
        window: Duration,
        max: u32,
    ) -> Result<Admission, StoreError> {
        let mut c = self.conn().await?;
        let (admitted, value): (i64, i64) = ADMIT
            .key(self.key(counter))
            .key(self.key(lock))
            .arg(now_ms)
            .arg(millis(window))
            .arg(max)
            .invoke_async(&mut c)
            .await
            .map_err(unavailable)?;
        Ok(match (admitted, value) {
            (1, n) => Admission::Counted(n),
            (_, left) if left > 0 => Admission::Locked(Duration::from_millis(left.unsigned_abs())),
            _ => Admission::Full,
        })
    }

    pub async fn release(&self, counter: &str) -> Result<(), StoreError> {
        let mut c = self.conn().await?;
        let _: i64 = RELEASE.key(self.key(counter)).invoke_async(&mut c).await.map_err(unavailable)?;
        Ok(())
    }

    pub async fn index_put(
        &self,
        index: &str,
        member: &str,
        until_ms: i64,
        only_existing: bool,
    ) -> Result<(), StoreError> {
        let mut c = self.conn().await?;
        let mut zadd = redis::cmd("ZADD");
        zadd.arg(self.key(index));
        if only_existing {
            zadd.arg("XX");
        }
        let _: i64 = zadd.arg(until_ms).arg(member).query_async(&mut c).await.map_err(unavailable)?;
        Ok(())
    }

    pub async fn index_put_expiring(
        &self,
        index: &str,
        member: &str,
        until_ms: i64,
        keep_for: Duration,
    ) -> Result<(), StoreError> {
        let mut c = self.conn().await?;
        let index = self.key(index);
        // One key, so one slot of a Cluster: the pair runs as one transaction.
        let (_, _): (i64, i64) = redis::pipe()
            .atomic()
            .zadd(&index, member, until_ms)
            .cmd("PEXPIRE")
            .arg(&index)
            .arg(millis(keep_for))
            .query_async(&mut c)
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    pub async fn index_remove(&self, index: &str, member: &str) -> Result<(), StoreError> {
        let mut c = self.conn().await?;
        let _: i64 = c.zrem(self.key(index), member).await.map_err(unavailable)?;
        Ok(())
    }

    pub async fn index_members(&self, index: &str) -> Result<Vec<(String, i64)>, StoreError> {
        let mut c = self.conn().await?;
        c.zrange_withscores(self.key(index), 0, -1).await.map_err(unavailable)
    }

    pub async fn index_score(&self, index: &str, member: &str) -> Result<Option<i64>, StoreError> {
        let mut c = self.conn().await?;
        c.zscore(self.key(index), member).await.map_err(unavailable)
    }

    pub async fn index_count(&self, index: &str, now_ms: i64) -> Result<u64, StoreError> {
        let mut c = self.conn().await?;
        let index = self.key(index);
        let (_, live): (i64, u64) = redis::pipe()
            .atomic()
            .cmd("ZREMRANGEBYSCORE")
            .arg(&index)
            .arg("-inf")
            .arg(now_ms)
            .zcard(&index)
            .query_async(&mut c)
            .await
            .map_err(unavailable)?;
        Ok(live)
    }
}

/// [`KvStore::admit`](super::KvStore::admit): KEYS counter, lock; ARGV now (ms), window (ms),
/// max. Answers `{1, n}` when counted, `{0, ms left}` while locked, `{0, 0}` when full.
static ADMIT: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
        local now = tonumber(ARGV[1])
        local locked_until = tonumber(redis.call('GET', KEYS[2]) or '0') or 0
        if locked_until > now then return {0, locked_until - now} end
        local n = redis.call('INCR', KEYS[1])
        if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
        if n > tonumber(ARGV[3]) then
            redis.call('DECR', KEYS[1])
            return {0, 0}
        end
        return {1, n}
        ",
    )
});

/// [`KvStore::release`](super::KvStore::release): decrements KEYS[1] only while it exists.
static RELEASE: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        "if redis.call('EXISTS', KEYS[1]) == 1 then return redis.call('DECR', KEYS[1]) else return 0 end",
    )
});

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1)
}

/// Escapes Redis glob characters so a prefix matches only itself.
fn escape_glob(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for c in raw.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}
