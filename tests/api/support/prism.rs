//! Prism (`@stoplight/prism-cli`, pinned in `tests/peers/package.json`) as a validating proxy
//! in front of a simulated manager, with the derived copy of the swagger it validates against.

use std::io::{BufRead, BufReader, Read};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use url::Url;

/// The swagger the manager protocol follows, beside the repository (`../shared/reference/`).
pub fn swagger_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/reference/api-manager-v1.3.swagger.json")
}

fn peers_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers")
}

/// What is missing to run Prism, if anything: `(what, how to install it)`.
pub fn missing() -> Option<(String, String)> {
    if !swagger_path().is_file() {
        return Some((
            format!("the API Manager swagger at {}", swagger_path().display()),
            "check out shared/ beside the repository".to_owned(),
        ));
    }
    let node = Command::new("node").arg("--version").output();
    if !node.is_ok_and(|out| out.status.success()) {
        return Some(("node".to_owned(), "apt-get install nodejs npm".to_owned()));
    }
    if !peers_dir().join("node_modules/@stoplight/prism-cli/package.json").is_file() {
        return Some(("Prism".to_owned(), "run: npm install --prefix tests/peers".to_owned()));
    }
    None
}

/// The swagger as Prism can use it, with what a request or response must look like unchanged:
/// - the base path folded into every path (Prism ignores `basePath` without a `host`);
/// - examples holding a `$ref` dropped (Prism tries to open `{"$ref": "User"}` as a file);
/// - operations secured by `basic` also accept the session cookie or an `Authorization`
///   header (bearer tokens), the other ways a manager accepts a caller.
pub fn derived_swagger(original: &Value) -> Value {
    let mut spec = original.clone();
    let base_path = spec["basePath"].as_str().unwrap_or("").trim_end_matches('/').to_owned();
    if let Some(object) = spec.as_object_mut() {
        object.remove("basePath");
    }
    if let Some(paths) = spec["paths"].as_object() {
        let folded = paths.iter().map(|(path, item)| (format!("{base_path}{path}"), item.clone())).collect();
        spec["paths"] = Value::Object(folded);
    }
    drop_ref_examples(&mut spec);
    spec["securityDefinitions"]["session"] = json!({ "type": "apiKey", "in": "header", "name": "Cookie" });
    spec["securityDefinitions"]["authorization"] =
        json!({ "type": "apiKey", "in": "header", "name": "Authorization" });
    if let Some(paths) = spec["paths"].as_object_mut() {
        for operation in
            paths.values_mut().filter_map(Value::as_object_mut).flat_map(|item| item.values_mut())
        {
            if let Some(security) = operation.get_mut("security").and_then(Value::as_array_mut) {
                security.push(json!({ "session": [] }));
                security.push(json!({ "authorization": [] }));
            }
        }
    }
    spec
}

fn drop_ref_examples(value: &mut Value) {
    match value {
        Value::Object(object) => {
            if object.get("example").is_some_and(holds_ref) {
                object.remove("example");
            }
            object.values_mut().for_each(drop_ref_examples);
        }
        Value::Array(items) => items.iter_mut().for_each(drop_ref_examples),
        _ => {}
    }
}

fn holds_ref(value: &Value) -> bool {
    match value {
        Value::Object(object) => object.contains_key("$ref") || object.values().any(holds_ref),
        Value::Array(items) => items.iter().any(holds_ref),
        _ => false,
    }
}

/// A running `prism proxy --errors` (through `tests/peers/prism-proxy.cjs`), killed on drop.
pub struct PrismProxy {
    child: Child,
    pub url: Url,
    log: Arc<Mutex<String>>,
}

impl PrismProxy {
    pub fn start(spec: &Path, upstream: &Url) -> Result<Self, String> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| e.to_string())?
            .port();
        let mut child = Command::new("node")
            .arg(peers_dir().join("prism-proxy.cjs"))
            .arg("proxy")
            .arg(spec)
            .arg(upstream.as_str())
            .args(["--errors", "--no-multiprocess", "--host", "127.0.0.1", "--port"])
            .arg(port.to_string())
            .current_dir(peers_dir())
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start Prism: {e}"))?;
        let log = Arc::new(Mutex::new(String::new()));
        if let Some(out) = child.stdout.take() {
            collect(out, log.clone());
        }
        if let Some(err) = child.stderr.take() {
            collect(err, log.clone());
        }
        let proxy = Self {
            child,
            url: Url::parse(&format!("http://127.0.0.1:{port}")).map_err(|e| e.to_string())?,
            log,
        };
        proxy.wait_ready(port)?;
        Ok(proxy)
    }

    fn wait_ready(&self, port: u16) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(90);
        while Instant::now() < deadline {
            if self.log().contains("Prism is listening") && TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Err(format!("Prism did not start within 90s; its output:\n{}", self.log()))
    }

    /// Everything Prism printed so far, without terminal colours.
    pub fn log(&self) -> String {
        let log = self.log.lock().map(|l| l.clone()).unwrap_or_default();
        strip_ansi(&log)
    }
}

/// The lines of Prism's output at error level (violations and refused requests).
pub fn error_violations(log: &str) -> Vec<String> {
    lines_at_level(log, "error")
}

/// The lines of Prism's output at warning level (for instance undeclared statuses).
pub fn warnings(log: &str) -> Vec<String> {
    lines_at_level(log, "warning")
}

/// Prism prints `[time] › [COMPONENT] [method path] SYMBOL  level  message`: the level is the
/// first level word after the component, so a message that merely mentions "error" does not
/// count.
fn lines_at_level(log: &str, level: &str) -> Vec<String> {
    const LEVELS: &[&str] =
        &["fatal", "error", "warning", "info", "debug", "trace", "start", "awaiting", "success", "note"];
    log.lines()
        .filter(|line| {
            let Some((_, after_component)) =
                line.split_once("] ").and_then(|(_, rest)| rest.split_once("] "))
            else {
                return false;
            };
            after_component.split_whitespace().find(|word| LEVELS.contains(word)) == Some(level)
        })
        .map(str::to_owned)
        .collect()
}

impl Drop for PrismProxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn collect(stream: impl Read + Send + 'static, log: Arc<Mutex<String>>) {
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            if let Ok(mut log) = log.lock() {
                log.push_str(&line);
                log.push('\n');
            }
        }
    });
}

fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' && chars.peek() == Some(&'[') {
            for next in chars.by_ref() {
                if next.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}
