//! The API Manager v1.3 client. One per manager, pooled connections, no shared cookie jar:
//! the manager session of each user travels in a [`ManagerSession`] value.

use std::sync::Arc;
use std::time::Duration;

use prometheus::IntCounter;
use reqwest::header::{AUTHORIZATION, COOKIE, HeaderValue};
use reqwest::{Method, RequestBuilder, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use tracing::instrument;
use url::Url;

use crate::domain::ManagerDefinition;

use super::pool::ForwardPool;
use super::session::{CSRF_HEADER, csrf_token, session_cookie};
use super::{
    Application, DiscoveredApi, ManagerCredentials, ManagerError, ManagerSession, NewApplication,
    Organization, User, classify, refusal, tls,
};

/// What Portico says it is in `User-Agent` (routed calls keep the caller's).
pub(super) const USER_AGENT_VALUE: &str = concat!("portico/", env!("CARGO_PKG_VERSION"));

/// The client for one manager.
#[derive(Clone)]
pub struct ManagerClient {
    definition: ManagerDefinition,
    /// Of every call (the definition's, or the federation's default).
    timeout: Duration,
    http: reqwest::Client,
    /// Routed calls' connections ([`super::pool`]).
    forwarding: Arc<ForwardPool>,
    /// The base path without a trailing `/`: routed paths are appended.
    forward_base: Arc<str>,
    /// `manager_calls_total{environment=this, outcome="ok"}`, resolved once: the outcome of
    /// nearly every call, counted without looking its labels up.
    ok_calls: Option<IntCounter>,
}

impl std::fmt::Debug for ManagerClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ManagerClient").field("definition", &self.definition).finish()
    }
}

impl ManagerClient {
    /// The client of the manager `definition` describes; `default_timeout` applies when the
    /// definition sets none.
    pub fn new(definition: ManagerDefinition, default_timeout: Duration) -> Result<Self, ManagerError> {
        let timeout = definition.timeout.unwrap_or(default_timeout);
        if !matches!(definition.url.scheme(), "http" | "https") || definition.url.host().is_none() {
            return Err(ManagerError::Config("the manager URL must be http(s)://host[:port]".into()));
        }
        if !definition.base_path.starts_with('/') {
            return Err(ManagerError::Config("the base path must start with '/'".into()));
        }
        let tls = tls::client_config(definition.tls_mode, definition.ca_pem.as_deref())?;
        let forwarding = ForwardPool::new(&definition.url, tls.clone(), timeout);
        let http = reqwest::Client::builder()
            // A redirect is an answer (303 is how login succeeds), never something to follow,
            // and cookies only ever come from and go into a ManagerSession.
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(timeout)
            .user_agent(USER_AGENT_VALUE)
            .use_preconfigured_tls(tls)
            .build()
            .map_err(|_| ManagerError::Config("the HTTP client could not be built".into()))?;
        let forward_base = definition.base_path.trim_end_matches('/').into();
        let ok_calls = crate::metrics::metrics()
            .and_then(|m| m.manager_calls.get_metric_with_label_values(&[definition.id.as_str(), "ok"]).ok());
        Ok(Self { definition, timeout, http, forwarding, forward_base, ok_calls })
    }

    /// The definition this client was built from.
    pub fn definition(&self) -> &ManagerDefinition {
        &self.definition
    }

