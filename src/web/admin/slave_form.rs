//! The slave manager form: what was typed, and checking it into a [`ManagerDefinition`] or a message
//! per field. Uniqueness of the id needs the registry and is checked by the handler.

use std::time::Duration;

use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use serde::Deserialize;
use url::Url;

use crate::config::default_base_path;
use crate::domain::{EnvironmentId, ManagerDefinition, TlsMode};
use crate::store::SlaveRow;

pub const MAX_NAME_CHARS: usize = 100;
const MIN_TIMEOUT: Duration = Duration::from_millis(100);
const MAX_TIMEOUT: Duration = Duration::from_secs(300);

/// The form as posted (and as shown again): every field as typed. No `Debug`: a password typed
/// where a reference belongs must not reach a log.
#[derive(Clone, Default, Deserialize)]
pub struct SlaveForm {
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub url: String,
    #[serde(default)]
    pub base_path: String,
    #[serde(default)]
    pub tls_mode: String,
    #[serde(default)]
    pub ca_pem: String,
    #[serde(default)]
    pub timeout: String,
    /// The API gateway "try it" calls (empty: none).
    #[serde(default)]
    pub gateway: String,
    /// Checkboxes: present ("on") when ticked, absent otherwise.
    #[serde(default)]
    pub enabled: Option<String>,
    #[serde(default)]
    pub required: Option<String>,
    /// The service credential's kind: `none` (or absent), `basic`, `managed_identity`,
    /// `connection` (see [`super::slave_auth`]).
    #[serde(default)]
    pub auth_kind: String,
    #[serde(default)]
    pub auth_username: String,
    /// Where the password is: `env:NAME`, `file:/path` or an inline table (never the password).
    #[serde(default)]
    pub auth_password: String,
    #[serde(default)]
    pub auth_resource: String,
    #[serde(default)]
    pub auth_client_id: String,
    #[serde(default)]
    pub auth_connection: String,
    /// The stored version the edit started from (edit form only).
    #[serde(default)]
    pub version: String,
    #[serde(default)]
    pub csrf_token: String,
}

impl SlaveForm {
    /// A new slave's defaults: full TLS checks, enabled.
    pub fn blank() -> Self {
        Self {
            base_path: default_base_path(),
            tls_mode: TlsMode::Full.as_str().to_owned(),
            enabled: Some("on".to_owned()),
            auth_kind: "none".to_owned(),
            ..Self::default()
        }
    }

    /// A stored slave, ready to edit.
    pub fn from_row(stored: &SlaveRow) -> Self {
        let on = |b: bool| b.then(|| "on".to_owned());
        let row = &stored.manager;
        let mut form = Self {
            id: row.id.to_string(),
            name: row.name.clone(),
            url: row.url.as_str().trim_end_matches('/').to_owned(),
            base_path: row.base_path.clone(),
            tls_mode: row.tls_mode.as_str().to_owned(),
            ca_pem: row.ca_pem.clone().unwrap_or_default(),
            timeout: row.timeout.map(|t| humantime::format_duration(t).to_string()).unwrap_or_default(),
            gateway: row
                .gateway
                .as_ref()
                .map(|g| g.as_str().trim_end_matches('/').to_owned())
                .unwrap_or_default(),
            enabled: on(row.enabled),
            required: on(row.required),
            version: stored.version.to_string(),
            ..Self::default()
        };
        super::slave_auth::fill(&mut form, stored.auth.as_ref());
        form
    }

    /// The form as shown again: a password field that is not a reference (it may be a
    /// password) is emptied.
    pub fn without_plain_secret(mut self) -> Self {
        if !super::slave_auth::looks_like_reference(&self.auth_password) {
            self.auth_password.clear();
        }
        self
    }

    pub fn is_enabled(&self) -> bool {
        self.enabled.is_some()
    }

    pub fn is_required(&self) -> bool {
        self.required.is_some()
    }
}

/// A message next to each field that is wrong.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldErrors {
    pub id: Option<String>,
    pub name: Option<String>,
    pub url: Option<String>,
    pub base_path: Option<String>,
    pub tls_mode: Option<String>,
    pub ca_pem: Option<String>,
    pub timeout: Option<String>,
    pub gateway: Option<String>,
    pub auth: super::slave_auth::AuthErrors,
}

