//! The application state every front end shares: the resolved configuration, the Kafka clients
//! (shared producer, consumer-instance registry) and the schema service. REST handlers, the MQTT
//! listener's writers and the background tasks hold it as `Arc<App>`; it lives below the front
//! ends so that none of them imports another.

use std::collections::BTreeMap;
use std::sync::{Mutex, PoisonError};

use crate::config::Config;
use crate::kafka::Kafka;

/// Shared state of every request and every MQTT writer.
pub struct App {
    pub config: Config,
    pub kafka: Kafka,
    /// The schemas of the schema formats: the built-in registry, or a remote one.
    pub schemas: Option<crate::schema::client::Schemas>,
    /// Each MQTT source's connection, as the sources report it (read by `/ready`).
    pub sources: SourceStates,
}

/// One MQTT source's connection.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SourceState {
    pub connected: bool,
    /// The remote broker has answered the subscription (SUBACK): messages published from now
    /// on reach the source.
    pub subscribed: bool,
    /// The server it is connected to, or tried last.
    pub server: String,
    /// Why it is not connected.
    pub error: Option<String>,
}

/// The connection of every MQTT source, by name.
#[derive(Debug, Default)]
pub struct SourceStates(Mutex<BTreeMap<String, SourceState>>);

impl SourceStates {
    pub fn set(&self, name: &str, state: SourceState) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(name.to_string(), state);
    }

    pub fn snapshot(&self) -> BTreeMap<String, SourceState> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}
