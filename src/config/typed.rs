//! Typed reading that collects every mistake: deserialize, note the first error with its key,
//! neutralise that key in the tree, and try again until the tree reads cleanly.
//!
//! serde stops at the first error, so one pass per mistake; the number of passes is bounded.

use std::collections::HashMap;

use super::Settings;
use super::tree::{Entry, KeyPath, Node, Origin, Seg};

/// A mistake found while reading the tree into [`Settings`].
pub(super) struct Finding {
    pub key: KeyPath,
    pub message: String,
    /// Where the offending value came from, noted before the loader removed it.
    pub origin: Origin,
}

pub(super) struct Typed {
    /// The settings read, possibly with defaults or placeholders standing in for bad keys.
    pub settings: Option<Settings>,
    pub findings: Vec<Finding>,
    /// Keys the loader removed or made up: later checks say nothing about them.
    pub tainted: Vec<KeyPath>,
}

const MAX_PASSES: usize = 500;

/// Values tried, in order, in place of a missing required key so that the rest can be checked:
/// a table first (so a missing section reports the keys it needs), then common scalar shapes.
fn placeholder(stage: usize) -> Option<Entry> {
    let value = match stage {
        0 => return Some(Entry::empty_table(Origin::Placeholder)),
        1 => toml::Value::String("placeholder".to_owned()),
        2 => toml::Value::String("http://placeholder.invalid/".to_owned()),
        3 => toml::Value::Integer(1),
        4 => toml::Value::Boolean(false),
        5 => toml::Value::Array(Vec::new()),
        _ => return None,
    };
    Some(Entry::new(Node::Value(value), Origin::Placeholder))
}

struct Pass<'a> {
    root: &'a mut Entry,
    findings: Vec<Finding>,
    tainted: Vec<KeyPath>,
    stages: HashMap<KeyPath, usize>,
}

pub(super) fn read(root: &mut Entry) -> Typed {
    let mut pass = Pass { root, findings: Vec::new(), tainted: Vec::new(), stages: HashMap::new() };
    let mut settings = None;
    for _ in 0..MAX_PASSES {
        let err = match serde_path_to_error::deserialize::<_, Settings>(pass.root.to_toml()) {
            Ok(read) => {
                settings = Some(read);
                break;
            }
            Err(err) => err,
        };
        let path = convert(err.path());
        let message = err.inner().message().to_owned();
        if !pass.neutralise(path.clone(), &message) {
            // Nothing more can be untangled: keep the error as found and stop here.
            pass.report(path, message);
            break;
        }
    }
    if settings.is_none() && pass.findings.is_empty() {
        let message = "the configuration is too tangled to check".to_owned();
        pass.findings.push(Finding { key: KeyPath::default(), message, origin: Origin::File(None) });
    }
    Typed { settings, findings: pass.findings, tainted: pass.tainted }
}

impl Pass<'_> {
    /// Records the error at `path` and changes the tree so the next pass gets further. False when
    /// no change is possible.
    fn neutralise(&mut self, path: KeyPath, message: &str) -> bool {
        if let Some((field, expected)) = unknown_field(message) {
            let key = if path.0.last() == Some(&Seg::Key(field.clone())) { path } else { path.key(&field) };
            self.report(key.clone(), unknown_key_message(&field, &expected));
            return self.root.remove(&key);
        }
        if let Some(field) = between_backticks(message.strip_prefix("missing field ")) {
            let key = path.key(&field);
            return match (self.stages.contains_key(&key), placeholder(0)) {
                (false, Some(table)) => {
                    self.stages.insert(key.clone(), 1);
                    self.tainted.push(key.clone());
                    self.put(&key, table)
                }
                _ => false,
            };
        }
        if let Some(stage) = self.stages.get(&path).copied() {
            // A placeholder of ours did not fit: the key is required and was missing.
            if stage == 1 {
                self.report_missing(path.clone());
            }
            self.stages.insert(path.clone(), stage + 1);
            return placeholder(stage).is_some_and(|p| self.put(&path, p));
        }
        if self.retry_as_string(&path) {
            return true;
        }
        self.report(path.clone(), polish(message));
        self.remove_nearest(&path)
    }

    /// A missing key is located at its table in the file; a table made by an override of some
    /// other key says nothing about where this one should come from.
    fn report_missing(&mut self, key: KeyPath) {
        let origin = match self.root.origin_near(&key.0) {
            Origin::Env { .. } => Origin::Placeholder,
            other => other.clone(),
        };
        self.report_at(key, "required key is missing".to_owned(), origin);
    }

    fn report(&mut self, key: KeyPath, message: String) {
        let origin = self.root.origin_near(&key.0).clone();
        self.report_at(key, message, origin);
    }

    fn report_at(&mut self, key: KeyPath, message: String, origin: Origin) {
        let known = self.findings.iter().any(|f| key.starts_with(&f.key) && !f.key.0.is_empty());
        if !known {
            self.findings.push(Finding { key: key.clone(), message, origin });
        }
        self.tainted.push(key);
    }

    fn put(&mut self, key: &KeyPath, entry: Entry) -> bool {
        let Some((last, parent)) = key.0.split_last() else {
            return false;
        };
        self.root.get_mut(parent).is_some_and(|p| p.set_child(last, entry))
    }

    /// An environment value read as `5` or `true` where the key wants a string: use its text.
    fn retry_as_string(&mut self, path: &KeyPath) -> bool {
        let Some(entry) = self.root.get_mut(&path.0) else {
            return false;
        };
        let Origin::Env { var, raw: raw @ Some(_) } = &mut entry.origin else {
            return false;
        };
        let (var, text) = (var.clone(), raw.take().unwrap_or_default());
        *entry = Entry::new(Node::Value(toml::Value::String(text)), Origin::Env { var, raw: None });
        true
    }

    /// Removes the value at `path`, or at its nearest ancestor present in the tree.
    fn remove_nearest(&mut self, path: &KeyPath) -> bool {
        let mut path = path.clone();
        while !path.0.is_empty() {
            if self.root.remove(&path) {
                return true;
            }
            path.0.pop();
        }
        false
    }
}

