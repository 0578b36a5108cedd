//! Portico's own identity in the cloud: access tokens from the service's managed identity (for
//! Key Vault and managers), and the retrying of calls to identity and secret endpoints.
//!
//! Two documented wire protocols: the instance metadata service (a `GET` on
//! `…/metadata/identity/oauth2/token` with `Metadata: true`, `api-version`, `resource` and, for a
//! user-assigned identity, `client_id`), and the App Service identity endpoint (used when
//! `IDENTITY_ENDPOINT` and `IDENTITY_HEADER` are set: header `X-IDENTITY-HEADER`, api-version
//! 2019-08-01). Both answer `{access_token, expires_on, …}` with `expires_on` as a string of Unix
//! seconds. Tokens are cached per resource and identity and renewed before they expire; one
//! request per key is in flight at a time. Throttling and transient answers (404 and 410 while
//! the endpoint starts, 429, 5xx) are retried with backoff.

pub(crate) mod retry;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use url::Url;

use crate::clock::SharedClock;
use crate::config::IdentitySettings;
use retry::{Attempt, with_retries};

/// Renew this long before expiry (or at half the token's life, when that is shorter).
const RENEW_BEFORE: Duration = Duration::from_secs(5 * 60);
const APP_SERVICE_API_VERSION: &str = "2019-08-01";

#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error("managed identity endpoint unreachable: {0}")]
    Unreachable(String),
    #[error("managed identity endpoint answered {status}: {message}")]
    Refused { status: u16, message: String },
    #[error("managed identity endpoint answered something unreadable: {0}")]
    Protocol(String),
}

enum Endpoint {
    Imds { url: Url, api_version: String },
    AppService { url: Url, header: SecretString },
}

#[derive(Clone)]
struct Token {
    value: SecretString,
    renew_at: SystemTime,
}

type Slot = Arc<tokio::sync::Mutex<Option<Token>>>;

/// The managed identity token source (one per process).
#[derive(Clone)]
pub struct ManagedIdentity {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    endpoint: Endpoint,
    clock: SharedClock,
    tokens: Mutex<HashMap<(String, Option<String>), Slot>>,
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    #[serde(default)]
    expires_on: Option<serde_json::Value>,
    #[serde(default)]
    expires_in: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct ErrorResponse {
    #[serde(default)]
    error: Option<serde_json::Value>,
    #[serde(default)]
    error_description: Option<String>,
}

impl ManagedIdentity {
    pub fn new(settings: &IdentitySettings, http: reqwest::Client, clock: SharedClock) -> Self {
        let endpoint = match &settings.app_service {
            Some(app) => Endpoint::AppService { url: app.endpoint.clone(), header: app.header.clone() },
            None => {
                Endpoint::Imds { url: settings.endpoint.clone(), api_version: settings.api_version.clone() }
            }
        };
        Self { inner: Arc::new(Inner { http, endpoint, clock, tokens: Mutex::new(HashMap::new()) }) }
    }

    /// A token for `resource` (e.g. `https://vault.azure.net`) from the system-assigned identity
    /// (`client_id` = `None`) or a user-assigned one.
    pub async fn token(
        &self,
        resource: &str,
        client_id: Option<&str>,
    ) -> Result<SecretString, IdentityError> {
        let slot = {
            let mut tokens = self.inner.tokens.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            tokens.entry((resource.to_owned(), client_id.map(str::to_owned))).or_default().clone()
        };
        let mut cached = slot.lock().await;
        if let Some(token) = cached.as_ref().filter(|t| self.inner.clock.now() < t.renew_at) {
            return Ok(token.value.clone());
        }
        let token = self.fetch(resource, client_id).await?;
        let value = token.value.clone();
        *cached = Some(token);
        Ok(value)
    }

    async fn fetch(&self, resource: &str, client_id: Option<&str>) -> Result<Token, IdentityError> {
        let body = with_retries(|| async {
            let request = match &self.inner.endpoint {
                Endpoint::Imds { url, api_version } => {
                    let mut query = vec![("api-version", api_version.as_str()), ("resource", resource)];
                    query.extend(client_id.map(|id| ("client_id", id)));
                    self.inner.http.get(url.clone()).query(&query).header("Metadata", "true")
                }
                Endpoint::AppService { url, header } => {
                    let mut query = vec![("api-version", APP_SERVICE_API_VERSION), ("resource", resource)];
                    query.extend(client_id.map(|id| ("client_id", id)));
                    self.inner
                        .http
                        .get(url.clone())
                        .query(&query)
                        .header("X-IDENTITY-HEADER", header.expose_secret())
                }
            };
            match request.send().await {
                Err(e) => Attempt::Retry(IdentityError::Unreachable(retry::transport_error(&e))),
                Ok(res) => {
                    let status = res.status();
                    let retry_after = retry::retry_after(&res);
                    let body = res.bytes().await.unwrap_or_default();
                    if status.is_success() {
                        return Attempt::Done(body);
                    }
                    let error =
                        IdentityError::Refused { status: status.as_u16(), message: describe_error(&body) };
                    // 404 and 410: the endpoint is starting or being updated (documented as retryable).
                    let starting = matches!(status.as_u16(), 404 | 410);
                    if starting || retry::is_transient(status) {
                        Attempt::RetryAfter(error, retry_after)
                    } else {
                        Attempt::Fail(error)
                    }
                }
            }
        })
        .await?;
        let parsed: TokenResponse = serde_json::from_slice(&body)
            .map_err(|e| IdentityError::Protocol(format!("token response: {e}")))?;
        let now = self.inner.clock.now();
        let expires_at = expiry(&parsed, now).ok_or_else(|| {
            IdentityError::Protocol("the token response has no readable expires_on".to_owned())
        })?;
        let life = expires_at.duration_since(now).unwrap_or_default();
        let renew_at = expires_at - RENEW_BEFORE.min(life / 2);
        Ok(Token { value: SecretString::from(parsed.access_token), renew_at })
    }
}

/// `expires_on` (Unix seconds, a string or a number), else `expires_in` (seconds from now).
fn expiry(response: &TokenResponse, now: SystemTime) -> Option<SystemTime> {
    let seconds = |v: &serde_json::Value| match v {
        serde_json::Value::String(s) => s.trim().parse::<u64>().ok(),
        serde_json::Value::Number(n) => n.as_u64(),
        _ => None,
    };
    if let Some(on) = response.expires_on.as_ref().and_then(seconds) {
        return Some(UNIX_EPOCH + Duration::from_secs(on));
    }
    response.expires_in.as_ref().and_then(seconds).map(|s| now + Duration::from_secs(s))
}

/// The endpoint's own words about a refusal (`error`, `error_description`), never the request.
fn describe_error(body: &[u8]) -> String {
    match serde_json::from_slice::<ErrorResponse>(body) {
        Ok(ErrorResponse { error, error_description }) => {
            let code = match error {
                Some(serde_json::Value::String(s)) => Some(s),
                Some(serde_json::Value::Object(o)) => {
                    o.get("message").and_then(|m| m.as_str()).map(str::to_owned)
                }
                _ => None,
            };
            match (code, error_description) {
                (Some(c), Some(d)) => format!("{c}: {d}"),
                (Some(c), None) => c,
                (None, Some(d)) => d,
                (None, None) => "no details".to_owned(),
            }
        }
        Err(_) => "no details".to_owned(),
    }
}
