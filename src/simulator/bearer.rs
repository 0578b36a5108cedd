//! Bearer tokens: the simulator accepts access tokens of an OpenID provider, as a manager set up
//! with an external identity provider does. A token is a JWT signed by the provider (RFC 9068,
//! `typ: at+jwt`), issued for the managers' resource indicator; it is validated with the
//! provider's published keys (fetched from its discovery document, again when a token names an
//! unknown key) and mapped to a user by its username claim.

use std::sync::Mutex;

use actix_web::http::StatusCode;
use openidconnect::core::{CoreJsonWebKey, CoreJsonWebKeySet};
use openidconnect::{ClientId, IdTokenVerifier, IssuerUrl, JsonWebTokenType, Nonce};
use serde_json::json;
use url::Url;

use super::data::SimUser;
use super::slave;
use super::state::SimState;
use super::views::Refusal;
use crate::sso::types::{ACCEPTED_ALGORITHMS, Claims, Metadata, Token};

/// Which provider's tokens the simulator accepts.
#[derive(Debug, Clone)]
pub struct BearerOptions {
    /// The provider's issuer (discovery at `{issuer}/.well-known/openid-configuration`).
    pub issuer: Url,
    /// The `aud` access tokens must carry (the resource indicator).
    pub audience: String,
    /// The claim that names the user; `sub` when absent from the token.
    pub username_claim: String,
    /// The claim that names the user's organization (slaves map users by it).
    pub org_claim: String,
}

#[derive(Debug)]
pub(crate) struct BearerAuth {
    options: BearerOptions,
    http: reqwest::Client,
    keys: Mutex<Option<(IssuerUrl, CoreJsonWebKeySet)>>,
}

impl BearerAuth {
    pub fn new(options: BearerOptions) -> Self {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_default();
        Self { options, http, keys: Mutex::new(None) }
    }

    fn cached(&self) -> Option<(IssuerUrl, CoreJsonWebKeySet)> {
        self.keys.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// Discovery and the keys, fetched now.
    async fn fetch(&self) -> Result<(IssuerUrl, CoreJsonWebKeySet), Refusal> {
        let raw = self.options.issuer.as_str();
        let issuer = if self.options.issuer.path() == "/" { raw.trim_end_matches('/') } else { raw };
        let issuer = IssuerUrl::new(issuer.to_owned()).map_err(|_| unavailable())?;
        let metadata =
            Metadata::discover_async(issuer.clone(), &self.http).await.map_err(|_| unavailable())?;
        let keys = metadata.jwks().clone();
        *self.keys.lock().unwrap_or_else(std::sync::PoisonError::into_inner) =
            Some((issuer.clone(), keys.clone()));
        Ok((issuer, keys))
    }

    /// The claims of a valid token; an unknown key makes the keys be fetched once more.
    pub async fn verify(&self, token: &str) -> Result<Claims, Refusal> {
        let token: Token = token.parse().map_err(|_| Refusal::unauthorized())?;
        let (issuer, keys) = match self.cached() {
            Some(cached) => cached,
            None => self.fetch().await?,
        };
        match self.check(&token, issuer, keys) {
            Err(openidconnect::ClaimsVerificationError::SignatureVerification(
                openidconnect::SignatureVerificationError::NoMatchingKey,
            )) => {
                let (issuer, keys) = self.fetch().await?;
                self.check(&token, issuer, keys).map_err(|_| Refusal::unauthorized())
            }
            other => other.map_err(|_| Refusal::unauthorized()),
        }
    }

    fn check(
        &self,
        token: &Token,
        issuer: IssuerUrl,
        keys: CoreJsonWebKeySet,
    ) -> Result<Claims, openidconnect::ClaimsVerificationError> {
        let jose_types = ["at+jwt", "JWT"].map(|t| JsonWebTokenType::new(t.to_owned()).normalize());
        let verifier: IdTokenVerifier<'_, CoreJsonWebKey> =
            IdTokenVerifier::new_public_client(ClientId::new(self.options.audience.clone()), issuer, keys)
                .set_allowed_algs(ACCEPTED_ALGORITHMS.to_vec())
                .set_allowed_jose_types(jose_types.into_iter().flatten());
        // Access tokens carry no nonce.
        token.claims(&verifier, |_: Option<&Nonce>| Ok(())).cloned()
    }

    fn claim(&self, claims: &Claims, name: &str) -> Option<String> {
        claims.additional_claims().claims.get(name).and_then(|v| v.as_str()).map(str::to_owned)
    }

    /// The user a valid token stands for: the master's user of that name (enabled), or on a slave
    /// its shadow user in the organization of the same name.
    pub async fn user(&self, state: &SimState, token: &str) -> Result<SimUser, Refusal> {
        let claims = self.verify(token).await?;
        let login =
            self.claim(&claims, &self.options.username_claim).unwrap_or_else(|| claims.subject().to_string());
        if state.master.is_none() {
            let data = state.data();
            return data
                .user_by_login(&login)
                .filter(|u| u.enabled)
                .cloned()
                .ok_or_else(Refusal::unauthorized);
        }
        let organization = self
            .claim(&claims, &self.options.org_claim)
            .ok_or_else(|| Refusal::new(StatusCode::FORBIDDEN, "The token names no organization"))?;
        let name = self.claim(&claims, "name").unwrap_or_else(|| login.clone());
        let email = self.claim(&claims, "email");
        slave::shadow(state, &login, &name, email, crate::domain::Role::User, &organization)
    }
}

fn unavailable() -> Refusal {
    Refusal::new(StatusCode::SERVICE_UNAVAILABLE, "The identity provider is unavailable")
        .with("reason", json!("identity_provider_unavailable"))
}
