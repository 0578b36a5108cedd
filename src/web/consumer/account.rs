//! `GET /account/sessions`: where the signed-in user is signed in (when each session started,
//! when it was last seen, how, from what and roughly where, which environments it holds, and
//! which is this one), and ending one of them or all the others — with their manager sessions,
//! on every replica at once.

use std::time::{Duration, UNIX_EPOCH};

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::portal::{self, Shell, clock_time, render, see_other};
use crate::federation::{EnvironmentLink, Notice, SignInMethod, UserSession};
use crate::state::AppState;
use crate::web::WebError;
use crate::web::session::{SignedIn, check_csrf};

/// What a user (and an admin) sees of one session.
pub(in crate::web) struct SessionFacts {
    pub started: String,
    pub last_seen: String,
    pub method: &'static str,
    pub client: String,
    pub environments: String,
}

struct SessionView {
    reference: String,
    facts: SessionFacts,
    this_one: bool,
}

#[derive(Template)]
#[template(path = "account_sessions.html")]
struct SessionsPage {
    shell: Shell,
    sessions: Vec<SessionView>,
    others: usize,
}

#[derive(Deserialize)]
pub struct EndForm {
    #[serde(default)]
    csrf_token: String,
}

fn at(ms: i64) -> std::time::SystemTime {
    UNIX_EPOCH + Duration::from_millis(u64::try_from(ms).unwrap_or(0))
}

/// The facts of `session` as pages show them.
pub(in crate::web) fn facts(state: &AppState, session: &UserSession) -> SessionFacts {
    let now = state.clock().now();
    let data = &session.data;
    let client = data.client.as_ref();
    let environments = data
        .links
        .iter()
        .filter(|(_, link)| matches!(link, EnvironmentLink::Joined { .. }))
        .filter_map(|(id, _)| state.environments().get(id).map(|env| env.name().to_owned()))
        .collect::<Vec<_>>()
        .join(", ");
    SessionFacts {
        started: clock_time(now, at(session.created_at)),
        last_seen: clock_time(now, at(session.last_seen_ms)),
        method: match client.map(|c| c.method) {
            Some(SignInMethod::SingleSignOn) => "single sign-on",
            Some(SignInMethod::Password) => "password",
            None => "unknown",
        },
        client: match client {
            Some(c) => match &c.network {
                Some(network) => format!("{} · {network}", c.agent),
                None => c.agent.clone(),
            },
            None => "an unknown client".to_owned(),
        },
        environments: if environments.is_empty() { "none".to_owned() } else { environments },
    }
}

fn view(state: &AppState, session: &UserSession, current: &str) -> SessionView {
    SessionView {
        reference: session.reference.clone(),
        facts: facts(state, session),
        this_one: session.reference == current,
    }
}

pub async fn sessions(state: web::Data<AppState>, signed_in: SignedIn) -> Result<HttpResponse, WebError> {
    let mut session = signed_in.0;
    let notice = portal::take_notice(&state, &mut session).await?;
    let current = state.sessions().reference(&session.id);
    let users = state.federation().user_sessions();
    let listed = users.list(state.sessions(), &session.data.user.login_name).await?;
    let sessions: Vec<SessionView> = listed.iter().map(|s| view(&state, s, &current)).collect();
    let others = sessions.iter().filter(|s| !s.this_one).count();
    let shell = Shell::new(&state, &session.data, None, "sessions", notice);
    render(StatusCode::OK, &SessionsPage { shell, sessions, others })
}

/// Ends one of the user's sessions; a reference that is not one of theirs changes nothing (404).
pub async fn end(
    state: web::Data<AppState>,
    signed_in: SignedIn,
    path: web::Path<String>,
    form: web::Form<EndForm>,
) -> Result<HttpResponse, WebError> {
    let mut session = signed_in.0;
    check_csrf(&session.data, &form.csrf_token)?;
    let reference = path.into_inner();
    if reference == state.sessions().reference(&session.id) {
        // Ending this session is signing out.
        state.end_session(&session).await?;
        return Ok(see_other("/login"));
    }
    let users = state.federation().user_sessions();
    let environments = state.environments().snapshot();
    let login_name = session.data.user.login_name.clone();
    if !users.end(state.sessions(), &environments, &login_name, &reference).await? {
        return Err(WebError::NotFound);
    }
    notify(&state, &mut session, "The session was ended.".to_owned()).await
}

/// Ends every session of the user but this one.
pub async fn end_others(
    state: web::Data<AppState>,
    signed_in: SignedIn,
    form: web::Form<EndForm>,
) -> Result<HttpResponse, WebError> {
    let mut session = signed_in.0;
    check_csrf(&session.data, &form.csrf_token)?;
    let keep = state.sessions().reference(&session.id);
    let users = state.federation().user_sessions();
    let environments = state.environments().snapshot();
    let login_name = session.data.user.login_name.clone();
    let ended = users.end_others(state.sessions(), &environments, &login_name, &keep).await?;
    let text = match ended {
        0 => "You had no other session.".to_owned(),
        1 => "Your other session was ended.".to_owned(),
        n => format!("Your {n} other sessions were ended."),
    };
    notify(&state, &mut session, text).await
}

async fn notify(
    state: &AppState,
    session: &mut crate::store::Session<crate::federation::PortalSession>,
    text: String,
) -> Result<HttpResponse, WebError> {
    session.data.notice = Some(Notice { success: true, text });
    state.sessions().save(session).await?;
    Ok(see_other("/account/sessions"))
}
