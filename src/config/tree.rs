//! The merged configuration tree: file values and environment overrides, each remembering where
//! it came from, so a problem found later can name its line or its variable.

use std::fmt;

use toml_edit::{Item, Value as TomlEditValue};

/// One step of a key path: a table key or an array index.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(super) enum Seg {
    Key(String),
    Index(usize),
}

/// A key path such as `slaves[1].url`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(super) struct KeyPath(pub Vec<Seg>);

impl KeyPath {
    pub fn parse(dotted: &str) -> Self {
        let mut segs = Vec::new();
        for part in dotted.split('.').filter(|p| !p.is_empty()) {
            let mut pieces = part.split('[');
            if let Some(key) = pieces.next().filter(|k| !k.is_empty()) {
                segs.push(Seg::Key(key.to_owned()));
            }
            for index in pieces {
                if let Ok(i) = index.trim_end_matches(']').parse() {
                    segs.push(Seg::Index(i));
                }
            }
        }
        Self(segs)
    }

    pub fn key(&self, key: &str) -> Self {
        let mut segs = self.0.clone();
        segs.push(Seg::Key(key.to_owned()));
        Self(segs)
    }

    pub fn index(&self, i: usize) -> Self {
        let mut segs = self.0.clone();
        segs.push(Seg::Index(i));
        Self(segs)
    }

    pub fn starts_with(&self, prefix: &KeyPath) -> bool {
        self.0.starts_with(&prefix.0)
    }

    /// The variable that overrides this key: `slaves[1].url` → `PORTICO__SLAVES__1__URL`.
    pub fn env_var(&self) -> String {
        let parts: Vec<String> = self
            .0
            .iter()
            .map(|s| match s {
                Seg::Key(k) => k.to_ascii_uppercase(),
                Seg::Index(i) => i.to_string(),
            })
            .collect();
        format!("{}{}", super::ENV_PREFIX, parts.join("__"))
    }
}

impl fmt::Display for KeyPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (n, seg) in self.0.iter().enumerate() {
            match seg {
                Seg::Key(k) if n == 0 => f.write_str(k)?,
                Seg::Key(k) => write!(f, ".{k}")?,
                Seg::Index(i) => write!(f, "[{i}]")?,
            }
        }
        Ok(())
    }
}

/// Where a value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Origin {
    /// The file, at this 1-based line (none for tables the file only implies).
    File(Option<usize>),
    /// An environment override. `raw` keeps the variable's text when it was read as a TOML
    /// scalar other than a string (`5`, `true`), so it can be retried as a plain string when the
    /// key wants one (a cookie named `2024`).
    Env { var: String, raw: Option<String> },
    /// Put in by the loader to keep checking after a missing required key.
    Placeholder,
}

#[derive(Debug, Clone)]
pub(super) enum Node {
    Table(Vec<(String, Entry)>),
    Array(Vec<Entry>),
    Value(toml::Value),
}

#[derive(Debug, Clone)]
pub(super) struct Entry {
    pub node: Node,
    pub origin: Origin,
}

impl Entry {
    pub fn new(node: Node, origin: Origin) -> Self {
        Self { node, origin }
    }

    pub fn empty_table(origin: Origin) -> Self {
        Self::new(Node::Table(Vec::new()), origin)
    }

    pub fn get(&self, path: &[Seg]) -> Option<&Entry> {
        match path.split_first() {
            None => Some(self),
            Some((seg, rest)) => self.child(seg)?.get(rest),
        }
    }

    pub fn get_mut(&mut self, path: &[Seg]) -> Option<&mut Entry> {
        match path.split_first() {
            None => Some(self),
            Some((seg, rest)) => self.child_mut(seg)?.get_mut(rest),
        }
    }

    pub fn child(&self, seg: &Seg) -> Option<&Entry> {
        match (&self.node, seg) {
            (Node::Table(items), Seg::Key(k)) => items.iter().find(|(name, _)| name == k).map(|(_, e)| e),
            (Node::Array(items), Seg::Index(i)) => items.get(*i),
            _ => None,
        }
    }

    pub fn child_mut(&mut self, seg: &Seg) -> Option<&mut Entry> {
        match (&mut self.node, seg) {
            (Node::Table(items), Seg::Key(k)) => items.iter_mut().find(|(name, _)| name == k).map(|(_, e)| e),
            (Node::Array(items), Seg::Index(i)) => items.get_mut(*i),
            _ => None,
        }
    }

    /// Sets `seg` in this table or array (an index one past the end appends). False when `seg`
    /// cannot address a child of this node.
    pub fn set_child(&mut self, seg: &Seg, entry: Entry) -> bool {
        match (&mut self.node, seg) {
            (Node::Table(items), Seg::Key(k)) => {
                match items.iter_mut().find(|(name, _)| name == k) {
                    Some((_, slot)) => *slot = entry,
                    None => items.push((k.clone(), entry)),
                }
                true
            }
            (Node::Array(items), Seg::Index(i)) if *i < items.len() => {
                items[*i] = entry;
                true
            }
            (Node::Array(items), Seg::Index(i)) if *i == items.len() => {
                items.push(entry);
                true
            }
            _ => false,
        }
    }

