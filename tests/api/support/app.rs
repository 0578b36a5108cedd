//! The application under test, started in-process on port 0 from a TOML configuration (so the
//! real configuration path is exercised), with a cookie-keeping client that does not follow
//! redirects.

use std::net::SocketAddr;

use actix_web::web;
use portico::clock::ManualClock;
use portico::startup::Application;
use portico::state::AppState;

use super::RedisServer;
use super::redis::{RedisConfig, Topology};

/// The `session.secret` of every test app (a process started beside one shares its sessions).
pub const SESSION_SECRET: &str = "test-secret-0123456789abcdef0123456789";

pub struct TestApp {
    pub address: SocketAddr,
    /// Where `/metrics` is served when `metrics.listen` gives it a listener of its own.
    pub metrics_address: Option<SocketAddr>,
    pub client: reqwest::Client,
    pub state: web::Data<AppState>,
    handle: portico::web::front::FrontHandle,
    _dir: tempfile::TempDir,
}

/// Builds the configuration of a test app.
pub struct TestAppBuilder {
    master_url: String,
    slaves: Vec<(String, String, String)>,
    redis: Option<RedisConfig>,
    key_prefix: String,
    database_url: Option<String>,
    public_url: String,
    master_timeout: String,
    master_gateway: Option<String>,
    slave_timeout: String,
    trusted_proxies: Vec<String>,
    clock: ManualClock,
    env: Vec<(String, String)>,
    extra: String,
    admins: Vec<(String, String)>,
}

impl TestAppBuilder {
    /// A master at `master_url` (nothing needs to listen there for tests that never sign in).
    pub fn new(master_url: &str) -> Self {
        Self {
            master_url: master_url.to_owned(),
            slaves: Vec::new(),
            redis: None,
            key_prefix: format!("portico-test-{:08x}:", rand::random::<u32>()),
            database_url: None,
            public_url: "http://localhost".to_owned(),
            master_timeout: "2s".to_owned(),
            master_gateway: None,
            trusted_proxies: Vec::new(),
            slave_timeout: "2s".to_owned(),
            clock: ManualClock::new(),
            env: Vec::new(),
            extra: String::new(),
            admins: Vec::new(),
        }
    }

    pub fn redis(mut self, redis: &RedisServer) -> Self {
        self.redis = Some(RedisConfig::Url(redis.url()));
        self
    }

    /// Redis as the topology is reached: a `url`, a `sentinel = { … }` or a `cluster = { … }`.
    pub fn redis_topology(mut self, topology: &Topology) -> Self {
        self.redis = Some(topology.config());
        self
    }

    pub fn slave(mut self, id: &str, name: &str, url: &str) -> Self {
        self.slaves.push((id.to_owned(), name.to_owned(), url.to_owned()));
        self
    }

    pub fn database(mut self, url: &str) -> Self {
        self.database_url = Some(url.to_owned());
        self
    }

    /// A `PORTICO__…` override, as an operator would set it (`set("session.idle_timeout", "1s")`).
    pub fn set(mut self, key: &str, value: &str) -> Self {
        let var = format!("PORTICO__{}", key.replace('.', "__").to_uppercase());
        self.env.push((var, value.to_owned()));
        self
    }

    /// A process environment variable as the config loader sees it (e.g. `IDENTITY_ENDPOINT`).
    pub fn env(mut self, name: &str, value: &str) -> Self {
        self.env.push((name.to_owned(), value.to_owned()));
        self
    }

    pub fn trusted_proxies(mut self, proxies: &[&str]) -> Self {
        self.trusted_proxies = proxies.iter().map(|p| format!("\"{p}\"")).collect();
        self
    }

    /// The master's API gateway (`gateway` in `[master]`, where "try it" sends calls): the
    /// master simulator's own (`Simulator::gateway_url`).
    pub fn master_gateway(mut self) -> Self {
        self.master_gateway = Some(format!("{}/gateway", self.master_url.trim_end_matches('/')));
        self
    }

    pub fn timeouts(mut self, master: &str, slaves: &str) -> Self {
        self.master_timeout = master.to_owned();
        self.slave_timeout = slaves.to_owned();
        self
    }

    /// Runs the app on `clock` (replicas that share one move together).
    pub fn with_clock(mut self, clock: ManualClock) -> Self {
        self.clock = clock;
        self
    }

    /// The clock the app runs on; tests move it instead of sleeping.
    pub fn clock(&self) -> ManualClock {
        self.clock.clone()
    }

    pub fn public_url(mut self, url: &str) -> Self {
        self.public_url = url.to_owned();
        self
    }

    /// Extra TOML appended to the generated file (sections the builder does not cover).
    pub fn toml(mut self, extra: &str) -> Self {
        self.extra.push_str(extra);
        self.extra.push('\n');
        self
    }

    /// An admin account created in the database once the app has started (as `portico admin
    /// add` would).
    pub fn admin(mut self, name: &str, password: &str) -> Self {
        self.admins.push((name.to_owned(), password.to_owned()));
        self
    }

    pub fn key_prefix(&self) -> &str {
        &self.key_prefix
    }

