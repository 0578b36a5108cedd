//! The authorization-code flow: `start` keeps `state`, `nonce`, the PKCE verifier and the return
//! path server-side (sealed, under a keyed hash of `state`, for one use within a few minutes) and
//! gives the provider's URL; `finish` takes them back once, exchanges the code and validates the
//! ID token.

use std::time::Duration;

use chrono::{DateTime, Utc};
use openidconnect::core::{CoreAuthenticationFlow, CoreJsonWebKey, CoreTokenType};
use openidconnect::{
    AuthorizationCode, CsrfToken, EmptyExtraTokenFields, IdTokenVerifier, Nonce, OAuth2TokenResponse,
    PkceCodeChallenge, PkceCodeVerifier, RequestTokenError, Scope, SignatureVerificationError,
    StandardTokenResponse,
};
use serde::{Deserialize, Serialize};
use url::Url;

use super::SsoTokens;
use super::checks::{SKEW, portico_checks};
use super::error::token_reason;
use super::types::{ACCEPTED_ALGORITHMS, Claims, OidcClient, ProviderSession, Token, TokenResponse};
use super::{Identity, OidcError, claims};
use crate::crypto::random_token;
use crate::domain::SessionUser;

/// How long a started sign-in may take at the provider.
const PENDING_TTL: Duration = Duration::from_secs(10 * 60);

/// A started sign-in: where to send the browser, and the value of the cookie that ties the
/// callback to this browser.
pub struct Started {
    pub url: Url,
    pub browser_binding: String,
}

/// The provider's redirect back to Portico (`GET /auth/callback`).
#[derive(Debug, Default, Deserialize)]
pub struct Callback {
    pub state: Option<String>,
    pub code: Option<String>,
    pub error: Option<String>,
    pub error_description: Option<String>,
    /// RFC 9207: the issuer that answers (checked when present).
    pub iss: Option<String>,
}

/// A completed sign-in at the provider.
pub struct Finished {
    pub user: SessionUser,
    pub tokens: SsoTokens,
    pub return_to: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct Pending {
    nonce: String,
    pkce_verifier: String,
    return_to: Option<String>,
    /// Keyed hash of the browser binding cookie.
    browser: String,
}

impl Identity {
    fn state_key(&self, state: &str) -> String {
        format!("oidc:state:{}", self.keys.lookup_hash("oidc-state", state.as_bytes()))
    }

    /// Starts a sign-in; `return_to` is where the user goes afterwards (a local path).
    pub async fn start(&self, return_to: Option<String>) -> Result<Started, OidcError> {
        let client = self.provider.client(self.provider.metadata().await?);
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut request = client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .set_pkce_challenge(challenge);
        for scope in self.settings.scopes.iter().filter(|s| s.as_str() != "openid") {
            request = request.add_scope(Scope::new(scope.clone()));
        }
        if let Some(resource) = &self.settings.resource {
            request = request.add_extra_param("resource", resource.clone());
        }
        let (url, state, nonce) = request.url();
        let browser_binding = random_token(32);
        let pending = Pending {
            nonce: nonce.secret().clone(),
            pkce_verifier: verifier.secret().clone(),
            return_to,
            browser: self.keys.lookup_hash("oidc-browser", browser_binding.as_bytes()),
        };
        let key = self.state_key(state.secret());
        let plain = serde_json::to_vec(&pending).map_err(|e| OidcError::Store(e.to_string()))?;
        let sealed = self.keys.seal(key.as_bytes(), &plain).ok_or_else(|| OidcError::Store("seal".into()))?;
        self.kv.set(&key, &sealed, Some(PENDING_TTL)).await?;
        Ok(Started { url, browser_binding })
    }

