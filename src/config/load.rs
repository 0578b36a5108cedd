//! Loading: file + environment overrides → checked settings, or every problem at once.
//!
//! CONTRACT (implementation pending): see the functions below.

use std::path::{Path, PathBuf};

use super::Settings;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    Error,
    Warning,
}

/// One problem with the configuration, tied to its key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    pub severity: Severity,
    /// Dotted key, e.g. `session.idle_timeout` or `slaves[1].url`.
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
/// environment.
pub fn load(path: Option<&Path>) -> ConfigReport {
    let text = path.map(std::fs::read_to_string);
    let _ = text;
    ConfigReport { settings: None, problems: Vec::new() }
}

/// Loads from explicit sources, for tests: file text (with its path for messages) and the
/// environment as key/value pairs.
pub fn load_from_sources(
    file: Option<(&Path, &str)>,
    env: impl IntoIterator<Item = (String, String)>,
) -> ConfigReport {
    let _ = (file, env.into_iter().count());
    ConfigReport { settings: None, problems: Vec::new() }
}

impl ConfigReport {
    pub fn has_errors(&self) -> bool {
        self.problems.iter().any(|p| p.severity == Severity::Error)
    }

    pub fn render(&self) -> String {
        self.problems.iter().map(|p| format!("{p}\n")).collect()
    }
}
