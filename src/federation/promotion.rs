//! Promoting an application to another environment the user joined: the same application is
//! created in the user's organization there, and access is requested to every API it may call
//! here that exists there under the same name. Credentials are never copied: keys are made anew
//! in the target when the user asks for them.

use super::{Environment, PageAccess};
use crate::manager::{ApiAccess, Application, DiscoveredApi, ManagerError, NewApplication};

/// One side of a promotion: the environment, how its calls are made, the user's organization id
/// there, and the APIs of the user's catalog there.
pub struct Side<'a> {
    pub env: &'a Environment,
    pub access: &'a PageAccess,
    pub organization_id: &'a str,
    pub catalog: &'a [DiscoveredApi],
}

/// What became of one API of the promoted application.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiOutcome {
    /// Requested; the state the target's manager gave (`approved`, `pending`, …).
    Requested(String),
    /// No API of that name in the user's catalog on the target.
    NotFound,
    /// The target's manager refused or failed the request.
    Failed(ManagerError),
}

/// The application created on the target, and per API (by name, as on the source) what happened.
#[derive(Debug)]
pub struct Promoted {
    pub application: Application,
    pub apis: Vec<(String, ApiOutcome)>,
}

/// Promotes `app` (with its access `granted` on the source) from `source` to `target`. Fails only
/// when the application cannot be created on the target; every API after that has its outcome.
pub async fn promote(
    app: &Application,
    granted: &[ApiAccess],
    source: &Side<'_>,
    target: &Side<'_>,
) -> Result<Promoted, ManagerError> {
    let new = NewApplication {
        name: app.name.clone(),
        description: app.description.clone().filter(|d| !d.is_empty()),
        organization_id: target.organization_id.to_owned(),
    };
    let creds = target.access.credentials();
    let created = target.env.client.create_application(creds, &new).await?;
    let mut apis = Vec::new();
    for access in granted {
        // An API the source's catalog no longer lists is named by its id.
        let name = source
            .catalog
            .iter()
            .find(|api| api.id == access.api_id)
            .map_or_else(|| access.api_id.clone(), |api| api.name.clone());
        let outcome = match target.catalog.iter().find(|api| api.name == name) {
            None => ApiOutcome::NotFound,
            Some(there) => match target.env.client.request_api_access(creds, &created.id, &there.id).await {
                Ok(access) => ApiOutcome::Requested(access.state.unwrap_or_else(|| "approved".to_owned())),
                Err(e) => ApiOutcome::Failed(e),
            },
        };
        apis.push((name, outcome));
    }
    Ok(Promoted { application: created, apis })
}
