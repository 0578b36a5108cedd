//! What every signed-in consumer page shares: the header (account, environment switcher), the
//! environment bar with its tabs, the one-time notice, and finding the environment a page is
//! about — unknown (404), not joined (a page that says so and how to reconnect), or joined.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use askama::Template;

use crate::domain::EnvironmentId;
use crate::federation::{Environment, EnvironmentLink, JoinFailure, Notice, PageAccess, PortalSession};
use crate::manager::{ManagerCredentials, ManagerError};

use crate::state::AppState;
use crate::store::Session;
use crate::web::WebError;

/// One entry of the environment switcher.
pub struct SwitchOption {
    pub id: String,
    pub name: String,
    pub selected: bool,
    pub joined: bool,
}

/// The environment a page is about, for the bar above its content.
pub struct EnvironmentBar {
    pub id: String,
    pub name: String,
}

/// The signed-in layout's data (`templates/portal.html`).
pub struct Shell {
    /// The public label of environments (`federation.label`).
    pub label: String,
    pub user_name: String,
    pub organization: String,
    pub csrf_token: String,
    pub switcher: Vec<SwitchOption>,
    pub environment: Option<EnvironmentBar>,
    /// `apis`, `applications` or empty (the picker).
    pub tab: &'static str,
    pub notice: Option<Notice>,
}

impl Shell {
    /// The layout for `session`, about environment `page_env` (the current one when `None`).
    pub fn new(
        state: &AppState,
        session: &PortalSession,
        page_env: Option<&Environment>,
        tab: &'static str,
        notice: Option<Notice>,
    ) -> Self {
        // The page's environment when it can be chosen, else the current one: the switcher never
        // shows a choice it would refuse.
        let joined = |id: &EnvironmentId| session.link(id).is_some_and(EnvironmentLink::is_joined);
        let selected =
            page_env.map(|e| e.id().clone()).filter(|id| joined(id)).or_else(|| session.current.clone());
        let switcher = state
            .environments()
            .snapshot()
            .all()
            .filter(|e| e.enabled())
            .map(|e| SwitchOption {
                id: e.id().to_string(),
                name: e.name().to_owned(),
                selected: selected.as_ref() == Some(e.id()),
                joined: joined(e.id()),
            })
            .collect();
        let user = &session.user;
        Self {
            label: state.runtime().label.clone(),
            user_name: if user.name.is_empty() { user.login_name.clone() } else { user.name.clone() },
            organization: user.organization.clone(),
            csrf_token: session.csrf_token.clone(),
            switcher,
            environment: page_env
                .map(|e| EnvironmentBar { id: e.id().to_string(), name: e.name().to_owned() }),
            tab,
            notice,
        }
    }
}

/// Takes the one-time notice out of the session (saving it only when there was one).
pub async fn take_notice(
    state: &AppState,
    session: &mut Session<PortalSession>,
) -> Result<Option<Notice>, WebError> {
    let notice = session.data.notice.take();
    if notice.is_some() {
        state.sessions().save(session).await?;
    }
    Ok(notice)
}

/// The enabled environment named by a path segment; anything else is a 404.
pub fn environment(state: &AppState, raw: &str) -> Result<Arc<Environment>, WebError> {
    let id = EnvironmentId::parse(raw).map_err(|_| WebError::NotFound)?;
    state.environments().get(&id).filter(|e| e.enabled()).ok_or(WebError::NotFound)
}

/// The user's place in an environment they are joined to.
pub struct JoinedEnvironment {
    pub env: Arc<Environment>,
    access: PageAccess,
    pub organization_id: String,
}

impl JoinedEnvironment {
    pub fn creds(&self) -> ManagerCredentials<'_> {
        self.access.credentials()
    }

    /// How this page's calls are made.
    pub fn access(&self) -> &PageAccess {
        &self.access
    }

    /// Calls go with the manager's service credential: the page scopes the answers to the
    /// user's organization itself.
    pub fn is_service(&self) -> bool {
        self.access.is_service()
    }
}

/// The environment of a page and the user's session there, or the page to show instead: a 404
/// for an unknown environment, the "not connected" page when the user is not joined to it.
pub async fn joined(
    state: &AppState,
    session: &mut Session<PortalSession>,
    raw: &str,
) -> Result<Result<JoinedEnvironment, HttpResponse>, WebError> {
    let Ok(env) = environment(state, raw) else {
        let label = state.settings().federation.label.to_lowercase();
        let raw: String = raw.chars().take(64).collect();
        let text = format!("The {label} “{raw}” does not exist, or is not offered to you.");
        let what = state.settings().federation.label.clone();
        return Ok(Err(not_found(state, session, None, &what, text).await?));
    };
    if let Some(identity) = &state.identity() {
        crate::federation::keep_fresh(identity, state.sessions(), session).await.map_err(WebError::from)?;
    }
    match session.data.page_access(&env).await {
        Ok((access, organization_id)) => Ok(Ok(JoinedEnvironment { access, organization_id, env })),
        Err(reason) => Ok(Err(not_joined(state, session, &env, &reason).await?)),
    }
}

