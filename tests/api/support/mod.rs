//! Test support: peers (Redis, PostgreSQL, Prism), simulated managers, TLS test servers, the app
//! under test, and the rule for missing peers.

// Each test module uses a different part of the harness.
#![allow(dead_code)]

pub mod app;
pub mod azure;
pub mod browser;
pub mod consumers;
pub mod databases;
pub mod federation;
pub mod logs;
pub mod managers;
pub mod oauth;
pub mod oidc;
pub mod openbao;
pub mod postgres;
pub mod prism;
pub mod processes;
pub mod redis;
pub mod tls_server;

pub use app::{TestApp, TestAppBuilder, csrf_in, location, set_cookies};
pub use databases::TestDatabase;
pub use federation::Federation;
pub use postgres::TestPostgres;
pub use redis::{RedisCluster, RedisSentinel, RedisServer, Topology, TopologyKind};

/// CI sets `PORTICO_REQUIRE_PEERS=1`: a missing peer is then a failure, not a skipped test.
pub fn peers_required() -> bool {
    std::env::var("PORTICO_REQUIRE_PEERS").is_ok_and(|v| v == "1")
}

/// Called when a test cannot run for want of a peer: fails under CI, says so clearly otherwise.
pub fn missing_peer(test: &str, what: &str, install: &str) {
    let message = format!("{test}: did not run: {what} is not available ({install})");
    if peers_required() {
        panic!("{message}; PORTICO_REQUIRE_PEERS=1 makes this a failure");
    }
    // Straight to stderr: the harness captures `eprintln!` of passing tests, and a test that did
    // not run must say so visibly.
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "NOTE {message}");
}

/// A free TCP port on 127.0.0.1 (bound, then released for a child process to take), never one
/// handed out before in this test process ([`free_ports`]).
pub fn free_port() -> u16 {
    free_ports(1)[0]
}

/// `n` distinct free ports on 127.0.0.1, none of them handed out before in this test process. A
/// test may stop a server and start it again on its port (Redis going down and coming back); in
/// between the port is free, and the system would hand it to the next test that asks — whose
/// server would then answer the first test's clients, and the first test's restart would find
/// its port taken. So a port goes to one test only. (Ports are bound until all `n` are chosen:
/// the system hands out a port bound elsewhere only once it is released.)
pub fn free_ports(n: usize) -> Vec<u16> {
    use std::collections::BTreeSet;
    use std::sync::{Mutex, PoisonError};
    static HANDED_OUT: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());
    let mut handed_out = HANDED_OUT.lock().unwrap_or_else(PoisonError::into_inner);
    let mut held = Vec::new();
    let mut ports = Vec::with_capacity(n);
    while ports.len() < n {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
        let port = listener.local_addr().expect("local address").port();
        if handed_out.insert(port) {
            ports.push(port);
        }
        held.push(listener);
    }
    ports
}
