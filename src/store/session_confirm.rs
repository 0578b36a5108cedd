//! One store question answers every request of a session that is waiting for it.
//!
//! A request served from a session's in-process copy first asks the store which version of the
//! session it holds ([`super::SessionStore`], step 3 of its argument): the question must be
//! *sent after the request started*, or a session ended or rewritten a moment before could be
//! served as it was. An API client with many connections sends many requests of one session at
//! once; each asking on its own makes that round trip the largest cost of a routed call. So the
//! requests of one session share questions, without ever sharing one that was sent before they
//! arrived:
//!
//! - no question in flight: the request sends one and waits for it;
//! - one in flight (sent before this request arrived, so of no use to it): the request waits for
//!   the *next* question, which is sent as soon as the one in flight has been answered, and which
//!   every request arriving meanwhile waits for too.
//!
//! So at most two questions per session and thread exist at a time, one in flight and one
//! waiting to be sent, and a burst of N requests costs about two questions per thread instead of
//! N. Questions are shared within a thread only: a request thread runs a single-threaded runtime
//! (`web::front`), and waking a request on another thread would cost about what the question
//! saves. Each question runs as a task of its own, so it completes (and leaves the table) even
//! when every request waiting for it has gone; a question abandoned unanswered (its runtime
//! ended) is cleared by the first request that awaits it, which is refused, so a stale entry
//! cannot answer later requests.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::ThreadId;

use foldhash::fast::RandomState;
use futures_util::future::{BoxFuture, FutureExt, Shared};

use super::StoreError;

/// This thread's id (`thread::current()` would count a reference to the thread's handle up and
/// down on every call).
fn this_thread() -> ThreadId {
    thread_local! {
        static ID: ThreadId = std::thread::current().id();
    }
    ID.with(|id| *id)
}

/// A question's answer (an `A`), shared by every request waiting for it.
type Answer<A> = Shared<BoxFuture<'static, Result<A, StoreError>>>;

struct Question<A> {
    id: u64,
    answer: Answer<A>,
}

impl<A> Clone for Question<A> {
    fn clone(&self) -> Self {
        Self { id: self.id, answer: self.answer.clone() }
    }
}

/// A session's questions: the one sent, and the one to send after it.
struct Round<A> {
    in_flight: Option<Question<A>>,
    next: Option<Question<A>>,
}

impl<A> Default for Round<A> {
    fn default() -> Self {
        Self { in_flight: None, next: None }
    }
}

/// A session's store key, on one thread.
type Slot = (ThreadId, Arc<str>);

/// The questions about sessions in flight, whose answers are `A`s.
pub(super) struct Confirmations<A> {
    rounds: Mutex<HashMap<Slot, Round<A>, RandomState>>,
    ids: AtomicU64,
}

impl<A> Default for Confirmations<A> {
    fn default() -> Self {
        Self { rounds: Mutex::default(), ids: AtomicU64::new(0) }
    }
}

