//! Changing an application: `GET`/`POST /environments/{id}/applications/{app_id}/delete`
//! (delete after a confirmation step), its API keys (`POST …/apikeys`, a secret shown once on
//! the page that created it; `POST …/apikeys/{key_id}/delete`), its OAuth clients (`POST …/oauth`,
//! `POST …/oauth/{client_id}/secret` for a new secret, shown once the same way;
//! `POST …/oauth/{client_id}/delete`) and its access to APIs
//! (`POST …/apis` with `api_id`, in the state the manager decides; `POST …/apis/{access_id}/delete`).

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::application::{
    AppPath, Created, Extras, Owned, audit, changing, manager_id, notice, owned, refusal, show,
};
use super::portal::{self, Shell, render, see_other};
use crate::federation::PortalSession;
use crate::manager::ManagerError;
use crate::state::AppState;
use crate::store::Session;
use crate::web::WebError;
use crate::web::session::SignedIn;

#[derive(Template)]
#[template(path = "application_delete.html")]
struct DeletePage {
    shell: Shell,
    env_id: String,
    env_name: String,
    app_id: String,
    name: String,
    problem: Option<String>,
}

#[derive(Deserialize)]
pub struct DeleteForm {
    #[serde(default)]
    confirm: String,
    #[serde(default)]
    csrf_token: String,
}

/// `GET …/delete`: the confirmation step.
pub async fn confirm_delete(
    state: web::Data<AppState>,
    path: AppPath,
    signed_in: SignedIn,
) -> Result<HttpResponse, WebError> {
    let mut session = signed_in.0;
    let (env_raw, app_raw) = path.into_inner();
    match owned(&state, &mut session, &env_raw, &app_raw).await? {
        Ok(owned) => delete_page(&state, &session, &owned, None, StatusCode::OK),
        Err(page) => Ok(page),
    }
}

fn delete_page(
    state: &AppState,
    session: &Session<PortalSession>,
    owned: &Owned,
    problem: Option<String>,
    status: StatusCode,
) -> Result<HttpResponse, WebError> {
    let page = DeletePage {
        shell: Shell::new(state, &session.data, Some(&owned.joined.env), "applications", None),
        env_id: owned.joined.env.id().to_string(),
        env_name: owned.joined.env.name().to_owned(),
        app_id: owned.app.id.clone(),
        name: owned.app.name.clone(),
        problem,
    };
    render(status, &page)
}

/// `POST …/delete`: deletes when the confirmation was given (`confirm=yes`), else asks for it.
pub async fn delete(
    state: web::Data<AppState>,
    path: AppPath,
    signed_in: SignedIn,
    form: web::Form<DeleteForm>,
) -> Result<HttpResponse, WebError> {
    let mut session = signed_in.0;
    let (env_raw, app_raw) = path.into_inner();
    let owned = match changing(&state, &mut session, &form.csrf_token, &env_raw, &app_raw).await? {
        Ok(owned) => owned,
        Err(page) => return Ok(page),
    };
    if form.confirm != "yes" {
        return delete_page(&state, &session, &owned, None, StatusCode::OK);
    }
    match owned.joined.env.client.delete_application(owned.joined.creds(), &owned.app.id).await {
        Ok(()) => {
            audit(&state, &session.data, &owned, "application.delete", None).await;
            notice(&state, &mut session, format!("Application “{}” deleted.", owned.app.name)).await?;
            Ok(see_other(&format!("/environments/{}/applications", owned.joined.env.id())))
        }
        Err(ManagerError::SessionExpired) => {
            portal::session_ended(&state, &mut session, &owned.joined.env).await
        }
        Err(e) => {
            let (status, text) = refusal(owned.joined.env.name(), "delete this application", &e);
            delete_page(&state, &session, &owned, Some(text), status)
        }
    }
}

#[derive(Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    csrf_token: String,
}

