//! Serving HTTPS directly (`[server.tls]`): the certificate from PEM files or a PKCS#12 secret
//! (such as a Key Vault certificate secret), swapped while running.
//!
//! The certificate is chosen per handshake by a resolver that holds the current one; a
//! background check re-reads the source every `server.tls.refresh` (the PKCS#12 secret itself
//! refreshes on its own `refresh`) and swaps in a changed certificate. New connections get the
//! new one; established connections keep theirs and are never dropped. A certificate that does
//! not load keeps the old one in service and is logged.

use std::sync::{Arc, RwLock};

use anyhow::{Context, anyhow};
use base64::Engine;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use secrecy::ExposeSecret;
use sha2::{Digest, Sha256};

use crate::config::ServerTlsSettings;
use crate::secrets::{LiveSecret, Secrets};

/// Where the certificate comes from.
enum Source {
    Pem { cert_file: std::path::PathBuf, key_file: std::path::PathBuf },
    Pkcs12(LiveSecret),
}

struct Loaded {
    key: Arc<CertifiedKey>,
    /// Digest of the source bytes, to notice a change without parsing.
    digest: [u8; 32],
}

/// The certificate in service, chosen for every handshake.
#[derive(Debug)]
struct Resolver {
    current: RwLock<Arc<CertifiedKey>>,
}

impl ResolvesServerCert for Resolver {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.read().map(|c| c.clone()).unwrap_or_else(|p| p.into_inner().clone()))
    }
}

/// The TLS configuration for the server, plus the task that keeps its certificate fresh.
pub struct ServerTls {
    pub config: rustls::ServerConfig,
    pub refresher: tokio::task::AbortHandle,
}

impl ServerTls {
    pub async fn load(settings: &ServerTlsSettings, secrets: &Secrets) -> anyhow::Result<Self> {
        let source = match (&settings.cert_file, &settings.key_file, &settings.pkcs12) {
            (Some(cert_file), Some(key_file), None) => {
                Source::Pem { cert_file: cert_file.clone(), key_file: key_file.clone() }
            }
            (None, None, Some(bundle)) => {
                Source::Pkcs12(secrets.live("server.tls.pkcs12", bundle).await.context("server.tls.pkcs12")?)
            }
            _ => return Err(anyhow!("server.tls needs cert_file + key_file, or pkcs12")),
        };
        let first = source.load()?;
        let mut digest = first.digest;
        let resolver = Arc::new(Resolver { current: RwLock::new(first.key) });
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .context("TLS protocol versions")?
            .with_no_client_auth()
            .with_cert_resolver(resolver.clone());
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        let every = settings.refresh.get();
        let refresher = tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                match source.load() {
                    Ok(loaded) if loaded.digest != digest => {
                        digest = loaded.digest;
                        *resolver.current.write().unwrap_or_else(std::sync::PoisonError::into_inner) = loaded.key;
                        tracing::info!("a new server certificate is in service for new connections");
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %format!("{e:#}"), "cannot load the new server certificate; keeping the current one"),
                }
            }
        })
        .abort_handle();
        Ok(Self { config, refresher })
    }
}

impl Source {
    fn load(&self) -> anyhow::Result<Loaded> {
        match self {
            Source::Pem { cert_file, key_file } => {
                let cert_pem = std::fs::read(cert_file)
                    .with_context(|| format!("cannot read server.tls.cert_file {}", cert_file.display()))?;
                let key_pem = std::fs::read(key_file)
                    .with_context(|| format!("cannot read server.tls.key_file {}", key_file.display()))?;
                let certs = CertificateDer::pem_slice_iter(&cert_pem)
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|_| anyhow!("server.tls.cert_file is not a PEM certificate chain"))?;
                let key = PrivateKeyDer::from_pem_slice(&key_pem)
                    .map_err(|_| anyhow!("server.tls.key_file is not a PEM private key"))?;
                let digest = Sha256::new().chain_update(&cert_pem).chain_update(&key_pem).finalize().into();
                Ok(Loaded { key: certified(certs, &key)?, digest })
            }
            Source::Pkcs12(secret) => {
                let value = secret.current();
                let raw = value.expose_secret().trim();
                let der = base64::engine::general_purpose::STANDARD.decode(raw).map_err(|_| {
                    anyhow!("server.tls.pkcs12 is not base64 (a PKCS#12 bundle as Key Vault stores it)")
                })?;
                let store =
                    p12_keystore::KeyStore::from_pkcs12(&der, "", p12_keystore::Pkcs12ImportPolicy::Relaxed)
                        .map_err(|e| {
                            anyhow!("server.tls.pkcs12 is not a PKCS#12 bundle without password ({e})")
                        })?;
                let (_, chain) = store
                    .private_key_chain()
                    .ok_or_else(|| anyhow!("server.tls.pkcs12 holds no private key"))?;
                let certs = chain.certs().iter().map(|c| CertificateDer::from(c.as_der().to_vec())).collect();
                let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(chain.key().as_der().to_vec()));
                let digest = Sha256::digest(&der).into();
                Ok(Loaded { key: certified(certs, &key)?, digest })
            }
        }
    }
}

fn certified(
    certs: Vec<CertificateDer<'static>>,
    key: &PrivateKeyDer<'_>,
) -> anyhow::Result<Arc<CertifiedKey>> {
    if certs.is_empty() {
        return Err(anyhow!("the server certificate chain is empty"));
    }
    let signing = rustls::crypto::ring::sign::any_supported_type(key)
        .map_err(|_| anyhow!("the server private key is of an unsupported type"))?;
    let key = CertifiedKey::new(certs, signing);
    key.keys_match().map_err(|_| anyhow!("the server private key does not match the certificate"))?;
    Ok(Arc::new(key))
}
