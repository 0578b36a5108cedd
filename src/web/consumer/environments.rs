//! The environments a signed-in consumer has: joined or not (and why), which one is current,
//! and reconnecting one that was unavailable at sign-in.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use askama_web::WebTemplate;
use secrecy::SecretString;
use serde::Deserialize;

use crate::domain::EnvironmentId;
use crate::federation::{EnvironmentLink, JoinFailure, Notice, SignInError};
use crate::startup::AppState;
use crate::web::WebError;
use crate::web::client_ip::client_ip;
use crate::web::session::{self, SignedIn, check_csrf};

/// `/`: the environments for a signed-in consumer, the sign-in page otherwise.
pub async fn start(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, WebError> {
    let target = if session::load(&req, &state).await?.is_some() { "/environments" } else { "/login" };
    Ok(HttpResponse::SeeOther().insert_header((header::LOCATION, target)).finish())
}

struct EnvironmentView {
    id: String,
    name: String,
    current: bool,
    joined: bool,
    reason: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "environments.html")]
pub struct EnvironmentsPage {
    label: String,
    user_name: String,
    organization: String,
    csrf_token: String,
    notice: Option<Notice>,
    environments: Vec<EnvironmentView>,
}

pub async fn environments(
    state: web::Data<AppState>,
    signed_in: SignedIn,
) -> Result<EnvironmentsPage, WebError> {
    let mut session = signed_in.0;
    let notice = session.data.notice.take();
    if notice.is_some() {
        state.sessions.save(&session).await?;
    }
    let data = &session.data;
    let environments = state
        .environments
        .all()
        .filter(|env| env.enabled)
        .map(|env| {
            let link = data.link(env.id());
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
            }
        })
        .collect();
    Ok(EnvironmentsPage {
        label: state.settings.federation.label.clone(),
        user_name: if data.user.name.is_empty() {
            data.user.login_name.clone()
        } else {
            data.user.name.clone()
        },
        organization: data.user.organization.clone(),
        csrf_token: data.csrf_token.clone(),
        notice,
        environments,
    })
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
    let id = EnvironmentId::parse(&path.into_inner()).map_err(|_| WebError::NotFound)?;
    let env = state.environments.get(&id).filter(|e| e.enabled).ok_or(WebError::NotFound)?.clone();
    let password = SecretString::from(form.password);
    let ip = client_ip(&req, &state.settings.server.trusted_proxies);
    let result = state.federation.reconnect(&env, &state.sign_in_rules(), &session.data, &password, ip).await;
    drop(password);
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
    state.sessions.save(&session).await?;
    Ok(HttpResponse::SeeOther().insert_header((header::LOCATION, "/environments")).finish())
}
