//! The environment picker: every environment with whether the consumer is joined (and why not),
//! its health and which one is current; choosing one, and reconnecting one that was unavailable
//! at sign-in.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use secrecy::SecretString;
use serde::Deserialize;

use super::portal::{self, Shell, ago, render, see_other};
use crate::federation::{Credential, EnvironmentLink, JoinFailure, ManagerHealth, Notice, SignInError};
use crate::state::AppState;
use crate::web::WebError;
use crate::web::client_ip::client_ip;
use crate::web::session::{self, SignedIn, check_csrf};

/// `/`: the current environment's catalog for a signed-in consumer (the picker when none is
/// current), the sign-in page otherwise.
pub async fn start(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, WebError> {
    let target = match session::load(&req, &state).await? {
        None => "/login".to_owned(),
        Some(session) => match session.data.current.as_ref() {
            Some(id) if session.data.link(id).is_some_and(EnvironmentLink::is_joined) => {
                format!("/environments/{id}/apis")
            }
            _ => "/environments".to_owned(),
        },
    };
    Ok(see_other(&target))
}

struct HealthView {
    up: bool,
    text: String,
    checked: String,
}

struct EnvironmentView {
    id: String,
    name: String,
    current: bool,
    joined: bool,
    reason: String,
    /// Connecting again can help: the reason allows it and the manager is not down now.
    reconnectable: bool,
    /// `None` before the first probe.
    health: Option<HealthView>,
}

#[derive(Template)]
#[template(path = "environments.html")]
struct EnvironmentsPage {
    shell: Shell,
    environments: Vec<EnvironmentView>,
    /// Signed in through the identity provider: reconnecting needs no password.
    sso: bool,
}

/// The picker: every enabled environment with whether the user is joined (and why not), its
/// health, and which one is current.
pub async fn environments(state: web::Data<AppState>, signed_in: SignedIn) -> Result<HttpResponse, WebError> {
    let mut session = signed_in.0;
    let notice = portal::take_notice(&state, &mut session).await?;
    let data = &session.data;
    let now = state.clock().now();
    let environments = state
        .environments()
        .snapshot()
        .all()
        .filter(|env| env.enabled())
        .map(|env| {
            let link = data.link(env.id());
            let health = state.health().get(env.id());
            let down_now = health.as_ref().is_some_and(|h| !h.up);
            let reconnectable = !down_now
                && match link {
                    Some(EnvironmentLink::Unavailable { reason }) => reason.reconnecting_can_help(),
                    Some(EnvironmentLink::Joined { .. }) => false,
                    None => true,
                };
            EnvironmentView {
                id: env.id().to_string(),
                name: env.name().to_owned(),
                current: data.current.as_ref() == Some(env.id()),
                joined: link.is_some_and(EnvironmentLink::is_joined),
                reason: match link {
                    Some(EnvironmentLink::Unavailable { reason }) => reason.to_string(),
                    Some(EnvironmentLink::Joined { .. }) => String::new(),
                    None => JoinFailure::NotJoined.to_string(),
                },
                reconnectable,
                health: health.map(|h| health_view(&h, now)),
            }
        })
        .collect();
    let sso = data.sso.is_some();
    let page = EnvironmentsPage { shell: Shell::new(&state, data, None, "", notice), environments, sso };
    render(StatusCode::OK, &page)
}

fn health_view(health: &ManagerHealth, now: std::time::SystemTime) -> HealthView {
    let text = if health.up {
        match health.latency_text() {
            Some(latency) => format!("up · {latency}"),
            None => "up".to_owned(),
        }
    } else {
        format!("down · {}", health.last_error.as_deref().unwrap_or("no answer"))
    };
    HealthView { up: health.up, text, checked: ago(now, health.checked_at) }
}

#[derive(Deserialize)]
pub struct SelectForm {
    #[serde(default)]
    environment: String,
    #[serde(default)]
    csrf_token: String,
}

/// Makes an environment the current one (the one API calls are routed to) and remembers it for
/// the next sign-in. Only an environment the user is joined to can be chosen.
pub async fn select(
    state: web::Data<AppState>,
    signed_in: SignedIn,
    form: web::Form<SelectForm>,
) -> Result<HttpResponse, WebError> {
    let mut session = signed_in.0;
    check_csrf(&session.data, &form.csrf_token)?;
    let env = portal::environment(&state, form.environment.trim())?;
    let id = env.id().clone();
    match session.data.link(&id) {
        Some(EnvironmentLink::Joined { .. }) => {
            session.data.current = Some(id.clone());
            state.sessions().save(&session).await?;
            state.federation().preferences().remember(&session.data.user.login_name, &id).await;
            Ok(see_other(&format!("/environments/{id}/apis")))
        }
        link => {
            let reason = match link {
                Some(EnvironmentLink::Unavailable { reason }) => reason.clone(),
                _ => JoinFailure::NotJoined,
            };
            session.data.notice = Some(Notice {
                success: false,
                text: format!(
                    "{} is not connected: {reason}. Connect it with your password first.",
                    env.name()
                ),
            });
            state.sessions().save(&session).await?;
            Ok(see_other("/environments"))
        }
    }
}

#[derive(Deserialize)]
pub struct ConnectForm {
    #[serde(default)]
    password: String,
    #[serde(default)]
    csrf_token: String,
}

/// Joins an environment that could not be joined at sign-in, with the password re-entered.
pub async fn connect(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    signed_in: SignedIn,
    form: web::Form<ConnectForm>,
) -> Result<HttpResponse, WebError> {
    let mut session = signed_in.0;
    let form = form.into_inner();
    check_csrf(&session.data, &form.csrf_token)?;
    let env = portal::environment(&state, &path.into_inner())?;
    let id = env.id().clone();
    let result = match (&state.identity(), session.data.sso.is_some()) {
        // Signed in through the identity provider: no password, the sign-in's credential.
        (Some(identity), true) => {
            crate::federation::keep_fresh(identity, state.sessions(), &mut session).await?;
            let token = session.data.sso.as_ref().map(|t| t.access_token.clone()).unwrap_or_default();
            let credential =
                Credential::single_sign_on(identity.manager_auth(), &token, &session.data.user.login_name);
            state.federation().rejoin(&env, &session.data, credential).await
        }
        _ => {
            let password = SecretString::from(form.password);
            let ip = client_ip(&req, &state.settings().server.trusted_proxies);
            state.federation().reconnect(&env, &state.sign_in_rules(), &session.data, &password, ip).await
        }
    };
    let notice = match result {
        Ok(link) => {
            session.data.links.insert(id.clone(), link);
            if session.data.current.is_none() {
                session.data.current = Some(id);
            }
            Notice { success: true, text: format!("Connected to {}.", env.name()) }
        }
        Err(SignInError::Store(e)) => return Err(e.into()),
        Err(SignInError::Locked(_)) => {
            Notice { success: false, text: "Too many failed attempts. Try again later.".to_owned() }
        }
        Err(SignInError::Refused { failure, .. }) => {
            session.data.links.insert(id, EnvironmentLink::Unavailable { reason: failure.clone() });
            Notice { success: false, text: format!("{} could not be joined: {failure}.", env.name()) }
        }
        Err(SignInError::MasterUnavailable(reason)) => {
            Notice { success: false, text: format!("{} could not be joined: {reason}.", env.name()) }
        }
        Err(SignInError::PolicyNotMet { .. }) => {
            Notice { success: false, text: format!("{} could not be joined.", env.name()) }
        }
    };
    session.data.notice = Some(notice);
    state.sessions().save(&session).await?;
    Ok(see_other("/environments"))
}
