//! The connections of routed calls: one set per manager and thread.
//!
//! Portico's own calls to a manager go through reqwest. Routed calls are the hot path and go to
//! hyper (the engine under reqwest) directly: no redirect policy, retry layer or URL re-parsing
//! per call. And every thread keeps connections of its own: a connection is driven by a task on
//! the runtime that opened it, and the public listener runs one single-threaded runtime per
//! serving thread (`web::front`), so connections shared by all threads make most calls wake
//! another thread twice (request out, answer back). Like nginx's upstream keep-alive, each
//! serving thread thus reuses its own connections.
//!
//! To a plain `http` manager, a thread's connections are a list of HTTP/1.1 connections
//! ([`Connections`]): a call takes the most recently used idle one or opens one, and puts it
//! back as soon as the answer's head is in (it is idle again once the body has been read). A
//! shared pool (hyper-util's) paid for a lock, a hashed lookup by scheme and host, and a task per
//! call to wait for the connection to be idle again, for nothing a single thread needs. A
//! call's body goes to the manager straight from the caller's connection ([`LocalBody`]). Over
//! TLS, where HTTP/2 may be negotiated, the thread's calls go through hyper-util's pooled client,
//! the body as it is, boxed.
//!
//! Measured against awc, actix's own client (the server's `http` types on both sides, no
//! header conversion, each call driven in its own task), this costs fewer instructions per call
//! (67.2k against 76.5k per routed GET, `scripts/bench instructions`; docs/benchmarks.md).

use std::cell::{Cell, RefCell};
use std::error::Error as StdError;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::{Stream, TryStreamExt};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Empty, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::client::conn::http1;
use hyper::header::{HOST, HeaderValue};
use hyper::{Request, Response};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};

use super::ForwardBody;
use super::upload::{Progress, WatchedBody};

/// A routed request's body on this thread's own connections: the caller's body itself (or none),
/// read as the manager takes it, without a box of its own.
struct LocalBody(Option<WatchedBody<ForwardBody>>);

impl hyper::body::Body for LocalBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        match self.0.as_mut() {
            Some(body) => Pin::new(body).poll_next(cx).map_ok(Frame::data),
            None => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.0.is_none()
    }
}

/// A routed request's body on hyper-util's client.
type SharedBody = UnsyncBoxBody<Bytes, io::Error>;

type TlsClient = Client<HttpsConnector<HttpConnector>, SharedBody>;

/// How long an unused connection is kept open (as reqwest does for Portico's own calls).
const IDLE_CONNECTION: Duration = Duration::from_secs(90);

/// How often a thread lets go of its closed and long-unused connections to a manager.
const SWEEP_EVERY: Duration = Duration::from_secs(1);

/// A call that got no answer.
#[derive(Debug)]
pub(crate) struct SendFailure {
    /// The connection could not be opened (nothing was sent).
    pub connect: bool,
    pub error: Box<dyn StdError + Send + Sync>,
}

impl SendFailure {
    fn connecting(error: impl Into<Box<dyn StdError + Send + Sync>>) -> Self {
        Self { connect: true, error: error.into() }
    }
}

/// What every thread's connections to one manager are made from.
pub(crate) struct ForwardPool {
    id: u64,
    connect_timeout: Duration,
    target: Target,
}

/// How the manager is reached.
enum Target {
    /// A plain `http` manager: this thread's own HTTP/1.1 connections.
    Plain(Arc<PlainTarget>),
    /// Over TLS: hyper-util's client, `origin` being `https://{host}[:{port}]`.
    Tls { config: Arc<rustls::ClientConfig>, origin: String },
}

struct PlainTarget {
    host: String,
    port: u16,
    /// `Host`, as the URL names the manager.
    host_header: HeaderValue,
}

impl std::fmt::Debug for ForwardPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ForwardPool").field("id", &self.id).finish_non_exhaustive()
    }
}

/// A thread's connections to one manager.
#[derive(Clone)]
enum ThreadClient {
    Plain(Rc<Connections>),
    Tls(Rc<TlsClient>),
}

thread_local! {
    /// This thread's clients: (pool id, the pool while it lives, its client here).
    static CLIENTS: RefCell<Vec<(u64, Weak<ForwardPool>, ThreadClient)>> = const { RefCell::new(Vec::new()) };
}

