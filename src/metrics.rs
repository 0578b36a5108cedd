//! Prometheus metrics: requests by route and status, latency, sign-ins by outcome, manager calls
//! by environment and outcome, cache hits and misses. One registry per process (every part of the
//! code reports into it, however deep); `GET /metrics` renders it.

use std::sync::LazyLock;

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry, TextEncoder,
};

pub struct Metrics {
    registry: Registry,
    pub http_requests: IntCounterVec,
    pub http_duration: HistogramVec,
    pub sign_ins: IntCounterVec,
    pub manager_calls: IntCounterVec,
    pub cache: IntCounterVec,
    pub sessions: IntGauge,
    /// Connections open on each serving thread of the public listener (`worker`: its index).
    pub open_connections: IntGaugeVec,
    /// Single sign-on callbacks refused before any provider text was trusted (no state Portico
    /// issued): counted, not audited one row each, so anonymous noise cannot fill the audit log.
    pub rejected_callbacks: IntCounterVec,
    /// Back-channel logout requests by outcome (`ended`, `no_session`, `refused`, `replayed`,
    /// `unavailable`): forged tokens are counted here and logged, not audited.
    pub backchannel_logouts: IntCounterVec,
}

fn build() -> Result<Metrics, prometheus::Error> {
    let registry = Registry::new_custom(Some("portico".to_owned()), None)?;
    let http_requests = IntCounterVec::new(
        Opts::new("http_requests_total", "HTTP requests by route pattern, method and status"),
        &["route", "method", "status"],
    )?;
    let http_duration = HistogramVec::new(
        HistogramOpts::new("http_request_duration_seconds", "HTTP request latency by route pattern")
            .buckets(vec![0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0]),
        &["route"],
    )?;
    let sign_ins =
        IntCounterVec::new(Opts::new("sign_ins_total", "Sign-in attempts by outcome"), &["outcome"])?;
    let manager_calls = IntCounterVec::new(
        Opts::new("manager_calls_total", "Calls to managers by environment and outcome"),
        &["environment", "outcome"],
    )?;
    let cache = IntCounterVec::new(
        Opts::new("cache_requests_total", "Cache look-ups by cache and result (hit, miss, stale)"),
        &["cache", "result"],
    )?;
    let sessions = IntGauge::new("sessions", "Portal sessions in the session store (counted at scrape)")?;
    let open_connections = IntGaugeVec::new(
        Opts::new("open_connections", "Connections open on each serving thread of the public listener"),
        &["worker"],
    )?;
    let rejected_callbacks = IntCounterVec::new(
        Opts::new(
            "oidc_callbacks_rejected_total",
            "Sign-on callbacks refused without a state Portico issued",
        ),
        &["reason"],
    )?;
    let backchannel_logouts = IntCounterVec::new(
        Opts::new(
            "backchannel_logouts_total",
            "Back-channel logout requests of the identity provider by outcome",
        ),
        &["outcome"],
    )?;
    registry.register(Box::new(http_requests.clone()))?;
    registry.register(Box::new(http_duration.clone()))?;
    registry.register(Box::new(sign_ins.clone()))?;
    registry.register(Box::new(manager_calls.clone()))?;
    registry.register(Box::new(cache.clone()))?;
    registry.register(Box::new(sessions.clone()))?;
    registry.register(Box::new(open_connections.clone()))?;
    registry.register(Box::new(rejected_callbacks.clone()))?;
    registry.register(Box::new(backchannel_logouts.clone()))?;
    Ok(Metrics {
        registry,
        http_requests,
        http_duration,
        sign_ins,
        manager_calls,
        cache,
        sessions,
        open_connections,
        rejected_callbacks,
        backchannel_logouts,
    })
}

static METRICS: LazyLock<Option<Metrics>> = LazyLock::new(|| match build() {
    Ok(m) => Some(m),
    Err(e) => {
        tracing::error!(error = %e, "metrics could not be registered; /metrics will be empty");
        None
    }
});

/// The process's metrics; `None` only if registration failed (logged once).
pub fn metrics() -> Option<&'static Metrics> {
    METRICS.as_ref()
}

/// Counts one labelled event (a no-op when metrics are unavailable).
pub fn count(pick: impl FnOnce(&Metrics) -> &IntCounterVec, labels: &[&str]) {
    if let Some(c) = metrics().and_then(|m| pick(m).get_metric_with_label_values(labels).ok()) {
        c.inc();
    }
}

/// The text exposition of every metric.
pub fn render() -> String {
    let Some(m) = metrics() else { return String::new() };
    let mut out = Vec::new();
    if TextEncoder::new().encode(&m.registry.gather(), &mut out).is_err() {
        return String::new();
    }
    String::from_utf8(out).unwrap_or_default()
}
