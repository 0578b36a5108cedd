//! Web errors: expected cases map to a status and a plain message; anything unexpected is
//! logged with its cause chain and shown as an opaque page carrying the request id.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use askama::Template;

/// The current request's id, or `-` outside a request.
pub fn current_request_id() -> String {
    crate::telemetry::request::with_current(|request| request.id.to_string())
        .unwrap_or_else(|| "-".to_owned())
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
            tracing::error!(error = ?cause, "unexpected error");
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

impl From<crate::sso::OidcError> for WebError {
    /// A failed token refresh on a page: the provider no longer vouches for the user (sign in
    /// again), or it is unavailable (try again).
    fn from(e: crate::sso::OidcError) -> Self {
        use crate::sso::OidcError;
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
    web::FormConfig::default().limit(64 * 1024).error_handler(|e, _: &HttpRequest| form_error(&e).into())
}

/// Every posted form carries `csrf_token` (SPEC §5). A body that is not a readable form (no or
/// another content type, such as the `text/plain` a cross-site form can send; another charset;
/// a field twice) has no token Portico could check, so it is refused like a missing token: 403.
/// Only a body that could not be received is a plain 400.
fn form_error(error: &actix_web::error::UrlencodedError) -> WebError {
    use actix_web::error::UrlencodedError as E;
    match error {
        E::ContentType | E::Parse(_) | E::Encoding => WebError::Csrf,
        _ => WebError::BadRequest("The form could not be read.".to_owned()),
    }
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

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;
    use actix_web::{FromRequest, web};
    use proptest::prelude::*;
    use serde::Deserialize;

    /// Shaped like every posted form: each field defaults when absent.
    #[derive(Deserialize)]
    struct AnyForm {
        #[serde(default)]
        #[allow(dead_code)]
        name: String,
        #[serde(default)]
        csrf_token: String,
    }

    /// What the form extractor, configured as Portico's, makes of a posted body: the submitted
    /// token, or the status of the refusal.
    fn extract(content_type: Option<&'static str>, body: Vec<u8>) -> Result<String, u16> {
        actix_web::rt::System::new().block_on(async move {
            let mut request = TestRequest::post().app_data(super::form_config());
            if let Some(content_type) = content_type {
                request = request.insert_header(("content-type", content_type));
            }
            let (req, mut payload) = request.set_payload(body).to_http_parts();
            web::Form::<AnyForm>::from_request(&req, &mut payload)
                .await
                .map(|form| form.into_inner().csrf_token)
                .map_err(|e| e.as_response_error().status_code().as_u16())
        })
    }

    fn content_types() -> impl Strategy<Value = Option<&'static str>> {
        prop_oneof![
            Just(None),
            Just(Some("application/x-www-form-urlencoded")),
            Just(Some("application/x-www-form-urlencoded; charset=utf-8")),
            Just(Some("application/x-www-form-urlencoded; charset=latin1")),
            Just(Some("text/plain")),
            Just(Some("multipart/form-data; boundary=x")),
            Just(Some("application/json")),
        ]
    }

    proptest! {
        /// A form is read, or refused as a forgery: never the parser's 400 (SPEC §5).
        #[test]
        fn any_body_is_a_form_or_a_403(content_type in content_types(), body in proptest::collection::vec(any::<u8>(), 0..512)) {
            match extract(content_type, body) {
                Ok(_) => {}
                Err(status) => prop_assert_eq!(status, 403),
            }
        }

        /// A form without the field reads as an empty token, which no check accepts.
        #[test]
        fn a_form_without_the_field_reads_as_an_empty_token(
            pairs in proptest::collection::vec(("[a-z_]{1,12}", ".{0,20}"), 0..6)
        ) {
            let pairs: Vec<(String, String)> = pairs.into_iter().filter(|(k, _)| k != "csrf_token").collect();
            let mut unique = pairs.clone();
            unique.sort();
            unique.dedup_by(|a, b| a.0 == b.0);
            let body = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(&unique).finish();
            let token = extract(Some("application/x-www-form-urlencoded"), body.into_bytes());
            prop_assert_eq!(token, Ok(String::new()));
            prop_assert!(!crate::crypto::token_matches("a-session-token", ""));
        }
    }
}
