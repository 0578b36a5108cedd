//! TLS verification per manager (`tls_mode` none / certificate / full, optional CA file).
//!
//! Every manager gets its own rustls configuration built from the ring provider explicitly, so
//! the result never depends on which crypto provider another part of the process installed.

use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};

use super::ManagerError;
use crate::domain::TlsMode;

/// The rustls client configuration for one manager.
pub(crate) fn client_config(
    mode: TlsMode,
    ca_pem: Option<&str>,
) -> Result<rustls::ClientConfig, ManagerError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let algorithms = provider.signature_verification_algorithms;
    let verifier: Arc<dyn ServerCertVerifier> = match mode {
        TlsMode::None => Arc::new(AcceptAnyCertificate { algorithms }),
        TlsMode::Certificate => {
            Arc::new(IgnoreHostName { inner: webpki_verifier(ca_pem, provider.clone())? })
        }
        TlsMode::Full => webpki_verifier(ca_pem, provider.clone())?,
    };
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ManagerError::Config(format!("TLS setup: {e}")))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    // A preconfigured config is used as is by reqwest, so ALPN has to be offered here.
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

/// The public web PKI roots plus the manager's own CA certificates.
fn roots(ca_pem: Option<&str>) -> Result<RootCertStore, ManagerError> {
    let mut roots = RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
    if let Some(pem) = ca_pem {
        let mut added = 0usize;
        for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
            let cert = cert.map_err(|e| ManagerError::Config(format!("CA file is not valid PEM: {e}")))?;
            roots
                .add(cert)
                .map_err(|e| ManagerError::Config(format!("CA file holds an unusable certificate: {e}")))?;
            added += 1;
        }
        if added == 0 {
            return Err(ManagerError::Config("CA file holds no PEM certificate".into()));
        }
    }
    Ok(roots)
}

fn webpki_verifier(
    ca_pem: Option<&str>,
    provider: Arc<CryptoProvider>,
) -> Result<Arc<dyn ServerCertVerifier>, ManagerError> {
    let verifier = WebPkiServerVerifier::builder_with_provider(Arc::new(roots(ca_pem)?), provider)
        .build()
        .map_err(|e| ManagerError::Config(format!("TLS verifier: {e}")))?;
    Ok(verifier)
}

/// `tls_mode = "certificate"`: the whole web PKI check except the host name. The webpki verifier
/// checks the chain first and the name last, so a name mismatch can only be reported for a chain
/// that already verified.
#[derive(Debug)]
struct IgnoreHostName {
    inner: Arc<dyn ServerCertVerifier>,
}

impl ServerCertVerifier for IgnoreHostName {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self.inner.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now) {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// `tls_mode = "none"`: any certificate is accepted. The handshake signatures are still checked,
/// so the peer must at least hold the key of the certificate it shows.
#[derive(Debug)]
struct AcceptAnyCertificate {
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// A short, safe reason for a rustls failure found in an error chain.
pub(crate) fn describe(error: &rustls::Error) -> String {
    match error {
        rustls::Error::InvalidCertificate(cert) => match cert {
            CertificateError::UnknownIssuer => "the certificate is not signed by a trusted authority".into(),
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                "the certificate does not name this host".into()
            }
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                "the certificate has expired".into()
            }
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                "the certificate is not valid yet".into()
            }
            CertificateError::Revoked => "the certificate was revoked".into(),
            CertificateError::BadSignature => "the certificate signature is invalid".into(),
            other => format!("invalid certificate ({other:?})"),
        },
        rustls::Error::AlertReceived(alert) => {
            format!("the server refused the handshake ({alert:?})")
        }
        rustls::Error::NoCertificatesPresented => "the server presented no certificate".into(),
        other => format!("handshake failed ({other})"),
    }
}
