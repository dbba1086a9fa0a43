//! What every MQTT connection shares: the routes from MQTT topics to Kafka topics (and their
//! writers), the credentials, the connection cap, the packet limits and the counters.

use std::num::NonZeroU16;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;

use super::batcher::{self, Stats};
use crate::credentials as auth;
use crate::state::App;

/// Where an MQTT topic's publishes go: the Kafka topic and its writers' queues.
pub(super) struct Route {
    pub(super) kafka_topic: String,
    pub(super) lanes: batcher::Lanes,
}

/// What every MQTT connection shares: routes, credentials, the connection cap and counters.
pub struct Ingest {
    /// The rules in order, each with its index in `routes`, and the default topic's index.
    rules: Vec<(regex::Regex, usize)>,
    default: Option<usize>,
    pub(super) routes: Vec<Route>,
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
        // One route (and set of writers) per Kafka topic the rules and the default name.
        let mut routes: Vec<Route> = Vec::new();
        let mut index = |topic: &str| match routes.iter().position(|r| r.kafka_topic == topic) {
            Some(i) => i,
            None => {
                routes.push(Route {
                    kafka_topic: topic.to_string(),
                    lanes: batcher::Lanes::start(topic, app, &stats, &mut *writers),
                });
                routes.len() - 1
            }
        };
        let rules = config
            .mqtt
            .topic_rules
            .iter()
            .map(|r| (r.regex.clone(), index(&r.kafka_topic)))
            .collect();
        let default = config.mqtt.default_topic.as_deref().map(&mut index);
        Ingest {
            rules,
            default,
            routes,
            credentials,
            slots: Arc::new(Semaphore::new(config.mqtt.max_connections)),
            max_bytes: config.mqtt.message_max_bytes,
            receive_max: config.mqtt.receive_maximum,
            stats,
        }
    }

    /// The route of an MQTT topic (an index into `routes`): the first rule matching it whole,
    /// else the default.
    pub(super) fn route(&self, mqtt_topic: &str) -> Option<usize> {
        self.rules
            .iter()
            .find(|(regex, _)| regex.is_match(mqtt_topic))
            .map(|(_, route)| *route)
            .or(self.default)
    }
}

/// A connection must send CONNECT within this long.
pub(super) const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
