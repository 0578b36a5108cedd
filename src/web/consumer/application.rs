//! One application on an environment, managed by its owner: `GET /environments/{id}/
//! applications/{app_id}` (what it is, the APIs it may call, its keys), `POST …` (edit),
//! and what the other changes share. Deleting, keys and API access are in
//! [`super::application_changes`].
//!
//! Every call is made as the signed-in user on that environment; an application is shown or
//! changed only when it belongs to the user's organization there (also when Portico calls with
//! the manager's service credential, which would see every organization's).

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::applications::{validate_description, validate_name};
use super::portal::{self, JoinedEnvironment, Shell, manager_status, render, see_other};
use crate::federation::{Notice, PortalSession};
use crate::manager::{ApiAccess, ApiKey, Application, ApplicationUpdate, ManagerError, OAuthClient};
use crate::state::AppState;
use crate::store::Session;
use crate::web::WebError;
use crate::web::session::{SignedIn, check_csrf};

/// An id the manager gave (application, key, access): a path segment of letters, digits and
/// `-_.~`, never `.` or `..`; anything else is not found.
pub(super) fn manager_id(raw: &str) -> Option<&str> {
    let ok = (1..=128).contains(&raw.len())
        && raw.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.~".contains(&b))
        && raw != "."
        && raw != "..";
    ok.then_some(raw)
}

/// The application `app_id` of the user's organization on the page's environment, with the
/// page to show instead when it cannot be had.
pub(super) struct Owned {
    pub joined: JoinedEnvironment,
    pub app: Application,
}

/// Finds the environment and the user's application there; `Err(page)` is the page to show
/// (not connected, not found, the manager's problem).
pub(super) async fn owned(
    state: &AppState,
    session: &mut Session<PortalSession>,
    env_raw: &str,
    app_raw: &str,
) -> Result<Result<Owned, HttpResponse>, WebError> {
    let joined = match portal::joined(state, session, env_raw).await? {
        Ok(joined) => joined,
        Err(page) => return Ok(Err(page)),
    };
    let Some(app_id) = manager_id(app_raw) else {
        return Ok(Err(not_found(state, session, &joined, app_raw).await?));
    };
    match joined.env.client.application(joined.creds(), app_id).await {
        // Another organization's application is not the user's to see, whatever the manager
        // answered.
        Ok(app) if app.organization_id == joined.organization_id && app.id == app_id => {
            Ok(Ok(Owned { joined, app }))
        }
        Ok(_) | Err(ManagerError::NotFound | ManagerError::Forbidden) => {
            Ok(Err(not_found(state, session, &joined, app_raw).await?))
        }
        Err(ManagerError::SessionExpired) => {
            Ok(Err(portal::session_ended(state, session, &joined.env).await?))
        }
        Err(e) => Ok(Err(trouble(state, session, &joined, &e).await?)),
    }
}

/// [`owned`] for a change (a form post): the CSRF token is checked first, before anything is read.
pub(super) async fn changing(
    state: &AppState,
    session: &mut Session<PortalSession>,
    csrf_token: &str,
    env_raw: &str,
    app_raw: &str,
) -> Result<Result<Owned, HttpResponse>, WebError> {
    check_csrf(&session.data, csrf_token)?;
    owned(state, session, env_raw, app_raw).await
}

#[derive(Template)]
#[template(path = "application_missing.html")]
struct MissingPage {
    shell: Shell,
    env_id: String,
    env_name: String,
    /// What was looked for, as typed in the address.
    wanted: String,
    problem: Option<String>,
}

/// The application is not one of the user's organization's on this environment.
async fn not_found(
    state: &AppState,
    session: &mut Session<PortalSession>,
    joined: &JoinedEnvironment,
    wanted: &str,
) -> Result<HttpResponse, WebError> {
    missing(state, session, joined, wanted, None, StatusCode::NOT_FOUND).await
}

/// The manager could not answer about the application.
async fn trouble(
    state: &AppState,
    session: &mut Session<PortalSession>,
    joined: &JoinedEnvironment,
    error: &ManagerError,
) -> Result<HttpResponse, WebError> {
    let text =
        format!("{} could not show this application: {error}. Try again in a moment.", joined.env.name());
    missing(state, session, joined, "", Some(text), manager_status(error)).await
}

