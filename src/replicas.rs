//! Keeping every replica in step with what admins change.
//!
//! The database is the source of truth. The replica where an admin saves applies the change at
//! once ([`AppState::changed`]) and notifies the others over the change bus; they reload from
//! the database. A reconciliation every [`RECONCILE_EVERY`] heals a lost notification, and a
//! resubscription after a Redis outage triggers one at once.

use std::time::Duration;

use actix_web::web;
use tokio::sync::broadcast::error::RecvError;

use crate::state::AppState;
use crate::store::Change;

/// The longest a replica can lag behind when a notification was lost.
pub const RECONCILE_EVERY: Duration = Duration::from_secs(10);

/// Applies other replicas' changes as they arrive and reconciles periodically, until dropped.
pub struct Follower(tokio::task::AbortHandle);

impl Drop for Follower {
    fn drop(&mut self) {
        self.0.abort();
    }
}

pub fn follow(state: web::Data<AppState>) -> Follower {
    let mut changes = state.changes().subscribe();
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
