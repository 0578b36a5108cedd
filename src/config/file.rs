//! Reading the parsed TOML document into the merged tree, with the 1-based line of every key.

use toml_edit::{Item, Value as TomlEditValue};

use super::tree::{Entry, Node, Origin};

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
