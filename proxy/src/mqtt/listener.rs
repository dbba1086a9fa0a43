//! The MQTT listeners: [`Server`] starts the topic writers, accepts plain and TLS connections
//! under the connection cap, and on shutdown lets every connection finish its acknowledgements
//! before the writers write what is queued.

use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::connect::{connection, ConnectionEnd};
use super::ingest::{Ingest, CONNECT_TIMEOUT};
use crate::credentials as auth;
use crate::state::App;
use crate::tls;

/// The MQTT side of the proxy, ready to serve its listeners.
pub struct Server {
    ingest: Arc<Ingest>,
    writers: Vec<tokio::task::JoinHandle<()>>,
    tls: Option<TlsAcceptor>,
}

/// Why the MQTT listener could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Credentials(#[from] auth::CredentialsError),
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
}

impl Server {
    /// Loads the credentials file and the TLS certificate (errors stop start-up) and starts the
    /// topic writers.
    pub fn new(app: &Arc<App>) -> Result<Server, StartError> {
        let config = &app.config;
        let credentials = config
            .mqtt
            .credentials_file
            .as_deref()
            .map(auth::Credentials::load)
            .transpose()?;
        let tls = match (&config.mqtt.tls_certificate, &config.mqtt.tls_key) {
            (Some(cert), Some(key)) if config.mqtt.listeners.iter().any(|l| l.tls) => {
                Some(tls::acceptor(cert, key)?)
            }
            _ => None,
        };
        let mut writers = Vec::new();
        let ingest = Ingest::new(app, credentials, &mut writers);
        Ok(Server {
            ingest: Arc::new(ingest),
            writers,
            tls,
        })
    }

    /// Accepts connections on `listeners` (`true`: TLS) until `shutdown`; then lets every
    /// connection finish its acknowledgements, writes what is queued, and logs the counters.
    pub async fn serve(self, listeners: Vec<(TcpListener, bool)>, shutdown: CancellationToken) {
        let tracker = TaskTracker::new();
        for (listener, tls) in listeners {
            let tls = if tls { self.tls.clone() } else { None };
            tracker.spawn(accept(
                listener,
                tls,
                self.ingest.clone(),
                shutdown.clone(),
                tracker.clone(),
            ));
        }
        shutdown.cancelled().await;
        tracker.close();
        tracker.wait().await;
        let stats = self.ingest.stats.clone();
        // The last queue senders go with `ingest`: the writers finish what is queued and stop.
        drop(self.ingest);
        for writer in self.writers {
            let _ = writer.await;
        }
        tracing::info!(stats = ?stats, "MQTT listeners stopped");
    }
}

/// Accepts connections on one listener until `shutdown`.
async fn accept(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    ingest: Arc<Ingest>,
    shutdown: CancellationToken,
    tracker: TaskTracker,
) {
    loop {
        let accepted = tokio::select! {
            _ = shutdown.cancelled() => return,
            a = listener.accept() => a,
        };
        match accepted {
            Ok((stream, peer)) => {
                let _ = stream.set_nodelay(true);
                // Over the cap, the client still hears why (CONNACK), then the connection closes.
                let slot = ingest.slots.clone().try_acquire_owned().ok();
                let ingest = ingest.clone();
                let shutdown = shutdown.clone();
                let tls = tls.clone();
                tracker.spawn(async move {
                    let connections = metrics::gauge!(crate::telemetry::MQTT_CONNECTIONS);
                    connections.increment(1.0);
                    let outcome = match tls {
                        None => connection(stream, slot, ingest, shutdown).await,
                        Some(tls) => {
                            match tokio::time::timeout(CONNECT_TIMEOUT, tls.accept(stream)).await {
                                Ok(Ok(stream)) => connection(stream, slot, ingest, shutdown).await,
                                Ok(Err(e)) => Err(ConnectionEnd::TlsHandshake(e.to_string())),
                                Err(_) => Err(ConnectionEnd::NoTlsHandshake(CONNECT_TIMEOUT)),
                            }
                        }
                    };
                    connections.decrement(1.0);
                    if let Err(why) = outcome {
                        tracing::debug!(%peer, %why, "MQTT connection closed");
                    }
                });
            }
            Err(e) => {
                tracing::warn!(error = %e, "MQTT accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}
