//! `GET /environments/{id}/apis` (the catalog, optionally filtered by name) and
//! `GET /environments/{id}/apis/{api_id}` (one API: its summary and definition).
//!
//! The list comes from the catalog cache; when the manager is down the last copy is shown with
//! a notice saying so and how old it is.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::portal::{self, JoinedEnvironment, Shell, ago, clock_time, manager_status, render};
use super::try_it::{TriedView, TryForm};
use crate::catalog::definition::{self, Operation};
use crate::catalog::{Catalog, CatalogCache};
use crate::federation::PortalSession;
use crate::manager::{DiscoveredApi, ManagerError};
use crate::state::AppState;
use crate::store::Session;
use crate::web::WebError;
use crate::web::session::SignedIn;

/// The longest search text honoured; longer input is cut.
const MAX_QUERY_CHARS: usize = 100;
/// The raw definition shown on the page is cut past this size.
const MAX_RAW_BYTES: usize = 512 * 1024;

#[derive(Deserialize)]
pub struct CatalogQuery {
    q: Option<String>,
}

struct ApiView {
    /// Percent-encoded for the detail link.
    href: String,
    name: String,
    summary: String,
    kind: String,
}

/// Why the list may be old: shown above it.
struct StaleView {
    reason: String,
    fetched: String,
    ago: String,
}

#[derive(Template)]
#[template(path = "apis.html")]
struct ApisPage {
    shell: Shell,
    env_id: String,
    env_name: String,
    q: String,
    apis: Vec<ApiView>,
    /// How many the catalog has, before the filter.
    total: usize,
    updated: String,
    stale: Option<StaleView>,
    /// The catalog could not be read at all.
    problem: Option<String>,
}

pub async fn apis(
    state: web::Data<AppState>,
    path: web::Path<String>,
    query: web::Query<CatalogQuery>,
    signed_in: SignedIn,
) -> Result<HttpResponse, WebError> {
    let mut session = signed_in.0;
    let joined = match portal::joined(&state, &mut session, &path).await? {
        Ok(joined) => joined,
        Err(page) => return Ok(page),
    };
    let q: String = query.q.as_deref().unwrap_or("").trim().chars().take(MAX_QUERY_CHARS).collect();
    let notice = portal::take_notice(&state, &mut session).await?;
    let result = catalog(state.catalog(), &session.data, &joined).await;
    let shell = Shell::new(&state, &session.data, Some(&joined.env), "apis", notice);
    let mut page = ApisPage {
        shell,
        env_id: joined.env.id().to_string(),
        env_name: joined.env.name().to_owned(),
        q,
        apis: Vec::new(),
        total: 0,
        updated: String::new(),
        stale: None,
        problem: None,
    };
    let catalog = match result {
        Ok(catalog) => catalog,
        Err(ManagerError::SessionExpired) => {
            return portal::session_ended(&state, &mut session, &joined.env).await;
        }
        Err(e) => {
            page.problem = Some(format!("The APIs of {} could not be loaded: {e}.", joined.env.name()));
            return render(manager_status(&e), &page);
        }
    };
    let now = state.clock().now();
    let needle = page.q.to_lowercase();
    page.total = catalog.apis.len();
    page.updated = ago(now, catalog.fetched_at);
    page.stale = catalog.stale.as_ref().map(|reason| StaleView {
        reason: reason.to_string(),
        fetched: clock_time(now, catalog.fetched_at),
        ago: ago(now, catalog.fetched_at),
    });
    let mut apis: Vec<&DiscoveredApi> =
        catalog.apis.iter().filter(|api| api.name.to_lowercase().contains(&needle)).collect();
    apis.sort_by_key(|api| api.name.to_lowercase());
    page.apis = apis
        .into_iter()
        .map(|api| ApiView {
            href: format!("/environments/{}/apis/{}", page.env_id, encode_segment(&api.id)),
            name: api.name.clone(),
            summary: api.summary.clone().unwrap_or_default(),
            kind: api.kind.clone().unwrap_or_else(|| "rest".to_owned()).to_uppercase(),
        })
        .collect();
    render(StatusCode::OK, &page)
}

