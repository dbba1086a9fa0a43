//! Where publishes go: MQTT topics to Kafka topics by rules (`kafka_topic:regex`, the first
//! matching the whole MQTT topic wins) and a default topic, each Kafka topic with its writers
//! ([`super::batcher::Lanes`]). Shared by the MQTT listener and the MQTT sources.

use std::sync::Arc;

use tokio::task::JoinHandle;

use super::batcher::{Lanes, Stats};
use crate::config::TopicRule;
use crate::state::App;

/// One Kafka topic and its writers' queues.
pub struct Route {
    pub kafka_topic: String,
    pub lanes: Lanes,
}

/// The rules in order, each with its route, and the default topic's route.
pub struct Routes {
    rules: Vec<(regex::Regex, usize)>,
    default: Option<usize>,
    routes: Vec<Route>,
}

impl Routes {
    /// Starts one set of writers per Kafka topic the rules and the default name, adding their
    /// tasks to `writers`.
    pub fn start(
        app: &Arc<App>,
        rules: &[TopicRule],
        default: Option<&str>,
        stats: &Arc<Stats>,
        writers: &mut Vec<JoinHandle<()>>,
    ) -> Routes {
        let mut routes: Vec<Route> = Vec::new();
        let mut index = |topic: &str| match routes.iter().position(|r| r.kafka_topic == topic) {
            Some(i) => i,
            None => {
                routes.push(Route {
                    kafka_topic: topic.to_string(),
                    lanes: Lanes::start(topic, app, stats, &mut *writers),
                });
                routes.len() - 1
            }
        };
        let rules = rules
            .iter()
            .map(|r| (r.regex.clone(), index(&r.kafka_topic)))
            .collect();
        let default = default.map(&mut index);
        Routes {
            rules,
            default,
            routes,
        }
    }

    /// The route of an MQTT topic: the first rule matching it whole, else the default.
    pub fn route(&self, mqtt_topic: &str) -> Option<usize> {
        self.rules
            .iter()
            .find(|(regex, _)| regex.is_match(mqtt_topic))
            .map(|(_, route)| *route)
            .or(self.default)
    }
}

impl std::ops::Index<usize> for Routes {
    type Output = Route;

    fn index(&self, i: usize) -> &Route {
        &self.routes[i]
    }
}
