//! The merged configuration tree: file values and environment overrides, each remembering where
//! it came from, so a problem found later can name its line or its variable.

use std::fmt;

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
    /// Nowhere: a value the loader put in to keep checking after a missing required key (or,
    /// when locating a problem, a key left at its default).
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
            // An element already emptied that still does not fit: the caller removes the list.
            (Node::Array(items), Seg::Index(i)) => match items.get_mut(*i) {
                Some(slot) if !matches!(&slot.node, Node::Table(t) if t.is_empty()) => {
                    *slot = Entry::empty_table(slot.origin.clone());
                    true
                }
                _ => false,
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
