//! Server TLS for every listener that has it: `ssl://` MQTT listeners ([`acceptor`]) and
//! `https://` HTTP listeners ([`HttpTls`]: with optional client certificates checked against a
//! CA bundle, and the keystore and truststore read again when they change, so a renewed
//! certificate is served without a restart). rustls with the ring provider, TLS 1.2 and 1.3, a PEM certificate chain
//! and private key (PKCS#8, PKCS#1 or SEC1).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::{self, ServerConfig};
use tokio_rustls::TlsAcceptor;

use crate::config::ClientAuth;

/// An acceptor for the certificate chain in `certificate` and the key in `key`.
pub fn acceptor(certificate: &Path, key: &Path) -> Result<TlsAcceptor, TlsError> {
    let (chain, key) = identity(certificate, key)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .and_then(|b| b.with_no_client_auth().with_single_cert(chain, key))
        .map_err(TlsError::Config)?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// A keystore or truststore file: PEM, or PKCS12 opened with its password.
#[derive(Debug, Clone)]
pub struct Store {
    pub path: PathBuf,
    /// Some: a PKCS12 store and its password; None: PEM.
    pub pkcs12_password: Option<String>,
}

impl Store {
    fn modified(&self) -> Option<SystemTime> {
        modified(Some(&self.path))
    }

    /// The certificate chain and private key the store holds.
    fn identity(&self) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), TlsError> {
        let Some(password) = &self.pkcs12_password else {
            return identity(&self.path, &self.path);
        };
        let store = self.pkcs12(password)?;
        let (_, chain) = store.private_key_chain().ok_or_else(|| TlsError::Pkcs12 {
            path: self.path.display().to_string(),
            why: "no private key entry".into(),
        })?;
        let certs: Vec<CertificateDer<'static>> = chain
            .chain()
            .iter()
            .map(|c| CertificateDer::from(c.as_der().to_vec()))
            .collect();
        if certs.is_empty() {
            return Err(TlsError::NoCertificate(self.path.display().to_string()));
        }
        let key = PrivateKeyDer::Pkcs8(chain.key().to_vec().into());
        Ok((certs, key))
    }

    /// The CA certificates the store holds.
    fn certificates(&self) -> Result<Vec<CertificateDer<'static>>, TlsError> {
        let Some(password) = &self.pkcs12_password else {
            return CertificateDer::pem_file_iter(&self.path)
                .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
                .map_err(|source| TlsError::Certificate {
                    path: self.path.display().to_string(),
                    source,
                });
        };
        let store = self.pkcs12(password)?;
        Ok(store
            .entries()
            .filter_map(|(_, entry)| match entry {
                p12_keystore::KeyStoreEntry::Certificate(c) => {
                    Some(CertificateDer::from(c.as_der().to_vec()))
                }
                _ => None,
            })
            .collect())
    }

    fn pkcs12(&self, password: &str) -> Result<p12_keystore::KeyStore, TlsError> {
        let data = std::fs::read(&self.path).map_err(|e| TlsError::Pkcs12 {
            path: self.path.display().to_string(),
            why: e.to_string(),
        })?;
        p12_keystore::KeyStore::from_pkcs12(&data, password).map_err(|e| TlsError::Pkcs12 {
            path: self.path.display().to_string(),
            why: e.to_string(),
        })
    }
}

/// The `https://` listeners' TLS: an acceptor built from the keystore and truststore, rebuilt
/// when either file's modification time changes (looked at most once a second, on a new
/// connection). A file that no longer loads keeps the previous acceptor and logs why.
pub struct HttpTls {
    keystore: Store,
    truststore: Option<Store>,
    client_auth: ClientAuth,
    /// `http2.enabled`: ALPN offers `h2` before `http/1.1`.
    http2: bool,
    state: Mutex<TlsState>,
}

struct TlsState {
    acceptor: TlsAcceptor,
    stamp: (Option<SystemTime>, Option<SystemTime>),
    checked: Instant,
}

/// How often the files' modification times are looked at.
const RELOAD_CHECK: Duration = Duration::from_secs(1);

fn modified(path: Option<&Path>) -> Option<SystemTime> {
    path.and_then(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok())
}

impl HttpTls {
    /// Loads the keystore (and truststore); an error here stops start-up.
    pub fn load(
        keystore: Store,
        truststore: Option<Store>,
        client_auth: ClientAuth,
        http2: bool,
    ) -> Result<Arc<HttpTls>, TlsError> {
        let stamp = (
            keystore.modified(),
            truststore.as_ref().and_then(Store::modified),
        );
        let acceptor = http_acceptor(&keystore, truststore.as_ref(), client_auth, http2)?;
        Ok(Arc::new(HttpTls {
            keystore,
            truststore,
            client_auth,
            http2,
            state: Mutex::new(TlsState {
                acceptor,
                stamp,
                checked: Instant::now(),
            }),
        }))
    }

