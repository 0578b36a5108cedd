//! Ending manager sessions: after a refused sign-in (the policy closes what it opened) and at
//! sign-out. Each is concurrent and bounded by the manager's timeout.

use futures_util::future::join_all;

use super::join::Joined;
use super::{Environment, EnvironmentSet, ManagerAccess, PortalSession};

/// Ends manager sessions concurrently; a manager that does not answer is logged, not waited for
/// beyond its timeout.
pub(super) async fn close_all<'a>(joined: impl Iterator<Item = (&'a Environment, &'a Joined)>) {
    join_all(
        joined
            .filter_map(|(env, j)| match &j.access {
                ManagerAccess::Session(session) => Some((env, session)),
                _ => None,
            })
            .map(|(env, session)| async move {
                if let Err(e) = env.client.logout(session).await {
                    tracing::info!(manager = %env.id(), error = %e, "could not close a manager session");
                }
            }),
    )
    .await;
}

/// Signs out of every manager the session holds (concurrently, each bounded by its timeout).
pub async fn sign_out(environments: &EnvironmentSet, session: &PortalSession) {
    join_all(session.manager_sessions().filter_map(|(id, manager)| {
        let env = environments.get(id)?.clone();
        Some(async move {
            if let Err(e) = env.client.logout(manager).await {
                tracing::info!(manager = %env.id(), error = %e, "manager sign-out failed; the portal session ends anyway");
            }
        })
    }))
    .await;
}
