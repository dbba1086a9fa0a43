//! Serving: binds the listeners, wires the application state to the REST API, the built-in
//! registry and the MQTT listener, expires idle consumer instances, and shuts down cleanly
//! (stop accepting, finish in-flight requests, flush the producer, close every instance).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::http::server;
use crate::{kafka, memory, mqtt, registry_api, rest, schema, state};

/// Serves the API on `listeners` (and the built-in Schema Registry on its configured listeners)
/// until `shutdown` completes, then shuts down cleanly.
pub async fn serve(
    config: Config,
    listeners: Vec<TcpListener>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let mut registry_listeners = Vec::new();
    for addr in &config.registry.listeners {
        registry_listeners.push(TcpListener::bind(addr).await.map_err(|e| {
            anyhow::anyhow!("schema.registry.listeners: cannot listen on {addr}: {e}")
        })?);
    }
    serve_all(config, listeners, registry_listeners, shutdown).await
}

/// [`serve`] with the Schema Registry's listeners already bound (empty: no built-in registry).
pub async fn serve_all(
    config: Config,
    listeners: Vec<TcpListener>,
    registry_listeners: Vec<TcpListener>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    crate::telemetry::install();
    let kafka = kafka::Kafka::new(&config)?;
    let mut shutdown = std::pin::pin!(shutdown);
    let registry = if registry_listeners.is_empty() {
        None
    } else {
        // The registry's state is its topic: wait for Kafka (saying where it is looked for)
        // rather than exit, until it answers or the proxy is asked to stop.
        let topic = &config.registry.topic;
        let mut backoff = Duration::from_secs(1);
        loop {
            let opened =
                schema::Registry::open(|apply| kafka.open_log("schema log", topic, apply)).await;
            match opened {
                Ok(registry) => break Some(Arc::new(registry)),
                Err(err) => {
                    tracing::warn!(
                        bootstrap = %config.bootstrap_servers,
                        %topic,
                        error = %err,
                        retry_in_ms = backoff.as_millis() as u64,
                        "waiting for Kafka to open the built-in schema registry's topic"
                    );
                    tokio::select! {
                        _ = shutdown.as_mut() => return Ok(()),
                        _ = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(30));
                }
            }
        }
    };
    let graceful = Duration::from_millis(config.shutdown_graceful_ms);
    let schemas = match &registry {
        Some(r) => Some(schema::client::Schemas::Local(r.clone())),
        None if !config.registry.url.is_empty() => {
            let remote = schema::client::RemoteRegistry::new(config.registry.client())
                .map_err(|e| anyhow::anyhow!("schema registry client: {e}"))?;
            Some(schema::client::Schemas::Remote(Arc::new(remote)))
        }
        None => None,
    };
    let app = Arc::new(state::App {
        config,
        kafka,
        schemas,
        sources: state::SourceStates::default(),
    });
    let token = CancellationToken::new();

    let sweeper = tokio::spawn(expire_instances(app.clone(), token.clone()));
    // The edge's access control (BASIC, CORS), shared by both APIs.
    let edge = crate::http::edge::Edge::from_config(&app.config.edge)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let router = rest::router(app.clone(), &edge);
    let mut servers = Vec::new();
    // MQTT listeners are bound before the REST ones answer, so a proxy that answers is whole.
    if !app.config.mqtt.listeners.is_empty() {
        let server = mqtt::Server::new(&app).map_err(|e| anyhow::anyhow!("MQTT: {e}"))?;
        let mut bound = Vec::new();
        for l in &app.config.mqtt.listeners {
            let listener = tokio::net::TcpListener::bind(l.addr)
                .await
                .map_err(|e| anyhow::anyhow!("MQTT listener {}: {e}", l.addr))?;
            let kind = if l.tls { "ssl" } else { "tcp" };
            tracing::info!(addr = %listener.local_addr()?, kind, "MQTT listener ready");
            bound.push((listener, l.tls));
        }
        let serving = server.serve(bound, token.clone());
        servers.push(tokio::spawn(serving));
    }

    // MQTT sources: subscriptions to remote brokers, until shutdown.
    servers.extend(crate::mqtt_source::start(&app, &token));

    let limits = server::Limits {
        max_connections: app.config.http.max_connections,
        header_read_timeout: Duration::from_millis(app.config.http.header_read_timeout_ms),
        http2_max_streams: app.config.http.http2_max_streams(),
    };
    // `https://` listeners share one acceptor (ssl.keystore.location and the client checks).
    let edge_config = &app.config.edge;
    let tls = match &edge_config.keystore {
        Some(keystore) => Some(
            crate::tls::HttpTls::load(
                crate::tls::Store {
                    path: keystore.clone(),
                    pkcs12_password: edge_config
                        .keystore_pkcs12
                        .then(|| edge_config.keystore_password.clone()),
                },
                edge_config
                    .truststore
                    .as_ref()
                    .map(|path| crate::tls::Store {
                        path: path.clone(),
                        pkcs12_password: edge_config
                            .truststore_pkcs12
                            .then(|| edge_config.truststore_password.clone()),
                    }),
                edge_config.client_auth,
                app.config.http.http2_enabled,
            )
            .map_err(|e| anyhow::anyhow!("https listeners: {e}"))?,
        ),
        None => None,
    };
    let tls_for = |addr: std::net::SocketAddr, https: &[std::net::SocketAddr]| {
        https.contains(&addr).then(|| tls.clone()).flatten()
    };
    if let Some(registry) = &registry {
        let sr_router = registry_api::router(registry.clone(), &app.config, &edge);
        for listener in registry_listeners {
            let addr = listener.local_addr()?;
            let tls = tls_for(addr, &app.config.registry.https);
            tracing::info!(%addr, https = tls.is_some(), "schema registry listener ready");
            let serving = server::serve(listener, sr_router.clone(), limits, token.clone(), tls);
            servers.push(tokio::spawn(serving));
        }
    }
    for listener in listeners {
        let addr = listener.local_addr()?;
        let tls = tls_for(addr, &app.config.rest.https);
        tracing::info!(%addr, https = tls.is_some(), "REST listener ready");
        let serving = server::serve(listener, router.clone(), limits, token.clone(), tls);
        servers.push(tokio::spawn(serving));
    }

    shutdown.as_mut().await;
    // Everything below shares one deadline, so that shutdown ends within `shutdown.graceful.ms`
    // even when Kafka is gone (a flush or a consumer's group leave would otherwise wait for it).
    let deadline = tokio::time::Instant::now() + graceful;
    tracing::info!("shutting down: draining in-flight requests");
    token.cancel();
    let drained = tokio::time::timeout_at(deadline, async {
        for server in servers.iter_mut() {
            let _ = server.await;
        }
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            ?graceful,
            "in-flight requests still running at the deadline; aborting them"
        );
        servers.iter().for_each(|s| s.abort());
    }
    let _ = sweeper.await;

    let flushing = app.clone();
    let left = deadline.saturating_duration_since(tokio::time::Instant::now());
    let flush = tokio::task::spawn_blocking(move || flushing.kafka.producer.flush(left));
    match tokio::time::timeout_at(deadline, flush).await {
        Ok(Ok(Ok(()))) => {}
        Ok(Ok(Err(err))) => tracing::error!(error = %err, "producer flush failed at shutdown"),
        Ok(Err(err)) => tracing::error!(error = %err, "producer flush task failed"),
        Err(_) => tracing::error!("producer flush did not finish within shutdown.graceful.ms"),
    }
    let instances = app.kafka.consumers.take_all();
    let closing = instances.len();
    let closed = tokio::time::timeout_at(
        deadline,
        futures_util::future::join_all(instances.iter().map(|i| i.close())),
    )
    .await;
    match closed {
        Ok(_) => tracing::info!(closed_instances = closing, "shutdown complete"),
        Err(_) => {
            tracing::warn!(
                instances = closing,
                "consumer instances did not all leave their groups within shutdown.graceful.ms (is Kafka reachable?); exiting anyway"
            );
            // Dropping a consumer that has not closed would block in its client's close: the
            // process is exiting, so its clients are left for the OS to reclaim.
            std::mem::forget(instances);
            std::mem::forget(app);
        }
    }
    Ok(())
}

/// Closes idle consumer instances once a second until cancelled.
async fn expire_instances(app: Arc<state::App>, token: CancellationToken) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = token.cancelled() => return,
            _ = tick.tick() => {}
        }
        let expired = app.kafka.consumers.take_expired();
        if expired.is_empty() {
            continue;
        }
        for instance in &expired {
            tracing::info!(group = %instance.group, instance = %instance.name, "consumer instance expired");
        }
        tokio::spawn(async move {
            futures_util::future::join_all(expired.iter().map(|i| i.close())).await;
            drop(expired);
            memory::release_freed();
        });
    }
}

/// Binds the REST listeners of `config` and serves until `shutdown` completes.
pub async fn run(
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let mut listeners = Vec::new();
    for addr in &config.rest.listeners {
        listeners.push(TcpListener::bind(addr).await?);
    }
    serve(config, listeners, shutdown).await
}

/// Completes on SIGTERM or SIGINT.
pub async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
