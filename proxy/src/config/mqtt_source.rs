//! MQTT sources: remote MQTT brokers the proxy subscribes to, forwarding what arrives into Kafka.
//! Keys are the MQTT source connector's, as written: one source at the top level of the file
//! (`mqtt.server.uri`, `mqtt.topics`, `kafka.topic`, ...), or several, each key after a
//! `mqtt.source.<name>.` prefix (`mqtt.source.hsl.mqtt.server.uri`). From the environment,
//! `KAFKA_MQTT_SERVER_URI` is `mqtt.server.uri` and `KAFKA_MQTT_KAFKA_TOPIC` is taken as
//! `kafka.topic`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use super::error::ConfigError;
use super::parse::{invalid, non_empty, parse_bool, parse_num, parse_positive};
use super::topic_rule::TopicRule;

/// The name of the source configured at the top level.
pub const DEFAULT_SOURCE: &str = "default";

/// One remote broker address (`mqtt.server.uri`): `tcp://HOST:PORT` or `ssl://HOST:PORT`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerUri {
    pub host: String,
    pub port: u16,
    pub tls: bool,
}

impl std::fmt::Display for ServerUri {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let scheme = if self.tls { "ssl" } else { "tcp" };
        write!(f, "{scheme}://{}:{}", self.host, self.port)
    }
}

/// The MQTT protocol version a source speaks (`mqtt.version`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MqttVersion {
    V311,
    V5,
}

/// One MQTT source.
#[derive(Debug, Clone)]
pub struct MqttSource {
    pub name: String,
    /// `mqtt.server.uri`: comma-separated; connections try them in turn (fail-over).
    pub servers: Vec<ServerUri>,
    /// `mqtt.topics`: comma-separated topic filters (`+` and `#` allowed).
    pub topics: Vec<String>,
    /// `kafka.topic`: where everything goes, unless a `topic.regex.list` rule matches first.
    pub kafka_topic: Option<String>,
    /// `topic.regex.list`: `kafka_topic:regex, ...`, as the MQTT listener's.
    pub topic_rules: Vec<TopicRule>,
    /// `mqtt.qos`: the subscriptions' QoS (default 1: at least once).
    pub qos: u8,
    /// `mqtt.clean.session.enabled` (default false: the remote broker keeps the session, and
    /// what was published while the proxy was away is delivered when it returns).
    pub clean_session: bool,
    /// `mqtt.client.id` (default `kafka-proxy-<name>`: stable, so the session resumes).
    pub client_id: String,
    /// `mqtt.keepalive.interval.seconds` (default 60).
    pub keep_alive: Duration,
    /// `mqtt.connect.timeout.seconds` (default 30).
    pub connect_timeout: Duration,
    /// `mqtt.username` / `mqtt.password`.
    pub username: Option<String>,
    pub password: Option<String>,
    /// `mqtt.ssl.ca.location`: PEM CA certificates trusted for `ssl://` servers (default: the
    /// system's); `mqtt.ssl.certificate.location` / `mqtt.ssl.key.location`: a PEM client
    /// certificate and key.
    pub ssl_ca: Option<PathBuf>,
    pub ssl_certificate: Option<PathBuf>,
    pub ssl_key: Option<PathBuf>,
    /// `mqtt.version`: `3.1.1` (default) or `5`.
    pub version: MqttVersion,
    /// `mqtt.max.inflight`: MQTT 5's Receive Maximum, the QoS 1/2 messages the remote broker
    /// may have unacknowledged (they are acknowledged once in Kafka): the bound on memory, and
    /// backpressure to the broker. Default 1000. A 3.1.1 broker applies its own limit
    /// (mosquitto's `max_inflight_messages`).
    pub max_inflight: u16,
}

impl MqttSource {
    fn new(name: &str) -> MqttSource {
        MqttSource {
            name: name.to_string(),
            servers: Vec::new(),
            topics: Vec::new(),
            kafka_topic: None,
            topic_rules: Vec::new(),
            qos: 1,
            clean_session: false,
            client_id: format!("kafka-proxy-{name}"),
            keep_alive: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(30),
            username: None,
            password: None,
            ssl_ca: None,
            ssl_certificate: None,
            ssl_key: None,
            version: MqttVersion::V311,
            max_inflight: 1000,
        }
    }

