//! Running one test body on both databases Portico supports: `on_both_databases!(body, …)`
//! makes a module per body with a `sqlite` and a `postgres` test (the latter says so and passes
//! when no PostgreSQL answers, unless `PORTICO_REQUIRE_PEERS=1`).

use super::{TestAppBuilder, TestPostgres};

/// The database of one run of a test body; a PostgreSQL database lives as long as this value.
pub enum TestDatabase {
    /// A fresh SQLite file in the app's temporary folder (the builder's default).
    Sqlite,
    Postgres(TestPostgres),
}

impl TestDatabase {
    /// Points the app at this database.
    pub fn configure(&self, builder: TestAppBuilder) -> TestAppBuilder {
        match self {
            TestDatabase::Sqlite => builder,
            TestDatabase::Postgres(pg) => builder.database(&pg.url),
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            TestDatabase::Sqlite => "sqlite",
            TestDatabase::Postgres(_) => "postgres",
        }
    }
}

/// For each `async fn body(db: TestDatabase)` named, a module of the same name with the tests
/// `sqlite` and `postgres`.
#[macro_export]
macro_rules! on_both_databases {
    ($($body:ident),+ $(,)?) => {
        $(
            mod $body {
                #[tokio::test]
                async fn sqlite() {
                    super::$body($crate::support::databases::TestDatabase::Sqlite).await;
                }

                #[tokio::test]
                async fn postgres() {
                    let test = concat!(module_path!(), "::postgres");
                    let Some(pg) = $crate::support::TestPostgres::create(test).await else { return };
                    super::$body($crate::support::databases::TestDatabase::Postgres(pg)).await;
                }
            }
        )+
    };
}
