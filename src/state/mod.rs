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
use crate::federation::{
    Environments, Federation, HealthMonitor, LoggedOut, PortalSession, RuntimeSettings, SignInRules,
};
use crate::secrets::Secrets;
use crate::sso::{Identity, LogoutError};
use crate::store::{
    Change, ChangeBus, Database, DatabaseError, KvStore, Session, SessionId, SessionStore, StoreError,
};
pub use admin::{
    ADMIN_ABSOLUTE_TIMEOUT, ADMIN_IDLE_TIMEOUT, ADMIN_SESSION_PREFIX, AdminAccess, admin_limits,
};

/// What every request handler shares. Its parts are reached through accessors, and the live
/// settings through [`AppState::runtime`]; `startup` builds it from [`Parts`].
pub struct AppState {
    parts: Parts,
    runtime: LiveSettings,
}

/// Everything an [`AppState`] is made of, as the composition root assembles it.
pub struct Parts {
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
    /// Admin sessions and the admin sign-in lockout.
    pub admin: AdminAccess,
}

/// The federation settings in force (the config file with the admins' overrides), replaced as
/// a whole when an admin saves: a reader always sees one consistent version.
pub struct LiveSettings(RwLock<Arc<RuntimeSettings>>);

impl LiveSettings {
    pub fn new(settings: RuntimeSettings) -> Self {
        Self(RwLock::new(Arc::new(settings)))
    }

    pub fn get(&self) -> Arc<RuntimeSettings> {
        match self.0.read() {
            Ok(r) => r.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    fn replace(&self, settings: Arc<RuntimeSettings>) {
        match self.0.write() {
            Ok(mut r) => *r = settings,
            Err(poisoned) => *poisoned.into_inner() = settings,
        }
    }
}

impl AppState {
    /// The state of `parts`, with the file's settings in force until the saved ones are applied
    /// ([`Change::Resync`]).
    pub fn new(parts: Parts) -> Self {
        let runtime = LiveSettings::new(RuntimeSettings::resolve(&parts.settings, Default::default()));
        Self { parts, runtime }
    }

    /// The settings of the config file.
    pub fn settings(&self) -> &Settings {
        &self.parts.settings
    }

    pub fn kv(&self) -> &KvStore {
        &self.parts.kv
    }

    pub fn db(&self) -> &Database {
        &self.parts.db
    }

    pub fn environments(&self) -> &Environments {
        &self.parts.environments
    }

    pub fn keys(&self) -> &Arc<Keys> {
        &self.parts.keys
    }

    /// The portal sessions.
    pub fn sessions(&self) -> &SessionStore {
        &self.parts.sessions
    }

    pub fn federation(&self) -> &Federation {
        &self.parts.federation
    }

    /// The last health probe of every manager.
    pub fn health(&self) -> &HealthMonitor {
        &self.parts.health
    }

    pub fn catalog(&self) -> &CatalogCache {
        &self.parts.catalog
    }

    pub fn clock(&self) -> &SharedClock {
        &self.parts.clock
    }

    /// Single sign-on, when `[oidc]` is configured.
    pub fn identity(&self) -> Option<&Arc<Identity>> {
        self.parts.identity.as_ref()
    }

    /// Change notifications to and from the other replicas.
    pub fn changes(&self) -> &ChangeBus {
        &self.parts.changes
    }

    pub fn secrets(&self) -> &Secrets {
        &self.parts.secrets
    }

    /// OAuth2 credential connections.
    pub fn connections(&self) -> &Connections {
        &self.parts.connections
    }

    /// Admin sessions and the admin sign-in lockout.
    pub fn admin(&self) -> &AdminAccess {
        &self.parts.admin
    }

    /// The portal session of a successful sign-in (see [`crate::federation::start_session`]):
    /// a fresh id, the user's list of sessions, the cap on sessions per user.
    pub async fn start_session(
        &self,
        previous: Option<&SessionId>,
        signed_in: PortalSession,
    ) -> Result<Session<PortalSession>, StoreError> {
        let environments = self.parts.environments.snapshot();
        let users = self.parts.federation.user_sessions();
        let cap = self.parts.settings.session.max_per_user;
        crate::federation::start_session(&self.parts.sessions, users, &environments, previous, signed_in, cap)
            .await
    }

    /// Signs `session` out everywhere (see [`crate::federation::end_session`]).
    pub async fn end_session(&self, session: &Session<PortalSession>) -> Result<(), StoreError> {
        let environments = self.parts.environments.snapshot();
        crate::federation::end_session(
            &self.parts.sessions,
            self.parts.federation.user_sessions(),
            &environments,
            session,
        )
        .await
    }

    /// Ends the sessions a back-channel logout token names, once it passes every check (see
    /// [`crate::federation::backchannel_logout`]).
    pub async fn backchannel_logout(
        &self,
        identity: &Identity,
        logout_token: &str,
    ) -> Result<LoggedOut, LogoutError> {
        let environments = self.parts.environments.snapshot();
        let users = self.parts.federation.user_sessions();
        crate::federation::backchannel_logout(
            identity,
            &self.parts.sessions,
            users,
            &environments,
            logout_token,
        )
        .await
    }

    /// The sign-in rules in force now.
    pub fn sign_in_rules(&self) -> SignInRules {
        let runtime = self.runtime();
        SignInRules { policy: runtime.policy, limits: runtime.login_protection.clone() }
    }

    /// `https` public URL: secure cookies, `__Host-` names, HSTS.
    pub fn is_https(&self) -> bool {
        self.parts.settings.server.public_url.scheme() == "https"
    }

    /// The federation settings in force now (config file + admin overrides).
    pub fn runtime(&self) -> Arc<RuntimeSettings> {
        self.runtime.get()
    }

    /// After a successful write: applies `change` on this replica now, then tells the others.
    /// A failed notification is logged, not returned: the write is saved and the others
    /// reconcile within ten seconds (`replicas::RECONCILE_EVERY`).
    pub async fn changed(&self, change: Change) -> Result<(), DatabaseError> {
        self.apply(&change).await?;
        if let Err(e) = self.parts.changes.publish(change).await {
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
        let stored = self.parts.db.list_slaves().await?;
        let changed = self.parts.environments.reload(&self.parts.settings, &stored).await.map_err(|e| {
            // Only the master or a config slave can fail here, and they built at start.
            DatabaseError::Query(e.to_string())
        })?;
        if changed {
            tracing::info!(slaves = stored.len(), "environments reloaded");
            let health = self.parts.health.clone();
            let environments = self.parts.environments.clone();
            let clock = self.parts.clock.clone();
            tokio::spawn(async move { health.reprobe(&environments, &clock).await });
        }
        Ok(())
    }

    async fn reload_settings(&self) -> Result<(), DatabaseError> {
        let overrides = self.parts.db.load_overrides().await?;
        if overrides == self.runtime().overrides {
            return Ok(());
        }
        let runtime = Arc::new(RuntimeSettings::resolve(&self.parts.settings, overrides));
        self.parts.catalog.set_ttl(runtime.catalog_ttl);
        self.parts.federation.organizations().set_ttl(runtime.organization_ttl);
        self.runtime.replace(runtime);
        tracing::info!("settings reloaded");
        Ok(())
    }
}
