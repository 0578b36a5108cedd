//! The state every request handler shares, built by `startup` (the composition root) and kept
//! in step with the other replicas (`replicas`): stores, environments, federation, caches, single
//! sign-on, secrets, credential connections, admin access, and the live settings.

mod admin;

use std::sync::{Arc, RwLock};

use crate::catalog::CatalogCache;
use crate::clock::SharedClock;
use crate::config::Settings;
use crate::credentials::Connections;
use crate::crypto::Keys;
use crate::federation::{Environments, Federation, HealthMonitor, RuntimeSettings, SignInRules};
use crate::secrets::Secrets;
use crate::sso::Identity;
use crate::store::{Change, ChangeBus, Database, DatabaseError, KvStore, SessionStore};
pub use admin::{
    ADMIN_ABSOLUTE_TIMEOUT, ADMIN_IDLE_TIMEOUT, ADMIN_SESSION_PREFIX, AdminAccess, admin_limits,
};

/// What every request handler shares.
pub struct AppState {
    pub settings: Arc<Settings>,
    pub kv: KvStore,
    pub db: Database,
    pub environments: Environments,
    pub keys: Arc<Keys>,
    pub sessions: SessionStore,
    pub federation: Federation,
    /// The last health probe of every manager (probed in the background).
    pub health: HealthMonitor,
    pub catalog: CatalogCache,
    pub clock: SharedClock,
    /// Single sign-on (`[oidc]`), when configured.
    pub identity: Option<Arc<Identity>>,
    /// Change notifications to and from the other replicas.
    pub changes: ChangeBus,
    /// Secret references, and the state of the ones refreshed in the background.
    pub secrets: Secrets,
    /// OAuth2 credential connections (`[[credentials]]`).
    pub connections: Connections,
    /// The federation settings in force (see [`AppState::runtime`]).
    pub(crate) runtime: RwLock<Arc<RuntimeSettings>>,
    /// Admin sessions and the admin sign-in lockout.
    pub admin: AdminAccess,
}

impl AppState {
    /// The sign-in rules in force now.
    pub fn sign_in_rules(&self) -> SignInRules {
        let runtime = self.runtime();
        SignInRules { policy: runtime.policy, limits: runtime.login_protection.clone() }
    }

    /// `https` public URL: secure cookies, `__Host-` names, HSTS.
    pub fn is_https(&self) -> bool {
        self.settings.server.public_url.scheme() == "https"
    }
}

impl AppState {
    /// The federation settings in force now (config file + admin overrides).
    pub fn runtime(&self) -> Arc<RuntimeSettings> {
        match self.runtime.read() {
            Ok(r) => r.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// After a successful write: applies `change` on this replica now, then tells the others.
    /// A failed notification is logged, not returned: the write is saved and the others
    /// reconcile within ten seconds (`replicas::RECONCILE_EVERY`).
    pub async fn changed(&self, change: Change) -> Result<(), DatabaseError> {
        self.apply(&change).await?;
        if let Err(e) = self.changes.publish(change).await {
            tracing::warn!(error = %e, "other replicas will see the change at their next reconciliation");
        }
        Ok(())
    }

    /// Brings this replica in line with the database for `change`.
    pub async fn apply(&self, change: &Change) -> Result<(), DatabaseError> {
        match change {
            Change::Slaves => self.reload_slaves().await,
            Change::Settings => self.reload_settings().await,
            Change::Resync => {
                self.reload_settings().await?;
                self.reload_slaves().await
            }
            // Caches live in the shared store, and sessions are the session store's concern.
            Change::CachesPurged | Change::SessionEnded { .. } | Change::SessionChanged { .. } => Ok(()),
        }
    }

    async fn reload_slaves(&self) -> Result<(), DatabaseError> {
        let stored = self.db.list_slaves().await?;
        let changed = self.environments.reload(&self.settings, &stored).map_err(|e| {
            // Only the master or a config slave can fail here, and they built at start.
            DatabaseError::Query(e.to_string())
        })?;
        if changed {
            tracing::info!(slaves = stored.len(), "environments reloaded");
            let health = self.health.clone();
            let environments = self.environments.clone();
            let clock = self.clock.clone();
            tokio::spawn(async move { health.reprobe(&environments, &clock).await });
        }
        Ok(())
    }

    async fn reload_settings(&self) -> Result<(), DatabaseError> {
        let overrides = self.db.load_overrides().await?;
        if overrides == self.runtime().overrides {
            return Ok(());
        }
        let runtime = Arc::new(RuntimeSettings::resolve(&self.settings, overrides));
        self.catalog.set_ttl(runtime.catalog_ttl);
        self.federation.organizations().set_ttl(runtime.organization_ttl);
        match self.runtime.write() {
            Ok(mut r) => *r = runtime,
            Err(poisoned) => *poisoned.into_inner() = runtime,
        }
        tracing::info!("settings reloaded");
        Ok(())
    }
}
