//! OAuth2 credential connections (`[[credentials]]` providers, `[[credentials.connections]]`):
//! bearer tokens that managers' service credentials (`auth = { connection = "ID" }`) use.
//!
//! Every use names on whose behalf the call is made ([`Caller`]); the connection's access policy
//! refuses a user it does not allow before any request leaves Portico, and the refusal is
//! recorded on the connection's state (admin UI) and in the audit log. Tokens are cached and
//! renewed before they expire, one request per connection at a time. Authorization-code
//! connections keep the refresh token of an admin's consent sealed in the database, so every
//! replica and a restart keep it; a lease in the same row lets one replica at a time refresh.

mod consent;
mod oauth;
mod policy;
mod status;
mod token;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use secrecy::SecretString;
use url::Url;

pub use consent::{CONSENT_TTL, ConsentError, ConsentStarted};
pub use policy::describe_policy;
pub use status::{ConnectionState, ConnectionStatus};

use crate::clock::SharedClock;
use crate::config::{AccessPolicy, Grant, Settings};
use crate::crypto::Keys;
use crate::domain::CredentialId;
use crate::domain::Role;
use crate::secrets::{LiveSecret, Secrets};
use crate::store::{Database, DatabaseError, KvStore};

/// On whose behalf a call with a service credential is made.
#[derive(Debug, Clone, Copy)]
pub enum Caller<'a> {
    /// Portico's own calls (health probes, the admin's connection test): no policy applies.
    Portico,
    /// A call made for a signed-in user of `organization` (its name on the master).
    User { username: &'a str, organization: &'a str, role: Option<Role> },
}

#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    #[error("connection \"{connection}\" may not be used for {subject}: {reason}")]
    Refused { connection: CredentialId, subject: String, reason: String },
    #[error("connection \"{0}\" needs an admin's consent (admin UI, Credentials)")]
    NeedsConsent(CredentialId),
    #[error("connection \"{connection}\": the token endpoint refused: {reason}")]
    Provider { connection: CredentialId, reason: String, consent_lost: bool },
    #[error("connection \"{connection}\": the token endpoint is unreachable: {reason}")]
    Unreachable { connection: CredentialId, reason: String },
    #[error("connection \"{0}\": {1}")]
    Config(CredentialId, String),
    #[error("connection \"{0}\": its state cannot be read or saved ({1})")]
    Store(CredentialId, String),
    #[error("managed identity: {0}")]
    Identity(#[from] crate::managed_identity::IdentityError),
}

/// What every connection shares.
struct Context {
    http: reqwest::Client,
    db: Database,
    keys: Arc<Keys>,
    clock: SharedClock,
    kv: KvStore,
    /// `{server.public_url}/admin/credentials/callback`.
    redirect_url: Url,
}

/// One client registration at a provider, with its token cache.
pub struct Connection {
    pub id: CredentialId,
    pub provider: CredentialId,
    pub grant: Grant,
    pub client_id: String,
    pub scopes: Vec<String>,
    pub resource: Option<String>,
    pub allowed: AccessPolicy,
    token_url: Url,
    authorize_url: Option<Url>,
    timeout: Duration,
    secret: Option<LiveSecret>,
    ctx: Arc<Context>,
    /// The access token in use on this replica; the lock makes renewals one at a time.
    cached: tokio::sync::Mutex<Option<token::Cached>>,
    /// When each refused (organization, role) was last recorded, so a busy refusal does not
    /// flood the audit log.
    refusals: Mutex<HashMap<String, SystemTime>>,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("id", &self.id)
            .field("provider", &self.provider)
            .finish_non_exhaustive()
    }
}

/// Every configured connection, in config order.
#[derive(Clone, Default)]
pub struct Connections {
    list: Arc<Vec<Arc<Connection>>>,
}

/// Where an authorization-code provider sends the admin back.
pub const CALLBACK_PATH: &str = "/admin/credentials/callback";

impl Connections {
    /// Prepares every connection, reading its client secret (remote ones are kept fresh).
    pub async fn new(
        settings: &Settings,
        secrets: &Secrets,
        db: Database,
        kv: KvStore,
        keys: Arc<Keys>,
        clock: SharedClock,
    ) -> anyhow::Result<Self> {
        let redirect_url = settings.server.public_url.join(CALLBACK_PATH)?;
        let ctx = Arc::new(Context { http: secrets.http().clone(), db, keys, clock, kv, redirect_url });
        let mut list = Vec::new();
        for (i, provider) in settings.credentials.iter().enumerate() {
            for (j, c) in provider.connections.iter().enumerate() {
                let secret = match &c.client_secret {
                    Some(reference) => {
                        let key = format!("credentials[{i}].connections[{j}].client_secret");
                        Some(secrets.live(&key, reference).await.map_err(|e| anyhow::anyhow!("{key}: {e}"))?)
                    }
                    None => None,
                };
                list.push(Arc::new(Connection {
                    id: c.id.clone(),
                    provider: provider.id.clone(),
                    grant: provider.grant,
                    client_id: c.client_id.clone(),
                    scopes: c.scopes.clone(),
                    resource: c.resource.clone(),
                    allowed: c.allowed.clone(),
                    token_url: provider.token_url.clone(),
                    authorize_url: provider.authorize_url.clone(),
                    timeout: provider.timeout.get(),
                    secret,
                    ctx: ctx.clone(),
                    cached: tokio::sync::Mutex::new(None),
                    refusals: Mutex::new(HashMap::new()),
                }));
            }
        }
        Ok(Self { list: Arc::new(list) })
    }

    pub fn get(&self, id: &CredentialId) -> Option<Arc<Connection>> {
        self.list.iter().find(|c| &c.id == id).cloned()
    }

    pub fn find(&self, raw: &str) -> Option<Arc<Connection>> {
        self.list.iter().find(|c| c.id.as_str() == raw).cloned()
    }

    pub fn all(&self) -> impl Iterator<Item = &Arc<Connection>> {
        self.list.iter()
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }
}

impl Connection {
    /// A bearer token for a call made on behalf of `caller`: refused by the access policy before
    /// anything is sent, otherwise from the cache or the provider.
    pub async fn token_for(&self, caller: Caller<'_>) -> Result<SecretString, CredentialError> {
        self.check(caller).await?;
        self.token().await
    }

    fn now_millis(&self) -> i64 {
        self.ctx.clock.now_millis()
    }

    fn store_error(&self, e: DatabaseError) -> CredentialError {
        CredentialError::Store(self.id.clone(), e.to_string())
    }
}