/// A manager refused a call because the user's session there has ended: the environment is
/// marked so in the portal session, and the "not connected" page explains how to reconnect.
pub async fn session_ended(
    state: &AppState,
    session: &mut Session<PortalSession>,
    env: &Environment,
) -> Result<HttpResponse, WebError> {
    crate::federation::session_ended(state.sessions(), session, env.id()).await?;
    not_joined(state, session, env, &JoinFailure::SessionEnded).await
}

#[derive(Template)]
#[template(path = "not_found.html")]
struct NotFoundPage {
    shell: Shell,
    /// What was looked for, as a heading starts it: `Environment`, `API`, …
    what: String,
    text: String,
    /// Where to go instead: `(href, label)`.
    back: (String, String),
}

/// A page that says what was not found (`what`, in `text`), with the signed-in header kept.
pub async fn not_found(
    state: &AppState,
    session: &mut Session<PortalSession>,
    env: Option<&Environment>,
    what: &str,
    text: String,
) -> Result<HttpResponse, WebError> {
    let notice = take_notice(state, session).await?;
    let back = match env {
        Some(env) => (format!("/environments/{}/apis", env.id()), format!("The APIs of {}", env.name())),
        None => (
            "/environments".to_owned(),
            format!("Your {}s", state.settings().federation.label.to_lowercase()),
        ),
    };
    let page = NotFoundPage {
        shell: Shell::new(state, &session.data, env, "", notice),
        what: what.to_owned(),
        text,
        back,
    };
    render(StatusCode::NOT_FOUND, &page)
}

#[derive(Template)]
#[template(path = "not_joined.html")]
struct NotJoinedPage {
    shell: Shell,
    name: String,
    id: String,
    reason: String,
}

async fn not_joined(
    state: &AppState,
    session: &mut Session<PortalSession>,
    env: &Environment,
    reason: &JoinFailure,
) -> Result<HttpResponse, WebError> {
    let notice = take_notice(state, session).await?;
    let page = NotJoinedPage {
        shell: Shell::new(state, &session.data, Some(env), "", notice),
        name: env.name().to_owned(),
        id: env.id().to_string(),
        reason: reason.to_string(),
    };
    render(StatusCode::CONFLICT, &page)
}

/// A page with a status; pages of a signed-in user are never cached.
pub fn render(status: StatusCode, page: &impl Template) -> Result<HttpResponse, WebError> {
    let body = page.render().map_err(|e| WebError::Unexpected(e.into()))?;
    Ok(HttpResponse::build(status)
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .content_type("text/html; charset=utf-8")
        .body(body))
}

pub fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther().insert_header((actix_web::http::header::LOCATION, location)).finish()
}

/// The status of a page that could not get what it needed from a manager.
pub fn manager_status(error: &ManagerError) -> StatusCode {
    if error.is_unavailable() { StatusCode::SERVICE_UNAVAILABLE } else { StatusCode::BAD_GATEWAY }
}

/// `just now`, `5 minutes ago`, … between two instants of the application's clock.
pub fn ago(now: SystemTime, then: SystemTime) -> String {
    let secs = now.duration_since(then).unwrap_or(Duration::ZERO).as_secs();
    let (n, unit) = match secs {
        0..10 => return "just now".to_owned(),
        10..120 => (secs, "second"),
        120..7200 => (secs / 60, "minute"),
        7200..172_800 => (secs / 3600, "hour"),
        _ => (secs / 86_400, "day"),
    };
    format!("{n} {unit}{} ago", if n == 1 { "" } else { "s" })
}

/// `14:03 UTC` (with the date when it is not today).
pub fn clock_time(now: SystemTime, then: SystemTime) -> String {
    let at = time::OffsetDateTime::from(then);
    let today = time::OffsetDateTime::from(now).date() == at.date();
    let format = if today {
        time::macros::format_description!("[hour]:[minute] UTC")
    } else {
        time::macros::format_description!("[year]-[month]-[day] [hour]:[minute] UTC")
    };
    at.format(format).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::ago;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn ages_read_naturally() {
        let t = UNIX_EPOCH + Duration::from_secs(1_000_000);
        let at = |s: u64| t + Duration::from_secs(s);
        assert_eq!(ago(at(3), t), "just now");
        assert_eq!(ago(at(45), t), "45 seconds ago");
        assert_eq!(ago(at(60 * 12), t), "12 minutes ago");
        assert_eq!(ago(at(3600 * 3), t), "3 hours ago");
        assert_eq!(ago(at(86_400 * 3), t), "3 days ago");
        assert_eq!(ago(t, at(30)), "just now", "a future time is now");
    }
}
