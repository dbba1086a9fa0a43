//! What every MQTT connection shares: the routes from MQTT topics to Kafka topics (and their
//! writers), the credentials, the connection cap, the packet limits and the counters.

use std::num::NonZeroU16;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;

use super::batcher::Stats;
use super::routes::Routes;
use crate::credentials as auth;
use crate::state::App;

/// What every MQTT connection shares: routes, credentials, the connection cap and counters.
pub struct Ingest {
    pub(super) routes: Routes,
    pub(super) credentials: Option<auth::Credentials>,
    pub(super) slots: Arc<Semaphore>,
    pub(super) max_bytes: u32,
    pub(super) receive_max: NonZeroU16,
    pub stats: Arc<Stats>,
}

impl Ingest {
    /// Starts one set of writers per Kafka topic the rules and the default name, adding their
    /// tasks to `writers`.
    pub(super) fn new(
        app: &Arc<App>,
        credentials: Option<auth::Credentials>,
        writers: &mut Vec<tokio::task::JoinHandle<()>>,
    ) -> Ingest {
        let config = &app.config;
        let stats = Arc::new(Stats::default());
        let routes = Routes::start(
            app,
            &config.mqtt.topic_rules,
            config.mqtt.default_topic.as_deref(),
            &stats,
            writers,
        );
        Ingest {
            routes,
            credentials,
            slots: Arc::new(Semaphore::new(config.mqtt.max_connections)),
            max_bytes: config.mqtt.message_max_bytes,
            receive_max: config.mqtt.receive_maximum,
            stats,
        }
    }
}

/// A connection must send CONNECT within this long.
pub(super) const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
