//! Consumer pages: sign-in and sign-out, the environments.

mod environments;
mod login;

use actix_web::web;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(environments::start))
        .route("/login", web::get().to(login::login_form))
        .route("/login", web::post().to(login::login))
        .route("/logout", web::post().to(login::logout))
        .route("/environments", web::get().to(environments::environments))
        .route("/environments/{id}/connect", web::post().to(environments::connect));
}
