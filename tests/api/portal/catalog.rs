//! The API catalog: what each organization sees, the cache (hit, miss, expiry on the test clock,
//! purge), one fill for many concurrent misses, the last copy while a manager is down, search,
//! and the page of one API.

use std::time::Duration;

use futures_util::future::join_all;
use portico::simulator::{Failure, Operation};

use super::{api_names, catalog_fetches, environment_entry, fixture};

const TTL: Duration = Duration::from_secs(5 * 60);

#[tokio::test]
async fn the_catalog_is_cached_per_environment_and_organization_until_its_ttl() {
    let Some(f) = fixture("the_catalog_is_cached").await else { return };
    f.sign_in("alice").await;
    let (status, page) = f.page("/environments/prod-eu/apis").await;
    assert_eq!(status, 200);
    assert_eq!(api_names(&page), ["EU VAT", "EU Weather"], "Acme's APIs only, by name");
    assert!(page.contains("2 APIs") && page.contains("updated just now"), "{page}");
    assert!(page.contains("<a href=\"/environments/prod-eu/apis\" aria-current=\"page\">APIs</a>"));
    assert_eq!(catalog_fetches(&f.eu), 1, "a miss");

    let (_, again) = f.page("/environments/prod-eu/apis").await;
    assert_eq!(api_names(&again), ["EU VAT", "EU Weather"]);
    assert_eq!(catalog_fetches(&f.eu), 1, "a hit");
    assert_eq!(f.keys_with(":cache:catalog:prod-eu:").len(), 1);
    assert_eq!(catalog_fetches(&f.staging), 0, "other environments untouched");

    f.clock.advance(TTL - Duration::from_secs(1));
    f.page("/environments/prod-eu/apis").await;
    assert_eq!(catalog_fetches(&f.eu), 1, "still fresh just before the TTL");
    f.clock.advance(Duration::from_secs(2));
    let (_, expired) = f.page("/environments/prod-eu/apis").await;
    assert_eq!(api_names(&expired), ["EU VAT", "EU Weather"]);
    assert_eq!(catalog_fetches(&f.eu), 2, "fetched again after the TTL");

    // Another organization has its own entry and its own APIs.
    f.app.sign_out().await;
    f.sign_in("bob").await;
    let (_, globex) = f.page("/environments/prod-eu/apis").await;
    assert_eq!(api_names(&globex), ["EU Customs", "EU Weather"]);
    assert_eq!(catalog_fetches(&f.eu), 3);
    let keys = f.keys_with(":cache:catalog:prod-eu:");
    assert_eq!(keys.len(), 2, "{keys:?}");
    assert!(keys.iter().all(|k| !k.contains("org-acme") && !k.contains("org-globex")), "hashed: {keys:?}");

    // Purge: every cache entry goes, and the next page fills it again.
    let purged = f.app.state.catalog().purge().await.unwrap();
    assert!(purged >= 2, "{purged}");
    assert!(f.keys_with(":cache:").is_empty(), "{:?}", f.keys_with(":cache:"));
    f.page("/environments/prod-eu/apis").await;
    assert_eq!(catalog_fetches(&f.eu), 4);
    let figures = f.app.state.catalog().figures();
    assert_eq!((figures.fills, figures.hits), (4, 2), "{figures:?}");
}

#[tokio::test]
async fn fifty_concurrent_misses_fill_the_catalog_once() {
    let Some(f) = fixture("fifty_concurrent_misses").await else { return };
    f.sign_in("alice").await;
    // A slow manager, so that every request arrives while the first fill is still running.
    f.eu.faults().delay(Operation::DiscoveryApis, Duration::from_millis(300));
    let pages = join_all((0..50).map(|_| {
        let client = f.app.client.clone();
        let url = f.app.url("/environments/prod-eu/apis");
        async move {
            let res = client.get(url).send().await.unwrap();
            (res.status().as_u16(), res.text().await.unwrap())
        }
    }))
    .await;
    for (status, page) in &pages {
        assert_eq!(*status, 200);
        assert_eq!(api_names(page), ["EU VAT", "EU Weather"]);
    }
    assert_eq!(catalog_fetches(&f.eu), 1, "one fill for 50 concurrent misses");
    assert_eq!(f.app.state.catalog().figures().fills, 1);
}

