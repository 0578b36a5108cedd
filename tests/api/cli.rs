//! The `portico` binary as an operator uses it: check-config, migrate, admin accounts, serve
//! refusing a bad file.

use std::io::Write;
use std::process::{Command, Output, Stdio};

pub(crate) fn portico(args: &[&str], env: &[(&str, &str)], stdin: Option<&str>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_portico"));
    cmd.args(args)
        .env_remove("PORTICO_CONFIG")
        .env("RUST_LOG", "warn")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("run portico");
    if let Some(input) = stdin {
        child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    }
    drop(child.stdin.take());
    child.wait_with_output().expect("portico exits")
}

pub(crate) fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

const BROKEN: &str = r#"# a file with several mistakes
[server]
listen = "127.0.0.1:8080"
lissten = "oops"

[session]
secret = { env = "PORTICO_TEST_SECRET_THAT_IS_NOT_SET" }
idle_timeout = "15 minutes please"

[master]
url = "not a url"
"#;

#[test]
fn check_config_lists_every_problem_with_its_key_and_line_and_fails() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("broken.toml");
    std::fs::write(&path, BROKEN).unwrap();
    let out = portico(&["check-config", "--config", path.to_str().unwrap()], &[], None);
    let report = text(&out);
    assert_eq!(out.status.code(), Some(1), "{report}");
    for (key, line) in
        [("server.lissten", 4), ("session.secret", 7), ("session.idle_timeout", 8), ("master.url", 11)]
    {
        let hit = report.lines().any(|l| l.contains(key) && l.contains(&format!("line {line}")));
        assert!(hit, "{key} at line {line} missing from:\n{report}");
    }
    assert!(report.contains("PORTICO_TEST_SECRET_THAT_IS_NOT_SET"), "names the missing variable:\n{report}");
    assert!(report.contains("PORTICO__SESSION__IDLE_TIMEOUT"), "names the override variable:\n{report}");
    assert!(!report.contains("panicked"), "{report}");
}

#[test]
fn check_config_accepts_the_example_file() {
    let out = portico(
        &["check-config", "--config", "config/portico.toml"],
        &[("PORTICO_SESSION_SECRET", "an-example-session-secret-of-enough-length")],
        None,
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}

#[test]
fn serve_refuses_a_broken_file_with_the_problems_and_no_panic() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("broken.toml");
    std::fs::write(&path, BROKEN).unwrap();
    let out = portico(&["serve", "--config", path.to_str().unwrap()], &[], None);
    let report = text(&out);
    assert_eq!(out.status.code(), Some(1), "{report}");
    assert!(report.contains("master.url"), "{report}");
    assert!(!report.contains("panicked"), "{report}");
}

fn admin_config(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("portico.toml");
    let toml = format!(
        "[database]\nurl = \"sqlite://{}\"\n\n[master]\nurl = \"http://127.0.0.1:9\"\n",
        dir.join("db/portico.db").display()
    );
    std::fs::write(&path, toml).unwrap();
    path
}

#[test]
fn migrate_then_admin_accounts_from_stdin() {
    let dir = tempfile::tempdir().unwrap();
    let config = admin_config(dir.path());
    let config = config.to_str().unwrap();

    let out = portico(&["migrate", "--config", config], &[], None);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("migration"), "{}", text(&out));

    let out = portico(&["admin", "--config", config, "list"], &[], None);
    assert!(text(&out).contains("no admin accounts"), "{}", text(&out));

    let out =
        portico(&["admin", "--config", config, "add", "root-admin"], &[], Some("a very good password\n"));
    assert!(out.status.success(), "{}", text(&out));
    assert!(!text(&out).contains("a very good password"), "the password is never echoed");

    let out =
        portico(&["admin", "--config", config, "add", "root-admin"], &[], Some("a very good password\n"));
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).contains("already exists"), "{}", text(&out));

    let out = portico(&["admin", "--config", config, "add", "shorty"], &[], Some("short\n"));
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).contains("at least"), "{}", text(&out));

    let out =
        portico(&["admin", "--config", config, "passwd", "nobody"], &[], Some("another good password\n"));
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).contains("no admin named nobody"), "{}", text(&out));

    let out =
        portico(&["admin", "--config", config, "passwd", "root-admin"], &[], Some("another good password\n"));
    assert!(out.status.success(), "{}", text(&out));

    let out = portico(&["admin", "--config", config, "list"], &[], None);
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "root-admin");

    let out =
        portico(&["admin", "--config", config, "add", "bad name!"], &[], Some("a very good password\n"));
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).contains("admin names are"), "{}", text(&out));
}

/// `portico demo` kills its child on drop.
struct Demo(std::process::Child);

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_offers_every_sign_in_and_shows_an_environment_that_is_down() {
    use std::io::BufRead;
    // Port 0: the banner says which port the portal took (no other process can have it).
    let mut child = Command::new(env!("CARGO_BIN_EXE_portico"))
        .args(["demo", "--listen", "127.0.0.1:0"])
        .env_remove("PORTICO_CONFIG")
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("portico demo");
    let stdout = child.stdout.take().unwrap();
    let stderr = child.stderr.take().unwrap();
    let demo = Demo(child);
    let (errors_sender, errors) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut text = String::new();
        let _ = std::io::Read::read_to_string(&mut std::io::BufReader::new(stderr), &mut text);
        let _ = errors_sender.send(text);
    });
    // Standard output is read to its end in the background: a demo writing to a closed pipe is
    // not what this test is about.
    let (sender, banner) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let mut lines = Vec::new();
        let mut sender = Some(sender);
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let done = line.contains("Ctrl+C");
            lines.push(line);
            if done && let Some(sender) = sender.take() {
                let _ = sender.send(lines.join("\n"));
            }
        }
    });
    let Ok(Ok(banner)) = tokio::time::timeout(std::time::Duration::from_secs(60), banner).await else {
        let errors = errors.recv_timeout(std::time::Duration::from_secs(5)).unwrap_or_default();
        panic!("the demo printed no banner; it said:\n{errors}");
    };
    for offered in [
        "alice / alice-password",
        "bob / bob-password",
        "dave / dave-password",
        "carol / carol-password",
        "frank / frank-password",
    ] {
        assert!(banner.contains(offered), "the banner offers {offered}:\n{banner}");
    }
    assert!(banner.contains("admin-password"), "{banner}");

    let browser = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let base = banner
        .lines()
        .find_map(|line| line.strip_prefix("Portico demo is running at "))
        .unwrap_or_else(|| panic!("the banner says where:\n{banner}"))
        .trim()
        .to_owned();
    let form = browser.get(format!("{base}/login")).send().await.unwrap().text().await.unwrap();
    let token = crate::support::csrf_in(&form).unwrap();
    let signed_in = browser
        .post(format!("{base}/login"))
        .form(&[("username", "alice"), ("password", "alice-password"), ("csrf_token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(signed_in.status(), 303);
    let picker = browser.get(format!("{base}/environments")).send().await.unwrap().text().await.unwrap();
    let start =
        picker.find("id=\"env-archive\"").unwrap_or_else(|| panic!("the archive is listed:\n{picker}"));
    let entry = &picker[start..start + picker[start..].find("</li>").unwrap()];
    assert!(entry.contains("unavailable"), "shown as unavailable: {entry}");
    drop(demo);
}