impl ForwardPool {
    /// The connections to the manager at `url` (its scheme, host and port).
    pub fn new(url: &url::Url, tls: rustls::ClientConfig, connect_timeout: Duration) -> Arc<Self> {
        static NEXT_ID: AtomicU64 = AtomicU64::new(0);
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        let target = match (url.scheme() == "http").then(|| plain_target(url)).flatten() {
            Some(plain) => Target::Plain(Arc::new(plain)),
            None => Target::Tls { config: Arc::new(tls), origin: url.origin().ascii_serialization() },
        };
        Arc::new(Self { id, connect_timeout, target })
    }

    /// What a call's URI starts with, before its path and query: nothing on this thread's own
    /// HTTP/1.1 connections (origin-form), `https://{host}[:{port}]` for hyper-util's client.
    pub fn origin(&self) -> &str {
        match &self.target {
            Target::Plain(_) => "",
            Target::Tls { origin, .. } => origin,
        }
    }

    /// Sends `head` (its URI starting with [`Self::origin`]) with `body` on this thread's
    /// connections, the body's steps reported to `progress`. Runs on the serving thread's runtime
    /// (`web::front`'s, or any with a `LocalSet`): a plain manager's connections are driven by
    /// tasks local to their thread.
    pub async fn send(
        self: &Arc<Self>,
        head: Request<()>,
        body: Option<ForwardBody>,
        progress: &Progress,
    ) -> Result<Response<Incoming>, SendFailure> {
        match self.client() {
            ThreadClient::Plain(connections) => {
                let body = LocalBody(body.map(|body| progress.watch(body)));
                connections.send(head.map(|()| body)).await
            }
            ThreadClient::Tls(client) => {
                let body: SharedBody = match body {
                    Some(body) => StreamBody::new(progress.watch(body).map_ok(Frame::data)).boxed_unsync(),
                    None => Empty::new().map_err(|never| match never {}).boxed_unsync(),
                };
                client
                    .request(head.map(|()| body))
                    .await
                    .map_err(|e| SendFailure { connect: e.is_connect(), error: e.into() })
            }
        }
    }

    /// This thread's client for this manager.
    fn client(self: &Arc<Self>) -> ThreadClient {
        CLIENTS.with(|clients| {
            let mut clients = clients.borrow_mut();
            if let Some((_, _, client)) = clients.iter().find(|(id, ..)| *id == self.id) {
                return client.clone();
            }
            // Managers replaced since (an admin edited or removed them) leave their clients here.
            clients.retain(|(_, pool, _)| pool.strong_count() > 0);
            let client = match &self.target {
                Target::Plain(target) => ThreadClient::Plain(Rc::new(Connections {
                    target: target.clone(),
                    connect_timeout: self.connect_timeout,
                    open: RefCell::default(),
                    swept: Cell::new(Instant::now()),
                })),
                Target::Tls { config, .. } => ThreadClient::Tls(Rc::new(self.tls_client(config.clone()))),
            };
            clients.push((self.id, Arc::downgrade(self), client.clone()));
            client
        })
    }

    fn tls_client(&self, config: Arc<rustls::ClientConfig>) -> TlsClient {
        let mut http = HttpConnector::new();
        // `https` URLs are the TLS layer's; this one only opens the TCP connection.
        http.enforce_http(false);
        // Small requests and answers go out at once instead of waiting for an ACK (Nagle).
        http.set_nodelay(true);
        http.set_connect_timeout(Some(self.connect_timeout));
        // HTTP/2 when the manager offers it (ALPN), HTTP/1.1 otherwise.
        let connector = HttpsConnector::from((http, config));
        Client::builder(TokioExecutor::new())
            .pool_idle_timeout(IDLE_CONNECTION)
            .pool_timer(TokioTimer::new())
            .timer(TokioTimer::new())
            .build(connector)
    }
}

