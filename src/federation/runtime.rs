//! The federation settings in force: the config file's values with the admin UI's overrides
//! on top. Rebuilt whenever the overrides change, on this replica or another.

use std::time::Duration;

use crate::config::{self, LoginProtectionSettings, Settings};
use crate::domain::LoginFailurePolicy;
use crate::store::SettingsOverrides;

#[derive(Debug, Clone)]
pub struct RuntimeSettings {
    /// The heading consumers see above the environment list.
    pub label: String,
    pub policy: LoginFailurePolicy,
    pub login_protection: LoginProtectionSettings,
    pub catalog_ttl: Duration,
    pub organization_ttl: Duration,
    /// What the admin UI overrides (the rest comes from the config file).
    pub overrides: SettingsOverrides,
}

impl RuntimeSettings {
    pub fn resolve(file: &Settings, overrides: SettingsOverrides) -> Self {
        let o = &overrides;
        let p = &file.login_protection;
        let duration = |over: Option<Duration>, file: config::Duration| {
            over.map(|d| config::Duration::from_millis(u64::try_from(d.as_millis()).unwrap_or(u64::MAX)))
                .unwrap_or(file)
        };
        let login_protection = LoginProtectionSettings {
            enabled: o.login_protection_enabled.unwrap_or(p.enabled),
            max_failures: o.max_failures.unwrap_or(p.max_failures),
            window: duration(o.window, p.window),
            lock_duration: duration(o.lock_duration, p.lock_duration),
            lock_by_ip: o.lock_by_ip.unwrap_or(p.lock_by_ip),
            max_failures_per_ip: o.max_failures_per_ip.unwrap_or(p.max_failures_per_ip),
        };
        Self {
            label: o.label.clone().unwrap_or_else(|| file.federation.label.clone()),
            policy: o.login_failure_policy.unwrap_or(file.federation.login_failure_policy),
            login_protection,
            catalog_ttl: o.catalog_ttl.unwrap_or(file.cache.catalog_ttl.get()),
            organization_ttl: o.organization_ttl.unwrap_or(file.cache.organization_ttl.get()),
            overrides,
        }
    }

    /// Whether the value under `key` (see `store::setting_keys`) comes from the admin UI.
    pub fn is_overridden(&self, key: &str) -> bool {
        self.overrides.is_overridden(key)
    }
}
