//! Is a manager there, and who does it take a credential for: the reads of health checks, the
//! admin's connection test and the service credential check.

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use tracing::instrument;

use super::client::refused;
use super::{AppInfo, ManagerClient, ManagerCredentials, ManagerError, User, classify};

impl ManagerClient {
    /// `GET /appinfo`: the manager's version and name. The swagger does not require
    /// credentials; `creds` are for a manager that does anyway (it answers 401 without them,
    /// which is [`ManagerError::SessionExpired`] here).
    #[instrument(skip_all, fields(manager = %self.definition().id))]
    pub async fn app_info(&self, creds: Option<ManagerCredentials<'_>>) -> Result<AppInfo, ManagerError> {
        let request = match creds {
            Some(creds) => self.authorized(Method::GET, &["appinfo"], creds),
            None => self.request(Method::GET, &["appinfo"]),
        };
        let response = self.send(request).await?;
        match (response.status(), creds) {
            (StatusCode::OK, _) => {
                let body = classify::body(response, self.timeout()).await?;
                classify::json(&body, "application information")
            }
            (status, Some(creds)) => Err(refused(status, creds)),
            (status, None) => Err(classify::status(status)),
        }
    }

    /// `GET /currentuser` with a service credential: whom the manager takes it for (wrong
    /// credentials are [`ManagerError::WrongCredentials`]).
    #[instrument(skip_all, fields(manager = %self.definition().id))]
    pub async fn credential_user(&self, creds: ManagerCredentials<'_>) -> Result<User, ManagerError> {
        let request = self.authorized(Method::GET, &["currentuser"], creds);
        self.read_json(self.send(request).await?, StatusCode::OK, "current user", creds).await
    }

    /// A cheap probe for health checks and "test connection": proves the host is reachable, its
    /// certificate is accepted and the v1.3 API answers under the base path. Returns the
    /// round-trip time.
    ///
    /// Every probe is a request the swagger allows. Without credentials it reads `GET /appinfo`,
    /// the one read the swagger leaves unsecured: a secured operation asked without credentials
    /// is a non-conforming request, and a failed authentication in the manager's log on every
    /// probe. With `creds` (the service credential) it reads `GET /currentuser` as their holder.
    /// A 401 still proves a manager answers there (one that shows `/appinfo` to signed-in
    /// callers only, or a credential it refuses, which is reported elsewhere).
    #[instrument(skip_all, fields(manager = %self.definition().id))]
    pub async fn probe(&self, creds: Option<ManagerCredentials<'_>>) -> Result<Duration, ManagerError> {
        let started = Instant::now();
        let request = match creds {
            Some(creds) => self.authorized(Method::GET, &["currentuser"], creds),
            None => self.request(Method::GET, &["appinfo"]),
        };
        let response = self.send(request).await?;
        let latency = started.elapsed();
        match response.status() {
            StatusCode::OK if creds.is_none() => {
                // Read to the end: a catch-all page answering 200 is not a manager, and a body
                // read in full leaves the connection reusable for the next probe.
                let body = classify::body(response, self.timeout()).await?;
                classify::json::<AppInfo>(&body, "application information")?;
                Ok(latency)
            }
            StatusCode::UNAUTHORIZED | StatusCode::OK => Ok(latency),
            StatusCode::NOT_FOUND => Err(ManagerError::NotFound),
            other if other.is_server_error() => Err(ManagerError::ServerError(other.as_u16())),
            other => Err(ManagerError::UnexpectedStatus(other.as_u16())),
        }
    }
}
