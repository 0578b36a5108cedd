//! Checks on the typed settings that serde cannot express: URL schemes, ranges, unique ids,
//! readable files, resolvable secrets. Messages never contain a secret value.

use std::path::Path;

use secrecy::{ExposeSecret, SecretString};
use url::Url;

use super::tree::KeyPath;

mod redis;
use super::{Duration, MAX_REVOCATION_WINDOW, SecretError, SecretRef, Settings, Severity};

/// One finding of the semantic checks.
pub(super) struct Check {
    pub key: KeyPath,
    pub severity: Severity,
    pub message: String,
    /// A warning about a secret written as a plain string: moot when the string came from the
    /// environment rather than the file.
    pub plain_secret: bool,
}

pub(super) type EnvLookup<'a> = &'a dyn Fn(&str) -> Result<Option<String>, SecretError>;

pub(super) const PLAIN_SECRET: &str =
    "is written as a plain string; outside local development use { env = \"NAME\" } or { file = \"PATH\" }";
const MIN_SECRET_BYTES: usize = 32;

pub(super) fn validate(settings: &Settings, env: EnvLookup<'_>) -> Vec<Check> {
    let mut c = Checker { env, out: Vec::new() };
    c.server(settings);
    c.session(settings);
    c.stores(settings);
    c.managers(settings);
    c.credentials(settings);
    c.limits(settings);
    c.oidc(settings);
    c.out
}

pub(super) struct Checker<'a> {
    env: EnvLookup<'a>,
    out: Vec<Check>,
}

pub(super) fn key(dotted: &str) -> KeyPath {
    KeyPath::parse(dotted)
}

