//! `POST /auth/backchannel-logout` (OpenID Connect Back-Channel Logout 1.0 §2.5, §2.8): the
//! identity provider posts a `logout_token`, form-encoded, server to server. There is no cookie
//! and no CSRF token: the token's signature is its authority. Every answer carries
//! `Cache-Control: no-store`: 200 once the token is valid (whether or not it named a live
//! session); 400 with a JSON error whose words say nothing of which check failed (the reason is
//! logged); 404 without `[oidc]`. The sessions ended are audited per user; refusals, which
//! anyone can cause, are logged and counted instead.

use actix_web::error::InternalError;
use actix_web::http::{StatusCode, header};
use actix_web::{HttpResponse, web};
use serde::Deserialize;

use super::login::audit;
use crate::federation::LoggedOut;
use crate::sso::{BACKCHANNEL_LOGOUT_PATH, LogoutError, MAX_LOGOUT_TOKEN_BYTES};
use crate::state::AppState;
use crate::web::client_ip::ClientAddress;

#[derive(Deserialize)]
pub struct LogoutForm {
    logout_token: String,
}

/// The route, with a form reader of its own: a bounded body, and a JSON 400 for anything that
/// is not one `logout_token` form-encoded (the pages' reader answers 403 for forms without a
/// CSRF token, which is no answer for a provider).
pub fn resource() -> actix_web::Resource {
    let forms = web::FormConfig::default().limit(MAX_LOGOUT_TOKEN_BYTES + 1024).error_handler(|e, _| {
        tracing::info!(error = %e, reason = "unreadable", "back-channel logout refused");
        crate::metrics::count(|m| &m.backchannel_logouts, &["refused"]);
        let answer = refused("invalid_request", "The request must carry one logout_token, form-encoded.");
        InternalError::from_response(e, answer).into()
    });
    web::resource(BACKCHANNEL_LOGOUT_PATH).app_data(forms).route(web::post().to(backchannel_logout))
}

pub async fn backchannel_logout(
    state: web::Data<AppState>,
    address: ClientAddress,
    form: web::Form<LogoutForm>,
) -> HttpResponse {
    let Some(identity) = state.identity() else {
        return answer(StatusCode::NOT_FOUND, Some(("not_found", "Single sign-on is not configured here.")));
    };
    match state.backchannel_logout(identity, &form.logout_token).await {
        Ok(logged_out) => {
            tracing::info!(sessions = logged_out.sessions(), "back-channel logout");
            let outcome = if logged_out.sessions() == 0 { "no_session" } else { "ended" };
            crate::metrics::count(|m| &m.backchannel_logouts, &[outcome]);
            audit_ended(&state, &logged_out, address).await;
            answer(StatusCode::OK, None)
        }
        Err(error) => {
            let outcome = match &error {
                LogoutError::Invalid("replayed") => "replayed",
                LogoutError::Invalid(_) => "refused",
                LogoutError::ProviderUnavailable | LogoutError::Store => "unavailable",
            };
            crate::metrics::count(|m| &m.backchannel_logouts, &[outcome]);
            match error {
                LogoutError::Invalid(reason) => {
                    tracing::warn!(reason, "back-channel logout refused");
                    refused("invalid_request", "The logout token is not valid.")
                }
                // The specification answers 400 to a logout that failed too; the error code
                // tells the provider that the token was not the problem.
                other => {
                    tracing::warn!(reason = other.reason(), "back-channel logout could not be completed");
                    refused(
                        "temporarily_unavailable",
                        "The logout could not be completed now. Try again later.",
                    )
                }
            }
        }
    }
}

/// One audit entry per user signed out: as their sign-in was, in their name.
async fn audit_ended(state: &AppState, logged_out: &LoggedOut, address: ClientAddress) {
    let provider = address.text();
    for (user, sessions) in &logged_out.users {
        let detail = serde_json::json!({ "method": "oidc", "sessions": sessions });
        audit(state, user, provider.as_deref(), "signout.backchannel", detail).await;
    }
}

fn refused(error: &str, description: &str) -> HttpResponse {
    answer(StatusCode::BAD_REQUEST, Some((error, description)))
}

fn answer(status: StatusCode, error: Option<(&str, &str)>) -> HttpResponse {
    let mut response = HttpResponse::build(status);
    response.insert_header((header::CACHE_CONTROL, "no-store"));
    match error {
        Some((error, description)) => {
            response.json(serde_json::json!({ "error": error, "error_description": description }))
        }
        None => response.finish(),
    }
}