impl FieldErrors {
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// Checks every field (all messages at once). `id` is the path's id when editing (the id of a
/// stored slave does not change).
pub fn check(form: &SlaveForm, id: Option<&EnvironmentId>) -> Result<ManagerDefinition, Box<FieldErrors>> {
    let mut errors = FieldErrors::default();
    let id = match id {
        Some(id) => Some(id.clone()),
        None => EnvironmentId::parse(form.id.trim())
            .map_err(|_| {
                errors.id = Some(if form.id.trim().is_empty() {
                    "Enter an id.".to_owned()
                } else {
                    "Use 1 to 64 lowercase letters, digits, '-' or '_', starting with a letter or digit."
                        .to_owned()
                })
            })
            .ok(),
    };
    let name = form.name.trim();
    if name.is_empty() {
        errors.name = Some("Enter a name.".to_owned());
    } else if name.chars().count() > MAX_NAME_CHARS {
        errors.name = Some(format!("Use at most {MAX_NAME_CHARS} characters."));
    } else if name.chars().any(char::is_control) {
        errors.name = Some("Use one line of text.".to_owned());
    }
    let url = check_url(form.url.trim()).map_err(|e| errors.url = Some(e)).ok();
    let base_path = check_base_path(form.base_path.trim()).map_err(|e| errors.base_path = Some(e)).ok();
    let tls_mode = form
        .tls_mode
        .parse::<TlsMode>()
        .map_err(|_| {
            errors.tls_mode =
                Some("Choose how the certificate is checked: full, certificate or none.".to_owned())
        })
        .ok();
    let ca_pem = form.ca_pem.trim();
    if !ca_pem.is_empty()
        && let Err(e) = check_ca_pem(ca_pem)
    {
        errors.ca_pem = Some(e);
    }
    let timeout = check_timeout(form.timeout.trim()).map_err(|e| errors.timeout = Some(e)).ok();
    let gateway = check_gateway(form.gateway.trim()).map_err(|e| errors.gateway = Some(e)).ok();
    match (id, url, base_path, tls_mode, timeout, gateway) {
        (Some(id), Some(url), Some(base_path), Some(tls_mode), Some(timeout), Some(gateway))
            if errors.is_empty() =>
        {
            Ok(ManagerDefinition {
                id,
                name: name.to_owned(),
                url,
                base_path,
                tls_mode,
                ca_pem: (!ca_pem.is_empty()).then(|| format!("{ca_pem}\n")),
                timeout,
                enabled: form.is_enabled(),
                required: form.is_required(),
                gateway,
            })
        }
        _ => Err(Box::new(errors)),
    }
}

fn check_url(raw: &str) -> Result<Url, String> {
    let example = "Enter the manager's address, like https://manager.example.com:8075.";
    if raw.is_empty() {
        return Err(example.to_owned());
    }
    let url = Url::parse(raw).map_err(|_| example.to_owned())?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none_or(str::is_empty) {
        return Err("The address must start with https:// (or http://) and name a host.".to_owned());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("Leave credentials out of the address.".to_owned());
    }
    if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
        return Err("Give the address without a path: the API's path goes in Base path.".to_owned());
    }
    Ok(url)
}

/// The API gateway: like the address, and it may have a path (a prefix the gateway serves under).
fn check_gateway(raw: &str) -> Result<Option<Url>, String> {
    if raw.is_empty() {
        return Ok(None);
    }
    let example =
        "Enter the API gateway's address, like https://gateway.example.com:8065, or leave it empty.";
    let url = Url::parse(raw).map_err(|_| example.to_owned())?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none_or(str::is_empty) {
        return Err("The gateway's address must start with https:// (or http://) and name a host.".to_owned());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("Leave credentials out of the address.".to_owned());
    }
    if url.query().is_some()
        || url.fragment().is_some()
        || url.path().split('/').any(|s| s == ".." || s == ".")
    {
        return Err("Give the address with at most a path: no query, fragment or dot segments.".to_owned());
    }
    Ok(Some(url))
}

