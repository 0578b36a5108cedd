//! `GET /admin/sessions?user=NAME`: one user's portal sessions (the facts the user sees on their
//! own page), and `POST /admin/sessions/end` (field `user`): end all of them, with their manager
//! sessions, on every replica at once. Audited.

use std::time::{Duration, UNIX_EPOCH};

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::access::{Admin, Flash, flash};
use super::page::{Shell, audit, client_address, render, see_other};
use crate::federation::{EnvironmentLink, SignInMethod, UserSession};
use crate::state::AppState;
use crate::web::WebError;
use crate::web::consumer::portal::clock_time;

#[derive(Deserialize)]
pub struct UserQuery {
    #[serde(default)]
    user: String,
}

#[derive(Deserialize)]
pub struct EndForm {
    #[serde(default)]
    user: String,
    #[serde(default)]
    csrf_token: String,
}

pub struct SessionRow {
    pub started: String,
    pub last_seen: String,
    pub method: &'static str,
    pub client: String,
    pub environments: String,
}

#[derive(Template)]
#[template(path = "admin/sessions.html")]
struct SessionsPage {
    shell: Shell,
    user: String,
    sessions: Vec<SessionRow>,
}

/// A login name as typed in the form: trimmed, bounded, printable.
fn login_name(raw: &str) -> Option<String> {
    let name = raw.trim();
    (!name.is_empty() && name.len() <= 255 && !name.chars().any(char::is_control)).then(|| name.to_owned())
}

fn row(state: &AppState, session: &UserSession) -> SessionRow {
    let now = state.clock().now();
    let at = |ms: i64| UNIX_EPOCH + Duration::from_millis(u64::try_from(ms).unwrap_or(0));
    let client = session.data.client.as_ref();
    let environments: Vec<String> = session
        .data
        .links
        .iter()
        .filter(|(_, link)| matches!(link, EnvironmentLink::Joined { .. }))
        .filter_map(|(id, _)| state.environments().get(id).map(|env| env.name().to_owned()))
        .collect();
    SessionRow {
        started: clock_time(now, at(session.created_at)),
        last_seen: clock_time(now, at(session.last_seen_ms)),
        method: match client.map(|c| c.method) {
            Some(SignInMethod::SingleSignOn) => "single sign-on",
            Some(SignInMethod::Password) => "password",
            None => "unknown",
        },
        client: client
            .map(|c| match &c.network {
                Some(network) => format!("{} · {network}", c.agent),
                None => c.agent.clone(),
            })
            .unwrap_or_else(|| "an unknown client".to_owned()),
        environments: if environments.is_empty() { "none".to_owned() } else { environments.join(", ") },
    }
}

pub async fn sessions(
    state: web::Data<AppState>,
    admin: Admin,
    query: web::Query<UserQuery>,
) -> Result<HttpResponse, WebError> {
    let user = login_name(&query.user).unwrap_or_default();
    let sessions = if user.is_empty() {
        Vec::new()
    } else {
        let listed = state.federation().user_sessions().list(state.sessions(), &user).await?;
        listed.iter().map(|s| row(&state, s)).collect()
    };
    let shell = Shell::new(&state, &admin, "sessions").await?;
    render(StatusCode::OK, &SessionsPage { shell, user, sessions })
}

pub async fn end(
    req: HttpRequest,
    state: web::Data<AppState>,
    admin: Admin,
    form: web::Form<EndForm>,
) -> Result<HttpResponse, WebError> {
    admin.check_csrf(&form.csrf_token)?;
    let Some(user) = login_name(&form.user) else {
        return Err(WebError::BadRequest("Name the user whose sessions to end.".to_owned()));
    };
    let environments = state.environments().snapshot();
    let users = state.federation().user_sessions();
    let ended = users.end_all(state.sessions(), &environments, &user).await?;
    let detail = serde_json::json!({ "sessions": ended });
    audit(
        &state,
        &admin.actor(),
        "sessions.end_all",
        Some(&user),
        Some(detail),
        client_address(&req, &state).as_deref(),
    )
    .await;
    let text = match ended {
        0 => format!("{user} had no session."),
        1 => format!("{user}'s session was ended."),
        n => format!("{user}'s {n} sessions were ended."),
    };
    flash(&state, &admin, Flash::ok(text)).await?;
    let query: String =
        url::form_urlencoded::Serializer::new(String::new()).append_pair("user", &user).finish();
    Ok(see_other(&format!("/admin/sessions?{query}")))
}