    /// Completes a sign-in from the provider's redirect. The pending state is used up whatever
    /// happens, so a callback can never be replayed.
    pub async fn finish(
        &self,
        callback: Callback,
        browser_binding: Option<&str>,
    ) -> Result<Finished, OidcError> {
        // Until the state is one Portico issued to this browser, the request is anonymous: its
        // `error` and `error_description` are anybody's words, so they are not even read.
        let pending = self.issued_pending(callback.state.as_deref(), browser_binding).await?;
        if let Some(error) = callback.error {
            let error: String = error.chars().filter(|c| c.is_ascii_graphic()).take(64).collect();
            let description =
                callback.error_description.map(|d| d.chars().filter(|c| !c.is_control()).take(200).collect());
            return Err(OidcError::Provider { error, description });
        }
        let Some(code) = callback.code else {
            return Err(OidcError::MissingParameters);
        };
        let metadata = self.provider.metadata().await?;
        let issuer = metadata.issuer().as_str().trim_end_matches('/');
        if callback.iss.as_ref().is_some_and(|iss| iss.trim_end_matches('/') != issuer) {
            return Err(OidcError::InvalidToken("issuer"));
        }
        let client = self.provider.client(metadata);
        let response = client
            .exchange_code(AuthorizationCode::new(code))
            .map_err(|_| OidcError::ProviderUnavailable("no token endpoint".into()))?
            .set_pkce_verifier(PkceCodeVerifier::new(pending.pkce_verifier))
            .request_async(self.provider.http())
            .await
            .map_err(token_error)?;
        let id_token =
            response.extra_fields().id_token().ok_or(OidcError::InvalidToken("missing_id_token"))?;
        let claims = self.verify(client, id_token, &Nonce::new(pending.nonce)).await?;
        let user = claims::user(&self.settings, &claims)?;
        let mut tokens = self.tokens(&response, id_token.to_string(), None);
        tokens.signed_in_as = Some(provider_session(&claims));
        Ok(Finished { user, tokens, return_to: pending.return_to })
    }

    /// The sign-in `state` names, when Portico issued it to the browser that brings it back (the
    /// binding cookie). A state found is used up even when the browser does not match, so a
    /// leaked state cannot be tried twice.
    async fn issued_pending(
        &self,
        state: Option<&str>,
        browser_binding: Option<&str>,
    ) -> Result<Pending, OidcError> {
        let Some(state) = state else { return Err(OidcError::UnknownState) };
        let pending = self.take_pending(state).await?.ok_or(OidcError::UnknownState)?;
        let bound = browser_binding.map(|b| self.keys.lookup_hash("oidc-browser", b.as_bytes()));
        if bound.is_some_and(|b| crate::crypto::constant_time_eq(b.as_bytes(), pending.browser.as_bytes())) {
            Ok(pending)
        } else {
            Err(OidcError::UnknownState)
        }
    }

    async fn take_pending(&self, state: &str) -> Result<Option<Pending>, OidcError> {
        if state.len() > 512 {
            return Ok(None);
        }
        let key = self.state_key(state);
        let Some(sealed) = self.kv.take(&key).await? else { return Ok(None) };
        Ok(self.keys.open(key.as_bytes(), &sealed).and_then(|plain| serde_json::from_slice(&plain).ok()))
    }

    /// The ID token's claims when it passes every check: the crate's, then Portico's own.
    async fn verify(&self, client: OidcClient, token: &Token, nonce: &Nonce) -> Result<Claims, OidcError> {
        let claims = self.verified_by_the_crate(client, token, nonce).await?;
        portico_checks(&claims, self.provider.client_id(), DateTime::<Utc>::from(self.clock.now()))?;
        Ok(claims)
    }

    /// The claims `openidconnect` accepts; a key id not seen yet makes Portico fetch the
    /// provider's keys again once (key rotation) before refusing.
    async fn verified_by_the_crate(
        &self,
        client: OidcClient,
        token: &Token,
        nonce: &Nonce,
    ) -> Result<Claims, OidcError> {
        match token.claims(&self.verifier(&client), nonce) {
            Ok(claims) => return Ok(claims.clone()),
            Err(openidconnect::ClaimsVerificationError::SignatureVerification(
                SignatureVerificationError::NoMatchingKey,
            )) => {}
            Err(e) => return Err(refused(&e)),
        }
        let Some(metadata) = self.provider.refetch_keys().await? else {
            return Err(OidcError::InvalidToken("unknown_key"));
        };
        let client = self.provider.client(metadata);
        token.claims(&self.verifier(&client), nonce).cloned().map_err(|e| refused(&e))
    }

