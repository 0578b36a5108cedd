//! Local stand-ins for the Azure instance metadata identity endpoint, the App Service identity
//! endpoint and Key Vault. No emulator of these services can run here, so this follows their
//! documented wire formats: `GET /metadata/identity/oauth2/token` (header `Metadata: true`,
//! `api-version`, `resource`, optional `client_id`; answer with `expires_on` as a string of Unix
//! seconds), `GET /msi/token` (header `X-IDENTITY-HEADER`, api-version 2019-08-01), and
//! `GET /secrets/{name}[/{version}]?api-version=…` with a bearer token, errors as
//! `{"error":{"code","message","innererror"}}`.

use std::collections::{HashMap, VecDeque};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use serde_json::json;

/// One token request as received.
#[derive(Debug, Clone)]
pub struct TokenRequest {
    pub flavour: &'static str,
    pub resource: Option<String>,
    pub client_id: Option<String>,
    pub api_version: Option<String>,
}

#[derive(Clone)]
struct Version {
    id: String,
    value: String,
    enabled: bool,
}

#[derive(Default)]
struct State {
    token_requests: Vec<TokenRequest>,
    issued: Vec<String>,
    /// Statuses to answer token requests with before succeeding (e.g. 429 once).
    token_failures: VecDeque<u16>,
    token_lifetime: Option<Duration>,
    secrets: HashMap<String, Vec<Version>>,
    secret_reads: usize,
    app_service_header: String,
}

#[derive(Clone)]
pub struct AzureEndpoints {
    pub url: String,
    state: Arc<Mutex<State>>,
    _server: actix_web::dev::ServerHandle,
}

impl AzureEndpoints {
    pub async fn start() -> Self {
        let state = Arc::new(Mutex::new(State {
            app_service_header: "app-service-header-value".to_owned(),
            ..State::default()
        }));
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let shared = web::Data::new(state.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(shared.clone())
                .route("/metadata/identity/oauth2/token", web::get().to(imds_token))
                .route("/msi/token", web::get().to(app_service_token))
                .route("/secrets/{name}", web::get().to(secret))
                .route("/secrets/{name}/{version}", web::get().to(secret))
        })
        .workers(1)
        .disable_signals()
        .listen(listener)
        .unwrap()
        .run();
        let handle = server.handle();
        tokio::spawn(server);
        Self { url, state, _server: handle }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap()
    }

    pub fn imds_url(&self) -> String {
        format!("{}/metadata/identity/oauth2/token", self.url)
    }

    pub fn app_service_url(&self) -> String {
        format!("{}/msi/token", self.url)
    }

    pub fn app_service_header(&self) -> String {
        self.state().app_service_header.clone()
    }

    /// `http://127.0.0.1:PORT/secrets/NAME` (a vault reference this endpoint serves).
    pub fn secret_url(&self, name: &str) -> String {
        format!("{}/secrets/{name}", self.url)
    }

    /// Adds a new current version of `name`.
    pub fn set_secret(&self, name: &str, version: &str, value: &str) {
        self.state().secrets.entry(name.to_owned()).or_default().push(Version {
            id: version.to_owned(),
            value: value.to_owned(),
            enabled: true,
        });
    }

    /// Disables the current version of `name`.
    pub fn disable_secret(&self, name: &str) {
        if let Some(v) = self.state().secrets.get_mut(name).and_then(|v| v.last_mut()) {
            v.enabled = false;
        }
    }

    pub fn fail_token_requests(&self, statuses: &[u16]) {
        self.state().token_failures.extend(statuses);
    }

    pub fn token_lifetime(&self, lifetime: Duration) {
        self.state().token_lifetime = Some(lifetime);
    }

    pub fn token_requests(&self) -> Vec<TokenRequest> {
        self.state().token_requests.clone()
    }

    pub fn secret_reads(&self) -> usize {
        self.state().secret_reads
    }
}

type Shared = web::Data<Arc<Mutex<State>>>;

