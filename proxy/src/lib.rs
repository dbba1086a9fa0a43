//! `kafka-proxy`: a Confluent REST Proxy v2 compatible HTTP gateway to Kafka.
//!
//! Requests enter through [`rest`] (axum), which negotiates media types, parses bodies with
//! borrowed raw JSON and converts records with [`formats`]. [`kafka`] is the only module that
//! touches rdkafka: one shared producer batches every request's records into librdkafka and
//! answers from per-request delivery batches; consumer instances live in a registry with O(log n)
//! idle expiry and long-poll on async streams. [`config`] resolves flags, `KAFKA_REST_*`
//! environment and `kafka-rest.properties` files. [`serve`] ties it together with graceful
//! shutdown: stop accepting, finish in-flight requests, flush the producer, close every instance.

pub mod config;
pub mod formats;
pub mod kafka;
pub mod mqtt;
pub mod properties;
pub mod rest;
pub mod schema;

use std::future::{Future, IntoFuture};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use config::Config;

/// Serves the API on `listeners` (and the built-in Schema Registry on its configured listeners)
/// until `shutdown` completes, then shuts down cleanly.
pub async fn serve(
    config: Config,
    listeners: Vec<TcpListener>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let mut registry_listeners = Vec::new();
    for addr in &config.schema_registry_listeners {
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
    let kafka = kafka::Kafka::new(&config)?;
    let registry = if registry_listeners.is_empty() {
        None
    } else {
        let client = kafka::client_config(&config, &config.client);
        let registry =
            schema::Registry::open(&client, &config.schema_registry_topic, &kafka.metadata)
                .await
                .map_err(|e| anyhow::anyhow!("built-in schema registry: {e}"))?;
        Some(Arc::new(registry))
    };
    let graceful = Duration::from_millis(config.shutdown_graceful_ms);
    let schemas = match &registry {
        Some(r) => Some(schema::client::Schemas::Local(r.clone())),
        None if !config.schema_registry_url.is_empty() => {
            let remote = schema::client::RemoteRegistry::new(config.schema_registry_client())
                .map_err(|e| anyhow::anyhow!("schema registry client: {e}"))?;
            Some(schema::client::Schemas::Remote(Arc::new(remote)))
        }
        None => None,
    };
    let app = Arc::new(rest::App {
        config,
        kafka,
        schemas,
    });
    let token = CancellationToken::new();

    let sweeper = tokio::spawn(expire_instances(app.clone(), token.clone()));
    let router = rest::router(app.clone());
    let mut servers = Vec::new();
    // MQTT listeners are bound before the REST ones answer, so a proxy that answers is whole.
    if !app.config.mqtt_listeners.is_empty() {
        let server = mqtt::Server::new(&app).map_err(|e| anyhow::anyhow!("MQTT: {e}"))?;
        let mut bound = Vec::new();
        for l in &app.config.mqtt_listeners {
            let listener = tokio::net::TcpListener::bind(l.addr)
                .await
                .map_err(|e| anyhow::anyhow!("MQTT listener {}: {e}", l.addr))?;
            let kind = if l.tls { "ssl" } else { "tcp" };
            tracing::info!(addr = %listener.local_addr()?, kind, "MQTT listener ready");
            bound.push((listener, l.tls));
        }
        let serving = server.serve(bound, token.clone());
        servers.push(tokio::spawn(async move {
            serving.await;
            Ok(())
        }));
    }

    if let Some(registry) = &registry {
        let sr_router = schema::api::router(registry.clone());
        for listener in registry_listeners {
            tracing::info!(addr = %listener.local_addr()?, "schema registry listener ready");
            let stop = token.clone();
            servers.push(tokio::spawn(
                axum::serve(listener, sr_router.clone())
                    .with_graceful_shutdown(async move { stop.cancelled().await })
                    .into_future(),
            ));
        }
    }
    for listener in listeners {
        tracing::info!(addr = %listener.local_addr()?, "REST listener ready");
        let stop = token.clone();
        servers.push(tokio::spawn(
            axum::serve(listener, router.clone())
                .with_graceful_shutdown(async move { stop.cancelled().await })
                .into_future(),
        ));
    }

    shutdown.await;
    tracing::info!("shutting down: draining in-flight requests");
    token.cancel();
    let drained = tokio::time::timeout(graceful, async {
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
    match tokio::task::spawn_blocking(move || {
        flushing.kafka.producer.flush(Duration::from_secs(30))
    })
    .await
    {
        Ok(Ok(())) => {}
        Ok(Err(err)) => tracing::error!(error = %err, "producer flush failed at shutdown"),
        Err(err) => tracing::error!(error = %err, "producer flush task failed"),
    }
    let instances = app.kafka.consumers.take_all();
    let closing = instances.len();
    futures_util::future::join_all(instances.iter().map(|i| i.close())).await;
    tracing::info!(closed_instances = closing, "shutdown complete");
    Ok(())
}

/// Closes idle consumer instances once a second until cancelled.
async fn expire_instances(app: Arc<rest::App>, token: CancellationToken) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = token.cancelled() => return,
            _ = tick.tick() => {}
        }
        for instance in app.kafka.consumers.take_expired() {
            tracing::info!(group = %instance.group, instance = %instance.name, "consumer instance expired");
            tokio::spawn(async move { instance.close().await });
        }
    }
}