    /// The crate's verifier; `iat` is left to [`portico_checks`], so that a token issued in the
    /// future is not reported as `expired`.
    fn verifier<'a>(&self, client: &'a OidcClient) -> IdTokenVerifier<'a, CoreJsonWebKey> {
        let clock = self.clock.clone();
        client
            .id_token_verifier()
            .set_allowed_algs(ACCEPTED_ALGORITHMS)
            // `exp` is compared with a clock set back by the skew tolerated.
            .set_time_fn(move || DateTime::<Utc>::from(clock.now()) - SKEW)
    }

    /// The tokens to keep from a token response; the refresh token and ID token of `previous`
    /// stay when the response brings no new ones.
    pub(super) fn tokens(
        &self,
        response: &TokenResponse,
        id_token: String,
        previous: Option<&SsoTokens>,
    ) -> SsoTokens {
        let expires_at_ms = response.expires_in().map(|d| {
            self.clock.now_millis().saturating_add(i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        });
        SsoTokens {
            access_token: response.access_token().secret().clone(),
            refresh_token: response
                .refresh_token()
                .map(|t| t.secret().clone())
                .or_else(|| previous.and_then(|p| p.refresh_token.clone())),
            expires_at_ms,
            id_token,
            signed_in_as: previous.and_then(|p| p.signed_in_as.clone()),
        }
    }
}

/// The provider's session of a verified ID token: a back-channel logout names it by `sid` or
/// `sub` (with the issuer). `sid` is kept only as text, as the specification defines it.
fn provider_session(claims: &Claims) -> ProviderSession {
    let sid = claims.additional_claims().claims.get("sid").and_then(|v| v.as_str()).map(str::to_owned);
    ProviderSession {
        issuer: claims.issuer().as_str().to_owned(),
        subject: claims.subject().as_str().to_owned(),
        sid,
    }
}

fn refused(error: &openidconnect::ClaimsVerificationError) -> OidcError {
    let reason = token_reason(error);
    tracing::warn!(reason, error = %error, "ID token refused");
    OidcError::InvalidToken(reason)
}

/// A failed call to the token endpoint.
pub(super) fn token_error<RE: std::error::Error + 'static>(
    error: RequestTokenError<
        RE,
        openidconnect::StandardErrorResponse<openidconnect::core::CoreErrorResponseType>,
    >,
) -> OidcError {
    match error {
        RequestTokenError::ServerResponse(answer) => OidcError::TokenRefused(answer.error().to_string()),
        RequestTokenError::Request(e) => {
            tracing::warn!(error = %e, "identity provider token endpoint unreachable");
            OidcError::ProviderUnavailable("token endpoint".into())
        }
        RequestTokenError::Parse(e, body) if only_the_id_token_is_unreadable(&body) => {
            tracing::warn!(error = %e, reason = "malformed", "ID token refused");
            OidcError::InvalidToken("malformed")
        }
        RequestTokenError::Parse(e, _) => {
            tracing::warn!(error = %e, "identity provider token answer unreadable");
            OidcError::ProviderUnavailable("token answer".into())
        }
        RequestTokenError::Other(e) => {
            tracing::warn!(error = %e, "identity provider token call failed");
            OidcError::ProviderUnavailable("token endpoint".into())
        }
    }
}

/// Whether a token answer that could not be read is a complete OAuth 2.0 answer, so that only
/// its `id_token` (the one field beyond OAuth 2.0 that Portico reads) failed: not a JWT, or
/// without a claim every ID token has, such as `iss`. The provider did answer; what it vouched
/// with cannot be trusted, which is a refused token and not an outage of the provider.
fn only_the_id_token_is_unreadable(body: &[u8]) -> bool {
    serde_json::from_slice::<StandardTokenResponse<EmptyExtraTokenFields, CoreTokenType>>(body).is_ok()
}

#[cfg(test)]
mod tests {
    use super::only_the_id_token_is_unreadable;

    #[test]
    fn an_unreadable_id_token_is_told_apart_from_an_unreadable_answer() {
        let answer = |id_token: &str| {
            serde_json::json!({ "access_token": "a", "token_type": "Bearer", "id_token": id_token })
                .to_string()
        };
        assert!(only_the_id_token_is_unreadable(answer("not-a-jwt").as_bytes()));
        assert!(!only_the_id_token_is_unreadable(br#"{"token_type":"Bearer","id_token":"x"}"#));
        assert!(!only_the_id_token_is_unreadable(b"<html>Bad gateway</html>"));
    }
}
