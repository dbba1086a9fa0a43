//! The MQTT listener's settings: listeners and their security, connection and packet bounds, the
//! writers' batches, and where publishes go (`mqtt.topic.regex.list`).

use std::collections::BTreeMap;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;

use super::error::ConfigError;
use super::parse::{invalid, non_empty, parse_positive};
use super::topic_rule::TopicRule;

/// The MQTT listener's settings.
#[derive(Debug, Clone)]
pub struct MqttConfig {
    /// `mqtt.listeners` (flag `--mqtt-listeners`): MQTT listeners, `tcp://HOST:PORT` (plain) or
    /// `ssl://HOST:PORT` (TLS), comma-separated. A bare `HOST:PORT` takes its kind from
    /// `mqtt.listeners.security.protocol`. Empty (default): no MQTT.
    pub listeners: Vec<MqttListener>,
    /// `mqtt.listeners.ssl.certificate.location` / `mqtt.listeners.ssl.key.location`: PEM
    /// certificate chain and private key of the TLS listeners.
    pub tls_certificate: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// `mqtt.credentials.file`: when set, CONNECT must carry a username and password listed in
    /// this file (`user: password` lines, Jetty's PropertyFileLoginModule format as Confluent's
    /// `credentials.txt`). Required by the SASL_* security protocols. Default none: no
    /// authentication.
    pub credentials_file: Option<PathBuf>,
    /// `mqtt.max.connections`: open MQTT connections allowed; more are refused in CONNACK
    /// (3.1.1: 3, server unavailable; 5: 0x89, server busy). Default 10000.
    pub max_connections: usize,
    /// `mqtt.batch.max.records` / `mqtt.batch.max.bytes`: the most publishes (and payload
    /// bytes) written to Kafka as one produce call; also the queue bound of each writer.
    /// `mqtt.batch.max.in.flight`: writers per Kafka topic, each with one batch in flight (an
    /// MQTT topic always uses the same one, so its publishes stay in order). Publishes wait for
    /// no timer: while a writer's batch is written, the next gathers. Defaults 8000, 4 MiB and
    /// 2: with one writer, its encoding and Kafka's answer never overlapped, and QoS 2 fell
    /// below 0.8 of native once the producer sent one Produce at a time (docs/performance-log.md,
    /// "MQTT QoS 2: two writers per Kafka topic").
    pub batch_max_records: usize,
    pub batch_max_bytes: usize,
    pub batch_max_in_flight: usize,
    /// `mqtt.topic.regex.list` (flag `--mqtt-topic-regex-list`, env
    /// `KAFKA_MQTT_TOPIC_REGEX_LIST`): `kafka_topic:regex, ...`, Confluent's MQTT Proxy syntax; a
    /// regex matches the whole MQTT topic and the first match wins.
    pub topic_rules: Vec<TopicRule>,
    /// `mqtt.default.topic`: the Kafka topic of publishes no rule matches. Default none: such a
    /// publish is refused.
    pub default_topic: Option<String>,
    /// `mqtt.message.max.bytes`: the largest MQTT packet accepted (its Remaining Length), as
    /// Confluent's MQTT Proxy. Default 8092.
    pub message_max_bytes: u32,
    /// `mqtt.receive.maximum`: MQTT 5's Receive Maximum, the QoS 1/2 publishes a client may have
    /// unacknowledged (backpressure: acks wait for Kafka). Default 1024: a client's throughput
    /// at QoS 1 is this window over the ack latency; memory is bounded by the writers' queues.
    pub receive_maximum: std::num::NonZeroU16,
}

impl Default for MqttConfig {
    fn default() -> Self {
        MqttConfig {
            listeners: Vec::new(),
            tls_certificate: None,
            tls_key: None,
            credentials_file: None,
            max_connections: 10_000,
            batch_max_records: 8000,
            batch_max_bytes: 4 << 20,
            batch_max_in_flight: 2,
            topic_rules: Vec::new(),
            default_topic: None,
            message_max_bytes: 8092,
            receive_maximum: std::num::NonZeroU16::new(1024).expect("non-zero"),
        }
    }
}

