//! Scenario files (TOML). Unknown keys are rejected so a typo cannot silently change a workload.
//! `scenarios/README.md` lists every key with its unit and default.

use std::path::Path;

pub use crate::format::Format;

use serde::{Deserialize, Serialize};

/// One scenario: a workload run by every driver, and the gates the result must pass.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Name used in report directories.
    pub name: String,
    #[serde(default)]
    pub workload: Workload,
    #[serde(default)]
    pub gates: Gates,
    /// A capacity sweep instead of a single comparison.
    pub sweep: Option<Sweep>,
    /// Settings of the native clients and of the proxy the run starts.
    #[serde(default)]
    pub clients: Clients,
    /// The broker to start when the command line names none: `tansu` (default), `mock` or
    /// `docker` (see `loadgen run --broker`).
    pub broker: Option<String>,
}

/// Client settings, shown in the report: the native baseline's librdkafka properties, and the
/// `--set` properties of the `kafka-proxy` a run starts. Each native map is laid over defaults.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Clients {
    /// librdkafka properties of the native producer, over `acks=all`, `linger.ms=5`,
    /// `enable.idempotence=true` (the proxy's shared producer's settings).
    pub native_producer: std::collections::BTreeMap<String, String>,
    /// librdkafka properties of the native consumers (librdkafka's defaults otherwise, as the
    /// proxy's consumers have).
    pub native_consumer: std::collections::BTreeMap<String, String>,
    /// `--set KEY=VALUE` properties for the `kafka-proxy` that `loadgen` starts, e.g.
    /// `"consumer.fetch.queue.backoff.ms" = "1"`.
    pub proxy: std::collections::BTreeMap<String, String>,
}

/// Client properties from a file: `KEY=VALUE` lines (spaces around either side trimmed),
/// blank lines and `#` or `!` comments skipped; any other line is an error naming it.
pub fn client_properties(text: &str) -> Result<std::collections::BTreeMap<String, String>, String> {
    let mut out = std::collections::BTreeMap::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with('!') {
            continue;
        }
        let (k, v) = line
            .split_once('=')
            .ok_or_else(|| format!("line {}: expected KEY=VALUE, got {line:?}", n + 1))?;
        out.insert(k.trim().to_string(), v.trim().to_string());
    }
    Ok(out)
}

impl Clients {
    /// Client properties every client gets (`-X`, `--client-config`): over the scenario's own
    /// for the native producer and consumers, and as `client.KEY` for the started kafka-proxy.
    pub fn apply_to_all(&mut self, settings: &std::collections::BTreeMap<String, String>) {
        for (k, v) in settings {
            self.native_producer.insert(k.clone(), v.clone());
            self.native_consumer.insert(k.clone(), v.clone());
            self.proxy.insert(format!("client.{k}"), v.clone());
        }
    }

