//! Configuration: one documented [`Config`], resolved from (highest first) command-line flags,
//! `KAFKA_REST_*` environment variables, a `kafka-rest.properties` file, and defaults.
//!
//! Keys are Confluent's `kafka-rest.properties` keys, so an existing file keeps working. Every key
//! is validated: an unknown key or a bad value is an error that names the key (the binary exits 2).

use std::collections::BTreeMap;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};

use crate::properties;

/// Why a configuration was rejected. Always names the offending key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("unknown configuration key `{0}`")]
    UnknownKey(String),
    #[error("invalid value {value:?} for `{key}`: {reason}")]
    InvalidValue {
        key: String,
        value: String,
        reason: String,
    },
    #[error("missing required configuration `{0}`")]
    Missing(&'static str),
    #[error("cannot read config file {path}: {source}")]
    File {
        path: String,
        source: std::io::Error,
    },
}

/// The proxy's whole configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// `bootstrap.servers`: Kafka brokers, `HOST:PORT[,...]` (a `PLAINTEXT://` prefix is allowed).
    /// Required.
    pub bootstrap_servers: String,
    /// `listeners`: HTTP listen addresses, `http://HOST:PORT[,...]`. Default `http://0.0.0.0:8082`.
    pub listeners: Vec<SocketAddr>,
    /// `advertised.listeners` (flag `--advertised-url`): the absolute URL clients use to reach this
    /// proxy, used to build consumer `base_uri`s. Default: none, the request's `Host` is used.
    pub advertised_url: Option<String>,
    /// `host.name` (deprecated in Confluent): host used in `base_uri` when no advertised URL is set.
    pub host_name: Option<String>,
    /// `id`: server id, part of generated consumer instance names. Default empty.
    pub id: String,
    /// `consumer.instance.timeout.ms`: idle time after which a consumer instance is closed and leaves
    /// its group. Default 300000 (5 min).
    pub consumer_instance_timeout_ms: u64,
    /// `consumer.request.timeout.ms`: upper bound of a GET records long-poll; the request's
    /// `timeout` can only shorten it. Default 1000.
    pub consumer_request_timeout_ms: u64,
    /// `consumer.request.max.bytes`: cap on the unencoded key+value bytes of one GET records
    /// response. Default 67108864 (64 MiB).
    pub consumer_request_max_bytes: u64,
    /// `fetch.min.bytes`: a GET records returns once more than this many bytes are collected.
    /// -1 (default) returns as soon as any record is available. Range -1..=10000000.
    pub fetch_min_bytes: i64,
    /// `request.body.max.bytes`: largest accepted HTTP request body; larger bodies get 413.
    /// Default 67108864 (64 MiB).
    pub request_body_max_bytes: usize,
    /// `produce.metadata.timeout.ms`: how long a produce waits for topic metadata before answering
    /// 404 (Confluent waits `max.block.ms`, 60 s). Default 1000.
    pub produce_metadata_timeout_ms: u64,
    /// `metadata.max.age.ms`: how long cached topic metadata (partition counts) is reused. Default
    /// 30000.
    pub metadata_max_age_ms: u64,
    /// `shutdown.graceful.ms`: how long SIGTERM waits for in-flight requests. Default 5000.
    pub shutdown_graceful_ms: u64,
    /// `schema.registry.url`: an external Schema Registry for the avro/jsonschema/protobuf
    /// formats (the first of a comma-separated list). Empty (default): the built-in registry.
    pub schema_registry_url: String,
    /// `schema.registry.basic.auth.user.info`: `user:password` for the external registry
    /// (with `schema.registry.basic.auth.credentials.source` USER_INFO, the default here; URL
    /// takes them from the URL's user info).
    pub schema_registry_user_info: Option<String>,
    /// `schema.registry.basic.auth.credentials.source`: USER_INFO or URL.
    pub schema_registry_credentials_source: String,
    /// `schema.registry.request.timeout.ms`: timeout of each external registry call. Default
    /// 10000.
    pub schema_registry_timeout_ms: u64,
    /// `schema.registry.listeners` (flag `--schema-registry-listeners`): listeners of the built-in
    /// Schema Registry, `http://HOST:PORT[,...]`. Default `http://0.0.0.0:8081` when
    /// `schema.registry.url` is empty; empty disables the built-in registry.
    pub schema_registry_listeners: Vec<SocketAddr>,
    /// `schema.registry.topic`: the built-in registry's Kafka topic. Default `_schemas`.
    pub schema_registry_topic: String,
    /// `mqtt.listeners` (flag `--mqtt-listeners`): MQTT listeners, `tcp://HOST:PORT` (plain) or
    /// `ssl://HOST:PORT` (TLS), comma-separated. A bare `HOST:PORT` takes its kind from
    /// `mqtt.listeners.security.protocol`. Empty (default): no MQTT.
    pub mqtt_listeners: Vec<MqttListener>,
    /// `mqtt.listeners.ssl.certificate.location` / `mqtt.listeners.ssl.key.location`: PEM
    /// certificate chain and private key of the TLS listeners.
    pub mqtt_tls_certificate: Option<PathBuf>,
    pub mqtt_tls_key: Option<PathBuf>,
    /// `mqtt.credentials.file`: when set, CONNECT must carry a username and password listed in
    /// this file (`user: password` lines, Jetty's PropertyFileLoginModule format as Confluent's
    /// `credentials.txt`). Required by the SASL_* security protocols. Default none: no
    /// authentication.
    pub mqtt_credentials_file: Option<PathBuf>,
    /// `mqtt.max.connections`: open MQTT connections allowed; more are refused in CONNACK
    /// (3.1.1: 3, server unavailable; 5: 0x89, server busy). Default 10000.
    pub mqtt_max_connections: usize,
    /// `mqtt.batch.max.records` / `mqtt.batch.max.bytes`: the most publishes (and payload
    /// bytes) written to Kafka as one produce call; also the queue bound of each writer.
    /// `mqtt.batch.max.in.flight`: writers per Kafka topic, each with one batch in flight (an
    /// MQTT topic always uses the same one, so its publishes stay in order). Publishes wait for
    /// no timer: while a writer's batch is written, the next gathers. Defaults 8000, 4 MiB and
    /// 1 (measured in the README: fewer, larger batches cost Kafka less).
    pub mqtt_batch_max_records: usize,
    pub mqtt_batch_max_bytes: usize,
    pub mqtt_batch_max_in_flight: usize,
    /// `mqtt.topic.regex.list` (flag `--mqtt-topic-regex-list`, env
    /// `KAFKA_MQTT_TOPIC_REGEX_LIST`): `kafka_topic:regex, ...`, Confluent's MQTT Proxy syntax; a
    /// regex matches the whole MQTT topic and the first match wins.
    pub mqtt_topic_rules: Vec<crate::mqtt::topic_rule::TopicRule>,
    /// `mqtt.default.topic`: the Kafka topic of publishes no rule matches. Default none: such a
    /// publish is refused.
    pub mqtt_default_topic: Option<String>,
    /// `mqtt.message.max.bytes`: the largest MQTT packet accepted (its Remaining Length), as
    /// Confluent's MQTT Proxy. Default 8092.
    pub mqtt_message_max_bytes: u32,
    /// `mqtt.receive.maximum`: MQTT 5's Receive Maximum, the QoS 1/2 publishes a client may have
    /// unacknowledged (backpressure: acks wait for Kafka). Default 1024: a client's throughput
    /// at QoS 1 is this window over the ack latency; memory is bounded by the writers' queues.
    pub mqtt_receive_maximum: std::num::NonZeroU16,
    /// `protected.topics`: topics REST clients may neither produce to nor consume from (403,
    /// error code 40301), comma-separated; an entry ending in `*` is a prefix. Default
    /// `__*,_schemas`; while the built-in registry runs its `schema.registry.topic` is added (a
    /// forged record there would rewrite the registry). Set it empty to allow every topic.
    pub protected_topics: crate::names::TopicPatterns,
    /// `produce.max.records`: the most records one produce request may carry; more get 422
    /// before any is parsed further. Bounds the memory of a request of tiny records (each
    /// costs far more in memory and in the answer than its few body bytes). Default 10000.
    pub produce_max_records: usize,
    /// `json.max.nesting.depth`: the deepest nesting of arrays and objects in a json-format key
    /// or value, checked on produce (400) and on consume (40801), as Jackson's
    /// `StreamReadConstraints` default. Default 1000.
    pub json_max_nesting_depth: usize,
    /// `consumer.instances.max` / `consumer.instances.max.per.group`: consumer instances this
    /// proxy holds at once, in all and per group; creating one more answers 429. Each instance
    /// is a librdkafka consumer with its own threads and buffers. Defaults 500 and 100.
    pub consumer_instances_max: usize,
    pub consumer_instances_max_per_group: usize,
    /// `consumer.request.timeout.max.ms`: the longest `consumer.request.timeout.ms` a consumer
    /// instance may ask for at creation (larger gets 422/42204). Default 60000.
    pub consumer_request_timeout_max_ms: u64,
    /// `http.header.read.timeout.ms`: how long a connection may wait for, and take to send, a
    /// request's headers: a slow-header client is disconnected, and so is a keep-alive
    /// connection idle this long between requests. Default 10000.
    pub http_header_read_timeout_ms: u64,
    /// `http.request.body.timeout.ms`: how long reading one request body may take; a slower
    /// body gets 408. Default 60000.
    pub http_body_read_timeout_ms: u64,
    /// `http.max.connections`: open HTTP connections per server (REST, and the registry's);
    /// further connections wait in the kernel's accept queue. Default 4096.
    pub http_max_connections: usize,
    /// `http.max.concurrent.requests`: requests handled at once per server; more are answered
    /// 429 (error code 429, as Confluent's rate limiter) at once instead of queueing. Default
    /// 2048.
    pub http_max_concurrent_requests: usize,
    /// `produce.engine`: how records reach Kafka. `batch` writes each request's records as one
    /// record batch per partition, sent straight to the leader; `librdkafka` hands every record to
    /// librdkafka's producer (idempotent, every security and compression option). `auto` (default)
    /// picks `batch` unless a `producer.*`/`client.*` property only librdkafka honours is set.
    pub produce_engine: ProduceEngine,
    /// `produce.connections.per.broker`: pipelined connections the batch engine keeps to each
    /// broker. Default 1: requests pipelined on one connection, as librdkafka does (README, Tansu
    /// quirk 4).
    pub produce_connections_per_broker: usize,
    /// `produce.max.in.flight.per.broker`: Produce requests the batch engine keeps outstanding per
    /// broker; HTTP requests arriving meanwhile are merged into the next one. Default 2.
    pub produce_max_in_flight_per_broker: usize,
    /// `producer.*`: librdkafka producer properties (prefix stripped), e.g. `producer.linger.ms`.
    pub producer: BTreeMap<String, String>,
    /// `consumer.*`: librdkafka consumer properties (prefix stripped) for every instance.
    pub consumer: BTreeMap<String, String>,
    /// `client.*`: librdkafka properties for every client (prefix stripped).
    pub client: BTreeMap<String, String>,
}

