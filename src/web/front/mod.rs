//! The public listener (`server.listen`): HTTP/1.1, over TLS with `[server.tls]`, served by hyper
//! on `server.workers` threads, each with its own single-threaded runtime. Routed calls
//! (`/api/portal/v1.3/…`, `/environments/{id}/manager/…`) are served here end to end, on the same
//! `http` types as the manager's client; everything else is handed to the portal's actix-web
//! application on the same thread ([`pages`]). What every request gets — request id, access
//! line, metrics, security headers, body deadline — is done once for both ([`request`]).
//!
//! A connection is served by the thread that accepted it; each thread accepts one connection per
//! turn, so the connections of a burst are spread over the threads.
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
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::LocalBoxFuture;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{oneshot, watch};
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
        let shared =
            Arc::new(Shared { stop: watch::Sender::new(None), running: watch::Sender::new(workers) });
        let mut ready = Vec::with_capacity(workers);
        for index in 0..workers {
            let (told, started) = oneshot::channel();
            let thread = Thread { listener: listener.try_clone()?, tls: tls.clone(), make: make.clone() };
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
    listener: std::net::TcpListener,
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
                    accept(listener, self.tls, serving, &shared).await;
                }
                Err(e) => {
                    let _ = ready.send(Err(e));
                }
            }
        });
        drop(running);
    }
}

/// Accepts connections until told to stop, then lets them finish (when graceful).
async fn accept(listener: TcpListener, tls: Option<TlsAcceptor>, serving: Rc<Serving>, shared: &Shared) {
    let mut stop = shared.stop.subscribe();
    let graceful = GracefulShutdown::new();
    let mut builder = http1::Builder::new();
    builder.timer(TokioTimer::new()).header_read_timeout(HEAD_TIMEOUT).max_header_size(MAX_HEAD);
    let builder = Rc::new(builder);
    loop {
        tokio::select! {
            _ = stop.wait_for(Option::is_some) => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let connection = Connection { peer, serving: serving.clone(), builder: builder.clone() };
                    tokio::task::spawn_local(connection.serve(stream, tls.clone(), graceful.watcher()));
                    // One connection per turn: every serving thread is woken for a new
                    // connection, and one that took a whole burst (a client's pool opening its
                    // connections at once) would serve all of them alone while the others idle.
                    // Yielding lets the other threads take their share, and a thread busy with
                    // requests accepts less than an idle one.
                    tokio::task::yield_now().await;
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

/// One accepted connection.
struct Connection {
    peer: SocketAddr,
    serving: Rc<Serving>,
    builder: Rc<http1::Builder>,
}

impl Connection {
    async fn serve(self, stream: TcpStream, tls: Option<TlsAcceptor>, watcher: Watcher) {
        // Answers are written whole; small ones must not wait for the next packet.
        let _ = stream.set_nodelay(true);
        let Connection { peer, serving, builder } = self;
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
