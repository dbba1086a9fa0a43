//! TLS from the batch engine to the brokers (`security.protocol=SSL`), with rustls and the ring
//! provider: the brokers' certificates are checked against `ssl.ca.location` (PEM; the system's
//! CAs without it) and their names (librdkafka's default `ssl.endpoint.identification.algorithm=https`), and
//! `ssl.certificate.location` with `ssl.key.location` give a client certificate. Anything else
//! a secured cluster may need (other `ssl.*` keys) leaves produce to librdkafka's producer
//! (`produce.engine=auto`).

use std::path::Path;
use std::sync::Arc;

use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore};
use tokio_rustls::TlsConnector;

/// The batch engine's TLS to the brokers.
#[derive(Clone)]
pub struct KafkaTls {
    connector: TlsConnector,
}

impl std::fmt::Debug for KafkaTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KafkaTls")
    }
}

/// The `ssl.*` keys the batch engine reads; with any other the producer is librdkafka's.
pub const TLS_PROPERTIES: &[&str] = &[
    "ssl.ca.location",
    "ssl.certificate.location",
    "ssl.key.location",
    "ssl.endpoint.identification.algorithm",
];

fn pem_certs(path: &str, key: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    CertificateDer::pem_file_iter(Path::new(path))
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("{key} {path}: {e}"))
}

impl KafkaTls {
    /// The TLS settings of `get` (the merged client and producer properties).
    pub fn from_properties<'a>(get: impl Fn(&str) -> Option<&'a str>) -> Result<KafkaTls, String> {
        let mut roots = RootCertStore::empty();
        match get("ssl.ca.location") {
            Some(ca) => {
                for cert in pem_certs(ca, "ssl.ca.location")? {
                    roots
                        .add(cert)
                        .map_err(|e| format!("ssl.ca.location {ca}: {e}"))?;
                }
            }
            // Like librdkafka without ssl.ca.location: the system's CAs (managed clusters
            // present certificates from public CAs).
            None => {
                let found = rustls_native_certs::load_native_certs();
                let (added, _) = roots.add_parsable_certificates(found.certs);
                if added == 0 {
                    return Err(format!(
                        "no ssl.ca.location and no system CA certificates ({} errors)",
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
        let config = match (get("ssl.certificate.location"), get("ssl.key.location")) {
            (Some(cert), Some(key)) => {
                let chain = pem_certs(cert, "ssl.certificate.location")?;
                let key = PrivateKeyDer::from_pem_file(Path::new(key))
                    .map_err(|e| format!("ssl.key.location {key}: {e}"))?;
                builder
                    .with_client_auth_cert(chain, key)
                    .map_err(|e| format!("client certificate: {e}"))?
            }
            (None, None) => builder.with_no_client_auth(),
            _ => {
                return Err("ssl.certificate.location and ssl.key.location go together".to_string())
            }
        };
        Ok(KafkaTls {
            connector: TlsConnector::from(Arc::new(config)),
        })
    }

    /// The TLS handshake with the broker at `addr` (`host:port`), checking its name.
    pub async fn connect(
        &self,
        addr: &str,
        stream: TcpStream,
    ) -> std::io::Result<TlsStream<TcpStream>> {
        let host = addr.rsplit_once(':').map_or(addr, |(h, _)| h);
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let name = ServerName::try_from(host.to_string())
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
        self.connector.connect(name, stream).await
    }
}
