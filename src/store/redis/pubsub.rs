//! The change bus's transport: publishing and subscribing on one node or the Sentinel master
//! (a pub/sub connection), or on a Cluster (sharded channels on a RESP3 connection that
//! resubscribes when a slot moves).

use super::topology::{self, Conn};
use super::{RedisStore, StoreError, unavailable};

impl RedisStore {
    /// Publishes `payload` on the channel `{prefix}{channel}` (on a Cluster, a sharded channel:
    /// its slot's master delivers it, and a subscription follows the slot when it moves).
    pub async fn publish(&self, channel: &str, payload: &[u8]) -> Result<(), StoreError> {
        let mut c = self.conn().await?;
        let command = if matches!(c, Conn::Cluster(_)) { "SPUBLISH" } else { "PUBLISH" };
        let _receivers: i64 = redis::cmd(command)
            .arg(self.key(channel))
            .arg(payload)
            .query_async(&mut c)
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    /// A new connection subscribed to `{prefix}{channel}` (pub/sub needs a connection of its own).
    pub async fn subscribe(&self, channel: &str) -> Result<Subscription, StoreError> {
        let channel = self.key(channel);
        let topology = &self.inner.topology;
        let connect = async {
            if let Some(client) = topology.pubsub_client().await? {
                let mut pubsub = client.get_async_pubsub().await?;
                pubsub.subscribe(&channel).await?;
                return Ok::<_, redis::RedisError>(Subscription::PubSub(pubsub));
            }
            let (sender, messages) = tokio::sync::mpsc::unbounded_channel();
            let mut connection = topology.cluster_subscriber(sender).await?.ok_or_else(|| {
                redis::RedisError::from((redis::ErrorKind::Client, "no subscriber for this topology"))
            })?;
            connection.ssubscribe(&channel).await?;
            Ok(Subscription::Cluster { connection, messages })
        };
        match tokio::time::timeout(topology::CONNECT_TIMEOUT + topology::RESPONSE_TIMEOUT, connect).await {
            Ok(subscribed) => subscribed.map_err(unavailable),
            Err(_) => Err(StoreError::Unavailable("no answer to SUBSCRIBE in time".to_owned())),
        }
    }
}

/// A subscription to one channel: a pub/sub connection, or a Cluster connection's pushes.
pub enum Subscription {
    PubSub(redis::aio::PubSub),
    Cluster {
        connection: redis::cluster_async::ClusterConnection,
        messages: tokio::sync::mpsc::UnboundedReceiver<redis::PushInfo>,
    },
}

impl Subscription {
    /// The messages' payloads (ending when the subscription breaks), and a way to check that
    /// the connection still answers.
    pub fn split(self) -> (Pinger, futures_util::stream::BoxStream<'static, Vec<u8>>) {
        use futures_util::StreamExt;
        match self {
            Subscription::PubSub(pubsub) => {
                let (sink, stream) = pubsub.split();
                (Pinger::PubSub(sink), stream.map(|m| m.get_payload_bytes().to_vec()).boxed())
            }
            Subscription::Cluster { connection, messages } => {
                let payloads = futures_util::stream::unfold(messages, |mut messages| async move {
                    loop {
                        let push = messages.recv().await?;
                        match push.kind {
                            // A node of the subscription went away: what it would have sent is
                            // lost, so the subscription is renewed (and a resync announced).
                            redis::PushKind::Disconnection => return None,
                            redis::PushKind::SMessage | redis::PushKind::Message => {
                                if let Some(redis::Value::BulkString(payload)) = push.data.into_iter().nth(1)
                                {
                                    return Some((payload, messages));
                                }
                            }
                            _ => {}
                        }
                    }
                });
                (Pinger::Cluster(connection), payloads.boxed())
            }
        }
    }
}

/// Checks that a subscription's connection answers.
pub enum Pinger {
    PubSub(redis::aio::PubSubSink),
    Cluster(redis::cluster_async::ClusterConnection),
}

impl Pinger {
    pub async fn ping(&mut self) -> bool {
        let answered = match self {
            Pinger::PubSub(sink) => sink.ping::<redis::Value>().await.map(|_| ()),
            Pinger::Cluster(connection) => {
                redis::cmd("PING").query_async::<redis::Value>(connection).await.map(|_| ())
            }
        };
        answered.is_ok()
    }
}
