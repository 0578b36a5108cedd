//! `GET /admin/sessions?user=NAME`: one user's portal sessions (the facts the user sees on their
//! own page), and `POST /admin/sessions/end` (field `user`): end all of them, with their manager
//! sessions, on every replica at once. Audited.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::access::{Admin, Flash, flash};
use super::page::{Shell, audit, client_address, render, see_other};
use crate::state::AppState;
use crate::web::WebError;
use crate::web::consumer::account::{SessionFacts, facts};

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

#[derive(Template)]
#[template(path = "admin/sessions.html")]
struct SessionsPage {
    shell: Shell,
    user: String,
    sessions: Vec<SessionFacts>,
}

/// A login name as typed in the form: trimmed, bounded, printable.
fn login_name(raw: &str) -> Option<String> {
    let name = raw.trim();
    (!name.is_empty() && name.len() <= 255 && !name.chars().any(char::is_control)).then(|| name.to_owned())
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
        listed.iter().map(|s| facts(&state, s)).collect()
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
