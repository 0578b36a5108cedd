//! A forwarded request body on its way to a manager, and how long the manager may keep the
//! call waiting: a manager that stops taking the body, or that does not answer once it has all
//! of it, is timed out; a caller that uploads slowly is not the manager's fault and is not.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::Stream;

/// Who the call is waiting for.
#[derive(Debug, Clone, Copy)]
enum Phase {
    /// The manager, since then: to take the request (head or a body chunk handed over).
    Manager(Instant),
    /// The caller, for more of the body.
    Caller,
    /// The body is out (or was given up), since then: now the answer is due.
    Sent(Instant),
}

/// The shared view of a call's progress.
#[derive(Clone)]
pub(crate) struct Progress(Kind);

#[derive(Clone)]
enum Kind {
    /// A call without a body: sent with its head, the answer due since (nothing shared, nothing
    /// allocated).
    Sent(Instant),
    /// A call whose body goes out as the caller sends it, its phase shared with the body.
    Body(Arc<Mutex<Phase>>),
}

impl Progress {
    /// A call whose body is yet to be sent (`has_body`) or that has none.
    pub fn new(has_body: bool) -> Self {
        let now = Instant::now();
        Self(if has_body { Kind::Body(Arc::new(Mutex::new(Phase::Manager(now)))) } else { Kind::Sent(now) })
    }

    fn set(&self, phase: Phase) {
        // (Only a body sets a phase; a call without one has none to change.)
        if let Kind::Body(shared) = &self.0 {
            *shared.lock().unwrap_or_else(PoisonError::into_inner) = phase;
        }
    }

    fn get(&self) -> Phase {
        match &self.0 {
            Kind::Sent(since) => Phase::Sent(*since),
            Kind::Body(shared) => *shared.lock().unwrap_or_else(PoisonError::into_inner),
        }
    }

    /// Whether the request body is waiting for the caller to send more.
    pub fn waiting_for_caller(&self) -> bool {
        matches!(self.get(), Phase::Caller)
    }

    /// Resolves when the manager has kept the call waiting for `timeout`. While the caller is
    /// the one being waited for, it looks again every quarter of `timeout`.
    pub async fn stalled(&self, timeout: Duration) {
        loop {
            let due = match self.get() {
                Phase::Manager(since) | Phase::Sent(since) => Some(since + timeout),
                Phase::Caller => None,
            };
            match due {
                Some(at) if Instant::now() >= at => return,
                Some(at) => tokio::time::sleep_until(tokio::time::Instant::from_std(at)).await,
                None => tokio::time::sleep((timeout / 4).max(Duration::from_millis(10))).await,
            }
        }
    }

    /// The request body, reporting each step to this progress.
    pub fn watch<S>(&self, body: S) -> WatchedBody<S> {
        WatchedBody { body, progress: self.clone(), done: false }
    }
}

/// A request body that reports to its [`Progress`]: asked for more → waiting for the caller;
/// a chunk handed over → waiting for the manager to take it; the end → the answer is due.
pub(crate) struct WatchedBody<S> {
    body: S,
    progress: Progress,
    done: bool,
}

impl<S: Stream<Item = Result<Bytes, io::Error>> + Unpin> Stream for WatchedBody<S> {
    type Item = Result<Bytes, io::Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let polled = Pin::new(&mut self.body).poll_next(cx);
        let phase = match &polled {
            Poll::Pending => Phase::Caller,
            Poll::Ready(Some(Ok(_))) => Phase::Manager(Instant::now()),
            Poll::Ready(_) => {
                self.done = true;
                Phase::Sent(Instant::now())
            }
        };
        self.progress.set(phase);
        polled
    }
}

impl<S> Drop for WatchedBody<S> {
    /// The HTTP client drops the body when it has all it needs (a known length reached) or
    /// gives up on it: either way the answer is due from now.
    fn drop(&mut self) {
        if !self.done {
            self.progress.set(Phase::Sent(Instant::now()));
        }
    }
}
