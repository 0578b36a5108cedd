//! The public listener (`server.listen`): HTTP/1.1, over TLS with `[server.tls]`, served by hyper
//! on `server.workers` threads, each with its own single-threaded runtime. Routed calls
//! (`/api/portal/v1.3/…`, `/environments/{id}/manager/…`) are served here end to end, on the same
//! `http` types as the manager's client; everything else is handed to the portal's actix-web
//! application on the same thread ([`pages`]). What every request gets — request id, access
//! line, metrics, security headers, body deadline — is done once for both ([`request`]).
//!
//! A connection is served by the thread with the fewest connections open when it arrives (ties go
//! to the thread that accepted it): every thread accepts, and hands a connection to the least
//! loaded one when that is another ([`Balance`]). The kernel gives a new connection to whichever
//! thread asks first, so without this a client's pool opened at once could land whole on one
//! thread while the other idles. `portico_open_connections{worker}` shows the spread.
//!
//! Limits at the connection: a request's head must arrive within [`HEAD_TIMEOUT`] of the
//! connection opening or of the previous answer (which also closes idle keep-alive connections),
//! a TLS handshake within [`TLS_HANDSHAKE_TIMEOUT`], and a head may not exceed [`MAX_HEAD`]
//! bytes (431). Stopping (SIGINT, SIGTERM, or [`FrontHandle::stop`]) closes the listener at
//! once, lets requests under way finish for up to [`SHUTDOWN_TIMEOUT`], and closes idle
//! connections.

mod body;
mod pages;
mod request;

use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures_util::future::LocalBoxFuture;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot, watch};
use tokio_rustls::TlsAcceptor;

pub use body::Body;
pub use pages::Pages;
pub use request::{REQUEST_ID_HEADER, SecurityHeaders, Serving, label_route, security_headers};

/// Time for a request's head, from the connection's start or the previous answer.
pub const HEAD_TIMEOUT: Duration = Duration::from_secs(5);
/// Time for a TLS handshake.
pub const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(3);
/// The largest request head read (request line and headers).
pub const MAX_HEAD: usize = 64 * 1024;
/// How long requests under way may take to finish once the server stops.
pub const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(30);

/// Builds what a serving thread needs, on that thread (the pages' application is not `Send`).
pub type MakeServing = Arc<dyn Fn() -> LocalBoxFuture<'static, io::Result<Rc<Serving>>> + Send + Sync>;

/// The running listener.
pub struct Front {
    handle: FrontHandle,
}

struct Shared {
    /// `Some(graceful)` once asked to stop.
    stop: watch::Sender<Option<bool>>,
    /// Serving threads still running.
    running: watch::Sender<usize>,
    balance: Balance,
}

/// Stops the listener from elsewhere (signals, tests, the demo).
#[derive(Clone)]
pub struct FrontHandle(Arc<Shared>);

impl FrontHandle {
    /// Stops accepting and, when `graceful`, lets the requests under way finish (at most
    /// [`SHUTDOWN_TIMEOUT`]); returns once every serving thread has ended.
    pub async fn stop(&self, graceful: bool) {
        self.0.stop.send_if_modified(|stop| {
            let first = stop.is_none();
            if first {
                *stop = Some(graceful);
            }
            first
        });
        self.stopped().await;
    }

    /// Returns once every serving thread has ended.
    pub async fn stopped(&self) {
        let mut running = self.0.running.subscribe();
        let _ = running.wait_for(|n| *n == 0).await;
    }
}

impl Front {
    /// Starts `workers` serving threads on `listener`; returns once each is ready to serve.
    pub async fn start(
        listener: std::net::TcpListener,
        tls: Option<rustls::ServerConfig>,
        workers: usize,
        make: MakeServing,
    ) -> io::Result<Self> {
        listener.set_nonblocking(true)?;
        let tls = tls.map(|config| TlsAcceptor::from(Arc::new(config)));
        let (balance, inboxes) = Balance::new(workers);
        let shared = Arc::new(Shared {
            stop: watch::Sender::new(None),
            running: watch::Sender::new(workers),
            balance,
        });
        let mut ready = Vec::with_capacity(workers);
        for (index, inbox) in inboxes.into_iter().enumerate() {
            let (told, started) = oneshot::channel();
            let thread = Thread {
                index,
                listener: listener.try_clone()?,
                inbox,
                tls: tls.clone(),
                make: make.clone(),
            };
            let running = Running(shared.clone());
            std::thread::Builder::new()
                .name(format!("portico-worker-{index}"))
                .spawn(move || thread.run(running, told))?;
            ready.push(started);
        }
        let front = Self { handle: FrontHandle(shared) };
        for started in ready {
            if let Err(e) = started.await.unwrap_or_else(|_| Err(io::Error::other("a serving thread ended")))
            {
                front.handle.stop(false).await;
                return Err(e);
            }
        }
        Ok(front)
    }

