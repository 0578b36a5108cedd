//! The portal user from the ID token's claims: username (`username_claim`), name, email and the
//! organization name (`org_claim`), which maps the user onto every environment.

use super::OidcError;
use super::error::{ClaimProblem, MAX_CLAIM_BYTES};
use super::types::Claims;
use crate::config::OidcSettings;
use crate::domain::Role;
use crate::domain::SessionUser;

/// A claim as text: a string, or a list holding exactly one string.
fn text(claims: &Claims, name: &str) -> Option<String> {
    let from_map = claims.additional_claims().claims.get(name).and_then(|v| match v {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Array(items) if items.len() == 1 => items[0].as_str().map(str::to_owned),
        _ => None,
    });
    // The standard claims, in case the library kept them to itself.
    let standard = || match name {
        "sub" => Some(claims.subject().to_string()),
        "preferred_username" => claims.preferred_username().map(|u| u.to_string()),
        "email" => claims.email().map(|e| e.to_string()),
        "name" => claims.name().and_then(|n| n.get(None)).map(|n| n.to_string()),
        _ => None,
    };
    from_map.or_else(standard).map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())
}

/// What is wrong with a claim's value, if anything.
fn problem(value: &str) -> Option<ClaimProblem> {
    if value.len() > MAX_CLAIM_BYTES {
        Some(ClaimProblem::TooLong)
    } else if value.chars().any(char::is_control) {
        Some(ClaimProblem::ControlCharacters)
    } else {
        None
    }
}

/// A claim the user cannot be signed in without; absent and unusable are told apart, so that the
/// person (and the audit log) learns what to ask the provider's administrator to fix.
fn required(claims: &Claims, claim: &str, what: &'static str) -> Result<String, OidcError> {
    let value =
        text(claims, claim).ok_or_else(|| OidcError::MissingClaim { what, claim: claim.to_owned() })?;
    match problem(&value) {
        None => Ok(value),
        Some(problem) => Err(OidcError::UnusableClaim { what, claim: claim.to_owned(), problem }),
    }
}

/// A claim the user can do without: left out when unusable.
fn optional(claims: &Claims, claim: &str) -> Option<String> {
    text(claims, claim).filter(|v| problem(v).is_none())
}

pub fn user(settings: &OidcSettings, claims: &Claims) -> Result<SessionUser, OidcError> {
    let login_name = required(claims, &settings.username_claim, "username")?;
    let organization = required(claims, &settings.org_claim, "organization")?;
    let name = optional(claims, "name").unwrap_or_else(|| login_name.clone());
    let email = optional(claims, "email");
    Ok(SessionUser { login_name, name, email, role: Role::User, organization })
}

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use openidconnect::{IssuerUrl, StandardClaims, SubjectIdentifier};

    use super::*;
    use crate::sso::types::AllClaims;

    fn claims(extra: serde_json::Value) -> Claims {
        let serde_json::Value::Object(claims) = extra else { panic!("an object") };
        Claims::new(
            IssuerUrl::new("https://idp.example".to_owned()).unwrap(),
            vec![],
            Utc::now(),
            Utc::now(),
            StandardClaims::new(SubjectIdentifier::new("alice".to_owned())),
            AllClaims { claims },
        )
    }

    #[test]
    fn a_claim_that_is_there_but_unusable_is_not_reported_missing() {
        let long = "a".repeat(MAX_CLAIM_BYTES + 1);
        let c = claims(
            serde_json::json!({ "org": "Ac\u{7}me", "preferred_username": long, "name": "\u{1b}[31m" }),
        );
        let unusable =
            |claim: &str, problem| OidcError::UnusableClaim { what: "x", claim: claim.to_owned(), problem };
        assert_eq!(
            required(&c, "preferred_username", "x"),
            Err(unusable("preferred_username", ClaimProblem::TooLong))
        );
        assert_eq!(required(&c, "org", "x"), Err(unusable("org", ClaimProblem::ControlCharacters)));
        assert_eq!(
            required(&c, "group", "x"),
            Err(OidcError::MissingClaim { what: "x", claim: "group".to_owned() })
        );
        assert_eq!(
            required(&claims(serde_json::json!({ "org": "a".repeat(MAX_CLAIM_BYTES) })), "org", "x")
                .map(|v| v.len()),
            Ok(MAX_CLAIM_BYTES)
        );
        // An optional claim that cannot be used is left out instead of refusing the sign-in.
        assert_eq!(optional(&c, "name"), None);
        assert_eq!(unusable("org", ClaimProblem::TooLong).kind(), "claim_too_long");
        assert_eq!(unusable("org", ClaimProblem::ControlCharacters).kind(), "claim_control_characters");
    }
}
