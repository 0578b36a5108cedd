//! "Try it" on the API page: `POST /environments/{id}/apis/{api_id}/try` (fields `operation`,
//! `path`, `query`, `key`, `body`, `csrf_token`) sends one call to one of the API's operations
//! through the environment's API gateway and shows the answer (status, headers, body) on the API
//! page. A plain form, so it works without JavaScript; the CSRF token is required as on every
//! form.
//!
//! Where the call goes is the manager module's decision ([`crate::manager::GatewayCall`]): the
//! configured gateway, the API's base path, and a path that must be the chosen operation's
//! template with its parameters filled in. The API key (`KeyId`) is sent and shown back in the
//! form, never logged or audited; the answer is shown once (`Cache-Control: no-store`) and kept
//! nowhere.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use reqwest::Method;
use serde::Deserialize;

use super::catalog::{LoadedApi, OperationView, load_api};
use super::portal::{JoinedEnvironment, render};
use crate::manager::{GATEWAY_MAX_BODY, GatewayAnswer, GatewayCall, matches_template};
use crate::state::AppState;
use crate::web::WebError;
use crate::web::session::{SignedIn, check_csrf};

/// The methods "try it" sends (the others are listed but not offered).
const METHODS: [&str; 5] = ["GET", "POST", "PUT", "PATCH", "DELETE"];
/// The longest query and API key accepted.
const MAX_QUERY: usize = 2048;
const MAX_KEY: usize = 256;

/// The form, filled with what was last sent.
pub(super) struct TryForm {
    pub operations: Vec<TryOperation>,
    pub selected: usize,
    pub path: String,
    pub query: String,
    pub key: String,
    pub body: String,
}

pub(super) struct TryOperation {
    pub index: usize,
    pub label: String,
}

/// What the call answered, or why it was not made.
pub(super) struct TriedView {
    pub request: String,
    pub answer: Option<GatewayAnswer>,
    pub problem: Option<String>,
}

impl TriedView {
    pub fn success(&self) -> bool {
        self.answer.as_ref().is_some_and(|a| (200..300).contains(&a.status))
    }
}

impl TryForm {
    /// The form for `operations`, when `joined` has a gateway and some operation can be sent.
    pub fn offered(joined: &JoinedEnvironment, operations: &[OperationView]) -> Option<Self> {
        joined.env.client.definition().gateway.as_ref()?;
        let offered: Vec<TryOperation> = operations
            .iter()
            .enumerate()
            .filter(|(_, op)| METHODS.contains(&op.method.as_str()))
            .map(|(index, op)| TryOperation { index, label: format!("{} {}", op.method, op.path) })
            .collect();
        let first = offered.first()?.index;
        Some(Self {
            selected: first,
            path: operations[first].path.clone(),
            operations: offered,
            query: String::new(),
            key: String::new(),
            body: String::new(),
        })
    }
}

#[derive(Deserialize)]
pub struct TryInput {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    operation: String,
    #[serde(default)]
    path: String,
    #[serde(default)]
    query: String,
    #[serde(default)]
    key: String,
    #[serde(default)]
    body: String,
}