impl Checker<'_> {
    pub(super) fn push(&mut self, key: KeyPath, severity: Severity, message: String, plain_secret: bool) {
        self.out.push(Check { key, severity, message, plain_secret });
    }

    pub(super) fn error(&mut self, key: KeyPath, message: impl Into<String>) {
        self.push(key, Severity::Error, message.into(), false);
    }

    pub(super) fn warn(&mut self, key: KeyPath, message: impl Into<String>) {
        self.push(key, Severity::Warning, message.into(), false);
    }

    /// Resolves a secret, reporting why it cannot be; warns when it is written in plain.
    /// Remote secrets are not read here (`check-config` reads them with the secret resolver);
    /// only a Vault token, which is local, is.
    pub(super) fn secret(&mut self, at: KeyPath, secret: &SecretRef) -> Option<SecretString> {
        match secret {
            SecretRef::KeyVault(_) => return None,
            SecretRef::Vault(vault) => {
                let _ = self.secret(at.key("token"), &vault.token);
                return None;
            }
            _ => {}
        }
        match secret.resolve_with(self.env) {
            Ok(value) => Some(value),
            Err(e) => {
                self.error(at, e.to_string());
                None
            }
        }
    }

    pub(super) fn http_url(&mut self, at: KeyPath, url: &Url) {
        if !matches!(url.scheme(), "http" | "https") {
            self.error(at, format!("must be an http:// or https:// URL, not {}:", url.scheme()));
        } else if url.host_str().is_none_or(str::is_empty) {
            self.error(at, "must name a host");
        }
    }

    pub(super) fn positive(&mut self, at: KeyPath, d: Duration) {
        if d.get().is_zero() {
            self.error(at, "must be longer than zero");
        }
    }

    fn at_least_one(&mut self, at: KeyPath, n: u64) {
        if n < 1 {
            self.error(at, "must be at least 1");
        }
    }

    fn pem_file(&mut self, at: KeyPath, path: &Path, what: Pem) {
        let bytes = match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(e) => {
                return self.error(at, format!("cannot read {}: {}", path.display(), e.kind()));
            }
        };
        if !what.found_in(&bytes) {
            self.error(at, format!("{} contains no PEM {}", path.display(), what.name()));
        }
    }

    fn server(&mut self, s: &Settings) {
        self.http_url(key("server.public_url"), &s.server.public_url);
        self.positive(key("server.body_timeout"), s.server.body_timeout);
        if s.metrics.listen.is_some_and(|metrics| metrics.port() != 0 && metrics == s.server.listen) {
            self.error(key("metrics.listen"), "must differ from server.listen");
        }
        let Some(tls) = &s.server.tls else { return };
        match (&tls.cert_file, &tls.key_file, &tls.pkcs12) {
            (Some(cert), Some(private), None) => {
                self.pem_file(key("server.tls.cert_file"), cert, Pem::Certificate);
                self.pem_file(key("server.tls.key_file"), private, Pem::PrivateKey);
            }
            (None, None, Some(bundle)) => {
                let _ = self.secret(key("server.tls.pkcs12"), bundle);
                if bundle.is_plain() {
                    self.push(key("server.tls.pkcs12"), Severity::Warning, PLAIN_SECRET.to_owned(), true);
                }
            }
            (None, None, None) => self.error(key("server.tls"), "set cert_file and key_file, or pkcs12"),
            (_, _, Some(_)) => {
                self.error(key("server.tls"), "set either cert_file and key_file, or pkcs12, not both")
            }
            (None, _, None) => {
                self.error(key("server.tls.cert_file"), "key_file is set, so cert_file is required")
            }
            (_, None, None) => {
                self.error(key("server.tls.key_file"), "cert_file is set, so key_file is required")
            }
        }
    }

    fn session(&mut self, s: &Settings) {
        let session = &s.session;
        match &session.secret {
            None => self.warn(
                key("session.secret"),
                "not set: a random key is used, so sessions will not survive a restart and replicas cannot share them",
            ),
            Some(secret) => {
                if secret.is_plain() {
                    self.push(key("session.secret"), Severity::Warning, PLAIN_SECRET.to_owned(), true);
                }
                let len = self.secret(key("session.secret"), secret).map(|v| v.expose_secret().len());
                if let Some(len) = len.filter(|&l| l < MIN_SECRET_BYTES) {
                    self.warn(
                        key("session.secret"),
                        format!("is only {len} {} long; use at least {MIN_SECRET_BYTES} random bytes (e.g. `openssl rand -base64 48`)", if len == 1 { "byte" } else { "bytes" }),
                    );
                }
            }
        }
        self.positive(key("session.idle_timeout"), session.idle_timeout);
        self.positive(key("session.absolute_timeout"), session.absolute_timeout);
        if session.idle_timeout > session.absolute_timeout {
            self.error(
                key("session.idle_timeout"),
                format!(
                    "{} is longer than session.absolute_timeout ({})",
                    session.idle_timeout, session.absolute_timeout
                ),
            );
        }
        if session.revocation_window.get() > MAX_REVOCATION_WINDOW {
            self.error(
                key("session.revocation_window"),
                format!(
                    "{} is longer than {}: a replica reads a session from the store again after that long anyway",
                    session.revocation_window,
                    humantime::format_duration(MAX_REVOCATION_WINDOW),
                ),
            );
        }
        if !is_cookie_token(&session.cookie_name) {
            self.error(
                key("session.cookie_name"),
                format!(
                    "{:?} is not a valid cookie name: use letters, digits and - _ . ! # $ % & ' * + ^ ` | ~",
                    session.cookie_name
                ),
            );
        }
    }

    fn stores(&mut self, s: &Settings) {
        if let Some(redis) = &s.redis {
            self.redis(redis);
        }
        self.store_url(
            key("database.url"),
            &s.database.url,
            &["sqlite", "postgres", "postgresql"],
            "sqlite:, postgres:// or postgresql://",
        );
        self.at_least_one(key("database.max_connections"), u64::from(s.database.max_connections));
    }

    /// A store URL may be a secret reference; its value is checked but never repeated.
    fn store_url(&mut self, at: KeyPath, url: &SecretRef, schemes: &[&str], expected: &str) {
        let Some(value) = self.secret(at.clone(), url) else {
            return;
        };
        let value = value.expose_secret();
        let scheme = value.split_once(':').map(|(scheme, _)| scheme.to_ascii_lowercase());
        if !scheme.is_some_and(|s| schemes.contains(&s.as_str())) {
            return self.error(at, format!("must start with {expected}"));
        }
        if !value.starts_with("sqlite:") && Url::parse(value).is_err() {
            return self.error(at, "is not a valid URL");
        }
        let has_password = Url::parse(value).is_ok_and(|u| u.password().is_some());
        if url.is_plain() && has_password {
            let message = "embeds a password in a plain string; put the whole URL in a secret reference such as { env = \"NAME\" }";
            self.push(at, Severity::Warning, message.to_owned(), true);
        }
    }

    fn managers(&mut self, s: &Settings) {
        let m = &s.master;
        self.manager(&key("master"), &m.url, &m.base_path, m.ca_file.as_deref(), m.timeout);
        self.gateway(&key("master"), m.gateway.as_ref());
        if let Some(auth) = &m.auth {
            self.manager_auth(&key("master").key("auth"), auth, s);
        }
        let mut seen = vec![(m.id.clone(), "master".to_owned())];
        for (i, slave) in s.slaves.iter().enumerate() {
            let at = key("slaves").index(i);
            self.manager(&at, &slave.url, &slave.base_path, slave.ca_file.as_deref(), slave.timeout);
            self.gateway(&at, slave.gateway.as_ref());
            if let Some(auth) = &slave.auth {
                self.manager_auth(&at.key("auth"), auth, s);
            }
            if slave.name.trim().is_empty() {
                self.error(at.key("name"), "must not be empty");
            }
            match seen.iter().find(|(id, _)| *id == slave.id) {
                Some((_, first)) => {
                    self.error(at.key("id"), format!("id \"{}\" is already used by {first}", slave.id))
                }
                None => seen.push((slave.id.clone(), format!("slaves[{i}]"))),
            }
        }
        self.positive(key("federation.timeout"), s.federation.timeout);
    }

    fn manager(
        &mut self,
        at: &KeyPath,
        url: &Url,
        base_path: &str,
        ca_file: Option<&Path>,
        timeout: Option<Duration>,
    ) {
        self.http_url(at.key("url"), url);
        if !base_path.starts_with('/') {
            self.error(at.key("base_path"), format!("{base_path:?} must start with /"));
        }
        if let Some(ca_file) = ca_file {
            self.pem_file(at.key("ca_file"), ca_file, Pem::Certificate);
        }
        if let Some(timeout) = timeout {
            self.positive(at.key("timeout"), timeout);
        }
    }

    /// A manager's API gateway ("try it"): where calls go, so nothing but scheme, host, port and a
    /// path prefix.
    fn gateway(&mut self, at: &KeyPath, gateway: Option<&Url>) {
        let Some(gateway) = gateway else { return };
        self.http_url(at.key("gateway"), gateway);
        if gateway.query().is_some()
            || gateway.fragment().is_some()
            || !gateway.username().is_empty()
            || gateway.password().is_some()
        {
            self.error(
                at.key("gateway"),
                "must be scheme, host, port and an optional path: no query, fragment or credentials",
            );
        }
    }

    fn limits(&mut self, s: &Settings) {
        let lp = &s.login_protection;
        self.at_least_one(key("login_protection.max_failures"), u64::from(lp.max_failures));
        self.at_least_one(key("login_protection.max_failures_per_ip"), u64::from(lp.max_failures_per_ip));
        self.positive(key("login_protection.window"), lp.window);
        self.positive(key("login_protection.lock_duration"), lp.lock_duration);
        self.positive(key("cache.catalog_ttl"), s.cache.catalog_ttl);
        self.positive(key("cache.organization_ttl"), s.cache.organization_ttl);
        if let Err(e) = tracing_subscriber::EnvFilter::try_new(&s.log.level) {
            self.error(key("log.level"), format!("{:?} is not a log filter: {e}", s.log.level));
        }
    }
}

