//! Client TLS settings shared by every outgoing TLS connection (the batch engine to Kafka
//! brokers, MQTT sources to remote brokers): rustls with the ring provider, the peers'
//! certificates checked against a PEM CA file (the system's CAs without one), and an optional
//! PEM client certificate and key. Errors name the keys the paths came from.

use std::path::Path;
use std::sync::Arc;

use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore};

/// Where the files come from, and the keys that named them (for errors).
pub struct ClientTlsFiles<'a> {
    pub ca: Option<(&'a str, &'a str)>,
    pub certificate: Option<(&'a str, &'a str)>,
    pub key: Option<(&'a str, &'a str)>,
}

fn pem_certs(path: &str, key: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    CertificateDer::pem_file_iter(Path::new(path))
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("{key} {path}: {e}"))
}

/// A rustls client configuration from `files`.
pub fn client_config(files: ClientTlsFiles<'_>) -> Result<Arc<ClientConfig>, String> {
    let mut roots = RootCertStore::empty();
    match files.ca {
        Some((key, ca)) => {
            for cert in pem_certs(ca, key)? {
                roots.add(cert).map_err(|e| format!("{key} {ca}: {e}"))?;
            }
        }
        // Like librdkafka and Paho without a CA file: the system's CAs.
        None => {
            let found = rustls_native_certs::load_native_certs();
            let (added, _) = roots.add_parsable_certificates(found.certs);
            if added == 0 {
                return Err(format!(
                    "no CA file and no system CA certificates ({} errors)",
                    found.errors.len()
                ));
            }
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots);
    let config = match (files.certificate, files.key) {
        (Some((cert_key, cert)), Some((key_key, key))) => {
            let chain = pem_certs(cert, cert_key)?;
            let key = PrivateKeyDer::from_pem_file(Path::new(key))
                .map_err(|e| format!("{key_key} {key}: {e}"))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| format!("client certificate: {e}"))?
        }
        (None, None) => builder.with_no_client_auth(),
        (Some((a, _)), None) | (None, Some((a, _))) => {
            return Err(format!("{a}: a client certificate and its key go together"))
        }
    };
    Ok(Arc::new(config))
}
