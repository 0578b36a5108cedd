//! Browser journeys: `node tests/browser/<script>` drives Debian's Chromium through playwright-core
//! (pinned in `tests/peers/package.json`) against a running test app, screenshots every step
//! under `target/screenshots/<test>/`, and reports one JSON line (see `tests/browser/lib.mjs`).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::missing_peer;

pub const CHROMIUM: &str = "/usr/bin/chromium";

/// How long a journey may run before it is killed. The script gives up by itself a little
/// earlier (`PORTICO_JOURNEY_TIMEOUT_MS`) so that it can still save a screenshot.
const JOURNEY_TIMEOUT: Duration = Duration::from_secs(120);
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(100);

/// What a journey that passed did.
#[derive(Debug)]
pub struct JourneyReport {
    pub steps: Vec<Step>,
    pub screenshots: Vec<PathBuf>,
    /// Where the screenshots are.
    pub dir: PathBuf,
}

#[derive(Debug)]
pub struct Step {
    pub name: String,
    pub ms: u64,
    /// What the step returned (`null` when nothing).
    pub data: Value,
}

impl JourneyReport {
    pub fn step_names(&self) -> Vec<&str> {
        self.steps.iter().map(|s| s.name.as_str()).collect()
    }

    /// The step called `name`; panics when the journey has none.
    pub fn step(&self, name: &str) -> &Step {
        self.steps
            .iter()
            .find(|s| s.name == name)
            .unwrap_or_else(|| panic!("no step {name:?} in the journey; steps: {:?}", self.step_names()))
    }
}

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `target/screenshots` (beside `target/tmp`, so `CARGO_TARGET_DIR` is honoured).
pub fn screenshots_root() -> PathBuf {
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    tmp.parent().unwrap_or(tmp).join("screenshots")
}

/// What is missing to run a journey, if anything: `(what, how to install it)`.
pub fn missing() -> Option<(String, String)> {
    let node = Command::new("node").arg("--version").stdout(Stdio::null()).stderr(Stdio::null()).status();
    if !node.is_ok_and(|status| status.success()) {
        return Some(("node".to_owned(), "apt-get install nodejs npm".to_owned()));
    }
    if !Path::new(CHROMIUM).is_file() {
        return Some((format!("Chromium ({CHROMIUM})"), "apt-get install chromium".to_owned()));
    }
    if !repo().join("tests/peers/node_modules/playwright-core/package.json").is_file() {
        return Some(("playwright-core".to_owned(), "run: npm install --prefix tests/peers".to_owned()));
    }
    None
}

/// Runs `tests/browser/<script>` against `base_url` with `env` added to its environment.
/// `None` when a peer is missing (after `missing_peer`); panics when the journey fails, with the
/// failed step, the end of the script's stderr and where the screenshot and HTML are.
pub async fn run_journey(
    test: &str,
    script: &str,
    base_url: &str,
    env: &[(&str, &str)],
) -> Option<JourneyReport> {
    if let Some((what, install)) = missing() {
        missing_peer(test, &what, &install);
        return None;
    }
    let dir = screenshots_root().join(test);
    if dir.exists() {
        std::fs::remove_dir_all(&dir).unwrap_or_else(|e| panic!("cannot clear {}: {e}", dir.display()));
    }
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));

    let script_path = repo().join("tests/browser").join(script);
    let mut command = Command::new("node");
    command
        .arg(&script_path)
        .arg(base_url)
        .arg(&dir)
        .current_dir(repo())
        .env("PORTICO_BASE_URL", base_url)
        .env("PORTICO_SCREENSHOTS", &dir)
        .env("PORTICO_JOURNEY_TIMEOUT_MS", SCRIPT_TIMEOUT.as_millis().to_string())
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // Its own process group, so that a journey that hangs is ended with its browser.
    std::os::unix::process::CommandExt::process_group(&mut command, 0);
    let mut child =
        command.spawn().unwrap_or_else(|e| panic!("cannot start node {}: {e}", script_path.display()));
    let stdout = read_all(child.stdout.take());
    let stderr = read_all(child.stderr.take());

    // The app under test is served by this test's runtime: wait without blocking it.
    let deadline = Instant::now() + JOURNEY_TIMEOUT;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if Instant::now() >= deadline => {
                kill_group(&mut child);
                break None;
            }
            Ok(None) => tokio::time::sleep(Duration::from_millis(100)).await,
            Err(e) => panic!("waiting for {script}: {e}"),
        }
    };
    let stdout = stdout.join().unwrap_or_default();
    let stderr = stderr.join().unwrap_or_default();
    let stderr_tail = tail(&stderr, 40);

    let Some(status) = status else {
        panic!(
            "{test}: journey {script} did not finish within {}s and was killed\nscreenshots so far: {}\nstderr (end):\n{stderr_tail}",
            JOURNEY_TIMEOUT.as_secs(),
            dir.display()
        );
    };
    let report = stdout
        .lines()
        .rev()
        .find_map(|line| serde_json::from_str::<Value>(line.trim()).ok().filter(|v| v.get("ok").is_some()));
    let Some(report) = report else {
        panic!(
            "{test}: journey {script} exited with {status} without a report\nstdout:\n{}\nstderr (end):\n{stderr_tail}",
            tail(&stdout, 20)
        );
    };

    if report["ok"] != Value::Bool(true) || !status.success() {
        let failed = &report["failed"];
        let done: Vec<&str> = report["steps"]
            .as_array()
            .map(|steps| steps.iter().filter_map(|s| s["name"].as_str()).collect())
            .unwrap_or_default();
        panic!(
            "{test}: journey {script} failed ({status}) at step {:?}: {}\nsteps passed: {done:?}\nscreenshots: {}\nhtml: {}\nfolder: {}\nstderr (end):\n{stderr_tail}",
            failed["step"].as_str().unwrap_or("?"),
            failed["error"].as_str().unwrap_or("?"),
            list(&report["screenshots"]),
            list(&report["html"]),
            dir.display(),
        );
    }

    let steps = report["steps"]
        .as_array()
        .map(|steps| {
            steps
                .iter()
                .map(|s| Step {
                    name: s["name"].as_str().unwrap_or_default().to_owned(),
                    ms: s["ms"].as_u64().unwrap_or_default(),
                    data: s.get("data").cloned().unwrap_or(Value::Null),
                })
                .collect()
        })
        .unwrap_or_default();
    let screenshots = report["screenshots"]
        .as_array()
        .map(|files| files.iter().filter_map(Value::as_str).map(PathBuf::from).collect())
        .unwrap_or_default();
    Some(JourneyReport { steps, screenshots, dir })
}

fn read_all(stream: Option<impl Read + Send + 'static>) -> JoinHandle<String> {
    std::thread::spawn(move || {
        let mut text = String::new();
        if let Some(mut stream) = stream {
            let mut bytes = Vec::new();
            let _ = stream.read_to_end(&mut bytes);
            text = String::from_utf8_lossy(&bytes).into_owned();
        }
        text
    })
}

/// Kills node and everything it started (Chromium), by the process group it leads.
fn kill_group(child: &mut Child) {
    let group = format!("-{}", child.id());
    let killed = Command::new("kill").args(["-KILL", "--", &group]).status().is_ok_and(|s| s.success());
    if !killed {
        let _ = child.kill();
    }
    let _ = child.wait();
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

fn list(value: &Value) -> String {
    let items: Vec<&str> =
        value.as_array().map(|a| a.iter().filter_map(Value::as_str).collect()).unwrap_or_default();
    if items.is_empty() { "(none)".to_owned() } else { items.join(", ") }
}
