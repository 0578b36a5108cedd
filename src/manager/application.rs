//! One application on a manager, as its owner manages it: read, update, delete, its API keys and
//! its access to APIs (swagger v1.3 `/applications/{id}/…`). Every call is made with the
//! caller's credentials; ids travel as percent-encoded path segments.

use reqwest::{Method, StatusCode};
use tracing::instrument;

use super::client::refused;
use super::{
    ApiAccess, ApiKey, Application, ApplicationUpdate, ManagerClient, ManagerCredentials, ManagerError,
    MetricTimeline, OAuthClient, Quota,
};

impl ManagerClient {
    /// `GET /applications/{id}`.
    #[instrument(skip(self, creds), fields(manager = %self.definition().id))]
    pub async fn application(
        &self,
        creds: ManagerCredentials<'_>,
        id: &str,
    ) -> Result<Application, ManagerError> {
        let request = self.authorized(Method::GET, &["applications", id], creds);
        self.read_json(self.send(request).await?, StatusCode::OK, "application", creds).await
    }

    /// `PUT /applications/{id}` → the application as saved.
    #[instrument(skip(self, creds, update), fields(manager = %self.definition().id))]
    pub async fn update_application(
        &self,
        creds: ManagerCredentials<'_>,
        update: &ApplicationUpdate,
    ) -> Result<Application, ManagerError> {
        let request = self.authorized(Method::PUT, &["applications", &update.id], creds).json(update);
        self.read_json(self.send(request).await?, StatusCode::OK, "updated application", creds).await
    }

    /// `DELETE /applications/{id}` → 204.
    #[instrument(skip(self, creds), fields(manager = %self.definition().id))]
    pub async fn delete_application(
        &self,
        creds: ManagerCredentials<'_>,
        id: &str,
    ) -> Result<(), ManagerError> {
        self.no_content(Method::DELETE, &["applications", id], creds).await
    }

    /// `GET /applications/{id}/apikeys`.
    #[instrument(skip(self, creds), fields(manager = %self.definition().id))]
    pub async fn api_keys(
        &self,
        creds: ManagerCredentials<'_>,
        id: &str,
    ) -> Result<Vec<ApiKey>, ManagerError> {
        let request = self.authorized(Method::GET, &["applications", id, "apikeys"], creds);
        self.list(request, "API keys", creds).await
    }

    /// `POST /applications/{id}/apikeys` → 201 and the key with its secret.
    #[instrument(skip(self, creds), fields(manager = %self.definition().id))]
    pub async fn create_api_key(
        &self,
        creds: ManagerCredentials<'_>,
        id: &str,
    ) -> Result<ApiKey, ManagerError> {
        let body = serde_json::json!({ "applicationId": id, "enabled": true });
        let request = self.authorized(Method::POST, &["applications", id, "apikeys"], creds).json(&body);
        self.read_json(self.send(request).await?, StatusCode::CREATED, "created API key", creds).await
    }

    /// `DELETE /applications/{id}/apikeys/{key_id}` → 204.
    #[instrument(skip(self, creds), fields(manager = %self.definition().id))]
    pub async fn delete_api_key(
        &self,
        creds: ManagerCredentials<'_>,
        id: &str,
        key_id: &str,
    ) -> Result<(), ManagerError> {
        self.no_content(Method::DELETE, &["applications", id, "apikeys", key_id], creds).await
    }

    /// `GET /applications/{id}/apis`: the APIs the application may call, or has asked to.
    #[instrument(skip(self, creds), fields(manager = %self.definition().id))]
    pub async fn api_access(
        &self,
        creds: ManagerCredentials<'_>,
        id: &str,
    ) -> Result<Vec<ApiAccess>, ManagerError> {
        let request = self.authorized(Method::GET, &["applications", id, "apis"], creds);
        self.list(request, "API access", creds).await
    }

    /// `POST /applications/{id}/apis` → 201 and the access in the state the manager decided.
    #[instrument(skip(self, creds), fields(manager = %self.definition().id))]
    pub async fn request_api_access(
        &self,
        creds: ManagerCredentials<'_>,
        id: &str,
        api_id: &str,
    ) -> Result<ApiAccess, ManagerError> {
        let body = serde_json::json!({ "apiId": api_id, "enabled": true });
        let request = self.authorized(Method::POST, &["applications", id, "apis"], creds).json(&body);
        self.read_json(self.send(request).await?, StatusCode::CREATED, "API access", creds).await
    }

    /// `DELETE /applications/{id}/apis/{access_id}` → 204.
    #[instrument(skip(self, creds), fields(manager = %self.definition().id))]
    pub async fn remove_api_access(
        &self,
        creds: ManagerCredentials<'_>,
        id: &str,
        access_id: &str,
    ) -> Result<(), ManagerError> {
        self.no_content(Method::DELETE, &["applications", id, "apis", access_id], creds).await
    }

