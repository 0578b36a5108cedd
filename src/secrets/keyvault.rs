//! Reading an Azure Key Vault secret: `GET {vault}/secrets/{name}[/{version}]?api-version=…`
//! with a bearer token of the managed identity for the vault's resource. Errors come as
//! `{"error": {"code", "message", "innererror": {"code"}}}` and are reported with the secret's
//! name.

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::Fetched;
use crate::config::KeyVaultRef;
use crate::managed_identity::ManagedIdentity;
use crate::managed_identity::retry::fetch_with_retries;

#[derive(Deserialize)]
struct SecretBundle {
    value: String,
    #[serde(default)]
    id: Option<String>,
}

#[derive(Deserialize)]
struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Deserialize)]
struct ErrorDetail {
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    innererror: Option<Box<ErrorDetail>>,
}

/// The token audience of a vault: `https://vault.azure.net` for `NAME.vault.azure.net` (and the
/// matching suffix in other clouds); the public cloud's for anything else (a test endpoint).
fn resource(r: &KeyVaultRef) -> String {
    match r.vault.host() {
        Some(url::Host::Domain(host)) if host.matches('.').count() >= 2 => {
            let suffix = host.split_once('.').map(|(_, rest)| rest).unwrap_or(host);
            format!("https://{suffix}")
        }
        _ => "https://vault.azure.net".to_owned(),
    }
}

pub(super) async fn read(
    http: &reqwest::Client,
    identity: &ManagedIdentity,
    api_version: &str,
    r: &KeyVaultRef,
) -> Result<Fetched, String> {
    let token = identity
        .token(&resource(r), r.identity.as_deref())
        .await
        .map_err(|e| format!("no token for the vault: {e}"))?;
    let mut url = r.vault.clone();
    if let Ok(mut path) = url.path_segments_mut() {
        path.pop_if_empty().push("secrets").push(&r.name);
        if let Some(version) = &r.version {
            path.push(version);
        }
    }
    url.query_pairs_mut().append_pair("api-version", api_version);
    let body =
        fetch_with_retries(|| http.get(url.clone()).bearer_auth(token.expose_secret()), describe).await?;
    let bundle: SecretBundle =
        serde_json::from_slice(&body).map_err(|_| "the vault answered something unreadable".to_owned())?;
    let version = bundle.id.as_deref().and_then(|id| id.rsplit('/').next()).map(str::to_owned);
    if bundle.value.is_empty() {
        return Err("the secret is empty".to_owned());
    }
    Ok(Fetched { value: SecretString::from(bundle.value), version })
}

/// `403 Forbidden (SecretDisabled): Operation get is not allowed on a disabled secret.`
fn describe(status: u16, body: &[u8]) -> String {
    match serde_json::from_slice::<ErrorBody>(body) {
        Ok(ErrorBody { error }) => {
            let mut out = format!("{status} {}", error.code.as_deref().unwrap_or("error"));
            if let Some(inner) = error.innererror.as_ref().and_then(|i| i.code.as_deref()) {
                out.push_str(&format!(" ({inner})"));
            }
            if let Some(message) = error.message.as_deref().filter(|m| !m.is_empty()) {
                out.push_str(": ");
                out.push_str(message);
            }
            out
        }
        Err(_) => format!("the vault answered {status}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_read_as_the_vault_wrote_them() {
        let body = br#"{"error":{"code":"Forbidden","message":"Operation get is not allowed on a disabled secret.","innererror":{"code":"SecretDisabled"}}}"#;
        assert_eq!(
            describe(403, body),
            "403 Forbidden (SecretDisabled): Operation get is not allowed on a disabled secret."
        );
        assert_eq!(describe(502, b"<html>"), "the vault answered 502");
    }
}