    /// Takes one of the connector's keys (`k` without any source prefix; `shown` is the key
    /// as written, for errors). False: not a source key.
    fn set(&mut self, k: &str, shown: &str, value: &str) -> Result<bool, ConfigError> {
        let secs = |v: &str| parse_positive::<u64>(shown, v).map(Duration::from_secs);
        match k {
            "mqtt.server.uri" => self.servers = parse_servers(shown, value)?,
            "mqtt.topics" => {
                self.topics = value
                    .split(',')
                    .map(str::trim)
                    .filter(|t| !t.is_empty())
                    .map(str::to_string)
                    .collect();
                if let Some(bad) = self.topics.iter().find(|t| !valid_filter(t)) {
                    return Err(invalid(
                        shown,
                        value,
                        format!("`{bad}` is not an MQTT topic filter (`#` only last, alone in its level; `+` alone in its level)"),
                    ));
                }
            }
            "kafka.topic" | "mqtt.kafka.topic" => {
                self.kafka_topic = non_empty(value);
                if let Some(t) = &self.kafka_topic {
                    crate::names::check_topic(t).map_err(|e| invalid(shown, value, e))?;
                }
            }
            "topic.regex.list" => {
                self.topic_rules =
                    TopicRule::parse_list(value).map_err(|e| invalid(shown, value, e))?
            }
            "mqtt.qos" => {
                self.qos = parse_num::<u8>(shown, value)?;
                if self.qos > 2 {
                    return Err(invalid(shown, value, "expected 0, 1 or 2"));
                }
            }
            "mqtt.clean.session.enabled" => self.clean_session = parse_bool(shown, value)?,
            "mqtt.client.id" => {
                self.client_id =
                    non_empty(value).ok_or_else(|| invalid(shown, value, "must not be empty"))?
            }
            "mqtt.keepalive.interval.seconds" => self.keep_alive = secs(value)?,
            "mqtt.connect.timeout.seconds" => self.connect_timeout = secs(value)?,
            "mqtt.username" => self.username = non_empty(value),
            "mqtt.password" => self.password = Some(value.to_string()),
            "mqtt.ssl.ca.location" => self.ssl_ca = non_empty(value).map(PathBuf::from),
            "mqtt.ssl.certificate.location" => {
                self.ssl_certificate = non_empty(value).map(PathBuf::from)
            }
            "mqtt.ssl.key.location" => self.ssl_key = non_empty(value).map(PathBuf::from),
            "mqtt.version" => {
                self.version = match value.trim() {
                    "3.1.1" | "3" | "4" => MqttVersion::V311,
                    "5" | "5.0" => MqttVersion::V5,
                    _ => return Err(invalid(shown, value, "expected 3.1.1 or 5")),
                }
            }
            "mqtt.max.inflight" => self.max_inflight = parse_positive(shown, value)?,
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// A source needs servers, topics and somewhere to put what arrives.
    fn check(&self, prefix: &str) -> Result<(), ConfigError> {
        let key = |k: &str| format!("{prefix}{k}");
        if self.servers.is_empty() {
            return Err(invalid(
                &key("mqtt.server.uri"),
                "",
                "a source needs a server",
            ));
        }
        if self.topics.is_empty() {
            return Err(invalid(
                &key("mqtt.topics"),
                "",
                "a source needs topic filters",
            ));
        }
        if self.kafka_topic.is_none() && self.topic_rules.is_empty() {
            return Err(invalid(
                &key("kafka.topic"),
                "",
                "a source needs kafka.topic or topic.regex.list",
            ));
        }
        if self.ssl_certificate.is_some() != self.ssl_key.is_some() {
            return Err(invalid(
                &key("mqtt.ssl.certificate.location"),
                "",
                "a client certificate needs its key (mqtt.ssl.key.location), and the other way round",
            ));
        }
        Ok(())
    }
}

/// Whether `f` is an MQTT topic filter: non-empty, `#` only as the last level and alone in
/// it, `+` alone in its level.
fn valid_filter(f: &str) -> bool {
    let levels: Vec<&str> = f.split('/').collect();
    !f.is_empty()
        && levels.iter().enumerate().all(|(i, l)| {
            (*l == "#" && i == levels.len() - 1)
                || *l == "+"
                || (!l.contains('#') && !l.contains('+'))
        })
}

fn parse_servers(key: &str, value: &str) -> Result<Vec<ServerUri>, ConfigError> {
    let mut out = Vec::new();
    for item in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (scheme, rest) = item.split_once("://").ok_or_else(|| {
            invalid(
                key,
                value,
                format!("`{item}`: expected tcp://HOST:PORT or ssl://HOST:PORT"),
            )
        })?;
        let tls = match scheme.to_ascii_lowercase().as_str() {
            "tcp" | "mqtt" => false,
            "ssl" | "tls" | "mqtts" => true,
            _ => {
                return Err(invalid(
                    key,
                    value,
                    format!("`{item}`: the scheme must be tcp:// or ssl://"),
                ))
            }
        };
        let rest = rest.trim_end_matches('/');
        let (host, port) = match rest.rsplit_once(':') {
            Some((h, p)) => (
                h,
                p.parse::<u16>()
                    .map_err(|_| invalid(key, value, format!("`{item}`: bad port")))?,
            ),
            None => (rest, if tls { 8883 } else { 1883 }),
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() {
            return Err(invalid(key, value, format!("`{item}`: no host")));
        }
        out.push(ServerUri {
            host: host.to_string(),
            port,
            tls,
        });
    }
    Ok(out)
}

/// Every source of the properties, by name; keys that are not source keys are left alone.
/// Returns the sources and the keys taken.
pub(super) fn sources(
    props: &BTreeMap<String, String>,
) -> Result<(Vec<MqttSource>, Vec<String>), ConfigError> {
    let mut named: BTreeMap<String, MqttSource> = BTreeMap::new();
    let mut top = MqttSource::new(DEFAULT_SOURCE);
    let mut top_given = false;
    let mut taken = Vec::new();
    for (key, value) in props {
        if let Some(rest) = key.strip_prefix("mqtt.source.") {
            let (name, k) = rest
                .split_once('.')
                .ok_or_else(|| ConfigError::UnknownKey(key.clone()))?;
            if name.is_empty() || name == DEFAULT_SOURCE {
                return Err(invalid(
                    key,
                    value,
                    "a source's name must not be empty or `default`",
                ));
            }
            let source = named
                .entry(name.to_string())
                .or_insert_with(|| MqttSource::new(name));
            if !source.set(k, key, value)? {
                return Err(ConfigError::UnknownKey(key.clone()));
            }
            taken.push(key.clone());
        // (Bare `topic.regex.list` is the MQTT listener's.)
        } else if key != "topic.regex.list" && top.set(key, key, value)? {
            top_given = true;
            taken.push(key.clone());
        }
    }
    let mut out = Vec::with_capacity(named.len() + 1);
    // The top-level source exists when any of its keys was given.
    if top_given {
        top.check("")?;
        out.push(top);
    }
    for s in named.into_values() {
        s.check(&format!("mqtt.source.{}.", s.name))?;
        out.push(s);
    }
    Ok((out, taken))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn props(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn the_connectors_keys_at_the_top_level() {
        let (s, taken) = sources(&props(&[
            (
                "mqtt.server.uri",
                "tcp://mqtt.hsl.fi:1883, ssl://backup:8883",
            ),
            ("mqtt.topics", "/hfp/v2/journey/ongoing/vp/#"),
            ("kafka.topic", "vehicle-positions"),
            ("mqtt.qos", "1"),
            ("bootstrap.servers", "x:9092"),
        ]))
        .unwrap();
        assert_eq!(s.len(), 1);
        assert_eq!(taken.len(), 4);
        let s = &s[0];
        assert_eq!(s.name, "default");
        assert_eq!(s.servers.len(), 2);
        assert_eq!(s.servers[1].to_string(), "ssl://backup:8883");
        assert_eq!(s.topics, ["/hfp/v2/journey/ongoing/vp/#"]);
        assert_eq!(s.kafka_topic.as_deref(), Some("vehicle-positions"));
        assert!(!s.clean_session);
        assert_eq!(s.client_id, "kafka-proxy-default");
    }

    #[test]
    fn named_sources_and_refusals() {
        let (s, _) = sources(&props(&[
            ("mqtt.source.a.mqtt.server.uri", "tcp://h:1"),
            ("mqtt.source.a.mqtt.topics", "x/+/y"),
            ("mqtt.source.a.topic.regex.list", "t1:x/.*"),
            ("mqtt.source.b.mqtt.server.uri", "tcp://h:2"),
            ("mqtt.source.b.mqtt.topics", "#"),
            ("mqtt.source.b.kafka.topic", "t2"),
            ("mqtt.source.b.mqtt.version", "5"),
        ]))
        .unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!(s[1].version, MqttVersion::V5);
        for (bad, why) in [
            (
                vec![("mqtt.source.a.mqtt.nope", "1")],
                "mqtt.source.a.mqtt.nope",
            ),
            (
                vec![("mqtt.source.a.mqtt.server.uri", "http://h:1")],
                "scheme",
            ),
            (
                vec![("mqtt.server.uri", "tcp://h:1"), ("mqtt.topics", "a/#/b")],
                "filter",
            ),
            (
                vec![("mqtt.server.uri", "tcp://h:1"), ("mqtt.topics", "a")],
                "kafka.topic",
            ),
            (
                vec![("mqtt.server.uri", "tcp://h:1"), ("mqtt.qos", "3")],
                "0, 1 or 2",
            ),
            (
                vec![("mqtt.topics", "a"), ("kafka.topic", "t")],
                "a source needs a server",
            ),
        ] {
            let e = sources(&props(&bad)).unwrap_err().to_string();
            assert!(e.contains(why), "{bad:?}: {e}");
        }
    }
}
