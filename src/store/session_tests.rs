//! The session store as two replicas see it when no notification ever reaches either: two stores
//! on one in-process store, each with a change bus of its own (which delivers nothing), and one
//! manual clock, which moves only when a test moves it or a store waits on it. What holds then
//! holds however late or lost the notifications are.

use std::sync::Arc;
use std::time::Duration;

use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use super::{ChangeBus, Grouped, Groups, KvStore, MemoryStore, Session, SessionStore, StoreError};
use crate::clock::{Clock, ManualClock, SharedClock};
use crate::crypto::Keys;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Data {
    joined: Vec<String>,
    left: Vec<String>,
}

impl Grouped for Data {
    fn groups(&self) -> Groups {
        Groups { member_of: self.joined.clone(), left: self.left.clone() }
    }
}

fn data(joined: &[&str], left: &[&str]) -> Data {
    let owned = |ids: &[&str]| ids.iter().map(|s| (*s).to_owned()).collect();
    Data { joined: owned(joined), left: owned(left) }
}

/// Two replicas' session stores on one store, deaf to each other.
fn replicas() -> (SessionStore, SessionStore, KvStore) {
    let (a, b, kv, _) = replicas_with(Duration::ZERO);
    (a, b, kv)
}

/// [`replicas`] with a `session.revocation_window`, and the clock they share.
fn replicas_with(window: Duration) -> (SessionStore, SessionStore, KvStore, Arc<ManualClock>) {
    let kv = KvStore::Memory(MemoryStore::new());
    let keys = Arc::new(Keys::derive(&SecretString::from("a-test-secret-of-enough-length-0123456789")));
    let manual = Arc::new(ManualClock::new());
    let clock: SharedClock = manual.clone();
    let replica = || {
        let (idle, absolute) = (Duration::from_secs(1800), Duration::from_secs(12 * 3600));
        SessionStore::new(kv.clone(), keys.clone(), idle, absolute, clock.clone(), ChangeBus::start(&kv))
            .with_revocation_window(window)
    };
    (replica(), replica(), kv, manual)
}

async fn seen_by(store: &SessionStore, session: &Session<Data>) -> Result<Option<Data>, StoreError> {
    Ok(store.load_shared::<Data>(&session.id).await?.map(|s| s.data.clone()))
}

#[tokio::test]
async fn a_session_ended_on_one_replica_is_refused_by_the_others_copy_without_any_notification()
-> Result<(), StoreError> {
    let (a, b, _) = replicas();
    let session = a.create(data(&["main"], &[])).await?;
    assert!(seen_by(&b, &session).await?.is_some(), "B reads it and keeps a copy");
    assert!(seen_by(&b, &session).await?.is_some(), "and serves the copy");

    a.destroy::<Data>(&session.id).await?;
    assert_eq!(seen_by(&b, &session).await?, None, "refused by B at its next request, clock unmoved");
    assert_eq!(seen_by(&a, &session).await?, None);
    Ok(())
}

#[tokio::test]
async fn a_session_rewritten_on_one_replica_is_served_new_by_the_others_copy_without_any_notification()
-> Result<(), StoreError> {
    let (a, b, _) = replicas();
    let mut session = a.create(data(&["main"], &[])).await?;
    assert_eq!(seen_by(&b, &session).await?, Some(data(&["main"], &[])), "B reads it and keeps a copy");

    session.data = data(&["main", "eu"], &[]);
    a.save(&session).await?;
    assert_eq!(
        seen_by(&b, &session).await?,
        Some(data(&["main", "eu"], &[])),
        "B's next request, clock unmoved"
    );

    // Written again with the same data: still a new value, read again (never an older one).
    a.save(&session).await?;
    session.data = data(&["main"], &["eu"]);
    a.save(&session).await?;
    assert_eq!(seen_by(&b, &session).await?, Some(data(&["main"], &["eu"])));
    assert_eq!(seen_by(&a, &session).await?, Some(data(&["main"], &["eu"])));
    Ok(())
}

