//! The admin area under `/admin`: sign-in with local admin accounts, the dashboard, caches and
//! the audit log. Every route sits in one scope behind one guard ([`access::guard`]) that
//! requires an admin session, except the sign-in form itself.

mod access;
mod audit;
mod dashboard;
mod login;
mod page;

use actix_web::{middleware, web};

pub use access::{ADMIN_SESSION_PREFIX, AdminAccess, admin_limits};

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
            .route("/audit", web::get().to(audit::audit_log)),
    );
}
