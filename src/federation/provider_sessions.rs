//! Single sign-on sessions by the provider's names for them, so that a back-channel logout finds
//! the sessions it names: an index under a keyed hash of the issuer with the ID token's `sid`,
//! and one with its `sub` (no provider id in clear), of the sessions' references. Added at
//! sign-in, taken out when a session ends; each index expires with the absolute timeout of the
//! newest session in it, and a lookup drops the references of sessions that ended on their own.

use std::time::Duration;

use super::{PortalSession, UserSession, UserSessions};
use crate::sso::{LogoutToken, ProviderSession};
use crate::store::{SessionStore, StoreError};

impl UserSessions {
    fn sid_index(&self, issuer: &str, sid: &str) -> String {
        let value = format!("{issuer}\0{sid}");
        format!("sso-sid:{}", self.keys.lookup_hash("sso-sid", value.as_bytes()))
    }

    fn sub_index(&self, issuer: &str, subject: &str) -> String {
        let value = format!("{issuer}\0{subject}");
        format!("sso-sub:{}", self.keys.lookup_hash("sso-sub", value.as_bytes()))
    }

    /// Records a new single sign-on session under the provider's names for it; `keep_for` is
    /// the absolute timeout, which no session outlives.
    pub async fn add_provider_session(
        &self,
        who: &ProviderSession,
        reference: &str,
        created_at: i64,
        keep_for: Duration,
    ) -> Result<(), StoreError> {
        let until = created_at.saturating_add(i64::try_from(keep_for.as_millis()).unwrap_or(i64::MAX));
        if let Some(sid) = &who.sid {
            let index = self.sid_index(&who.issuer, sid);
            self.kv.index_put_expiring(&index, reference, until, keep_for).await?;
        }
        let index = self.sub_index(&who.issuer, &who.subject);
        self.kv.index_put_expiring(&index, reference, until, keep_for).await
    }

    /// Takes an ended session out of the provider's indexes (nothing for a password session).
    pub(super) async fn forget_provider_session(
        &self,
        data: &PortalSession,
        reference: &str,
    ) -> Result<(), StoreError> {
        let Some(who) = provider_session(data) else { return Ok(()) };
        if let Some(sid) = &who.sid {
            self.kv.index_remove(&self.sid_index(&who.issuer, sid), reference).await?;
        }
        self.kv.index_remove(&self.sub_index(&who.issuer, &who.subject), reference).await
    }

    /// The live sessions a logout token names: those of its `sid` (and of its `sub` too, when it
    /// has both), or with only a `sub`, every session of that subject. References of sessions
    /// gone meanwhile are dropped from the index.
    pub(super) async fn named_by(
        &self,
        sessions: &SessionStore,
        token: &LogoutToken,
    ) -> Result<Vec<UserSession>, StoreError> {
        let index = match (&token.sid, &token.sub) {
            (Some(sid), _) => self.sid_index(&token.issuer, sid),
            (None, Some(sub)) => self.sub_index(&token.issuer, sub),
            (None, None) => return Ok(Vec::new()),
        };
        let mut named = Vec::new();
        for (reference, _) in self.kv.index_members(&index).await? {
            let peeked = sessions.peek::<PortalSession>(&reference).await?;
            let Some(peeked) = peeked.filter(|p| indexed_rightly(provider_session(&p.data), token)) else {
                self.kv.index_remove(&index, &reference).await?;
                continue;
            };
            let who = provider_session(&peeked.data);
            let subject_matches = token.sub.as_ref().is_none_or(|sub| who.is_some_and(|w| &w.subject == sub));
            if subject_matches {
                let (created_at, last_seen_ms) = (peeked.created_at, peeked.last_seen_ms);
                named.push(UserSession { reference, created_at, last_seen_ms, data: peeked.data });
            }
        }
        Ok(named)
    }
}

/// Whom the provider signed in for a session, for a single sign-on.
fn provider_session(data: &PortalSession) -> Option<&ProviderSession> {
    data.sso.as_ref().and_then(|t| t.signed_in_as.as_ref())
}

/// Whether a session found in the index the token's lookup used is one that index names: of the
/// token's issuer, with its `sid` (or its `sub`, looked up by `sub`). Anything else is a stale
/// reference.
fn indexed_rightly(who: Option<&ProviderSession>, token: &LogoutToken) -> bool {
    let Some(who) = who.filter(|w| w.issuer == token.issuer) else { return false };
    match (&token.sid, &token.sub) {
        (Some(sid), _) => who.sid.as_ref() == Some(sid),
        (None, Some(sub)) => &who.subject == sub,
        (None, None) => false,
    }
}
