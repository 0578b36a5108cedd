//! "Try it" on the API page: one call to one of the API's operations through the environment's
//! API gateway (the master simulator plays it), its answer on the page; what it refuses to send
//! (another path, a climbing path, a hostile definition's base path, no CSRF token), that the
//! host is the configured gateway whatever the definition says, and that nothing of the portal
//! session reaches the gateway.

use portico::simulator::{SimApiKey, Simulator};

use super::{fixture, fixture_with};
use crate::support::csrf_in;

const PETSTORE: &str = "/environments/master/apis/m-api-petstore";
const TRY: &str = "/environments/master/apis/m-api-petstore/try";

/// The calls the gateway received.
fn gateway_calls(sim: &Simulator) -> Vec<portico::simulator::RecordedRequest> {
    sim.requests().into_iter().filter(|r| r.path.starts_with("/gateway/")).collect()
}

fn key_of_acme_mobile(sim: &Simulator) -> String {
    let id = "key-acme-mobile-try".to_owned();
    let key = SimApiKey {
        id: id.clone(),
        application_id: "m-app-acme-mobile".to_owned(),
        secret: "s3cret-never-shown".to_owned(),
        enabled: true,
        created_by: None,
        created_on: 0,
    };
    sim.edit_data(|data| data.api_keys.push(key));
    id
}

#[tokio::test]
async fn try_it_calls_the_operation_through_the_gateway_and_shows_the_answer() {
    let Some(f) = fixture_with("try_it_calls", |b| b.master_gateway()).await else { return };
    f.sign_in("alice").await;
    let (status, page) = f.page(PETSTORE).await;
    assert_eq!(status, 200);
    assert!(page.contains("id=\"try-it-form\"") && page.contains("GET /items"), "{page}");
    let token = csrf_in(&page).expect("token");

    // Without a key the gateway refuses, and the page shows its answer.
    let form = [
        ("operation", "0"),
        ("path", "/items"),
        ("query", ""),
        ("key", ""),
        ("body", ""),
        ("csrf_token", &token),
    ];
    let res = f.app.post_form(TRY, &form).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let page = res.text().await.unwrap();
    assert!(page.contains("id=\"try-status\">401</span>"), "{page}");
    assert!(page.contains("An API key (header KeyId) is required"), "the gateway's body is shown: {page}");

    // With the key of an application that may call the API: 200 and the gateway's body.
    let key = key_of_acme_mobile(&f.master);
    let form = [
        ("operation", "0"),
        ("path", "/items"),
        ("query", "limit=2&tag=a b"),
        ("key", &key),
        ("body", ""),
        ("csrf_token", &token),
    ];
    let page = f.app.post_form(TRY, &form).await.text().await.unwrap();
    assert!(page.contains("id=\"try-status\">200</span>"), "{page}");
    assert!(page.contains("m-app-acme-mobile") && page.contains("Petstore"), "the answer's body: {page}");
    assert!(
        page.contains("\n  &#34;api&#34;: &#34;Petstore&#34;,\n"),
        "a JSON answer is indented for reading: {page}"
    );
    assert!(page.contains("content-type"), "the answer's headers: {page}");

    let calls = gateway_calls(&f.master);
    assert_eq!(calls.len(), 2, "{calls:?}");
    let last = calls.last().unwrap();
    assert_eq!((last.method.as_str(), last.path.as_str()), ("GET", "/gateway/petstore/items"));
    assert_eq!(last.query, "limit=2&tag=a+b", "the query re-encoded");
    assert!(
        !last.headers.contains_key("cookie"),
        "no cookie of the portal or the manager reaches the gateway: {last:?}"
    );
    assert!(!last.headers.contains_key("authorization"), "{last:?}");

    let audit = f.app.state.db().audit_page(None, 10).await.unwrap();
    let tried: Vec<_> = audit.iter().filter(|e| e.action == "api.try").collect();
    assert_eq!(tried.len(), 2, "{audit:?}");
    let detail = tried[0].detail.as_deref().unwrap_or_default();
    assert!(detail.contains("GET /items") && detail.contains("200"), "{detail}");
    assert!(!detail.contains(&key) && !detail.contains("limit"), "never the key or the query: {detail}");
}

#[tokio::test]
async fn try_it_sends_nothing_but_the_chosen_operation() {
    let Some(f) = fixture_with("try_it_refuses", |b| b.master_gateway()).await else { return };
    f.sign_in("alice").await;
    let token = f.token().await;
    for (operation, path, why) in [
        ("0", "/items/../admin", "a climbing path"),
        ("0", "/items/%2e%2e/admin", "an encoded climbing path"),
        ("0", "/other", "another path"),
        ("0", "http://169.254.169.254/latest", "a URL"),
        ("7", "/items", "an operation the API does not have"),
        ("x", "/items", "no operation"),
    ] {
        let form = [("operation", operation), ("path", path), ("csrf_token", token.as_str())];
        let res = f.app.post_form(TRY, &form).await;
        assert_eq!(res.status(), 400, "{why}");
        let page = res.text().await.unwrap();
        assert!(page.contains("role=\"alert\""), "{why}: the reason is shown: {page}");
    }
    let res = f.app.post_form(TRY, &[("operation", "0"), ("path", "/items")]).await;
    assert_eq!(res.status(), 403, "no CSRF token");
    assert!(gateway_calls(&f.master).is_empty(), "nothing was sent");

    // A hostile definition names another host and a climbing base path.
    f.master.edit_data(|data| {
        let api = data.apis.iter_mut().find(|a| a.id == "m-api-petstore").unwrap();
        api.definition["host"] = "169.254.169.254".into();
    });
    let form = [("operation", "0"), ("path", "/items"), ("csrf_token", token.as_str())];
    let page = f.app.post_form(TRY, &form).await.text().await.unwrap();
    assert!(page.contains("id=\"try-status\">401</span>"), "the configured gateway answered: {page}");
    assert_eq!(gateway_calls(&f.master).len(), 1, "the host came from the configuration");
    f.master.edit_data(|data| {
        let api = data.apis.iter_mut().find(|a| a.id == "m-api-petstore").unwrap();
        api.definition["basePath"] = "/petstore/../../admin".into();
    });
    let res = f.app.post_form(TRY, &form).await;
    assert_eq!(res.status(), 400);
    assert!(res.text().await.unwrap().contains("base path cannot be used"));
    assert_eq!(gateway_calls(&f.master).len(), 1, "a climbing base path is not sent");
}

#[tokio::test]
async fn without_a_gateway_try_it_is_not_offered() {
    let Some(f) = fixture("try_it_off").await else { return };
    f.sign_in("alice").await;
    let (status, page) = f.page(PETSTORE).await;
    assert_eq!(status, 200);
    assert!(!page.contains("try-it-form"), "{page}");
    let token = f.token().await;
    let res = f.app.post_form(TRY, &[("operation", "0"), ("path", "/items"), ("csrf_token", &token)]).await;
    assert_eq!(res.status(), 400);
    assert!(res.text().await.unwrap().contains("Try it is not available"));
    assert!(gateway_calls(&f.master).is_empty());
}
