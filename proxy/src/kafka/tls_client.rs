//! TLS from the batch engine to the brokers (`security.protocol=SSL`), with rustls and the ring
//! provider: the brokers' certificates are checked against `ssl.ca.location` (PEM; the system's
//! CAs without it) and their names (librdkafka's default `ssl.endpoint.identification.algorithm=https`), and
//! `ssl.certificate.location` with `ssl.key.location` give a client certificate. Anything else
//! a secured cluster may need (other `ssl.*` keys) leaves produce to librdkafka's producer
//! (`produce.engine=auto`).

use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls::pki_types::ServerName;
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

impl KafkaTls {
    /// The TLS settings of `get` (the merged client and producer properties).
    pub fn from_properties<'a>(get: impl Fn(&str) -> Option<&'a str>) -> Result<KafkaTls, String> {
        let named = |key: &'static str| get(key).map(|path| (key, path));
        let config = crate::client_tls::client_config(crate::client_tls::ClientTlsFiles {
            ca: named("ssl.ca.location"),
            certificate: named("ssl.certificate.location"),
            key: named("ssl.key.location"),
        })?;
        Ok(KafkaTls {
            connector: TlsConnector::from(config),
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