impl<A: Clone + Send + Sync + 'static> Confirmations<A> {
    /// The store's answer about `key`, to a question sent after this call began: `ask` makes one
    /// (it is called only when this request is the one to make it). Its future must send nothing
    /// until it is awaited (an `async` block): a question waiting its turn goes out only once the
    /// one in flight is answered, and requests that arrive meanwhile count on it being sent after
    /// them.
    pub async fn answer<F, Fut>(self: &Arc<Self>, key: &Arc<str>, ask: F) -> Result<A, StoreError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<A, StoreError>> + Send + 'static,
    {
        let slot: Slot = (this_thread(), key.clone());
        let question = {
            let mut rounds = self.lock();
            let round = rounds.entry(slot.clone()).or_default();
            if let Some(next) = &round.next {
                next.clone()
            } else if let Some(in_flight) = &round.in_flight {
                let next = self.start(slot, Some(in_flight.answer.clone()), ask);
                round.next = Some(next.clone());
                next
            } else {
                let now = self.start(slot, None, ask);
                round.in_flight = Some(now.clone());
                now
            }
        };
        // (The question leaves the table by itself, answered or abandoned: nothing to do after.)
        question.answer.await
    }

    /// A question sent now, or once `after` has been answered.
    fn start<F, Fut>(self: &Arc<Self>, slot: Slot, after: Option<Answer<A>>, ask: F) -> Question<A>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<A, StoreError>> + Send + 'static,
    {
        let id = self.ids.fetch_add(1, Ordering::Relaxed);
        let slot_of_answer = slot.clone();
        let table = self.clone();
        // (A future does nothing until awaited: the question goes out below, in its turn.)
        let asking = ask();
        let task = tokio::spawn(async move {
            if let Some(previous) = after {
                let _ = previous.await;
                // Sent from here on: later requests must wait for the question after this one.
                let mut rounds = table.lock();
                if let Some(round) = rounds.get_mut(&slot)
                    && round.next.as_ref().is_some_and(|q| q.id == id)
                {
                    round.in_flight = round.next.take();
                }
            }
            let answer = asking.await;
            table.finished(&slot, id);
            answer
        });
        // Its task takes an answered question off the table. One abandoned (its runtime ended
        // before it was answered) is taken off by the first request that awaits it, here, once.
        let table = self.clone();
        let answer = async move {
            task.await.unwrap_or_else(|_| {
                table.finished(&slot_of_answer, id);
                Err(StoreError::Unavailable("the store question was abandoned".to_owned()))
            })
        };
        Question { id, answer: answer.boxed().shared() }
    }

    /// Question `id` of `slot` is answered (or abandoned): no later request may wait for it.
    fn finished(&self, slot: &Slot, id: u64) {
        let mut rounds = self.lock();
        let Some(round) = rounds.get_mut(slot) else { return };
        if round.in_flight.as_ref().is_some_and(|q| q.id == id) {
            round.in_flight = None;
        }
        if round.next.as_ref().is_some_and(|q| q.id == id) {
            round.next = None;
        }
        if round.in_flight.is_none() && round.next.is_none() {
            rounds.remove(slot);
        }
    }

    /// How many sessions have a question in flight or waiting (for tests).
    #[cfg(test)]
    fn pending(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<Slot, Round<A>, RandomState>> {
        // The table holds no invariant a panic could break halfway.
        self.rounds.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, AtomicUsize};

    use tokio::sync::Semaphore;

    use super::*;

    /// A store that answers each question with whether the key existed *when the question was
    /// sent*, and holds the answer until the test lets it go.
    #[derive(Clone)]
    struct Gated {
        exists: Arc<AtomicBool>,
        sent: Arc<AtomicUsize>,
        release: Arc<Semaphore>,
    }

    impl Default for Gated {
        fn default() -> Self {
            Self { exists: Arc::default(), sent: Arc::default(), release: Arc::new(Semaphore::new(0)) }
        }
    }

    impl Gated {
        fn ask(&self) -> impl FnOnce() -> BoxFuture<'static, Result<bool, StoreError>> + Send + 'static {
            let store = self.clone();
            move || {
                async move {
                    let existed = store.exists.load(Ordering::SeqCst);
                    store.sent.fetch_add(1, Ordering::SeqCst);
                    let _permit = store.release.acquire().await;
                    Ok(existed)
                }
                .boxed()
            }
        }

        fn sent(&self) -> usize {
            self.sent.load(Ordering::SeqCst)
        }
    }

    /// A request's existence check, in a task of its own.
    fn request(
        table: &Arc<Confirmations<bool>>,
        key: &Arc<str>,
        store: &Gated,
    ) -> tokio::task::JoinHandle<Result<bool, StoreError>> {
        let (table, key, ask) = (table.clone(), key.clone(), store.ask());
        tokio::spawn(async move { table.answer(&key, ask).await })
    }

    async fn until(mut condition: impl FnMut() -> bool) {
        for _ in 0..1000 {
            if condition() {
                return;
            }
            tokio::task::yield_now().await;
        }
        panic!("condition never met");
    }

    #[tokio::test]
    async fn a_request_arriving_after_the_question_was_sent_waits_for_the_next_one() {
        let table = Arc::new(Confirmations::<bool>::default());
        let key: Arc<str> = Arc::from("session:a");
        let store = Gated::default();
        store.exists.store(true, Ordering::SeqCst);

        let first = request(&table, &key, &store);
        until(|| store.sent() == 1).await;
        // The session ends while the first question is in flight; then three requests arrive.
        store.exists.store(false, Ordering::SeqCst);
        let later: Vec<_> = (0..3).map(|_| request(&table, &key, &store)).collect();
        for _ in 0..20 {
            tokio::task::yield_now().await;
        }
        assert_eq!(store.sent(), 1, "the next question waits for the answer in flight");

        store.release.add_permits(10);
        assert!(first.await.unwrap().unwrap(), "the first request was asked about before the end");
        for later_request in later {
            assert!(!later_request.await.unwrap().unwrap(), "a request that began after the end is refused");
        }
        assert_eq!(store.sent(), 2, "three later requests shared one question");
        assert_eq!(table.pending(), 0, "nothing is left in the table");
    }

    #[tokio::test]
    async fn sequential_requests_each_send_their_own_question() {
        let table = Arc::new(Confirmations::<bool>::default());
        let key: Arc<str> = Arc::from("session:b");
        let store = Gated::default();
        store.release.add_permits(100);
        store.exists.store(true, Ordering::SeqCst);
        assert!(table.answer(&key, store.ask()).await.unwrap());
        store.exists.store(false, Ordering::SeqCst);
        assert!(!table.answer(&key, store.ask()).await.unwrap());
        assert_eq!(store.sent(), 2);
        assert_eq!(table.pending(), 0);
    }

    #[tokio::test]
    async fn a_question_completes_when_its_requests_have_gone() {
        let table = Arc::new(Confirmations::<bool>::default());
        let key: Arc<str> = Arc::from("session:c");
        let store = Gated::default();
        store.exists.store(true, Ordering::SeqCst);
        let gone = request(&table, &key, &store);
        until(|| store.sent() == 1).await;
        gone.abort();
        store.release.add_permits(10);
        until(|| table.pending() == 0).await;
        store.exists.store(false, Ordering::SeqCst);
        assert!(!table.answer(&key, store.ask()).await.unwrap(), "a fresh question, not the old answer");
    }

    /// A thread's runtime that ends with questions unanswered (one in flight, one waiting) leaves
    /// them listed; the next request of the session on that thread is refused (the store did not
    /// answer), and takes them off, so the one after it is asked about afresh.
    #[test]
    fn questions_abandoned_with_their_runtime_answer_no_later_request() {
        let runtime = || tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let table = Arc::new(Confirmations::<bool>::default());
        let key: Arc<str> = Arc::from("session:e");
        let store = Gated::default();
        store.exists.store(true, Ordering::SeqCst);
        let first = runtime();
        first.block_on(async {
            let _in_flight = request(&table, &key, &store);
            until(|| store.sent() == 1).await;
            let _waiting = request(&table, &key, &store);
            for _ in 0..20 {
                tokio::task::yield_now().await;
            }
        });
        drop(first);
        assert_eq!(table.pending(), 1, "the unanswered questions are still listed");

        store.exists.store(false, Ordering::SeqCst);
        store.release.add_permits(10);
        let second = runtime();
        let refused = second.block_on(table.answer(&key, store.ask()));
        assert!(matches!(refused, Err(StoreError::Unavailable(_))), "{refused:?}");
        let asked = second.block_on(table.answer(&key, store.ask()));
        assert!(!asked.unwrap(), "a fresh question's answer, not an abandoned one");
        assert_eq!(store.sent(), 2);
        assert_eq!(table.pending(), 0);
    }

    #[tokio::test]
    async fn an_error_reaches_every_waiting_request_and_is_not_kept() {
        let table = Arc::new(Confirmations::<bool>::default());
        let key: Arc<str> = Arc::from("session:d");
        let failing = || async { Err::<bool, _>(StoreError::Unavailable("down".to_owned())) };
        assert!(matches!(table.answer(&key, failing).await, Err(StoreError::Unavailable(_))));
        assert!(table.answer(&key, || async { Ok(true) }).await.unwrap());
        assert_eq!(table.pending(), 0);
    }
}
