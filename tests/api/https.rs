//! Portico serving HTTPS itself (`[server.tls]`): a certificate swapped during the run is served
//! to new connections while connections made before keep working — from PEM files, and from a
//! PKCS#12 bundle kept in Key Vault (local endpoint, see `support::azure`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use crate::support::TestAppBuilder;
use crate::support::azure::AzureEndpoints;
use crate::support::tls_server::{TestCert, issued_by_test_ca};

fn pem(label: &str, der: &[u8]) -> String {
    let body = base64::engine::general_purpose::STANDARD.encode(der);
    let lines: Vec<&str> = body.as_bytes().chunks(64).map(|c| std::str::from_utf8(c).unwrap()).collect();
    format!("-----BEGIN {label}-----\n{}\n-----END {label}-----\n", lines.join("\n"))
}

fn write_pem(dir: &std::path::Path, cert: &TestCert) {
    // The key first: a check between the two writes sees a mismatch and keeps the old pair.
    std::fs::write(dir.join("key.pem"), pem("PRIVATE KEY", &cert.key_pkcs8)).unwrap();
    std::fs::write(dir.join("cert.pem"), pem("CERTIFICATE", &cert.chain[0])).unwrap();
}

/// A client that trusts both test CAs, so it can tell which certificate it was given.
fn connector(cas: &[&TestCert]) -> TlsConnector {
    let mut roots = rustls::RootCertStore::empty();
    for ca in cas {
        use rustls::pki_types::pem::PemObject;
        roots.add(CertificateDer::from_pem_slice(ca.ca_pem.as_bytes()).unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    TlsConnector::from(Arc::new(config))
}

async fn connect(connector: &TlsConnector, addr: std::net::SocketAddr) -> TlsStream<TcpStream> {
    let tcp = TcpStream::connect(addr).await.unwrap();
    connector.connect(ServerName::try_from("localhost").unwrap(), tcp).await.unwrap()
}

fn served_certificate(stream: &TlsStream<TcpStream>) -> Vec<u8> {
    stream.get_ref().1.peer_certificates().unwrap()[0].to_vec()
}

/// `GET /healthz` on a kept-alive connection; the body.
async fn healthz(stream: &mut TlsStream<TcpStream>) -> String {
    stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n").await.unwrap();
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&answer).ends_with("ok\n") {
        let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf)).await.unwrap().unwrap();
        assert!(n > 0, "connection closed: {}", String::from_utf8_lossy(&answer));
        answer.extend_from_slice(&buf[..n]);
    }
    String::from_utf8(answer).unwrap()
}

/// Opens new connections until one is served `expected` (bounded).
async fn new_connection_serving(
    connector: &TlsConnector,
    addr: std::net::SocketAddr,
    expected: &[u8],
) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if served_certificate(&connect(connector, addr).await) == expected {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

#[tokio::test]
async fn a_swapped_pem_certificate_reaches_new_connections_and_old_ones_keep_working() {
    let (first, second) = (issued_by_test_ca(&["localhost"]), issued_by_test_ca(&["localhost"]));
    let dir = tempfile::tempdir().unwrap();
    write_pem(dir.path(), &first);
    let app = TestAppBuilder::new("http://127.0.0.1:9")
        .public_url("https://localhost")
        .toml(&format!(
            "[server.tls]\ncert_file = \"{0}/cert.pem\"\nkey_file = \"{0}/key.pem\"\nrefresh = \"100ms\"\n",
            dir.path().display()
        ))
        .spawn()
        .await;
    let connector = connector(&[&first, &second]);
    let mut before = connect(&connector, app.address).await;
    assert_eq!(served_certificate(&before), first.chain[0].to_vec());
    assert!(healthz(&mut before).await.starts_with("HTTP/1.1 200"));

    write_pem(dir.path(), &second);
    assert!(
        new_connection_serving(&connector, app.address, &second.chain[0]).await,
        "never served the new one"
    );
    let answer = healthz(&mut before).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "the earlier connection still works: {answer}");
    assert_eq!(served_certificate(&before), first.chain[0].to_vec());
    assert!(answer.contains("strict-transport-security"), "HSTS over https: {answer}");

    // A broken file keeps the certificate in service.
    std::fs::write(dir.path().join("cert.pem"), "not a certificate").unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(served_certificate(&connect(&connector, app.address).await), second.chain[0].to_vec());
}

fn pkcs12(cert: &TestCert) -> String {
    use p12_keystore::{Certificate, KeyStore, KeyStoreEntry, PrivateKey, PrivateKeyChain};
    let chain = PrivateKeyChain::new(
        b"1".to_vec(),
        PrivateKey::from_der(&cert.key_pkcs8).unwrap(),
        [Certificate::from_der(&cert.chain[0]).unwrap()],
    );
    let mut store = KeyStore::new();
    store.add_entry("portico", KeyStoreEntry::PrivateKeyChain(chain));
    base64::engine::general_purpose::STANDARD.encode(store.writer("").write().unwrap())
}

#[tokio::test]
async fn a_new_version_of_a_key_vault_certificate_is_served_without_restart() {
    let (first, second) = (issued_by_test_ca(&["localhost"]), issued_by_test_ca(&["localhost"]));
    let azure = AzureEndpoints::start().await;
    azure.set_secret("tls-cert", "v1", &pkcs12(&first));
    let app = TestAppBuilder::new("http://127.0.0.1:9")
        .public_url("https://localhost")
        .toml(&format!(
            "[identity]\nendpoint = \"{}\"\n\n[server.tls]\npkcs12 = {{ keyvault = \"{}\", refresh = \"100ms\" }}\nrefresh = \"100ms\"\n",
            azure.imds_url(),
            azure.secret_url("tls-cert")
        ))
        .spawn()
        .await;
    let connector = connector(&[&first, &second]);
    let mut before = connect(&connector, app.address).await;
    assert_eq!(served_certificate(&before), first.chain[0].to_vec());

    azure.set_secret("tls-cert", "v2", &pkcs12(&second));
    assert!(new_connection_serving(&connector, app.address, &second.chain[0]).await, "never served v2");
    assert!(healthz(&mut before).await.starts_with("HTTP/1.1 200"));
}
