//! MQTT ingestion: devices publish over MQTT 3.1.1 or 5 and each PUBLISH becomes a Kafka record
//! (key = the MQTT topic, value = the payload bytes unchanged, headers `mqtt.topic` and
//! `mqtt.qos`, CreateTime = arrival), on the topic the first matching `mqtt.topic.regex.list`
//! rule names. The listener is publish-only, as Confluent's MQTT Proxy.
//!
//! QoS against Kafka's acks:
//! - QoS 0: produced without waiting.
//! - QoS 1: PUBACK only once Kafka has acknowledged the record.
//! - QoS 2: PUBREC once Kafka has acknowledged it; a PUBLISH repeating a packet id before its
//!   PUBREL is not produced again; PUBREL is answered with PUBCOMP.
//! - When Kafka refuses or fails a record, it is not acknowledged as delivered: MQTT 5 answers
//!   with reason 0x80, 3.1.1 (which has no error acks) closes the connection so the client
//!   publishes again. Acknowledgements go out in the order the PUBLISHes came in.
//! - A publish no rule maps (and no default topic): MQTT 5 answers 0x90 (QoS 0: dropped), 3.1.1
//!   closes the connection; either way it is logged and counted.
//!
//! Modules: this one holds the topic rules, the shared state and the listeners; `connect`
//! answers CONNECT; `session` handles a connection's packets after it, owing answers in order (`answers`); [`batcher`] writes the
//! publishes of all connections to Kafka in batches; `packets` maps rmqtt-codec's 3.1.1 and 5
//! packets to one set.
//!
//! Listeners are plain (`tcp://`) or TLS (`ssl://`, [`tls`]); CONNECT may be checked against a
//! credentials file ([`auth`]); `mqtt.max.connections` caps open connections.
//!
//! Packets are decoded by `rmqtt-codec` (strict: reserved flags, QoS 3, packet id 0, and the
//! Remaining Length cap `mqtt.message.max.bytes` are refused by closing the connection).

mod answers;
pub mod auth;
pub mod batcher;
mod connect;
mod packets;
mod session;
pub mod tls;

use std::num::NonZeroU16;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use batcher::Stats;
use connect::connection;

/// One `kafka_topic:regex` pair of `mqtt.topic.regex.list`.
#[derive(Debug, Clone)]
pub struct TopicRule {
    pub kafka_topic: String,
    /// Anchored: the whole MQTT topic must match.
    pub regex: regex::Regex,
}

impl TopicRule {
    /// Parses Confluent's syntax: pairs split by `,`, each split at its first `:`, trimmed.
    pub fn parse_list(text: &str) -> Result<Vec<TopicRule>, String> {
        text.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|pair| {
                let (topic, pattern) = pair
                    .split_once(':')
                    .ok_or_else(|| format!("`{pair}` is not kafka_topic:regex"))?;
                let (topic, pattern) = (topic.trim(), pattern.trim());
                if topic.is_empty() || pattern.is_empty() {
                    return Err(format!("`{pair}` is not kafka_topic:regex"));
                }
                let regex = crate::names::pattern(&format!("^(?:{pattern})$"))
                    .map_err(|e| format!("`{pattern}`: {e}"))?;
                Ok(TopicRule {
                    kafka_topic: topic.to_string(),
                    regex,
                })
            })
            .collect()
    }
}

/// Where an MQTT topic's publishes go: the Kafka topic and its writers' queues.
struct Route {
    kafka_topic: String,
    lanes: batcher::Lanes,
}

/// What every MQTT connection shares: routes, credentials, the connection cap and counters.
pub struct Ingest {
    /// The rules in order, each with its index in `routes`, and the default topic's index.
    rules: Vec<(regex::Regex, usize)>,
    default: Option<usize>,
    routes: Vec<Route>,
    credentials: Option<auth::Credentials>,
    slots: Arc<Semaphore>,
    max_bytes: u32,
    receive_max: NonZeroU16,
    pub stats: Arc<Stats>,
}

/// The MQTT side of the proxy, ready to serve its listeners.
pub struct Server {
    ingest: Arc<Ingest>,
    writers: Vec<tokio::task::JoinHandle<()>>,
    tls: Option<TlsAcceptor>,
}

impl Server {
    /// Loads the credentials file and the TLS certificate (errors stop start-up) and starts the
    /// topic writers.
    pub fn new(app: &Arc<crate::rest::App>) -> Result<Server, String> {
        let config = &app.config;
        let credentials = config
            .mqtt_credentials_file
            .as_deref()
            .map(auth::Credentials::load)
            .transpose()?;
        let tls = match (&config.mqtt_tls_certificate, &config.mqtt_tls_key) {
            (Some(cert), Some(key)) if config.mqtt_listeners.iter().any(|l| l.tls) => {
                Some(tls::acceptor(cert, key)?)
            }
            _ => None,
        };
        let stats = Arc::new(Stats::default());
        // One route (and set of writers) per Kafka topic the rules and the default name.
        let mut writers = Vec::new();
        let mut routes: Vec<Route> = Vec::new();
        let mut index = |topic: &str| match routes.iter().position(|r| r.kafka_topic == topic) {
            Some(i) => i,
            None => {
                routes.push(Route {
                    kafka_topic: topic.to_string(),
                    lanes: batcher::Lanes::start(topic, app, &stats, &mut writers),
                });
                routes.len() - 1
            }
        };
        let rules = config
            .mqtt_topic_rules
            .iter()
            .map(|r| (r.regex.clone(), index(&r.kafka_topic)))
            .collect();
        let default = config.mqtt_default_topic.as_deref().map(&mut index);
        let ingest = Ingest {
            rules,
            default,
            routes,
            credentials,
            slots: Arc::new(Semaphore::new(config.mqtt_max_connections)),
            max_bytes: config.mqtt_message_max_bytes,
            receive_max: config.mqtt_receive_maximum,
            stats,
        };
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

impl Ingest {
    /// The route of an MQTT topic (an index into `routes`): the first rule matching it whole,
    /// else the default.
    fn route(&self, mqtt_topic: &str) -> Option<usize> {
        self.rules
            .iter()
            .find(|(regex, _)| regex.is_match(mqtt_topic))
            .map(|(_, route)| *route)
            .or(self.default)
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
                    let outcome = match tls {
                        None => connection(stream, slot, ingest, shutdown).await,
                        Some(tls) => {
                            match tokio::time::timeout(CONNECT_TIMEOUT, tls.accept(stream)).await {
                                Ok(Ok(stream)) => connection(stream, slot, ingest, shutdown).await,
                                Ok(Err(e)) => Err(format!("TLS handshake failed: {e}")),
                                Err(_) => Err("no TLS handshake within 10 s".into()),
                            }
                        }
                    };
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

/// A connection must send CONNECT within this long.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn confluent_topic_regex_list() {
        let rules =
            TopicRule::parse_list("temperature:.*temperature, brightness:.*brightness,other:a:b")
                .unwrap();
        assert_eq!(rules.len(), 3);
        assert!(rules[0].regex.is_match("car/engine/temperature"));
        // The whole topic must match.
        assert!(!rules[0].regex.is_match("temperature/car"));
        assert_eq!(rules[2].kafka_topic, "other");
        assert!(rules[2].regex.is_match("a:b"), "split at the first colon");
        assert!(TopicRule::parse_list("no-colon").is_err());
        assert!(TopicRule::parse_list("t:(").is_err());
    }
}
