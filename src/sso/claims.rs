//! The portal user from the ID token's claims: username (`username_claim`), name, email and the
//! organization name (`org_claim`), which maps the user onto every environment.

use super::OidcError;
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

fn usable(value: &str) -> bool {
    value.len() <= 255 && !value.chars().any(char::is_control)
}

pub fn user(settings: &OidcSettings, claims: &Claims) -> Result<SessionUser, OidcError> {
    let missing = |what, claim: &str| OidcError::MissingClaim { what, claim: claim.to_owned() };
    let login_name = text(claims, &settings.username_claim)
        .filter(|v| usable(v))
        .ok_or_else(|| missing("username", &settings.username_claim))?;
    let organization = text(claims, &settings.org_claim)
        .filter(|v| usable(v))
        .ok_or_else(|| missing("organization", &settings.org_claim))?;
    let name = text(claims, "name").filter(|v| usable(v)).unwrap_or_else(|| login_name.clone());
    let email = text(claims, "email").filter(|v| usable(v));
    Ok(SessionUser { login_name, name, email, role: Role::User, organization })
}