    /// The native producer's properties: the defaults with the scenario's over them.
    pub fn native_producer(&self) -> std::collections::BTreeMap<String, String> {
        let mut all: std::collections::BTreeMap<String, String> = [
            ("acks", "all"),
            ("linger.ms", "5"),
            ("enable.idempotence", "true"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        all.extend(self.native_producer.clone());
        all
    }
}

/// Capacity sweep: REST produce over every combination of the lists, each point against the native
/// baseline for its value size. The report plots the curves and names, per value size, the
/// highest rate sustained with p99 under `p99_bound_us`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sweep {
    pub records_per_request: Vec<usize>,
    pub concurrency: Vec<usize>,
    #[serde(default = "Sweep::default_value_bytes")]
    pub value_bytes: Vec<usize>,
    /// Requests each client sends at each point (so a point's size scales with its batch size).
    #[serde(default = "Sweep::default_requests_per_client")]
    pub requests_per_client: u64,
    /// p99 bound of a produce request, µs.
    pub p99_bound_us: u64,
}

impl Sweep {
    fn default_value_bytes() -> Vec<usize> {
        vec![100]
    }
    fn default_requests_per_client() -> u64 {
        200
    }
}

/// What every driver does.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Workload {
    /// Partitions of the topics the run creates.
    pub partitions: i32,
    /// Records each driver produces (and consumes) per phase.
    pub records: u64,
    /// Value size in bytes; with `value_bytes_max`, the smallest size.
    pub value_bytes: usize,
    /// With it, value sizes are spread uniformly over `value_bytes..=value_bytes_max`, chosen by
    /// record id (so every driver produces the same sizes).
    pub value_bytes_max: Option<usize>,
    /// Records per REST produce request.
    pub records_per_request: usize,
    /// Concurrent producers (REST: HTTP clients; native: in-flight sender tasks).
    pub concurrency: usize,
    /// Give every record a key (spreads records by murmur2), else key-less.
    pub keys: bool,
    /// What the values are: `binary` (raw bytes; REST sends them base64), or `avro`,
    /// `jsonschema` or `protobuf` (a fixed record schema; REST sends JSON with schema id reuse,
    /// native sends the Confluent-framed encoding). Default `binary`.
    pub format: Format,
    /// Consumers (REST instances / native clients), partitions split between them.
    pub consumers: usize,
    /// `max_bytes` of each REST GET records.
    pub max_bytes: u64,
    /// Upper bound of each phase, in seconds; a phase that hits it fails the run.
    pub phase_timeout_s: u64,
    /// Which phases run: `produce`, `consume` (consume needs the produce phase's data).
    pub phases: Vec<Phase>,
    /// Start of each measured window left out of the steady-state rate, in milliseconds.
    pub warmup_ms: u64,
    /// Width of the throughput time-series buckets, in milliseconds.
    pub bucket_ms: u64,
    /// Rounds at least (produce, and consume), alternating native and REST; `records` each.
    pub rounds: u32,
    /// Round budget: rounds go on past `rounds` until the headline ratio's 95% interval is
    /// within ±`ci_half_width` of its median, or this many rounds ran. Default: `rounds`.
    pub max_rounds: Option<u32>,
    /// Target half width of the ratios' 95% interval, relative to the median.
    pub ci_half_width: f64,
    /// Records the consume rounds read: one topic filled natively once. Default: `records`.
    pub consume_records: Option<u64>,
    /// Open loop at this fraction of the measured maximum: a closed-loop calibration round of
    /// native and the headline endpoint first, then `rate_records_per_s` = fraction × the slower.
    pub rate_of_max: Option<f64>,
    /// Open loop: every produce phase also has an end-to-end reader of the other kind (REST for
    /// the native producer, native for REST), so that what REST adds splits into the produce
    /// side (native readers, REST against native producer) and the consume side (the native
    /// producer's records, REST reader against native reader).
    pub cross_readers: bool,
    /// Also drive nginx answering a fixed produce reply: the HTTP ceiling, in the same rounds.
    pub http_ceiling: bool,
    /// After the rounds, run `wrk` against the proxy with the same request and connections.
    pub wrk_crosscheck: bool,
    /// TLS on the HTTP edge: the proxy started here serves `https://` with a test certificate,
    /// and every REST client reaches it through a stunnel in client mode (plaintext to stunnel
    /// on loopback, TLS from there), so the proxy pays for TLS as it would behind real HTTPS
    /// clients. stunnel's CPU is not counted as the client's.
    pub edge_tls: bool,
    /// How long the `wrk` cross-check runs, in seconds.
    pub crosscheck_s: u64,
    /// REST produce over HTTP/2 (h2c by prior knowledge) instead of HTTP/1.1: the clients share
    /// `http2_connections` connections, one stream each at a time. The HTTP ceiling (nginx) then
    /// listens for h2c too, and the cross-check runs `h2load` (nghttp2's) instead of `wrk`.
    pub http2: bool,
    /// HTTP/2 connections the clients share (`http2`). Default 4.
    pub http2_connections: usize,
    /// Prefix of every topic the run creates (`loadgen run --topic-prefix`).
    pub topic_prefix: String,
    /// Replication factor of the topics the run creates (`--replication-factor`).
    pub replication_factor: i32,
    /// Keep the run's topics. Otherwise each produce round's topics are deleted once read back
    /// (so an in-memory broker does not fill up round by round), and on a cluster given by
    /// `--bootstrap-servers` the rest at the end (a broker started by the run goes with it).
    pub keep_topics: bool,
    /// Open loop: produce at this fixed rate (records/s) and measure latency from each send's
    /// intended time. Absent: closed loop, as fast as possible.
    pub rate_records_per_s: Option<f64>,
    /// MQTT ingestion instead of REST: `concurrency` MQTT 5 clients publish through the
    /// proxy's MQTT listener at each of these QoS levels (a driver `mqtt-qos<N>` each), against
    /// the native producer. The first level is the headline ratio. Empty (default): REST.
    pub mqtt_qos: Vec<u8>,
    /// MQTT: the Receive Maximum the proxy grants each client (`mqtt.receive.maximum`), i.e.
    /// the QoS 1/2 publishes a client keeps in flight. Default: the proxy's (1024).
    pub mqtt_receive_maximum: Option<u16>,
    /// MQTT: native's turn writes the Kafka records the proxy makes of the headline endpoint's
    /// publishes (key and `mqtt.topic` header the MQTT topic, `mqtt.qos`, and from the MQTT
    /// source `mqtt.retained`), partitioned as the proxy partitions them, instead of the
    /// workload's values alone: both sides store the same records, so the broker does the same
    /// work per record. Default false.
    pub native_same_records: bool,
    /// MQTT through the proxy's MQTT source instead of its listener: the clients publish into
    /// a mosquitto the run starts, which the proxy's source subscribes to (at the highest of
    /// `mqtt_qos`), and a phase ends when its records are in Kafka (driver
    /// `mqtt-source-qos<N>`). The same rounds measure mosquitto's own delivery to a subscriber
    /// of loadgen's (`mosquitto-qos<N>`): the source's ceiling. Default false.
    pub mqtt_source: bool,
    /// REST produce through v3 streaming (`POST /v3/.../records`, one chunked request per
    /// client, `records_per_request` records per chunk) instead of v2 requests. Default false.
    pub v3_stream: bool,
    /// REST produce through v3 requests (`POST /v3/.../records` with `records_per_request`
    /// JSON records in a Content-Length body each), as a client without chunked uploads
    /// sends them. Default false.
    pub v3_records: bool,
    /// With a v3 workload: also measure v2 produce of the same proxy in the same rounds (the
    /// `rest-v2` peer), for the v3/v2 ratio. Default false.
    pub also_v2: bool,
    /// With a schema format: also measure binary values in the same rounds, natively
    /// (`native-binary`) and over REST (`rest-binary`), for the format's REST/native ratio over
    /// binary's (`format_vs_binary`). Default false.
    pub also_binary: bool,
}

