//! Test certificates (rcgen) and a minimal HTTPS server that answers every request
//! `401` like an API Manager's `GET /currentuser` without a session (after reading the body of a
//! request with a length, which it says back in `x-body-length`).

use std::net::SocketAddr;
use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::TlsAcceptor;

/// A server certificate with its key, and the PEM of the CA that signed it (the certificate
/// itself when self-signed).
pub struct TestCert {
    pub chain: Vec<CertificateDer<'static>>,
    pub key_pkcs8: Vec<u8>,
    pub ca_pem: String,
}

/// A self-signed certificate for `names`.
pub fn self_signed(names: &[&str]) -> TestCert {
    let key = KeyPair::generate().expect("key");
    let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
    let cert = CertificateParams::new(names).expect("params").self_signed(&key).expect("self-sign");
    TestCert { ca_pem: cert.pem(), chain: vec![cert.der().clone()], key_pkcs8: key.serialize_der() }
}

/// A certificate for `names` issued by a fresh test CA.
pub fn issued_by_test_ca(names: &[&str]) -> TestCert {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages =
        vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    ca_params.distinguished_name.push(DnType::CommonName, "Portico Test CA");
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().expect("CA key")).expect("CA");
    let key = KeyPair::generate().expect("key");
    let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
    let cert = CertificateParams::new(names).expect("params").signed_by(&key, &*ca).expect("issue");
    TestCert { chain: vec![cert.der().clone()], key_pkcs8: key.serialize_der(), ca_pem: ca.pem() }
}

/// Serves HTTPS with `cert` on a local port until the test ends.
pub async fn serve(cert: &TestCert) -> SocketAddr {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(cert.key_pkcs8.clone()));
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(cert.chain.clone(), key)
        .expect("server config");
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(socket).await else {
                    return;
                };
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tls.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                // A request with a length has its body read, and its length said back.
                let end = head.windows(4).position(|w| w == b"\r\n\r\n").unwrap_or_default() + 4;
                let length = String::from_utf8_lossy(&head[..end])
                    .lines()
                    .find_map(|line| {
                        line.to_ascii_lowercase().strip_prefix("content-length:").map(str::to_owned)
                    })
                    .and_then(|value| value.trim().parse::<usize>().ok());
                let mut received = head.len() - end;
                while length.is_some_and(|length| received < length) {
                    match tls.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => received += n,
                    }
                }
                let said = length.map(|_| format!("x-body-length: {received}\r\n")).unwrap_or_default();
                let answer = format!(
                    "HTTP/1.1 401 Unauthorized\r\ncontent-type: application/json\r\ncontent-length: 2\r\n{said}connection: close\r\n\r\n{{}}"
                );
                let _ = tls.write_all(answer.as_bytes()).await;
                let _ = tls.shutdown().await;
            });
        }
    });
    addr
}
