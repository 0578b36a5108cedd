//! Change notifications between replicas over Redis pub/sub.
//!
//! A replica that changes shared state (an admin saved a slave, a session ended) applies the
//! change itself at once and then publishes it; every other replica receives it and acts within
//! a round trip. Pub/sub delivers at most once, so receivers also reconcile periodically, and
//! every (re)subscription is announced locally as [`Change::Resync`]: whatever was missed while
//! the subscription was down is reloaded. With the in-process store there is no other replica
//! and publishing is a no-op.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

use super::redis::Subscription;
use super::{KvStore, RedisStore};

/// The channel, after `redis.key_prefix`.
const CHANNEL: &str = "changes";
/// Subscription health check: a subscription that cannot answer a PING is reopened.
const PING_EVERY: Duration = Duration::from_secs(15);
const PING_TIMEOUT: Duration = Duration::from_secs(3);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// What changed. Receivers reload from the source of truth; a notification carries no data
/// that could be stale or secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Change {
    /// Slave managers were added, edited or deleted in the database.
    Slaves,
    /// Settings overrides changed in the database.
    Settings,
    /// Catalog and organization caches were purged.
    CachesPurged,
    /// A portal session ended; `key` is its store key (a keyed hash, not the cookie value).
    SessionEnded { key: String },
    /// A portal session was rewritten (environment switch, reconnection, notice): copies of the
    /// old version are dropped.
    SessionChanged { key: String },
    /// Local only: the subscription was (re)established; anything may have been missed.
    Resync,
}

#[derive(Serialize, Deserialize)]
struct Envelope {
    /// The publishing replica, so it does not apply its own change twice.
    origin: String,
    change: Change,
}

/// Publishes changes to the other replicas and hands theirs to local subscribers.
#[derive(Clone)]
pub struct ChangeBus {
    inner: Arc<Inner>,
}

struct Inner {
    origin: String,
    sender: broadcast::Sender<Change>,
    redis: Option<RedisStore>,
    listener: Option<tokio::task::AbortHandle>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some(listener) = &self.listener {
            listener.abort();
        }
    }
}

impl ChangeBus {
    /// Starts listening (with Redis) in the background; must run inside the Tokio runtime.
    pub fn start(kv: &KvStore) -> Self {
        let origin = crate::crypto::random_token(12);
        let (sender, _) = broadcast::channel(1024);
        let redis = match kv {
            KvStore::Redis(redis) => Some(redis.clone()),
            KvStore::Memory(_) => None,
        };
        let listener = redis
            .clone()
            .map(|redis| tokio::spawn(listen(redis, origin.clone(), sender.clone())).abort_handle());
        Self { inner: Arc::new(Inner { origin, sender, redis, listener }) }
    }

    /// Changes made by other replicas (and [`Change::Resync`]), from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Change> {
        self.inner.sender.subscribe()
    }

    /// Tells every other replica. The caller has already applied the change locally.
    pub async fn publish(&self, change: Change) -> Result<(), super::StoreError> {
        let Some(redis) = &self.inner.redis else {
            return Ok(());
        };
        let envelope = Envelope { origin: self.inner.origin.clone(), change };
        let payload = serde_json::to_vec(&envelope)
            .map_err(|e| super::StoreError::Protocol(format!("cannot encode a change: {e}")))?;
        redis.publish(CHANNEL, &payload).await
    }
}

/// Keeps one subscription open for the life of the bus, reopening it after any failure.
async fn listen(redis: RedisStore, origin: String, sender: broadcast::Sender<Change>) {
    let mut backoff = Duration::from_millis(100);
    let mut was_down = false;
    loop {
        match redis.subscribe(CHANNEL).await {
            Ok(pubsub) => {
                if was_down {
                    tracing::info!("change notifications resumed");
                }
                was_down = false;
                backoff = Duration::from_millis(100);
                // Whatever was published while nobody listened has to be reloaded.
                let _ = sender.send(Change::Resync);
                relay(pubsub, &origin, &sender).await;
            }
            Err(e) => {
                if !was_down {
                    tracing::warn!(error = %e, "change notifications unavailable; retrying");
                }
                was_down = true;
            }
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// Forwards messages until the subscription fails.
async fn relay(subscription: Subscription, origin: &str, sender: &broadcast::Sender<Change>) {
    let (mut pinger, mut stream) = subscription.split();
    let mut ping = tokio::time::interval(PING_EVERY);
    ping.tick().await;
    loop {
        tokio::select! {
            message = stream.next() => {
                let Some(payload) = message else {
                    tracing::warn!("change notification subscription closed");
                    return;
                };
                match serde_json::from_slice::<Envelope>(&payload) {
                    Ok(envelope) if envelope.origin != origin => {
                        let _ = sender.send(envelope.change);
                    }
                    Ok(_) => {}
                    Err(_) => tracing::warn!("ignoring a change notification this version does not understand"),
                }
            }
            _ = ping.tick() => {
                let answered = tokio::time::timeout(PING_TIMEOUT, pinger.ping()).await;
                if !matches!(answered, Ok(true)) {
                    tracing::warn!("change notification subscription stopped answering");
                    return;
                }
            }
        }
    }
}