impl Config {
    /// The external registry client's settings.
    pub fn schema_registry_client(&self) -> RegistryClientSettings {
        let mut url = self.schema_registry_url.clone();
        let mut basic_auth = None;
        // Credentials in the URL (`http://user:pass@host`) are used with source URL, and always
        // stripped from the URL itself.
        if let Some((scheme, rest)) = url.split_once("://") {
            if let Some((userinfo, host)) = rest.split_once('@') {
                if let Some((u, p)) = userinfo.split_once(':') {
                    if self.schema_registry_credentials_source == "URL" {
                        basic_auth = Some((u.to_string(), p.to_string()));
                    }
                }
                url = format!("{scheme}://{host}");
            }
        }
        if self.schema_registry_credentials_source == "USER_INFO" {
            basic_auth = self
                .schema_registry_user_info
                .as_deref()
                .and_then(|i| i.split_once(':'))
                .map(|(u, p)| (u.to_string(), p.to_string()));
        }
        RegistryClientSettings {
            url,
            basic_auth,
            timeout: std::time::Duration::from_millis(self.schema_registry_timeout_ms),
        }
    }
}

/// How the client for an external Schema Registry reaches it (`schema.registry.*`).
#[derive(Debug, Clone)]
pub struct RegistryClientSettings {
    /// Base URL (the first of `schema.registry.url`'s list).
    pub url: String,
    /// `schema.registry.basic.auth.user.info` (`user:password`), or the URL's user info.
    pub basic_auth: Option<(String, String)>,
    /// `schema.registry.request.timeout.ms`.
    pub timeout: std::time::Duration,
}