fn check_base_path(raw: &str) -> Result<String, String> {
    if raw.is_empty() {
        return Ok(default_base_path());
    }
    let ok = raw.starts_with('/')
        && raw.len() <= 200
        && raw.split('/').all(|s| s != ".." && s != ".")
        && raw.chars().all(|c| c.is_ascii_graphic() && !matches!(c, '?' | '#' | '\\'));
    if ok {
        Ok(raw.to_owned())
    } else {
        Err("Use a path that starts with '/', like /api/portal/v1.3.".to_owned())
    }
}

/// The CA certificates a pasted PEM text holds; refuses private keys and anything unreadable.
pub fn check_ca_pem(pem: &str) -> Result<usize, String> {
    if pem.contains("PRIVATE KEY-----") {
        return Err("This holds a private key: paste only the CA certificate(s).".to_owned());
    }
    let mut count = 0usize;
    for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
        let cert = cert.map_err(|_| "This is not readable PEM: paste the certificate(s) as they are, from -----BEGIN CERTIFICATE----- to -----END CERTIFICATE-----.".to_owned())?;
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(cert)
            .map_err(|_| format!("Certificate {} is not a valid X.509 CA certificate.", count + 1))?;
        count += 1;
    }
    if count == 0 {
        return Err("No certificate found: paste one or more -----BEGIN CERTIFICATE----- blocks.".to_owned());
    }
    Ok(count)
}

fn check_timeout(raw: &str) -> Result<Option<Duration>, String> {
    if raw.is_empty() {
        return Ok(None);
    }
    let d = humantime::parse_duration(raw)
        .map_err(|_| "Write a duration like \"5s\", \"500ms\" or \"1m\".".to_owned())?;
    if (MIN_TIMEOUT..=MAX_TIMEOUT).contains(&d) {
        Ok(Some(d))
    } else {
        Err("Use a duration between 100ms and 5m.".to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form() -> SlaveForm {
        SlaveForm {
            id: "prod-us".into(),
            name: "Production US".into(),
            url: "https://manager.example.com:8075".into(),
            ..SlaveForm::blank()
        }
    }

    #[test]
    fn a_good_form_checks_and_every_bad_field_says_why() {
        let ok = check(&form(), None).unwrap();
        assert_eq!(ok.url.as_str(), "https://manager.example.com:8075/");
        assert_eq!(
            (ok.base_path.as_str(), ok.tls_mode, ok.enabled, ok.required),
            ("/api/portal/v1.3", TlsMode::Full, true, false)
        );
        let bad = SlaveForm {
            id: "Prod US".into(),
            name: " ".into(),
            url: "ftp://x".into(),
            base_path: "api".into(),
            tls_mode: "sometimes".into(),
            ca_pem: "not a certificate".into(),
            timeout: "soon".into(),
            ..form()
        };
        let errors = check(&bad, None).unwrap_err();
        assert!(errors.id.unwrap().starts_with("Use 1 to 64"));
        assert_eq!(errors.name.as_deref(), Some("Enter a name."));
        assert!(errors.url.unwrap().starts_with("The address must start with https://"));
        assert!(errors.base_path.is_some() && errors.tls_mode.is_some());
        assert!(errors.ca_pem.unwrap().starts_with("No certificate found"));
        assert!(errors.timeout.unwrap().starts_with("Write a duration"));
        for (url, start) in [
            ("https://m.example.com/api", "Give the address without a path"),
            ("https://u:p@m.example.com", "Leave credentials out"),
            ("", "Enter the manager's address"),
        ] {
            let errors = check(&SlaveForm { url: url.into(), ..form() }, None).unwrap_err();
            assert!(errors.url.as_deref().unwrap().starts_with(start), "{url}");
        }
        let too_long = check(&SlaveForm { timeout: "10m".into(), ..form() }, None).unwrap_err();
        assert_eq!(too_long.timeout.as_deref(), Some("Use a duration between 100ms and 5m."));
        let key = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";
        assert!(check_ca_pem(key).unwrap_err().contains("private key"));
        let broken = "-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n";
        assert!(check_ca_pem(broken).unwrap_err().starts_with("This is not readable PEM"));
    }
}
