//! The audit log page: newest first, a page at a time, admin actions shown as the fields that
//! changed.

use super::{admin_app, page, signed_in};
use crate::support::TestDatabase;
use portico::store::sql::NewAuditEntry;

crate::on_both_databases!(the_audit_log_pages_newest_first_and_shows_what_changed);

async fn the_audit_log_pages_newest_first_and_shows_what_changed(db: TestDatabase) {
    let app = admin_app(&db).await;
    signed_in(&app).await;
    for n in 0..30 {
        let target = format!("entry-{n:02}");
        let entry = NewAuditEntry {
            actor: "cli",
            action: "test.entry",
            target: Some(&target),
            detail: None,
            client_ip: None,
        };
        app.state.db().audit(entry).await.unwrap();
    }
    let detail = serde_json::json!({
        "before": { "name": "Staging", "enabled": true, "timeout": "5s" },
        "after": { "name": "Staging <B>", "enabled": false, "timeout": "5s" },
    });
    let entry = NewAuditEntry {
        actor: "admin:other",
        action: "slave.update",
        target: Some("staging"),
        detail: Some(detail),
        client_ip: Some("192.0.2.7"),
    };
    app.state.db().audit(entry).await.unwrap();

    let first = page(&app, "/admin/audit").await;
    let rows = first.matches("<td class=\"when\">").count();
    assert_eq!(rows, 25, "a page");
    let newest = &first[first.find("<tbody>").unwrap()..];
    let newest = &newest[..newest.find("</tr>").unwrap()];
    assert!(newest.contains("admin:other") && newest.contains("slave.update") && newest.contains("staging"));
    assert!(newest.contains("192.0.2.7"));
    assert!(
        newest.contains("<span class=\"field\">enabled</span>: <del>true</del> → <ins>false</ins>"),
        "{newest}"
    );
    assert!(newest.contains("<del>Staging</del> → <ins>Staging &#60;B&#62;</ins>"), "escaped: {newest}");
    assert!(!newest.contains("timeout"), "unchanged fields are left out: {newest}");
    assert!(first.contains("entry-29") && first.contains("entry-06") && !first.contains("entry-05"));
    let older = first.find("href=\"/admin/audit?before=").expect("a link to older entries");
    let href = &first[older + 6..];
    let href = &href[..href.find('"').unwrap()];

    let second = page(&app, href).await;
    assert_eq!(second.matches("<td class=\"when\">").count(), 7, "entries 0–5 and the sign-in");
    assert!(second.contains("entry-05") && second.contains("entry-00") && !second.contains("entry-06"));
    assert!(second.contains("admin.signin.success"));
    assert!(second.contains("href=\"/admin/audit\">Newest entries"));
    assert!(!second.contains("?before="), "no older page");

    let res = app.get("/admin/audit?before=%27%20OR%201=1").await;
    assert_eq!(res.status(), 400);
    app.stop().await;
}
