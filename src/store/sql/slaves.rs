//! Slave managers added in the admin UI, with optimistic versioning: an update names the version
//! it was edited from and is refused when someone saved in between.

use std::time::Duration;

use sqlx::Row;
use sqlx::any::AnyRow;
use url::Url;

use super::{Database, DatabaseError, now_millis};
use crate::config::AuthReference;
use crate::domain::{EnvironmentId, ManagerDefinition};

/// One slave manager as stored: its definition and the row's version.
#[derive(Debug, Clone, PartialEq)]
pub struct SlaveRow {
    pub manager: ManagerDefinition,
    /// Its service credential (references to secrets, never their values).
    pub auth: Option<AuthReference>,
    /// 1 when created, +1 at every update.
    pub version: i64,
    pub updated_at: i64,
    pub updated_by: String,
}

/// What became of an update.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Saved {
    /// Saved; the row's new version.
    Saved(i64),
    /// Someone saved another version since this edit began; nothing was written.
    Conflict,
    NotFound,
}

/// The columns [`from_row`] reads, in its order.
macro_rules! select_slaves {
    ($rest:literal) => {
        concat!(
            "SELECT id, name, url, base_path, tls_mode, ca_pem, timeout_ms, enabled, required, version, \
             updated_at, updated_by, auth, gateway FROM slaves ",
            $rest
        )
    };
}

fn bad_row(what: &str, e: impl std::fmt::Display) -> DatabaseError {
    DatabaseError::Query(format!("stored slave has a bad {what}: {e}"))
}

fn from_row(r: &AnyRow) -> Result<SlaveRow, DatabaseError> {
    let id: String = r.try_get(0)?;
    let url: String = r.try_get(2)?;
    let tls: String = r.try_get(4)?;
    let timeout_ms: Option<i64> = r.try_get(6)?;
    let auth: Option<String> = r.try_get(12)?;
    let gateway: Option<String> = r.try_get(13)?;
    Ok(SlaveRow {
        manager: ManagerDefinition {
            id: EnvironmentId::parse(&id).map_err(|e| bad_row("id", e))?,
            name: r.try_get(1)?,
            url: Url::parse(&url).map_err(|e| bad_row("url", e))?,
            base_path: r.try_get(3)?,
            tls_mode: tls.parse().map_err(|e: String| bad_row("TLS mode", e))?,
            ca_pem: r.try_get(5)?,
            timeout: timeout_ms.map(|ms| Duration::from_millis(u64::try_from(ms).unwrap_or(0))),
            enabled: r.try_get::<i64, _>(7)? != 0,
            required: r.try_get::<i64, _>(8)? != 0,
            gateway: gateway.map(|g| Url::parse(&g)).transpose().map_err(|e| bad_row("gateway", e))?,
        },
        auth: auth.map(|text| AuthReference::parse(&text)).transpose().map_err(|e| bad_row("auth", e))?,
        version: r.try_get(9)?,
        updated_at: r.try_get(10)?,
        updated_by: r.try_get(11)?,
    })
}

fn timeout_ms(manager: &ManagerDefinition) -> Option<i64> {
    manager.timeout.map(|t| i64::try_from(t.as_millis()).unwrap_or(i64::MAX))
}

impl Database {
    /// Every stored slave, in the order they were added.
    pub async fn list_slaves(&self) -> Result<Vec<SlaveRow>, DatabaseError> {
        let rows = sqlx::query(select_slaves!("ORDER BY position, id")).fetch_all(self.pool()).await?;
        rows.iter().map(from_row).collect()
    }

    pub async fn get_slave(&self, id: &EnvironmentId) -> Result<Option<SlaveRow>, DatabaseError> {
        let row = sqlx::query(select_slaves!("WHERE id = $1"))
            .bind(id.as_str())
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(from_row).transpose()
    }

    /// Adds a slave (version 1, after the others); an id that exists already is a conflict.
    pub async fn insert_slave(&self, row: &SlaveRow, actor: &str) -> Result<SlaveRow, DatabaseError> {
        let now = now_millis();
        let m = &row.manager;
        let inserted = sqlx::query(
            "INSERT INTO slaves (id, name, url, base_path, tls_mode, ca_pem, timeout_ms, enabled, required, \
             position, version, updated_at, updated_by, auth, gateway) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, \
             (SELECT COALESCE(MAX(position), 0) + 1 FROM slaves), 1, $10, $11, $12, $13) \
             ON CONFLICT (id) DO NOTHING",
        )
        .bind(m.id.as_str())
        .bind(&m.name)
        .bind(m.url.as_str())
        .bind(&m.base_path)
        .bind(m.tls_mode.as_str())
        .bind(m.ca_pem.as_deref())
        .bind(timeout_ms(m))
        .bind(i64::from(m.enabled))
        .bind(i64::from(m.required))
        .bind(now)
        .bind(actor)
        .bind(row.auth.as_ref().map(AuthReference::as_str))
        .bind(m.gateway.as_ref().map(Url::as_str))
        .execute(self.pool())
        .await?
        .rows_affected();
        if inserted == 0 {
            return Err(DatabaseError::Conflict(format!("a slave with id {} already exists", m.id)));
        }
        Ok(SlaveRow { version: 1, updated_at: now, updated_by: actor.to_owned(), ..row.clone() })
    }

    /// Saves `row` if the stored version is still `row.version` (the one the admin edited).
    pub async fn update_slave(&self, row: &SlaveRow, actor: &str) -> Result<Saved, DatabaseError> {
        let m = &row.manager;
        let updated = sqlx::query(
            "UPDATE slaves SET name = $1, url = $2, base_path = $3, tls_mode = $4, ca_pem = $5, \
             timeout_ms = $6, enabled = $7, required = $8, version = version + 1, updated_at = $9, \
             updated_by = $10, auth = $13, gateway = $14 WHERE id = $11 AND version = $12",
        )
        .bind(&m.name)
        .bind(m.url.as_str())
        .bind(&m.base_path)
        .bind(m.tls_mode.as_str())
        .bind(m.ca_pem.as_deref())
        .bind(timeout_ms(m))
        .bind(i64::from(m.enabled))
        .bind(i64::from(m.required))
        .bind(now_millis())
        .bind(actor)
        .bind(m.id.as_str())
        .bind(row.version)
        .bind(row.auth.as_ref().map(AuthReference::as_str))
        .bind(m.gateway.as_ref().map(Url::as_str))
        .execute(self.pool())
        .await?
        .rows_affected();
        if updated > 0 {
            return Ok(Saved::Saved(row.version + 1));
        }
        Ok(match self.get_slave(&m.id).await? {
            Some(_) => Saved::Conflict,
            None => Saved::NotFound,
        })
    }

    /// Deletes a slave; `true` when it existed.
    pub async fn delete_slave(&self, id: &EnvironmentId) -> Result<bool, DatabaseError> {
        let deleted =
            sqlx::query("DELETE FROM slaves WHERE id = $1").bind(id.as_str()).execute(self.pool()).await?;
        Ok(deleted.rows_affected() > 0)
    }
}
