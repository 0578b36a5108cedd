//! `POST /environments/{id}/applications/{app_id}/promote` (field `target`): the application is
//! created in the user's organization on another environment they joined, with access requested
//! to the APIs of the same name there; the answer says per API what happened. The decision is
//! [`crate::federation::promote`]'s; this parses, calls and renders.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::application::{AppPath, Extras, audit, changing, refusal, show};
use super::portal::{self, Shell, render};
use crate::federation::{ApiOutcome, Side, promote};
use crate::manager::ManagerError;
use crate::state::AppState;
use crate::web::WebError;
use crate::web::session::SignedIn;

#[derive(Deserialize)]
pub struct PromoteForm {
    #[serde(default)]
    target: String,
    #[serde(default)]
    csrf_token: String,
}

struct OutcomeView {
    api: String,
    what: String,
    /// `ok`, `warn` or `bad`, for the badge.
    tone: &'static str,
}

#[derive(Template)]
#[template(path = "application_promoted.html")]
struct PromotedPage {
    shell: Shell,
    name: String,
    source_name: String,
    target_name: String,
    href: String,
    outcomes: Vec<OutcomeView>,
}

fn outcome_view(api: String, outcome: ApiOutcome, target: &str) -> OutcomeView {
    let (what, tone) = match outcome {
        ApiOutcome::Requested(state) if state == "pending" => {
            ("requested: waits for approval".to_owned(), "warn")
        }
        ApiOutcome::Requested(state) => (format!("requested: {state}"), "ok"),
        ApiOutcome::NotFound => {
            (format!("not found on {target}: no API of that name in your catalog there"), "bad")
        }
        ApiOutcome::Failed(e) => (format!("not requested: {target} answered {e}"), "bad"),
    };
    OutcomeView { api, what, tone }
}

pub async fn promote_application(
    state: web::Data<AppState>,
    path: AppPath,
    signed_in: SignedIn,
    form: web::Form<PromoteForm>,
) -> Result<HttpResponse, WebError> {
    let mut session = signed_in.0;
    let (env_raw, app_raw) = path.into_inner();
    let owned = match changing(&state, &mut session, &form.csrf_token, &env_raw, &app_raw).await? {
        Ok(owned) => owned,
        Err(page) => return Ok(page),
    };
    let problem = |text: String| Extras { problem: Some(text), ..Extras::default() };
    if form.target == owned.joined.env.id().as_str() {
        let extras = problem("Choose another environment to promote to.".to_owned());
        return show(&state, &mut session, &owned, extras, StatusCode::BAD_REQUEST).await;
    }
    let target = match portal::joined(&state, &mut session, &form.target).await? {
        Ok(target) => target,
        Err(page) => return Ok(page),
    };
    let source_catalog = super::catalog::catalog(state.catalog(), &session.data, &owned.joined).await;
    let target_catalog = super::catalog::catalog(state.catalog(), &session.data, &target).await;
    let granted = owned.joined.env.client.api_access(owned.joined.creds(), &owned.app.id).await;
    let (source_catalog, target_catalog, granted) = match (source_catalog, target_catalog, granted) {
        (Ok(s), Ok(t), Ok(g)) => (s, t, g),
        (_, _, Err(ManagerError::SessionExpired)) => {
            return portal::session_ended(&state, &mut session, &owned.joined.env).await;
        }
        (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => {
            let (status, text) = refusal(target.env.name(), "promote it (nothing was created)", &e);
            return show(&state, &mut session, &owned, problem(text), status).await;
        }
    };
    let source = Side {
        env: &owned.joined.env,
        access: owned.joined.access(),
        organization_id: &owned.joined.organization_id,
        catalog: &source_catalog.apis,
    };
    let to = Side {
        env: &target.env,
        access: target.access(),
        organization_id: &target.organization_id,
        catalog: &target_catalog.apis,
    };
    let promoted = match promote(&owned.app, &granted, &source, &to).await {
        Ok(promoted) => promoted,
        Err(ManagerError::SessionExpired) => {
            return portal::session_ended(&state, &mut session, &target.env).await;
        }
        Err(e) => {
            let (status, text) = refusal(target.env.name(), "create the application there", &e);
            return show(&state, &mut session, &owned, problem(text), status).await;
        }
    };
    let what = format!("to {} as {}", target.env.id(), promoted.application.id);
    audit(&state, &session.data, &owned, "application.promote", Some(&what)).await;
    let target_name = target.env.name().to_owned();
    let page = PromotedPage {
        shell: Shell::new(&state, &session.data, Some(&target.env), "applications", None),
        name: promoted.application.name.clone(),
        source_name: owned.joined.env.name().to_owned(),
        href: format!(
            "/environments/{}/applications/{}",
            target.env.id(),
            super::catalog::encode_segment(&promoted.application.id)
        ),
        outcomes: promoted.apis.into_iter().map(|(api, o)| outcome_view(api, o, &target_name)).collect(),
        target_name,
    };
    render(StatusCode::CREATED, &page)
}