/// The `produce.engine` setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProduceEngine {
    Auto,
    Batch,
    Librdkafka,
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
            listeners: vec![SocketAddr::from(([0, 0, 0, 0], 8082))],
            advertised_url: None,
            host_name: None,
            id: String::new(),
            consumer_instance_timeout_ms: 300_000,
            consumer_request_timeout_ms: 1_000,
            consumer_request_max_bytes: 64 * 1024 * 1024,
            fetch_min_bytes: -1,
            request_body_max_bytes: 64 * 1024 * 1024,
            produce_metadata_timeout_ms: 1_000,
            metadata_max_age_ms: 30_000,
            shutdown_graceful_ms: 5_000,
            schema_registry_url: String::new(),
            schema_registry_user_info: None,
            schema_registry_credentials_source: "USER_INFO".into(),
            schema_registry_timeout_ms: 10_000,
            schema_registry_listeners: Vec::new(),
            mqtt_listeners: Vec::new(),
            mqtt_tls_certificate: None,
            mqtt_tls_key: None,
            mqtt_credentials_file: None,
            mqtt_max_connections: 10_000,
            mqtt_batch_max_records: 8000,
            mqtt_batch_max_bytes: 4 << 20,
            mqtt_batch_max_in_flight: 1,
            mqtt_topic_rules: Vec::new(),
            mqtt_default_topic: None,
            mqtt_message_max_bytes: 8092,
            mqtt_receive_maximum: std::num::NonZeroU16::new(1024).expect("non-zero"),
            schema_registry_topic: "_schemas".into(),
            protected_topics: crate::names::TopicPatterns::parse("__*,_schemas"),
            produce_max_records: 10_000,
            json_max_nesting_depth: 1000,
            consumer_instances_max: 500,
            consumer_instances_max_per_group: 100,
            consumer_request_timeout_max_ms: 60_000,
            http_header_read_timeout_ms: 10_000,
            http_body_read_timeout_ms: 60_000,
            http_max_connections: 4096,
            http_max_concurrent_requests: 2048,
            produce_engine: ProduceEngine::Auto,
            produce_connections_per_broker: 1,
            produce_max_in_flight_per_broker: 2,
            producer: BTreeMap::new(),
            consumer: BTreeMap::new(),
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
        for (key, value) in props {
            let k = key.as_str();
            match k {
                "bootstrap.servers" => c.bootstrap_servers = value.trim().to_string(),
                // Empty: no REST API (an MQTT-only proxy).
                "listeners" if value.trim().is_empty() => c.listeners = Vec::new(),
                "listeners" => c.listeners = parse_listeners(k, value)?,
                "port" => port = Some(parse_num::<u16>(k, value)?),
                "advertised.listeners" => c.advertised_url = parse_advertised(k, value)?,
                "host.name" => c.host_name = non_empty(value),
                "id" => c.id = value.trim().to_string(),
                "consumer.instance.timeout.ms" => {
                    c.consumer_instance_timeout_ms = parse_positive(k, value)?
                }
                "consumer.request.timeout.ms" => {
                    c.consumer_request_timeout_ms = parse_num(k, value)?
                }
                "consumer.request.max.bytes" => {
                    c.consumer_request_max_bytes = parse_positive(k, value)?
                }
                "fetch.min.bytes" => c.fetch_min_bytes = parse_fetch_min_bytes(k, value)?,
                "request.body.max.bytes" => c.request_body_max_bytes = parse_positive(k, value)?,
                "produce.metadata.timeout.ms" => {
                    c.produce_metadata_timeout_ms = parse_positive(k, value)?
                }
                "metadata.max.age.ms" => c.metadata_max_age_ms = parse_num(k, value)?,
                "shutdown.graceful.ms" => c.shutdown_graceful_ms = parse_num(k, value)?,
                "schema.registry.url" => {
                    c.schema_registry_url = value
                        .split(',')
                        .map(str::trim)
                        .find(|u| !u.is_empty())
                        .unwrap_or("")
                        .to_string();
                    if !(c.schema_registry_url.is_empty()
                        || c.schema_registry_url.starts_with("http://")
                        || c.schema_registry_url.starts_with("https://"))
                    {
                        return Err(invalid(k, value, "must be an http:// or https:// URL"));
                    }
                }
                "schema.registry.basic.auth.user.info" => {
                    c.schema_registry_user_info = non_empty(value)
                }
                "schema.registry.basic.auth.credentials.source" => {
                    let source = value.trim().to_ascii_uppercase();
                    if source != "USER_INFO" && source != "URL" {
                        return Err(invalid(k, value, "expected USER_INFO or URL"));
                    }
                    c.schema_registry_credentials_source = source;
                }
                "schema.registry.request.timeout.ms" => {
                    c.schema_registry_timeout_ms = parse_positive(k, value)?
                }
                "schema.registry.listeners" => {
                    c.schema_registry_listeners = if value.trim().is_empty() {
                        Vec::new()
                    } else {
                        parse_listeners(k, value)?
                    }
                }
                "schema.registry.topic" => c.schema_registry_topic = value.trim().to_string(),
                // Resolved after the loop, with mqtt.listeners.security.protocol.
                "mqtt.listeners" | "mqtt.listeners.security.protocol" => {}
                "mqtt.listeners.ssl.certificate.location" => {
                    c.mqtt_tls_certificate = non_empty(value).map(PathBuf::from)
                }
                "mqtt.listeners.ssl.key.location" => {
                    c.mqtt_tls_key = non_empty(value).map(PathBuf::from)
                }
                "mqtt.credentials.file" => {
                    c.mqtt_credentials_file = non_empty(value).map(PathBuf::from)
                }
                "mqtt.max.connections" => c.mqtt_max_connections = parse_positive(k, value)?,
                "mqtt.batch.max.records" => c.mqtt_batch_max_records = parse_positive(k, value)?,
                "mqtt.batch.max.bytes" => c.mqtt_batch_max_bytes = parse_positive(k, value)?,
                "mqtt.batch.max.in.flight" => {
                    c.mqtt_batch_max_in_flight = parse_positive(k, value)?
                }
                "mqtt.topic.regex.list" | "topic.regex.list" => {
                    c.mqtt_topic_rules = crate::mqtt::topic_rule::TopicRule::parse_list(value)
                        .map_err(|e| invalid(k, value, e))?
                }
                "mqtt.default.topic" => {
                    c.mqtt_default_topic = Some(value.trim().to_string()).filter(|t| !t.is_empty())
                }
                "mqtt.receive.maximum" => {
                    c.mqtt_receive_maximum =
                        std::num::NonZeroU16::new(parse_positive::<u16>(k, value)?)
                            .ok_or_else(|| invalid(k, value, "must be 1 to 65535"))?
                }
                "mqtt.message.max.bytes" => {
                    c.mqtt_message_max_bytes = parse_positive::<u32>(k, value)?
                }
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
                "produce.max.records" => c.produce_max_records = parse_positive(k, value)?,
                "json.max.nesting.depth" => c.json_max_nesting_depth = parse_positive(k, value)?,
                "consumer.instances.max" => c.consumer_instances_max = parse_positive(k, value)?,
                "consumer.instances.max.per.group" => {
                    c.consumer_instances_max_per_group = parse_positive(k, value)?
                }
                "consumer.request.timeout.max.ms" => {
                    c.consumer_request_timeout_max_ms = parse_positive(k, value)?
                }
                "http.header.read.timeout.ms" => {
                    c.http_header_read_timeout_ms = parse_positive(k, value)?
                }
                "http.request.body.timeout.ms" => {
                    c.http_body_read_timeout_ms = parse_positive(k, value)?
                }
                "http.max.connections" => c.http_max_connections = parse_positive(k, value)?,
                "http.max.concurrent.requests" => {
                    c.http_max_concurrent_requests = parse_positive(k, value)?
                }
                "produce.engine" => {
                    c.produce_engine = match value.trim() {
                        "auto" => ProduceEngine::Auto,
                        "batch" => ProduceEngine::Batch,
                        "librdkafka" => ProduceEngine::Librdkafka,
                        _ => {
                            return Err(ConfigError::InvalidValue {
                                key: key.clone(),
                                value: value.clone(),
                                reason: "expected auto, batch or librdkafka".into(),
                            })
                        }
                    }
                }
                "produce.connections.per.broker" => {
                    c.produce_connections_per_broker = parse_positive(k, value)?
                }
                "produce.max.in.flight.per.broker" => {
                    c.produce_max_in_flight_per_broker = parse_positive(k, value)?
                }
                _ if IGNORED_KEYS.contains(&k) => ignored.push(key.clone()),
                _ => {
                    let (map, rest) = if let Some(rest) = k.strip_prefix("producer.") {
                        (&mut c.producer, rest)
                    } else if let Some(rest) = k.strip_prefix("consumer.") {
                        (&mut c.consumer, rest)
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
            c.listeners = vec![SocketAddr::from(([0, 0, 0, 0], port))];
        }
        if c.bootstrap_servers.is_empty() {
            return Err(ConfigError::Missing("bootstrap.servers"));
        }
        resolve_mqtt_listeners(&mut c, props)?;
        if c.listeners.is_empty() && c.mqtt_listeners.is_empty() {
            return Err(invalid(
                "listeners",
                "",
                "nothing to serve: give REST listeners or mqtt.listeners",
            ));
        }
        // The built-in registry is on by default, except in an MQTT-only proxy (no REST API).
        if !props.contains_key("schema.registry.listeners")
            && c.schema_registry_url.is_empty()
            && !c.listeners.is_empty()
        {
            c.schema_registry_listeners = vec![SocketAddr::from(([0, 0, 0, 0], 8081))];
        }
        if !c.schema_registry_listeners.is_empty() && !c.protected_topics.is_empty() {
            c.protected_topics = c.protected_topics.clone().with(&c.schema_registry_topic);
        }
        if c.consumer_request_timeout_ms > c.consumer_request_timeout_max_ms {
            return Err(invalid(
                "consumer.request.timeout.ms",
                &c.consumer_request_timeout_ms.to_string(),
                format!(
                    "must not exceed consumer.request.timeout.max.ms ({})",
                    c.consumer_request_timeout_max_ms
                ),
            ));
        }
        if !c.schema_registry_url.is_empty() && !c.schema_registry_listeners.is_empty() {
            return Err(invalid(
                "schema.registry.listeners",
                &c.schema_registry_listeners[0].to_string(),
                "the built-in registry cannot run when schema.registry.url names an external one",
            ));
        }
        Ok((c, ignored))
    }
}

/// Maps `KAFKA_REST_FOO_BAR=v` to `foo.bar=v` as Confluent's Docker image does (`__` is `_`,
/// `___` is `-`). JVM-only variables of that image are skipped.
pub fn env_properties(
    env: impl IntoIterator<Item = (String, String)>,
) -> impl Iterator<Item = (String, String)> {
    const JVM_ONLY: &[&str] = &[
        "HEAP_OPTS",
        "JVM_PERFORMANCE_OPTS",
        "JMX_OPTS",
        "JMX_PORT",
        "LOG4J_OPTS",
        "LOG4J_ROOT_LOGLEVEL",
        "LOG4J_LOGGERS",
        "OPTS",
        "LOG_DIR",
        "CLASSPATH",
    ];
    env.into_iter().filter_map(|(name, value)| {
        // Confluent's MQTT Proxy image names its keys KAFKA_MQTT_*: they are `mqtt.*` here.
        let (prefix, rest) = match name.strip_prefix("KAFKA_MQTT_") {
            Some(rest) => ("mqtt.", rest),
            None => ("", name.strip_prefix("KAFKA_REST_")?),
        };
        if rest.is_empty() || JVM_ONLY.contains(&rest) {
            return None;
        }
        let key = rest
            .to_ascii_lowercase()
            .replace("___", "\u{1}")
            .replace("__", "\u{2}")
            .replace('_', ".")
            .replace('\u{1}', "-")
            .replace('\u{2}', "_");
        // KAFKA_MQTT_BOOTSTRAP_SERVERS is the proxy's own bootstrap.servers.
        if key == "bootstrap.servers" {
            return Some((key, value));
        }
        Some((format!("{prefix}{key}"), value))
    })
}

fn invalid(key: &str, value: &str, reason: impl ToString) -> ConfigError {
    ConfigError::InvalidValue {
        key: key.to_string(),
        value: value.to_string(),
        reason: reason.to_string(),
    }
}

fn non_empty(value: &str) -> Option<String> {
    Some(value.trim().to_string()).filter(|v| !v.is_empty())
}

fn parse_num<T: std::str::FromStr>(key: &str, value: &str) -> Result<T, ConfigError>
where
    T::Err: std::fmt::Display,
{
    value.trim().parse().map_err(|e| invalid(key, value, e))
}

fn parse_positive<T: std::str::FromStr + Default + PartialOrd>(
    key: &str,
    value: &str,
) -> Result<T, ConfigError>
where
    T::Err: std::fmt::Display,
{
    let n: T = parse_num(key, value)?;
    if n <= T::default() {
        return Err(invalid(key, value, "must be greater than 0"));
    }
    Ok(n)
}

/// Validates `fetch.min.bytes` with Confluent's range, shared by the config and consumer creation.
pub fn parse_fetch_min_bytes(key: &str, value: &str) -> Result<i64, ConfigError> {
    let n: i64 = parse_num(key, value)?;
    check_fetch_min_bytes(n).map_err(|reason| invalid(key, value, reason))
}

/// The range Confluent allows for `fetch.min.bytes`.
pub fn check_fetch_min_bytes(n: i64) -> Result<i64, &'static str> {
    if (-1..=10_000_000).contains(&n) {
        Ok(n)
    } else {
        Err("must be between -1 and 10000000")
    }
}

