//! The application state every front end shares: the resolved configuration, the Kafka clients
//! (shared producer, consumer-instance registry) and the schema service. REST handlers, the MQTT
//! listener's writers and the background tasks hold it as `Arc<App>`; it lives below the front
//! ends so that none of them imports another.

use crate::config::Config;
use crate::kafka::Kafka;

/// Shared state of every request and every MQTT writer.
pub struct App {
    pub config: Config,
    pub kafka: Kafka,
    /// The schemas of the schema formats: the built-in registry, or a remote one.
    pub schemas: Option<crate::schema::client::Schemas>,
}
