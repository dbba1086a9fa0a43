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

/// The `https://` listeners' TLS: an acceptor built from the keystore and truststore, rebuilt
/// when either file's modification time changes (looked at most once a second, on a new
/// connection). A file that no longer loads keeps the previous acceptor and logs why.
pub struct HttpTls {
    keystore: PathBuf,
    truststore: Option<PathBuf>,
    client_auth: ClientAuth,
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
        keystore: &Path,
        truststore: Option<&Path>,
        client_auth: ClientAuth,
    ) -> Result<Arc<HttpTls>, TlsError> {
        let stamp = (modified(Some(keystore)), modified(truststore));
        let acceptor = http_acceptor(keystore, truststore, client_auth)?;
        Ok(Arc::new(HttpTls {
            keystore: keystore.to_path_buf(),
            truststore: truststore.map(Path::to_path_buf),
            client_auth,
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
                modified(Some(&self.keystore)),
                modified(self.truststore.as_deref()),
            );
            if stamp != state.stamp {
                match http_acceptor(&self.keystore, self.truststore.as_deref(), self.client_auth) {
                    Ok(acceptor) => {
                        tracing::info!(keystore = %self.keystore.display(), "https certificates reloaded");
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
/// Confluent's `ssl.keystore.type=PEM`), and with `client_auth`, client certificates checked
/// against the CAs in `truststore` (required, or only checked when given). HTTP/1.1 only.
fn http_acceptor(
    keystore: &Path,
    truststore: Option<&Path>,
    client_auth: ClientAuth,
) -> Result<TlsAcceptor, TlsError> {
    let (chain, key) = identity(keystore, keystore)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(TlsError::Config)?;
    let builder = match (client_auth, truststore) {
        (ClientAuth::None, _) | (_, None) => builder.with_no_client_auth(),
        (auth, Some(path)) => {
            let mut roots = rustls::RootCertStore::empty();
            for cert in CertificateDer::pem_file_iter(path)
                .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
                .map_err(|source| TlsError::Certificate {
                    path: path.display().to_string(),
                    source,
                })?
            {
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
                path: path.display().to_string(),
                why: e.to_string(),
            })?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder
        .with_single_cert(chain, key)
        .map_err(TlsError::Config)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
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
}
