//! Slave mode: a login is authenticated by the master, like the manager's "Authenticate to
//! Master", "Get Current Info" and "Get Organization Name" policies, then mapped to the local
//! organization of the same name.

use std::time::Duration;

use actix_web::http::StatusCode;
use secrecy::SecretString;
use serde_json::json;
use url::Url;

use super::data::{SimUser, new_id};
use super::state::SimState;
use super::views::Refusal;
use crate::domain::{EnvironmentId, ManagerDefinition, TlsMode};
use crate::manager::{ManagerClient, ManagerCredentials, ManagerError, Organization, User};

/// How long the slave waits for each call to its master.
const MASTER_TIMEOUT: Duration = Duration::from_secs(10);

/// The client a slave uses to reach its master. A master URL with a path names the master's base
/// path; without one the master is assumed at `default_base_path`.
pub(crate) fn master_client(master: &Url, default_base_path: &str) -> Result<ManagerClient, ManagerError> {
    let base_path = match master.path() {
        "" | "/" => default_base_path.to_owned(),
        path => path.trim_end_matches('/').to_owned(),
    };
    let mut url = master.clone();
    url.set_path("");
    let definition = ManagerDefinition {
        id: EnvironmentId::master(),
        name: "master".to_owned(),
        url,
        base_path,
        tls_mode: TlsMode::Full,
        ca_pem: None,
        timeout: None,
        enabled: true,
        required: true,
        gateway: None,
    };
    ManagerClient::new(definition, MASTER_TIMEOUT)
}

/// Authenticates `username` at the master and opens nothing locally yet: returns the local
/// (shadow) user the session is for, or the answer refusing the login.
pub(crate) async fn login(
    state: &SimState,
    master: &ManagerClient,
    username: &str,
    password: &str,
) -> Result<SimUser, Refusal> {
    let password = SecretString::from(password.to_owned());
    let (user, organization) = ask_master(master, username, &password).await.map_err(refusal)?;
    shadow(state, &user.login_name, &user.name, user.email, user.role, &organization.name)
}

/// The local (shadow) record of a user the master or the identity provider vouched for, in the
/// local organization of the same name; refused when this manager has no such organization.
pub(crate) fn shadow(
    state: &SimState,
    login_name: &str,
    name: &str,
    email: Option<String>,
    role: crate::domain::Role,
    organization: &str,
) -> Result<SimUser, Refusal> {
    let mut data = state.data();
    let Some(local_org) = data.organization_named(organization).cloned() else {
        return Err(Refusal::new(
            StatusCode::FORBIDDEN,
            format!("Organization \"{organization}\" does not exist on this manager"),
        )
        .with("reason", json!("organization_not_found"))
        .with("organization", json!(organization)));
    };
    let shadow = SimUser {
        id: data.user_by_login(login_name).map(|existing| existing.id.clone()).unwrap_or_else(new_id),
        login_name: login_name.to_owned(),
        password: None,
        name: name.to_owned(),
        email,
        role,
        organization_id: local_org.id,
        enabled: true,
        password_change_required: false,
        external: true,
    };
    data.users.retain(|existing| existing.login_name != shadow.login_name);
    data.users.push(shadow.clone());
    Ok(shadow)
}

/// Login, current user and organization at the master, then logout there: the slave keeps no
/// master session.
async fn ask_master(
    master: &ManagerClient,
    username: &str,
    password: &SecretString,
) -> Result<(User, Organization), ManagerError> {
    let mut session = master.login(username, password).await?;
    let answers = async {
        let user = master.current_user(&mut session).await?;
        let organization =
            master.organization(ManagerCredentials::Session(&session), &user.organization_id).await?;
        Ok::<_, ManagerError>((user, organization))
    }
    .await;
    if let Err(error) = master.logout(&session).await {
        tracing::warn!(error = %error, "could not end the session on the master");
    }
    answers
}

fn refusal(error: ManagerError) -> Refusal {
    match error {
        ManagerError::WrongCredentials => {
            Refusal::new(StatusCode::UNAUTHORIZED, "Invalid username or password")
        }
        ManagerError::PasswordChangeRequired => {
            Refusal::new(StatusCode::CONFLICT, "The password must be changed")
        }
        ManagerError::AccountDisabled => Refusal::new(StatusCode::FORBIDDEN, "The account is disabled"),
        ManagerError::Forbidden | ManagerError::OrganizationMissing(_) => {
            Refusal::new(StatusCode::FORBIDDEN, "The master manager refused the account")
        }
        error if error.is_unavailable() => Refusal::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("The master manager is unavailable: {error}"),
        ),
        error => Refusal::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("Authentication at the master failed: {error}"),
        ),
    }
}