pub(super) struct OperationView {
    pub(super) method: String,
    /// Lower case, for the colour of the method badge.
    method_class: String,
    pub(super) path: String,
    /// The full URL to call, when the definition gives an absolute base URL.
    url: Option<String>,
    summary: String,
    deprecated: bool,
}

#[derive(Template)]
#[template(path = "api.html")]
pub(super) struct ApiPage {
    shell: Shell,
    env_id: String,
    /// Percent-encoded for a path segment.
    api_id: String,
    env_name: String,
    name: String,
    summary: String,
    kind: String,
    description: Option<String>,
    version: Option<String>,
    format: Option<String>,
    base_url: Option<String>,
    operations: Vec<OperationView>,
    operations_truncated: bool,
    raw: Option<String>,
    raw_truncated: bool,
    /// A copyable `curl` call of the first GET operation.
    curl: Option<String>,
    stale: Option<StaleView>,
    definition_problem: Option<String>,
    /// "Try it": the form, when the environment has a gateway and the API operations.
    pub(super) try_it: Option<TryForm>,
    /// The answer of the call just tried.
    pub(super) tried: Option<TriedView>,
}

/// An API page as loaded, for "try it" to send a call from.
pub(super) struct LoadedApi {
    pub page: ApiPage,
    pub joined: JoinedEnvironment,
    /// The API's id and name, and its base path on the gateway.
    pub api_id: String,
    pub api_name: String,
    pub base_path: String,
}

impl ApiPage {
    /// The listed operation at `index`: its method and path template.
    pub(super) fn operation(&self, index: usize) -> Option<(&str, &str)> {
        self.operations.get(index).map(|op| (op.method.as_str(), op.path.as_str()))
    }
}

pub async fn api(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    signed_in: SignedIn,
) -> Result<HttpResponse, WebError> {
    let mut session = signed_in.0;
    let (env_raw, api_id) = path.into_inner();
    match load_api(&state, &mut session, &env_raw, &api_id).await? {
        Ok(loaded) => render(StatusCode::OK, &loaded.page),
        Err(page) => Ok(page),
    }
}

/// The API page of `api_id` on `env_raw`, or the page that says why there is none.
pub(super) async fn load_api(
    state: &AppState,
    session: &mut Session<PortalSession>,
    env_raw: &str,
    api_id: &str,
) -> Result<Result<LoadedApi, HttpResponse>, WebError> {
    let joined = match portal::joined(state, session, env_raw).await? {
        Ok(joined) => joined,
        Err(page) => return Ok(Err(page)),
    };
    let catalog = match catalog(state.catalog(), &session.data, &joined).await {
        Ok(catalog) => catalog,
        Err(ManagerError::SessionExpired) => {
            return portal::session_ended(state, session, &joined.env).await.map(Err);
        }
        Err(e) => return manager_problem(state, session, &joined, &e).await.map(Err),
    };
    let Some(api) = catalog.apis.iter().find(|a| a.id == api_id) else {
        let wanted: String = api_id.chars().take(64).collect();
        let text = format!(
            "The API “{wanted}” does not exist on {}, or is not offered to your organization.",
            joined.env.name()
        );
        return portal::not_found(state, session, Some(&joined.env), "API", text).await.map(Err);
    };
    let notice = portal::take_notice(state, session).await?;
    let now = state.clock().now();
    let mut page = ApiPage {
        shell: Shell::new(state, &session.data, Some(&joined.env), "apis", notice),
        env_id: joined.env.id().to_string(),
        env_name: joined.env.name().to_owned(),
        api_id: encode_segment(&api.id),
        name: api.name.clone(),
        summary: api.summary.clone().unwrap_or_default(),
        kind: api.kind.clone().unwrap_or_else(|| "rest".to_owned()).to_uppercase(),
        description: None,
        version: None,
        format: None,
        base_url: None,
        operations: Vec::new(),
        operations_truncated: false,
        raw: None,
        raw_truncated: false,
        curl: None,
        stale: catalog.stale.as_ref().map(|reason| StaleView {
            reason: reason.to_string(),
            fetched: clock_time(now, catalog.fetched_at),
            ago: ago(now, catalog.fetched_at),
        }),
        definition_problem: None,
        try_it: None,
        tried: None,
    };
    let base_path = match joined.env.client.api_definition(joined.creds(), &api.id).await {
        Ok(doc) => with_definition(&mut page, &doc, &joined),
        Err(ManagerError::SessionExpired) => {
            return portal::session_ended(state, session, &joined.env).await.map(Err);
        }
        Err(ManagerError::NotFound) => {
            page.definition_problem = Some("This API has no published definition.".to_owned());
            String::new()
        }
        Err(e) => {
            page.definition_problem =
                Some(format!("The definition could not be loaded from {}: {e}.", page.env_name));
            String::new()
        }
    };
    let (api_id, api_name) = (api.id.clone(), api.name.clone());
    Ok(Ok(LoadedApi { page, joined, api_id, api_name, base_path }))
}

