//! The Kafka side of the proxy as the rest of it sees it: the shared producer, the consumer
//! instances, cluster metadata, and the compacted logs opened on demand.

use std::sync::Arc;
use std::time::Duration;

use rdkafka::ClientConfig;

use super::error::Error;
use super::metadata::Metadata;
use super::settings::{
    batch_settings, client_config, consumer_config, producer_config, wire_access,
};
use super::{admin, batch, groups, log, principals, producer, registry};
use crate::config::Config;

/// The Kafka side of the proxy.
pub struct Kafka {
    pub metadata: Arc<Metadata>,
    /// Cluster administration (the v3 API).
    pub admin: admin::Admin,
    /// Consumer groups and their lags (the v3 API, read-only).
    pub groups: groups::Groups,
    pub producer: Arc<producer::Producer>,
    pub consumers: registry::Registry,
    /// Producers per BASIC user (`confluent.rest.auth.propagate.method=JETTY_AUTH`).
    pub principals: Option<principals::PrincipalProducers>,
    /// The settings every client shares (`bootstrap.servers`, `client.*`).
    client: ClientConfig,
}

impl Kafka {
    /// Creates the shared clients. Invalid `producer.*`/`client.*` properties fail here.
    pub fn new(config: &Config) -> Result<Kafka, Error> {
        let client = client_config(config, &config.client);
        let metadata = Arc::new(Metadata::new(
            &client,
            Duration::from_millis(config.produce.metadata_timeout_ms),
            Duration::from_millis(config.metadata_max_age_ms),
        )?);
        let batch = batch_settings(config)?.map(batch::BatchEngine::new);
        match &batch {
            Some(engine) => tracing::info!(settings = ?engine.settings(), "produce engine: batch"),
            None => tracing::info!("produce engine: librdkafka"),
        }
        let producer = Arc::new(producer::Producer::new(
            &producer_config(config),
            batch,
            metadata.clone(),
        )?);
        // Instances are created on demand; check their properties now so a typo fails start-up.
        consumer_config(config)
            .set("group.id", "validation")
            .create_native_config()?;
        let consumers = registry::Registry::new(
            consumer_config(config),
            metadata.clone(),
            Duration::from_millis(config.consumers.instance_timeout_ms),
            registry::Limits {
                total: config.consumers.instances_max,
                per_group: config.consumers.instances_max_per_group,
            },
        );
        let principals = if config.edge.propagate_principal {
            Some(principals::PrincipalProducers::new(
                config,
                metadata.clone(),
            )?)
        } else {
            None
        };
        let admin = admin::Admin::new(
            &client,
            Duration::from_millis(config.produce.metadata_timeout_ms).max(Duration::from_secs(10)),
            wire_access(config),
        )?;
        let groups = groups::Groups::new(
            &client,
            metadata.clone(),
            Duration::from_millis(config.produce.metadata_timeout_ms).max(Duration::from_secs(10)),
        )?;
        Ok(Kafka {
            metadata,
            admin,
            groups,
            producer,
            consumers,
            principals,
            client,
        })
    }

    /// Opens the compacted log on `topic` (created when missing), read to its end through
    /// `apply` and then tailed: see [`log::CompactedLog`].
    pub async fn open_log(
        &self,
        name: &'static str,
        topic: &str,
        apply: log::Apply,
    ) -> Result<log::CompactedLog, log::LogError> {
        log::CompactedLog::open(name, &self.client, topic, self.metadata.clone(), apply).await
    }
}
