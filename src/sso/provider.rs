//! The identity provider as Portico knows it: its discovery document and signing keys (cached,
//! keys fetched again when a token names a key not seen yet, at most once per interval), and the
//! `openidconnect` client built from them. Every call goes through the project's reqwest client.

use std::time::{Duration, Instant};

use openidconnect::core::CoreJsonWebKeySet;
use openidconnect::{ClientId, ClientSecret, IssuerUrl, RedirectUrl};
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::Mutex;

use super::OidcError;
use super::types::{Metadata, OidcClient};
use crate::clock::SharedClock;
use crate::config::OidcSettings;
use crate::domain::TlsMode;

/// How long discovery is trusted before it is read again.
const DISCOVERY_TTL: Duration = Duration::from_secs(3600);
/// An unknown key id makes Portico fetch the keys again, at most this often (a forged token
/// naming random key ids must not turn Portico into a load generator against the provider).
pub const KEY_REFETCH_INTERVAL: Duration = Duration::from_secs(10);

struct Cached {
    metadata: Metadata,
    fetched: Instant,
    /// On Portico's clock (ms), so tests move time instead of waiting out the interval.
    keys_fetched_ms: i64,
}

pub struct Provider {
    http: reqwest::Client,
    issuer: String,
    client_id: ClientId,
    client_secret: Option<ClientSecret>,
    redirect: RedirectUrl,
    cached: Mutex<Option<Cached>>,
    clock: SharedClock,
}

impl Provider {
    pub fn new(
        settings: &OidcSettings,
        client_secret: Option<SecretString>,
        redirect: &url::Url,
        clock: SharedClock,
    ) -> anyhow::Result<Self> {
        use anyhow::Context;
        let ca_pem = settings
            .ca_file
            .as_ref()
            .map(|p| {
                std::fs::read_to_string(p)
                    .with_context(|| format!("oidc.ca_file: cannot read {}", p.display()))
            })
            .transpose()?;
        let tls = crate::manager::tls::client_config(TlsMode::Full, ca_pem.as_deref())
            .map_err(|e| anyhow::anyhow!("oidc: {e}"))?;
        let http = reqwest::Client::builder()
            // openidconnect's advice against SSRF: never follow a redirect of the provider.
            .redirect(reqwest::redirect::Policy::none())
            .timeout(settings.timeout.get())
            .user_agent(concat!("portico/", env!("CARGO_PKG_VERSION")))
            .use_preconfigured_tls(tls)
            .build()
            .context("oidc: the HTTP client could not be built")?;
        let client_secret = client_secret.map(|v| ClientSecret::new(v.expose_secret().to_owned()));
        Ok(Self {
            http,
            issuer: issuer_text(&settings.issuer),
            client_id: ClientId::new(settings.client_id.clone()),
            client_secret,
            redirect: RedirectUrl::from_url(redirect.clone()),
            cached: Mutex::new(None),
            clock,
        })
    }

    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// The provider's metadata (with its keys), from the cache while it is fresh.
    pub async fn metadata(&self) -> Result<Metadata, OidcError> {
        let mut cached = self.cached.lock().await;
        if let Some(c) = cached.as_ref().filter(|c| c.fetched.elapsed() < DISCOVERY_TTL) {
            return Ok(c.metadata.clone());
        }
        let metadata = self.discover().await?;
        let keys_fetched_ms = self.clock.now_millis();
        *cached = Some(Cached { metadata: metadata.clone(), fetched: Instant::now(), keys_fetched_ms });
        Ok(metadata)
    }

    /// Fetches the signing keys again (a token named a key Portico has not seen: the provider may
    /// have rotated its keys). `None` when they were fetched less than
    /// [`KEY_REFETCH_INTERVAL`] ago.
    pub async fn refetch_keys(&self) -> Result<Option<Metadata>, OidcError> {
        let mut cached = self.cached.lock().await;
        let Some(c) = cached.as_mut() else { return Ok(None) };
        let now = self.clock.now_millis();
        let interval = i64::try_from(KEY_REFETCH_INTERVAL.as_millis()).unwrap_or(i64::MAX);
        if now.saturating_sub(c.keys_fetched_ms) < interval {
            return Ok(None);
        }
        c.keys_fetched_ms = now;
        let keys = CoreJsonWebKeySet::fetch_async(c.metadata.jwks_uri(), &self.http)
            .await
            .map_err(|e| unavailable("keys", &e))?;
        tracing::info!(keys = keys.keys().len(), "identity provider keys fetched again");
        c.metadata = c.metadata.clone().set_jwks(keys);
        Ok(Some(c.metadata.clone()))
    }

    /// Discovery at the issuer as written, and with or without a trailing slash (the URL type
    /// of the configuration adds one to a bare host; the issuer must match the document exactly).
    async fn discover(&self) -> Result<Metadata, OidcError> {
        let mut last = OidcError::ProviderUnavailable("discovery".into());
        for candidate in [self.issuer.clone(), format!("{}/", self.issuer)] {
            let issuer =
                IssuerUrl::new(candidate).map_err(|_| OidcError::ProviderUnavailable("issuer".into()))?;
            match Metadata::discover_async(issuer, &self.http).await {
                Ok(metadata) => return Ok(metadata),
                Err(openidconnect::DiscoveryError::Validation(text)) if text.contains("issuer") => {
                    last = OidcError::ProviderUnavailable("discovery names another issuer".into());
                }
                Err(e) => return Err(unavailable("discovery", &e)),
            }
        }
        Err(last)
    }

    pub fn client(&self, metadata: Metadata) -> OidcClient {
        OidcClient::from_provider_metadata(metadata, self.client_id.clone(), self.client_secret.clone())
            .set_redirect_uri(self.redirect.clone())
    }

    pub fn client_id(&self) -> &str {
        self.client_id.as_str()
    }
}

/// The issuer without the slash the URL type adds after a bare host.
fn issuer_text(issuer: &url::Url) -> String {
    let text = issuer.as_str();
    if issuer.path() == "/" { text.trim_end_matches('/').to_owned() } else { text.to_owned() }
}

fn unavailable(what: &str, error: &dyn std::error::Error) -> OidcError {
    tracing::warn!(error = %error, source = ?error.source().map(ToString::to_string), "identity provider {what} failed");
    OidcError::ProviderUnavailable(what.to_owned())
}