fn parse_listeners(key: &str, value: &str) -> Result<Vec<SocketAddr>, ConfigError> {
    let mut out = Vec::new();
    for item in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let hostport = item
            .strip_prefix("http://")
            .ok_or_else(|| invalid(key, value, format!("`{item}` must start with http://")))?
            .trim_end_matches('/');
        let addr = hostport
            .to_socket_addrs()
            .map_err(|e| invalid(key, value, format!("`{item}`: {e}")))?
            .next()
            .ok_or_else(|| invalid(key, value, format!("`{item}` resolves to no address")))?;
        out.push(addr);
    }
    if out.is_empty() {
        return Err(invalid(key, value, "no listener given"));
    }
    Ok(out)
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
fn resolve_mqtt_listeners(
    c: &mut Config,
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
    if authenticated && c.mqtt_credentials_file.is_none() {
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
    if out.iter().any(|l| l.tls) && (c.mqtt_tls_certificate.is_none() || c.mqtt_tls_key.is_none()) {
        return Err(invalid(
            key,
            value,
            "a TLS listener needs mqtt.listeners.ssl.certificate.location and mqtt.listeners.ssl.key.location (PEM files)",
        ));
    }
    c.mqtt_listeners = out;
    Ok(())
}

fn parse_advertised(key: &str, value: &str) -> Result<Option<String>, ConfigError> {
    // Confluent's key is a list; the first http entry is the one used for http requests.
    let Some(first) = value.split(',').map(str::trim).find(|s| !s.is_empty()) else {
        return Ok(None);
    };
    if !(first.starts_with("http://") || first.starts_with("https://")) {
        return Err(invalid(key, value, "must be an absolute http:// URL"));
    }
    Ok(Some(first.trim_end_matches('/').to_string()))
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
        assert_eq!(c.listeners, vec![SocketAddr::from(([0, 0, 0, 0], 8082))]);
        assert_eq!(c.consumer_request_timeout_ms, 2500);
        assert_eq!(c.producer.get("linger.ms").unwrap(), "7");
        assert_eq!(c.consumer.get("session.timeout.ms").unwrap(), "10000");
        assert!(
            !c.consumer.contains_key("request.timeout.ms"),
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
        let tls: Vec<bool> = c.mqtt_listeners.iter().map(|l| l.tls).collect();
        assert_eq!(tls, [false, true, true]);
        assert_eq!(c.mqtt_max_connections, 3);
        assert_eq!(
            c.mqtt_credentials_file.as_deref(),
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
        assert!(c.listeners.is_empty());
        assert!(c.schema_registry_listeners.is_empty());
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
            c.mqtt_listeners,
            vec![MqttListener {
                addr: SocketAddr::from(([0, 0, 0, 0], 1883)),
                tls: false
            }]
        );
        let topics: Vec<&str> = c
            .mqtt_topic_rules
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
        assert_eq!(c.consumer_request_timeout_ms, 2);
        assert_eq!(c.fetch_min_bytes, 30);
    }
}