    pub fn handle(&self) -> FrontHandle {
        self.handle.clone()
    }
}

/// Counts a serving thread as running until it ends, however it ends.
struct Running(Arc<Shared>);

impl Drop for Running {
    fn drop(&mut self) {
        self.0.running.send_modify(|n| *n = n.saturating_sub(1));
    }
}

/// One serving thread.
struct Thread {
    index: usize,
    listener: std::net::TcpListener,
    /// Connections other threads accepted for this one.
    inbox: mpsc::UnboundedReceiver<Handed>,
    tls: Option<TlsAcceptor>,
    make: MakeServing,
}

impl Thread {
    fn run(self, running: Running, ready: oneshot::Sender<io::Result<()>>) {
        let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
            Ok(runtime) => runtime,
            Err(e) => {
                let _ = ready.send(Err(e));
                return;
            }
        };
        let shared = running.0.clone();
        let local = tokio::task::LocalSet::new();
        local.block_on(&runtime, async move {
            let started =
                async { Ok::<_, io::Error>(((self.make)().await?, TcpListener::from_std(self.listener)?)) };
            match started.await {
                Ok((serving, listener)) => {
                    let _ = ready.send(Ok(()));
                    let accepting =
                        Accepting { index: self.index, listener, inbox: self.inbox, tls: self.tls };
                    accepting.run(serving, &shared).await;
                }
                Err(e) => {
                    let _ = ready.send(Err(e));
                }
            }
        });
        drop(running);
    }
}

/// What a serving thread accepts from: the listener, and the connections handed to it.
struct Accepting {
    index: usize,
    listener: TcpListener,
    inbox: mpsc::UnboundedReceiver<Handed>,
    tls: Option<TlsAcceptor>,
}

impl Accepting {
    /// Accepts connections until told to stop, then lets them finish (when graceful). (Connections
    /// handed to this thread and not yet taken when it stops close unanswered, as idle ones do:
    /// nothing was read from them.)
    async fn run(self, serving: Rc<Serving>, shared: &Arc<Shared>) {
        let Accepting { index, listener, mut inbox, tls } = self;
        let mut stop = shared.stop.subscribe();
        let graceful = GracefulShutdown::new();
        let mut builder = http1::Builder::new();
        builder.timer(TokioTimer::new()).header_read_timeout(HEAD_TIMEOUT).max_header_size(MAX_HEAD);
        let builder = Rc::new(builder);
        let serve_here = |stream: TcpStream, peer: SocketAddr, open: Open| {
            let connection = Connection { peer, serving: serving.clone(), builder: builder.clone(), open };
            tokio::task::spawn_local(connection.serve(stream, tls.clone(), graceful.watcher()));
        };
        loop {
            tokio::select! {
                _ = stop.wait_for(Option::is_some) => break,
                Some(Handed { stream, peer, open }) = inbox.recv() => match TcpStream::from_std(stream) {
                    Ok(stream) => serve_here(stream, peer, open),
                    Err(e) => tracing::warn!(error = %e, "cannot take a connection from another thread"),
                },
                accepted = listener.accept() => match accepted {
                    Ok((stream, peer)) => {
                        let open = Open::place(shared, index);
                        if open.worker == index {
                            serve_here(stream, peer, open);
                        } else if let Some((stream, open)) = shared.balance.hand(stream, peer, open) {
                            // (That thread has stopped.)
                            serve_here(stream, peer, open.moved_to(shared, index));
                        }
                    }
                    // (Out of file descriptors, most likely: a pause lets connections end.)
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot accept a connection");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                },
            }
        }
        drop(listener);
        let gracefully = stop.borrow().unwrap_or(true);
        if gracefully {
            let _ = tokio::time::timeout(SHUTDOWN_TIMEOUT, graceful.shutdown()).await;
        }
    }
}

/// Which serving thread a new connection goes to: the one with the fewest open, as Envoy's
/// exact connection balance does. Counting connections, not requests, suits both a client's
/// pool of busy keep-alive connections and browsers' mostly idle ones well enough, and costs
/// nothing per request; a hand-off costs a few system calls and one wake-up of the other
/// thread, once per connection.
struct Balance {
    /// Connections open (or on their way) on each serving thread. (Behind a lock, so that two
    /// threads accepting at once cannot both pick the same thread: connections open and close
    /// far less often than requests come.)
    open: Mutex<Box<[usize]>>,
    /// `portico_open_connections{worker}`, one per thread (none when metrics are unavailable).
    gauges: Box<[Option<prometheus::IntGauge>]>,
    /// Each thread's inbox.
    inboxes: Box<[mpsc::UnboundedSender<Handed>]>,
}

/// A connection accepted by one thread for another.
struct Handed {
    stream: std::net::TcpStream,
    peer: SocketAddr,
    open: Open,
}

impl Balance {
    fn new(workers: usize) -> (Self, Vec<mpsc::UnboundedReceiver<Handed>>) {
        let (senders, receivers) =
            (0..workers).map(|_| mpsc::unbounded_channel()).unzip::<_, _, Vec<_>, Vec<_>>();
        let gauges = (0..workers)
            .map(|worker| {
                let metrics = crate::metrics::metrics()?;
                metrics.open_connections.get_metric_with_label_values(&[&worker.to_string()]).ok()
            })
            .collect();
        let open = Mutex::new(vec![0; workers].into_boxed_slice());
        (Self { open, gauges, inboxes: senders.into_boxed_slice() }, receivers)
    }

