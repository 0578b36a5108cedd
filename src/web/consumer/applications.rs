//! `GET /environments/{id}/applications` (the user's applications there, read as the user) and
//! `POST /environments/{id}/applications` (create one in the user's organization there).

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::portal::{self, JoinedEnvironment, Shell, manager_status, render, see_other};
use crate::federation::{Notice, PortalSession};
use crate::manager::{Application, ManagerError, NewApplication};
use crate::state::AppState;
use crate::store::Session;
use crate::web::WebError;
use crate::web::session::{SignedIn, check_csrf};

pub const MAX_NAME_CHARS: usize = 100;
pub const MAX_DESCRIPTION_CHARS: usize = 1000;

#[derive(Deserialize)]
pub struct ApplicationForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    csrf_token: String,
}

struct ApplicationView {
    href: String,
    name: String,
    description: String,
    enabled: bool,
}

#[derive(Template)]
#[template(path = "applications.html")]
struct ApplicationsPage {
    shell: Shell,
    env_id: String,
    env_name: String,
    applications: Vec<ApplicationView>,
    /// The list could not be read.
    list_problem: Option<String>,
    /// What was typed, kept when the form is shown again.
    name: String,
    description: String,
    name_error: Option<String>,
    description_error: Option<String>,
    /// The manager refused or failed the creation.
    create_problem: Option<String>,
    max_name: usize,
    max_description: usize,
}

pub async fn applications(
    state: web::Data<AppState>,
    path: web::Path<String>,
    signed_in: SignedIn,
) -> Result<HttpResponse, WebError> {
    let mut session = signed_in.0;
    let joined = match portal::joined(&state, &mut session, &path).await? {
        Ok(joined) => joined,
        Err(page) => return Ok(page),
    };
    page(&state, &mut session, &joined, Form::default(), StatusCode::OK).await
}

/// What the form shows again after a failed attempt.
#[derive(Default)]
struct Form {
    name: String,
    description: String,
    name_error: Option<String>,
    description_error: Option<String>,
    create_problem: Option<String>,
}

pub async fn create_application(
    state: web::Data<AppState>,
    path: web::Path<String>,
    signed_in: SignedIn,
    form: web::Form<ApplicationForm>,
) -> Result<HttpResponse, WebError> {
    let mut session = signed_in.0;
    let form = form.into_inner();
    check_csrf(&session.data, &form.csrf_token)?;
    let joined = match portal::joined(&state, &mut session, &path).await? {
        Ok(joined) => joined,
        Err(page) => return Ok(page),
    };
    let name = form.name.trim().to_owned();
    let description = form.description.trim().to_owned();
    let mut shown = Form { name: name.clone(), description: description.clone(), ..Form::default() };
    shown.name_error = validate_name(&name);
    shown.description_error = validate_description(&description);
    if shown.name_error.is_some() || shown.description_error.is_some() {
        return page(&state, &mut session, &joined, shown, StatusCode::BAD_REQUEST).await;
    }

    let request = NewApplication {
        name: name.clone(),
        description: (!description.is_empty()).then_some(description),
        // The organization the user was mapped to on this environment at sign-in.
        organization_id: joined.organization_id.clone(),
    };
    match joined.env.client.create_application(joined.creds(), &request).await {
        Ok(created) => {
            tracing::info!(manager = %joined.env.id(), application = %created.id, "application created");
            session.data.notice = Some(Notice {
                success: true,
                text: format!("Application “{}” created on {}.", created.name, joined.env.name()),
            });
            state.sessions().save(&session).await?;
            Ok(see_other(&format!("/environments/{}/applications", joined.env.id())))
        }
        Err(ManagerError::SessionExpired) => portal::session_ended(&state, &mut session, &joined.env).await,
        Err(e) => {
            let env_name = joined.env.name();
            shown.create_problem = Some(match &e {
                ManagerError::Forbidden => {
                    format!("{env_name} did not allow you to create an application in your organization.")
                }
                ManagerError::UnexpectedStatus(400 | 409 | 422) => {
                    format!("{env_name} refused this application ({e}). Check the name and try again.")
                }
                e if e.is_unavailable() => {
                    format!(
                        "{env_name} is unavailable: {e}. Your application was not created; try again in a moment."
                    )
                }
                e => format!("{env_name} could not create the application: {e}."),
            });
            let status = match &e {
                ManagerError::Forbidden => StatusCode::FORBIDDEN,
                e => manager_status(e),
            };
            page(&state, &mut session, &joined, shown, status).await
        }
    }
}

pub(super) fn validate_name(name: &str) -> Option<String> {
    if name.is_empty() {
        Some("Enter a name for the application.".to_owned())
    } else if name.chars().count() > MAX_NAME_CHARS {
        Some(format!("The name is too long: at most {MAX_NAME_CHARS} characters."))
    } else if name.chars().any(char::is_control) {
        Some("The name cannot contain control characters such as line breaks.".to_owned())
    } else {
        None
    }
}

pub(super) fn validate_description(description: &str) -> Option<String> {
    (description.chars().count() > MAX_DESCRIPTION_CHARS)
        .then(|| format!("The description is too long: at most {MAX_DESCRIPTION_CHARS} characters."))
}

/// The list (read as the user) and the form.
async fn page(
    state: &AppState,
    session: &mut Session<PortalSession>,
    joined: &JoinedEnvironment,
    form: Form,
    status: StatusCode,
) -> Result<HttpResponse, WebError> {
    let (applications, list_problem) = match joined.env.client.applications(joined.creds()).await {
        // The service credential sees every organization's: keep the user's organization's.
        Ok(list) if joined.is_service() => {
            let own = list.into_iter().filter(|a| a.organization_id == joined.organization_id).collect();
            (views(joined.env.id(), own), None)
        }
        Ok(list) => (views(joined.env.id(), list), None),
        Err(ManagerError::SessionExpired) => return portal::session_ended(state, session, &joined.env).await,
        Err(e) => (Vec::new(), Some((manager_status(&e), e))),
    };
    let status = match &list_problem {
        Some((list_status, _)) if status == StatusCode::OK => *list_status,
        _ => status,
    };
    let notice = portal::take_notice(state, session).await?;
    let env_name = joined.env.name().to_owned();
    let page = ApplicationsPage {
        shell: Shell::new(state, &session.data, Some(&joined.env), "applications", notice),
        env_id: joined.env.id().to_string(),
        list_problem: list_problem
            .map(|(_, e)| format!("Your applications on {env_name} could not be loaded: {e}.")),
        env_name,
        applications,
        name: form.name,
        description: form.description,
        name_error: form.name_error,
        description_error: form.description_error,
        create_problem: form.create_problem,
        max_name: MAX_NAME_CHARS,
        max_description: MAX_DESCRIPTION_CHARS,
    };
    render(status, &page)
}

fn views(env: &crate::domain::EnvironmentId, mut list: Vec<Application>) -> Vec<ApplicationView> {
    list.sort_by_key(|a| a.name.to_lowercase());
    list.into_iter()
        .map(|a| ApplicationView {
            href: format!("/environments/{env}/applications/{}", super::catalog::encode_segment(&a.id)),
            name: a.name,
            description: a.description.unwrap_or_default(),
            enabled: a.enabled,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_required_short_and_on_one_line() {
        assert!(validate_name("").is_some());
        assert!(validate_name(&"é".repeat(MAX_NAME_CHARS)).is_none(), "characters, not bytes");
        assert!(validate_name(&"a".repeat(MAX_NAME_CHARS + 1)).is_some());
        assert!(validate_name("a\nb").is_some());
        assert!(validate_name("Acme Mobile").is_none());
    }
}
