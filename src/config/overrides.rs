//! Environment overrides: `PORTICO__SECTION__KEY=value` written into the merged tree.
//!
//! Segments are separated by double underscores and lower-cased; a number addresses an array
//! element (`PORTICO__SLAVES__0__URL`). The value is read as a TOML value when it is one
//! (`true`, `5`, `"x"`, `{ env = "X" }`, `["10.0.0.0/8"]`), otherwise as a plain string.

use super::ENV_PREFIX;
use super::file::value_entry;
use super::tree::{Entry, KeyPath, Node, Origin, Seg};

/// Why an override could not be applied (the variable is named by the caller).
pub(super) struct OverrideError {
    pub var: String,
    pub key: KeyPath,
    pub message: String,
}

/// Applies every `PORTICO__…` variable of `env` to `root`, in key order (so `SLAVES__0` comes
/// before `SLAVES__1` and an array can grow one element at a time).
pub(super) fn apply(root: &mut Entry, env: &[(String, String)]) -> Vec<OverrideError> {
    let mut overrides: Vec<(KeyPath, &str, &str)> = Vec::new();
    let mut errors = Vec::new();
    for (var, raw) in env {
        let Some(rest) = var.strip_prefix(ENV_PREFIX) else {
            continue;
        };
        match parse_name(rest) {
            Some(path) => overrides.push((path, var, raw)),
            None => errors.push(OverrideError {
                var: var.clone(),
                key: KeyPath::default(),
                message: format!(
                    "not a valid override name: write {ENV_PREFIX}SECTION__KEY, with double underscores between levels"
                ),
            }),
        }
    }
    overrides.sort();
    for (path, var, raw) in overrides {
        if let Err(message) = set(root, &path, var, raw) {
            errors.push(OverrideError { var: var.to_owned(), key: path, message });
        }
    }
    errors
}

fn parse_name(rest: &str) -> Option<KeyPath> {
    let mut segs = Vec::new();
    for part in rest.split("__") {
        if part.is_empty() {
            return None;
        }
        segs.push(match part.parse::<usize>() {
            Ok(i) => Seg::Index(i),
            Err(_) => Seg::Key(part.to_ascii_lowercase()),
        });
    }
    Some(KeyPath(segs))
}

/// Reads the variable's text as a TOML value, or as a string when it is not one.
fn parse_value(raw: &str, var: &str) -> Entry {
    let parsed = raw.trim().parse::<toml_edit::Value>().ok();
    let retry = match &parsed {
        Some(toml_edit::Value::String(_) | toml_edit::Value::Array(_) | toml_edit::Value::InlineTable(_))
        | None => None,
        Some(_) => Some(raw.to_owned()),
    };
    let mut entry = match parsed {
        Some(value) => value_entry(&value, None, None),
        None => Entry::new(Node::Value(toml::Value::String(raw.to_owned())), Origin::Placeholder),
    };
    entry.set_origin(&Origin::Env { var: var.to_owned(), raw: None });
    entry.origin = Origin::Env { var: var.to_owned(), raw: retry };
    entry
}

fn set(root: &mut Entry, path: &KeyPath, var: &str, raw: &str) -> Result<(), String> {
    let Some((last, parents)) = path.0.split_last() else {
        return Err("names no key".to_owned());
    };
    let implied = Origin::Env { var: var.to_owned(), raw: None };
    let mut node = root;
    for (depth, seg) in parents.iter().enumerate() {
        let here = KeyPath(path.0[..depth].to_vec());
        if node.child(seg).is_none() {
            let next_is_index = matches!(path.0.get(depth + 1), Some(Seg::Index(_)));
            let fresh = if next_is_index {
                Entry::new(Node::Array(Vec::new()), implied.clone())
            } else {
                Entry::empty_table(implied.clone())
            };
            if !node.set_child(seg, fresh) {
                return Err(cannot_address(&here, seg, node));
            }
        }
        node = match node.child_mut(seg) {
            Some(child) => child,
            None => {
                return Err(cannot_address(&here, seg, &Entry::empty_table(implied.clone())));
            }
        };
    }
    let here = KeyPath(parents.to_vec());
    let value = parse_value(raw, var);
    if node.set_child(last, value) { Ok(()) } else { Err(cannot_address(&here, last, node)) }
}

fn cannot_address(parent: &KeyPath, seg: &Seg, node: &Entry) -> String {
    let parent_name =
        if parent.0.is_empty() { "the configuration".to_owned() } else { format!("`{parent}`") };
    match (&node.node, seg) {
        (Node::Array(items), Seg::Index(i)) => format!(
            "index {i} is out of range, {parent_name} has {} entries (add entries in order, starting at {})",
            items.len(),
            items.len()
        ),
        (Node::Array(_), Seg::Key(k)) => {
            format!("{parent_name} is a list, so `{k}` must be an index such as 0")
        }
        (Node::Table(_), Seg::Index(i)) => {
            format!("{parent_name} is a table, so it has no element {i}")
        }
        _ => format!("{parent_name} is a single value, so it has no keys below it"),
    }
}
