//! The TLS side of `ssl://` MQTT listeners: rustls with the ring provider, TLS 1.2 and 1.3, a
//! PEM certificate chain and private key (PKCS#8, PKCS#1 or SEC1).

use std::path::Path;
use std::sync::Arc;

use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::{self, ServerConfig};
use tokio_rustls::TlsAcceptor;

/// An acceptor for the certificate chain in `certificate` and the key in `key`.
pub fn acceptor(certificate: &Path, key: &Path) -> Result<TlsAcceptor, String> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(certificate)
        .and_then(|certs| certs.collect())
        .map_err(|e| format!("TLS certificate {}: {e}", certificate.display()))?;
    if chain.is_empty() {
        return Err(format!(
            "TLS certificate {}: no PEM CERTIFICATE in the file",
            certificate.display()
        ));
    }
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| format!("TLS private key {}: {e}", key.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .and_then(|b| b.with_no_client_auth().with_single_cert(chain, key))
        .map_err(|e| format!("TLS configuration: {e}"))?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}
