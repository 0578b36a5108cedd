//! A small OAuth2 authorization server for the credential-connection tests, following RFC 6749
//! (token endpoint: `client_credentials`, `authorization_code`, `refresh_token`, errors as
//! `{"error", "error_description"}`; authorize endpoint answering with a redirect) and RFC 7636
//! (PKCE S256). It stands in for a real provider here because the real one the project runs
//! (`oidc-provider`) is not in this branch yet; the connection code speaks only the standard
//! wire format, so nothing in Portico is specific to this server.
//!
//! Its authorize endpoint consents at once (or refuses, when told to) and redirects back, so a
//! test follows the redirect as the admin's browser would. Refresh tokens rotate: a presented
//! old one is refused with `invalid_grant` and counted.

use std::collections::HashMap;
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use base64::Engine;
use serde_json::json;
use sha2::{Digest, Sha256};

/// One token request as received.
#[derive(Debug, Clone)]
pub struct TokenRequest {
    pub grant_type: String,
    pub client_id: Option<String>,
    pub scope: Option<String>,
    pub resource: Option<String>,
    /// The access token issued, if any.
    pub issued: Option<String>,
}

struct Code {
    client_id: String,
    redirect_uri: String,
    challenge: String,
}

#[derive(Default)]
struct State {
    clients: HashMap<String, Option<String>>,
    lifetime: Option<Duration>,
    deny_consent: bool,
    requests: Vec<TokenRequest>,
    codes: HashMap<String, Code>,
    /// Refresh token → client id; only the latest of each grant is valid.
    refresh: HashMap<String, String>,
    reused_refresh_tokens: usize,
    counter: usize,
}

#[derive(Clone)]
pub struct OAuthServer {
    pub url: String,
    state: Arc<Mutex<State>>,
    handle: actix_web::dev::ServerHandle,
}

impl OAuthServer {
    pub async fn start() -> Self {
        let state = Arc::new(Mutex::new(State::default()));
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let shared = web::Data::new(state.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(shared.clone())
                .route("/token", web::post().to(token))
                .route("/authorize", web::get().to(authorize))
        })
        .workers(1)
        .disable_signals()
        .listen(listener)
        .unwrap()
        .run();
        let handle = server.handle();
        tokio::spawn(server);
        Self { url, state, handle }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap()
    }

    /// Registers a client; `secret` `None` is a public client.
    pub fn client(&self, id: &str, secret: Option<&str>) {
        self.state().clients.insert(id.to_owned(), secret.map(str::to_owned));
    }

    /// `expires_in` of the access tokens issued from now on (default 300 s).
    pub fn token_lifetime(&self, lifetime: Duration) {
        self.state().lifetime = Some(lifetime);
    }

    /// The next consents are refused (`error=access_denied`).
    pub fn deny_consent(&self, deny: bool) {
        self.state().deny_consent = deny;
    }

    pub fn token_url(&self) -> String {
        format!("{}/token", self.url)
    }

    pub fn authorize_url(&self) -> String {
        format!("{}/authorize", self.url)
    }

    pub fn requests(&self) -> Vec<TokenRequest> {
        self.state().requests.clone()
    }

    pub fn requests_of(&self, grant: &str) -> Vec<TokenRequest> {
        self.requests().into_iter().filter(|r| r.grant_type == grant).collect()
    }

    /// Revokes every refresh token issued so far (as a provider does when a grant is withdrawn).
    pub fn revoke_refresh_tokens(&self) {
        self.state().refresh.clear();
    }

    pub fn reused_refresh_tokens(&self) -> usize {
        self.state().reused_refresh_tokens
    }

    pub async fn stop(&self) {
        self.handle.stop(false).await;
    }
}

type Shared = web::Data<Arc<Mutex<State>>>;

fn error(status: u16, code: &str, description: &str) -> HttpResponse {
    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap())
        .json(json!({"error": code, "error_description": description}))
}

/// HTTP Basic client authentication (RFC 6749 §2.3.1: both parts form-urlencoded).
fn basic_client(req: &HttpRequest) -> Option<(String, String)> {
    let value = req.headers().get("authorization")?.to_str().ok()?;
    let encoded = value.strip_prefix("Basic ")?;
    let decoded = String::from_utf8(base64::engine::general_purpose::STANDARD.decode(encoded).ok()?).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    let unescape = |s: &str| {
        url::form_urlencoded::parse(format!("x={s}").as_bytes()).next().map(|(_, v)| v.into_owned())
    };
    Some((unescape(id)?, unescape(secret)?))
}

