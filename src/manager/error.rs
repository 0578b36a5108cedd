//! Every way a manager call can fail, classified so that callers can explain it to a person.

/// A failed manager call. The `Display` text is safe to show a consumer: it never contains a
/// credential, a cookie or a raw response body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManagerError {
    /// 401 on login: the manager rejected the username or password.
    #[error("wrong username or password")]
    WrongCredentials,
    /// 401 on an authenticated call: the manager session is no longer valid.
    #[error("the manager session has ended")]
    SessionExpired,
    /// 403 that says nothing Portico recognizes (or on a call other than a login).
    #[error("not allowed")]
    Forbidden,
    /// 403 whose answer says the account is disabled.
    #[error("the account is disabled")]
    AccountDisabled,
    /// The manager has no organization with the user's organization name (empty when the
    /// manager's answer did not name it plausibly).
    #[error("{}", organization_missing(.0))]
    OrganizationMissing(String),
    /// 409 on login.
    #[error("the password must be changed on the manager first")]
    PasswordChangeRequired,
    /// 404 on a resource.
    #[error("not found")]
    NotFound,
    #[error("no answer within {0:?}")]
    Timeout(std::time::Duration),
    #[error("connection refused")]
    ConnectionRefused,
    /// Any other network-level failure (DNS, reset, …).
    #[error("unreachable: {0}")]
    Unreachable(String),
    #[error("server error (HTTP {0})")]
    ServerError(u16),
    #[error("certificate verification failed: {0}")]
    Tls(String),
    /// The manager answered something that does not follow the protocol.
    #[error("malformed response: {0}")]
    Malformed(String),
    /// A status the protocol does not define for this call.
    #[error("unexpected HTTP status {0}")]
    UnexpectedStatus(u16),
    /// The manager's service credential may not be used for this user's organization (its
    /// connection's access policy); the admin sees the policy and the refusal.
    #[error("Portico may not act for your organization on this environment")]
    ServiceCredentialRefused,
    /// No token could be had for the manager's service credential.
    #[error("environment unavailable (its service credential cannot be used now)")]
    ServiceCredentialUnavailable,
    /// The endpoint itself is misconfigured (bad CA file, bad URL).
    #[error("configuration: {0}")]
    Config(String),
}

impl ManagerError {
    /// The manager could not be reached or did not behave: it is "unavailable", as opposed to
    /// a decision about this user.
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            ManagerError::Timeout(_)
                | ManagerError::ConnectionRefused
                | ManagerError::Unreachable(_)
                | ManagerError::ServerError(_)
                | ManagerError::Tls(_)
                | ManagerError::Malformed(_)
        )
    }

    /// A short label for metrics and logs: `wrong_credentials`, `timeout`, …
    pub fn kind(&self) -> &'static str {
        match self {
            ManagerError::WrongCredentials => "wrong_credentials",
            ManagerError::SessionExpired => "session_expired",
            ManagerError::Forbidden => "forbidden",
            ManagerError::AccountDisabled => "account_disabled",
            ManagerError::OrganizationMissing(_) => "organization_missing",
            ManagerError::PasswordChangeRequired => "password_change_required",
            ManagerError::NotFound => "not_found",
            ManagerError::Timeout(_) => "timeout",
            ManagerError::ConnectionRefused => "connection_refused",
            ManagerError::Unreachable(_) => "unreachable",
            ManagerError::ServerError(_) => "server_error",
            ManagerError::Tls(_) => "tls",
            ManagerError::Malformed(_) => "malformed",
            ManagerError::UnexpectedStatus(_) => "unexpected_status",
            ManagerError::ServiceCredentialRefused => "service_credential_refused",
            ManagerError::ServiceCredentialUnavailable => "service_credential_unavailable",
            ManagerError::Config(_) => "config",
        }
    }
}

fn organization_missing(name: &str) -> String {
    if name.is_empty() {
        "the organization does not exist there".to_owned()
    } else {
        format!("organization \"{name}\" does not exist there")
    }
}
