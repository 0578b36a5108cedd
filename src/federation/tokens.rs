//! Keeping a portal session's access token fresh: refreshed before it expires, by one request at
//! a time across every replica. The first request to find it due takes a lock in the shared store
//! (`SET NX PX`) and renews the lock's lease while the provider answers; the others wait for the
//! new token and read it from the session. So a rotating refresh token is never sent twice.

use std::time::{Duration, Instant};

use super::PortalSession;
use crate::crypto::random_token;
use crate::sso::{Identity, OidcError};
use crate::store::{Session, SessionStore};

/// The lock's lease; renewed every third of it while the refresh runs, so a replica that dies
/// holding it frees it within this time.
const LEASE: Duration = Duration::from_secs(6);
/// How often a waiting request looks for the new token.
const POLL: Duration = Duration::from_millis(25);

/// Whether [`keep_fresh`] has anything to do for `session` (a cheap look, so a caller holding a
/// shared session copies it only when it will change).
pub fn refresh_due(identity: &Identity, session: &Session<PortalSession>) -> bool {
    session.data.sso.as_ref().is_some_and(|t| identity.tokens_due(t))
}

/// Makes sure `session` holds an access token that is not about to expire, refreshing it (or
/// waiting for the request that does) when needed. Sessions without provider tokens are left
/// alone.
pub async fn keep_fresh(
    identity: &Identity,
    sessions: &SessionStore,
    session: &mut Session<PortalSession>,
) -> Result<(), OidcError> {
    if !refresh_due(identity, session) {
        return Ok(());
    }
    let kv = identity.lock_store();
    let key = identity.refresh_lock_key(&session.id);
    let owner = random_token(16);
    let deadline = Instant::now() + identity.provider_timeout() + 2 * LEASE;
    loop {
        if kv.set_if_absent(&key, owner.as_bytes(), LEASE).await? {
            let result = refresh_holding_lock(identity, sessions, session, &key, &owner).await;
            if let Err(e) = kv.delete_if(&key, owner.as_bytes()).await {
                tracing::warn!(error = %e, "could not release the token refresh lock");
            }
            return result;
        }
        tokio::time::sleep(POLL).await;
        let current =
            sessions.load_fresh::<PortalSession>(&session.id).await?.ok_or(OidcError::UnknownState)?;
        if !refresh_due(identity, &current) {
            *session = current;
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(OidcError::ProviderUnavailable("token refresh took too long".into()));
        }
    }
}

async fn refresh_holding_lock(
    identity: &Identity,
    sessions: &SessionStore,
    session: &mut Session<PortalSession>,
    key: &str,
    owner: &str,
) -> Result<(), OidcError> {
    // Another request may have refreshed between our look and our lock.
    // From the store itself: an in-process copy could predate another replica's refresh.
    let current = sessions.load_fresh::<PortalSession>(&session.id).await?.ok_or(OidcError::UnknownState)?;
    *session = current;
    let Some(previous) = session.data.sso.clone().filter(|t| identity.tokens_due(t)) else {
        return Ok(());
    };
    let kv = identity.lock_store();
    let renew = async {
        loop {
            tokio::time::sleep(LEASE / 3).await;
            match kv.renew_if(key, owner.as_bytes(), LEASE).await {
                Ok(true) => {}
                Ok(false) => tracing::warn!("the token refresh lock was lost while refreshing"),
                Err(e) => tracing::warn!(error = %e, "could not renew the token refresh lock"),
            }
        }
    };
    let fresh = tokio::select! {
        result = identity.refreshed(&previous) => result?,
        () = renew => return Err(OidcError::ProviderUnavailable("token refresh stopped".into())),
    };
    session.data.sso = Some(fresh);
    sessions.save(session).await?;
    tracing::debug!("access token refreshed");
    Ok(())
}
