//! Injected latency and failures, per manager operation (and optionally per user), so tests and
//! benchmarks can make a simulated manager slow, broken or silent.

use std::sync::Mutex;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The manager operations the simulator serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Operation {
    Login,
    Logout,
    CurrentUser,
    Organizations,
    Organization,
    DiscoveryApis,
    ApiDefinition,
    Applications,
    CreateApplication,
    /// `GET`, `PUT`, `DELETE /applications/{id}`.
    Application,
    /// `/applications/{id}/apikeys` and its keys.
    ApiKeys,
    /// `/applications/{id}/apis` and its access requests.
    ApiAccess,
    /// `/applications/{id}/oauth` and its clients.
    OAuthClients,
    /// `/metrics/reports/…` (usage).
    Metrics,
    AppInfo,
    /// `{base}/__echo/…`, the simulator's test instrument (not a manager operation).
    Echo,
}

/// How an operation fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Failure {
    /// Answer this HTTP status with a JSON error body.
    Status { status: u16 },
    /// Accept the request and never answer.
    Hang,
    /// Close the connection without a complete answer.
    Drop,
    /// Answer 200 with a body that is not JSON.
    GarbageJson,
}

/// One injected fault. JSON: `{"operation":"login","user":"alice","latency_ms":200,
/// "failure":{"kind":"status","status":500},"times":1}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultRule {
    pub operation: Operation,
    /// Only calls by (or, for login, for) this login name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(default)]
    pub latency_ms: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<Failure>,
    /// How many calls the rule applies to; unlimited when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub times: Option<u32>,
}

impl FaultRule {
    pub fn new(operation: Operation) -> Self {
        Self { operation, user: None, latency_ms: 0, failure: None, times: None }
    }

    pub fn latency(mut self, latency: Duration) -> Self {
        self.latency_ms = u64::try_from(latency.as_millis()).unwrap_or(u64::MAX);
        self
    }

    pub fn failure(mut self, failure: Failure) -> Self {
        self.failure = Some(failure);
        self
    }

    pub fn for_user(mut self, login_name: &str) -> Self {
        self.user = Some(login_name.to_owned());
        self
    }

    pub fn times(mut self, times: u32) -> Self {
        self.times = Some(times);
        self
    }

    fn matches(&self, operation: Operation, user: Option<&str>) -> bool {
        self.operation == operation && self.user.as_deref().is_none_or(|wanted| Some(wanted) == user)
    }
}

/// What the simulator must do for one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Injected {
    pub latency: Duration,
    pub failure: Option<Failure>,
}

/// The fault rules of one simulator; the first matching rule applies.
#[derive(Debug, Default)]
pub struct Faults {
    rules: Mutex<Vec<FaultRule>>,
}

impl Faults {
    pub fn add(&self, rule: FaultRule) {
        self.lock().push(rule);
    }

    /// Every call of `operation` waits `latency` first.
    pub fn delay(&self, operation: Operation, latency: Duration) {
        self.add(FaultRule::new(operation).latency(latency));
    }

    /// Every call of `operation` fails.
    pub fn fail(&self, operation: Operation, failure: Failure) {
        self.add(FaultRule::new(operation).failure(failure));
    }

    pub fn clear(&self) {
        self.lock().clear();
    }

    pub fn rules(&self) -> Vec<FaultRule> {
        self.lock().clone()
    }

    /// The fault for this call, if any; counts the call against a limited rule.
    pub(crate) fn take(&self, operation: Operation, user: Option<&str>) -> Option<Injected> {
        let mut rules = self.lock();
        let index = rules.iter().position(|rule| rule.matches(operation, user))?;
        let rule = rules.get_mut(index)?;
        let injected = Injected { latency: Duration::from_millis(rule.latency_ms), failure: rule.failure };
        if let Some(times) = rule.times.as_mut() {
            *times = times.saturating_sub(1);
            if *times == 0 {
                rules.remove(index);
            }
        }
        Some(injected)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<FaultRule>> {
        self.rules.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