fn plain_target(url: &url::Url) -> Option<PlainTarget> {
    let host = match url.host()? {
        url::Host::Domain(name) => name.to_owned(),
        url::Host::Ipv4(ip) => ip.to_string(),
        url::Host::Ipv6(ip) => ip.to_string(),
    };
    let port = url.port_or_known_default()?;
    let authority = match url.port() {
        Some(port) => format!("{}:{port}", url.host_str()?),
        None => url.host_str()?.to_owned(),
    };
    Some(PlainTarget { host, port, host_header: HeaderValue::from_str(&authority).ok()? })
}

/// A thread's HTTP/1.1 connections to one plain `http` manager.
struct Connections {
    target: Arc<PlainTarget>,
    connect_timeout: Duration,
    /// The most recently used last.
    open: RefCell<Vec<Open>>,
    /// When closed and long-unused connections were last let go.
    swept: Cell<Instant>,
}

struct Open {
    sender: http1::SendRequest<LocalBody>,
    /// When its last call was sent.
    used: Instant,
}

impl Open {
    /// Idle, and unused since before `time`.
    fn idle_since_before(&self, time: Option<Instant>) -> bool {
        self.sender.is_ready() && time.is_some_and(|t| self.used < t)
    }
}

impl Connections {
    async fn send(&self, mut request: Request<LocalBody>) -> Result<Response<Incoming>, SendFailure> {
        request.headers_mut().insert(HOST, self.target.host_header.clone());
        let mut kept = self.idle();
        loop {
            let reused = kept.is_some();
            let mut sender = match kept.take() {
                Some(sender) => sender,
                // (Boxed: opening a connection is rare, and inline it would make every call's
                // future, moved at each level above, as large as the connect and handshake.)
                None => Box::pin(connect(&self.target, self.connect_timeout)).await?,
            };
            match sender.try_send_request(request).await {
                Ok(answer) => {
                    // Idle again once the answer's body has been read.
                    self.open.borrow_mut().push(Open { sender, used: Instant::now() });
                    return Ok(answer);
                }
                Err(mut failed) => match failed.take_message() {
                    // A kept-alive connection the manager closed as the request was about to go
                    // out on it: the request never left, so it goes out on a new connection.
                    Some(unsent) if reused => request = unsent,
                    _ => return Err(SendFailure { connect: false, error: failed.into_error().into() }),
                },
            }
        }
    }

    /// The most recently used connection that is idle, if any; one unused for
    /// [`IDLE_CONNECTION`] is let go instead. The others closed or unused that long are let go
    /// once every [`SWEEP_EVERY`], not on each call: the list is as long as the most calls the
    /// thread has had in flight, and a connection still reading an answer stays.
    fn idle(&self) -> Option<http1::SendRequest<LocalBody>> {
        let mut open = self.open.borrow_mut();
        let now = Instant::now();
        let unused_since = now.checked_sub(IDLE_CONNECTION);
        if now.saturating_duration_since(self.swept.get()) >= SWEEP_EVERY {
            self.swept.set(now);
            open.retain(|c| !(c.sender.is_closed() || c.idle_since_before(unused_since)));
        }
        // (A closed connection is never ready.)
        while let Some(idle) = open.iter().rposition(|c| c.sender.is_ready()) {
            let idle = open.remove(idle);
            if !idle.idle_since_before(unused_since) {
                return Some(idle.sender);
            }
        }
        None
    }
}

/// Opens a connection (within `timeout`) and starts the task that drives it, on this thread.
async fn connect(
    target: &PlainTarget,
    timeout: Duration,
) -> Result<http1::SendRequest<LocalBody>, SendFailure> {
    let connecting = tokio::net::TcpStream::connect((target.host.as_str(), target.port));
    let stream = tokio::time::timeout(timeout, connecting)
        .await
        .map_err(|_| SendFailure::connecting(io::Error::from(io::ErrorKind::TimedOut)))?
        .map_err(SendFailure::connecting)?;
    // Small requests and answers go out at once instead of waiting for an ACK (Nagle).
    stream.set_nodelay(true).map_err(SendFailure::connecting)?;
    let (sender, connection) =
        http1::Builder::new().handshake(TokioIo::new(stream)).await.map_err(SendFailure::connecting)?;
    // (Local: the connection is this thread's, as the list it is kept in.)
    tokio::task::spawn_local(async move {
        if let Err(e) = connection.await {
            tracing::debug!(error = %e, "a routed call's connection ended");
        }
    });
    Ok(sender)
}