/// Fills the page from the API's definition; the API's base path on its gateway.
fn with_definition(page: &mut ApiPage, doc: &serde_json::Value, joined: &JoinedEnvironment) -> String {
    let summary = definition::summarize(doc);
    page.description = summary.description.filter(|d| *d != page.summary);
    page.version = summary.version;
    page.format = summary.format;
    let base = summary.base_url.clone().filter(|u| u.starts_with("https://") || u.starts_with("http://"));
    page.base_url = summary.base_url;
    page.operations = summary.operations.into_iter().map(|op| operation_view(op, base.as_deref())).collect();
    page.curl = curl_example(&page.operations);
    page.operations_truncated = summary.truncated;
    let (raw, cut) = definition::pretty(doc, MAX_RAW_BYTES);
    page.raw = Some(raw);
    page.raw_truncated = cut;
    page.try_it = TryForm::offered(joined, &page.operations);
    summary.base_path
}

pub(super) async fn catalog(
    cache: &CatalogCache,
    session: &PortalSession,
    joined: &JoinedEnvironment,
) -> Result<Catalog, ManagerError> {
    cache
        .apis(
            &joined.env.client,
            &joined.organization_id,
            session.user.role,
            joined.creds(),
            joined.is_service(),
        )
        .await
}

/// The catalog page with only the problem on it (the detail page of an API whose catalog
/// cannot be read at all).
async fn manager_problem(
    state: &AppState,
    session: &mut Session<PortalSession>,
    joined: &JoinedEnvironment,
    error: &ManagerError,
) -> Result<HttpResponse, WebError> {
    let notice = portal::take_notice(state, session).await?;
    let page = ApisPage {
        shell: Shell::new(state, &session.data, Some(&joined.env), "apis", notice),
        env_id: joined.env.id().to_string(),
        env_name: joined.env.name().to_owned(),
        q: String::new(),
        apis: Vec::new(),
        total: 0,
        updated: String::new(),
        stale: None,
        problem: Some(format!("The APIs of {} could not be loaded: {error}.", joined.env.name())),
    };
    render(manager_status(error), &page)
}

fn operation_view(op: Operation, base: Option<&str>) -> OperationView {
    OperationView {
        method_class: op.method.to_lowercase(),
        url: base.map(|base| format!("{}{}", base.trim_end_matches('/'), op.path)),
        method: op.method,
        path: op.path,
        summary: op.summary.unwrap_or_default(),
        deprecated: op.deprecated,
    }
}

/// `curl` for the first GET operation with a full URL, the API key in the `KeyId` header the
/// managers' gateways read. The URL comes from the manager: it is single-quoted for the shell.
fn curl_example(operations: &[OperationView]) -> Option<String> {
    let op = operations.iter().find(|op| op.method == "GET" && op.url.is_some())?;
    let url = op.url.as_deref()?.replace('\'', "'\\''");
    Some(format!("curl -H 'KeyId: YOUR_API_KEY' '{url}'"))
}

/// A path segment with everything but the unreserved characters percent-encoded.
pub(super) fn encode_segment(raw: &str) -> String {
    raw.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::encode_segment;

    #[test]
    fn segments_are_percent_encoded() {
        assert_eq!(encode_segment("m-api-petstore"), "m-api-petstore");
        assert_eq!(encode_segment("a/b c?é"), "a%2Fb%20c%3F%C3%A9");
    }
}
