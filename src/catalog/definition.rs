//! Reading an API definition (Swagger 2.0 or OpenAPI 3) for people: its title, where it is
//! served, and its operations. Anything missing or oddly shaped is simply left out: a manager's
//! document is shown as well as it can be, never refused.

use serde_json::Value;

/// The methods an operation can have, in the order a reader expects them.
const METHODS: [&str; 8] = ["get", "post", "put", "patch", "delete", "head", "options", "trace"];

/// At most this many operations are listed; the raw document shows the rest.
const MAX_OPERATIONS: usize = 1000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operation {
    /// Upper case: `GET`, `POST`, …
    pub method: String,
    pub path: String,
    pub summary: Option<String>,
    pub deprecated: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DefinitionSummary {
    /// `Swagger 2.0`, `OpenAPI 3.0.3`, or `None` when the document says neither.
    pub format: Option<String>,
    pub title: Option<String>,
    pub version: Option<String>,
    pub description: Option<String>,
    /// Where the API is served (`https://host/base` or just the base path).
    pub base_url: Option<String>,
    /// The path the API is served under on its gateway (`/petstore`; empty at the root),
    /// whatever host the document names.
    pub base_path: String,
    pub operations: Vec<Operation>,
    /// More operations than [`MAX_OPERATIONS`] were found.
    pub truncated: bool,
}

pub fn summarize(doc: &Value) -> DefinitionSummary {
    let info = doc.get("info");
    let (operations, truncated) = operations(doc.get("paths"));
    DefinitionSummary {
        format: format(doc),
        title: text(info.and_then(|i| i.get("title"))),
        version: text(info.and_then(|i| i.get("version"))),
        description: text(info.and_then(|i| i.get("description"))),
        base_url: base_url(doc),
        base_path: base_path(doc),
        operations,
        truncated,
    }
}

/// The document indented for reading, cut at `limit` bytes (on a character boundary); `true`
/// when it was cut.
pub fn pretty(doc: &Value, limit: usize) -> (String, bool) {
    let mut text = serde_json::to_string_pretty(doc).unwrap_or_default();
    if text.len() <= limit {
        return (text, false);
    }
    let mut end = limit;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.truncate(end);
    (text, true)
}

fn text(value: Option<&Value>) -> Option<String> {
    value.and_then(Value::as_str).map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned)
}

fn format(doc: &Value) -> Option<String> {
    if let Some(v) = text(doc.get("openapi")) {
        return Some(format!("OpenAPI {v}"));
    }
    text(doc.get("swagger")).map(|v| format!("Swagger {v}"))
}

fn base_path(doc: &Value) -> String {
    let path = match doc.get("servers").and_then(Value::as_array).and_then(|s| text(s.first()?.get("url"))) {
        Some(server) if server.starts_with('/') => server,
        Some(server) => url::Url::parse(&server).map(|u| u.path().to_owned()).unwrap_or_default(),
        None => text(doc.get("basePath")).unwrap_or_default(),
    };
    path.trim_end_matches('/').to_owned()
}

fn base_url(doc: &Value) -> Option<String> {
    // OpenAPI 3: the first server.
    if let Some(url) = doc.get("servers").and_then(Value::as_array).and_then(|s| text(s.first()?.get("url")))
    {
        return Some(url);
    }
    // Swagger 2: scheme, host and base path, each optional.
    let base_path = text(doc.get("basePath")).unwrap_or_default();
    match text(doc.get("host")) {
        Some(host) => {
            let scheme = doc
                .get("schemes")
                .and_then(Value::as_array)
                .and_then(|s| text(s.first()))
                .unwrap_or_else(|| "https".to_owned());
            Some(format!("{scheme}://{host}{base_path}"))
        }
        None => (!base_path.is_empty()).then_some(base_path),
    }
}

fn operations(paths: Option<&Value>) -> (Vec<Operation>, bool) {
    let Some(paths) = paths.and_then(Value::as_object) else {
        return (Vec::new(), false);
    };
    let mut found = Vec::new();
    // serde_json keeps objects sorted: paths come in alphabetical order, which reads well.
    for (path, item) in paths {
        let Some(item) = item.as_object() else { continue };
        for method in METHODS {
            let Some(op) = item.get(method) else { continue };
            if found.len() == MAX_OPERATIONS {
                return (found, true);
            }
            found.push(Operation {
                method: method.to_ascii_uppercase(),
                path: path.clone(),
                summary: summary(op),
                deprecated: op.get("deprecated").and_then(Value::as_bool).unwrap_or(false),
            });
        }
    }
    (found, false)
}

/// The summary, else the operation id, else the first line of the description.
fn summary(op: &Value) -> Option<String> {
    text(op.get("summary"))
        .or_else(|| text(op.get("operationId")))
        .or_else(|| text(op.get("description")).and_then(|d| d.lines().next().map(|l| l.trim().to_owned())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    #[test]
    fn a_swagger_document_gives_its_operations_in_method_order() {
        let doc = json!({
            "swagger": "2.0",
            "info": { "title": "Petstore", "version": "1.2", "description": "Pets" },
            "host": "api.example", "basePath": "/v1", "schemes": ["http"],
            "paths": {
                "/pets": {
                    "post": { "operationId": "addPet" },
                    "get": { "summary": "List pets" },
                    "parameters": []
                },
                "/pets/{id}": { "delete": { "description": "Removes a pet\nfor good", "deprecated": true } }
            }
        });
        let s = summarize(&doc);
        assert_eq!(s.format.as_deref(), Some("Swagger 2.0"));
        assert_eq!(s.title.as_deref(), Some("Petstore"));
        assert_eq!(s.base_url.as_deref(), Some("http://api.example/v1"));
        let ops: Vec<(&str, &str, Option<&str>, bool)> = s
            .operations
            .iter()
            .map(|o| (o.method.as_str(), o.path.as_str(), o.summary.as_deref(), o.deprecated))
            .collect();
        assert_eq!(
            ops,
            [
                ("GET", "/pets", Some("List pets"), false),
                ("POST", "/pets", Some("addPet"), false),
                ("DELETE", "/pets/{id}", Some("Removes a pet"), true),
            ]
        );
    }

    #[test]
    fn an_openapi_document_names_its_first_server() {
        let doc = json!({ "openapi": "3.0.3", "servers": [{ "url": "https://x.example/api" }], "paths": {} });
        let s = summarize(&doc);
        assert_eq!(s.format.as_deref(), Some("OpenAPI 3.0.3"));
        assert_eq!(s.base_url.as_deref(), Some("https://x.example/api"));
        assert!(s.operations.is_empty());
    }

    #[test]
    fn pretty_text_is_cut_on_a_character_boundary() {
        let doc = json!({ "k": "ééééé" });
        let (full, cut) = pretty(&doc, 1 << 20);
        assert!(!cut);
        for limit in 0..full.len() {
            let (text, cut) = pretty(&doc, limit);
            assert!(cut && text.len() <= limit && full.starts_with(&text));
        }
    }

    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i32>().prop_map(|n| json!(n)),
            "[a-z/{} ]{0,8}".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 64, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::btree_map(
                    prop_oneof![
                        Just("paths".to_owned()),
                        Just("get".to_owned()),
                        Just("info".to_owned()),
                        Just("servers".to_owned()),
                        "[a-z/]{1,6}"
                    ],
                    inner,
                    0..4
                )
                .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn any_document_can_be_summarized(doc in json_value()) {
            let s = summarize(&doc);
            prop_assert!(s.operations.len() <= MAX_OPERATIONS);
        }
    }
}
