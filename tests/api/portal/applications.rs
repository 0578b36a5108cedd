//! Applications: listed as the user, created in the user's organization on the environment of
//! the page, forms validated, manager errors explained; and pages of environments that are not
//! joined or do not exist.

use portico::simulator::{Failure, FaultRule, Operation, Simulator};

use super::{application_names, fixture};
use crate::support::location;

fn creations(sim: &Simulator) -> usize {
    sim.requests().iter().filter(|r| r.method == "POST" && r.path.ends_with("/applications")).count()
}

#[tokio::test]
async fn an_application_is_created_in_the_users_organization_on_the_right_environment() {
    let Some(f) = fixture("an_application_is_created").await else { return };
    f.sign_in("alice").await;
    let (status, page) = f.page("/environments/prod-eu/applications").await;
    assert_eq!(status, 200);
    assert_eq!(application_names(&page), ["Acme Batch"]);
    assert!(page.contains("Created in your organization, Acme, on Production EU."), "{page}");

    let token = f.token().await;
    let res = f
        .app
        .post_form(
            "/environments/prod-eu/applications",
            &[("name", "  Portal App "), ("description", "Made in a test"), ("csrf_token", &token)],
        )
        .await;
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), "/environments/prod-eu/applications");

    let (_, page) = f.page("/environments/prod-eu/applications").await;
    assert!(page.contains("Application “Portal App” created on Production EU."), "{page}");
    assert_eq!(application_names(&page), ["Acme Batch", "Portal App"]);
    let (_, again) = f.page("/environments/prod-eu/applications").await;
    assert!(!again.contains("created on Production EU."), "the notice is shown once");

    let data = f.eu.data();
    let created = data.applications.iter().find(|a| a.name == "Portal App").expect("on prod-eu");
    assert_eq!(created.organization_id, "eu-org-acme", "the organization of the user's link there");
    assert_eq!(created.description.as_deref(), Some("Made in a test"));
    let request =
        f.eu.requests()
            .into_iter()
            .find(|r| r.method == "POST" && r.path.ends_with("/applications"))
            .unwrap();
    assert!(request.headers.contains_key("csrf-token"), "the manager's CSRF token was sent");
    assert_eq!(request.user.as_deref(), Some("alice"), "as the user");
    for other in [&f.master, &f.staging] {
        assert!(other.data().applications.iter().all(|a| a.name != "Portal App"), "nowhere else");
        assert_eq!(creations(other), 0);
    }
    // Bob (Globex) does not see Acme's applications.
    f.app.sign_out().await;
    f.sign_in("bob").await;
    let (_, bobs) = f.page("/environments/prod-eu/applications").await;
    assert!(application_names(&bobs).is_empty(), "{bobs}");
    assert!(bobs.contains("no applications on Production EU yet"), "{bobs}");
}

#[tokio::test]
async fn application_forms_are_validated_and_manager_errors_explained() {
    let Some(f) = fixture("application_forms_are_validated").await else { return };
    f.sign_in("alice").await;
    let token = f.token().await;
    let create = |name: String, description: String, token: String| {
        let app = &f.app;
        async move {
            let res = app
                .post_form(
                    "/environments/prod-eu/applications",
                    &[("name", &name), ("description", &description), ("csrf_token", &token)],
                )
                .await;
            (res.status().as_u16(), res.text().await.unwrap())
        }
    };

    let (status, page) = create("   ".into(), "kept".into(), token.clone()).await;
    assert_eq!(status, 400);
    assert!(page.contains("Enter a name for the application."), "{page}");
    assert!(page.contains("aria-invalid=\"true\"") && page.contains(">kept</textarea>"), "{page}");
    let (status, page) = create("x".repeat(101), String::new(), token.clone()).await;
    assert_eq!(status, 400);
    assert!(page.contains("The name is too long: at most 100 characters."), "{page}");
    let (status, _) = create("é".repeat(100), String::new(), token.clone()).await;
    assert_eq!(status, 303, "100 characters are fine, whatever their bytes");
    let (status, page) = create("Ok".into(), "d".repeat(1001), token.clone()).await;
    assert_eq!(status, 400);
    assert!(page.contains("The description is too long"), "{page}");
    assert_eq!(create("Ok".into(), String::new(), String::new()).await.0, 403, "no form token");
    assert_eq!(create("Ok".into(), String::new(), "forged".into()).await.0, 403, "a wrong token");
    assert_eq!(creations(&f.eu), 1, "only the valid one reached the manager");

    f.eu.faults()
        .add(FaultRule::new(Operation::CreateApplication).failure(Failure::Status { status: 403 }).times(1));
    let (status, page) = create("Refused".into(), String::new(), token.clone()).await;
    assert_eq!(status, 403);
    assert!(
        page.contains("Production EU did not allow you to create an application in your organization."),
        "{page}"
    );
    assert!(page.contains("value=\"Refused\""), "what was typed is kept");
    f.eu.faults()
        .add(FaultRule::new(Operation::CreateApplication).failure(Failure::Status { status: 503 }).times(1));
    let (status, page) = create("Later".into(), String::new(), token.clone()).await;
    assert_eq!(status, 503);
    assert!(
        page.contains(
            "Production EU is unavailable: server error (HTTP 503). Your application was not created"
        )
    );
    assert!(f.eu.data().applications.iter().all(|a| a.name != "Refused" && a.name != "Later"));

    f.eu.faults().fail(Operation::Applications, Failure::Status { status: 502 });
    let (status, page) = f.page("/environments/prod-eu/applications").await;
    assert_eq!(status, 503);
    assert!(page.contains("Your applications on Production EU could not be loaded"), "{page}");
}

