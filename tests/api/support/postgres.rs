//! A fresh PostgreSQL database per test on the local server, dropped afterwards.

use sqlx::Connection;

use super::missing_peer;

pub struct TestPostgres {
    pub url: String,
    name: String,
    admin_url: String,
}

fn admin_url() -> String {
    std::env::var("PORTICO_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

impl TestPostgres {
    /// Creates `portico_test_<random>`; `None` (after saying why) when no server answers.
    pub async fn create(test: &str) -> Option<Self> {
        let admin_url = admin_url();
        let mut conn = match sqlx::PgConnection::connect(&admin_url).await {
            Ok(c) => c,
            Err(e) => {
                missing_peer(
                    test,
                    &format!("PostgreSQL at {admin_url} ({e})"),
                    "install and start it with `apt-get install postgresql`, or set PORTICO_TEST_POSTGRES_URL",
                );
                return None;
            }
        };
        let name = format!("portico_test_{:016x}", rand::random::<u64>());
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut conn)
            .await
            .expect("create test database");
        let base = admin_url.rsplit_once('/').map(|(b, _)| b).unwrap_or(&admin_url);
        Some(Self { url: format!("{base}/{name}"), name, admin_url })
    }
}

impl Drop for TestPostgres {
    fn drop(&mut self) {
        let admin_url = self.admin_url.clone();
        let name = self.name.clone();
        // Drop runs outside any runtime guarantee: use a short-lived one on its own thread.
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else {
                return;
            };
            rt.block_on(async {
                if let Ok(mut c) = sqlx::PgConnection::connect(&admin_url).await {
                    let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                    )))
                    .execute(&mut c)
                    .await;
                }
            });
        })
        .join();
    }
}
