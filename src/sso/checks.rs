//! What Portico checks of an ID token after `openidconnect` has accepted its signature, issuer,
//! audience, expiry and nonce, each refusal with a reason of its own: the authorized party
//! (`azp`, OpenID Connect Core §3.1.3.7 steps 4–5, which the crate leaves out) and an issue time
//! in the future (the crate would report it as `expired`, which sends an operator looking at the
//! wrong clock).

use chrono::{DateTime, TimeDelta, Utc};

use super::OidcError;
use super::types::Claims;

/// Clock difference tolerated between Portico and the provider on `exp` and `iat`.
pub(super) const SKEW: TimeDelta = TimeDelta::seconds(60);

/// Portico's own checks of claims the crate verified; `now` is Portico's clock.
pub(super) fn portico_checks(claims: &Claims, client_id: &str, now: DateTime<Utc>) -> Result<(), OidcError> {
    authorized_party(claims, client_id)?;
    issued_in_the_past(claims, now)
}

/// `azp` names the client the token was issued to. A token issued to another client is not
/// ours even when `aud` lists us, and a token for several audiences must say which one it was
/// issued to. (Portico trusts no audience but itself, so the crate already refuses a token with
/// several audiences as `audience`; the second rule holds should that ever change.)
fn authorized_party(claims: &Claims, client_id: &str) -> Result<(), OidcError> {
    match claims.authorized_party() {
        Some(party) if party.as_str() == client_id => Ok(()),
        Some(_) => Err(refused("authorized_party")),
        None if claims.audiences().len() > 1 => Err(refused("authorized_party")),
        None => Ok(()),
    }
}

/// A token issued later than now (beyond the skew) comes from a provider whose clock is wrong,
/// or was minted ahead of time to outlive its `exp`.
fn issued_in_the_past(claims: &Claims, now: DateTime<Utc>) -> Result<(), OidcError> {
    if claims.issue_time() > now + SKEW { Err(refused("issue_time")) } else { Ok(()) }
}

fn refused(reason: &'static str) -> OidcError {
    tracing::warn!(reason, "ID token refused");
    OidcError::InvalidToken(reason)
}

#[cfg(test)]
mod tests {
    use openidconnect::{Audience, ClientId, IssuerUrl, StandardClaims, SubjectIdentifier};

    use super::*;
    use crate::sso::types::AllClaims;

    fn claims(audiences: &[&str], azp: Option<&str>, iat: DateTime<Utc>) -> Claims {
        Claims::new(
            IssuerUrl::new("https://idp.example".to_owned()).unwrap(),
            audiences.iter().map(|a| Audience::new((*a).to_owned())).collect(),
            iat + TimeDelta::minutes(5),
            iat,
            StandardClaims::new(SubjectIdentifier::new("alice".to_owned())),
            AllClaims { claims: serde_json::Map::new() },
        )
        .set_authorized_party(azp.map(|a| ClientId::new(a.to_owned())))
    }

    #[test]
    fn the_authorized_party_must_be_portico_and_is_required_with_several_audiences() {
        let now = Utc::now();
        let check = |aud: &[&str], azp| portico_checks(&claims(aud, azp, now), "portico", now);
        assert_eq!(check(&["portico"], None), Ok(()));
        assert_eq!(check(&["portico"], Some("portico")), Ok(()));
        assert_eq!(check(&["portico", "other"], Some("portico")), Ok(()));
        let refused = Err(OidcError::InvalidToken("authorized_party"));
        assert_eq!(check(&["portico"], Some("another-client")), refused);
        assert_eq!(check(&["portico", "other"], None), refused);
        assert_eq!(check(&["portico", "other"], Some("other")), refused);
    }

    #[test]
    fn an_issue_time_in_the_future_has_its_own_reason_beyond_the_skew() {
        let now = Utc::now();
        let at = |iat| portico_checks(&claims(&["portico"], None, iat), "portico", now);
        assert_eq!(at(now + SKEW), Ok(()));
        assert_eq!(at(now - TimeDelta::hours(1)), Ok(()));
        assert_eq!(at(now + SKEW + TimeDelta::seconds(1)), Err(OidcError::InvalidToken("issue_time")));
    }
}
