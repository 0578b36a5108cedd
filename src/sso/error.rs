//! Why a single sign-on did not complete, in words for the person signing in, and as a short
//! reason for the audit log and the metrics. Nothing here carries a token or a provider's body.

/// A failed single sign-on (or token refresh).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OidcError {
    /// The provider sent the user back with an error (`error=access_denied`, …).
    #[error("the identity provider did not sign you in ({error})")]
    Provider { error: String, description: Option<String> },
    /// The callback, with a state Portico issued, lacks `code`.
    #[error("the identity provider's answer is incomplete")]
    MissingParameters,
    /// `state` missing, unknown, expired, already used, or started in another browser: the
    /// callback is anonymous, and nothing it says is shown or audited.
    #[error("this sign-in attempt has expired or was already used")]
    UnknownState,
    /// The provider's discovery, keys or token endpoint did not answer properly.
    #[error("the identity provider is unavailable")]
    ProviderUnavailable(String),
    /// The token endpoint refused the code or the refresh token.
    #[error("the identity provider refused to issue tokens ({0})")]
    TokenRefused(String),
    /// The ID token failed validation; the reason is one of [`OidcError::kind`]'s words.
    #[error("the identity provider's answer could not be trusted ({0})")]
    InvalidToken(&'static str),
    /// A claim Portico needs is absent.
    #[error("your account at the identity provider has no {what} (claim \"{claim}\")")]
    MissingClaim { what: &'static str, claim: String },
    /// A claim Portico needs is there, but its value cannot be used.
    #[error("your {what} at the identity provider (claim \"{claim}\") {problem}")]
    UnusableClaim { what: &'static str, claim: String, problem: ClaimProblem },
    /// The session store could not keep or give back the sign-in state.
    #[error("the session store is unavailable")]
    Store(String),
}

impl OidcError {
    /// A short machine label (audit log, metrics).
    pub fn kind(&self) -> &'static str {
        match self {
            OidcError::Provider { .. } => "provider_error",
            OidcError::MissingParameters => "missing_parameters",
            OidcError::UnknownState => "unknown_state",
            OidcError::ProviderUnavailable(_) => "provider_unavailable",
            OidcError::TokenRefused(_) => "token_refused",
            OidcError::InvalidToken(_) => "invalid_token",
            OidcError::MissingClaim { .. } => "missing_claim",
            OidcError::UnusableClaim { problem, .. } => problem.kind(),
            OidcError::Store(_) => "store_unavailable",
        }
    }

    /// The detail of an invalid token (`nonce`, `signature`, …), for the audit log.
    pub fn detail(&self) -> Option<&str> {
        match self {
            OidcError::InvalidToken(reason) => Some(reason),
            OidcError::Provider { error, .. } => Some(error),
            OidcError::MissingClaim { claim, .. } | OidcError::UnusableClaim { claim, .. } => Some(claim),
            _ => None,
        }
    }
}

/// Why the value of a claim Portico needs cannot be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ClaimProblem {
    /// Longer than [`MAX_CLAIM_BYTES`].
    #[error("is longer than {MAX_CLAIM_BYTES} bytes")]
    TooLong,
    /// Control characters would reach log lines and the managers' records.
    #[error("contains control characters")]
    ControlCharacters,
}

/// The longest value of a claim Portico uses (username, organization, name, email): it bounds
/// what a provider puts into sessions, pages, the audit log and the managers' requests.
pub const MAX_CLAIM_BYTES: usize = 255;

impl ClaimProblem {
    /// The reason word of the audit log.
    pub fn kind(self) -> &'static str {
        match self {
            ClaimProblem::TooLong => "claim_too_long",
            ClaimProblem::ControlCharacters => "claim_control_characters",
        }
    }
}

impl From<crate::store::StoreError> for OidcError {
    fn from(e: crate::store::StoreError) -> Self {
        OidcError::Store(e.to_string())
    }
}

/// The reason word of a failed ID token check.
pub(crate) fn token_reason(error: &openidconnect::ClaimsVerificationError) -> &'static str {
    use openidconnect::{ClaimsVerificationError as C, SignatureVerificationError as S};
    match error {
        C::Expired(_) => "expired",
        C::InvalidAudience(_) => "audience",
        C::InvalidIssuer(_) => "issuer",
        C::InvalidNonce(_) => "nonce",
        C::InvalidAuthTime(_) | C::InvalidAuthContext(_) => "authentication_time",
        C::InvalidSubject(_) => "subject",
        C::SignatureVerification(S::NoSignature) => "unsigned",
        C::SignatureVerification(S::DisallowedAlg(_) | S::UnsupportedAlg(_)) => "algorithm",
        C::SignatureVerification(S::NoMatchingKey | S::AmbiguousKeyId(_)) => "unknown_key",
        C::SignatureVerification(_) => "signature",
        C::Unsupported(_) => "unsupported",
        _ => "invalid",
    }
}