async fn missing(
    state: &AppState,
    session: &mut Session<PortalSession>,
    joined: &JoinedEnvironment,
    wanted: &str,
    problem: Option<String>,
    status: StatusCode,
) -> Result<HttpResponse, WebError> {
    let notice = portal::take_notice(state, session).await?;
    let page = MissingPage {
        shell: Shell::new(state, &session.data, Some(&joined.env), "applications", notice),
        env_id: joined.env.id().to_string(),
        env_name: joined.env.name().to_owned(),
        wanted: wanted.chars().take(80).collect(),
        problem,
    };
    render(status, &page)
}

pub(super) struct AccessView {
    pub id: String,
    pub api_name: String,
    pub state: String,
    pub pending: bool,
}

pub(super) struct KeyView {
    pub id: String,
    /// The secret's last characters, enough to tell keys apart.
    pub hint: String,
    pub enabled: bool,
}

pub(super) struct ApiChoice {
    pub id: String,
    pub name: String,
}

#[derive(Template)]
#[template(path = "application.html")]
pub(super) struct ApplicationPage {
    pub shell: Shell,
    pub env_id: String,
    pub env_name: String,
    pub app_id: String,
    pub name: String,
    pub description: String,
    pub state: String,
    pub pending: bool,
    pub access: Vec<AccessView>,
    pub keys: Vec<KeyView>,
    pub oauth: Vec<KeyView>,
    pub choices: Vec<ApiChoice>,
    /// The other environments the user joined, to promote the application to: `(id, name)`.
    pub targets: Vec<(String, String)>,
    /// A credential just created (or a secret just renewed), shown on this page only.
    pub created: Option<Created>,
    /// What was typed in the edit form, kept when it is shown again.
    pub form_name: String,
    pub form_description: String,
    pub name_error: Option<String>,
    pub description_error: Option<String>,
    /// Something the manager refused or could not do, in the user's words.
    pub problem: Option<String>,
    /// The quota's restrictions in words (`1000 messages per 1 hour on every API`).
    pub quota: Vec<String>,
    /// Calls per hour over the last day, or why it cannot be shown.
    pub usage: Result<super::usage_chart::UsageChart, String>,
}

/// A credential's secret, on the page that made it and never again.
pub(super) struct Created {
    /// `API key` or `OAuth client`.
    pub kind: &'static str,
    pub id: String,
    pub secret: String,
}

/// What a page shows besides the application itself.
#[derive(Default)]
pub(super) struct Extras {
    pub created: Option<Created>,
    pub form: Option<(String, String, Option<String>, Option<String>)>,
    pub problem: Option<String>,
}

