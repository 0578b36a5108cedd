//! The text `portico check-config` prints: one block per problem, errors first, then a summary.

use std::fmt::Write as _;

use super::{ConfigProblem, ConfigReport, Severity};

impl ConfigReport {
    pub fn has_errors(&self) -> bool {
        self.problems.iter().any(|p| p.severity == Severity::Error)
    }

    /// Every problem, errors first, each with where it was set and how to override it, then a
    /// summary line. Messages never hold secret values, so this is safe to print and log.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let ordered = self.of(Severity::Error).chain(self.of(Severity::Warning));
        for problem in ordered {
            render_problem(&mut out, problem);
        }
        out.push_str(&self.summary());
        out.push('\n');
        out
    }

    fn of(&self, severity: Severity) -> impl Iterator<Item = &ConfigProblem> {
        self.problems.iter().filter(move |p| p.severity == severity)
    }

    fn summary(&self) -> String {
        let errors = self.of(Severity::Error).count();
        let warnings = self.of(Severity::Warning).count();
        match (errors, warnings) {
            (0, 0) => "configuration OK".to_owned(),
            (0, w) => format!("configuration OK ({})", counted(w, "warning")),
            (e, 0) => counted(e, "error"),
            (e, w) => format!("{}, {}", counted(e, "error"), counted(w, "warning")),
        }
    }
}

fn counted(n: usize, what: &str) -> String {
    if n == 1 { format!("1 {what}") } else { format!("{n} {what}s") }
}

fn render_problem(out: &mut String, p: &ConfigProblem) {
    let severity = match p.severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
    };
    let place = match (&p.file, p.line) {
        _ if p.from_env => Some(format!("environment variable {}", p.env_var)),
        (Some(file), Some(line)) => Some(format!("{} line {line}", file.display())),
        (Some(file), None) => Some(file.display().to_string()),
        (None, _) => None,
    };
    let _ = match (p.key.is_empty(), place) {
        (true, Some(place)) => writeln!(out, "{severity}: {place}: {}", p.message),
        (true, None) => writeln!(out, "{severity}: {}", p.message),
        (false, Some(place)) => writeln!(out, "{severity}: {} ({place}): {}", p.key, p.message),
        (false, None) => writeln!(out, "{severity}: {}: {}", p.key, p.message),
    };
    if p.key.is_empty() {
        return;
    }
    let _ = if p.message.starts_with("unknown key") {
        writeln!(out, "  remove it or correct its name")
    } else if p.from_env {
        writeln!(out, "  set by {}; change or unset that variable", p.env_var)
    } else {
        writeln!(out, "  set in the file or override with {}", p.env_var)
    };
}
