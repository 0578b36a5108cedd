//! The `openidconnect` types Portico uses: the core profile, with every claim of the ID token
//! kept (the username and organization claims are configurable) and the provider's
//! `end_session_endpoint` read from discovery.

use openidconnect::core::{
    CoreAuthDisplay, CoreAuthPrompt, CoreClaimName, CoreClaimType, CoreClientAuthMethod,
    CoreErrorResponseType, CoreGenderClaim, CoreGrantType, CoreJsonWebKey, CoreJweContentEncryptionAlgorithm,
    CoreJweKeyManagementAlgorithm, CoreJwsSigningAlgorithm, CoreResponseMode, CoreResponseType,
    CoreRevocableToken, CoreRevocationErrorResponse, CoreSubjectIdentifierType,
    CoreTokenIntrospectionResponse, CoreTokenType,
};
use openidconnect::{
    AdditionalClaims, AdditionalProviderMetadata, Client, EmptyExtraTokenFields, EndpointMaybeSet,
    EndpointNotSet, EndpointSet, IdToken, IdTokenClaims, IdTokenFields, ProviderMetadata,
    StandardErrorResponse, StandardTokenResponse,
};
use serde::{Deserialize, Serialize};

/// Every claim of the ID token, by name (the standard ones are read from here too, so that
/// `username_claim` and `org_claim` can name any claim).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AllClaims {
    #[serde(flatten)]
    pub claims: serde_json::Map<String, serde_json::Value>,
}

impl AdditionalClaims for AllClaims {}

/// What discovery says beyond the core metadata: where to end the provider's session.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LogoutMetadata {
    #[serde(default)]
    pub end_session_endpoint: Option<url::Url>,
}

impl AdditionalProviderMetadata for LogoutMetadata {}

pub type Metadata = ProviderMetadata<
    LogoutMetadata,
    CoreAuthDisplay,
    CoreClientAuthMethod,
    CoreClaimName,
    CoreClaimType,
    CoreGrantType,
    CoreJweContentEncryptionAlgorithm,
    CoreJweKeyManagementAlgorithm,
    CoreJsonWebKey,
    CoreResponseMode,
    CoreResponseType,
    CoreSubjectIdentifierType,
>;

pub type Token =
    IdToken<AllClaims, CoreGenderClaim, CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm>;

pub type Claims = IdTokenClaims<AllClaims, CoreGenderClaim>;

pub type TokenResponse = StandardTokenResponse<
    IdTokenFields<
        AllClaims,
        EmptyExtraTokenFields,
        CoreGenderClaim,
        CoreJweContentEncryptionAlgorithm,
        CoreJwsSigningAlgorithm,
    >,
    CoreTokenType,
>;

/// A client built from discovery: authorization endpoint set, token endpoint maybe.
pub type OidcClient = Client<
    AllClaims,
    CoreAuthDisplay,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJsonWebKey,
    CoreAuthPrompt,
    StandardErrorResponse<CoreErrorResponseType>,
    TokenResponse,
    CoreTokenIntrospectionResponse,
    CoreRevocableToken,
    CoreRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// The signature algorithms accepted on ID tokens: public-key ones only. `none` and the HMAC
/// family (which would turn the client secret into a signing key) are refused.
pub const ACCEPTED_ALGORITHMS: [CoreJwsSigningAlgorithm; 9] = [
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha384,
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha512,
    CoreJwsSigningAlgorithm::RsaSsaPssSha256,
    CoreJwsSigningAlgorithm::RsaSsaPssSha384,
    CoreJwsSigningAlgorithm::RsaSsaPssSha512,
    CoreJwsSigningAlgorithm::EcdsaP256Sha256,
    CoreJwsSigningAlgorithm::EcdsaP384Sha384,
    CoreJwsSigningAlgorithm::EdDsa,
];

/// The identity provider's tokens of one portal session (kept sealed with the session, as their
/// bytes: `crate::compact`; no field left out when empty, for the session's binary form).
#[derive(Clone, Serialize, Deserialize)]
pub struct SsoTokens {
    #[serde(with = "crate::compact::text")]
    pub access_token: String,
    #[serde(with = "crate::compact::optional_text")]
    pub refresh_token: Option<String>,
    /// When the access token expires (ms since the epoch, Portico's clock); `None` when the
    /// provider did not say.
    pub expires_at_ms: Option<i64>,
    /// The ID token, sent back as `id_token_hint` when signing out at the provider.
    #[serde(with = "crate::compact::text")]
    pub id_token: String,
    /// Whom the provider signed in, and in which of its sessions: what a back-channel logout
    /// names. (`None` for sessions started before Portico kept it.)
    #[serde(default)]
    pub signed_in_as: Option<ProviderSession>,
}

/// The provider's side of a single sign-on, from the ID token: its issuer, the user's subject
/// (`sub`) and, when the provider sends one, its session id (`sid`).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderSession {
    pub issuer: String,
    pub subject: String,
    #[serde(default)]
    pub sid: Option<String>,
}

impl std::fmt::Debug for ProviderSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // A user id and a session id of the provider: not for logs.
        f.debug_struct("ProviderSession").field("issuer", &self.issuer).finish_non_exhaustive()
    }
}

impl std::fmt::Debug for SsoTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SsoTokens").field("expires_at_ms", &self.expires_at_ms).finish_non_exhaustive()
    }
}
