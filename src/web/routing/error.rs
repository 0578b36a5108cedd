//! Why a routed call was not forwarded, answered in the manager's own error shape
//! (`{"errors":[{"code":…,"message":"…"}]}`), since API clients read these, not people.

use hyper::header::{self, HeaderValue};
use hyper::{Response, StatusCode};

use crate::web::front::Body;

use crate::manager::ManagerError;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum RouteError {
    #[error("Sign in to the portal first.")]
    SignedOut,
    #[error("This environment does not exist.")]
    UnknownEnvironment,
    #[error("Missing or wrong X-CSRF-Token header: send the portal session's CSRF token.")]
    Csrf,
    #[error("The method {0} cannot be routed to a manager.")]
    MethodNotAllowed(String),
    #[error("This path cannot be routed to a manager.")]
    BadPath,
    /// The manager's sign-in, sign-out and password endpoints: the portal holds the manager
    /// sessions, and a routed call must never become a way to test a password.
    #[error("The manager's sign-in and password endpoints are not routed: use the portal's own pages.")]
    CredentialEndpoint,
    #[error("No environment is selected. Choose one on the environments page.")]
    NoCurrentEnvironment,
    #[error("You are not connected to {0}. Connect it on the environments page.")]
    NotJoined(String),
    /// Signed in with single sign-on in `service` mode: the manager's service credential is
    /// never lent to a caller's own calls, whose answers Portico could not scope.
    #[error("API calls to {0} cannot be routed for this sign-in: use the portal's pages.")]
    NotRoutable(String),
    #[error("{environment} did not answer in time.")]
    ManagerTimeout { environment: String },
    /// `reason` is a [`ManagerError`]'s text, which is safe to show.
    #[error("{environment} is unavailable: {reason}.")]
    ManagerUnavailable { environment: String, reason: String },
    #[error("The session store is unavailable. Please try again in a moment.")]
    StoreUnavailable,
    #[error("Something went wrong on our side.")]
    Unexpected(#[source] anyhow::Error),
}

impl RouteError {
    /// A transport failure calling `environment`: a timeout is 504, anything else 502.
    pub fn manager(environment: &str, error: &ManagerError) -> Self {
        match error {
            ManagerError::Timeout(_) => RouteError::ManagerTimeout { environment: environment.to_owned() },
            other => RouteError::ManagerUnavailable {
                environment: environment.to_owned(),
                reason: other.to_string(),
            },
        }
    }
}

impl From<StoreError> for RouteError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(_) => RouteError::StoreUnavailable,
            other => RouteError::Unexpected(other.into()),
        }
    }
}

impl From<crate::sso::OidcError> for RouteError {
    /// A failed token refresh: the provider no longer vouches for the user (401: sign in
    /// again), or it could not be asked.
    fn from(e: crate::sso::OidcError) -> Self {
        use crate::sso::OidcError;
        match e {
            OidcError::Store(_) => RouteError::StoreUnavailable,
            OidcError::TokenRefused(_) | OidcError::UnknownState => RouteError::SignedOut,
            other => RouteError::ManagerUnavailable {
                environment: "The identity provider".to_owned(),
                reason: other.to_string(),
            },
        }
    }
}

impl RouteError {
    fn status(&self) -> StatusCode {
        match self {
            RouteError::SignedOut => StatusCode::UNAUTHORIZED,
            RouteError::UnknownEnvironment => StatusCode::NOT_FOUND,
            RouteError::Csrf | RouteError::NotRoutable(_) | RouteError::CredentialEndpoint => {
                StatusCode::FORBIDDEN
            }
            RouteError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            RouteError::BadPath => StatusCode::BAD_REQUEST,
            RouteError::NoCurrentEnvironment | RouteError::NotJoined(_) => StatusCode::CONFLICT,
            RouteError::ManagerTimeout { .. } => StatusCode::GATEWAY_TIMEOUT,
            RouteError::ManagerUnavailable { .. } => StatusCode::BAD_GATEWAY,
            RouteError::StoreUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            RouteError::Unexpected(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The answer: the status, and the error in the manager's shape.
    pub fn into_response(self) -> Response<Body> {
        let status = self.status();
        if let RouteError::Unexpected(cause) = &self {
            // (The log line carries the request id: the caller sees it in `X-Request-Id`.)
            tracing::error!(error = ?cause, "unexpected error");
        }
        let body = serde_json::json!({
            "errors": [{ "code": status.as_u16(), "message": self.to_string() }]
        });
        let mut answer = Response::new(Body::full(body.to_string()));
        *answer.status_mut() = status;
        let headers = answer.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        // Answers about this portal session must not be stored by any cache on the way.
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        answer
    }
}
