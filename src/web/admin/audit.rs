//! `GET /admin/audit`: the audit log, newest first, a page at a time; an admin action's
//! before/after detail is shown as the fields that changed.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::access::Admin;
use super::page::{Shell, db_error, render};
use crate::state::AppState;
use crate::store::sql::AuditEntry;
use crate::web::WebError;

/// Entries per page.
pub const PAGE_SIZE: u32 = 25;

#[derive(Deserialize)]
pub struct AuditQuery {
    /// The id of the last entry of the previous page.
    before: Option<String>,
}

/// One field an admin action changed.
pub struct FieldChange {
    pub field: String,
    pub before: String,
    pub after: String,
}

pub struct EntryView {
    pub at: String,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub changes: Vec<FieldChange>,
    /// The rest of the detail, as compact JSON.
    pub detail: Option<String>,
    pub client_ip: String,
}

#[derive(Template)]
#[template(path = "admin/audit.html")]
struct AuditPage {
    shell: Shell,
    entries: Vec<EntryView>,
    /// The `before` of the next (older) page, when there is one.
    older: Option<String>,
    /// Whether this is a later page (a link back to the newest entries).
    paged: bool,
}

pub async fn audit_log(
    state: web::Data<AppState>,
    admin: Admin,
    query: web::Query<AuditQuery>,
) -> Result<HttpResponse, WebError> {
    let before = query.before.as_deref().filter(|b| !b.is_empty());
    if before.is_some_and(|b| b.len() > 64 || !b.chars().all(|c| c.is_ascii_hexdigit() || c == '-')) {
        return Err(WebError::BadRequest("That is not a page of the audit log.".to_owned()));
    }
    // One more than a page: whether an older page exists, without counting the table.
    let mut rows = state.db().audit_page(before, PAGE_SIZE + 1).await.map_err(db_error)?;
    let more = rows.len() > PAGE_SIZE as usize;
    rows.truncate(PAGE_SIZE as usize);
    let older = more.then(|| rows.last().map(|r| r.id.clone())).flatten();
    let page = AuditPage {
        shell: Shell::new(&state, &admin, "audit").await?,
        entries: rows.into_iter().map(view).collect(),
        older,
        paged: before.is_some(),
    };
    render(StatusCode::OK, &page)
}

fn view(entry: AuditEntry) -> EntryView {
    let detail = entry.detail.as_deref().and_then(|d| serde_json::from_str::<Value>(d).ok());
    let (changes, rest) = match detail {
        Some(Value::Object(map)) => split_changes(map),
        Some(other) => (vec![], Some(other.to_string())),
        None => (vec![], None),
    };
    EntryView {
        at: timestamp(entry.at),
        actor: entry.actor,
        action: entry.action,
        target: entry.target.unwrap_or_default(),
        changes,
        detail: rest,
        client_ip: entry.client_ip.unwrap_or_default(),
    }
}

/// `{"before": {...}, "after": {...}, ...}` → the fields that differ, and the rest as JSON.
fn split_changes(mut map: Map<String, Value>) -> (Vec<FieldChange>, Option<String>) {
    let before = map.remove("before");
    let after = map.remove("after");
    let empty = Map::new();
    let as_map = |v: &Option<Value>| match v {
        Some(Value::Object(m)) => m.clone(),
        _ => empty.clone(),
    };
    let (b, a) = (as_map(&before), as_map(&after));
    let mut fields: Vec<&String> = a.keys().collect();
    fields.extend(b.keys().filter(|k| !a.contains_key(*k)));
    let changes = fields
        .into_iter()
        .map(|f| FieldChange { field: f.clone(), before: shown(b.get(f)), after: shown(a.get(f)) })
        // Absent and null read the same ("—"): not a change.
        .filter(|c| c.before != c.after)
        .collect();
    let rest = (!map.is_empty()).then(|| Value::Object(map).to_string());
    (changes, rest)
}

fn shown(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => "—".to_owned(),
        Some(Value::String(s)) if s.is_empty() => "(empty)".to_owned(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

/// `2024-05-01 14:03:12 UTC`.
fn timestamp(ms: i64) -> String {
    let format = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second] UTC");
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(format).ok())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn before_and_after_become_the_changed_fields() {
        let detail = serde_json::json!({
            "before": { "name": "Old", "enabled": true, "gone": "x" },
            "after": { "name": "New", "enabled": true, "added": 3 },
            "reason": "test"
        });
        let Value::Object(map) = detail else { unreachable!() };
        let (changes, rest) = split_changes(map);
        let text: Vec<String> =
            changes.iter().map(|c| format!("{}: {} → {}", c.field, c.before, c.after)).collect();
        assert_eq!(text, ["added: — → 3", "name: Old → New", "gone: x → —"]);
        assert_eq!(rest.as_deref(), Some(r#"{"reason":"test"}"#));
        assert_eq!(timestamp(0), "1970-01-01 00:00:00 UTC");
    }
}
