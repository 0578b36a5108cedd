//! The session store as two replicas see it when no notification ever reaches either: two stores
//! on one in-process store, each with a change bus of its own (which delivers nothing), and one
//! clock that never moves, so a copy is always inside its window. What holds then holds however
//! late or lost the notifications are.

use std::sync::Arc;
use std::time::Duration;

use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use super::{ChangeBus, KvStore, MemoryStore, Session, SessionStore, StoreError};
use crate::clock::{ManualClock, SharedClock};
use crate::crypto::Keys;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Data {
    joined: Vec<String>,
}

fn data(joined: &[&str]) -> Data {
    Data { joined: joined.iter().map(|s| (*s).to_owned()).collect() }
}

/// Two replicas' session stores on one store, deaf to each other.
fn replicas() -> (SessionStore, SessionStore, KvStore) {
    let kv = KvStore::Memory(MemoryStore::new());
    let keys = Arc::new(Keys::derive(&SecretString::from("a-test-secret-of-enough-length-0123456789")));
    let clock: SharedClock = Arc::new(ManualClock::new());
    let replica = || {
        let (idle, absolute) = (Duration::from_secs(1800), Duration::from_secs(12 * 3600));
        SessionStore::new(kv.clone(), keys.clone(), idle, absolute, clock.clone(), ChangeBus::start(&kv))
    };
    (replica(), replica(), kv)
}

async fn seen_by(store: &SessionStore, session: &Session<Data>) -> Result<Option<Data>, StoreError> {
    Ok(store.load_shared::<Data>(&session.id).await?.map(|s| s.data.clone()))
}

#[tokio::test]
async fn a_session_ended_on_one_replica_is_refused_by_the_others_copy_without_any_notification()
-> Result<(), StoreError> {
    let (a, b, _) = replicas();
    let session = a.create(data(&["main"])).await?;
    assert!(seen_by(&b, &session).await?.is_some(), "B reads it and keeps a copy");
    assert!(seen_by(&b, &session).await?.is_some(), "and serves the copy");

    a.destroy(&session.id).await?;
    assert_eq!(seen_by(&b, &session).await?, None, "refused by B at its next request, clock unmoved");
    assert_eq!(seen_by(&a, &session).await?, None);
    Ok(())
}

#[tokio::test]
async fn a_rewrite_after_the_end_does_not_bring_the_session_back() -> Result<(), StoreError> {
    let (a, b, _) = replicas();
    let session = a.create(data(&["main"])).await?;
    // B loaded it for a request, A ends it, B's request then saves its change.
    let mut loaded = b.load::<Data>(&session.id).await?.expect("live");
    a.destroy(&session.id).await?;
    loaded.data.joined.push("eu".to_owned());
    b.save(&loaded).await?;
    assert_eq!(seen_by(&a, &session).await?, None, "still ended");
    assert_eq!(seen_by(&b, &session).await?, None);
    assert_eq!(a.count().await?, 0, "and not counted");
    Ok(())
}
