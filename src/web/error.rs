//! Web errors: expected cases map to a status and a plain message; anything unexpected is
//! logged with its cause chain and shown as an opaque page carrying the request id.

use std::fmt;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use askama::Template;

tokio::task_local! {
    /// The id of the request being served (set by `request_context`).
    pub(crate) static REQUEST_ID: RequestId;
}

/// 16 random bytes, hex: unguessable, so it can be shown to users and quoted to support.
#[derive(Clone)]
pub struct RequestId(String);

impl RequestId {
    pub fn generate() -> Self {
        let bytes: [u8; 16] = rand::random();
        Self(crate::crypto::hex(&bytes))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The current request's id, or `-` outside a request.
pub fn current_request_id() -> String {
    REQUEST_ID.try_with(|id| id.0.clone()).unwrap_or_else(|_| "-".to_owned())
}

#[derive(Debug, thiserror::Error)]
pub enum WebError {
    #[error("{0}")]
    BadRequest(String),
    #[error("This form has expired or did not come from this site. Reload the page and try again.")]
    Csrf,
    #[error("The page you asked for does not exist.")]
    NotFound,
    /// Not signed in: sent to the sign-in page (and back to `return_to` afterwards).
    #[error("Please sign in.")]
    SignInRequired { return_to: Option<String> },
    #[error("The session store is unavailable. Please try again in a moment.")]
    SessionStoreUnavailable,
    /// A service Portico depends on (the identity provider) did not answer; the text says which.
    #[error("{0}")]
    Unavailable(String),
    #[error("Something went wrong on our side.")]
    Unexpected(#[source] anyhow::Error),
}

impl WebError {
    fn title(&self) -> &'static str {
        match self {
            WebError::BadRequest(_) => "Bad request",
            WebError::Csrf => "Form expired",
            WebError::NotFound => "Not found",
            WebError::SignInRequired { .. } => "Sign in",
            WebError::SessionStoreUnavailable | WebError::Unavailable(_) => "Service unavailable",
            WebError::Unexpected(_) => "Unexpected error",
        }
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    title: &'a str,
    message: String,
    request_id: String,
    status: u16,
}

impl ResponseError for WebError {
    fn status_code(&self) -> StatusCode {
        match self {
            WebError::BadRequest(_) => StatusCode::BAD_REQUEST,
            WebError::Csrf => StatusCode::FORBIDDEN,
            WebError::NotFound => StatusCode::NOT_FOUND,
            WebError::SignInRequired { .. } => StatusCode::SEE_OTHER,
            WebError::SessionStoreUnavailable | WebError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            WebError::Unexpected(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let WebError::SignInRequired { return_to } = self {
            let location = match return_to {
                Some(path) => format!(
                    "/login?return_to={}",
                    url::form_urlencoded::byte_serialize(path.as_bytes()).collect::<String>()
                ),
                None => "/login".to_owned(),
            };
            return HttpResponse::SeeOther()
                .insert_header((actix_web::http::header::LOCATION, location))
                .finish();
        }
        let status = self.status_code();
        let request_id = current_request_id();
        if let WebError::Unexpected(cause) = self {
            tracing::error!(request_id = %request_id, error = ?cause, "unexpected error");
        }
        let page =
            ErrorPage { title: self.title(), message: self.to_string(), request_id, status: status.as_u16() };
        match page.render() {
            Ok(body) => HttpResponse::build(status).content_type("text/html; charset=utf-8").body(body),
            Err(_) => {
                HttpResponse::build(status).content_type("text/plain; charset=utf-8").body(self.to_string())
            }
        }
    }
}

impl From<crate::store::StoreError> for WebError {
    fn from(e: crate::store::StoreError) -> Self {
        match e {
            crate::store::StoreError::Unavailable(_) => WebError::SessionStoreUnavailable,
            other => WebError::Unexpected(other.into()),
        }
    }
}

impl From<crate::identity::OidcError> for WebError {
    /// A failed token refresh on a page: the provider no longer vouches for the user (sign in
    /// again), or it is unavailable (try again).
    fn from(e: crate::identity::OidcError) -> Self {
        use crate::identity::OidcError;
        match e {
            OidcError::Store(_) => WebError::SessionStoreUnavailable,
            OidcError::TokenRefused(_) | OidcError::UnknownState => {
                WebError::SignInRequired { return_to: None }
            }
            other => WebError::Unavailable(format!(
                "Your sign-in could not be renewed: {other}. Please try again in a moment."
            )),
        }
    }
}

pub(crate) async fn not_found() -> Result<HttpResponse, WebError> {
    Err(WebError::NotFound)
}

// Extractor failures become our own pages instead of the framework's text.

pub(crate) fn form_config() -> web::FormConfig {
    web::FormConfig::default().limit(64 * 1024).error_handler(|_, _: &HttpRequest| {
        WebError::BadRequest("The form could not be read.".to_owned()).into()
    })
}

pub(crate) fn query_config() -> web::QueryConfig {
    web::QueryConfig::default()
        .error_handler(|_, _| WebError::BadRequest("The query string could not be read.".to_owned()).into())
}

pub(crate) fn path_config() -> web::PathConfig {
    web::PathConfig::default().error_handler(|_, _| WebError::NotFound.into())
}

pub(crate) fn json_config() -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(1024 * 1024)
        .error_handler(|_, _| WebError::BadRequest("The JSON body could not be read.".to_owned()).into())
}
