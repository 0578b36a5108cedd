//! The floor of Portico's HTTP stack, for the benchmarks (`scripts/bench instructions`, `docs/
//! benchmarks.md`): a reverse proxy built like Portico's public listener — threads with a
//! current-thread runtime each, hyper's HTTP/1 server with the same timer settings, hyper's
//! HTTP/1 client on keep-alive connections kept per thread — that does nothing else: no session,
//! no header filtering, no security headers, no log, no metrics. It adds the manager's session
//! cookie, as the benchmark's nginx does. What Portico spends per call beyond this is Portico's
//! own; what this spends is the stack's.
//!
//! `cargo run --release --example proxy_floor -- LISTEN_PORT UPSTREAM_PORT COOKIE [WORKERS]`

use std::cell::RefCell;
use std::error::Error;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper::header::{COOKIE, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};

type Failure = Box<dyn Error + Send + Sync>;

fn main() -> Result<(), Failure> {
    let mut args = std::env::args().skip(1);
    let usage = "usage: proxy_floor LISTEN_PORT UPSTREAM_PORT COOKIE [WORKERS]";
    let (Some(listen), Some(upstream), Some(cookie)) = (args.next(), args.next(), args.next()) else {
        return Err(usage.into());
    };
    let workers: usize = args.next().map_or(Ok(2), |w| w.parse())?;
    let listener = std::net::TcpListener::bind(("127.0.0.1", listen.parse::<u16>()?))?;
    listener.set_nonblocking(true)?;
    let upstream: SocketAddr = ([127, 0, 0, 1], upstream.parse::<u16>()?).into();
    let cookie = HeaderValue::from_str(&cookie)?;
    let threads = (0..workers)
        .map(|index| {
            let (listener, cookie) = (listener.try_clone()?, cookie.clone());
            // (Named as Portico's are, so the benchmark can tell the serving threads apart.)
            std::thread::Builder::new()
                .name(format!("floor-worker-{index}"))
                .spawn(move || serve(listener, upstream, cookie))
        })
        .collect::<Result<Vec<_>, std::io::Error>>()?;
    for thread in threads {
        thread.join().map_err(|_| "a serving thread failed")??;
    }
    Ok(())
}

/// One serving thread: accepts and serves connections until the process ends.
fn serve(listener: std::net::TcpListener, upstream: SocketAddr, cookie: HeaderValue) -> Result<(), Failure> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let local = tokio::task::LocalSet::new();
    local.block_on(&runtime, async move {
        let listener = TcpListener::from_std(listener)?;
        let mut builder = http1::Builder::new();
        builder.timer(TokioTimer::new()).header_read_timeout(Duration::from_secs(5));
        let builder = Rc::new(builder);
        let client = Rc::new(Client { upstream, cookie, open: RefCell::new(Vec::new()) });
        loop {
            let (stream, _) = listener.accept().await?;
            stream.set_nodelay(true)?;
            let (builder, client) = (builder.clone(), client.clone());
            tokio::task::spawn_local(async move {
                let service = service_fn(move |req| client.clone().forward(req));
                let _ = builder.serve_connection(TokioIo::new(stream), service).await;
            });
        }
    })
}

/// This thread's connections to the upstream.
struct Client {
    upstream: SocketAddr,
    cookie: HeaderValue,
    open: RefCell<Vec<SendRequest<Incoming>>>,
}

impl Client {
    async fn forward(self: Rc<Self>, mut req: Request<Incoming>) -> Result<Response<Incoming>, Failure> {
        req.headers_mut().insert(COOKIE, self.cookie.clone());
        let idle = {
            let mut open = self.open.borrow_mut();
            open.retain(|c| !c.is_closed());
            open.iter().position(SendRequest::is_ready)
        };
        let sending = match idle {
            Some(at) => self.open.borrow_mut()[at].send_request(req),
            None => {
                let mut sender = self.connect().await?;
                let sending = sender.send_request(req);
                self.open.borrow_mut().push(sender);
                sending
            }
        };
        Ok(sending.await?)
    }

    async fn connect(&self) -> Result<SendRequest<Incoming>, Failure> {
        let stream = TcpStream::connect(self.upstream).await?;
        stream.set_nodelay(true)?;
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::task::spawn_local(async move {
            let _ = connection.await;
        });
        Ok(sender)
    }
}
