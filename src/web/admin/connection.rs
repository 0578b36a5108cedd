//! `POST /admin/slaves/{id}/test`: can Portico reach this manager? Reachability, TLS, the API
//! under its base path with the manager's version (`GET /appinfo`), and the service credential
//! when the config file gives one. Each check says what it found; later checks that depend on a
//! failed one are not run.

use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;

use super::access::Admin;
use super::page::{Shell, render};
use super::slaves::{CsrfForm, Owner, gone, owner, path_id};
use crate::credentials::Caller;
use crate::domain::{ManagerDefinition, Role};
use crate::federation::ServiceCredential;
use crate::manager::{ManagerClient, ManagerError};
use crate::state::AppState;
use crate::web::WebError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Passed,
    Failed,
    /// Not run (a check it depends on failed) or not applicable.
    Skipped,
}

pub struct Check {
    pub name: &'static str,
    pub outcome: Outcome,
    pub detail: String,
}

impl Check {
    fn new(name: &'static str, outcome: Outcome, detail: impl Into<String>) -> Self {
        Self { name, outcome, detail: detail.into() }
    }

    pub fn badge(&self) -> &'static str {
        match self.outcome {
            Outcome::Passed => "ok",
            Outcome::Failed => "failed",
            Outcome::Skipped => "not checked",
        }
    }

    pub fn class(&self) -> &'static str {
        match self.outcome {
            Outcome::Passed => "ok",
            Outcome::Failed => "bad",
            Outcome::Skipped => "",
        }
    }
}

#[derive(Template)]
#[template(path = "admin/slave_test.html")]
struct TestPage {
    shell: Shell,
    id: String,
    name: String,
    address: String,
    passed: bool,
    checks: Vec<Check>,
}

pub async fn test(
    state: web::Data<AppState>,
    admin: Admin,
    path: web::Path<String>,
    posted: web::Form<CsrfForm>,
) -> Result<HttpResponse, WebError> {
    admin.check_csrf(&posted.csrf_token)?;
    let id = path_id(&path)?;
    let default_timeout = state.settings().federation.timeout.get();
    let mut unreadable = None;
    let (definition, service) = match owner(&state, &id).await? {
        // The config file's managers: as they run, with their (live) service credential.
        Owner::Master(_) | Owner::Config(_) => {
            let Some(env) = state.environments().get(&id) else { return gone(&state, &admin, &id).await };
            (env.definition().clone(), env.service.clone())
        }
        // A stored slave is tested as saved, even when disabled or not in force, with its
        // credential read as it is for the running environment.
        Owner::Stored(row) => {
            let service = match &row.auth {
                None => None,
                Some(auth) => match state.environments().stored_credential(&id, auth).await {
                    Ok(service) => Some(service),
                    Err(e) => {
                        unreadable = Some(e.reason());
                        None
                    }
                },
            };
            (row.manager, service)
        }
        Owner::Unknown => return gone(&state, &admin, &id).await,
    };
    let address = format!("{}{}", definition.url.as_str().trim_end_matches('/'), definition.base_path);
    let name = definition.name.clone();
    let mut checks = run(definition, default_timeout, service).await;
    if let Some(reason) = unreadable
        && let Some(last) = checks.last_mut().filter(|c| c.outcome != Outcome::Skipped)
    {
        *last = Check::new("Service credential", Outcome::Failed, reason);
    }
    let page = TestPage {
        shell: Shell::new(&state, &admin, "slaves").await?,
        id: id.to_string(),
        name,
        address,
        passed: checks.iter().all(|c| c.outcome != Outcome::Failed),
        checks,
    };
    render(StatusCode::OK, &page)
}