impl Workload {
    /// The HTTP/2 connections REST clients share: `http2_connections` with `http2`, `None` for
    /// HTTP/1.1 (a connection per client).
    pub fn http2_shape(&self) -> Option<usize> {
        self.http2.then_some(self.http2_connections)
    }

    /// The REST API this workload produces through.
    pub fn rest_api(&self) -> crate::RestApi {
        match (self.v3_stream, self.v3_records) {
            (true, _) => crate::RestApi::V3Stream,
            (false, true) => crate::RestApi::V3,
            (false, false) => crate::RestApi::V2,
        }
    }

    /// How reports name the headline produce comparison: `produce`, `avro produce`, or
    /// `mqtt qos1 produce`.
    pub fn produce_label(&self) -> String {
        match self.mqtt_qos.first() {
            Some(q) if self.mqtt_source => format!("mqtt source qos{q} produce"),
            Some(q) => format!("mqtt qos{q} produce"),
            None => self.format.produce_label().to_string(),
        }
    }

    /// `REST` or `MQTT`: what the headline ratio compares with native.
    pub fn transport(&self) -> &'static str {
        match (self.mqtt_qos.is_empty(), self.mqtt_source) {
            (true, _) => "REST",
            (false, false) => "MQTT",
            (false, true) => "MQTT source",
        }
    }

    /// The value size of record `id`.
    pub fn value_size(&self, id: u64) -> usize {
        match self.value_bytes_max {
            Some(max) if max > self.value_bytes => {
                let spread = (max - self.value_bytes + 1) as u64;
                // splitmix64 of the id: sizes independent of the record order.
                let mut x = id.wrapping_add(0x9E37_79B9_7F4A_7C15);
                x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
                x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
                x ^= x >> 31;
                self.value_bytes + (x % spread) as usize
            }
            _ => self.value_bytes,
        }
    }

    /// The round budget (at least `rounds`).
    pub fn max_rounds(&self) -> u32 {
        self.max_rounds.unwrap_or(self.rounds).max(self.rounds)
    }

    /// Records each consume round reads.
    pub fn consume_records(&self) -> u64 {
        self.consume_records.unwrap_or(self.records)
    }

    /// The value size, as text: `100 B` or `100-4096 B`.
    pub fn value_sizes(&self) -> String {
        match self.value_bytes_max {
            Some(max) if max > self.value_bytes => format!("{}-{max} B", self.value_bytes),
            _ => format!("{} B", self.value_bytes),
        }
    }
}

