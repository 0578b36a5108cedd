//! Keeping every replica in step with what admins change.
//!
//! The database is the source of truth. The replica where an admin saves applies the change at
//! once ([`AppState::changed`]) and notifies the others over the change bus; they reload from
//! the database. A reconciliation every [`RECONCILE_EVERY`] heals a lost notification, and a
//! resubscription after a Redis outage triggers one at once.

use std::sync::Arc;
use std::time::Duration;

use actix_web::web;
use tokio::sync::broadcast::error::RecvError;

use crate::federation::RuntimeSettings;
use crate::startup::AppState;
use crate::store::{Change, DatabaseError};

/// The longest a replica can lag behind when a notification was lost.
pub const RECONCILE_EVERY: Duration = Duration::from_secs(10);

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
    /// reconcile within [`RECONCILE_EVERY`].
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
            Change::CachesPurged | Change::SessionEnded { .. } => Ok(()),
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

/// Applies other replicas' changes as they arrive and reconciles periodically, until dropped.
pub struct Follower(tokio::task::AbortHandle);

impl Drop for Follower {
    fn drop(&mut self) {
        self.0.abort();
    }
}

pub fn follow(state: web::Data<AppState>) -> Follower {
    let mut changes = state.changes.subscribe();
    let task = tokio::spawn(async move {
        let mut reconcile = tokio::time::interval(RECONCILE_EVERY);
        reconcile.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        reconcile.tick().await;
        loop {
            let change = tokio::select! {
                received = changes.recv() => match received {
                    Ok(change) => change,
                    // Too many at once: reload everything rather than guess what was dropped.
                    Err(RecvError::Lagged(_)) => Change::Resync,
                    Err(RecvError::Closed) => return,
                },
                _ = reconcile.tick() => Change::Resync,
            };
            if let Err(e) = state.apply(&change).await {
                tracing::warn!(error = %e, ?change, "cannot apply a change yet; retrying at the next reconciliation");
            }
        }
    });
    Follower(task.abort_handle())
}
