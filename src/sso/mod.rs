//! Single sign-on through an external OpenID Connect provider (SPEC §3.2) — the
//! relying party (authorization code with PKCE, `state` and `nonce` kept server-side for one
//! use, full ID token validation by `openidconnect`, and `azp` and `iat` by Portico), the mapping
//! of claims to the portal user, the refresh of the user's access token under a lock shared
//! by every replica, and the validation of the provider's back-channel logout tokens.

mod backchannel;
mod checks;
mod claims;
mod error;
mod login;
mod logout_claims;
mod provider;
mod refresh;
pub(crate) mod types;

use std::sync::Arc;

use secrecy::SecretString;
use url::Url;

use crate::clock::SharedClock;
use crate::config::{ManagerAuthMode, OidcSettings, Settings};
use crate::crypto::Keys;
use crate::store::KvStore;

pub use backchannel::{LogoutError, LogoutToken, MAX_LOGOUT_TOKEN_BYTES};
pub use error::{ClaimProblem, OidcError};
pub use login::{Callback, Finished, Started};
pub use provider::KEY_REFETCH_INTERVAL;
pub use types::{ProviderSession, SsoTokens};

/// The route the provider sends the browser back to.
pub const CALLBACK_PATH: &str = "/auth/callback";
/// Where the provider posts its logout tokens (`backchannel_logout_uri`).
pub const BACKCHANNEL_LOGOUT_PATH: &str = "/auth/backchannel-logout";
/// Where the provider sends the browser after signing out there.
pub const SIGNED_OUT_PATH: &str = "/login";

/// The configured identity provider and what Portico keeps about sign-ins under way.
pub struct Identity {
    settings: OidcSettings,
    provider: provider::Provider,
    kv: KvStore,
    keys: Arc<Keys>,
    clock: SharedClock,
    post_logout: Url,
}

impl Identity {
    /// `None` without `[oidc]`. `client_secret` is `oidc.client_secret`, resolved.
    pub fn from_settings(
        settings: &Settings,
        client_secret: Option<SecretString>,
        kv: KvStore,
        keys: Arc<Keys>,
        clock: SharedClock,
    ) -> anyhow::Result<Option<Arc<Self>>> {
        let Some(oidc) = &settings.oidc else { return Ok(None) };
        // `jsonwebtoken` (logout tokens) is built with RustCrypto only; naming that provider
        // keeps it from falling back to one that panics should another crate ever enable its
        // second backend. An error means one is installed already.
        let _ = jsonwebtoken::crypto::rust_crypto::DEFAULT_PROVIDER.install_default();
        let public = &settings.server.public_url;
        let redirect = public.join(CALLBACK_PATH)?;
        let post_logout = public.join(SIGNED_OUT_PATH)?;
        let provider = provider::Provider::new(oidc, client_secret, &redirect, clock.clone())?;
        Ok(Some(Arc::new(Self { settings: oidc.clone(), provider, kv, keys, clock, post_logout })))
    }

    /// The provider's name on the sign-in button.
    pub fn display_name(&self) -> &str {
        &self.settings.display_name
    }

    /// Whether the password form is offered beside single sign-on.
    pub fn password_login(&self) -> bool {
        self.settings.password_login
    }

    pub fn manager_auth(&self) -> ManagerAuthMode {
        self.settings.manager_auth
    }

    /// `scheme://host[:port]` of the issuer (the CSP lets sign-out forms lead there).
    pub fn origin(&self) -> String {
        self.settings.issuer.origin().ascii_serialization()
    }

    /// Where to send the browser to end the session at the provider too, when it offers
    /// `end_session_endpoint`: with `id_token_hint`, `client_id` and `post_logout_redirect_uri`.
    pub async fn end_session_url(&self, id_token: &str) -> Option<Url> {
        let metadata = match self.provider.metadata().await {
            Ok(metadata) => metadata,
            Err(e) => {
                tracing::warn!(error = %e, "cannot sign out at the identity provider");
                return None;
            }
        };
        let mut url = metadata.additional_metadata().end_session_endpoint.clone()?;
        url.query_pairs_mut()
            .append_pair("id_token_hint", id_token)
            .append_pair("client_id", self.provider.client_id())
            .append_pair("post_logout_redirect_uri", self.post_logout.as_str());
        Some(url)
    }
}