/// `POST /environments/{id}/apis/{api_id}/try`.
pub async fn try_it(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    signed_in: SignedIn,
    input: web::Form<TryInput>,
) -> Result<HttpResponse, WebError> {
    let mut session = signed_in.0;
    check_csrf(&session.data, &input.csrf_token)?;
    let (env_raw, api_id) = path.into_inner();
    let mut loaded = match load_api(&state, &mut session, &env_raw, &api_id).await? {
        Ok(loaded) => loaded,
        Err(page) => return Ok(page),
    };
    let (status, tried) = match checked(&loaded, &input) {
        Err(problem) => (
            StatusCode::BAD_REQUEST,
            TriedView { request: String::new(), answer: None, problem: Some(problem) },
        ),
        Ok((call, template)) => {
            let request = format!("{} {}", call.method, call.path);
            let operation = format!("{} {template}", call.method);
            let (status, outcome) = send(&loaded, call).await;
            let answered = outcome.as_ref().ok().map(|answer| answer.status);
            audit(&state, &session.data.user.login_name, &loaded, &operation, answered).await;
            let (answer, problem) = match outcome {
                Ok(answer) => (Some(answer), None),
                Err(problem) => (None, Some(problem)),
            };
            (status, TriedView { request, answer, problem })
        }
    };
    if let Some(form) = loaded.page.try_it.as_mut() {
        form.selected = input.operation.parse().unwrap_or(form.selected);
        form.path = input.path.chars().take(MAX_QUERY).collect();
        form.query = input.query.chars().take(MAX_QUERY).collect();
        form.key = input.key.chars().take(MAX_KEY).collect();
        form.body = input.body.chars().take(GATEWAY_MAX_BODY).collect();
    }
    loaded.page.tried = Some(tried);
    render(status, &loaded.page)
}

/// The call the form asks for and its operation's path template, or what is wrong with it (in
/// the consumer's words).
fn checked<'a>(loaded: &'a LoadedApi, input: &'a TryInput) -> Result<(GatewayCall<'a>, &'a str), String> {
    let env = loaded.joined.env.name();
    if loaded.page.try_it.is_none() {
        return Err(format!(
            "Try it is not available for this API on {env} (no API gateway is set up for it)."
        ));
    }
    let operation = input.operation.parse::<usize>().ok().and_then(|i| loaded.page.operation(i));
    let Some((method, template)) = operation.filter(|(m, _)| METHODS.contains(m)) else {
        return Err("Choose one of the API's operations.".to_owned());
    };
    let method = Method::from_bytes(method.as_bytes())
        .map_err(|_| "Choose one of the API's operations.".to_owned())?;
    if !matches_template(template, input.path.trim()) {
        return Err(format!(
            "The path must be the operation's path, {template}, with its parameters filled in."
        ));
    }
    if input.query.len() > MAX_QUERY || input.key.len() > MAX_KEY || input.body.len() > GATEWAY_MAX_BODY {
        return Err("The query, the API key or the body is too long.".to_owned());
    }
    let key = Some(input.key.trim()).filter(|k| !k.is_empty());
    let carries_body = matches!(method, Method::POST | Method::PUT | Method::PATCH);
    let body = Some(input.body.as_str()).filter(|b| carries_body && !b.trim().is_empty());
    let call = GatewayCall {
        method,
        base_path: &loaded.base_path,
        path: input.path.trim(),
        query: input.query.trim(),
        key,
        body,
    };
    Ok((call, template))
}

/// The page's status and the gateway's answer, or why there is none.
async fn send(loaded: &LoadedApi, call: GatewayCall<'_>) -> (StatusCode, Result<GatewayAnswer, String>) {
    let env = loaded.joined.env.name();
    match loaded.joined.env.client.call_gateway(call).await {
        Ok(Ok(answer)) => (StatusCode::OK, Ok(answer)),
        Ok(Err(refusal)) => (StatusCode::BAD_REQUEST, Err(format!("The call was not sent: {refusal}."))),
        Err(e) => {
            (StatusCode::BAD_GATEWAY, Err(format!("The API gateway of {env} could not be reached: {e}.")))
        }
    }
}

/// `api.try` in the audit log: who, where, which API, which operation (its template, not the
/// values filled in) and the status; never the key, the query or the body.
async fn audit(state: &AppState, login_name: &str, loaded: &LoadedApi, operation: &str, status: Option<u16>) {
    let actor = format!("user:{login_name}");
    let env = loaded.joined.env.id();
    let target = format!("{env}/api/{}", loaded.api_id);
    let detail = serde_json::json!({
        "environment": env.as_str(),
        "api": loaded.api_name,
        "what": operation,
        "status": status,
    });
    crate::web::audit(state, &actor, "api.try", Some(&target), Some(detail), None).await;
}