    /// The acceptor for a new connection, rebuilt first if a file changed.
    pub fn acceptor(&self) -> TlsAcceptor {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if state.checked.elapsed() >= RELOAD_CHECK {
            state.checked = Instant::now();
            let stamp = (
                self.keystore.modified(),
                self.truststore.as_ref().and_then(Store::modified),
            );
            if stamp != state.stamp {
                let rebuilt = http_acceptor(
                    &self.keystore,
                    self.truststore.as_ref(),
                    self.client_auth,
                    self.http2,
                );
                match rebuilt {
                    Ok(acceptor) => {
                        tracing::info!(keystore = %self.keystore.path.display(), "https certificates reloaded");
                        state.acceptor = acceptor;
                        state.stamp = stamp;
                    }
                    Err(err) => {
                        tracing::warn!(error = %err, "https certificates changed but do not load; keeping the previous ones")
                    }
                }
            }
        }
        state.acceptor.clone()
    }
}

/// An acceptor for `https://` listeners: the chain and key of `keystore` (one PEM file, as
/// Confluent's `ssl.keystore.type=PEM`, or a PKCS12 store), and with `client_auth`, client
/// certificates checked against the CAs in `truststore` (required, or only checked when given).
/// ALPN offers HTTP/1.1, and before it HTTP/2 with `http2`.
fn http_acceptor(
    keystore: &Store,
    truststore: Option<&Store>,
    client_auth: ClientAuth,
    http2: bool,
) -> Result<TlsAcceptor, TlsError> {
    let (chain, key) = keystore.identity()?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(TlsError::Config)?;
    let builder = match (client_auth, truststore) {
        (ClientAuth::None, _) | (_, None) => builder.with_no_client_auth(),
        (auth, Some(store)) => {
            let mut roots = rustls::RootCertStore::empty();
            for cert in store.certificates()? {
                roots.add(cert).map_err(TlsError::Config)?;
            }
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                provider,
            );
            let verifier = match auth {
                ClientAuth::Requested => verifier.allow_unauthenticated(),
                _ => verifier,
            }
            .build()
            .map_err(|e| TlsError::Truststore {
                path: store.path.display().to_string(),
                why: e.to_string(),
            })?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder
        .with_single_cert(chain, key)
        .map_err(TlsError::Config)?;
    config.alpn_protocols = if http2 {
        vec![b"h2".to_vec(), b"http/1.1".to_vec()]
    } else {
        vec![b"http/1.1".to_vec()]
    };
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// The certificate chain in `certificate` and the private key in `key` (possibly one file).
fn identity(
    certificate: &Path,
    key: &Path,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), TlsError> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(certificate)
        .and_then(|certs| certs.collect())
        .map_err(|source| TlsError::Certificate {
            path: certificate.display().to_string(),
            source,
        })?;
    if chain.is_empty() {
        return Err(TlsError::NoCertificate(certificate.display().to_string()));
    }
    let key = PrivateKeyDer::from_pem_file(key).map_err(|source| TlsError::Key {
        path: key.display().to_string(),
        source,
    })?;
    Ok((chain, key))
}

/// Why the TLS listeners could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("TLS certificate {path}: {source}")]
    Certificate {
        path: String,
        source: tokio_rustls::rustls::pki_types::pem::Error,
    },
    #[error("TLS certificate {0}: no PEM CERTIFICATE in the file")]
    NoCertificate(String),
    #[error("TLS private key {path}: {source}")]
    Key {
        path: String,
        source: tokio_rustls::rustls::pki_types::pem::Error,
    },
    #[error("TLS configuration: {0}")]
    Config(rustls::Error),
    #[error("TLS truststore {path}: {why}")]
    Truststore { path: String, why: String },
    #[error(
        "PKCS12 store {path}: {why} (is ssl.keystore.password / ssl.truststore.password right?)"
    )]
    Pkcs12 { path: String, why: String },
}

/// The subject of the certificate a TLS client presented (`CN=app, O=example`), which is its
/// principal at the HTTP edge; None without one.
pub fn peer_subject(connection: &rustls::ServerConnection) -> Option<String> {
    let leaf = connection.peer_certificates()?.first()?;
    p12_keystore::Certificate::from_der(leaf.as_ref())
        .ok()
        .map(|c| c.subject().to_string())
}
