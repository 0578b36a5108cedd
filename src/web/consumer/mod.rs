//! Consumer pages: sign-in and sign-out, the environment picker, and per environment the API
//! catalog and the applications, the user's own sessions, and the identity provider's
//! back-channel logout.

pub(in crate::web) mod account;
mod application;
mod application_changes;
mod applications;
mod backchannel;
mod catalog;
mod environments;
mod login;
pub(in crate::web) mod portal;
mod promote;
mod sso;
mod try_it;
mod usage_chart;

use actix_web::web;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(environments::start))
        .route("/login", web::get().to(login::login_form))
        .route("/login", web::post().to(login::login))
        .route("/logout", web::post().to(login::logout))
        .route("/login/oidc", web::get().to(sso::start))
        .route(crate::sso::CALLBACK_PATH, web::get().to(sso::callback))
        .service(backchannel::resource())
        .route("/environments", web::get().to(environments::environments))
        .route("/environments/select", web::post().to(environments::select))
        .route("/environments/{id}/connect", web::post().to(environments::connect))
        .route("/environments/{id}/apis", web::get().to(catalog::apis))
        .route("/environments/{id}/apis/{api_id}", web::get().to(catalog::api))
        .route("/environments/{id}/apis/{api_id}/try", web::post().to(try_it::try_it))
        .route("/environments/{id}/applications", web::get().to(applications::applications))
        .route("/environments/{id}/applications", web::post().to(applications::create_application))
        .route("/environments/{id}/applications/{app_id}", web::get().to(application::page))
        .route("/environments/{id}/applications/{app_id}", web::post().to(application::edit))
        .route(
            "/environments/{id}/applications/{app_id}/delete",
            web::get().to(application_changes::confirm_delete),
        )
        .route("/environments/{id}/applications/{app_id}/delete", web::post().to(application_changes::delete))
        .route(
            "/environments/{id}/applications/{app_id}/apikeys",
            web::post().to(application_changes::create_key),
        )
        .route(
            "/environments/{id}/applications/{app_id}/apikeys/{key_id}/delete",
            web::post().to(application_changes::delete_key),
        )
        .route(
            "/environments/{id}/applications/{app_id}/apis",
            web::post().to(application_changes::request_access),
        )
        .route(
            "/environments/{id}/applications/{app_id}/oauth",
            web::post().to(application_changes::create_oauth),
        )
        .route(
            "/environments/{id}/applications/{app_id}/oauth/{client_id}/{what}",
            web::post().to(application_changes::change_oauth),
        )
        .route(
            "/environments/{id}/applications/{app_id}/promote",
            web::post().to(promote::promote_application),
        )
        .route(
            "/environments/{id}/applications/{app_id}/apis/{access_id}/delete",
            web::post().to(application_changes::remove_access),
        )
        .route("/account/sessions", web::get().to(account::sessions))
        .route("/account/sessions/end-others", web::post().to(account::end_others))
        .route("/account/sessions/{sid}/end", web::post().to(account::end));
}