/// The application's page, read now from the manager.
pub(super) async fn show(
    state: &AppState,
    session: &mut Session<PortalSession>,
    owned: &Owned,
    extras: Extras,
    status: StatusCode,
) -> Result<HttpResponse, WebError> {
    let Owned { joined, app } = owned;
    let (creds, env_name) = (joined.creds(), joined.env.name().to_owned());
    let now = state.clock().now();
    let day_ago = now - std::time::Duration::from_secs(24 * 3600);
    let client = &joined.env.client;
    let ((access, keys), (oauth, usage, quota)) = futures_util::future::join(
        futures_util::future::join(client.api_access(creds, &app.id), client.api_keys(creds, &app.id)),
        futures_util::future::join3(
            client.oauth_clients(creds, &app.id),
            client.usage(creds, &app.id, day_ago, now),
            client.quota(creds, &app.id),
        ),
    )
    .await;
    // (A quota that cannot be read is left out: the rest of the page still helps.)
    let quota = quota.map(|q| q.restrictions.iter().map(restriction_text).collect()).unwrap_or_default();
    let usage = match usage {
        Ok(report) => super::usage_chart::chart(&report)
            .ok_or_else(|| format!("{env_name} has no usage figures for it yet.")),
        Err(e) => Err(format!("{env_name} could not report its usage: {e}.")),
    };
    let mut problem = extras.problem;
    let mut unreadable = |what: &str, e: &ManagerError| {
        problem.get_or_insert_with(|| format!("{env_name} could not list this application's {what}: {e}."));
    };
    let access = access.unwrap_or_else(|e| {
        unreadable("APIs", &e);
        Vec::new()
    });
    let keys = keys.unwrap_or_else(|e| {
        unreadable("keys", &e);
        Vec::new()
    });
    let oauth = oauth.unwrap_or_else(|e| {
        unreadable("OAuth clients", &e);
        Vec::new()
    });
    let catalog = super::catalog::catalog(state.catalog(), &session.data, joined).await.ok();
    let api_name = |id: &str| {
        catalog
            .as_ref()
            .and_then(|c| c.apis.iter().find(|a| a.id == id))
            .map_or_else(|| id.to_owned(), |a| a.name.clone())
    };
    let choices = catalog
        .as_ref()
        .map(|c| {
            let mut choices: Vec<ApiChoice> = c
                .apis
                .iter()
                .filter(|api| !access.iter().any(|a| a.api_id == api.id))
                .map(|api| ApiChoice { id: api.id.clone(), name: api.name.clone() })
                .collect();
            choices.sort_by_key(|c| c.name.to_lowercase());
            choices
        })
        .unwrap_or_default();
    let (form_name, form_description, name_error, description_error) = extras
        .form
        .unwrap_or_else(|| (app.name.clone(), app.description.clone().unwrap_or_default(), None, None));
    let targets = session
        .data
        .links
        .iter()
        .filter(|(id, link)| link.is_joined() && *id != joined.env.id())
        .filter_map(|(id, _)| state.environments().get(id).filter(|e| e.enabled()))
        .map(|env| (env.id().to_string(), env.name().to_owned()))
        .collect();
    let notice = portal::take_notice(state, session).await?;
    let state_word = app.state.clone().unwrap_or_else(|| "approved".to_owned());
    let page = ApplicationPage {
        shell: Shell::new(state, &session.data, Some(&joined.env), "applications", notice),
        env_id: joined.env.id().to_string(),
        env_name,
        app_id: app.id.clone(),
        name: app.name.clone(),
        description: app.description.clone().unwrap_or_default(),
        pending: state_word == "pending",
        state: state_word,
        access: access.iter().map(|a| access_view(a, &api_name)).collect(),
        keys: keys.iter().map(|k| key_view(&k.id, k.secret.as_deref(), k.enabled)).collect(),
        oauth: oauth.iter().map(|c| key_view(&c.id, c.secret.as_deref(), c.enabled)).collect(),
        choices,
        targets,
        created: extras.created,
        form_name,
        form_description,
        name_error,
        description_error,
        problem,
        usage,
        quota,
    };
    render(status, &page)
}

/// `1000 messages per 1 hour on every API` from the manager's restriction.
fn restriction_text(r: &crate::manager::QuotaRestriction) -> String {
    let get = |k: &str| r.config.get(k).map(String::as_str).unwrap_or("?");
    let amount = match r.kind.as_str() {
        "throttlemb" => format!("{} MB", get("mb")),
        _ => format!("{} messages", get("messages")),
    };
    let scope = match r.api.as_deref() {
        None | Some("*") => "on every API".to_owned(),
        Some(api) => format!("on API {api}"),
    };
    format!("{amount} per {} {} {scope}", get("per"), get("period"))
}

fn access_view(access: &ApiAccess, api_name: &impl Fn(&str) -> String) -> AccessView {
    let state = access.state.clone().unwrap_or_else(|| "approved".to_owned());
    AccessView {
        id: access.id.clone(),
        api_name: api_name(&access.api_id),
        pending: state == "pending",
        state,
    }
}

fn key_view(id: &str, secret: Option<&str>, enabled: bool) -> KeyView {
    let secret = secret.unwrap_or_default();
    let tail: String = secret.chars().rev().take(4).collect::<Vec<_>>().into_iter().rev().collect();
    KeyView {
        id: id.to_owned(),
        hint: if tail.is_empty() { String::new() } else { format!("…{tail}") },
        enabled,
    }
}

/// Records what the user did to an application in the audit log (who, environment,
/// application, what).
pub(super) async fn audit(
    state: &AppState,
    session: &PortalSession,
    owned: &Owned,
    action: &str,
    what: Option<&str>,
) {
    let actor = format!("user:{}", session.user.login_name);
    let target = format!("{}/{}", owned.joined.env.id(), owned.app.id);
    let detail = serde_json::json!({
        "environment": owned.joined.env.id().as_str(),
        "application": owned.app.id,
        "name": owned.app.name,
        "what": what,
    });
    crate::web::audit(state, &actor, action, Some(&target), Some(detail), None).await;
}

