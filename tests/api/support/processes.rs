//! `portico serve` as separate OS processes sharing a Redis and a PostgreSQL database, as replicas
//! behind a load balancer, and browsers (cookie jars) that talk to them.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use portico::simulator::Simulator;

use super::{TestPostgres, csrf_in, free_port};
use crate::cli::{portico, text};

/// The admin account both processes share.
pub const ADMIN: (&str, &str) = ("root", "root-password-123");

/// One `portico serve` process, killed when dropped.
pub struct Replica {
    pub base: String,
    child: Child,
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Replica {
    /// Starts `portico serve --config config` and waits until `/readyz` answers 200.
    pub async fn start(config: &Path, port: u16) -> Self {
        let child = Command::new(env!("CARGO_BIN_EXE_portico"))
            .args(["serve", "--config", config.to_str().unwrap()])
            .env_remove("PORTICO_CONFIG")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("portico serve");
        let replica = Self { base: format!("http://127.0.0.1:{port}"), child };
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if reqwest::get(format!("{}/readyz", replica.base)).await.is_ok_and(|r| r.status().is_success()) {
                return replica;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("portico on port {port} did not become ready");
    }
}

/// A browser: its own cookies, no redirects followed.
pub struct Browser {
    pub base: String,
    pub http: reqwest::Client,
}

impl Browser {
    pub fn on(replica: &Replica) -> Self {
        Self::with_agent(replica, "portico-tests")
    }

    /// A browser that says it is `agent`.
    pub fn with_agent(replica: &Replica, agent: &str) -> Self {
        let http = reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(agent)
            .build()
            .unwrap();
        Self { base: replica.base.clone(), http }
    }

    /// The same browser (the same cookies) talking to another replica.
    pub fn at(&self, replica: &Replica) -> Self {
        Self { base: replica.base.clone(), http: self.http.clone() }
    }

    pub async fn get(&self, path: &str) -> (u16, String) {
        let res = self.http.get(format!("{}{path}", self.base)).send().await.unwrap();
        (res.status().as_u16(), res.text().await.unwrap())
    }

    /// Posts a form with the `csrf_token` of the page at `form_page`.
    pub async fn submit(&self, form_page: &str, action: &str, fields: &[(&str, &str)]) -> (u16, String) {
        let token = csrf_in(&self.get(form_page).await.1).unwrap_or_else(|| panic!("no form on {form_page}"));
        let mut form = vec![("csrf_token", token.as_str())];
        form.extend_from_slice(fields);
        let res = self.http.post(format!("{}{action}", self.base)).form(&form).send().await.unwrap();
        (res.status().as_u16(), res.text().await.unwrap())
    }

    /// Signs in through the form as `user` (password `{user}-password`).
    pub async fn sign_in(&self, user: &str) {
        let password = format!("{user}-password");
        let fields = [("username", user), ("password", password.as_str())];
        assert_eq!(self.submit("/login", "/login", &fields).await.0, 303, "{user} signs in");
    }

    /// Signs in to the admin area as [`ADMIN`].
    pub async fn admin_sign_in(&self) {
        let fields = [("username", ADMIN.0), ("password", ADMIN.1)];
        assert_eq!(self.submit("/admin/login", "/admin/login", &fields).await.0, 303, "the admin signs in");
    }

    pub async fn picker_within_a_second(&self, check: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(1);
        loop {
            let page = self.get("/environments").await.1;
            if check(&page) || Instant::now() > deadline {
                return page;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

/// Two `portico serve` processes on the same Redis (`redis`: a `[redis]` section) and database,
/// with the admin account [`ADMIN`].
pub async fn two_processes(
    dir: &tempfile::TempDir,
    redis: &str,
    pg: &TestPostgres,
    master: &Simulator,
) -> (Replica, Replica) {
    two_processes_each(dir, [redis, redis], pg, master).await
}

/// [`two_processes`] with a `[redis]` section each (the same Redis, as different users, say).
pub async fn two_processes_each(
    dir: &tempfile::TempDir,
    redis: [&str; 2],
    pg: &TestPostgres,
    master: &Simulator,
) -> (Replica, Replica) {
    two_processes_with(dir, redis, "", pg, master).await
}

/// [`two_processes_each`] with more `[session]` keys (`session`: TOML lines).
pub async fn two_processes_with(
    dir: &tempfile::TempDir,
    redis: [&str; 2],
    session: &str,
    pg: &TestPostgres,
    master: &Simulator,
) -> (Replica, Replica) {
    let (port_a, port_b) = (free_port(), free_port());
    let config = |port: u16, redis: &str| {
        format!(
            "[server]\nlisten = \"127.0.0.1:{port}\"\nworkers = 1\n\n\
             [session]\nsecret = \"two-process-secret-0123456789abcdef0123\"\n{session}\n\
             {redis}[database]\nurl = \"{}\"\n\n\
             [federation]\ntimeout = \"1s\"\n\n[master]\nurl = \"{}\"\n",
            pg.url, master.url
        )
    };
    let (file_a, file_b) = (dir.path().join("a.toml"), dir.path().join("b.toml"));
    std::fs::write(&file_a, config(port_a, redis[0])).unwrap();
    std::fs::write(&file_b, config(port_b, redis[1])).unwrap();
    let stdin = format!("{}\n", ADMIN.1);
    let added = portico(&["admin", "--config", file_a.to_str().unwrap(), "add", ADMIN.0], &[], Some(&stdin));
    assert!(added.status.success(), "{}", text(&added));
    (Replica::start(&file_a, port_a).await, Replica::start(&file_b, port_b).await)
}
