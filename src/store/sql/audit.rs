//! The audit log: who did what, when. Entries are append-only and read newest first.

use std::sync::atomic::{AtomicU64, Ordering};

use rand::Rng;
use sqlx::Row;

use super::{Database, DatabaseError, now_millis};

/// What to record.
#[derive(Debug, Clone)]
pub struct NewAuditEntry<'a> {
    /// `admin:alice`, `cli`, `consumer:bob`…
    pub actor: &'a str,
    /// `admin.add`, `slave.update`, `signin.failure`…
    pub action: &'a str,
    pub target: Option<&'a str>,
    /// JSON detail (before/after, reason). Never a secret.
    pub detail: Option<serde_json::Value>,
    pub client_ip: Option<&'a str>,
}

#[derive(Debug, Clone)]
pub struct AuditEntry {
    pub id: String,
    pub at: i64,
    pub actor: String,
    pub action: String,
    pub target: Option<String>,
    pub detail: Option<String>,
    pub client_ip: Option<String>,
}

static SEQUENCE: AtomicU64 = AtomicU64::new(0);

impl Database {
    pub async fn audit(&self, entry: NewAuditEntry<'_>) -> Result<(), DatabaseError> {
        let at = now_millis();
        // Sortable by time, then by order within this process; unique across replicas thanks to
        // the random tail. No database sequence, so the same SQL runs on both databases.
        let seq = SEQUENCE.fetch_add(1, Ordering::Relaxed) % 1_000_000;
        let id = format!("{at:013}-{seq:06}-{:08x}", rand::rng().random::<u32>());
        sqlx::query(
            "INSERT INTO audit_log (id, at, actor, action, target, detail, client_ip) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(id)
        .bind(at)
        .bind(entry.actor)
        .bind(entry.action)
        .bind(entry.target)
        .bind(entry.detail.map(|d| d.to_string()))
        .bind(entry.client_ip)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Newest first; `before` is the id of the last entry of the previous page.
    pub async fn audit_page(
        &self,
        before: Option<&str>,
        limit: u32,
    ) -> Result<Vec<AuditEntry>, DatabaseError> {
        let rows = sqlx::query(
            "SELECT id, at, actor, action, target, detail, client_ip FROM audit_log \
             WHERE ($1 IS NULL OR id < $1) ORDER BY id DESC LIMIT $2",
        )
        .bind(before)
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await?;
        rows.into_iter()
            .map(|r| {
                Ok(AuditEntry {
                    id: r.try_get(0)?,
                    at: r.try_get(1)?,
                    actor: r.try_get(2)?,
                    action: r.try_get(3)?,
                    target: r.try_get(4)?,
                    detail: r.try_get(5)?,
                    client_ip: r.try_get(6)?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(Into::into)
    }
}