/// With a revocation window, a replica that hears nothing serves the copy the store last confirmed
/// without asking again while the window runs, and no longer than the copy's own second: a value
/// deleted behind its back (by no replica: nothing waited) is still served until then.
#[tokio::test]
async fn with_a_revocation_window_a_deaf_replica_asks_again_only_after_the_window() -> Result<(), StoreError>
{
    let (a, b, kv, clock) = replicas_with(Duration::from_millis(500));
    let ms = |n| Duration::from_millis(n);

    // Read at 0 (confirmed then), deleted at 0: served until 500, refused from then on.
    let session = a.create(data(&["main"], &[])).await?;
    let (key, _) = stored_under(&a, &session);
    assert!(seen_by(&b, &session).await?.is_some(), "B reads it at 0");
    kv.delete(&key).await?;
    assert!(seen_by(&b, &session).await?.is_some(), "within the window, B's copy stands");
    clock.advance(ms(499));
    assert!(seen_by(&b, &session).await?.is_some(), "499 ms later too");
    clock.advance(ms(1));
    assert_eq!(seen_by(&b, &session).await?, None, "the window is over: B asks, and refuses it");
    assert_eq!(seen_by(&b, &session).await?, None, "and keeps refusing it");

    // Confirmed again at 600 (read at 0), deleted at 600: refused at 1000, when the copy's own
    // second is over, before the window since the confirmation is.
    let session = a.create(data(&["main"], &[])).await?;
    let (key, _) = stored_under(&a, &session);
    assert!(seen_by(&b, &session).await?.is_some(), "B reads it");
    clock.advance(ms(600));
    assert!(seen_by(&b, &session).await?.is_some(), "asked again, and confirmed");
    kv.delete(&key).await?;
    clock.advance(ms(399));
    assert!(seen_by(&b, &session).await?.is_some(), "399 ms after the confirmation");
    clock.advance(ms(1));
    assert_eq!(seen_by(&b, &session).await?, None, "the copy's second is over: read, and refused");
    Ok(())
}

/// So with a revocation window an ending or a rewrite answers only once the window is over (and a
/// margin): from its answer on, a replica that hears nothing and confirmed its copy a moment
/// before refuses the ended session, and serves the new version of a rewritten one.
#[tokio::test]
async fn with_a_revocation_window_no_deaf_replica_serves_a_session_once_its_ending_or_rewrite_answered()
-> Result<(), StoreError> {
    let (a, b, _, clock) = replicas_with(Duration::from_millis(500));
    let waited = |since: std::time::SystemTime| clock.now().duration_since(since).unwrap_or_default();

    let session = a.create(data(&["main"], &[])).await?;
    assert!(seen_by(&b, &session).await?.is_some(), "B reads it, and its copy is confirmed now");
    let asked = clock.now();
    a.destroy::<Data>(&session.id).await?;
    assert!(waited(asked) >= Duration::from_millis(505), "the ending waited: {:?}", waited(asked));
    assert_eq!(seen_by(&b, &session).await?, None, "B's next request after the answer is refused");
    assert_eq!(seen_by(&a, &session).await?, None);

    let mut session = a.create(data(&["main"], &[])).await?;
    let created = clock.now();
    assert_eq!(waited(created), Duration::ZERO, "a new session waits for nothing: nobody has a copy");
    assert_eq!(seen_by(&b, &session).await?, Some(data(&["main"], &[])), "B's copy, confirmed now");
    session.data = data(&["main", "eu"], &[]);
    let asked = clock.now();
    a.save(&session).await?;
    assert!(waited(asked) >= Duration::from_millis(505), "the rewrite waited: {:?}", waited(asked));
    assert_eq!(seen_by(&b, &session).await?, Some(data(&["main", "eu"], &[])), "the new version at once");
    Ok(())
}

/// Without a window, nothing waits: every request asks the store instead.
#[tokio::test]
async fn without_a_revocation_window_endings_and_rewrites_answer_without_waiting() -> Result<(), StoreError> {
    let (a, b, _, clock) = replicas_with(Duration::ZERO);
    let mut session = a.create(data(&["main"], &[])).await?;
    assert!(seen_by(&b, &session).await?.is_some());
    let asked = clock.now();
    session.data = data(&["main", "eu"], &[]);
    a.save(&session).await?;
    a.destroy::<Data>(&session.id).await?;
    assert_eq!(clock.now(), asked, "the clock did not move");
    assert_eq!(seen_by(&b, &session).await?, None);
    Ok(())
}

#[tokio::test]
async fn the_revocation_window_is_capped_by_the_copies_window() {
    let (a, _, _, _) = replicas_with(Duration::from_secs(30));
    assert_eq!(a.revocation_window_ms(), 1000);
    let (a, _, _, _) = replicas_with(Duration::ZERO);
    assert_eq!(a.revocation_window_ms(), 0);
    assert_eq!(crate::config::MAX_REVOCATION_WINDOW, super::SESSION_FRESH_FOR, "what check-config allows");
}

#[tokio::test]
async fn a_rewrite_after_the_end_does_not_bring_the_session_back() -> Result<(), StoreError> {
    let (a, b, _) = replicas();
    let session = a.create(data(&["main"], &[])).await?;
    // B loaded it for a request, A ends it, B's request then saves its change.
    let mut loaded = b.load::<Data>(&session.id).await?.expect("live");
    a.destroy::<Data>(&session.id).await?;
    loaded.data.joined.push("eu".to_owned());
    b.save(&loaded).await?;
    assert_eq!(seen_by(&a, &session).await?, None, "still ended");
    assert_eq!(seen_by(&b, &session).await?, None);
    assert_eq!(a.count().await?, 0, "and not counted");
    assert_eq!(a.count_group("eu").await?, 0);
    Ok(())
}