#[tokio::test]
async fn a_manager_that_is_down_shows_the_last_catalog_with_a_notice() {
    let Some(f) = fixture("a_manager_that_is_down_shows_the_last_catalog").await else { return };
    f.sign_in("alice").await;
    assert_eq!(f.page("/environments/prod-eu/apis").await.0, 200);
    f.clock.advance(TTL + Duration::from_secs(12 * 60));
    f.eu.faults().fail(Operation::DiscoveryApis, Failure::Status { status: 503 });

    let (status, page) = f.page("/environments/prod-eu/apis").await;
    assert_eq!(status, 200, "the last copy instead of an error:\n{page}");
    assert_eq!(api_names(&page), ["EU VAT", "EU Weather"]);
    assert!(page.contains("Production EU is not answering"), "{page}");
    assert!(page.contains("server error (HTTP 503)"), "{page}");
    assert!(page.contains("(17 minutes ago)"), "how old it is: {page}");
    assert_eq!(catalog_fetches(&f.eu), 2, "it did try");
    // The API page works from the stale list too.
    let (status, api) = f.page("/environments/prod-eu/apis/eu-api-vat").await;
    assert_eq!(status, 200);
    assert!(api.contains("The API list is the last one"), "{api}");

    // Without a copy kept there is nothing to show but the problem.
    f.app.state.catalog().purge().await.unwrap();
    let (status, page) = f.page("/environments/prod-eu/apis").await;
    assert_eq!(status, 503);
    assert!(
        page.contains("The APIs of Production EU could not be loaded: server error (HTTP 503)."),
        "{page}"
    );
    assert!(api_names(&page).is_empty());

    // The manager stopped altogether.
    f.eu.faults().clear();
    assert_eq!(f.page("/environments/prod-eu/apis").await.0, 200, "refilled");
    f.clock.advance(TTL * 2);
    let _refusing = crate::support::managers::stop_refusing(f.eu).await;
    let res = f.app.get("/environments/prod-eu/apis").await;
    let (status, page) = (res.status().as_u16(), res.text().await.unwrap());
    assert_eq!(status, 200);
    assert!(page.contains("is not answering:</strong> connection refused."), "{page}");
}

#[tokio::test]
async fn the_catalog_can_be_searched_by_name_without_case() {
    let Some(f) = fixture("the_catalog_can_be_searched").await else { return };
    f.sign_in("alice").await;
    let (_, page) = f.page("/environments/prod-eu/apis?q=vAt").await;
    assert_eq!(api_names(&page), ["EU VAT"]);
    assert!(page.contains("1 of 2 APIs match “vAt”"), "{page}");
    assert!(page.contains("value=\"vAt\""), "the search is kept in the field");

    let (_, none) = f.page("/environments/prod-eu/apis?q=%3Cscript%3E").await;
    assert!(api_names(&none).is_empty());
    assert!(none.contains("No API name contains “&#60;script&#62;”"), "escaped: {none}");
    assert!(!none.contains("<script>"));
    let (_, all) = f.page("/environments/prod-eu/apis?q=+").await;
    assert_eq!(api_names(&all), ["EU VAT", "EU Weather"], "blank is no filter");
    assert_eq!(catalog_fetches(&f.eu), 1, "searching reads the cache");
}

#[tokio::test]
async fn an_api_page_shows_its_summary_operations_and_definition() {
    let Some(f) = fixture("an_api_page_shows_its_summary").await else { return };
    f.sign_in("alice").await;
    let (_, list) = f.page("/environments/prod-eu/apis").await;
    assert!(list.contains("href=\"/environments/prod-eu/apis/eu-api-vat\""), "{list}");

    let (status, page) = f.page("/environments/prod-eu/apis/eu-api-vat").await;
    assert_eq!(status, 200);
    assert!(page.contains("<h1 id=\"api-title\">EU VAT</h1>"), "{page}");
    assert!(page.contains("Validate VAT numbers"));
    assert!(page.contains("<span class=\"method get\">GET</span>"), "{page}");
    assert!(page.contains("<code class=\"path\">/items</code>") && page.contains("List EU VAT items"));
    assert!(
        page.contains("Swagger 2.0") && page.contains("<code>https://gateway.example/euvat</code>"),
        "{page}"
    );
    // The full URL to call, and a curl call to copy.
    assert!(page.contains("<code class=\"url\">https://gateway.example/euvat/items</code>"), "{page}");
    assert!(
        page.contains("<code id=\"curl-example\">curl -H &#39;KeyId: YOUR_API_KEY&#39; &#39;https://gateway.example/euvat/items&#39;</code>"),
        "{page}"
    );
    assert!(page.contains("<details class=\"raw\">") && page.contains("&#34;swagger&#34;: &#34;2.0&#34;"));
    let definitions =
        f.eu.requests().iter().filter(|r| r.path.ends_with("/discovery/swagger/api/id/eu-api-vat")).count();
    assert_eq!(definitions, 1, "read as the user");

    assert_eq!(f.page("/environments/prod-eu/apis/eu-api-customs").await.0, 404, "Globex's API");
    assert_eq!(f.page("/environments/prod-eu/apis/nothing-here").await.0, 404);
    assert_eq!(f.page("/environments/prod-eu/apis/a%2Fb").await.0, 404);

    f.eu.faults().fail(Operation::ApiDefinition, Failure::Status { status: 500 });
    let (status, page) = f.page("/environments/prod-eu/apis/eu-api-vat").await;
    assert_eq!(status, 200, "the summary without the definition");
    assert!(page.contains("The definition could not be loaded from Production EU: server error (HTTP 500)."));
}

#[tokio::test]
async fn a_manager_session_that_ended_asks_for_a_reconnect() {
    let Some(f) = fixture("a_manager_session_that_ended").await else { return };
    f.sign_in("alice").await;
    f.eu.faults().fail(Operation::DiscoveryApis, Failure::Status { status: 401 });
    let (status, page) = f.page("/environments/prod-eu/apis").await;
    assert_eq!(status, 409);
    assert!(page.contains("Not connected to Production EU") && page.contains("your session there has ended"));
    let (_, picker) = f.page("/environments").await;
    let entry = environment_entry(&picker, "prod-eu");
    assert!(entry.contains(">unavailable<") && entry.contains("your session there has ended"), "{entry}");
    assert!(entry.contains("Password to connect Production EU"), "{entry}");
}
