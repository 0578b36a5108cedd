//! The connections of routed calls: hyper's pooled client, one per manager and thread.
//!
//! Portico's own calls to a manager go through reqwest. Routed calls are the hot path and go to
//! hyper (the engine under reqwest) directly: no redirect policy, retry layer or URL re-parsing
//! per call. And every thread keeps a pool of its own: a pooled connection is driven by a task on
//! the runtime that opened it, and actix runs one single-threaded runtime per worker, so a pool
//! shared by all workers makes most calls wake another thread twice (request out, answer back).
//! Like nginx's upstream keep-alive, each worker thus reuses its own connections.

use std::cell::RefCell;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};

/// A routed request's body as hyper sends it.
pub(crate) type RequestBody = BoxBody<Bytes, io::Error>;

pub(crate) type HttpClient = Client<HttpsConnector<HttpConnector>, RequestBody>;

/// How long an unused pooled connection is kept open (as reqwest does for Portico's own calls).
const IDLE_CONNECTION: Duration = Duration::from_secs(90);

/// What every thread's client for one manager is built from.
pub(crate) struct ForwardPool {
    id: u64,
    tls: Arc<rustls::ClientConfig>,
    connect_timeout: Duration,
}

impl std::fmt::Debug for ForwardPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ForwardPool").field("id", &self.id).finish_non_exhaustive()
    }
}

thread_local! {
    /// This thread's clients: (pool id, the pool while it lives, its client here).
    static CLIENTS: RefCell<Vec<(u64, Weak<ForwardPool>, HttpClient)>> = const { RefCell::new(Vec::new()) };
}

impl ForwardPool {
    pub fn new(tls: rustls::ClientConfig, connect_timeout: Duration) -> Arc<Self> {
        static NEXT_ID: AtomicU64 = AtomicU64::new(0);
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        Arc::new(Self { id, tls: Arc::new(tls), connect_timeout })
    }

    /// This thread's client for this manager (cheap to clone; connections are shared by clones).
    pub fn client(self: &Arc<Self>) -> HttpClient {
        CLIENTS.with(|clients| {
            let mut clients = clients.borrow_mut();
            if let Some((_, _, client)) = clients.iter().find(|(id, ..)| *id == self.id) {
                return client.clone();
            }
            // Managers replaced since (an admin edited or removed them) leave their clients here.
            clients.retain(|(_, pool, _)| pool.strong_count() > 0);
            let client = self.build();
            clients.push((self.id, Arc::downgrade(self), client.clone()));
            client
        })
    }

    fn build(&self) -> HttpClient {
        let mut http = HttpConnector::new();
        // `https` URLs are the TLS layer's; this one only opens the TCP connection.
        http.enforce_http(false);
        // Small requests and answers go out at once instead of waiting for an ACK (Nagle).
        http.set_nodelay(true);
        http.set_connect_timeout(Some(self.connect_timeout));
        // Plain `http` managers speak HTTP/1.1; over TLS, HTTP/2 when the manager offers it (ALPN).
        let connector = HttpsConnector::from((http, self.tls.clone()));
        Client::builder(TokioExecutor::new())
            .pool_idle_timeout(IDLE_CONNECTION)
            .pool_timer(TokioTimer::new())
            .timer(TokioTimer::new())
            .build(connector)
    }
}
