//! The pages in a real browser (Debian's Chromium through `tests/browser/`): what a person sees
//! and can reach with the keyboard, on a desktop and on a phone. Screenshots land in
//! `target/screenshots/<test>/`.

use crate::support::TestAppBuilder;
use crate::support::browser::run_journey;

const NOWHERE: &str = "http://127.0.0.1:9";

#[tokio::test]
async fn browser_smoke_start_page_and_error_page() {
    const TEST: &str = "browser_smoke_start_page_and_error_page";
    // Nothing listens at the managers' addresses: the start page only lists the environments.
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
            "start page lists the environments",
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
        report.step("start page lists the environments").data["environments"],
        serde_json::json!(["Main", "Production EU", "Staging"])
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