/// serde speaks of maps, sequences and structs; a TOML file has tables and lists.
fn polish(message: &str) -> String {
    if let Some(value) = between_backticks(message.strip_prefix("unknown variant ")) {
        let rest = message.split_once(", expected").map(|(_, r)| r).unwrap_or_default();
        let known: Vec<String> = rest.split('`').skip(1).step_by(2).map(str::to_owned).collect();
        return match closest(&value, &known) {
            Some(near) => format!("unknown value `{value}`; did you mean `{near}`?"),
            None => format!("unknown value `{value}`; expected{rest}"),
        };
    }
    if message == "invalid socket address syntax" {
        return "not an address and port such as \"0.0.0.0:8080\" or \"[::]:8080\"".to_owned();
    }
    let Some(rest) = message.strip_prefix("invalid type: ") else {
        return message.to_owned();
    };
    let (found, expected) = rest.split_once(", expected ").unwrap_or((rest, ""));
    let word = |s: &str| match s {
        "map" => "a table".to_owned(),
        "sequence" | "a sequence" => "a list".to_owned(),
        s if s.starts_with("struct ") => "a table".to_owned(),
        s => s.to_owned(),
    };
    match expected {
        "" => format!("wrong type: {}", word(found)),
        expected => format!("wrong type: found {}, expected {}", word(found), word(expected)),
    }
}

fn convert(path: &serde_path_to_error::Path) -> KeyPath {
    use serde_path_to_error::Segment;
    let mut segs = Vec::new();
    for segment in path.iter() {
        match segment {
            Segment::Seq { index } => segs.push(Seg::Index(*index)),
            Segment::Map { key } => segs.push(Seg::Key(key.clone())),
            Segment::Enum { variant } => segs.push(Seg::Key(variant.clone())),
            Segment::Unknown => break,
        }
    }
    KeyPath(segs)
}

fn between_backticks(text: Option<&str>) -> Option<String> {
    let rest = text?.strip_prefix('`')?;
    rest.split_once('`').map(|(name, _)| name.to_owned())
}

/// Reads serde's "unknown field `x`, expected one of `a`, `b`" into the field and the known names.
fn unknown_field(message: &str) -> Option<(String, Vec<String>)> {
    let field = between_backticks(message.strip_prefix("unknown field "))?;
    let rest = message.split_once(", expected").map(|(_, r)| r).unwrap_or_default();
    let expected = rest.split('`').skip(1).step_by(2).map(str::to_owned).collect();
    Some((field, expected))
}

fn unknown_key_message(field: &str, expected: &[String]) -> String {
    match closest(field, expected) {
        Some(near) => format!("unknown key `{field}`; did you mean `{near}`?"),
        None if expected.is_empty() => format!("unknown key `{field}`: this table has no keys"),
        None => {
            let names: Vec<String> = expected.iter().map(|n| format!("`{n}`")).collect();
            format!("unknown key `{field}`; known keys here: {}", names.join(", "))
        }
    }
}

/// The known name nearest to `field`, when it is near enough to be a typo.
fn closest<'a>(field: &str, names: &'a [String]) -> Option<&'a str> {
    let field_lower = field.to_ascii_lowercase();
    let is_prefix =
        |n: &str| field_lower.len() >= 3 && (n.starts_with(&field_lower) || field_lower.starts_with(n));
    names
        .iter()
        .map(|n| (if is_prefix(n) { 0 } else { edit_distance(&field_lower, n) }, n))
        .filter(|(d, n)| *d <= (n.chars().count() / 3).max(1))
        .min_by_key(|(d, _)| *d)
        .map(|(_, n)| n.as_str())
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitute = diagonal + usize::from(ca != *cb);
            diagonal = row[j + 1];
            row[j + 1] = substitute.min(row[j] + 1).min(diagonal + 1);
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_near_names_only() {
        let names = vec!["listen".to_owned(), "public_url".to_owned(), "trusted_proxies".to_owned()];
        assert_eq!(closest("lisen", &names), Some("listen"));
        assert_eq!(closest("publicurl", &names), Some("public_url"));
        assert_eq!(closest("colour", &names), None);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }
}