    /// Another replica's key prefix: apps sharing a Redis and a prefix share sessions, caches and
    /// change notifications.
    pub fn same_prefix_as(mut self, other: &TestAppBuilder) -> Self {
        self.key_prefix = other.key_prefix.clone();
        self
    }

    /// The app's config file. Its sessions have no revocation window: each app runs on a manual
    /// clock of its own, on which another replica's window would never end. (The window is tested
    /// on real clocks by `session_processes`, and on one manual clock by `store::session_tests`.)
    fn render(&self, dir: &std::path::Path) -> String {
        let database = self
            .database_url
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}", dir.join("portico.db").display()));
        let mut toml = format!(
            "[server]\nlisten = \"127.0.0.1:0\"\nworkers = 2\npublic_url = \"{}\"\ntrusted_proxies = [{}]\n\n[session]\nsecret = \"{SESSION_SECRET}\"\nrevocation_window = \"0s\"\n\n\
             [database]\nurl = \"{database}\"\n\n[master]\nurl = \"{}\"\ntimeout = \"{}\"\n{}\n",
            self.public_url,
            self.trusted_proxies.join(", "),
            self.master_url,
            self.master_timeout,
            self.master_gateway.as_ref().map(|g| format!("gateway = \"{g}\"\n")).unwrap_or_default()
        );
        if let Some(redis) = &self.redis {
            toml.push_str(&redis.toml(&self.key_prefix));
        }
        for (id, name, url) in &self.slaves {
            toml.push_str(&format!(
                "[[slaves]]\nid = \"{id}\"\nname = \"{name}\"\nurl = \"{url}\"\ntimeout = \"{}\"\n\n",
                self.slave_timeout
            ));
        }
        toml.push_str(&self.extra);
        toml
    }

    pub async fn spawn(self) -> TestApp {
        self.try_spawn().await.unwrap_or_else(|e| panic!("application builds: {e}"))
    }

    /// Like [`TestAppBuilder::spawn`], with the start-up error (its whole chain) instead of a panic.
    pub async fn try_spawn(self) -> Result<TestApp, String> {
        let dir = tempfile::tempdir().expect("temp dir");
        let text = self.render(dir.path());
        let report = portico::config::load_from_sources(
            Some((std::path::Path::new("test.toml"), &text)),
            self.env.clone(),
        );
        let Some(settings) = report.settings.clone() else {
            panic!("test config invalid:\n{}", report.render());
        };
        super::logs::capture();
        let app = Application::build_with_clock(settings, std::sync::Arc::new(self.clock.clone()))
            .await
            .map_err(|e| format!("{e:#}"))?;
        let address = app.address();
        let metrics_address = app.metrics_address();
        let state = app.state().clone();
        for (name, password) in &self.admins {
            let name = portico::store::sql::AdminName::parse(name).expect("admin name");
            let hash = portico::password::hash(secrecy::SecretString::from(password.clone()))
                .await
                .expect("admin password hashes");
            state.db().create_admin(&name, &hash).await.expect("admin account created");
        }
        let handle = app.handle();
        tokio::spawn(app.run_until_stopped());
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .cookie_store(true)
            .build()
            .expect("client");
        Ok(TestApp { address, metrics_address, client, state, handle, _dir: dir })
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.address, path)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).send().await.expect("request")
    }

    pub async fn post_form(&self, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
        self.client.post(self.url(path)).form(form).send().await.expect("request")
    }

    /// The value of a hidden `csrf_token` field on the page at `path`.
    pub async fn csrf_token(&self, path: &str) -> String {
        let page = self.get(path).await.text().await.expect("page");
        csrf_in(&page).unwrap_or_else(|| panic!("no csrf_token on {path}:\n{page}"))
    }

    /// Loads the sign-in form and posts it: the browser's way.
    pub async fn sign_in(&self, username: &str, password: &str) -> reqwest::Response {
        let token = self.csrf_token("/login").await;
        self.post_form("/login", &[("username", username), ("password", password), ("csrf_token", &token)])
            .await
    }

    /// Signs out through the form on the environments page.
    pub async fn sign_out(&self) -> reqwest::Response {
        let token = self.csrf_token("/environments").await;
        self.post_form("/logout", &[("csrf_token", &token)]).await
    }

    /// Loads the admin sign-in form and posts it.
    pub async fn admin_sign_in(&self, name: &str, password: &str) -> reqwest::Response {
        let token = self.csrf_token("/admin/login").await;
        self.post_form("/admin/login", &[("username", name), ("password", password), ("csrf_token", &token)])
            .await
    }

    pub async fn stop(self) {
        self.handle.stop(true).await;
    }
}

/// Finds `name="csrf_token" value="…"` in a page.
pub fn csrf_in(page: &str) -> Option<String> {
    let at = page.find("name=\"csrf_token\" value=\"")? + "name=\"csrf_token\" value=\"".len();
    let rest = &page[at..];
    Some(rest[..rest.find('"')?].to_owned())
}

/// The `Set-Cookie` headers of a response.
pub fn set_cookies(res: &reqwest::Response) -> Vec<String> {
    res.headers().get_all("set-cookie").iter().filter_map(|v| v.to_str().ok()).map(str::to_owned).collect()
}

pub fn location(res: &reqwest::Response) -> String {
    res.headers().get("location").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned()
}
