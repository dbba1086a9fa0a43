//! The proxy's whole configuration, resolved from (highest first) command-line flags,
//! `KAFKA_REST_*` environment variables, a `kafka-rest.properties` file, and defaults: each key
//! is offered to the part of the configuration it belongs to, then the settings that depend on
//! each other are checked together.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;

use super::consumers::ConsumerConfig;
use super::edge::EdgeConfig;
use super::env::env_properties;
use super::error::ConfigError;
use super::http::HttpConfig;
use super::mqtt::{resolve_listeners, MqttConfig};
use super::mqtt_source::{sources, MqttSource};
use super::parse::{invalid, parse_num, parse_positive};
use super::produce::ProduceConfig;
use super::registry::RegistryConfig;
use super::rest::RestConfig;
use crate::properties;

/// The proxy's whole configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// `bootstrap.servers`: Kafka brokers, `HOST:PORT[,...]` (a `PLAINTEXT://` prefix is allowed).
    /// Required.
    pub bootstrap_servers: String,
    /// The REST API.
    pub rest: RestConfig,
    /// Both HTTP servers' bounds (`http.*`).
    pub http: HttpConfig,
    /// Both HTTP servers' security: TLS, client certificates, BASIC, CORS.
    pub edge: EdgeConfig,
    /// `log.format` (flag `--log-format`): `text` (default) or `json`.
    pub log_json: bool,
    /// Consumer instances (`consumer.*`, `fetch.min.bytes`).
    pub consumers: ConsumerConfig,
    /// The produce path (`produce.*`, `producer.*`).
    pub produce: ProduceConfig,
    /// The Schema Registry (`schema.registry.*`).
    pub registry: RegistryConfig,
    /// The MQTT listener (`mqtt.*`).
    pub mqtt: MqttConfig,
    /// MQTT sources: remote brokers subscribed to (`mqtt.server.uri`, ...,
    /// `mqtt.source.<name>.*`).
    pub mqtt_sources: Vec<MqttSource>,
    /// `metadata.max.age.ms`: how long cached topic metadata (partition counts) is reused. Default
    /// 30000.
    pub metadata_max_age_ms: u64,
    /// `shutdown.graceful.ms`: how long SIGTERM waits for in-flight requests. Default 5000.
    pub shutdown_graceful_ms: u64,
    /// `worker.threads`: the async runtime's worker threads (HTTP, MQTT, the batch engine).
    /// Default: one fewer than the CPUs the process may use, at least one (see
    /// [`crate::runtime`]).
    pub worker_threads: Option<usize>,
    /// `protected.topics`: topics REST clients may neither produce to nor consume from (403,
    /// error code 40301), comma-separated; an entry ending in `*` is a prefix. Default
    /// `__*,_schemas`; while the built-in registry runs its `schema.registry.topic` is added (a
    /// forged record there would rewrite the registry). Set it empty to allow every topic.
    pub protected_topics: crate::names::TopicPatterns,
    /// `json.max.nesting.depth`: the deepest nesting of arrays and objects in a json-format key
    /// or value, checked on produce (400) and on consume (40801), as Jackson's
    /// `StreamReadConstraints` default. Default 1000.
    pub json_max_nesting_depth: usize,
    /// `client.*`: librdkafka properties for every client (prefix stripped).
    pub client: BTreeMap<String, String>,
}

/// Confluent keys that are accepted but have no effect here (logged once at start-up).
const IGNORED_KEYS: &[&str] = &[
    "zookeeper.connect",
    // Confluent's MQTT Proxy license topic (KAFKA_MQTT_CONFLUENT_TOPIC_REPLICATION_FACTOR).
    "mqtt.confluent.topic.replication.factor",
    "consumer.threads",
    "producer.threads",
    "consumer.iterator.timeout.ms",
    "consumer.iterator.backoff.ms",
    "simpleconsumer.pool.size.max",
    "simpleconsumer.pool.timeout.ms",
];

impl Default for Config {
    fn default() -> Self {
        Config {
            bootstrap_servers: String::new(),
            rest: RestConfig::default(),
            http: HttpConfig::default(),
            edge: EdgeConfig::default(),
            log_json: false,
            consumers: ConsumerConfig::default(),
            produce: ProduceConfig::default(),
            registry: RegistryConfig::default(),
            mqtt: MqttConfig::default(),
            mqtt_sources: Vec::new(),
            metadata_max_age_ms: 30_000,
            shutdown_graceful_ms: 5_000,
            worker_threads: None,
            protected_topics: crate::names::TopicPatterns::parse("__*,_schemas"),
            json_max_nesting_depth: 1000,
            client: BTreeMap::new(),
        }
    }
}

