//! The key-value store contract, run against a real Redis and against the in-process store, and
//! what actually lands in Redis (the key prefix).

use std::time::Duration;

use portico::store::{KvStore, MemoryStore, RedisStore};

use crate::support::RedisServer;

async fn contract(store: &KvStore) {
    store.ping().await.unwrap();
    assert_eq!(store.get("missing").await.unwrap(), None);

    store.set("k", b"v1", Some(Duration::from_secs(60))).await.unwrap();
    assert_eq!(store.get("k").await.unwrap().as_deref(), Some(&b"v1"[..]));
    assert_eq!(
        store.get_and_touch("k", Duration::from_secs(120)).await.unwrap().as_deref(),
        Some(&b"v1"[..])
    );

    assert!(store.set_if_absent("lock", b"a", Duration::from_secs(5)).await.unwrap());
    assert!(!store.set_if_absent("lock", b"b", Duration::from_secs(5)).await.unwrap());
    assert_eq!(store.take("lock").await.unwrap().as_deref(), Some(&b"a"[..]));
    assert_eq!(store.take("lock").await.unwrap(), None, "one use only");

    assert_eq!(store.increment("count", Duration::from_secs(60)).await.unwrap(), 1);
    assert_eq!(store.increment("count", Duration::from_secs(60)).await.unwrap(), 2);

    for i in 0..3 {
        store.set(&format!("cache:x:{i}"), b"", None).await.unwrap();
    }
    store.set("cache-other", b"", None).await.unwrap();
    assert_eq!(store.count_prefix("cache:").await.unwrap(), 3);
    assert_eq!(store.delete_prefix("cache:").await.unwrap(), 3);
    assert_eq!(store.count_prefix("cache:").await.unwrap(), 0);
    assert!(store.get("cache-other").await.unwrap().is_some(), "a longer name is not a prefix match");

    assert!(store.delete("k").await.unwrap());
    assert!(!store.delete("k").await.unwrap());
}

#[tokio::test]
async fn the_in_process_store_keeps_the_contract() {
    contract(&KvStore::Memory(MemoryStore::new())).await;
}

#[tokio::test]
async fn redis_keeps_the_contract_and_every_key_carries_the_prefix() {
    let Some(redis) = RedisServer::start("redis_keeps_the_contract_and_every_key_carries_the_prefix") else {
        return;
    };
    let store = KvStore::Redis(RedisStore::new(&redis.url(), "portico-t:", 2).unwrap());
    contract(&store).await;
    store.set("visible", b"1", Some(Duration::from_secs(30))).await.unwrap();
    store.increment("counter", Duration::from_secs(30)).await.unwrap();
    let mut c = redis.client();
    let keys: Vec<String> = redis::cmd("KEYS").arg("*").query(&mut c).unwrap();
    assert!(!keys.is_empty());
    assert!(keys.iter().all(|k| k.starts_with("portico-t:")), "{keys:?}");
    let ttl: i64 = redis::cmd("TTL").arg("portico-t:counter").query(&mut c).unwrap();
    assert!((1..=30).contains(&ttl), "a new counter expires with its window, ttl={ttl}");
    store.get_and_touch("visible", Duration::from_secs(600)).await.unwrap();
    let ttl: i64 = redis::cmd("TTL").arg("portico-t:visible").query(&mut c).unwrap();
    assert!(ttl > 500, "reading with touch slides the expiry, ttl={ttl}");
}

#[tokio::test]
async fn a_stopped_redis_is_an_error_not_a_hang_and_the_store_recovers() {
    let Some(mut redis) = RedisServer::start("a_stopped_redis_is_an_error_not_a_hang_and_the_store_recovers")
    else {
        return;
    };
    let store = KvStore::Redis(RedisStore::new(&redis.url(), "p:", 1).unwrap());
    store.set("a", b"1", None).await.unwrap();
    redis.stop();
    let err = store.get("a").await.unwrap_err();
    assert!(err.to_string().contains("unavailable"), "{err}");
    redis.restart();
    let mut recovered = false;
    for _ in 0..50 {
        if store.ping().await.is_ok() {
            recovered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(recovered, "the store reconnects by itself");
}
