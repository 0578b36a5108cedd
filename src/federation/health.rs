//! The background health monitor: every manager probed on an interval (`ManagerClient::probe`),
//! the last result per environment kept in memory for the picker and the admin dashboard.
//!
//! Health is a property of the manager, not of a user's session: the picker shows it beside
//! whether the user is joined, so "up but you are not connected" and "down" read differently.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use futures_util::future::join_all;

use super::{Environment, Environments};
use crate::clock::SharedClock;
use crate::credentials::Caller;
use crate::domain::EnvironmentId;

/// How often every manager is probed.
pub const PROBE_INTERVAL: Duration = Duration::from_secs(15);

/// The last probe of one manager.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManagerHealth {
    pub up: bool,
    /// The probe's round-trip time, when it answered.
    pub latency: Option<Duration>,
    /// Why the last failed probe failed, kept after the manager answers again (safe to show:
    /// never a credential or a body).
    pub last_error: Option<String>,
    pub checked_at: SystemTime,
    /// When the manager last answered a probe (this one or an earlier one).
    pub last_success: Option<SystemTime>,
    /// When a probe last failed (the one of `last_error`).
    pub last_failure: Option<SystemTime>,
}

impl ManagerHealth {
    /// `12 ms`, or `<1 ms` for a local manager.
    pub fn latency_text(&self) -> Option<String> {
        self.latency.map(|l| match l.as_millis() {
            0 => "<1 ms".to_owned(),
            ms => format!("{ms} ms"),
        })
    }
}

impl ManagerHealth {
    /// A probe says only how it went; what earlier probes said (last success, last error) is
    /// kept beside it.
    fn following(self, earlier: Option<&ManagerHealth>) -> Self {
        Self {
            last_success: self.last_success.or_else(|| earlier.and_then(|h| h.last_success)),
            last_failure: self.last_failure.or_else(|| earlier.and_then(|h| h.last_failure)),
            last_error: self.last_error.or_else(|| earlier.and_then(|h| h.last_error.clone())),
            ..self
        }
    }
}

/// Shared, cheap to clone; readers never wait for a probe.
#[derive(Clone, Default)]
pub struct HealthMonitor {
    last: Arc<RwLock<HashMap<EnvironmentId, ManagerHealth>>>,
}

impl HealthMonitor {
    pub fn new() -> Self {
        Self::default()
    }

    /// The last result for one environment; `None` before its first probe.
    pub fn get(&self, id: &EnvironmentId) -> Option<ManagerHealth> {
        self.read().get(id).cloned()
    }

    /// Every last result, by environment id.
    pub fn snapshot(&self) -> BTreeMap<EnvironmentId, ManagerHealth> {
        self.read().iter().map(|(id, h)| (id.clone(), h.clone())).collect()
    }

    /// Probes every enabled manager once, concurrently (each bounded by its own timeout), and
    /// records the results. Changes of state are logged; steady states are not.
    pub async fn probe_all(&self, environments: &Environments, clock: &SharedClock) {
        let targets: Vec<Arc<Environment>> =
            environments.snapshot().all().filter(|e| e.enabled()).cloned().collect();
        self.probe(targets, clock).await;
    }

    /// After the environments changed: forgets the ones that are gone or disabled and probes
    /// the rest at once (a slave just added or edited shows its health straight away).
    pub async fn reprobe(&self, environments: &Environments, clock: &SharedClock) {
        let set = environments.snapshot();
        self.write().retain(|id, _| set.get(id).is_some_and(|e| e.enabled()));
        self.probe(set.all().filter(|e| e.enabled()).cloned().collect(), clock).await;
    }

    async fn probe(&self, targets: Vec<Arc<Environment>>, clock: &SharedClock) {
        let results = join_all(targets.iter().map(|env| probe_one(env, clock))).await;
        let mut last = self.write();
        for (env, health) in targets.iter().zip(results) {
            let before = last.get(env.id()).map(|h| h.up);
            match (before, health.up) {
                (Some(true) | None, false) => tracing::warn!(
                    manager = %env.id(),
                    error = health.last_error.as_deref().unwrap_or(""),
                    "manager health check failed"
                ),
                (Some(false), true) => tracing::info!(manager = %env.id(), "manager answers again"),
                _ => {}
            }
            let health = health.following(last.get(env.id()));
            last.insert(env.id().clone(), health);
        }
    }

    /// Probes at once and then every `interval`, until the returned task is dropped.
    pub fn start(&self, environments: Environments, clock: SharedClock, interval: Duration) -> MonitorTask {
        let monitor = self.clone();
        let handle = tokio::spawn(async move {
            let mut ticks = tokio::time::interval(interval);
            // A slow round (managers timing out) is followed by a full interval, not a burst.
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                monitor.probe_all(&environments, &clock).await;
            }
        });
        MonitorTask(handle.abort_handle())
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<EnvironmentId, ManagerHealth>> {
        self.last.read().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<EnvironmentId, ManagerHealth>> {
        self.last.write().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

async fn probe_one(env: &Environment, clock: &SharedClock) -> ManagerHealth {
    // With the service credential when there is one, so a rotated or wrong one shows here;
    // without, the probe asks only what the swagger lets anyone ask (`GET /appinfo`).
    let result = match &env.service {
        None => env.client.probe(None).await.map_err(|e| e.to_string()),
        Some(service) => match service.authorize(Caller::Portico).await {
            Ok(auth) => env.client.probe(Some(auth.credentials())).await.map_err(|e| e.to_string()),
            Err(e) => Err(format!("service credential: {e}")),
        },
    };
    let checked_at = clock.now();
    match result {
        Ok(latency) => ManagerHealth {
            up: true,
            latency: Some(latency),
            last_error: None,
            checked_at,
            last_success: Some(checked_at),
            last_failure: None,
        },
        Err(e) => ManagerHealth {
            up: false,
            latency: None,
            last_error: Some(e),
            checked_at,
            last_success: None,
            last_failure: Some(checked_at),
        },
    }
}

/// The running monitor; stops it when dropped (with the application that owns it).
pub struct MonitorTask(tokio::task::AbortHandle);

impl Drop for MonitorTask {
    fn drop(&mut self) {
        self.0.abort();
    }
}
