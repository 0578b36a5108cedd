//! The start page.

use actix_web::web;
use askama::Template;
use askama_web::WebTemplate;

use crate::startup::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(home));
}

struct EnvironmentView {
    id: String,
    name: String,
    is_master: bool,
}

#[derive(Template, WebTemplate)]
#[template(path = "home.html")]
struct HomePage {
    label: String,
    environments: Vec<EnvironmentView>,
}

async fn home(state: web::Data<AppState>) -> HomePage {
    let environments = state
        .environments
        .all()
        .map(|env| EnvironmentView {
            id: env.id().to_string(),
            name: env.name().to_owned(),
            is_master: env.is_master,
        })
        .collect();
    HomePage { label: state.settings.federation.label.clone(), environments }
}