impl MqttConfig {
    /// Takes `key` when it is one of these settings (false: not one of them). `mqtt.listeners`
    /// is read by [`resolve_listeners`] once every key is known.
    pub(super) fn set(&mut self, key: &str, value: &str) -> Result<bool, ConfigError> {
        let k = key;
        match k {
            // Resolved after every key, with mqtt.listeners.security.protocol.
            "mqtt.listeners" | "mqtt.listeners.security.protocol" => {}
            "mqtt.listeners.ssl.certificate.location" => {
                self.tls_certificate = non_empty(value).map(PathBuf::from)
            }
            "mqtt.listeners.ssl.key.location" => self.tls_key = non_empty(value).map(PathBuf::from),
            "mqtt.credentials.file" => self.credentials_file = non_empty(value).map(PathBuf::from),
            "mqtt.max.connections" => self.max_connections = parse_positive(k, value)?,
            "mqtt.batch.max.records" => self.batch_max_records = parse_positive(k, value)?,
            "mqtt.batch.max.bytes" => self.batch_max_bytes = parse_positive(k, value)?,
            "mqtt.batch.max.in.flight" => self.batch_max_in_flight = parse_positive(k, value)?,
            "mqtt.topic.regex.list" | "topic.regex.list" => {
                self.topic_rules = TopicRule::parse_list(value).map_err(|e| invalid(k, value, e))?
            }
            "mqtt.default.topic" => {
                self.default_topic = Some(value.trim().to_string()).filter(|t| !t.is_empty())
            }
            "mqtt.receive.maximum" => {
                self.receive_maximum = std::num::NonZeroU16::new(parse_positive::<u16>(k, value)?)
                    .ok_or_else(|| invalid(k, value, "must be 1 to 65535"))?
            }
            "mqtt.message.max.bytes" => self.message_max_bytes = parse_positive::<u32>(k, value)?,
            _ => return Ok(false),
        }
        Ok(true)
    }
}

/// An MQTT listener: its address and whether it speaks TLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MqttListener {
    pub addr: SocketAddr,
    pub tls: bool,
}

/// `mqtt.listeners` with `mqtt.listeners.security.protocol` (Confluent's MQTT Proxy values:
/// PLAINTEXT, SSL, TLS, and SASL_PLAINTEXT, SASL_SSL, SASL_TLS, the last three meaning "check
/// the CONNECT username and password"). `tcp://` and `ssl://` listeners say their kind
/// themselves; a bare `HOST:PORT` (as `KAFKA_MQTT_LISTENERS=0.0.0.0:1883`) takes the protocol's.
pub(super) fn resolve_listeners(
    c: &mut MqttConfig,
    props: &BTreeMap<String, String>,
) -> Result<(), ConfigError> {
    let protocol_key = "mqtt.listeners.security.protocol";
    let protocol = props.get(protocol_key).map_or("PLAINTEXT", |p| p.trim());
    let (bare_tls, authenticated) = match protocol.to_ascii_uppercase().as_str() {
        "PLAINTEXT" | "" => (false, false),
        "SSL" | "TLS" => (true, false),
        "SASL_PLAINTEXT" => (false, true),
        "SASL_SSL" | "SASL_TLS" => (true, true),
        _ => {
            return Err(invalid(
                protocol_key,
                protocol,
                "expected PLAINTEXT, SSL, TLS, SASL_PLAINTEXT, SASL_SSL or SASL_TLS",
            ))
        }
    };
    if authenticated && c.credentials_file.is_none() {
        return Err(invalid(
            protocol_key,
            protocol,
            "SASL_* checks CONNECT credentials: set mqtt.credentials.file",
        ));
    }
    let key = "mqtt.listeners";
    let value = props.get(key).map_or("", String::as_str);
    let mut out = Vec::new();
    for item in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (tls, hostport) = match item.split_once("://") {
            None => (bare_tls, item),
            Some((scheme, rest)) => match scheme.to_ascii_lowercase().as_str() {
                "tcp" | "mqtt" => (false, rest),
                "ssl" | "tls" | "mqtts" => (true, rest),
                _ => {
                    return Err(invalid(
                        key,
                        value,
                        format!("`{item}`: the scheme must be tcp:// or ssl://"),
                    ))
                }
            },
        };
        let addr = hostport
            .trim_end_matches('/')
            .to_socket_addrs()
            .map_err(|e| invalid(key, value, format!("`{item}`: {e}")))?
            .next()
            .ok_or_else(|| invalid(key, value, format!("`{item}` resolves to no address")))?;
        out.push(MqttListener { addr, tls });
    }
    if out.iter().any(|l| l.tls) && (c.tls_certificate.is_none() || c.tls_key.is_none()) {
        return Err(invalid(
            key,
            value,
            "a TLS listener needs mqtt.listeners.ssl.certificate.location and mqtt.listeners.ssl.key.location (PEM files)",
        ));
    }
    c.listeners = out;
    Ok(())
}
