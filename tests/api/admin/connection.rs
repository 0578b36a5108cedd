//! "Test connection": reachability, TLS, the API and its version, the service credential — each
//! reported with what was found, for stored slaves, config slaves and the master.

use super::{NOWHERE, add_slave, builder, csrf, signed_in, slave_fields};
use crate::support::managers::{closed_port, start_master, start_slave};
use crate::support::tls_server::{issued_by_test_ca, serve};
use crate::support::{TestApp, TestDatabase};

crate::on_both_databases!(testing_a_connection_reports_each_check);

/// `(check, badge, detail)` of each line of the result page.
fn checks(page: &str) -> Vec<(String, String, String)> {
    let between = |s: &str, start: &str, end: &str| -> String {
        let at = s.find(start).unwrap_or_else(|| panic!("{start} in {s}")) + start.len();
        s[at..at + s[at..].find(end).unwrap()].to_owned()
    };
    page.split("<span class=\"check-name\">")
        .skip(1)
        .map(|part| {
            let name = part[..part.find('<').unwrap()].to_owned();
            let badge = between(part, "\">", "</span>");
            let badge = badge.rsplit('>').next().unwrap().to_owned();
            let detail = between(part, "<span class=\"check-detail\">", "</span>");
            (name, badge, detail)
        })
        .collect()
}

async fn test_page(app: &TestApp, token: &str, id: &str) -> String {
    let res = app.post_form(&format!("/admin/slaves/{id}/test"), &[("csrf_token", token)]).await;
    assert_eq!(res.status(), 200, "{id}");
    res.text().await.unwrap()
}

async fn testing_a_connection_reports_each_check(db: TestDatabase) {
    let master = start_master().await;
    let us = start_slave("eu", &master.url).await;
    let cert = issued_by_test_ca(&["localhost"]);
    let tls = serve(&cert).await;
    let config = format!(
        "[[slaves]]\nid = \"svc\"\nname = \"With a credential\"\nurl = \"{0}\"\n\
         auth = {{ basic = {{ username = \"alice\", password = \"alice-password\" }} }}\n\n\
         [[slaves]]\nid = \"svc-bad\"\nname = \"Wrong credential\"\nurl = \"{0}\"\n\
         auth = {{ basic = {{ username = \"alice\", password = \"not-it\" }} }}\n",
        master.url.as_str().trim_end_matches('/')
    );
    let app = builder(&db, master.url.as_str()).toml(&config).spawn().await;
    signed_in(&app).await;
    let https = format!("https://localhost:{}", tls.port());
    let down = format!("http://{}", closed_port());
    for fields in [
        slave_fields("prod-us", "Production US", us.url.as_str()),
        slave_fields("down", "Down", &down),
        slave_fields("tls-unknown", "Unknown CA", &https),
        {
            let mut f = slave_fields("tls-ca", "Private CA", &https);
            f.push(("ca_pem", &cert.ca_pem));
            f
        },
    ] {
        assert_eq!(add_slave(&app, &fields).await.status(), 303);
    }
    let token = csrf(&app).await;

    let ok = test_page(&app, &token, "prod-us").await;
    assert!(ok.contains("Portico can work with this manager."), "{ok}");
    let found = checks(&ok);
    let names: Vec<&str> = found.iter().map(|c| c.0.as_str()).collect();
    assert_eq!(names, ["Reachability", "TLS", "API", "Service credential"]);
    let badges: Vec<&str> = found.iter().map(|c| c.1.as_str()).collect();
    assert_eq!(badges, ["ok", "not checked", "ok", "not checked"]);
    assert!(found[0].2.ends_with(" ms)") && found[0].2.starts_with("127.0.0.1:"), "{:?}", found[0]);
    assert_eq!(found[1].2, "not used: the address is http://");
    assert_eq!(
        found[2].2,
        "API Manager 7.7.0-simulated, “Simulated API Manager (slave)”: v1.3 API under /api/portal/v1.3"
    );
    assert_eq!(found[3].2, "none set for this manager");

    let failed = test_page(&app, &token, "down").await;
    assert!(failed.contains("Portico cannot work with this manager as it is set up."));
    let found = checks(&failed);
    assert_eq!(
        (found[0].1.as_str(), found[0].2.as_str()),
        ("failed", format!("{}: connection refused", &down[7..]).as_str())
    );
    assert!(found[1..].iter().all(|c| c.1 == "not checked" && c.2 == "not checked: an earlier check failed"));

    let found = checks(&test_page(&app, &token, "tls-unknown").await);
    assert_eq!(found[0].1, "ok");
    assert_eq!(found[1].1, "failed");
    assert_eq!(
        found[1].2,
        "certificate verification failed: the certificate is not signed by a trusted authority"
    );
    let found = checks(&test_page(&app, &token, "tls-ca").await);
    assert_eq!(
        found[1],
        ("TLS".to_owned(), "ok".to_owned(), "certificate accepted (TLS mode “full”)".to_owned())
    );
    assert_eq!(
        found[2].2,
        "v1.3 API under /api/portal/v1.3; the manager tells its version only to signed-in callers"
    );

    let found = checks(&test_page(&app, &token, "svc").await);
    assert_eq!(found[3].1, "ok");
    assert_eq!(found[3].2, "accepted: “alice” is known there as alice (user)");
    let found = checks(&test_page(&app, &token, "svc-bad").await);
    assert_eq!((found[3].1.as_str(), found[3].2.as_str()), ("failed", "“alice”: wrong username or password"));
    let found = checks(&test_page(&app, &token, "master").await);
    assert_eq!(
        found[2].2,
        "API Manager 7.7.0-simulated, “Simulated API Manager (master)”: v1.3 API under /api/portal/v1.3"
    );
    assert!(!crate::support::logs::text().contains("not-it"), "the credential never reaches a log");
    let res = app.post_form("/admin/slaves/prod-us/test", &[("csrf_token", "forged")]).await;
    assert_eq!(res.status(), 403);
    let res = app.post_form("/admin/slaves/nope/test", &[("csrf_token", &token)]).await;
    assert_eq!(res.status(), 404);
    let _ = NOWHERE;
    app.stop().await;
}
