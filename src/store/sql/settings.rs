//! Settings changed in the admin UI: each overrides the config file's value of the same key.
//! One row per key with a JSON value, so a new setting needs no schema change.

use std::time::Duration;

use serde_json::Value;
use sqlx::Row;

use super::{Database, DatabaseError, now_millis};
use crate::domain::LoginFailurePolicy;

/// The values the admin UI may override; `None` = the config file's value is in force.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SettingsOverrides {
    pub label: Option<String>,
    pub login_failure_policy: Option<LoginFailurePolicy>,
    pub login_protection_enabled: Option<bool>,
    pub max_failures: Option<u32>,
    pub window: Option<Duration>,
    pub lock_duration: Option<Duration>,
    pub lock_by_ip: Option<bool>,
    pub max_failures_per_ip: Option<u32>,
    pub catalog_ttl: Option<Duration>,
    pub organization_ttl: Option<Duration>,
}

/// The config keys, as the config file and the settings page name them.
pub mod keys {
    pub const LABEL: &str = "federation.label";
    pub const POLICY: &str = "federation.login_failure_policy";
    pub const PROTECTION_ENABLED: &str = "login_protection.enabled";
    pub const MAX_FAILURES: &str = "login_protection.max_failures";
    pub const WINDOW: &str = "login_protection.window";
    pub const LOCK_DURATION: &str = "login_protection.lock_duration";
    pub const LOCK_BY_IP: &str = "login_protection.lock_by_ip";
    pub const MAX_FAILURES_PER_IP: &str = "login_protection.max_failures_per_ip";
    pub const CATALOG_TTL: &str = "cache.catalog_ttl";
    pub const ORGANIZATION_TTL: &str = "cache.organization_ttl";
}

fn millis(d: Duration) -> Value {
    Value::from(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn duration(v: &Value) -> Option<Duration> {
    v.as_u64().map(Duration::from_millis)
}

fn count(v: &Value) -> Option<u32> {
    v.as_u64().and_then(|n| u32::try_from(n).ok())
}

impl SettingsOverrides {
    /// The overridden keys with their JSON values.
    pub fn entries(&self) -> Vec<(&'static str, Value)> {
        let mut out = Vec::new();
        let mut put = |key, value: Option<Value>| {
            if let Some(v) = value {
                out.push((key, v));
            }
        };
        put(keys::LABEL, self.label.clone().map(Value::from));
        put(keys::POLICY, self.login_failure_policy.map(|p| Value::from(p.as_str())));
        put(keys::PROTECTION_ENABLED, self.login_protection_enabled.map(Value::from));
        put(keys::MAX_FAILURES, self.max_failures.map(Value::from));
        put(keys::WINDOW, self.window.map(millis));
        put(keys::LOCK_DURATION, self.lock_duration.map(millis));
        put(keys::LOCK_BY_IP, self.lock_by_ip.map(Value::from));
        put(keys::MAX_FAILURES_PER_IP, self.max_failures_per_ip.map(Value::from));
        put(keys::CATALOG_TTL, self.catalog_ttl.map(millis));
        put(keys::ORGANIZATION_TTL, self.organization_ttl.map(millis));
        out
    }

    /// Whether `key` (one of [`keys`]) is overridden.
    pub fn is_overridden(&self, key: &str) -> bool {
        self.entries().iter().any(|(k, _)| *k == key)
    }

    /// Applies one stored row; `false` when the key or value is not understood.
    fn apply(&mut self, key: &str, v: &Value) -> bool {
        match key {
            keys::LABEL => self.label = v.as_str().map(str::to_owned),
            keys::POLICY => self.login_failure_policy = v.as_str().and_then(|s| s.parse().ok()),
            keys::PROTECTION_ENABLED => self.login_protection_enabled = v.as_bool(),
            keys::MAX_FAILURES => self.max_failures = count(v),
            keys::WINDOW => self.window = duration(v),
            keys::LOCK_DURATION => self.lock_duration = duration(v),
            keys::LOCK_BY_IP => self.lock_by_ip = v.as_bool(),
            keys::MAX_FAILURES_PER_IP => self.max_failures_per_ip = count(v),
            keys::CATALOG_TTL => self.catalog_ttl = duration(v),
            keys::ORGANIZATION_TTL => self.organization_ttl = duration(v),
            _ => return false,
        }
        self.is_overridden(key)
    }
}

impl Database {
    /// The overrides saved in the admin UI. A row this version does not understand (a newer
    /// replica's key, a damaged value) is skipped with a warning rather than failing the start.
    pub async fn load_overrides(&self) -> Result<SettingsOverrides, DatabaseError> {
        let rows = sqlx::query("SELECT key, value FROM settings ORDER BY key").fetch_all(self.pool()).await?;
        let mut overrides = SettingsOverrides::default();
        for row in rows {
            let key: String = row.try_get(0)?;
            let raw: String = row.try_get(1)?;
            let understood = serde_json::from_str::<Value>(&raw).is_ok_and(|v| overrides.apply(&key, &v));
            if !understood {
                tracing::warn!(key, "ignoring a stored setting this version does not understand");
            }
        }
        Ok(overrides)
    }

    /// Replaces every override with `overrides` in one transaction.
    pub async fn save_overrides(
        &self,
        overrides: &SettingsOverrides,
        actor: &str,
    ) -> Result<(), DatabaseError> {
        let now = now_millis();
        let mut tx = self.pool().begin().await?;
        sqlx::query("DELETE FROM settings").execute(&mut *tx).await?;
        for (key, value) in overrides.entries() {
            sqlx::query("INSERT INTO settings (key, value, updated_at, updated_by) VALUES ($1, $2, $3, $4)")
                .bind(key)
                .bind(value.to_string())
                .bind(now)
                .bind(actor)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_entry_reads_back() {
        let all = SettingsOverrides {
            label: Some("Stage".into()),
            login_failure_policy: Some(LoginFailurePolicy::Any),
            login_protection_enabled: Some(false),
            max_failures: Some(3),
            window: Some(Duration::from_secs(60)),
            lock_duration: Some(Duration::from_secs(120)),
            lock_by_ip: Some(true),
            max_failures_per_ip: Some(9),
            catalog_ttl: Some(Duration::from_secs(30)),
            organization_ttl: Some(Duration::from_secs(40)),
        };
        let mut back = SettingsOverrides::default();
        for (key, value) in all.entries() {
            assert!(back.apply(key, &value), "{key}");
        }
        assert_eq!(back, all);
        assert!(!back.apply("federation.unknown", &Value::from(1)));
        assert!(!SettingsOverrides::default().apply(keys::MAX_FAILURES, &Value::from("x")));
    }
}