async fn token(state: Shared, req: HttpRequest, form: web::Form<HashMap<String, String>>) -> HttpResponse {
    let form = form.into_inner();
    let mut s = state.lock().unwrap();
    let grant_type = form.get("grant_type").cloned().unwrap_or_default();
    let client = basic_client(&req)
        .map(|(id, secret)| (id, Some(secret)))
        .or_else(|| form.get("client_id").map(|id| (id.clone(), form.get("client_secret").cloned())));
    s.requests.push(TokenRequest {
        grant_type: grant_type.clone(),
        client_id: client.as_ref().map(|(id, _)| id.clone()),
        scope: form.get("scope").cloned(),
        resource: form.get("resource").cloned(),
        issued: None,
    });
    let Some((client_id, presented)) = client else {
        return error(401, "invalid_client", "client authentication failed");
    };
    match s.clients.get(&client_id) {
        Some(Some(secret)) if presented.as_deref() == Some(secret.as_str()) => {}
        Some(None) => {}
        _ => return error(401, "invalid_client", "client authentication failed"),
    }
    let refresh = match grant_type.as_str() {
        "client_credentials" => {
            if s.clients.get(&client_id) == Some(&None) {
                return error(400, "unauthorized_client", "public clients cannot use client_credentials");
            }
            false
        }
        "authorization_code" => {
            let code = form.get("code").and_then(|c| s.codes.remove(c));
            let Some(code) = code.filter(|c| c.client_id == client_id) else {
                return error(400, "invalid_grant", "unknown or used authorization code");
            };
            if form.get("redirect_uri") != Some(&code.redirect_uri) {
                return error(400, "invalid_grant", "redirect_uri does not match the authorization request");
            }
            let verifier = form.get("code_verifier").cloned().unwrap_or_default();
            let challenge =
                base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
            if challenge != code.challenge {
                return error(400, "invalid_grant", "PKCE verification failed");
            }
            true
        }
        "refresh_token" => {
            let presented = form.get("refresh_token").cloned().unwrap_or_default();
            if s.refresh.remove(&presented).is_none() {
                s.reused_refresh_tokens += 1;
                return error(400, "invalid_grant", "refresh token unknown, revoked or already used");
            }
            true
        }
        other => return error(400, "unsupported_grant_type", &format!("{other} is not supported")),
    };
    s.counter += 1;
    let n = s.counter;
    let access = format!("{}-access-{n}", grant_type.replace('_', "-"));
    if let Some(last) = s.requests.last_mut() {
        last.issued = Some(access.clone());
    }
    let lifetime = s.lifetime.unwrap_or(Duration::from_secs(300));
    let mut body = json!({"access_token": access, "token_type": "Bearer", "expires_in": lifetime.as_secs()});
    if refresh {
        let refresh_token = format!("refresh-{n}");
        s.refresh.insert(refresh_token.clone(), client_id);
        body["refresh_token"] = json!(refresh_token);
    }
    HttpResponse::Ok().insert_header(("Cache-Control", "no-store")).json(body)
}

async fn authorize(state: Shared, query: web::Query<HashMap<String, String>>) -> HttpResponse {
    let q = query.into_inner();
    let mut s = state.lock().unwrap();
    let (Some(client_id), Some(redirect_uri), Some(state_param)) =
        (q.get("client_id"), q.get("redirect_uri"), q.get("state"))
    else {
        return HttpResponse::BadRequest().body("client_id, redirect_uri and state are required");
    };
    if !s.clients.contains_key(client_id) || q.get("response_type").map(String::as_str) != Some("code") {
        return HttpResponse::BadRequest().body("unknown client or response_type");
    }
    let mut back = url::Url::parse(redirect_uri).unwrap();
    if q.get("code_challenge_method").map(String::as_str) != Some("S256") || s.deny_consent {
        let (code, description) = if s.deny_consent {
            ("access_denied", "the resource owner refused")
        } else {
            ("invalid_request", "PKCE with S256 is required")
        };
        back.query_pairs_mut()
            .append_pair("error", code)
            .append_pair("error_description", description)
            .append_pair("state", state_param);
    } else {
        s.counter += 1;
        let code = format!("code-{}", s.counter);
        s.codes.insert(
            code.clone(),
            Code {
                client_id: client_id.clone(),
                redirect_uri: redirect_uri.clone(),
                challenge: q.get("code_challenge").cloned().unwrap_or_default(),
            },
        );
        back.query_pairs_mut().append_pair("code", &code).append_pair("state", state_param);
    }
    HttpResponse::Found().insert_header(("Location", back.as_str())).finish()
}
