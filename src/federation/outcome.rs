//! What happened when joining one environment, in words a consumer understands.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::manager::ManagerError;

/// Why an environment could not be joined. Stored in the session (shown on the picker) and
/// written to the audit log (by [`JoinFailure::kind`]); never carries a credential. Externally
/// tagged: the session's binary form cannot read an internally tagged enum.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JoinFailure {
    /// The master refused the username or password.
    WrongCredentials,
    /// A slave refused the account (it does not know it).
    AccountUnknown,
    /// The manager said the account is disabled.
    AccountDisabled,
    /// The manager refused the user (403) without saying why in words Portico recognizes.
    Forbidden,
    PasswordChangeRequired,
    /// The manager said it has no organization of the user's organization's name (empty when
    /// the name is not known).
    OrganizationMissing {
        organization: String,
    },
    Timeout,
    ConnectionRefused,
    ServerError {
        status: u16,
    },
    CertificateFailed,
    /// Unreachable, malformed answers, unexpected statuses.
    Unavailable,
    /// Not attempted: the environment was added or enabled after this sign-in.
    NotJoined,
    /// Joined at sign-in, but the manager has since ended that session (expired or closed).
    SessionEnded,
    /// The manager's service credential may not be used for the user's organization.
    NotAllowed,
}

impl JoinFailure {
    /// Classifies a manager error; `on_master` decides what a 401 means.
    pub fn from_error(error: &ManagerError, on_master: bool) -> Self {
        match error {
            ManagerError::WrongCredentials | ManagerError::SessionExpired if on_master => {
                JoinFailure::WrongCredentials
            }
            ManagerError::WrongCredentials | ManagerError::SessionExpired => JoinFailure::AccountUnknown,
            // What a 403 means is what the manager's answer said (`manager::refusal`), never a guess.
            ManagerError::AccountDisabled => JoinFailure::AccountDisabled,
            ManagerError::Forbidden => JoinFailure::Forbidden,
            ManagerError::PasswordChangeRequired => JoinFailure::PasswordChangeRequired,
            ManagerError::OrganizationMissing(organization) => {
                JoinFailure::OrganizationMissing { organization: organization.clone() }
            }
            ManagerError::Timeout(_) => JoinFailure::Timeout,
            ManagerError::ConnectionRefused => JoinFailure::ConnectionRefused,
            ManagerError::ServerError(status) => JoinFailure::ServerError { status: *status },
            ManagerError::Tls(_) => JoinFailure::CertificateFailed,
            ManagerError::NotFound
            | ManagerError::Unreachable(_)
            | ManagerError::Malformed(_)
            | ManagerError::UnexpectedStatus(_)
            | ManagerError::ServiceCredentialUnavailable
            | ManagerError::Config(_) => JoinFailure::Unavailable,
            ManagerError::ServiceCredentialRefused => JoinFailure::NotAllowed,
        }
    }

    /// The environment did not answer properly (as opposed to a decision about this user);
    /// such failures are retried by reconnecting and do not count against login protection.
    /// Whether connecting again (with the password, or the provider's token) can change this:
    /// a session that ended or was never made, an account a slave did not accept, or a manager
    /// that was unavailable — never a disabled account, a missing organization, a refusal or a
    /// password that must be changed first.
    pub fn reconnecting_can_help(&self) -> bool {
        self.is_unavailability()
            || matches!(
                self,
                JoinFailure::WrongCredentials
                    | JoinFailure::AccountUnknown
                    | JoinFailure::NotJoined
                    | JoinFailure::SessionEnded
            )
    }

    pub fn is_unavailability(&self) -> bool {
        matches!(
            self,
            JoinFailure::Timeout
                | JoinFailure::ConnectionRefused
                | JoinFailure::ServerError { .. }
                | JoinFailure::CertificateFailed
                | JoinFailure::Unavailable
        )
    }

    /// A short machine label (metrics, audit).
    pub fn kind(&self) -> &'static str {
        match self {
            JoinFailure::WrongCredentials => "wrong_credentials",
            JoinFailure::AccountUnknown => "account_unknown",
            JoinFailure::AccountDisabled => "account_disabled",
            JoinFailure::Forbidden => "forbidden",
            JoinFailure::PasswordChangeRequired => "password_change_required",
            JoinFailure::OrganizationMissing { .. } => "organization_missing",
            JoinFailure::Timeout => "timeout",
            JoinFailure::ConnectionRefused => "connection_refused",
            JoinFailure::ServerError { .. } => "server_error",
            JoinFailure::CertificateFailed => "certificate_failed",
            JoinFailure::Unavailable => "unavailable",
            JoinFailure::NotJoined => "not_joined",
            JoinFailure::SessionEnded => "session_ended",
            JoinFailure::NotAllowed => "not_allowed",
        }
    }
}

impl fmt::Display for JoinFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JoinFailure::WrongCredentials => f.write_str("wrong username or password"),
            JoinFailure::AccountUnknown => f.write_str("your account is not known on this environment"),
            JoinFailure::AccountDisabled => f.write_str("your account is disabled on this environment"),
            JoinFailure::Forbidden => f.write_str("your account is not allowed on this environment"),
            JoinFailure::PasswordChangeRequired => {
                f.write_str("your password must be changed on the master before you can sign in")
            }
            JoinFailure::OrganizationMissing { organization } if organization.is_empty() => {
                f.write_str("your organization does not exist on this environment")
            }
            JoinFailure::OrganizationMissing { organization } => {
                write!(f, "organization \"{organization}\" does not exist on this environment")
            }
            JoinFailure::Timeout => f.write_str("environment unavailable (no answer in time)"),
            JoinFailure::ConnectionRefused => f.write_str("environment unavailable (connection refused)"),
            JoinFailure::ServerError { status } => {
                write!(f, "environment unavailable (server error {status})")
            }
            JoinFailure::CertificateFailed => f.write_str("certificate verification failed"),
            JoinFailure::Unavailable => f.write_str("environment unavailable"),
            JoinFailure::NotJoined => f.write_str("not connected yet"),
            JoinFailure::SessionEnded => f.write_str("your session there has ended"),
            JoinFailure::NotAllowed => {
                f.write_str("Portico may not act for your organization on this environment")
            }
        }
    }
}
