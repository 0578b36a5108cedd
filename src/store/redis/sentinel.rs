//! The connections to the master of a Sentinel group: looked up through the sentinels (which
//! also check that it is a master), and replaced when a command fails in a way that says the
//! master may have changed, so a promoted replica is found by the next command.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use redis::aio::MultiplexedConnection;
use redis::sentinel::SentinelClient;
use redis::{AsyncConnectionConfig, Client, ErrorKind, RedisError, RedisResult, ServerErrorKind};
use url::Url;

use super::topology::{CONNECT_TIMEOUT, Conn, RESPONSE_TIMEOUT, no_connection};

/// Connections to the master of a Sentinel group, each replaced (after asking the sentinels
/// again) once it fails in a way that says the master may have changed.
pub(super) struct SentinelPool {
    pub(super) master_name: String,
    pub(super) nodes: Vec<Url>,
    pub(super) sentinel: tokio::sync::Mutex<SentinelClient>,
    /// Each connection with the generation it was made in.
    pub(super) slots: Vec<Mutex<Option<(u64, MultiplexedConnection)>>>,
    pub(super) generation: AtomicU64,
    pub(super) master: Mutex<Option<String>>,
}

impl SentinelPool {
    pub(super) async fn master_client(&self) -> RedisResult<Client> {
        let mut sentinel = self.sentinel.lock().await;
        let client = tokio::time::timeout(CONNECT_TIMEOUT + RESPONSE_TIMEOUT, sentinel.async_get_client())
            .await
            .map_err(|_| RedisError::from((ErrorKind::Io, "no answer from the sentinels in time")))??;
        if let Ok(mut master) = self.master.lock() {
            *master = Some(client.get_connection_info().addr().to_string());
        }
        Ok(client)
    }

    pub(super) async fn connection(self: &Arc<Self>, i: usize) -> RedisResult<Conn> {
        let slot = self.slots.get(i % self.slots.len().max(1)).ok_or_else(no_connection)?;
        let held = slot.lock().ok().and_then(|held| held.clone());
        if let Some((generation, connection)) = held {
            return Ok(Conn::Sentinel { connection, pool: self.clone(), slot: i, generation });
        }
        let client = self.master_client().await?;
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_response_timeout(Some(RESPONSE_TIMEOUT));
        let connection = client.get_multiplexed_async_connection_with_config(&config).await?;
        let generation = self.generation.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut held) = slot.lock() {
            *held = Some((generation, connection.clone()));
        }
        Ok(Conn::Sentinel { connection, pool: self.clone(), slot: i, generation })
    }

    /// Forgets connection `slot` if it is still the one of `generation`.
    pub(super) fn forget(&self, slot: usize, generation: u64) {
        if let Some(Ok(mut held)) = self.slots.get(slot).map(Mutex::lock)
            && held.as_ref().is_some_and(|(g, _)| *g == generation)
        {
            *held = None;
        }
    }
}

/// Whether an error says the node may no longer be the master (gone, or demoted).
pub(super) fn master_may_have_changed(e: &RedisError) -> bool {
    e.is_io_error()
        || e.is_connection_dropped()
        || e.is_connection_refusal()
        || e.is_timeout()
        || matches!(e.kind(), ErrorKind::Server(ServerErrorKind::ReadOnly | ServerErrorKind::MasterDown))
}
