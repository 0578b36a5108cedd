//! Operations endpoints: liveness, readiness and the metrics.

use std::time::Instant;

use actix_web::{HttpResponse, web};
use serde::Serialize;

use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(healthz))
        .route("/readyz", web::get().to(readyz))
        .route("/metrics", web::get().to(metrics));
}

/// Alive: the process answers. Deliberately checks nothing else.
async fn healthz() -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain; charset=utf-8").body("ok\n")
}

#[derive(Serialize)]
struct Check {
    status: &'static str,
    kind: &'static str,
    latency_ms: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

#[derive(Serialize)]
struct Readiness {
    status: &'static str,
    checks: Checks,
    /// Secrets refreshed in the background: a failed refresh keeps the last good value (so it
    /// does not make Portico unready) and shows here as `stale` with the reason.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    secrets: Vec<SecretCheck>,
}

#[derive(Serialize)]
struct SecretCheck {
    key: String,
    source: String,
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

#[derive(Serialize)]
struct Checks {
    session_store: Check,
    database: Check,
    /// Redis: its form (`single`, `sentinel`, `cluster`) and each node with its role.
    #[serde(skip_serializing_if = "Option::is_none")]
    redis: Option<RedisTopology>,
}

#[derive(Serialize)]
struct RedisTopology {
    topology: &'static str,
    nodes: Vec<crate::store::NodeStatus>,
}

fn check<E: std::fmt::Display>(kind: &'static str, started: Instant, result: Result<(), E>) -> Check {
    let latency_ms = (started.elapsed().as_secs_f64() * 1000.0 * 10.0).round() / 10.0;
    match result {
        Ok(()) => Check { status: "up", kind, latency_ms, error: None },
        Err(e) => Check { status: "down", kind, latency_ms, error: Some(e.to_string()) },
    }
}

/// Ready: the session store and the database answer. 503 with the failing part otherwise.
async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let kv_started = Instant::now();
    let kv = state.kv().ping();
    let db_started = Instant::now();
    let db = state.db().ping();
    let (kv, db, nodes) = futures_util::future::join3(kv, db, state.kv().nodes()).await;
    let checks = Checks {
        session_store: check(state.kv().kind(), kv_started, kv),
        database: check(state.db().backend().as_str(), db_started, db),
        redis: nodes.map(|(topology, nodes)| RedisTopology { topology, nodes }),
    };
    let ready = checks.session_store.error.is_none() && checks.database.error.is_none();
    let secrets = state
        .secrets()
        .statuses()
        .into_iter()
        .map(|s| SecretCheck {
            status: if s.error.is_some() { "stale" } else { "ok" },
            key: s.key,
            source: s.source,
            version: s.version,
            error: s.error,
        })
        .collect();
    let body = Readiness { status: if ready { "ready" } else { "not ready" }, checks, secrets };
    if ready { HttpResponse::Ok().json(body) } else { HttpResponse::ServiceUnavailable().json(body) }
}

/// The metrics listener's one route.
pub fn configure_metrics(cfg: &mut web::ServiceConfig) {
    cfg.route("/metrics", web::get().to(exposition));
}

/// Prometheus text exposition on the public listener (404 when `metrics.enabled` is false, or
/// when the metrics have a listener of their own).
async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    let metrics = &state.settings().metrics;
    if !metrics.enabled || metrics.listen.is_some() {
        return HttpResponse::NotFound().finish();
    }
    exposition(state).await
}

async fn exposition(state: web::Data<AppState>) -> HttpResponse {
    if let (Some(m), Ok(n)) = (crate::metrics::metrics(), state.sessions().count().await) {
        m.sessions.set(i64::try_from(n).unwrap_or(i64::MAX));
    }
    HttpResponse::Ok().content_type("text/plain; version=0.0.4; charset=utf-8").body(crate::metrics::render())
}