#[tokio::test]
async fn sessions_are_counted_by_group_as_they_join_leave_and_end() -> Result<(), StoreError> {
    let (a, b, _) = replicas();
    let first = a.create(data(&["main", "eu"], &[])).await?;
    let second = b.create(data(&["main"], &["eu"])).await?;
    let counts = |store: SessionStore| async move {
        Ok::<_, StoreError>((
            store.count().await?,
            store.count_group("main").await?,
            store.count_group("eu").await?,
        ))
    };
    assert_eq!(counts(b.clone()).await?, (2, 2, 1));

    // The first leaves `eu` (a manager ended its session there), on the other replica.
    let mut loaded = b.load::<Data>(&first.id).await?.expect("live");
    loaded.data = data(&["main"], &["eu"]);
    b.save(&loaded).await?;
    assert_eq!(counts(a.clone()).await?, (2, 2, 0));

    // Reading the second does not put it in a group it is not in.
    assert!(seen_by(&a, &second).await?.is_some());
    assert_eq!(counts(a.clone()).await?, (2, 2, 0));

    a.destroy::<Data>(&second.id).await?;
    assert_eq!(counts(b.clone()).await?, (1, 1, 0));
    b.destroy::<Data>(&first.id).await?;
    assert_eq!(counts(a).await?, (0, 0, 0));
    Ok(())
}

/// The key a session is stored under, and the keys that seal it (those of `replicas`).
fn stored_under(store: &SessionStore, session: &Session<Data>) -> (String, Keys) {
    let key = format!("{}{}", super::SESSION_PREFIX, store.reference(&session.id));
    (key, Keys::derive(&SecretString::from("a-test-secret-of-enough-length-0123456789")))
}

#[tokio::test]
async fn a_session_sealed_in_the_previous_format_is_signed_out_and_still_leaves_its_groups()
-> Result<(), StoreError> {
    let (a, b, kv) = replicas();
    let session = a.create(data(&["main", "eu"], &[])).await?;
    // As the previous version sealed it: JSON, with the groups beside the data.
    let (key, keys) = stored_under(&a, &session);
    let previous = serde_json::json!({
        "created_at": session.created_at,
        "data": { "joined": ["main", "eu"], "left": [] },
        "groups": ["main", "eu"],
    });
    let sealed = keys.seal(key.as_bytes(), previous.to_string().as_bytes()).expect("sealed");
    kv.set(&key, &sealed, Some(Duration::from_secs(60))).await?;

    assert_eq!(seen_by(&b, &session).await?, None, "signed out");
    assert!(a.peek::<Data>(&a.reference(&session.id)).await?.is_none(), "not listed");
    assert!(kv.get(&key).await?.is_some(), "left as it is: a rollback finds it");
    assert_eq!((a.count_group("main").await?, a.count_group("eu").await?), (1, 1));
    a.destroy::<Data>(&session.id).await?;
    assert_eq!((a.count().await?, a.count_group("main").await?, a.count_group("eu").await?), (0, 0, 0));
    Ok(())
}

#[tokio::test]
async fn a_tampered_or_unknown_payload_is_refused() -> Result<(), StoreError> {
    let (a, b, kv) = replicas();
    let session = a.create(data(&["main"], &[])).await?;
    let (key, keys) = stored_under(&a, &session);
    let stored = kv.get(&key).await?.expect("stored");
    assert_eq!(keys.open(key.as_bytes(), &stored).expect("opens").first(), Some(&1), "format 1");

    // Any byte changed, the format byte's included (it is sealed with the rest).
    for at in [0, 24, stored.len() / 2, stored.len() - 1] {
        let mut tampered = stored.clone();
        tampered[at] ^= 0x01;
        kv.set(&key, &tampered, Some(Duration::from_secs(60))).await?;
        assert_eq!(seen_by(&b, &session).await?, None, "byte {at} changed");
    }
    // Sealed under another session's key: moved, not believed.
    let other = a.create(data(&["main"], &[])).await?;
    let (other_key, _) = stored_under(&a, &other);
    kv.set(&key, &kv.get(&other_key).await?.expect("stored"), Some(Duration::from_secs(60))).await?;
    assert_eq!(seen_by(&b, &session).await?, None, "another session's value");
    // A format this version does not know, and data that is not a session.
    for plain in [&[2, 0, 0][..], &[1, 0xff, 0xff, 0xff], b""] {
        let sealed = keys.seal(key.as_bytes(), plain).expect("sealed");
        kv.set(&key, &sealed, Some(Duration::from_secs(60))).await?;
        assert_eq!(seen_by(&b, &session).await?, None, "{plain:?}");
    }
    Ok(())
}