impl Checker<'_> {
    fn oidc(&mut self, s: &Settings) {
        let Some(oidc) = &s.oidc else { return };
        self.http_url(key("oidc.issuer"), &oidc.issuer);
        let local =
            oidc.issuer.host_str().is_some_and(|h| h == "localhost" || h.starts_with("127.") || h == "[::1]");
        if oidc.issuer.scheme() == "http" && !local {
            self.warn(
                key("oidc.issuer"),
                "is plain http: outside local development the provider must be https",
            );
        }
        if oidc.issuer.query().is_some() || oidc.issuer.fragment().is_some() {
            self.error(key("oidc.issuer"), "must not have a query or a fragment");
        }
        if oidc.client_id.trim().is_empty() {
            self.error(key("oidc.client_id"), "must not be empty");
        }
        if let Some(secret) = &oidc.client_secret {
            if secret.is_plain() {
                self.push(key("oidc.client_secret"), Severity::Warning, PLAIN_SECRET.to_owned(), true);
            }
            let _ = self.secret(key("oidc.client_secret"), secret);
        }
        for (i, scope) in oidc.scopes.iter().enumerate() {
            if scope.is_empty() || scope.chars().any(|c| c.is_whitespace() || c.is_control() || c == '"') {
                self.error(key("oidc.scopes").index(i), format!("{scope:?} is not a scope name"));
            }
        }
        for (name, claim) in
            [("oidc.username_claim", &oidc.username_claim), ("oidc.org_claim", &oidc.org_claim)]
        {
            if claim.trim().is_empty() {
                self.error(key(name), "must name a claim");
            }
        }
        if oidc.display_name.trim().is_empty() {
            self.error(key("oidc.display_name"), "must not be empty");
        }
        self.positive(key("oidc.timeout"), oidc.timeout);
        if let Some(ca_file) = &oidc.ca_file {
            self.pem_file(key("oidc.ca_file"), ca_file, Pem::Certificate);
        }
        if oidc.manager_auth == super::ManagerAuthMode::Service {
            if s.master.auth.is_none() {
                self.error(
                    key("master.auth"),
                    "oidc.manager_auth is \"service\": every manager needs a service credential (auth)",
                );
            }
            for (i, slave) in s.slaves.iter().enumerate().filter(|(_, slave)| slave.auth.is_none()) {
                self.error(
                    key("slaves").index(i).key("auth"),
                    format!(
                        "oidc.manager_auth is \"service\": slave \"{}\" needs a service credential (auth)",
                        slave.id
                    ),
                );
            }
        }
    }
}

#[derive(Clone, Copy)]
enum Pem {
    Certificate,
    PrivateKey,
}

impl Pem {
    fn name(self) -> &'static str {
        match self {
            Pem::Certificate => "certificate",
            Pem::PrivateKey => "private key",
        }
    }

    fn found_in(self, bytes: &[u8]) -> bool {
        use rustls_pki_types::pem::PemObject;
        use rustls_pki_types::{CertificateDer, PrivateKeyDer};
        match self {
            Pem::Certificate => {
                let certs: Result<Vec<_>, _> = CertificateDer::pem_slice_iter(bytes).collect();
                certs.is_ok_and(|c| !c.is_empty())
            }
            Pem::PrivateKey => PrivateKeyDer::from_pem_slice(bytes).is_ok(),
        }
    }
}

/// RFC 6265 `cookie-name` = RFC 2616 token: visible ASCII except separators.
fn is_cookie_token(name: &str) -> bool {
    const SEPARATORS: &[u8] = b"()<>@,;:\\\"/[]?={} \t";
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_graphic() && !SEPARATORS.contains(&b))
}