/// A phase of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    Produce,
    Consume,
}

impl Default for Workload {
    fn default() -> Self {
        Workload {
            partitions: 4,
            records: 100_000,
            value_bytes: 100,
            value_bytes_max: None,
            records_per_request: 500,
            concurrency: 8,
            keys: false,
            format: Format::Binary,
            consumers: 1,
            max_bytes: 1024 * 1024,
            phase_timeout_s: 120,
            phases: vec![Phase::Produce, Phase::Consume],
            warmup_ms: 250,
            bucket_ms: 1000,
            rounds: 1,
            max_rounds: None,
            ci_half_width: 0.05,
            consume_records: None,
            rate_of_max: None,
            cross_readers: false,
            http_ceiling: false,
            wrk_crosscheck: false,
            edge_tls: false,
            crosscheck_s: 5,
            http2: false,
            http2_connections: 4,
            topic_prefix: "loadgen-".into(),
            replication_factor: 1,
            keep_topics: false,
            rate_records_per_s: None,
            mqtt_qos: Vec::new(),
            v3_stream: false,
            v3_records: false,
            also_v2: false,
            also_binary: false,
            mqtt_receive_maximum: None,
            native_same_records: false,
            mqtt_source: false,
        }
    }
}

/// Bounds the result must meet; absent bounds are not checked.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Gates {
    /// Minimum REST/native produce throughput ratio.
    pub produce_ratio_min: Option<f64>,
    /// Minimum REST/native consume throughput ratio.
    pub consume_ratio_min: Option<f64>,
    /// Minimum REST produce throughput, records/s (steady state).
    pub rest_produce_min_records_per_s: Option<f64>,
    /// Minimum REST consume throughput, records/s (steady state).
    pub rest_consume_min_records_per_s: Option<f64>,
    /// Maximum p99 latency of a REST produce request, µs.
    pub rest_produce_p99_max_us: Option<u64>,
    /// Maximum p99 latency of a REST GET records request, µs.
    pub rest_consume_p99_max_us: Option<u64>,
    /// Maximum proxy CPU µs per produced record over the native producer's client CPU µs per
    /// record.
    pub produce_cpu_ratio_max: Option<f64>,
    /// Maximum proxy CPU µs per record of REST produce (per request at one record each).
    pub rest_produce_proxy_cpu_max_us: Option<f64>,
    /// Maximum proxy CPU µs per consumed record over the native consumer's.
    pub consume_cpu_ratio_max: Option<f64>,
    /// Minimum v3/v2 produce rate of the same proxy, paired by round (needs `also_v2`).
    pub v3_vs_v2_min: Option<f64>,
    /// Minimum of the format's REST/native produce ratio over binary's, paired by round (needs
    /// `also_binary`).
    pub format_vs_binary_min: Option<f64>,
    /// Minimum fraction of its ceiling the headline endpoint reaches: nginx (`http_ceiling`),
    /// or for the MQTT source mosquitto's own delivery (`mqtt_source`).
    pub ceiling_fraction_min: Option<f64>,
    /// Minimum REST-driver/`wrk` requests-per-second ratio (needs `wrk_crosscheck`).
    pub driver_vs_wrk_min: Option<f64>,
    /// Maximum end-to-end p99 latency REST adds over native, µs (open-loop runs).
    pub added_p99_max_us: Option<f64>,
    /// Maximum end-to-end p50 latency REST adds over native (open loop), µs.
    pub added_p50_max_us: Option<f64>,
    /// Minimum fraction of the proxy's long polls woken by records that answered within 1 ms
    /// of the records reaching the proxy (`kafka_proxy_consumer_wake_us`).
    pub long_poll_wake_within_1ms_min: Option<f64>,
    /// Largest allowed drop of each driver's throughput against a baseline summary
    /// (`loadgen gate --baseline`), as a fraction: 0.10 fails a run 10% slower.
    pub max_regression: Option<f64>,
}

