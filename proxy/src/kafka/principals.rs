//! Kafka producers per HTTP principal (`confluent.rest.auth.propagate.method=JETTY_AUTH`): a
//! request's BASIC user and password become the SASL credentials (`sasl.username`,
//! `sasl.password`, with the configured PLAIN or SCRAM mechanism) of a producer of its own, so
//! Kafka's ACLs and quotas see the user, not the proxy. At most `kafka.principal.clients.max`
//! principals keep a producer; the least recently used one is dropped to make room (requests
//! already holding it finish on it). A changed password gets a new producer.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use super::batch::BatchEngine;
use super::error::Error;
use super::metadata::Metadata;
use super::producer::Producer;
use super::settings::{batch_settings, producer_config};
use crate::config::Config;

struct Entry {
    password: String,
    producer: Arc<Producer>,
    used: Instant,
}

/// The principals' producers.
pub struct PrincipalProducers {
    base: Config,
    metadata: Arc<Metadata>,
    max: usize,
    producers: Mutex<HashMap<String, Entry>>,
}

/// Checks that the proxy's Kafka settings can carry a user's password: SASL with PLAIN or SCRAM.
pub(super) fn check(config: &Config) -> Result<(), Error> {
    let get = |k: &str| {
        config
            .produce
            .properties
            .get(k)
            .or(config.client.get(k))
            .map(|v| v.trim().to_ascii_uppercase())
    };
    let protocol = get("security.protocol").unwrap_or_default();
    let mechanism = get("sasl.mechanism")
        .or(get("sasl.mechanisms"))
        .unwrap_or_else(|| "GSSAPI".into());
    if !protocol.starts_with("SASL_")
        || !matches!(
            mechanism.as_str(),
            "PLAIN" | "SCRAM-SHA-256" | "SCRAM-SHA-512"
        )
    {
        return Err(Error::InvalidConfig(format!(
            "confluent.rest.auth.propagate.method=JETTY_AUTH passes BASIC users on as SASL \
             users: it needs client.security.protocol SASL_PLAINTEXT or SASL_SSL with \
             client.sasl.mechanism PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 (have {} and {mechanism})",
            if protocol.is_empty() {
                "PLAINTEXT"
            } else {
                &protocol
            }
        )));
    }
    Ok(())
}

impl PrincipalProducers {
    pub(super) fn new(config: &Config, metadata: Arc<Metadata>) -> Result<Self, Error> {
        check(config)?;
        Ok(PrincipalProducers {
            base: config.clone(),
            metadata,
            max: config.edge.principal_clients_max.max(1),
            producers: Mutex::new(HashMap::new()),
        })
    }

    /// The producer of `user` (created, or replaced when the password changed).
    pub fn producer(&self, user: &str, password: &str) -> Result<Arc<Producer>, Error> {
        let mut producers = self
            .producers
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(entry) = producers.get_mut(user) {
            if entry.password == password {
                entry.used = Instant::now();
                return Ok(entry.producer.clone());
            }
        }
        if producers.len() >= self.max && !producers.contains_key(user) {
            let oldest = producers
                .iter()
                .min_by_key(|(_, e)| e.used)
                .map(|(name, _)| name.clone());
            if let Some(name) = oldest {
                tracing::info!(principal = %name, "closing the least recently used principal's producer");
                producers.remove(&name);
            }
        }
        let producer = Arc::new(self.build(user, password)?);
        producers.insert(
            user.to_string(),
            Entry {
                password: password.to_string(),
                producer: producer.clone(),
                used: Instant::now(),
            },
        );
        metrics::gauge!(crate::telemetry::PRINCIPAL_PRODUCERS).set(producers.len() as f64);
        tracing::info!(principal = %user, "producer created for principal");
        Ok(producer)
    }

    fn build(&self, user: &str, password: &str) -> Result<Producer, Error> {
        let mut config = self.base.clone();
        for map in [&mut config.client, &mut config.produce.properties] {
            map.remove("sasl.username");
            map.remove("sasl.password");
        }
        config.client.insert("sasl.username".into(), user.into());
        config
            .client
            .insert("sasl.password".into(), password.into());
        let batch = batch_settings(&config)?.map(BatchEngine::new);
        Producer::new(&producer_config(&config), batch, self.metadata.clone())
    }
}
