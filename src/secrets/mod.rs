//! Resolving secret references, wherever they live, and keeping remote ones fresh.
//!
//! Local references (`env`, `file`, plain) are read once. Remote ones (Key Vault through the
//! managed identity, Vault/OpenBao KV v2) are read at start; an unversioned one becomes a
//! [`LiveSecret`] that is read again every `refresh`, so a rotated value is used without a
//! restart. A failed refresh keeps the last good value and is reported (`/readyz` detail and the
//! admin dashboard) until a later refresh succeeds.

mod keyvault;
mod live;
mod vault;

use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use secrecy::SecretString;

pub use live::{LiveSecret, SecretStatus};

use crate::clock::SharedClock;
use crate::config::{SecretError, SecretRef, Settings};
use crate::managed_identity::ManagedIdentity;

/// Why a secret could not be read. The message names the secret and the reason, never a value.
#[derive(Debug, thiserror::Error)]
pub enum SecretReadError {
    #[error(transparent)]
    Local(#[from] SecretError),
    #[error("{what}: {reason}")]
    Remote { what: String, reason: String },
}

/// A value read from a remote store, with the version it had when known.
pub(crate) struct Fetched {
    pub value: SecretString,
    pub version: Option<String>,
}

/// The secret resolver (one per process).
#[derive(Clone)]
pub struct Secrets {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    identity: ManagedIdentity,
    keyvault_api_version: String,
    clock: SharedClock,
    /// Every live secret handed out (weakly), for status reports.
    live: Mutex<Vec<Weak<live::Shared>>>,
}

impl Secrets {
    pub fn new(settings: &Settings, clock: SharedClock) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(15))
            .user_agent(concat!("portico/", env!("CARGO_PKG_VERSION")))
            .build()?;
        let identity = ManagedIdentity::new(&settings.identity, http.clone(), clock.clone());
        Ok(Self {
            inner: Arc::new(Inner {
                http,
                identity,
                keyvault_api_version: settings.identity.keyvault_api_version.clone(),
                clock,
                live: Mutex::new(Vec::new()),
            }),
        })
    }

    /// The HTTP client for identity, secret and token endpoints (no redirects followed).
    pub fn http(&self) -> &reqwest::Client {
        &self.inner.http
    }

    pub fn identity(&self) -> &ManagedIdentity {
        &self.inner.identity
    }

    /// Reads a secret once, from wherever it lives.
    pub async fn resolve(&self, reference: &SecretRef) -> Result<SecretString, SecretReadError> {
        Ok(self.fetch(reference).await?.value)
    }

    pub(crate) async fn fetch(&self, reference: &SecretRef) -> Result<Fetched, SecretReadError> {
        let remote = |reason: String| SecretReadError::Remote { what: reference.describe(), reason };
        match reference {
            SecretRef::KeyVault(r) => {
                keyvault::read(&self.inner.http, &self.inner.identity, &self.inner.keyvault_api_version, r)
                    .await
                    .map_err(remote)
            }
            SecretRef::Vault(r) => {
                let token = r.token.resolve()?;
                vault::read(&self.inner.http, r, &token).await.map_err(remote)
            }
            local => Ok(Fetched { value: local.resolve()?, version: None }),
        }
    }

    /// Reads a secret now and, when it is an unversioned remote reference, keeps reading it
    /// every `refresh` in the background for as long as the returned handle lives. `key` names
    /// it in reports (the config key, e.g. `slaves[0].auth.basic.password`).
    pub async fn live(&self, key: &str, reference: &SecretRef) -> Result<LiveSecret, SecretReadError> {
        let first = self.fetch(reference).await?;
        let refresh = match reference {
            SecretRef::KeyVault(r) if r.version.is_none() => Some(r.refresh.get()),
            SecretRef::Vault(r) => Some(r.refresh.get()),
            _ => None,
        };
        let secret = LiveSecret::new(key, reference.describe(), first, self.inner.clock.now());
        if let Some(every) = refresh {
            secret.keep_fresh(self.clone(), reference.clone(), every);
            self.register(&secret);
        }
        Ok(secret)
    }

    fn register(&self, secret: &LiveSecret) {
        let mut live = self.inner.live.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        live.retain(|w| w.strong_count() > 0);
        live.push(secret.downgrade());
    }

    /// The state of every refreshed secret still in use, by key.
    pub fn statuses(&self) -> Vec<SecretStatus> {
        let live = self.inner.live.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut out: Vec<SecretStatus> =
            live.iter().filter_map(Weak::upgrade).map(|s| LiveSecret::from_shared(s).status()).collect();
        out.sort_by(|a, b| a.key.cmp(&b.key));
        out
    }

    pub(crate) fn clock(&self) -> &SharedClock {
        &self.inner.clock
    }
}

/// Every secret reference in the settings, with its config key.
pub fn references(settings: &Settings) -> Vec<(String, &SecretRef)> {
    use crate::config::ManagerAuthSettings;
    let mut out: Vec<(String, &SecretRef)> = Vec::new();
    if let Some(bundle) = settings.server.tls.as_ref().and_then(|t| t.pkcs12.as_ref()) {
        out.push(("server.tls.pkcs12".to_owned(), bundle));
    }
    if let Some(secret) = &settings.session.secret {
        out.push(("session.secret".to_owned(), secret));
    }
    if let Some(redis) = &settings.redis {
        let sentinel = redis.sentinel.as_ref();
        let found = [
            ("redis.url", redis.url.as_ref()),
            ("redis.username", redis.username.as_ref()),
            ("redis.password", redis.password.as_ref()),
            ("redis.sentinel.username", sentinel.and_then(|s| s.username.as_ref())),
            ("redis.sentinel.password", sentinel.and_then(|s| s.password.as_ref())),
        ];
        out.extend(found.into_iter().filter_map(|(key, secret)| Some((key.to_owned(), secret?))));
    }
    out.push(("database.url".to_owned(), &settings.database.url));
    let managers = std::iter::once(("master".to_owned(), settings.master.auth.as_ref()))
        .chain(settings.slaves.iter().enumerate().map(|(i, s)| (format!("slaves[{i}]"), s.auth.as_ref())));
    for (at, auth) in managers {
        if let Some(ManagerAuthSettings::Basic { password, .. }) = auth {
            out.push((format!("{at}.auth.basic.password"), password));
        }
    }
    for (i, provider) in settings.credentials.iter().enumerate() {
        for (j, connection) in provider.connections.iter().enumerate() {
            if let Some(secret) = &connection.client_secret {
                out.push((format!("credentials[{i}].connections[{j}].client_secret"), secret));
            }
        }
    }
    if let Some(secret) = settings.oidc.as_ref().and_then(|o| o.client_secret.as_ref()) {
        out.push(("oidc.client_secret".to_owned(), secret));
    }
    out
}
