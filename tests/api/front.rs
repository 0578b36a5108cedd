//! The public listener's own limits, as a caller meets them on the socket: a head that comes too
//! slowly or too large, stopping with a call under way, and how connections are spread over the
//! serving threads.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use portico::simulator::Operation;
use portico::web::front::{HEAD_TIMEOUT, MAX_HEAD};

use crate::support::managers::{start_master, start_slave};
use crate::support::processes::Replica;
use crate::support::{TestAppBuilder, free_ports, set_cookies};

/// Writes `request` and reads until the server closes the connection (at most 30 s).
fn exchange(stream: &mut TcpStream, request: &[u8]) -> String {
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    stream.write_all(request).unwrap();
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test]
async fn a_head_that_never_ends_is_cut_off_and_the_next_caller_is_served() {
    let app = TestAppBuilder::new("http://127.0.0.1:9").spawn().await;
    let address = app.address;
    let (answer, waited) = tokio::task::spawn_blocking(move || {
        let mut stream = TcpStream::connect(address).unwrap();
        let started = Instant::now();
        // A slowloris head: a request line and one header, then nothing.
        let answer = exchange(&mut stream, b"GET /healthz HTTP/1.1\r\nHost: x\r\n");
        (answer, started.elapsed())
    })
    .await
    .unwrap();
    assert!(answer.is_empty() || answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(waited >= HEAD_TIMEOUT - Duration::from_millis(500), "closed after {waited:?}, not at once");
    assert!(waited < Duration::from_secs(30), "the connection was closed, not left open");
    assert_eq!(app.get("/healthz").await.status(), 200);
}

#[tokio::test]
async fn a_head_larger_than_the_limit_is_refused_with_431() {
    let app = TestAppBuilder::new("http://127.0.0.1:9").spawn().await;
    let address = app.address;
    let answer = tokio::task::spawn_blocking(move || {
        let mut stream = TcpStream::connect(address).unwrap();
        let filler = "a".repeat(MAX_HEAD + 1024);
        let request = format!("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Filler: {filler}\r\n\r\n");
        exchange(&mut stream, request.as_bytes())
    })
    .await
    .unwrap();
    assert!(answer.starts_with("HTTP/1.1 431"), "{}", &answer[..answer.len().min(200)]);
    // A head of ordinary size on the same listener still gets through.
    let cookies = format!("a={}", "b".repeat(16 * 1024));
    let res = app.client.get(app.url("/healthz")).header("cookie", cookies).send().await.unwrap();
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn stopping_finishes_the_call_under_way_and_closes_the_listener() {
    let master = start_master().await;
    let eu = start_slave("eu", &master.url).await;
    let app = TestAppBuilder::new(master.url.as_str())
        .slave("prod-eu", "Production EU", eu.url.as_str())
        .spawn()
        .await;
    let res = app.sign_in("alice", "alice-password").await;
    assert_eq!(res.status(), 303);
    let cookie = set_cookies(&res)
        .into_iter()
        .find(|c| c.starts_with("portico_session="))
        .map(|c| c.split(';').next().unwrap().to_owned())
        .unwrap();
    master.faults().delay(Operation::Applications, Duration::from_millis(1500));
    let call = app.client.get(app.url("/api/portal/v1.3/applications")).header("cookie", cookie).send();
    let under_way = tokio::spawn(call);
    // Until the master has the call, then stop.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !master.requests().iter().any(|r| r.path.ends_with("/applications") && r.status.is_none()) {
        assert!(Instant::now() < deadline, "the call reached the master");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let address = app.address;
    // An idle keep-alive connection, one request served on it.
    let mut idle = TcpStream::connect(address).unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut first = [0u8; 12];
    idle.read_exact(&mut first).unwrap();
    assert_eq!(&first, b"HTTP/1.1 200");
    app.stop().await;
    let answer = under_way.await.unwrap().expect("the call under way is answered");
    assert_eq!(answer.status(), 200, "the call under way is answered in full");
    assert!(answer.text().await.unwrap().contains('['), "with the manager's body");
    assert!(TcpStream::connect(address).is_err(), "no new connection after the stop");
    // The idle connection was closed: what is left of its answer, then the end.
    idle.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut rest = Vec::new();
    assert!(idle.read_to_end(&mut rest).is_ok(), "closed, not left open");
}

/// `portico_open_connections` of a process's metrics listener: the count on each serving thread.
async fn open_connections(metrics: &str) -> Vec<u64> {
    let text = reqwest::get(format!("{metrics}/metrics")).await.unwrap().text().await.unwrap();
    let mut counts: Vec<(u64, u64)> = text
        .lines()
        .filter_map(|line| line.strip_prefix("portico_open_connections{worker=\""))
        .filter_map(|rest| {
            let (worker, value) = rest.split_once("\"} ")?;
            Some((worker.parse().ok()?, value.trim().parse().ok()?))
        })
        .collect();
    counts.sort_unstable();
    counts.into_iter().map(|(_, n)| n).collect()
}

/// Polls until the serving threads hold `total` connections in all (closes take a moment to be
/// seen), and returns the counts.
async fn settled(metrics: &str, total: u64) -> Vec<u64> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let counts = open_connections(metrics).await;
        if counts.iter().sum::<u64>() == total || Instant::now() > deadline {
            return counts;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Opens `n` connections at once (all in the listener's queue before any is served), then has
/// each answer a request, so every one is known to be served.
fn open_served(address: std::net::SocketAddr, n: usize) -> Vec<TcpStream> {
    let mut streams: Vec<TcpStream> = (0..n).map(|_| TcpStream::connect(address).unwrap()).collect();
    for stream in &mut streams {
        stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let mut status = [0u8; 12];
        stream.read_exact(&mut status).unwrap();
        assert_eq!(&status, b"HTTP/1.1 200", "a connection another thread accepted is served");
        // (The rest of the short answer, so the next read on it starts at a new answer.)
        let mut rest = [0u8; 4096];
        let _ = stream.read(&mut rest);
    }
    streams
}

/// A client's pool opened at once lands on whichever serving thread asks the kernel first; each
/// connection is served by the thread with the fewest, so two threads hold half each — also
/// after some close and others open — as the operator sees in `/metrics`.
#[tokio::test]
async fn connections_are_spread_evenly_over_the_serving_threads() {
    let master = start_master().await;
    let dir = tempfile::tempdir().unwrap();
    let [port, metrics_port] = free_ports(2)[..] else { unreachable!() };
    let config = dir.path().join("portico.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nlisten = \"127.0.0.1:{port}\"\nworkers = 2\n\n[session]\nsecret = \"{}\"\n\n\
             [database]\nurl = \"sqlite://{}\"\n\n[master]\nurl = \"{}\"\n\n\
             [metrics]\nlisten = \"127.0.0.1:{metrics_port}\"\n",
            "spread-secret-0123456789abcdef0123456789",
            dir.path().join("portico.db").display(),
            master.url
        ),
    )
    .unwrap();
    let replica = Replica::start(&config, port).await;
    let metrics = format!("http://127.0.0.1:{metrics_port}");
    assert_eq!(settled(&metrics, 0).await, [0, 0], "the readiness checks' connections are closed");
    let address: std::net::SocketAddr = replica.base.trim_start_matches("http://").parse().unwrap();

    let pool = tokio::task::spawn_blocking(move || open_served(address, 16)).await.unwrap();
    assert_eq!(settled(&metrics, 16).await, [8, 8], "sixteen at once");

    // One after another, each served before the next opens.
    let more =
        tokio::task::spawn_blocking(move || (0..6).flat_map(|_| open_served(address, 1)).collect::<Vec<_>>())
            .await
            .unwrap();
    assert_eq!(settled(&metrics, 22).await, [11, 11], "six more, one at a time");

    // Half of the first pool closes, wherever those were; new ones go where there is room.
    let kept: Vec<TcpStream> = pool.into_iter().step_by(2).collect();
    assert_eq!(settled(&metrics, 14).await.iter().sum::<u64>(), 14);
    let refill = tokio::task::spawn_blocking(move || open_served(address, 8)).await.unwrap();
    assert_eq!(settled(&metrics, 22).await, [11, 11], "eight new ones fill what closed");
    drop((kept, more, refill));
    assert_eq!(settled(&metrics, 0).await, [0, 0], "every close is counted");
}