    /// Takes the entry at `path` out of the tree. Array elements are replaced by an empty table
    /// rather than removed, so the indices of their neighbours (and their messages) stay right.
    pub fn remove(&mut self, path: &KeyPath) -> bool {
        let Some((last, parent)) = path.0.split_last() else {
            return false;
        };
        let Some(parent) = self.get_mut(parent) else {
            return false;
        };
        match (&mut parent.node, last) {
            (Node::Table(items), Seg::Key(k)) => {
                let before = items.len();
                items.retain(|(name, _)| name != k);
                items.len() != before
            }
            (Node::Array(items), Seg::Index(i)) => match items.get_mut(*i) {
                Some(slot) => {
                    *slot = Entry::empty_table(slot.origin.clone());
                    true
                }
                None => false,
            },
            _ => false,
        }
    }

    /// The origin of the value at `path`, or of its nearest ancestor present in the tree (the
    /// loader's placeholders do not count: they stand for something missing).
    pub fn origin_near(&self, path: &[Seg]) -> &Origin {
        let next = path.split_first().and_then(|(seg, rest)| Some((self.child(seg)?, rest)));
        match next.filter(|(child, _)| child.origin != Origin::Placeholder) {
            Some((child, rest)) => child.origin_near(rest),
            None => &self.origin,
        }
    }

    pub fn to_toml(&self) -> toml::Value {
        match &self.node {
            Node::Value(v) => v.clone(),
            Node::Array(items) => toml::Value::Array(items.iter().map(Entry::to_toml).collect()),
            Node::Table(items) => {
                toml::Value::Table(items.iter().map(|(k, e)| (k.clone(), e.to_toml())).collect())
            }
        }
    }
}

/// Byte offsets → 1-based line numbers.
pub(super) struct Lines(Vec<usize>);

impl Lines {
    pub fn new(text: &str) -> Self {
        let starts = std::iter::once(0).chain(text.match_indices('\n').map(|(i, _)| i + 1)).collect();
        Self(starts)
    }

    pub fn line(&self, offset: usize) -> usize {
        self.0.partition_point(|&start| start <= offset).max(1)
    }
}

/// Converts a parsed document's root table.
pub(super) fn from_document(doc: &toml_edit::Document<&str>, lines: &Lines) -> Entry {
    table_entry(doc.as_table(), None, lines)
}

fn table_entry(table: &toml_edit::Table, fallback: Option<usize>, lines: &Lines) -> Entry {
    let line = table.span().map(|s| lines.line(s.start)).or(fallback);
    let items = table
        .iter()
        .filter_map(|(name, item)| {
            let key_line = table.key(name).and_then(toml_edit::Key::span).map(|s| lines.line(s.start));
            Some((name.to_owned(), item_entry(item, key_line, lines)?))
        })
        .collect();
    Entry::new(Node::Table(items), Origin::File(line))
}

fn item_entry(item: &Item, key_line: Option<usize>, lines: &Lines) -> Option<Entry> {
    match item {
        Item::None => None,
        Item::Value(v) => Some(value_entry(v, key_line, Some(lines))),
        Item::Table(t) => Some(table_entry(t, key_line, lines)),
        Item::ArrayOfTables(a) => {
            let items: Vec<Entry> = a.iter().map(|t| table_entry(t, key_line, lines)).collect();
            let line = key_line.or_else(|| items.first().and_then(|e| line_of(&e.origin)));
            Some(Entry::new(Node::Array(items), Origin::File(line)))
        }
    }
}

fn line_of(origin: &Origin) -> Option<usize> {
    match origin {
        Origin::File(line) => *line,
        _ => None,
    }
}

/// Converts one value. Without `lines` (an environment value) the caller sets the origin
/// afterwards with [`Entry::set_origin`].
pub(super) fn value_entry(value: &TomlEditValue, key_line: Option<usize>, lines: Option<&Lines>) -> Entry {
    let line = lines.and_then(|l| value.span().map(|s| l.line(s.start))).or(key_line);
    let node = match value {
        TomlEditValue::String(s) => Node::Value(toml::Value::String(s.value().clone())),
        TomlEditValue::Integer(i) => Node::Value(toml::Value::Integer(*i.value())),
        TomlEditValue::Float(f) => Node::Value(toml::Value::Float(*f.value())),
        TomlEditValue::Boolean(b) => Node::Value(toml::Value::Boolean(*b.value())),
        TomlEditValue::Datetime(d) => Node::Value(toml::Value::String(d.value().to_string())),
        TomlEditValue::Array(a) => Node::Array(a.iter().map(|v| value_entry(v, line, lines)).collect()),
        TomlEditValue::InlineTable(t) => Node::Table(
            t.iter()
                .map(|(name, v)| {
                    let key_line = lines
                        .and_then(|l| t.key(name).and_then(toml_edit::Key::span).map(|s| l.line(s.start)))
                        .or(line);
                    (name.to_owned(), value_entry(v, key_line, lines))
                })
                .collect(),
        ),
    };
    Entry::new(node, Origin::File(line))
}

impl Entry {
    /// Gives this entry and everything below it one origin (an environment override).
    pub fn set_origin(&mut self, origin: &Origin) {
        self.origin = origin.clone();
        match &mut self.node {
            Node::Table(items) => items.iter_mut().for_each(|(_, e)| e.set_origin(origin)),
            Node::Array(items) => items.iter_mut().for_each(|e| e.set_origin(origin)),
            Node::Value(_) => {}
        }
    }
}
