//! The consumer portal against a real Redis and simulated managers over HTTP: the environment
//! picker (states, health, choosing, the choice remembered), the API catalog (cache hits, misses,
//! expiry on the test clock, purge, one fill under concurrency, the stale copy while a manager is
//! down, search, the API page) and applications (created in the right organization on the right
//! manager, validation, manager errors), and environments that are not joined or do not exist.

mod applications;
mod catalog;
mod picker;

use portico::clock::ManualClock;
use portico::simulator::Simulator;

use crate::support::managers::{start_master, start_slave};
use crate::support::{RedisServer, TestApp, TestAppBuilder};

/// A master, slaves `prod-eu` (flavour eu) and `staging`, a private Redis and the app.
pub struct Fixture {
    pub app: TestApp,
    pub master: Simulator,
    pub eu: Simulator,
    pub staging: Simulator,
    pub redis: RedisServer,
    pub clock: ManualClock,
}

pub async fn fixture(test: &str) -> Option<Fixture> {
    fixture_with(test, |b| b).await
}

pub async fn fixture_with(
    test: &str,
    adjust: impl FnOnce(TestAppBuilder) -> TestAppBuilder,
) -> Option<Fixture> {
    let redis = RedisServer::start(test)?;
    let master = start_master().await;
    let eu = start_slave("eu", &master.url).await;
    let staging = start_slave("staging", &master.url).await;
    let builder = TestAppBuilder::new(master.url.as_str())
        .redis(&redis)
        .slave("prod-eu", "Production EU", eu.url.as_str())
        .slave("staging", "Staging", staging.url.as_str())
        .timeouts("1s", "1s");
    let builder = adjust(builder);
    let clock = builder.clock();
    let app = builder.spawn().await;
    Some(Fixture { app, master, eu, staging, redis, clock })
}

impl Fixture {
    /// Signs in and checks it worked.
    pub async fn sign_in(&self, user: &str) {
        let res = self.app.sign_in(user, &format!("{user}-password")).await;
        assert_eq!(res.status(), 303, "{user} signs in");
    }

    /// A page's status and text.
    pub async fn page(&self, path: &str) -> (u16, String) {
        let res = self.app.get(path).await;
        (res.status().as_u16(), res.text().await.unwrap())
    }

    /// The signed-in user's CSRF token (from the picker).
    pub async fn token(&self) -> String {
        self.app.csrf_token("/environments").await
    }

    /// Redis keys that contain `part`.
    pub fn keys_with(&self, part: &str) -> Vec<String> {
        self.redis.dump().into_iter().map(|(k, _)| k).filter(|k| k.contains(part)).collect()
    }
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
    page.split("<span class=\"app-name\">")
        .skip(1)
        .filter_map(|rest| rest.find("</span>").map(|end| rest[..end].to_owned()))
        .collect()
}
