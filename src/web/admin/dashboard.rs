//! `GET /admin` (every manager with its live health, active sessions in all and per environment,
//! cache figures) and `POST /admin/cache/purge`.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::access::{Admin, Flash, flash};
use super::page::{Shell, ago, audit, client_address, render, see_other};
use crate::federation::{Environment, ManagerHealth};
use crate::state::AppState;
use crate::store::CACHE_PREFIX;
use crate::store::Change;
use crate::web::WebError;

/// One manager on the dashboard.
pub struct ManagerView {
    pub id: String,
    pub name: String,
    pub url: String,
    pub is_master: bool,
    pub provisioned: bool,
    pub enabled: bool,
    /// `up`, `down`, `unknown` (not probed yet) or `disabled`.
    pub status: &'static str,
    pub latency: Option<String>,
    pub checked: Option<String>,
    pub last_success: Option<String>,
    pub last_error: Option<String>,
    pub last_failure: Option<String>,
}

impl ManagerView {
    pub fn new(state: &AppState, env: &Environment) -> Self {
        let health = env.enabled().then(|| state.health().get(env.id())).flatten();
        let now = state.clock().now();
        let since = |t| ago(now, t);
        let status = match (&health, env.enabled()) {
            (_, false) => "disabled",
            (None, true) => "unknown",
            (Some(ManagerHealth { up: true, .. }), true) => "up",
            (Some(_), true) => "down",
        };
        Self {
            id: env.id().to_string(),
            name: env.name().to_owned(),
            url: env.definition().url.to_string(),
            is_master: env.is_master,
            provisioned: env.provisioned,
            enabled: env.enabled(),
            status,
            latency: health.as_ref().filter(|h| h.up).and_then(ManagerHealth::latency_text),
            checked: health.as_ref().map(|h| since(h.checked_at)),
            last_success: health.as_ref().and_then(|h| h.last_success).map(since),
            last_error: health.as_ref().and_then(|h| h.last_error.clone()),
            last_failure: health.as_ref().and_then(|h| h.last_failure).map(since),
        }
    }
}

/// A figure that could not be read shows as "unavailable" rather than failing the page.
pub struct Figures {
    pub sessions: Option<u64>,
    /// Live portal sessions that hold a joined link to each environment, in the managers' order.
    pub by_environment: Vec<EnvironmentSessions>,
    pub admin_sessions: Option<u64>,
    pub cache_entries: Option<u64>,
    pub hits: u64,
    pub misses: u64,
    pub stale: u64,
    pub fills: u64,
    /// `87 %` of catalog reads answered from the cache, when there were any.
    pub hit_ratio: Option<String>,
}

#[derive(Template)]
#[template(path = "admin/dashboard.html")]
struct DashboardPage {
    shell: Shell,
    managers: Vec<ManagerView>,
    figures: Figures,
    secrets: Vec<SecretView>,
}

/// A secret refreshed from a vault: where it comes from and whether the last refresh worked.
pub struct SecretView {
    pub key: String,
    pub source: String,
    pub version: Option<String>,
    pub read: String,
    pub error: Option<String>,
}

pub struct EnvironmentSessions {
    pub id: String,
    pub name: String,
    pub sessions: Option<u64>,
}

fn count(result: Result<u64, crate::store::StoreError>) -> Option<u64> {
    result.inspect_err(|e| tracing::warn!(error = %e, "dashboard figure unavailable")).ok()
}

/// One sorted-set count per environment (its index of sessions, pruned of the expired ones by
/// score), all at once: no session is read.
async fn sessions_by_environment(
    state: &AppState,
    environments: &[&Environment],
) -> Vec<EnvironmentSessions> {
    let counts = environments.iter().map(|env| state.sessions().count_group(env.id().as_str()));
    let counts = futures_util::future::join_all(counts).await;
    environments
        .iter()
        .zip(counts)
        .map(|(env, n)| EnvironmentSessions {
            id: env.id().to_string(),
            name: env.name().to_owned(),
            sessions: count(n),
        })
        .collect()
}

pub async fn dashboard(state: web::Data<AppState>, admin: Admin) -> Result<HttpResponse, WebError> {
    let snapshot = state.environments().snapshot();
    let environments: Vec<&Environment> = snapshot.all().map(|env| &**env).collect();
    let managers = environments.iter().map(|env| ManagerView::new(&state, env)).collect();
    let cache = state.catalog().figures();
    let reads = cache.hits + cache.misses;
    let figures = Figures {
        sessions: count(state.sessions().count().await),
        by_environment: sessions_by_environment(&state, &environments).await,
        admin_sessions: count(state.admin().sessions.count().await),
        cache_entries: count(state.kv().count_prefix(CACHE_PREFIX).await),
        hits: cache.hits,
        misses: cache.misses,
        stale: cache.stale,
        fills: cache.fills,
        hit_ratio: (reads > 0).then(|| format!("{} %", cache.hits * 100 / reads)),
    };
    let now = state.clock().now();
    let secrets = state
        .secrets()
        .statuses()
        .into_iter()
        .map(|s| SecretView {
            read: ago(now, s.read_at),
            key: s.key,
            source: s.source,
            version: s.version,
            error: s.error,
        })
        .collect();
    let page =
        DashboardPage { shell: Shell::new(&state, &admin, "dashboard").await?, managers, figures, secrets };
    render(StatusCode::OK, &page)
}

#[derive(Deserialize)]
pub struct PurgeForm {
    #[serde(default)]
    csrf_token: String,
}

/// Clears the catalog and organization caches (every replica shares them in the store).
pub async fn purge(
    req: HttpRequest,
    state: web::Data<AppState>,
    admin: Admin,
    posted: web::Form<PurgeForm>,
) -> Result<HttpResponse, WebError> {
    admin.check_csrf(&posted.csrf_token)?;
    let removed = state.catalog().purge().await?;
    if let Err(e) = state.changed(Change::CachesPurged).await {
        tracing::warn!(error = %e, "the other replicas were not told about the purge");
    }
    let detail = serde_json::json!({ "removed_entries": removed });
    let ip = client_address(&req, &state);
    audit(&state, &admin.actor(), "cache.purge", None, Some(detail), ip.as_deref()).await;
    let text = format!(
        "Caches purged: {removed} entr{} removed. Catalogs and organizations are read from the managers again.",
        if removed == 1 { "y" } else { "ies" }
    );
    flash(&state, &admin, Flash::ok(text)).await?;
    Ok(see_other("/admin"))
}
