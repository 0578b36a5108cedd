//! The application under test, started in-process on port 0 from a TOML configuration (so the
//! real configuration path is exercised), with a cookie-keeping client that does not follow
//! redirects.

use std::net::SocketAddr;

use actix_web::web;
use portico::startup::{AppState, Application};

use super::RedisServer;

pub struct TestApp {
    pub address: SocketAddr,
    pub client: reqwest::Client,
    pub state: web::Data<AppState>,
    handle: actix_web::dev::ServerHandle,
    _dir: tempfile::TempDir,
}

/// Builds the configuration of a test app.
pub struct TestAppBuilder {
    master_url: String,
    slaves: Vec<(String, String, String)>,
    redis_url: Option<String>,
    key_prefix: String,
    database_url: Option<String>,
    public_url: String,
    extra: String,
}

impl TestAppBuilder {
    /// A master at `master_url` (nothing needs to listen there for tests that never sign in).
    pub fn new(master_url: &str) -> Self {
        Self {
            master_url: master_url.to_owned(),
            slaves: Vec::new(),
            redis_url: None,
            key_prefix: format!("portico-test-{:08x}:", rand::random::<u32>()),
            database_url: None,
            public_url: "http://localhost".to_owned(),
            extra: String::new(),
        }
    }

    pub fn redis(mut self, redis: &RedisServer) -> Self {
        self.redis_url = Some(redis.url());
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

    pub fn key_prefix(&self) -> &str {
        &self.key_prefix
    }

    fn render(&self, dir: &std::path::Path) -> String {
        let database = self
            .database_url
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}", dir.join("portico.db").display()));
        let mut toml = format!(
            "[server]\nlisten = \"127.0.0.1:0\"\nworkers = 2\npublic_url = \"{}\"\n\n[session]\nsecret = \"test-secret-0123456789abcdef0123456789\"\n\n\
             [database]\nurl = \"{database}\"\n\n[master]\nurl = \"{}\"\ntimeout = \"2s\"\n\n",
            self.public_url, self.master_url
        );
        if let Some(url) = &self.redis_url {
            toml.push_str(&format!("[redis]\nurl = \"{url}\"\nkey_prefix = \"{}\"\n\n", self.key_prefix));
        }
        for (id, name, url) in &self.slaves {
            toml.push_str(&format!(
                "[[slaves]]\nid = \"{id}\"\nname = \"{name}\"\nurl = \"{url}\"\ntimeout = \"2s\"\n\n"
            ));
        }
        toml.push_str(&self.extra);
        toml
    }

    pub async fn spawn(self) -> TestApp {
        let dir = tempfile::tempdir().expect("temp dir");
        let text = self.render(dir.path());
        let report =
            portico::config::load_from_sources(Some((std::path::Path::new("test.toml"), &text)), Vec::new());
        let Some(settings) = report.settings.clone() else {
            panic!("test config invalid:\n{}", report.render());
        };
        let app = Application::build(settings).await.expect("application builds");
        let address = app.address();
        let state = app.state().clone();
        let handle = app.handle();
        tokio::spawn(app.run_until_stopped());
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .cookie_store(true)
            .build()
            .expect("client");
        TestApp { address, client, state, handle, _dir: dir }
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.address, path)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).send().await.expect("request")
    }

    pub async fn stop(self) {
        self.handle.stop(true).await;
    }
}