    /// Counts a connection on the thread to serve it, which thread `me` accepted: `me`, unless
    /// another has fewer (a hand-off is worth it only then).
    fn pick(&self, me: usize) -> usize {
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        let fewest = open.iter().enumerate().min_by_key(|(_, n)| **n).map(|(worker, n)| (worker, *n));
        let worker = match fewest {
            Some((worker, least)) if least < open[me] => worker,
            _ => me,
        };
        open[worker] += 1;
        worker
    }

    /// Counts a connection on `worker`.
    fn add(&self, worker: usize) {
        self.open.lock().unwrap_or_else(PoisonError::into_inner)[worker] += 1;
    }

    /// A connection counted on `worker` closed.
    fn remove(&self, worker: usize) {
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        open[worker] = open[worker].saturating_sub(1);
    }

    /// Hands `stream` to the thread `open` counts it on. What is given back (that thread has
    /// stopped) is to be served here; a socket that cannot leave this thread's runtime is closed.
    fn hand(&self, stream: TcpStream, peer: SocketAddr, open: Open) -> Option<(TcpStream, Open)> {
        let stream = match stream.into_std() {
            Ok(stream) => stream,
            Err(e) => {
                tracing::warn!(error = %e, "cannot hand a connection to another thread");
                return None;
            }
        };
        let inbox = &self.inboxes[open.worker];
        let mpsc::error::SendError(Handed { stream, open, .. }) =
            inbox.send(Handed { stream, peer, open }).err()?;
        TcpStream::from_std(stream).ok().map(|stream| (stream, open))
    }
}

/// One connection counted on a serving thread, until it is dropped.
struct Open {
    shared: Arc<Shared>,
    worker: usize,
}

impl Open {
    /// A new connection accepted by thread `me`, counted on the thread that is to serve it.
    fn place(shared: &Arc<Shared>, me: usize) -> Self {
        Self::counted(shared, shared.balance.pick(me))
    }

    /// A connection [`Balance`] has just counted on `worker`.
    fn counted(shared: &Arc<Shared>, worker: usize) -> Self {
        if let Some(gauge) = &shared.balance.gauges[worker] {
            gauge.inc();
        }
        Self { shared: shared.clone(), worker }
    }

    /// The same connection, counted on `worker` instead.
    fn moved_to(self, shared: &Arc<Shared>, worker: usize) -> Self {
        drop(self);
        shared.balance.add(worker);
        Self::counted(shared, worker)
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        self.shared.balance.remove(self.worker);
        if let Some(gauge) = &self.shared.balance.gauges[self.worker] {
            gauge.dec();
        }
    }
}

/// One accepted connection.
struct Connection {
    peer: SocketAddr,
    serving: Rc<Serving>,
    builder: Rc<http1::Builder>,
    /// Counted on this thread while it is served.
    open: Open,
}

impl Connection {
    async fn serve(self, stream: TcpStream, tls: Option<TlsAcceptor>, watcher: Watcher) {
        // Answers are written whole; small ones must not wait for the next packet.
        let _ = stream.set_nodelay(true);
        let Connection { peer, serving, builder, open: _open } = self;
        let service = service_fn(move |req| serving.clone().serve(req, peer));
        let served = match tls {
            None => watcher.watch(builder.serve_connection(TokioIo::new(stream), service)).await,
            Some(acceptor) => {
                match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                    Ok(Ok(stream)) => {
                        watcher.watch(builder.serve_connection(TokioIo::new(stream), service)).await
                    }
                    // A handshake that failed or took too long: nothing was asked, nothing to answer.
                    Ok(Err(_)) | Err(_) => return,
                }
            }
        };
        // (A caller that went away mid-answer, or a head too slow: the connection just ends.)
        if let Err(e) = served {
            tracing::debug!(error = %e, "connection ended");
        }
    }
}
