//! What every admin page shares: the layout's data (who is signed in, the section, the one-time
//! message), rendering, and writing the audit log.

use actix_web::HttpRequest;

use super::access::{Admin, Flash, take_flash};
use crate::state::AppState;
use crate::store::DatabaseError;
use crate::web::WebError;
use crate::web::client_ip::client_ip;

pub(crate) use crate::web::audit;
pub use crate::web::consumer::portal::{ago, render, see_other};

/// The admin layout's data (`templates/admin/layout.html`).
pub struct Shell {
    pub admin: String,
    pub csrf_token: String,
    /// `dashboard`, `slaves`, `credentials`, `settings` or `audit`: the navigation entry that is current.
    pub section: &'static str,
    pub flash: Option<Flash>,
}

impl Shell {
    /// The layout for `admin`'s page in `section`, taking the one-time message.
    pub async fn new(state: &AppState, admin: &Admin, section: &'static str) -> Result<Self, WebError> {
        Ok(Self {
            admin: admin.0.data.username.clone(),
            csrf_token: admin.0.data.csrf_token.clone(),
            section,
            flash: take_flash(state, admin).await?,
        })
    }
}

/// A database failure as the admin sees it: an opaque error page (the cause is logged).
pub fn db_error(e: DatabaseError) -> WebError {
    WebError::Unexpected(e.into())
}

/// The client address for the audit log.
pub fn client_address(req: &HttpRequest, state: &AppState) -> Option<String> {
    client_ip(req, &state.settings().server.trusted_proxies).map(|ip| ip.to_string())
}