    /// `GET /applications/{id}/quota`.
    #[instrument(skip(self, creds), fields(manager = %self.definition().id))]
    pub async fn quota(&self, creds: ManagerCredentials<'_>, id: &str) -> Result<Quota, ManagerError> {
        let request = self.authorized(Method::GET, &["applications", id, "quota"], creds);
        self.read_json(self.send(request).await?, StatusCode::OK, "quota", creds).await
    }

    /// `GET /applications/{id}/oauth`.
    #[instrument(skip(self, creds), fields(manager = %self.definition().id))]
    pub async fn oauth_clients(
        &self,
        creds: ManagerCredentials<'_>,
        id: &str,
    ) -> Result<Vec<OAuthClient>, ManagerError> {
        let request = self.authorized(Method::GET, &["applications", id, "oauth"], creds);
        self.list(request, "OAuth clients", creds).await
    }

    /// `POST /applications/{id}/oauth` → 201 and the client with its secret.
    #[instrument(skip(self, creds), fields(manager = %self.definition().id))]
    pub async fn create_oauth_client(
        &self,
        creds: ManagerCredentials<'_>,
        id: &str,
    ) -> Result<OAuthClient, ManagerError> {
        let body = serde_json::json!({ "applicationId": id, "type": "confidential", "enabled": true });
        let request = self.authorized(Method::POST, &["applications", id, "oauth"], creds).json(&body);
        self.read_json(self.send(request).await?, StatusCode::CREATED, "created OAuth client", creds).await
    }

    /// `PUT /applications/{id}/oauth/{client_id}/newsecret` → 204, then the client as listed
    /// (the manager answers the new secret without a body).
    #[instrument(skip(self, creds), fields(manager = %self.definition().id))]
    pub async fn new_oauth_secret(
        &self,
        creds: ManagerCredentials<'_>,
        id: &str,
        client_id: &str,
    ) -> Result<OAuthClient, ManagerError> {
        self.no_content(Method::PUT, &["applications", id, "oauth", client_id, "newsecret"], creds).await?;
        let clients = self.oauth_clients(creds, id).await?;
        clients.into_iter().find(|c| c.id == client_id).ok_or(ManagerError::NotFound)
    }

    /// `DELETE /applications/{id}/oauth/{client_id}` → 204.
    #[instrument(skip(self, creds), fields(manager = %self.definition().id))]
    pub async fn delete_oauth_client(
        &self,
        creds: ManagerCredentials<'_>,
        id: &str,
        client_id: &str,
    ) -> Result<(), ManagerError> {
        self.no_content(Method::DELETE, &["applications", id, "oauth", client_id], creds).await
    }

    /// `GET /metrics/reports/app/timeline/0/numMessages`: the application's calls over
    /// `[from, to)`, one point per interval the manager chooses.
    #[instrument(skip(self, creds), fields(manager = %self.definition().id))]
    pub async fn usage(
        &self,
        creds: ManagerCredentials<'_>,
        id: &str,
        from: std::time::SystemTime,
        to: std::time::SystemTime,
    ) -> Result<MetricTimeline, ManagerError> {
        let segments = ["metrics", "reports", "app", "timeline", "0", "numMessages"];
        let (from, to) = (humantime::format_rfc3339_seconds(from), humantime::format_rfc3339_seconds(to));
        let query = [("from", from.to_string()), ("to", to.to_string()), ("client", id.to_owned())];
        let request = self.authorized(Method::GET, &segments, creds).query(&query);
        self.read_json(self.send(request).await?, StatusCode::OK, "usage report", creds).await
    }

    /// A list read; 204 (which the swagger allows for some lists) is an empty list.
    async fn list<T: serde::de::DeserializeOwned>(
        &self,
        request: reqwest::RequestBuilder,
        what: &str,
        creds: ManagerCredentials<'_>,
    ) -> Result<Vec<T>, ManagerError> {
        let response = self.send(request).await?;
        if response.status() == StatusCode::NO_CONTENT {
            return Ok(Vec::new());
        }
        self.read_json(response, StatusCode::OK, what, creds).await
    }

    /// A call answered by 204 (or 200) with nothing Portico reads.
    async fn no_content(
        &self,
        method: Method,
        segments: &[&str],
        creds: ManagerCredentials<'_>,
    ) -> Result<(), ManagerError> {
        let response = self.send(self.authorized(method, segments, creds)).await?;
        match response.status() {
            StatusCode::NO_CONTENT | StatusCode::OK => Ok(()),
            status => Err(refused(status, creds)),
        }
    }
}