impl Scenario {
    pub fn load(path: &Path) -> anyhow::Result<Scenario> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
        let s: Scenario =
            toml::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        s.validate()?;
        Ok(s)
    }

    /// Checks the scenario's values (after any command-line overrides).
    pub fn validate(&self) -> anyhow::Result<()> {
        if let Some(b) = &self.broker {
            local_broker::BrokerKind::parse(b).map_err(anyhow::Error::msg)?;
        }
        if let Some(sw) = &self.sweep {
            anyhow::ensure!(
                !sw.records_per_request.is_empty()
                    && !sw.concurrency.is_empty()
                    && !sw.value_bytes.is_empty(),
                "sweep lists must not be empty"
            );
            anyhow::ensure!(
                sw.records_per_request
                    .iter()
                    .chain(&sw.concurrency)
                    .all(|&n| n >= 1),
                "sweep values must be at least 1"
            );
            anyhow::ensure!(
                sw.value_bytes.iter().all(|&n| n >= 16),
                "sweep.value_bytes must be at least 16"
            );
            anyhow::ensure!(
                sw.requests_per_client >= 1,
                "sweep.requests_per_client must be at least 1"
            );
        }
        let w = &self.workload;
        anyhow::ensure!(w.partitions >= 1, "workload.partitions must be at least 1");
        anyhow::ensure!(w.records >= 1, "workload.records must be at least 1");
        anyhow::ensure!(
            w.records_per_request >= 1,
            "workload.records_per_request must be at least 1"
        );
        anyhow::ensure!(
            w.concurrency >= 1,
            "workload.concurrency must be at least 1"
        );
        anyhow::ensure!(w.consumers >= 1, "workload.consumers must be at least 1");
        anyhow::ensure!(
            w.value_bytes >= 16,
            "workload.value_bytes must be at least 16 (a record id is embedded)"
        );
        if let Some(max) = w.value_bytes_max {
            anyhow::ensure!(
                max >= w.value_bytes,
                "workload.value_bytes_max ({max}) must be at least workload.value_bytes ({})",
                w.value_bytes
            );
        }
        if w.v3_records || w.also_v2 {
            anyhow::ensure!(
                w.format == Format::Binary
                    && w.mqtt_qos.is_empty()
                    && !w.http_ceiling
                    && !w.wrk_crosscheck
                    && self.sweep.is_none()
                    && !(w.v3_records && w.v3_stream),
                "a v3 request workload (workload.v3_records) or a v2 comparison \
                 (workload.also_v2) is a REST produce of binary values, without a ceiling, wrk \
                 cross-check or sweep, and v3_records excludes v3_stream"
            );
            anyhow::ensure!(
                !w.also_v2 || w.v3_records || w.v3_stream,
                "workload.also_v2 compares a v3 workload (v3_stream or v3_records) with v2"
            );
        }
        if w.v3_stream {
            anyhow::ensure!(
                w.format == Format::Binary
                    && w.mqtt_qos.is_empty()
                    && w.rate_records_per_s.is_none()
                    && self.sweep.is_none(),
                "a v3 streaming workload (workload.v3_stream) is a closed-loop REST produce of \
                 binary values"
            );
        }
        if !w.mqtt_qos.is_empty() {
            anyhow::ensure!(
                w.mqtt_qos.iter().all(|&q| q <= 2),
                "workload.mqtt_qos levels are 0, 1 and 2"
            );
            anyhow::ensure!(
                w.format == Format::Binary
                    && w.phases == [Phase::Produce]
                    && w.rate_records_per_s.is_none()
                    && self.sweep.is_none(),
                "an MQTT workload (workload.mqtt_qos) is a closed-loop produce phase of binary values"
            );
            anyhow::ensure!(
                w.mqtt_receive_maximum != Some(0),
                "workload.mqtt_receive_maximum must be at least 1"
            );
            anyhow::ensure!(
                !(w.mqtt_source && w.mqtt_receive_maximum.is_some()),
                "workload.mqtt_receive_maximum is the proxy's MQTT listener's; with mqtt_source \
                 the clients publish to mosquitto (set the source's mqtt.max.inflight in \
                 [clients.proxy] as mqtt.source.loadgen.mqtt.max.inflight)"
            );
        }
        anyhow::ensure!(
            !w.native_same_records || !w.mqtt_qos.is_empty(),
            "workload.native_same_records is for MQTT workloads (workload.mqtt_qos)"
        );
        anyhow::ensure!(
            !w.mqtt_source || !w.mqtt_qos.is_empty(),
            "workload.mqtt_source needs the QoS levels to publish at (workload.mqtt_qos)"
        );
        anyhow::ensure!(
            !w.also_binary
                || (w.format.has_schema()
                    && w.mqtt_qos.is_empty()
                    && !w.v3_stream
                    && !w.v3_records
                    && !w.http_ceiling
                    && self.sweep.is_none()),
            "workload.also_binary compares a schema format's REST produce (avro, jsonschema or \
             protobuf, v2 requests, without a ceiling or sweep) with binary's"
        );
        anyhow::ensure!(
            self.gates.format_vs_binary_min.is_none() || w.also_binary,
            "gates.format_vs_binary_min needs workload.also_binary = true"
        );
        if w.format.has_schema() {
            // Schema workloads compare produce paths; consume is binary-only. Keys are framed
            // with a key schema (`drivers::schema_values`).
            let name = w.format.name();
            anyhow::ensure!(
                !w.phases.contains(&Phase::Consume),
                "workload.format = \"{name}\" measures produce only: set workload.phases = [\"produce\"]"
            );
            let min = w.format.min_value_bytes();
            anyhow::ensure!(
                w.value_bytes >= min,
                "workload.format = \"{name}\" needs workload.value_bytes of at least {min}"
            );
        }
        anyhow::ensure!(
            w.phase_timeout_s >= 1,
            "workload.phase_timeout_s must be at least 1"
        );
        anyhow::ensure!(w.rounds >= 1, "workload.rounds must be at least 1");
        if let Some(max) = w.max_rounds {
            anyhow::ensure!(
                max >= w.rounds,
                "workload.max_rounds ({max}) must be at least workload.rounds ({})",
                w.rounds
            );
        }
        anyhow::ensure!(
            w.ci_half_width > 0.0 && w.ci_half_width < 1.0,
            "workload.ci_half_width is a fraction of the median, between 0 and 1"
        );
        anyhow::ensure!(
            w.consume_records != Some(0),
            "workload.consume_records must be at least 1"
        );
        if let Some(f) = w.rate_of_max {
            anyhow::ensure!(
                f > 0.0 && f <= 1.0,
                "workload.rate_of_max is a fraction of the maximum rate, in (0, 1]"
            );
            anyhow::ensure!(
                w.rate_records_per_s.is_none(),
                "workload.rate_of_max and workload.rate_records_per_s exclude each other"
            );
        }
        let open = w.rate_records_per_s.is_some() || w.rate_of_max.is_some();
        anyhow::ensure!(
            !w.cross_readers || open,
            "workload.cross_readers splits the end-to-end latency of an open-loop run"
        );
        if open {
            anyhow::ensure!(
                w.format == Format::Binary && w.mqtt_qos.is_empty(),
                "open-loop runs measure end-to-end latency by the id in binary values: REST or native, format = \"binary\""
            );
        }
        if w.http2 {
            anyhow::ensure!(
                w.phases == [Phase::Produce]
                    && w.mqtt_qos.is_empty()
                    && !w.v3_stream
                    && !w.edge_tls
                    && !open,
                "workload.http2 drives REST produce in closed loop (phases = [\"produce\"]), \
                 without MQTT, v3 streaming or edge TLS"
            );
            anyhow::ensure!(
                (1..=w.concurrency).contains(&w.http2_connections),
                "workload.http2_connections must be between 1 and workload.concurrency"
            );
        }
        if w.wrk_crosscheck || w.http_ceiling {
            anyhow::ensure!(
                w.format == Format::Binary && w.mqtt_qos.is_empty() && self.sweep.is_none(),
                "workload.wrk_crosscheck and workload.http_ceiling compare binary REST produce"
            );
            anyhow::ensure!(
                !open,
                "workload.wrk_crosscheck and workload.http_ceiling compare maximum rates: not in an open-loop run"
            );
            anyhow::ensure!(
                w.crosscheck_s >= 1,
                "workload.crosscheck_s must be at least 1"
            );
        }
        anyhow::ensure!(
            w.replication_factor >= 1,
            "workload.replication_factor must be at least 1"
        );
        anyhow::ensure!(
            !w.topic_prefix.is_empty()
                && w.topic_prefix.len() <= 100
                && w.topic_prefix
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c)),
            "workload.topic_prefix must be 1-100 characters of [a-zA-Z0-9._-] (Kafka's topic names)"
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_settings_reach_every_client() {
        let file = "# a secured cluster\nsecurity.protocol = SASL_SSL\n\n! also a comment\nsasl.mechanism=SCRAM-SHA-512\n";
        let settings = client_properties(file).unwrap();
        assert_eq!(settings.len(), 2);
        let mut clients = Clients::default();
        clients
            .native_producer
            .insert("security.protocol".into(), "PLAINTEXT".into());
        clients.apply_to_all(&settings);
        assert_eq!(clients.native_producer()["security.protocol"], "SASL_SSL");
        assert_eq!(clients.native_consumer["sasl.mechanism"], "SCRAM-SHA-512");
        assert_eq!(clients.proxy["client.security.protocol"], "SASL_SSL");
        let err = client_properties("security.protocol SSL").unwrap_err();
        assert!(err.contains("line 1"), "{err}");
    }

    #[test]
    fn value_size_distribution_is_uniform_and_deterministic() {
        let w = Workload {
            value_bytes: 100,
            value_bytes_max: Some(199),
            ..Workload::default()
        };
        let sizes: Vec<usize> = (0..100_000).map(|id| w.value_size(id)).collect();
        assert!(sizes.iter().all(|s| (100..=199).contains(s)));
        let mean = sizes.iter().sum::<usize>() as f64 / sizes.len() as f64;
        assert!((mean - 149.5).abs() < 1.0, "{mean}");
        let mut hist = [0usize; 100];
        sizes.iter().for_each(|s| hist[s - 100] += 1);
        assert!(hist.iter().all(|&n| (800..1200).contains(&n)), "{hist:?}");
        assert_eq!(w.value_size(42), w.value_size(42));
        assert_eq!(Workload::default().value_size(7), 100);
        assert_eq!(w.value_sizes(), "100-199 B");
    }

    #[test]
    fn every_shipped_scenario_parses() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
        let mut n = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "toml") {
                Scenario::load(&path).unwrap_or_else(|e| panic!("{e}"));
                n += 1;
            }
        }
        assert!(n >= 1);
    }

    #[test]
    fn avro_workloads_are_produce_only_and_key_less() {
        let load = |workload: &str| {
            let s: Scenario = toml::from_str(&format!("name='x'\n[workload]\n{workload}")).unwrap();
            s.validate().map(|()| s.workload.format)
        };
        assert_eq!(load("").unwrap(), Format::Binary);
        assert_eq!(
            load("format='avro'\nphases=['produce']").unwrap(),
            Format::Avro
        );
        let err = load("format='avro'").unwrap_err().to_string();
        assert!(err.contains("produce only"), "{err}");
        assert_eq!(
            load("format='avro'\nphases=['produce']\nkeys=true").unwrap(),
            Format::Avro
        );
        for (name, format, too_small) in [
            ("jsonschema", Format::JsonSchema, 43),
            ("protobuf", Format::Protobuf, 15),
        ] {
            assert_eq!(
                load(&format!("format='{name}'\nphases=['produce']")).unwrap(),
                format
            );
            let err = load(&format!(
                "format='{name}'\nphases=['produce']\nvalue_bytes={too_small}"
            ))
            .unwrap_err()
            .to_string();
            assert!(err.contains("value_bytes"), "{err}");
        }
        assert!(toml::from_str::<Scenario>("name='x'\n[workload]\nformat='xml'\n").is_err());
    }

    #[test]
    fn binary_comparison_needs_a_schema_format_and_gates_on_it() {
        let load = |text: &str| {
            let s: Scenario = toml::from_str(&format!("name='x'\n{text}")).unwrap();
            s.validate().map(|()| s.workload.also_binary)
        };
        let avro = "[workload]\nformat='avro'\nphases=['produce']\n";
        assert!(load(&format!("{avro}also_binary=true\n")).unwrap());
        assert!(load(&format!(
            "{avro}also_binary=true\n[gates]\nformat_vs_binary_min=0.9\n"
        ))
        .unwrap());
        let err = load("[workload]\nalso_binary=true\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("also_binary compares"), "{err}");
        let err = load(&format!("{avro}http_ceiling=true\nalso_binary=true\n"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("also_binary compares"), "{err}");
        let err = load(&format!("{avro}[gates]\nformat_vs_binary_min=0.9\n"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("needs workload.also_binary"), "{err}");
    }

    /// A scenario of `[workload]` lines, validated.
    fn load(text: &str) -> anyhow::Result<Workload> {
        let s: Scenario = toml::from_str(&format!("name='x'\n[workload]\n{text}")).unwrap();
        s.validate().map(|()| s.workload)
    }

    #[test]
    fn http2_is_closed_loop_rest_produce_over_a_few_connections() {
        let h2 = "phases=['produce']\nconcurrency=32\nhttp2=true\n";
        let w = load(h2).unwrap();
        assert!(w.http2);
        assert_eq!(w.http2_connections, 4);
        assert_eq!(
            load(&format!(
                "{h2}http2_connections=32\nhttp_ceiling=true\nwrk_crosscheck=true"
            ))
            .unwrap()
            .http2_connections,
            32
        );
        for bad in [
            "http2_connections=0",
            "http2_connections=33",
            "phases=['produce','consume']",
            "edge_tls=true",
            "mqtt_qos=[1]",
            "rate_records_per_s=1000.0",
        ] {
            let text = match bad.starts_with("phases") {
                true => format!("{bad}\nconcurrency=32\nhttp2=true\n"),
                false => format!("{h2}{bad}\n"),
            };
            let err = load(&text).unwrap_err().to_string();
            assert!(err.contains("http2"), "{bad}: {err}");
        }
    }

    #[test]
    fn native_same_records_is_for_mqtt_workloads() {
        let mqtt = "phases=['produce']\nmqtt_qos=[2]\n";
        assert!(!load(mqtt).unwrap().native_same_records);
        let same = load(&format!("{mqtt}native_same_records=true\n")).unwrap();
        assert!(same.native_same_records);
        let err = load("native_same_records=true\n").unwrap_err().to_string();
        assert!(err.contains("native_same_records"), "{err}");
    }

    #[test]
    fn unknown_keys_are_rejected() {
        let err = toml::from_str::<Scenario>("name='x'\n[workload]\nrecrods=5\n").unwrap_err();
        assert!(err.to_string().contains("recrods"), "{err}");
        assert!(toml::from_str::<Scenario>("name='x'\nspeed=1\n").is_err());
    }
}
