//! The consumer portal against a real Redis and simulated managers over HTTP: the environment
//! picker (states, health, choosing, the choice remembered), the API catalog (cache hits, misses,
//! expiry on the test clock, purge, one fill under concurrency, the stale copy while a manager is
//! down, search, the API page) and applications (created in the right organization on the right
//! manager, validation, manager errors), and environments that are not joined or do not exist.

mod application;
mod applications;
mod catalog;
mod picker;
mod try_it;

use portico::simulator::Simulator;

use crate::support::TestAppBuilder;

/// A master, slaves `prod-eu` (flavour eu) and `staging`, a private Redis and the app.
/// The shared federation fixture, with the portal tests' helpers.
pub use crate::support::Federation as Fixture;

pub async fn fixture(test: &str) -> Option<Fixture> {
    Fixture::start(test).await
}

pub async fn fixture_with(
    test: &str,
    adjust: impl FnOnce(TestAppBuilder) -> TestAppBuilder,
) -> Option<Fixture> {
    Fixture::start_with(test, adjust).await
}

/// How many `GET /discovery/apis` a simulator received.
pub fn catalog_fetches(sim: &Simulator) -> usize {
    sim.requests().iter().filter(|r| r.method == "GET" && r.path.ends_with("/discovery/apis")).count()
}

/// The `<li>` of one environment on the picker.
pub fn environment_entry(page: &str, id: &str) -> String {
    let start = page.find(&format!("id=\"env-{id}\"")).unwrap_or_else(|| panic!("{id} listed:\n{page}"));
    let rest = &page[start..];
    rest[..rest.find("</li>").unwrap()].to_owned()
}

/// The API names on a catalog page, in order.
pub fn api_names(page: &str) -> Vec<String> {
    page.split("<li class=\"card\">")
        .skip(1)
        .filter_map(|card| {
            let link = &card[card.find("<h2><a href=")?..];
            let name = &link[link.find('>')? + 1..];
            let name = &name[name.find('>')? + 1..];
            Some(name[..name.find("</a>")?].to_owned())
        })
        .collect()
}

/// The application names on an applications page, in order.
pub fn application_names(page: &str) -> Vec<String> {
    page.split("class=\"app-name\" href=\"")
        .skip(1)
        .filter_map(|rest| {
            let text = &rest[rest.find("\">")? + 2..];
            text.find("</a>").map(|end| text[..end].to_owned())
        })
        .collect()
}
