//! The OAuth2 requests of a connection, made with the `oauth2` crate on the project's reqwest
//! client: client credentials (RFC 6749 §4.4), the authorization request with PKCE (RFC 7636)
//! and its code exchange (§4.1), and refresh (§6). Each is bounded by the provider's timeout;
//! failures become [`CredentialError`]s that quote the provider's `error` and
//! `error_description`, never a token or secret.

use std::time::{Duration, SystemTime};

use oauth2::basic::{BasicClient, BasicErrorResponse, BasicErrorResponseType};
use oauth2::{
    AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, HttpClientError, PkceCodeChallenge,
    PkceCodeVerifier, RedirectUrl, RefreshToken, RequestTokenError, Scope, TokenResponse, TokenUrl,
};
use secrecy::{ExposeSecret, SecretString};
use url::Url;

use super::{Connection, CredentialError};

/// Assumed lifetime of an access token whose response gives no `expires_in`.
const UNSTATED_LIFETIME: Duration = Duration::from_secs(5 * 60);
/// Renew this long before expiry (or at half the token's life, when that is shorter).
const RENEW_BEFORE: Duration = Duration::from_secs(60);

/// Tokens from one successful token request.
pub struct Tokens {
    pub access: SecretString,
    pub renew_at: SystemTime,
    pub refresh: Option<SecretString>,
}

/// The start of a consent: where to send the admin's browser, and what the callback needs.
pub struct AuthorizationStart {
    pub url: Url,
    pub state: String,
    pub pkce_verifier: String,
}

type OauthError = RequestTokenError<HttpClientError<reqwest::Error>, BasicErrorResponse>;

impl Connection {
    fn client_secret(&self) -> Option<ClientSecret> {
        self.secret.as_ref().map(|s| ClientSecret::new(s.current().expose_secret().to_owned()))
    }

    fn scopes(&self) -> impl Iterator<Item = Scope> + '_ {
        self.scopes.iter().map(|s| Scope::new(s.clone()))
    }

    fn base_client(
        &self,
    ) -> BasicClient<
        oauth2::EndpointNotSet,
        oauth2::EndpointNotSet,
        oauth2::EndpointNotSet,
        oauth2::EndpointNotSet,
        oauth2::EndpointSet,
    > {
        let client = BasicClient::new(ClientId::new(self.client_id.clone()))
            .set_token_uri(TokenUrl::from_url(self.token_url.clone()));
        match self.client_secret() {
            Some(secret) => client.set_client_secret(secret),
            None => client,
        }
    }

    fn redirect_url(&self) -> RedirectUrl {
        RedirectUrl::from_url(self.ctx.redirect_url.clone())
    }

    /// A token for Portico itself (client credentials).
    pub(super) async fn client_credentials(&self) -> Result<Tokens, CredentialError> {
        let client = self.base_client();
        let mut request = client.exchange_client_credentials().add_scopes(self.scopes());
        if let Some(resource) = &self.resource {
            request = request.add_extra_param("resource", resource.as_str());
        }
        let response = self.bounded(request.request_async(&self.ctx.http)).await?;
        Ok(self.tokens(&response))
    }

    /// New tokens from a refresh token.
    pub(super) async fn refresh(&self, refresh_token: &SecretString) -> Result<Tokens, CredentialError> {
        let client = self.base_client();
        let token = RefreshToken::new(refresh_token.expose_secret().to_owned());
        let mut request = client.exchange_refresh_token(&token).add_scopes(self.scopes());
        if let Some(resource) = &self.resource {
            request = request.add_extra_param("resource", resource.as_str());
        }
        let response = self.bounded(request.request_async(&self.ctx.http)).await?;
        Ok(self.tokens(&response))
    }

    /// Where the admin's browser goes to consent, with a fresh `state` and PKCE challenge.
    pub(super) fn authorization_start(&self) -> Result<AuthorizationStart, CredentialError> {
        let Some(authorize_url) = &self.authorize_url else {
            return Err(CredentialError::Config(self.id.clone(), "no authorize_url".to_owned()));
        };
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let client = self
            .base_client()
            .set_auth_uri(AuthUrl::from_url(authorize_url.clone()))
            .set_redirect_uri(self.redirect_url());
        let mut request = client
            .authorize_url(|| CsrfToken::new(crate::crypto::random_token(32)))
            .add_scopes(self.scopes())
            .set_pkce_challenge(challenge);
        if let Some(resource) = &self.resource {
            request = request.add_extra_param("resource", resource.as_str());
        }
        let (url, state) = request.url();
        Ok(AuthorizationStart {
            url,
            state: state.secret().clone(),
            pkce_verifier: verifier.secret().clone(),
        })
    }

    /// Exchanges the authorization code the provider sent back (with the PKCE verifier).
    pub(super) async fn exchange_code(
        &self,
        code: &str,
        pkce_verifier: &str,
    ) -> Result<Tokens, CredentialError> {
        let client = self.base_client().set_redirect_uri(self.redirect_url());
        let mut request = client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .set_pkce_verifier(PkceCodeVerifier::new(pkce_verifier.to_owned()));
        if let Some(resource) = &self.resource {
            request = request.add_extra_param("resource", resource.as_str());
        }
        let response = self.bounded(request.request_async(&self.ctx.http)).await?;
        Ok(self.tokens(&response))
    }

    async fn bounded<T>(
        &self,
        request: impl std::future::Future<Output = Result<T, OauthError>>,
    ) -> Result<T, CredentialError> {
        match tokio::time::timeout(self.timeout, request).await {
            Ok(result) => result.map_err(|e| self.describe(e)),
            Err(_) => Err(CredentialError::Unreachable {
                connection: self.id.clone(),
                reason: format!("no answer within {} s", self.timeout.as_secs()),
            }),
        }
    }

    fn tokens(&self, response: &oauth2::basic::BasicTokenResponse) -> Tokens {
        let now = self.ctx.clock.now();
        let life = response.expires_in().unwrap_or(UNSTATED_LIFETIME);
        Tokens {
            access: SecretString::from(response.access_token().secret().clone()),
            renew_at: now + life - RENEW_BEFORE.min(life / 2),
            refresh: response.refresh_token().map(|t| SecretString::from(t.secret().clone())),
        }
    }

    fn describe(&self, error: OauthError) -> CredentialError {
        let connection = self.id.clone();
        match error {
            RequestTokenError::ServerResponse(answer) => {
                let code = answer.error().to_string();
                let reason = match answer.error_description() {
                    Some(description) => format!("{code}: {description}"),
                    None => code,
                };
                let consent_lost = matches!(answer.error(), BasicErrorResponseType::InvalidGrant);
                CredentialError::Provider { connection, reason, consent_lost }
            }
            RequestTokenError::Request(e) => {
                let reason = match e {
                    HttpClientError::Reqwest(e) => crate::managed_identity::retry::transport_error(&e),
                    other => other.to_string(),
                };
                CredentialError::Unreachable { connection, reason }
            }
            RequestTokenError::Parse(e, _) => CredentialError::Provider {
                connection,
                reason: format!("unreadable token response ({})", e.path()),
                consent_lost: false,
            },
            RequestTokenError::Other(what) => {
                CredentialError::Provider { connection, reason: what, consent_lost: false }
            }
        }
    }
}
