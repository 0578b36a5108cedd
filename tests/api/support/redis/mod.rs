//! Real Redis peers started by the tests on free ports of 127.0.0.1: one server, a Sentinel group
//! and a Cluster, and the [`Topology`] that runs one test body on each of them.
//!
//! Every process belongs to a value whose `Drop` kills it (SIGKILL), on the panic paths of
//! start-up too; every wait has a deadline and says what it waited for when it gives up.

use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

mod cluster;
mod sentinel;
mod single;
mod topology;

pub use cluster::RedisCluster;
pub use sentinel::RedisSentinel;
pub use single::RedisServer;
pub use topology::{RedisConfig, Topology, TopologyKind, run_on_topology};

use crate::support::missing_peer;

/// Whether `program --version` runs; when it does not, says (or, under CI, fails) why the test
/// did not run.
fn installed(test: &str, program: &str) -> bool {
    let ok = Command::new(program)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        missing_peer(test, program, "install it with `apt-get install redis-server`");
    }
    ok
}

fn url(port: u16) -> String {
    format!("redis://127.0.0.1:{port}")
}

/// One `redis-server` process (a data node or a sentinel) in a temporary folder of its own.
struct Node {
    port: u16,
    child: Option<Child>,
    dir: tempfile::TempDir,
}

impl Node {
    /// A data node without persistence; `extra` adds replication or cluster arguments. A replica's
    /// first sync starts at once (Redis otherwise waits 5 s for more replicas to share it).
    fn server(port: u16, extra: &[&str]) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut command = Command::new("redis-server");
        command
            .args(["--bind", "127.0.0.1", "--port", &port.to_string(), "--save", "", "--appendonly", "no"])
            .args(["--repl-diskless-sync-delay", "0"])
            .arg("--dir")
            .arg(dir.path())
            .args(extra);
        Self::spawn(port, dir, command)
    }

    /// A sentinel watching `master_port`; its file lives in its own folder because sentinels
    /// rewrite it.
    fn sentinel(port: u16, master_name: &str, master_port: u16) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let conf = dir.path().join("sentinel.conf");
        let text = format!(
            "port {port}\nbind 127.0.0.1\ndir \"{}\"\n\
             sentinel monitor {master_name} 127.0.0.1 {master_port} 2\n\
             sentinel down-after-milliseconds {master_name} 1000\n\
             sentinel failover-timeout {master_name} 3000\n\
             sentinel parallel-syncs {master_name} 1\n",
            dir.path().display()
        );
        std::fs::write(&conf, text).expect("write sentinel.conf");
        let mut command = Command::new("redis-server");
        command.arg(&conf).arg("--sentinel");
        Self::spawn(port, dir, command)
    }

    fn spawn(port: u16, dir: tempfile::TempDir, mut command: Command) -> Self {
        let child = command
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn redis-server");
        // Owned before the first wait, so that a panic below still kills the process.
        let mut node = Self { port, child: Some(child), dir };
        wait_for(
            Duration::from_secs(10),
            || format!("redis-server answering on port {port}"),
            || {
                if let Some(Ok(Some(status))) = node.child.as_mut().map(Child::try_wait) {
                    panic!("redis-server on port {port} exited at start-up: {status}");
                }
                query::<String>(port, &redis::cmd("PING")).filter(|pong| pong == "PONG")
            },
        );
        node
    }

    fn alive(&self) -> bool {
        self.child.is_some()
    }

    /// SIGKILL, then reaps the process; returns when the signal was sent.
    fn kill(&mut self) -> Instant {
        let at = Instant::now();
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        at
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A connection with short timeouts, so that a probe of a dead or stuck node cannot hang.
fn connect(port: u16) -> redis::RedisResult<redis::Connection> {
    let connection = redis::Client::open(url(port))?.get_connection_with_timeout(Duration::from_secs(1))?;
    connection.set_read_timeout(Some(Duration::from_secs(2)))?;
    connection.set_write_timeout(Some(Duration::from_secs(2)))?;
    Ok(connection)
}

/// One command on a fresh connection; `None` when the node does not answer or answers an error.
fn query<T: redis::FromRedisValue>(port: u16, command: &redis::Cmd) -> Option<T> {
    command.query(&mut connect(port).ok()?).ok()
}

/// `INFO <section>` of a node.
fn info(port: u16, section: &str) -> Option<String> {
    query(port, redis::cmd("INFO").arg(section))
}

/// The value of `name:value` in INFO-style text.
fn field<'a>(text: &'a str, name: &str) -> Option<&'a str> {
    text.lines().find_map(|line| line.trim_end().strip_prefix(name)?.strip_prefix(':'))
}

/// Whether the node answers `ROLE` as a master.
fn answers_as_master(port: u16) -> bool {
    let role: Option<Vec<redis::Value>> = query(port, &redis::cmd("ROLE"));
    matches!(role.as_deref(), Some([redis::Value::BulkString(role), ..]) if role == b"master")
}

/// Every key of the connected node and its raw value (keys that are not strings are left out).
fn keys_and_values(c: &mut redis::Connection) -> Vec<(String, Vec<u8>)> {
    let keys: Vec<String> = redis::cmd("KEYS").arg("*").query(c).expect("KEYS");
    keys.into_iter()
        .filter_map(|k| {
            let v: Option<Vec<u8>> = redis::cmd("GET").arg(&k).query(c).ok();
            v.map(|v| (k, v))
        })
        .collect()
}

/// Calls per command name since the node started, from `INFO commandstats`.
fn command_counts(c: &mut redis::Connection) -> BTreeMap<String, u64> {
    let info: String = redis::cmd("INFO").arg("commandstats").query(c).expect("INFO commandstats");
    info.lines()
        .filter_map(|line| line.strip_prefix("cmdstat_"))
        .filter_map(|line| {
            let (name, stats) = line.split_once(':')?;
            let calls = stats.split(',').find_map(|s| s.strip_prefix("calls="))?.parse().ok()?;
            Some((name.to_owned(), calls))
        })
        .collect()
}

/// [`command_counts`] summed over nodes.
fn summed_command_counts(ports: impl IntoIterator<Item = u16>) -> BTreeMap<String, u64> {
    let mut total = BTreeMap::new();
    for port in ports {
        for (name, calls) in command_counts(&mut connect(port).expect("connect to a node")) {
            *total.entry(name).or_default() += calls;
        }
    }
    total
}

/// Polls `probe` every 50 ms until it gives a value; panics after `timeout` with `what()`, which
/// is evaluated only then (so it can describe the state that was not reached).
fn wait_for<T>(timeout: Duration, what: impl Fn() -> String, mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = probe() {
            return value;
        }
        if Instant::now() >= deadline {
            panic!("gave up after {timeout:?} waiting for {}", what());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Runs a long blocking wait; on a multi-threaded runtime it tells tokio first, so the app's tasks
/// (and its Redis connections) keep running on the other workers meanwhile.
fn blocking<T>(f: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(f)
        }
        _ => f(),
    }
}
