//! The federation most tests need: a simulated master and two slaves (Production EU, Staging)
//! over HTTP, a private Redis, and the app in front of them — one fixture for the sign-in,
//! portal and routing tests.

use portico::clock::ManualClock;
use portico::simulator::Simulator;

use super::managers::{start_master, start_slave};
use super::{RedisServer, TestApp, TestAppBuilder};

pub struct Federation {
    pub app: TestApp,
    pub master: Simulator,
    pub eu: Simulator,
    pub staging: Simulator,
    pub redis: RedisServer,
    /// The app's clock: tests move it instead of sleeping.
    pub clock: ManualClock,
}

impl Federation {
    /// Started for `test`, or `None` (said) when `redis-server` is missing.
    pub async fn start(test: &str) -> Option<Self> {
        Self::start_with(test, |b| b).await
    }

    /// [`Federation::start`] with the app's configuration adjusted first.
    pub async fn start_with(
        test: &str,
        adjust: impl FnOnce(TestAppBuilder) -> TestAppBuilder,
    ) -> Option<Self> {
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
        Some(Self { app, master, eu, staging, redis, clock })
    }

    /// Signs `user` in (password `{user}-password`) and checks it worked.
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

    /// The slaves, Production EU first.
    pub fn slaves(&self) -> [&Simulator; 2] {
        [&self.eu, &self.staging]
    }
}