#[tokio::test]
async fn environments_not_joined_or_unknown_get_their_own_pages() {
    let Some(f) = fixture("environments_not_joined_or_unknown").await else { return };
    let res = f.app.get("/environments/prod-eu/apis").await;
    assert_eq!(location(&res), "/login?return_to=%2Fenvironments%2Fprod-eu%2Fapis", "signed out");

    f.eu.faults().add(FaultRule::new(Operation::Login).failure(Failure::Status { status: 503 }).times(1));
    f.sign_in("alice").await;
    for path in [
        "/environments/prod-eu/apis",
        "/environments/prod-eu/apis/eu-api-vat",
        "/environments/prod-eu/applications",
    ] {
        let (status, page) = f.page(path).await;
        assert_eq!(status, 409, "{path}");
        assert!(page.contains("<h1 id=\"not-joined-title\">Not connected to Production EU</h1>"), "{page}");
        assert!(page.contains("environment unavailable (server error 503)"), "the reason: {page}");
        assert!(page.contains("href=\"/environments#env-prod-eu\""), "a way to reconnect: {page}");
        assert!(
            page.contains("<option value=\"master\" selected>Main</option>"),
            "the switcher keeps the current one"
        );
        assert!(
            page.contains("<option value=\"prod-eu\" disabled>Production EU (unavailable)</option>"),
            "{page}"
        );
    }
    let token = f.token().await;
    let res =
        f.app.post_form("/environments/prod-eu/applications", &[("name", "X"), ("csrf_token", &token)]).await;
    assert_eq!(res.status(), 409);
    assert_eq!(creations(&f.eu), 0);
    assert_eq!(catalog_requests(&f.eu), 0, "no manager call for an environment not joined");

    for path in [
        "/environments/nowhere/apis",
        "/environments/nowhere/applications",
        "/environments/NOPE/apis",
        "/environments/master/apis/x/y",
    ] {
        let (status, page) = f.page(path).await;
        assert_eq!(status, 404, "{path}");
        assert!(page.contains("does not exist"), "{page}");
    }
    // Pages that name what was not found, with the signed-in header kept.
    for (path, what, said) in [
        ("/environments/nowhere/apis", "Environment not found", "The environment “nowhere” does not exist"),
        ("/environments/nowhere/applications", "Environment not found", "“nowhere”"),
        (
            "/environments/master/apis/no-such-api",
            "API not found",
            "The API “no-such-api” does not exist on Main",
        ),
    ] {
        let (status, page) = f.page(path).await;
        assert_eq!(status, 404, "{path}");
        assert!(page.contains(what) && page.contains(said), "{path}: {page}");
        assert!(page.contains("Sign out"), "the signed-in header stays on {path}");
    }
    let res =
        f.app.post_form("/environments/nowhere/applications", &[("name", "X"), ("csrf_token", &token)]).await;
    assert_eq!(res.status(), 404);
}

fn catalog_requests(sim: &Simulator) -> usize {
    sim.requests().iter().filter(|r| r.path.contains("/discovery/")).count()
}