fn issue(state: &Shared, req: &HttpRequest, flavour: &'static str) -> HttpResponse {
    let query: HashMap<String, String> =
        web::Query::<HashMap<String, String>>::from_query(req.query_string())
            .map(|q| q.into_inner())
            .unwrap_or_default();
    let mut s = state.lock().unwrap();
    s.token_requests.push(TokenRequest {
        flavour,
        resource: query.get("resource").cloned(),
        client_id: query.get("client_id").cloned(),
        api_version: query.get("api-version").cloned(),
    });
    if let Some(status) = s.token_failures.pop_front() {
        let status = actix_web::http::StatusCode::from_u16(status).unwrap();
        return HttpResponse::build(status)
            .insert_header(("Retry-After", "0"))
            .json(json!({"error": "throttled", "error_description": "try again"}));
    }
    let Some(resource) = query.get("resource") else {
        return HttpResponse::BadRequest()
            .json(json!({"error": "invalid_request", "error_description": "resource is required"}));
    };
    let lifetime = s.token_lifetime.unwrap_or(Duration::from_secs(3600));
    let expires_on = (SystemTime::now() + lifetime).duration_since(UNIX_EPOCH).unwrap().as_secs();
    let token =
        format!("token-{}-{}", s.issued.len() + 1, query.get("client_id").map_or("system", |c| c.as_str()));
    s.issued.push(token.clone());
    HttpResponse::Ok().json(json!({
        "access_token": token,
        "expires_on": expires_on.to_string(),
        "expires_in": lifetime.as_secs().to_string(),
        "resource": resource,
        "token_type": "Bearer",
    }))
}

async fn imds_token(state: Shared, req: HttpRequest) -> HttpResponse {
    if req.headers().get("Metadata").and_then(|v| v.to_str().ok()) != Some("true") {
        return HttpResponse::BadRequest()
            .json(json!({"error": "invalid_request", "error_description": "Required metadata header not specified"}));
    }
    issue(&state, &req, "imds")
}

async fn app_service_token(state: Shared, req: HttpRequest) -> HttpResponse {
    let expected = state.lock().unwrap().app_service_header.clone();
    if req.headers().get("X-IDENTITY-HEADER").and_then(|v| v.to_str().ok()) != Some(expected.as_str()) {
        return HttpResponse::Unauthorized().json(json!({"error": "unauthorized"}));
    }
    issue(&state, &req, "app_service")
}

fn vault_error(status: u16, code: &str, inner: Option<&str>, message: &str) -> HttpResponse {
    let mut error = json!({"code": code, "message": message});
    if let Some(inner) = inner {
        error["innererror"] = json!({"code": inner});
    }
    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap()).json(json!({"error": error}))
}

async fn secret(state: Shared, req: HttpRequest) -> HttpResponse {
    let mut s = state.lock().unwrap();
    s.secret_reads += 1;
    let bearer = req
        .headers()
        .get("Authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if !bearer.is_some_and(|t| s.issued.iter().any(|i| i == t)) {
        return vault_error(401, "Unauthorized", None, "AKV10000: Request is missing a Bearer or PoP token.");
    }
    let name = req.match_info().get("name").unwrap_or_default().to_owned();
    let wanted = req.match_info().get("version").map(str::to_owned);
    let found = s.secrets.get(&name).and_then(|versions| match &wanted {
        Some(v) => versions.iter().find(|x| &x.id == v).cloned(),
        None => versions.last().cloned(),
    });
    let Some(version) = found else {
        return vault_error(
            404,
            "SecretNotFound",
            None,
            &format!("A secret with (name/id) {name} was not found in this key vault."),
        );
    };
    if !version.enabled {
        return vault_error(
            403,
            "Forbidden",
            Some("SecretDisabled"),
            "Operation get is not allowed on a disabled secret.",
        );
    }
    HttpResponse::Ok().json(json!({
        "value": version.value,
        "id": format!("https://test.vault.azure.net/secrets/{name}/{}", version.id),
        "attributes": {"enabled": true},
    }))
}
