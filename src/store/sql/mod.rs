//! The SQL database: SQLite by default, PostgreSQL for several replicas, one schema for both
//! (`migrations/`), reached through sqlx's `Any` driver.

mod admins;
mod audit;
mod settings;
mod slaves;

use std::str::FromStr;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Executor};

pub use admins::{AdminAccount, AdminName, InvalidAdminName};
pub use audit::{AuditEntry, NewAuditEntry};
pub use settings::{SettingsOverrides, keys as setting_keys};
pub use slaves::{Saved, SlaveRow};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

#[derive(Debug, thiserror::Error)]
pub enum DatabaseError {
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error("database error: {0}")]
    Query(String),
    #[error("migrations failed: {0}")]
    Migration(String),
    #[error("{0}")]
    Conflict(String),
}

impl From<sqlx::Error> for DatabaseError {
    fn from(e: sqlx::Error) -> Self {
        match e {
            sqlx::Error::Io(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Tls(_) => DatabaseError::Unavailable(e.to_string()),
            other => DatabaseError::Query(other.to_string()),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// A pool of database connections.
#[derive(Clone)]
pub struct Database {
    pool: AnyPool,
    backend: Backend,
}

impl Database {
    /// Connects (creating a missing SQLite file and its folder). Does not migrate.
    pub async fn connect(url: &SecretString, max_connections: u32) -> Result<Self, DatabaseError> {
        sqlx::any::install_default_drivers();
        let raw = url.expose_secret();
        let (backend, url) = if let Some(rest) = raw.strip_prefix("sqlite:") {
            (Backend::Sqlite, sqlite_url(rest)?)
        } else if raw.starts_with("postgres:") || raw.starts_with("postgresql:") {
            (Backend::Postgres, raw.to_owned())
        } else {
            return Err(DatabaseError::Unavailable(
                "database.url must start with sqlite: or postgres:".to_owned(),
            ));
        };
        let options = AnyConnectOptions::from_str(&url)
            .map_err(|_| DatabaseError::Unavailable("database.url does not parse".to_owned()))?;
        let pool = AnyPoolOptions::new()
            .max_connections(if backend == Backend::Sqlite { max_connections.min(4) } else { max_connections })
            .acquire_timeout(Duration::from_secs(3))
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        conn.execute("PRAGMA journal_mode = WAL; PRAGMA busy_timeout = 5000; PRAGMA foreign_keys = ON;")
                            .await?;
                    }
                    Ok(())
                })
            })
            .connect_with(options)
            .await?;
        Ok(Self { pool, backend })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Applies the migrations in `migrations/` that have not run yet.
    pub async fn migrate(&self) -> Result<usize, DatabaseError> {
        let before = self.applied_migrations().await.unwrap_or(0);
        MIGRATOR.run(&self.pool).await.map_err(|e| DatabaseError::Migration(e.to_string()))?;
        Ok(self.applied_migrations().await?.saturating_sub(before))
    }

    async fn applied_migrations(&self) -> Result<usize, DatabaseError> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations WHERE success")
            .fetch_one(&self.pool)
            .await?;
        Ok(usize::try_from(n).unwrap_or(0))
    }

    pub async fn ping(&self) -> Result<(), DatabaseError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    pub(crate) fn pool(&self) -> &AnyPool {
        &self.pool
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// `sqlite://data/portico.db` → a URL that creates the file, after creating its folder.
fn sqlite_url(rest: &str) -> Result<String, DatabaseError> {
    let path = rest.trim_start_matches("//");
    let (file, query) = path.split_once('?').unwrap_or((path, ""));
    let parent = std::path::Path::new(file).parent().filter(|p| !p.as_os_str().is_empty());
    if let Some(parent) = parent.filter(|_| file != ":memory:") {
        std::fs::create_dir_all(parent).map_err(|e| {
            DatabaseError::Unavailable(format!("cannot create {}: {}", parent.display(), e.kind()))
        })?;
    }
    let mode = if query.contains("mode=") { String::new() } else { "mode=rwc".to_owned() };
    let query = [query, &mode].iter().filter(|s| !s.is_empty()).copied().collect::<Vec<_>>().join("&");
    Ok(format!("sqlite://{file}?{query}"))
}

/// Milliseconds since the Unix epoch.
pub(crate) fn now_millis() -> i64 {
    use crate::clock::Clock;
    crate::clock::SystemClock.now_millis()
}