    /// How long a call may take.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    pub(super) fn http(&self) -> &reqwest::Client {
        &self.http
    }

    pub(super) fn forward_pool(&self) -> &Arc<ForwardPool> {
        &self.forwarding
    }

    pub(super) fn forward_base(&self) -> &str {
        &self.forward_base
    }

    /// `POST /login`: 303 → a new session.
    #[instrument(skip(self, password), fields(manager = %self.definition.id))]
    pub async fn login(
        &self,
        username: &str,
        password: &SecretString,
    ) -> Result<ManagerSession, ManagerError> {
        let form = [("username", username), ("password", password.expose_secret())];
        let response = self.send(self.request(Method::POST, &["login"]).form(&form)).await?;
        match response.status() {
            StatusCode::SEE_OTHER => {
                let cookie = session_cookie(&response)?;
                Ok(ManagerSession { cookie, csrf_token: csrf_token(&response) })
            }
            StatusCode::UNAUTHORIZED => Err(ManagerError::WrongCredentials),
            StatusCode::CONFLICT => Err(ManagerError::PasswordChangeRequired),
            StatusCode::FORBIDDEN => Err(refusal::forbidden(response).await),
            other => Err(classify::status(other)),
        }
    }

    /// `GET /currentuser`; stores the `CSRF-Token` answer header in the session.
    #[instrument(skip_all, fields(manager = %self.definition.id))]
    pub async fn current_user(&self, session: &mut ManagerSession) -> Result<User, ManagerError> {
        let request = self.authorized(Method::GET, &["currentuser"], ManagerCredentials::Session(session));
        let response = self.send(request).await?;
        if let Some(token) = csrf_token(&response) {
            session.csrf_token = Some(token);
        }
        self.read_json(response, StatusCode::OK, "current user", ManagerCredentials::Session(session)).await
    }

    /// `GET /currentuser` as the holder of `creds` (a bearer token, a service credential): a 403
    /// is read like a refused login's (a missing organization, a disabled account).
    #[instrument(skip_all, fields(manager = %self.definition.id))]
    pub async fn current_user_as(&self, creds: ManagerCredentials<'_>) -> Result<User, ManagerError> {
        let response = self.send(self.authorized(Method::GET, &["currentuser"], creds)).await?;
        if response.status() == StatusCode::FORBIDDEN {
            return Err(refusal::forbidden(response).await);
        }
        self.read_json(response, StatusCode::OK, "current user", creds).await
    }

    /// `GET /organizations/{id}`.
    #[instrument(skip(self, creds), fields(manager = %self.definition.id))]
    pub async fn organization(
        &self,
        creds: ManagerCredentials<'_>,
        id: &str,
    ) -> Result<Organization, ManagerError> {
        let request = self.authorized(Method::GET, &["organizations", id], creds);
        self.read_json(self.send(request).await?, StatusCode::OK, "organization", creds).await
    }

    /// `GET /organizations?field=name&op=eq&value=NAME`; `None` when no organization has it.
    #[instrument(skip(self, creds), fields(manager = %self.definition.id))]
    pub async fn organization_by_name(
        &self,
        creds: ManagerCredentials<'_>,
        name: &str,
    ) -> Result<Option<Organization>, ManagerError> {
        let request = self.authorized(Method::GET, &["organizations"], creds).query(&[
            ("field", "name"),
            ("op", "eq"),
            ("value", name),
        ]);
        let organizations: Vec<Organization> =
            self.read_json(self.send(request).await?, StatusCode::OK, "organization list", creds).await?;
        // The filter is the manager's; the exact match is ours, so a lenient `eq` on the manager
        // side cannot map a user into the wrong organization.
        Ok(organizations.into_iter().find(|org| org.name == name))
    }

    /// `GET /organizations/{id}/apis`: the ids of the APIs an organization has access to (used
    /// to scope what a service credential sees).
    #[instrument(skip(self, creds), fields(manager = %self.definition.id))]
    pub async fn organization_api_ids(
        &self,
        creds: ManagerCredentials<'_>,
        organization_id: &str,
    ) -> Result<Vec<String>, ManagerError> {
        #[derive(serde::Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Access {
            api_id: String,
            #[serde(default)]
            state: Option<String>,
        }
        let request = self.authorized(Method::GET, &["organizations", organization_id, "apis"], creds);
        let list: Vec<Access> =
            self.read_json(self.send(request).await?, StatusCode::OK, "API access list", creds).await?;
        Ok(list
            .into_iter()
            .filter(|a| a.state.as_deref().is_none_or(|s| s == "approved"))
            .map(|a| a.api_id)
            .collect())
    }

    /// `GET /discovery/apis`: the APIs the caller's organization may see.
    #[instrument(skip_all, fields(manager = %self.definition.id))]
    pub async fn discovery_apis(
        &self,
        creds: ManagerCredentials<'_>,
    ) -> Result<Vec<DiscoveredApi>, ManagerError> {
        let request = self.authorized(Method::GET, &["discovery", "apis"], creds);
        self.read_json(self.send(request).await?, StatusCode::OK, "API list", creds).await
    }

    /// `GET /discovery/swagger/api/id/{id}`: the API's definition document.
    #[instrument(skip(self, creds), fields(manager = %self.definition.id))]
    pub async fn api_definition(
        &self,
        creds: ManagerCredentials<'_>,
        id: &str,
    ) -> Result<serde_json::Value, ManagerError> {
        let request = self.authorized(Method::GET, &["discovery", "swagger", "api", "id", id], creds);
        self.read_json(self.send(request).await?, StatusCode::OK, "API definition", creds).await
    }

    /// `GET /applications`.
    #[instrument(skip_all, fields(manager = %self.definition.id))]
    pub async fn applications(
        &self,
        creds: ManagerCredentials<'_>,
    ) -> Result<Vec<Application>, ManagerError> {
        let request = self.authorized(Method::GET, &["applications"], creds);
        self.read_json(self.send(request).await?, StatusCode::OK, "application list", creds).await
    }

    /// `POST /applications` → 201 and the created application.
    #[instrument(skip(self, creds), fields(manager = %self.definition.id))]
    pub async fn create_application(
        &self,
        creds: ManagerCredentials<'_>,
        app: &NewApplication,
    ) -> Result<Application, ManagerError> {
        let request = self.authorized(Method::POST, &["applications"], creds).json(app);
        self.read_json(self.send(request).await?, StatusCode::CREATED, "created application", creds).await
    }

    /// `DELETE /login`. A session the manager no longer knows counts as ended.
    #[instrument(skip_all, fields(manager = %self.definition.id))]
    pub async fn logout(&self, session: &ManagerSession) -> Result<(), ManagerError> {
        let mut session = session.clone();
        if session.csrf_token.is_none() {
            // DELETE is an unsafe call: the manager wants the CSRF token, which it hands out on
            // `GET /currentuser`.
            match self.current_user(&mut session).await {
                Ok(_) => {}
                Err(ManagerError::SessionExpired) => return Ok(()),
                Err(other) => return Err(other),
            }
        }
        let request = self.authorized(Method::DELETE, &["login"], ManagerCredentials::Session(&session));
        let response = self.send(request).await?;
        match response.status() {
            status if status.is_success() => Ok(()),
            StatusCode::UNAUTHORIZED => Ok(()),
            other => Err(classify::status(other)),
        }
    }

    /// `{url}{base_path}/{segments…}`, each segment percent-encoded.
    fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.definition.url.clone();
        url.set_query(None);
        url.set_fragment(None);
        url.set_path(self.definition.base_path.trim_end_matches('/'));
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        url
    }

    /// Portico's own calls are bounded as a whole by the manager's timeout (forwarded calls,
    /// which may carry large bodies, are bounded differently: see `forward`).
    pub(super) fn request(&self, method: Method, segments: &[&str]) -> RequestBuilder {
        self.http
            .request(method, self.url(segments))
            .timeout(self.timeout)
            .header(reqwest::header::ACCEPT, "application/json")
    }

    pub(super) fn authorized(
        &self,
        method: Method,
        segments: &[&str],
        creds: ManagerCredentials<'_>,
    ) -> RequestBuilder {
        let unsafe_method = !matches!(method, Method::GET | Method::HEAD | Method::OPTIONS);
        let request = self.request(method, segments);
        match creds {
            ManagerCredentials::Session(session) => {
                let mut request = request.header(COOKIE, session.cookie.header());
                if let (true, Some(token)) = (unsafe_method, &session.csrf_token) {
                    request = request.header(CSRF_HEADER, token.header());
                }
                request
            }
            ManagerCredentials::Bearer(token) => {
                request.header(AUTHORIZATION, sensitive(&format!("Bearer {token}")))
            }
            ManagerCredentials::Basic { username, password } => {
                request.basic_auth(username, Some(password.expose_secret()))
            }
        }
    }

    pub(super) async fn send(&self, request: RequestBuilder) -> Result<reqwest::Response, ManagerError> {
        let result = request.send().await.map_err(|e| classify::transport(&e, self.timeout));
        self.count_call(&result);
        result
    }

    /// `manager_calls_total{environment, outcome}`: `ok` (2xx/3xx), `client_error`,
    /// `server_error`, or the transport failure's kind.
    pub(crate) fn count_call(&self, result: &Result<reqwest::Response, ManagerError>) {
        self.count_outcome(result.as_ref().map(reqwest::Response::status));
    }

    /// [`ManagerClient::count_call`] from the answer's status.
    pub(crate) fn count_outcome(&self, result: Result<StatusCode, &ManagerError>) {
        let outcome = match result {
            Ok(status) if status.is_server_error() => "server_error",
            Ok(status) if status.is_client_error() => "client_error",
            Ok(_) => match &self.ok_calls {
                Some(ok) => return ok.inc(),
                None => "ok",
            },
            Err(e) => e.kind(),
        };
        crate::metrics::count(|m| &m.manager_calls, &[self.definition.id.as_str(), outcome]);
    }

    pub(super) async fn read_json<T: serde::de::DeserializeOwned>(
        &self,
        response: reqwest::Response,
        expected: StatusCode,
        what: &str,
        creds: ManagerCredentials<'_>,
    ) -> Result<T, ManagerError> {
        let status = response.status();
        if status != expected {
            return Err(refused(status, creds));
        }
        let body = classify::body(response, self.timeout).await?;
        classify::json(&body, what)
    }
}

/// The error for a refused authenticated call: a 401 means the session (or token) has ended,
/// but for basic credentials it means they are wrong.
pub(super) fn refused(status: StatusCode, creds: ManagerCredentials<'_>) -> ManagerError {
    match (status, creds) {
        (StatusCode::UNAUTHORIZED, ManagerCredentials::Basic { .. }) => ManagerError::WrongCredentials,
        _ => classify::status(status),
    }
}

/// A header value that HTTP/2 must never index and logs must never show. Values that cannot be
/// a header at all (control characters) are sent empty, which the manager then refuses.
pub(super) fn sensitive(value: &str) -> HeaderValue {
    let mut header = HeaderValue::from_str(value).unwrap_or_else(|_| HeaderValue::from_static(""));
    header.set_sensitive(true);
    header
}