/// What a manager's refusal of an action means to the user.
pub(super) fn refusal(env_name: &str, action: &str, error: &ManagerError) -> (StatusCode, String) {
    match error {
        ManagerError::Forbidden => {
            (StatusCode::FORBIDDEN, format!("{env_name} did not allow you to {action}."))
        }
        ManagerError::NotFound => {
            (StatusCode::NOT_FOUND, format!("{env_name} no longer has it: it may have just been removed."))
        }
        ManagerError::UnexpectedStatus(400 | 409 | 422) => {
            (StatusCode::BAD_REQUEST, format!("{env_name} refused to {action} ({error})."))
        }
        e if e.is_unavailable() => (
            manager_status(e),
            format!("{env_name} is unavailable: {e}. Nothing was changed; try again in a moment."),
        ),
        e => (manager_status(e), format!("{env_name} could not {action}: {e}.")),
    }
}

pub(super) type AppPath = web::Path<(String, String)>;

pub async fn page(
    state: web::Data<AppState>,
    path: AppPath,
    signed_in: SignedIn,
) -> Result<HttpResponse, WebError> {
    let mut session = signed_in.0;
    let (env_raw, app_raw) = path.into_inner();
    match owned(&state, &mut session, &env_raw, &app_raw).await? {
        Ok(owned) => show(&state, &mut session, &owned, Extras::default(), StatusCode::OK).await,
        Err(page) => Ok(page),
    }
}

#[derive(Deserialize)]
pub struct EditForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    csrf_token: String,
}

pub async fn edit(
    state: web::Data<AppState>,
    path: AppPath,
    signed_in: SignedIn,
    form: web::Form<EditForm>,
) -> Result<HttpResponse, WebError> {
    let mut session = signed_in.0;
    let (env_raw, app_raw) = path.into_inner();
    let owned = match changing(&state, &mut session, &form.csrf_token, &env_raw, &app_raw).await? {
        Ok(owned) => owned,
        Err(page) => return Ok(page),
    };
    let (name, description) = (form.name.trim().to_owned(), form.description.trim().to_owned());
    let (name_error, description_error) = (validate_name(&name), validate_description(&description));
    if name_error.is_some() || description_error.is_some() {
        let extras =
            Extras { form: Some((name, description, name_error, description_error)), ..Extras::default() };
        return show(&state, &mut session, &owned, extras, StatusCode::BAD_REQUEST).await;
    }
    let update = ApplicationUpdate {
        id: owned.app.id.clone(),
        name: name.clone(),
        description: description.clone(),
        organization_id: owned.joined.organization_id.clone(),
    };
    match owned.joined.env.client.update_application(owned.joined.creds(), &update).await {
        Ok(saved) => {
            audit(&state, &session.data, &owned, "application.update", Some(&saved.name)).await;
            notice(&state, &mut session, format!("Application “{}” saved.", saved.name)).await?;
            Ok(see_other(&format!("/environments/{}/applications/{}", owned.joined.env.id(), owned.app.id)))
        }
        Err(ManagerError::SessionExpired) => {
            portal::session_ended(&state, &mut session, &owned.joined.env).await
        }
        Err(e) => {
            let (status, text) = refusal(owned.joined.env.name(), "save this application", &e);
            let extras = Extras {
                form: Some((name, description, None, None)),
                problem: Some(text),
                ..Extras::default()
            };
            show(&state, &mut session, &owned, extras, status).await
        }
    }
}

/// A one-time message for the next page.
pub(super) async fn notice(
    state: &AppState,
    session: &mut Session<PortalSession>,
    text: String,
) -> Result<(), WebError> {
    session.data.notice = Some(Notice { success: true, text });
    Ok(state.sessions().save(session).await?)
}

impl From<ApiKey> for Created {
    fn from(key: ApiKey) -> Self {
        Created { kind: "API key", id: key.id, secret: key.secret.unwrap_or_default() }
    }
}

impl From<OAuthClient> for Created {
    fn from(client: OAuthClient) -> Self {
        Created { kind: "OAuth client", id: client.id, secret: client.secret.unwrap_or_default() }
    }
}
