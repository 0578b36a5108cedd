//! Loading: file + environment overrides → checked settings, or every problem at once.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::file::{self, Lines};
use super::tree::{Entry, KeyPath, Node, Origin, Seg};
use super::{SecretError, Settings, overrides, typed, validate};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Error,
    Warning,
}

/// One problem with the configuration, tied to its key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    pub severity: Severity,
    /// Dotted key, e.g. `session.idle_timeout` or `slaves[1].url`; empty for a problem with the
    /// file as a whole (unreadable, not TOML).
    pub key: String,
    /// The environment variable that overrides the key, e.g. `PORTICO__SESSION__IDLE_TIMEOUT`.
    pub env_var: String,
    /// Where the value came from: file and 1-based line, when it came from the file.
    pub file: Option<PathBuf>,
    pub line: Option<usize>,
    /// Set when the value came from the environment variable instead of the file.
    pub from_env: bool,
    pub message: String,
}

impl std::fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.key, self.message)
    }
}

/// The outcome of loading: settings when there is no error, and every problem found.
#[derive(Debug)]
pub struct ConfigReport {
    pub settings: Option<Settings>,
    pub problems: Vec<ConfigProblem>,
}

/// Loads `path` (or the embedded defaults when `path` is `None`) with overrides from the process
/// environment. Variables whose name or value is not UTF-8 are ignored.
pub fn load(path: Option<&Path>) -> ConfigReport {
    let env = std::env::vars_os().filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)));
    match path {
        None => load_from_sources(None, env),
        Some(path) => match std::fs::read_to_string(path) {
            Ok(text) => load_from_sources(Some((path, &text)), env),
            Err(e) => file_problem(path, None, format!("cannot read {}: {e}", path.display())),
        },
    }
}

/// Loads from explicit sources, for tests: file text (with its path for messages) and the
/// environment as key/value pairs. Secret references are resolved against `env` too.
pub fn load_from_sources(
    file: Option<(&Path, &str)>,
    env: impl IntoIterator<Item = (String, String)>,
) -> ConfigReport {
    let env: Vec<(String, String)> = env.into_iter().collect();
    let mut root = match file {
        None => Entry::empty_table(Origin::File(None)),
        Some((path, text)) => match toml_edit::Document::parse(text) {
            Ok(doc) => file::from_document(&doc, &Lines::new(text)),
            Err(e) => {
                let line = e.span().map(|s| Lines::new(text).line(s.start));
                let message = format!("not valid TOML: {}", e.message().trim_end());
                return file_problem(path, line, message);
            }
        },
    };
    let at = Locator { file: file.map(|(p, _)| p.to_path_buf()) };
    let mut problems = Vec::new();
    for e in overrides::apply(&mut root, &env) {
        problems.push(at.problem(Severity::Error, &e.key, &Origin::Env { var: e.var, raw: None }, e.message));
    }
    let sensitive = sensitive_strings(&root, &KeyPath::default());
    let mut typed = typed::read(&mut root);
    if let Some(settings) = &mut typed.settings {
        match app_service_identity(&env) {
            Ok(app_service) => settings.identity.app_service = app_service,
            Err(message) => problems.push(ConfigProblem {
                severity: Severity::Error,
                key: "identity".to_owned(),
                env_var: "IDENTITY_ENDPOINT".to_owned(),
                file: None,
                line: None,
                from_env: true,
                message,
            }),
        }
    }
    for f in &typed.findings {
        problems.push(at.problem(Severity::Error, &f.key, &f.origin, f.message.clone()));
    }
    if let Some(settings) = &typed.settings {
        let env_map: HashMap<&str, &str> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let lookup = |name: &str| -> Result<Option<String>, SecretError> {
            Ok(env_map.get(name).map(|v| (*v).to_owned()))
        };
        for check in validate::validate(settings, &lookup) {
            if typed.tainted.iter().any(|t| check.key.starts_with(t)) {
                continue;
            }
            // A key left at its default has no place to point at.
            let origin = root.get(&check.key.0).map_or(Origin::Placeholder, |e| e.origin.clone());
            if check.plain_secret && matches!(origin, Origin::Env { .. }) {
                continue;
            }
            problems.push(at.problem(check.severity, &check.key, &origin, check.message));
        }
    }
    for problem in &mut problems {
        for secret in &sensitive {
            problem.message = problem.message.replace(secret.as_str(), "[redacted]");
        }
    }
    problems.sort_by_key(|p| (p.severity, p.file.is_none(), !p.from_env, p.line.unwrap_or(usize::MAX)));
    let has_error = problems.iter().any(|p| p.severity == Severity::Error);
    ConfigReport { settings: typed.settings.filter(|_| !has_error), problems }
}

