//! Reading a HashiCorp Vault / OpenBao KV v2 secret field: `GET {address}/v1/{path}` with
//! `X-Vault-Token`; the answer's `data.data.{field}`, version in `data.metadata.version`.

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::Fetched;
use crate::config::VaultRef;
use crate::managed_identity::retry::fetch_with_retries;

#[derive(Deserialize)]
struct Answer {
    data: KvData,
}

#[derive(Deserialize)]
struct KvData {
    #[serde(default)]
    data: Option<serde_json::Map<String, serde_json::Value>>,
    #[serde(default)]
    metadata: Option<Metadata>,
}

#[derive(Deserialize)]
struct Metadata {
    #[serde(default)]
    version: Option<u64>,
}

#[derive(Deserialize)]
struct Errors {
    #[serde(default)]
    errors: Vec<String>,
}

pub(super) async fn read(
    http: &reqwest::Client,
    r: &VaultRef,
    token: &SecretString,
) -> Result<Fetched, String> {
    let mut url = r.address.clone();
    if let Ok(mut segments) = url.path_segments_mut() {
        segments.pop_if_empty().push("v1").extend(r.path.split('/').filter(|s| !s.is_empty()));
    }
    let body =
        fetch_with_retries(|| http.get(url.clone()).header("X-Vault-Token", token.expose_secret()), describe)
            .await?;
    let answer: Answer = serde_json::from_slice(&body).map_err(|_| {
        "Vault answered something that is not a KV v2 secret (is the path MOUNT/data/NAME?)".to_owned()
    })?;
    let fields = answer.data.data.ok_or("the secret is deleted or destroyed")?;
    let value = match fields.get(&r.field) {
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
        None => return Err(format!("the secret has no field `{}`", r.field)),
    };
    if value.is_empty() {
        return Err("the field is empty".to_owned());
    }
    let version = answer.data.metadata.and_then(|m| m.version).map(|v| v.to_string());
    Ok(Fetched { value: SecretString::from(value), version })
}

fn describe(status: u16, body: &[u8]) -> String {
    let errors = serde_json::from_slice::<Errors>(body).map(|e| e.errors).unwrap_or_default();
    match (status, errors.first()) {
        (404, _) => "404: no secret at this path".to_owned(),
        (403, _) => "403: permission denied (the token cannot read this path)".to_owned(),
        (_, Some(first)) => format!("{status}: {first}"),
        (_, None) => format!("Vault answered {status}"),
    }
}