impl Config {
    /// Resolves the configuration from its layers. `flags` are `key=value` pairs from the command line.
    pub fn resolve(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
        flags: BTreeMap<String, String>,
    ) -> Result<(Config, Vec<String>), ConfigError> {
        let mut props = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::File {
                    path: path.display().to_string(),
                    source,
                })?;
                properties::parse(&text)
            }
            None => BTreeMap::new(),
        };
        props.extend(env_properties(env));
        props.extend(flags);
        Config::from_properties(&props)
    }

    /// Builds a config from flat properties. Returns the config and the ignored keys that were set.
    pub fn from_properties(
        props: &BTreeMap<String, String>,
    ) -> Result<(Config, Vec<String>), ConfigError> {
        let mut c = Config::default();
        let mut ignored = Vec::new();
        let mut port = None;
        let (mqtt_sources, source_keys) = sources(props)?;
        c.mqtt_sources = mqtt_sources;
        for (key, value) in props {
            let k = key.as_str();
            if source_keys.contains(key) {
                continue;
            }
            if c.rest.set(k, value)?
                || c.http.set(k, value)?
                || c.edge.set(k, value)?
                || c.consumers.set(k, value)?
                || c.produce.set(k, value)?
                || c.registry.set(k, value)?
                || c.mqtt.set(k, value)?
            {
                continue;
            }
            match k {
                "bootstrap.servers" => c.bootstrap_servers = value.trim().to_string(),
                "port" => port = Some(parse_num::<u16>(k, value)?),
                "metadata.max.age.ms" => c.metadata_max_age_ms = parse_num(k, value)?,
                "shutdown.graceful.ms" => c.shutdown_graceful_ms = parse_num(k, value)?,
                "worker.threads" => c.worker_threads = Some(parse_positive(k, value)?),
                "protected.topics" => {
                    c.protected_topics = crate::names::TopicPatterns::parse(value);
                    if let Some(bad) = c.protected_topics.iter().find(|p| {
                        crate::names::check_topic(p.strip_suffix('*').unwrap_or(p)).is_err()
                            && *p != "*"
                    }) {
                        return Err(invalid(
                            k,
                            value,
                            format!("`{bad}` is not a topic name or prefix"),
                        ));
                    }
                }
                "json.max.nesting.depth" => c.json_max_nesting_depth = parse_positive(k, value)?,
                "log.format" => {
                    c.log_json = match value.trim() {
                        "text" | "" => false,
                        "json" => true,
                        _ => return Err(invalid(k, value, "expected text or json")),
                    }
                }
                _ if IGNORED_KEYS.contains(&k) => ignored.push(key.clone()),
                _ => {
                    let (map, rest) = if let Some(rest) = k.strip_prefix("producer.") {
                        (&mut c.produce.properties, rest)
                    } else if let Some(rest) = k.strip_prefix("consumer.") {
                        (&mut c.consumers.properties, rest)
                    } else if let Some(rest) = k.strip_prefix("client.") {
                        (&mut c.client, rest)
                    } else {
                        return Err(ConfigError::UnknownKey(key.clone()));
                    };
                    if rest.is_empty() {
                        return Err(ConfigError::UnknownKey(key.clone()));
                    }
                    map.insert(rest.to_string(), value.clone());
                }
            }
        }
        if let (Some(port), false) = (port, props.contains_key("listeners")) {
            c.rest.listeners = vec![SocketAddr::from(([0, 0, 0, 0], port))];
        }
        if c.bootstrap_servers.is_empty() {
            return Err(ConfigError::Missing("bootstrap.servers"));
        }
        resolve_listeners(&mut c.mqtt, props)?;
        if c.rest.listeners.is_empty() && c.mqtt.listeners.is_empty() && c.mqtt_sources.is_empty() {
            return Err(invalid(
                "listeners",
                "",
                "nothing to serve: give REST listeners, mqtt.listeners or an MQTT source",
            ));
        }
        // The built-in registry is on by default, except in an MQTT-only proxy (no REST API).
        if !props.contains_key("schema.registry.listeners")
            && c.registry.url.is_empty()
            && !c.rest.listeners.is_empty()
        {
            c.registry.listeners = vec![SocketAddr::from(([0, 0, 0, 0], 8081))];
        }
        if !c.registry.listeners.is_empty() && !c.protected_topics.is_empty() {
            c.protected_topics = c.protected_topics.clone().with(&c.registry.topic);
        }
        c.consumers.check()?;
        c.edge
            .check(!c.rest.https.is_empty() || !c.registry.https.is_empty())?;
        if !c.registry.url.is_empty() && !c.registry.listeners.is_empty() {
            return Err(invalid(
                "schema.registry.listeners",
                &c.registry.listeners[0].to_string(),
                "the built-in registry cannot run when schema.registry.url names an external one",
            ));
        }
        Ok((c, ignored))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::MqttListener;

    fn props(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_and_pass_through() {
        let (c, ignored) = Config::from_properties(&props(&[
            ("bootstrap.servers", "PLAINTEXT://k:9092"),
            ("producer.linger.ms", "7"),
            ("consumer.request.timeout.ms", "2500"),
            ("consumer.session.timeout.ms", "10000"),
            ("client.client.id", "x"),
            ("consumer.threads", "50"),
        ]))
        .unwrap();
        assert_eq!(
            c.rest.listeners,
            vec![SocketAddr::from(([0, 0, 0, 0], 8082))]
        );
        assert_eq!(c.consumers.request_timeout_ms, 2500);
        assert_eq!(c.produce.properties.get("linger.ms").unwrap(), "7");
        assert_eq!(
            c.consumers.properties.get("session.timeout.ms").unwrap(),
            "10000"
        );
        assert!(
            !c.consumers.properties.contains_key("request.timeout.ms"),
            "proxy keys must not leak"
        );
        assert_eq!(c.client.get("client.id").unwrap(), "x");
        assert_eq!(ignored, vec!["consumer.threads".to_string()]);
    }

    #[test]
    fn errors_name_the_key() {
        let err = Config::from_properties(&props(&[("bootstrap.servers", "k:1"), ("nope", "1")]))
            .unwrap_err();
        assert!(err.to_string().contains("`nope`"), "{err}");
        let err = Config::from_properties(&props(&[
            ("bootstrap.servers", "k:1"),
            ("consumer.instance.timeout.ms", "soon"),
        ]))
        .unwrap_err();
        assert!(
            err.to_string().contains("consumer.instance.timeout.ms"),
            "{err}"
        );
        let err = Config::from_properties(&props(&[
            ("fetch.min.bytes", "-5"),
            ("bootstrap.servers", "k:1"),
        ]))
        .unwrap_err();
        assert!(err.to_string().contains("fetch.min.bytes"), "{err}");
        let err = Config::from_properties(&props(&[])).unwrap_err();
        assert!(err.to_string().contains("bootstrap.servers"), "{err}");
        let err = Config::from_properties(&props(&[
            ("bootstrap.servers", "k:1"),
            ("listeners", "tcp://0:1"),
        ]))
        .unwrap_err();
        assert!(err.to_string().contains("listeners"), "{err}");
    }

    #[test]
    fn mqtt_security_settings() {
        let base = [("bootstrap.servers", "k:1")];
        let with = |extra: &[(&str, &str)]| {
            let mut all = base.to_vec();
            all.extend_from_slice(extra);
            Config::from_properties(&props(&all))
        };
        // Schemes decide; a bare HOST:PORT follows the security protocol.
        let (c, _) = with(&[
            (
                "mqtt.listeners",
                "tcp://127.0.0.1:1883, ssl://127.0.0.1:8883, 127.0.0.1:8884",
            ),
            ("mqtt.listeners.security.protocol", "SASL_SSL"),
            ("mqtt.listeners.ssl.certificate.location", "/c.pem"),
            ("mqtt.listeners.ssl.key.location", "/k.pem"),
            ("mqtt.credentials.file", "/creds.txt"),
            ("mqtt.max.connections", "3"),
        ])
        .unwrap();
        let tls: Vec<bool> = c.mqtt.listeners.iter().map(|l| l.tls).collect();
        assert_eq!(tls, [false, true, true]);
        assert_eq!(c.mqtt.max_connections, 3);
        assert_eq!(
            c.mqtt.credentials_file.as_deref(),
            Some(Path::new("/creds.txt"))
        );
        // TLS needs its PEM files; SASL_* needs credentials; unknown values are named.
        let err = with(&[("mqtt.listeners", "ssl://127.0.0.1:8883")]).unwrap_err();
        assert!(err.to_string().contains("certificate.location"), "{err}");
        let err = with(&[
            ("mqtt.listeners", "127.0.0.1:1883"),
            ("mqtt.listeners.security.protocol", "SASL_PLAINTEXT"),
        ])
        .unwrap_err();
        assert!(err.to_string().contains("mqtt.credentials.file"), "{err}");
        let err = with(&[
            ("mqtt.listeners", "127.0.0.1:1883"),
            ("mqtt.listeners.security.protocol", "KERBEROS"),
        ])
        .unwrap_err();
        assert!(err.to_string().contains("SASL_TLS"), "{err}");
        let err = with(&[("mqtt.listeners", "ws://127.0.0.1:1883")]).unwrap_err();
        assert!(err.to_string().contains("tcp:// or ssl://"), "{err}");
        // MQTT only: no REST listeners, and then no built-in registry by default.
        let (c, _) = with(&[("listeners", ""), ("mqtt.listeners", "127.0.0.1:1883")]).unwrap();
        assert!(c.rest.listeners.is_empty());
        assert!(c.registry.listeners.is_empty());
        let err = with(&[("listeners", "")]).unwrap_err();
        assert!(err.to_string().contains("nothing to serve"), "{err}");
    }

    #[test]
    fn seed_mqtt_environment_works_as_written() {
        // The seed's docker-compose environment for Confluent's MQTT Proxy.
        let env = [
            ("KAFKA_MQTT_BOOTSTRAP_SERVERS", "kafka:9092"),
            ("KAFKA_MQTT_CONFLUENT_TOPIC_REPLICATION_FACTOR", "1"),
            (
                "KAFKA_MQTT_TOPIC_REGEX_LIST",
                "temperature:.*temperature, brightness:.*brightness",
            ),
            ("KAFKA_MQTT_LISTENERS", "0.0.0.0:1883"),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string()));
        let (c, ignored) = Config::resolve(None, env, BTreeMap::new()).unwrap();
        assert_eq!(c.bootstrap_servers, "kafka:9092");
        assert_eq!(
            c.mqtt.listeners,
            vec![MqttListener {
                addr: SocketAddr::from(([0, 0, 0, 0], 1883)),
                tls: false
            }]
        );
        let topics: Vec<&str> = c
            .mqtt
            .topic_rules
            .iter()
            .map(|r| r.kafka_topic.as_str())
            .collect();
        assert_eq!(topics, ["temperature", "brightness"]);
        assert_eq!(
            ignored,
            vec!["mqtt.confluent.topic.replication.factor".to_string()]
        );
        assert!(Config::resolve(
            None,
            [(
                "KAFKA_MQTT_TOPIC_REGEX_LIST".to_string(),
                "nocolon".to_string()
            )],
            props(&[("bootstrap.servers", "b:1")])
        )
        .is_err());
    }

    #[test]
    fn env_names_follow_confluent_docker() {
        let env = vec![
            (
                "KAFKA_REST_BOOTSTRAP_SERVERS".to_string(),
                "b:1".to_string(),
            ),
            (
                "KAFKA_REST_CONSUMER_REQUEST_TIMEOUT_MS".to_string(),
                "5".to_string(),
            ),
            ("KAFKA_REST_CLIENT_SASL__X___Y".to_string(), "z".to_string()),
            ("KAFKA_REST_HEAP_OPTS".to_string(), "-Xmx1g".to_string()),
            ("PATH".to_string(), "/bin".to_string()),
        ];
        let got: BTreeMap<_, _> = env_properties(env).collect();
        assert_eq!(
            got,
            props(&[
                ("bootstrap.servers", "b:1"),
                ("consumer.request.timeout.ms", "5"),
                ("client.sasl_x-y", "z"),
            ])
        );
    }

    #[test]
    fn layers_flags_over_env_over_file() {
        let dir = std::env::temp_dir().join(format!("kp-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("kafka-rest.properties");
        std::fs::write(
            &file,
            "bootstrap.servers=file:1\nconsumer.request.timeout.ms=1\nfetch.min.bytes=10\n",
        )
        .unwrap();
        let env = vec![
            (
                "KAFKA_REST_CONSUMER_REQUEST_TIMEOUT_MS".to_string(),
                "2".to_string(),
            ),
            ("KAFKA_REST_FETCH_MIN_BYTES".to_string(), "20".to_string()),
        ];
        let flags = props(&[("fetch.min.bytes", "30")]);
        let (c, _) = Config::resolve(Some(&file), env, flags).unwrap();
        assert_eq!(c.bootstrap_servers, "file:1");
        assert_eq!(c.consumers.request_timeout_ms, 2);
        assert_eq!(c.consumers.fetch_min_bytes, 30);
    }
}
