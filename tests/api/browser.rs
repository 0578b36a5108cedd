//! The pages in a real browser (Debian's Chromium through `tests/browser/`): what a person sees
//! and can reach with the keyboard, on a desktop and on a phone. Screenshots land in
//! `target/screenshots/<test>/`.

use crate::support::TestAppBuilder;
use crate::support::browser::run_journey;

const NOWHERE: &str = "http://127.0.0.1:9";

#[tokio::test]
async fn browser_smoke_start_page_and_error_page() {
    const TEST: &str = "browser_smoke_start_page_and_error_page";
    // Nothing listens at the managers' addresses: nobody signs in here.
    let app = TestAppBuilder::new(NOWHERE)
        .slave("prod-eu", "Production EU", NOWHERE)
        .slave("staging", "Staging", NOWHERE)
        .spawn()
        .await;
    let Some(report) = run_journey(TEST, "smoke.mjs", &app.url(""), &[]).await else {
        return;
    };
    assert_eq!(
        report.step_names(),
        [
            "start page is the sign-in form",
            "stylesheet applied",
            "start page accessibility",
            "keyboard: skip link is the first focus target",
            "unknown page shows the request id",
            "error page accessibility",
            "dark colour scheme",
            "phone viewport",
        ]
    );
    assert_eq!(
        report.step("start page is the sign-in form").data["labels"],
        serde_json::json!(["Username", "Password"])
    );
    assert_eq!(report.step("start page accessibility").data["violations"], serde_json::json!([]));
    assert_eq!(report.step("error page accessibility").data["violations"], serde_json::json!([]));
    assert_eq!(report.step("keyboard: skip link is the first focus target").data["first"], "Skip to content");
    assert_eq!(report.screenshots.len(), 6, "{:?}", report.screenshots);
    for shot in &report.screenshots {
        assert!(shot.starts_with(&report.dir), "{} is under {}", shot.display(), report.dir.display());
        let bytes = std::fs::read(shot).unwrap();
        assert!(bytes.starts_with(b"\x89PNG"), "{} is a PNG", shot.display());
    }
    app.stop().await;
}

#[tokio::test]
async fn browser_sign_in_and_out_through_the_form() {
    const TEST: &str = "browser_sign_in_and_out_through_the_form";
    let master = crate::support::managers::start_master().await;
    let eu = crate::support::managers::start_slave("eu", &master.url).await;
    let app = TestAppBuilder::new(master.url.as_str())
        .slave("prod-eu", "Production EU", eu.url.as_str())
        .slave("staging", "Staging", NOWHERE)
        .spawn()
        .await;
    let Some(report) = run_journey(TEST, "signin.mjs", &app.url(""), &[]).await else {
        return;
    };
    let entries = &report.step("signing in, then the environment list").data["entries"];
    assert_eq!(entries[0]["name"], "Main");
    assert_eq!(entries[0]["badges"], serde_json::json!(["current", "connected"]));
    assert_eq!(entries[1]["name"], "Production EU");
    assert_eq!(entries[1]["badges"], serde_json::json!(["connected"]));
    assert_eq!(entries[2]["name"], "Staging");
    assert_eq!(entries[2]["badges"], serde_json::json!(["unavailable"]));
    assert_eq!(entries[2]["reason"], "environment unavailable (connection refused)");
    assert_eq!(
        report.step("signing in, then the environment list").data["violations"],
        serde_json::json!([])
    );
    assert!(master.open_sessions().is_empty(), "signed out of the master");
    assert!(eu.open_sessions().is_empty(), "signed out of the slave");
    app.stop().await;
}