/// `POST …/apikeys`: a new key; its secret is on this answer only (never stored by Portico,
/// never logged, `Cache-Control: no-store` as every signed-in page).
pub async fn create_key(
    state: web::Data<AppState>,
    path: AppPath,
    signed_in: SignedIn,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, WebError> {
    create_credential(&state, path, signed_in, &form, NewCredential::ApiKey).await
}

/// `POST …/oauth`: a new OAuth client; its secret is on this answer only.
pub async fn create_oauth(
    state: web::Data<AppState>,
    path: AppPath,
    signed_in: SignedIn,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, WebError> {
    create_credential(&state, path, signed_in, &form, NewCredential::OAuthClient).await
}

/// A credential an application can be given.
#[derive(Clone, Copy)]
enum NewCredential {
    ApiKey,
    OAuthClient,
}

/// Creates a credential on the manager and shows its secret, once.
async fn create_credential(
    state: &AppState,
    path: AppPath,
    signed_in: SignedIn,
    form: &CsrfForm,
    kind: NewCredential,
) -> Result<HttpResponse, WebError> {
    let mut session = signed_in.0;
    let (env_raw, app_raw) = path.into_inner();
    let owned = match changing(state, &mut session, &form.csrf_token, &env_raw, &app_raw).await? {
        Ok(owned) => owned,
        Err(page) => return Ok(page),
    };
    let (client, creds, app_id) = (&owned.joined.env.client, owned.joined.creds(), &owned.app.id);
    let (created, action, failure): (Result<Created, _>, _, _) = match kind {
        NewCredential::ApiKey => (
            client.create_api_key(creds, app_id).await.map(Created::from),
            "application.apikey.create",
            "create a key",
        ),
        NewCredential::OAuthClient => (
            client.create_oauth_client(creds, app_id).await.map(Created::from),
            "application.oauth.create",
            "create an OAuth client",
        ),
    };
    match created {
        Ok(created) => {
            audit(state, &session.data, &owned, action, Some(&created.id)).await;
            let extras = Extras { created: Some(created), ..Extras::default() };
            show(state, &mut session, &owned, extras, StatusCode::CREATED).await
        }
        Err(e) => failed(state, &mut session, &owned, failure, e).await,
    }
}

/// The application's page again with what went wrong, or the "session ended" page.
async fn failed(
    state: &AppState,
    session: &mut Session<PortalSession>,
    owned: &Owned,
    action: &str,
    error: ManagerError,
) -> Result<HttpResponse, WebError> {
    if let ManagerError::SessionExpired = error {
        return portal::session_ended(state, session, &owned.joined.env).await;
    }
    let (status, text) = refusal(owned.joined.env.name(), action, &error);
    show(state, session, owned, Extras { problem: Some(text), ..Extras::default() }, status).await
}

fn back(owned: &Owned) -> HttpResponse {
    see_other(&format!("/environments/{}/applications/{}", owned.joined.env.id(), owned.app.id))
}

/// `POST …/apikeys/{key_id}/delete`.
pub async fn delete_key(
    state: web::Data<AppState>,
    path: web::Path<(String, String, String)>,
    signed_in: SignedIn,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, WebError> {
    let mut session = signed_in.0;
    let (env_raw, app_raw, key_raw) = path.into_inner();
    let owned = match changing(&state, &mut session, &form.csrf_token, &env_raw, &app_raw).await? {
        Ok(owned) => owned,
        Err(page) => return Ok(page),
    };
    let Some(key_id) = manager_id(&key_raw) else { return Err(WebError::NotFound) };
    match owned.joined.env.client.delete_api_key(owned.joined.creds(), &owned.app.id, key_id).await {
        Ok(()) => {
            audit(&state, &session.data, &owned, "application.apikey.delete", Some(key_id)).await;
            notice(&state, &mut session, "API key deleted.".to_owned()).await?;
            Ok(back(&owned))
        }
        Err(e) => failed(&state, &mut session, &owned, "delete this key", e).await,
    }
}

#[derive(Deserialize)]
pub struct AccessForm {
    #[serde(default)]
    api_id: String,
    #[serde(default)]
    csrf_token: String,
}

/// `POST …/apis`: asks for access to an API of the user's catalog there; the manager decides
/// whether it needs approval, and the page says what it decided.
pub async fn request_access(
    state: web::Data<AppState>,
    path: AppPath,
    signed_in: SignedIn,
    form: web::Form<AccessForm>,
) -> Result<HttpResponse, WebError> {
    let mut session = signed_in.0;
    let (env_raw, app_raw) = path.into_inner();
    let owned = match changing(&state, &mut session, &form.csrf_token, &env_raw, &app_raw).await? {
        Ok(owned) => owned,
        Err(page) => return Ok(page),
    };
    let catalog = super::catalog::catalog(state.catalog(), &session.data, &owned.joined).await;
    let api = catalog.ok().and_then(|c| c.apis.into_iter().find(|a| a.id == form.api_id));
    let Some(api) = api else {
        let text = "Choose one of the APIs listed: that one is not in your catalog here.".to_owned();
        let extras = Extras { problem: Some(text), ..Extras::default() };
        return show(&state, &mut session, &owned, extras, StatusCode::BAD_REQUEST).await;
    };
    match owned.joined.env.client.request_api_access(owned.joined.creds(), &owned.app.id, &api.id).await {
        Ok(access) => {
            let state_word = access.state.unwrap_or_else(|| "approved".to_owned());
            audit(&state, &session.data, &owned, "application.api.request", Some(&api.name)).await;
            let text = if state_word == "pending" {
                format!("Access to {} requested: it waits for an administrator's approval.", api.name)
            } else {
                format!("Access to {} {state_word}.", api.name)
            };
            notice(&state, &mut session, text).await?;
            Ok(back(&owned))
        }
        Err(e) => failed(&state, &mut session, &owned, "give this application that API", e).await,
    }
}

/// `POST …/apis/{access_id}/delete`.
pub async fn remove_access(
    state: web::Data<AppState>,
    path: web::Path<(String, String, String)>,
    signed_in: SignedIn,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, WebError> {
    let mut session = signed_in.0;
    let (env_raw, app_raw, access_raw) = path.into_inner();
    let owned = match changing(&state, &mut session, &form.csrf_token, &env_raw, &app_raw).await? {
        Ok(owned) => owned,
        Err(page) => return Ok(page),
    };
    let Some(access_id) = manager_id(&access_raw) else { return Err(WebError::NotFound) };
    match owned.joined.env.client.remove_api_access(owned.joined.creds(), &owned.app.id, access_id).await {
        Ok(()) => {
            audit(&state, &session.data, &owned, "application.api.remove", Some(access_id)).await;
            notice(&state, &mut session, "Access removed.".to_owned()).await?;
            Ok(back(&owned))
        }
        Err(e) => failed(&state, &mut session, &owned, "remove this access", e).await,
    }
}

/// `POST …/oauth/{client_id}/secret` (a new secret, shown once) and `POST …/oauth/{client_id}/delete`.
pub async fn change_oauth(
    state: web::Data<AppState>,
    path: web::Path<(String, String, String, String)>,
    signed_in: SignedIn,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, WebError> {
    let mut session = signed_in.0;
    let (env_raw, app_raw, client_raw, what) = path.into_inner();
    let owned = match changing(&state, &mut session, &form.csrf_token, &env_raw, &app_raw).await? {
        Ok(owned) => owned,
        Err(page) => return Ok(page),
    };
    let Some(client_id) = manager_id(&client_raw) else { return Err(WebError::NotFound) };
    let (client, creds, app_id) = (&owned.joined.env.client, owned.joined.creds(), owned.app.id.as_str());
    match what.as_str() {
        "secret" => match client.new_oauth_secret(creds, app_id, client_id).await {
            Ok(renewed) => {
                audit(&state, &session.data, &owned, "application.oauth.secret", Some(client_id)).await;
                let extras = Extras { created: Some(renewed.into()), ..Extras::default() };
                show(&state, &mut session, &owned, extras, StatusCode::OK).await
            }
            Err(e) => failed(&state, &mut session, &owned, "give this client a new secret", e).await,
        },
        "delete" => match client.delete_oauth_client(creds, app_id, client_id).await {
            Ok(()) => {
                audit(&state, &session.data, &owned, "application.oauth.delete", Some(client_id)).await;
                notice(&state, &mut session, "OAuth client deleted.".to_owned()).await?;
                Ok(back(&owned))
            }
            Err(e) => failed(&state, &mut session, &owned, "delete this OAuth client", e).await,
        },
        _ => Err(WebError::NotFound),
    }
}
