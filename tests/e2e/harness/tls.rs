//! The TLS fixtures of the loopback servers, `tests/fixtures/tls/` (made by `regenerate.sh`
//! there): a server certificate for 127.0.0.1 and localhost signed by the test CA
//! ([`ca_file`]), and a second CA for client certificates.

use std::net::TcpStream;
use std::path::PathBuf;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// `tests/fixtures/tls/`.
pub fn dir() -> PathBuf {
    let dir = crate::harness::repo_root().join("tests/fixtures/tls");
    std::fs::canonicalize(&dir).unwrap_or(dir)
}

/// `tests/fixtures/tls/ca.pem`: the CA that signed the server's certificate, for clients to trust.
pub fn ca_file() -> PathBuf {
    dir().join("ca.pem")
}

/// A server's TLS configuration: the fixture certificate, HTTP/1.1 only. With
/// `client_certificates`, the server asks for a client certificate signed by
/// `client-ca.pem` and also serves clients that send none.
pub fn server_config(client_certificates: bool) -> Arc<rustls::ServerConfig> {
    let dir = dir();
    let missing = |what: &str| {
        format!(
            "{what} in {}: run tests/fixtures/tls/regenerate.sh",
            dir.display()
        )
    };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(dir.join("server.pem"))
        .unwrap_or_else(|e| panic!("{}: {e}", missing("server.pem")))
        .collect::<Result<_, _>>()
        .unwrap_or_else(|e| panic!("{}: {e}", missing("server.pem")));
    let key = PrivateKeyDer::from_pem_file(dir.join("server-key.pem"))
        .unwrap_or_else(|e| panic!("{}: {e}", missing("server-key.pem")));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap();
    let builder = if client_certificates {
        let mut roots = rustls::RootCertStore::empty();
        for c in CertificateDer::pem_file_iter(dir.join("client-ca.pem"))
            .unwrap_or_else(|e| panic!("{}: {e}", missing("client-ca.pem")))
        {
            roots.add(c.unwrap()).unwrap();
        }
        let verifier =
            rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .allow_unauthenticated()
                .build()
                .unwrap();
        builder.with_client_cert_verifier(verifier)
    } else {
        builder.with_no_client_auth()
    };
    let mut config = builder.with_single_cert(certs, key).unwrap();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Arc::new(config)
}

/// A client's TLS configuration trusting only the test CA.
pub fn client_config() -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca_file()).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    Arc::new(
        rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth(),
    )
}

/// A TLS connection to `127.0.0.1:port`, `host` its SNI and certificate name, trusting only the
/// test CA.
pub fn connect(port: u16, host: &str) -> rustls::StreamOwned<rustls::ClientConnection, TcpStream> {
    let tcp = TcpStream::connect(("127.0.0.1", port)).unwrap();
    tcp.set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .unwrap();
    let name = rustls::pki_types::ServerName::try_from(host.to_owned()).unwrap();
    let conn = rustls::ClientConnection::new(client_config(), name).unwrap();
    rustls::StreamOwned::new(conn, tcp)
}
