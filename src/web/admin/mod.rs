//! The admin area under `/admin`: sign-in with local admin accounts, the dashboard, slave
//! managers, credential connections, settings, caches and the audit log. Every route sits in one scope behind one guard ([`access::guard`]) that
//! requires an admin session, except the sign-in form itself.

mod access;
mod audit;
mod connection;
mod consent;
mod credentials;
mod dashboard;
mod login;
mod page;
mod sessions;
mod settings;
mod slave_auth;
mod slave_delete;
mod slave_edit;
mod slave_form;
mod slaves;

use actix_web::{middleware, web};

pub use crate::state::{ADMIN_SESSION_PREFIX, AdminAccess, admin_limits};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/admin")
            .wrap(middleware::from_fn(access::guard))
            .route("", web::get().to(dashboard::dashboard))
            .route("/", web::get().to(dashboard::dashboard))
            .route("/login", web::get().to(login::login_form))
            .route("/login", web::post().to(login::login))
            .route("/logout", web::post().to(login::logout))
            .route("/cache/purge", web::post().to(dashboard::purge))
            .route("/slaves", web::get().to(slaves::list))
            .route("/slaves", web::post().to(slave_edit::create))
            .route("/slaves/new", web::get().to(slave_edit::new_form))
            .route("/slaves/{id}", web::post().to(slave_edit::update))
            .route("/slaves/{id}/edit", web::get().to(slave_edit::edit_form))
            .route("/slaves/{id}/delete", web::get().to(slave_delete::confirm_form))
            .route("/slaves/{id}/delete", web::post().to(slave_delete::delete))
            .route("/slaves/{id}/test", web::post().to(connection::test))
            .route("/credentials", web::get().to(credentials::list))
            .route("/credentials/callback", web::get().to(consent::callback))
            .route("/credentials/{id}/connect", web::get().to(consent::connect))
            .route("/credentials/{id}/disconnect", web::post().to(credentials::disconnect))
            .route("/settings", web::get().to(settings::settings_form))
            .route("/settings", web::post().to(settings::save))
            .route("/audit", web::get().to(audit::audit_log))
            .route("/sessions", web::get().to(sessions::sessions))
            .route("/sessions/end", web::post().to(sessions::end)),
    );
}