fn file_problem(path: &Path, line: Option<usize>, message: String) -> ConfigReport {
    let problem = ConfigProblem {
        severity: Severity::Error,
        key: String::new(),
        env_var: String::new(),
        file: Some(path.to_path_buf()),
        line,
        from_env: false,
        message,
    };
    ConfigReport { settings: None, problems: vec![problem] }
}

/// Turns a key and the origin of its value into a located problem.
struct Locator {
    file: Option<PathBuf>,
}

impl Locator {
    fn problem(&self, severity: Severity, key: &KeyPath, origin: &Origin, message: String) -> ConfigProblem {
        let derived = key.env_var();
        let (file, line, from_env, env_var) = match origin {
            Origin::File(line) => (self.file.clone(), *line, false, derived),
            Origin::Env { var, .. } => (None, None, true, var.clone()),
            Origin::Placeholder => (None, None, false, derived),
        };
        ConfigProblem { severity, key: key.to_string(), env_var, file, line, from_env, message }
    }
}

/// Every plain string given for a secret-bearing key (from the file or an override), so that no
/// message can repeat it, whatever produced the message. References (`{ env = "X" }`) are not
/// secret and stay readable.
fn sensitive_strings(entry: &Entry, path: &KeyPath) -> Vec<String> {
    let mut found = Vec::new();
    collect_sensitive(entry, path, &mut found);
    found.retain(|s| s.len() >= 4);
    found.sort_by_key(|s| std::cmp::Reverse(s.len()));
    found
}

fn collect_sensitive(entry: &Entry, path: &KeyPath, found: &mut Vec<String>) {
    match &entry.node {
        Node::Value(toml::Value::String(s)) if is_sensitive(path) => found.push(s.clone()),
        Node::Value(_) => {}
        Node::Array(items) => {
            for (i, e) in items.iter().enumerate() {
                collect_sensitive(e, &path.index(i), found);
            }
        }
        Node::Table(items) => {
            for (k, e) in items {
                collect_sensitive(e, &path.key(k), found);
            }
        }
    }
}

fn is_sensitive(path: &KeyPath) -> bool {
    let last = path.0.last();
    let is = |name: &str| last == Some(&Seg::Key(name.to_owned()));
    let in_store = matches!(path.0.first(), Some(Seg::Key(s)) if s == "redis" || s == "database");
    is("secret")
        || is("password")
        || is("pkcs12")
        || is("token")
        || is("client_secret")
        || (in_store && is("url"))
}

/// The App Service identity endpoint, when the platform set `IDENTITY_ENDPOINT` and
/// `IDENTITY_HEADER` (both or neither).
fn app_service_identity(env: &[(String, String)]) -> Result<Option<super::AppServiceIdentity>, String> {
    let get =
        |name: &str| env.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str()).filter(|v| !v.is_empty());
    match (get("IDENTITY_ENDPOINT"), get("IDENTITY_HEADER")) {
        (None, None) => Ok(None),
        (Some(endpoint), Some(header)) => {
            let endpoint =
                url::Url::parse(endpoint).map_err(|e| format!("IDENTITY_ENDPOINT is not a URL ({e})"))?;
            Ok(Some(super::AppServiceIdentity {
                endpoint,
                header: secrecy::SecretString::from(header.to_owned()),
            }))
        }
        _ => Err("IDENTITY_ENDPOINT and IDENTITY_HEADER must be set together (App Service managed identity)"
            .to_owned()),
    }
}
