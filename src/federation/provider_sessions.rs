//! Single sign-on sessions by the provider's names for them, so that a back-channel logout finds
//! the sessions it names: an index under a keyed hash of the issuer with the ID token's `sid`,
//! and one with its `sub` (no provider id in clear), of the sessions' references. Added at
//! sign-in, taken out when a session ends; each index expires with the absolute timeout of the
//! newest session in it, and a lookup drops the references of sessions that ended on their own.

use std::time::Duration;

use super::{PortalSession, UserSessions};
use crate::sso::ProviderSession;
use crate::store::StoreError;

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
}

/// Whom the provider signed in for a session, for a single sign-on.
fn provider_session(data: &PortalSession) -> Option<&ProviderSession> {
    data.sso.as_ref().and_then(|t| t.signed_in_as.as_ref())
}