async fn run(
    endpoint: ManagerDefinition,
    default_timeout: Duration,
    service: Option<ServiceCredential>,
) -> Vec<Check> {
    let https = endpoint.url.scheme() == "https";
    let tls_mode = endpoint.tls_mode.as_str();
    let host = format!(
        "{}:{}",
        endpoint.url.host_str().unwrap_or_default(),
        endpoint.url.port_or_known_default().unwrap_or_default()
    );
    let base_path = endpoint.base_path.clone();
    let client = match ManagerClient::new(endpoint, default_timeout) {
        Ok(client) => client,
        Err(e) => {
            return vec![
                Check::new("Reachability", Outcome::Skipped, "not tried"),
                Check::new("TLS", Outcome::Failed, format!("cannot be set up: {e}")),
                Check::new("API", Outcome::Skipped, "not tried"),
                Check::new("Service credential", Outcome::Skipped, "not tried"),
            ];
        }
    };
    let tls_ok = || {
        if https {
            Check::new("TLS", Outcome::Passed, format!("certificate accepted (TLS mode “{tls_mode}”)"))
        } else {
            Check::new("TLS", Outcome::Skipped, "not used: the address is http://")
        }
    };
    let skipped = |name| Check::new(name, Outcome::Skipped, "not checked: an earlier check failed");
    let mut checks = Vec::new();
    match client.probe(None).await {
        Ok(latency) => {
            checks.push(Check::new(
                "Reachability",
                Outcome::Passed,
                format!("{host} answers ({} ms)", latency.as_millis()),
            ));
            checks.push(tls_ok());
        }
        Err(e @ ManagerError::Tls(_)) => {
            checks.push(Check::new("Reachability", Outcome::Passed, format!("{host} accepts connections")));
            checks.push(Check::new("TLS", Outcome::Failed, e.to_string()));
            checks.extend([skipped("API"), skipped("Service credential")]);
            return checks;
        }
        Err(e)
            if matches!(
                e,
                ManagerError::NotFound
                    | ManagerError::ServerError(_)
                    | ManagerError::UnexpectedStatus(_)
                    | ManagerError::Malformed(_)
            ) =>
        {
            checks.push(Check::new("Reachability", Outcome::Passed, format!("{host} answers")));
            checks.push(tls_ok());
            let why = match e {
                ManagerError::NotFound => format!("no API Manager v1.3 under {base_path} (HTTP 404)"),
                other => format!("{base_path}/appinfo: {other}"),
            };
            checks.extend([Check::new("API", Outcome::Failed, why), skipped("Service credential")]);
            return checks;
        }
        Err(e) => {
            checks.push(Check::new("Reachability", Outcome::Failed, format!("{host}: {e}")));
            checks.extend([skipped("TLS"), skipped("API"), skipped("Service credential")]);
            return checks;
        }
    }
    checks.push(api_version(&client, &base_path, service.as_ref()).await);
    checks.push(service_check(&client, service.as_ref()).await);
    checks
}

/// Whom the manager takes the service credential for, when one is set.
async fn service_check(client: &ManagerClient, service: Option<&ServiceCredential>) -> Check {
    let Some(service) = service else {
        return Check::new("Service credential", Outcome::Skipped, "none set for this manager");
    };
    let what = service.describe();
    let auth = match service.authorize(Caller::Portico).await {
        Ok(auth) => auth,
        Err(e) => return Check::new("Service credential", Outcome::Failed, format!("{what}: {e}")),
    };
    match client.credential_user(auth.credentials()).await {
        Ok(user) => {
            let role = match user.role {
                Role::User => "user",
                Role::Oadmin => "organization administrator",
                Role::Admin => "API administrator",
            };
            let text = format!("accepted: {what} is known there as {} ({role})", user.login_name);
            Check::new("Service credential", Outcome::Passed, text)
        }
        Err(e) => Check::new("Service credential", Outcome::Failed, format!("{what}: {e}")),
    }
}

/// `GET /appinfo`; a manager that wants credentials for it is asked again with the service
/// credential, or reported as not telling.
async fn api_version(client: &ManagerClient, base_path: &str, service: Option<&ServiceCredential>) -> Check {
    let first = client.app_info(None).await;
    let result = match (first, service) {
        (Err(ManagerError::SessionExpired), Some(service)) => {
            match service.authorize(Caller::Portico).await {
                Ok(auth) => client.app_info(Some(auth.credentials())).await,
                Err(_) => Err(ManagerError::SessionExpired),
            }
        }
        (other, _) => other,
    };
    match result {
        Ok(info) => {
            let version = info.product_version.unwrap_or_else(|| "version not given".to_owned());
            let name = info.portal_name.map(|n| format!(", “{n}”")).unwrap_or_default();
            Check::new(
                "API",
                Outcome::Passed,
                format!("API Manager {version}{name}: v1.3 API under {base_path}"),
            )
        }
        Err(ManagerError::SessionExpired) => Check::new(
            "API",
            Outcome::Passed,
            format!("v1.3 API under {base_path}; the manager tells its version only to signed-in callers"),
        ),
        Err(e) => Check::new("API", Outcome::Failed, format!("{base_path}/appinfo: {e}")),
    }
}
