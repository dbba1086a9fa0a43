//! The produce path: which engine writes records to Kafka, and its bounds.

use std::collections::BTreeMap;

use super::error::ConfigError;
use super::parse::parse_positive;

/// The produce path's settings.
#[derive(Debug, Clone)]
pub struct ProduceConfig {
    /// `produce.engine`: how records reach Kafka. `batch` writes each request's records as one
    /// record batch per partition, sent straight to the leader; `librdkafka` hands every record to
    /// librdkafka's producer (idempotent, every security and compression option). `auto` (default)
    /// picks `batch` unless a `producer.*`/`client.*` property only librdkafka honours is set.
    pub engine: ProduceEngine,
    /// `produce.connections.per.broker`: pipelined connections the batch engine keeps to each
    /// broker. Default 1: requests pipelined on one connection, as librdkafka does (README, Tansu
    /// quirk 4).
    pub connections_per_broker: usize,
    /// `produce.max.in.flight.per.broker`: Produce requests the batch engine keeps outstanding per
    /// broker; HTTP requests arriving meanwhile are merged into the next one. Default 1: the
    /// broker's round trip is the merge window, so batches grow with the load and no request
    /// waits when the broker is idle. Measured with one runtime worker (docs/performance-log.md,
    /// "The worker threads"): `produce-100` 1.04 with 2 against 1.15 with 1 (Tansu 0.33 and 0.29 µs
    /// per record), and in `open-loop` REST's added end-to-end p99 52.9 ms with 2 against 2.4 ms
    /// with 1, where Tansu's cost per record decides how close to saturation the machine runs.
    pub max_in_flight_per_broker: usize,
    /// `produce.metadata.timeout.ms`: how long a produce waits for topic metadata before answering
    /// 404 (Confluent waits `max.block.ms`, 60 s). Default 1000.
    pub metadata_timeout_ms: u64,
    /// `producer.*`: librdkafka producer properties (prefix stripped), e.g. `producer.linger.ms`.
    pub properties: BTreeMap<String, String>,
}

impl Default for ProduceConfig {
    fn default() -> Self {
        ProduceConfig {
            engine: ProduceEngine::Auto,
            connections_per_broker: 1,
            max_in_flight_per_broker: 1,
            metadata_timeout_ms: 1_000,
            properties: BTreeMap::new(),
        }
    }
}

/// The `produce.engine` setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProduceEngine {
    Auto,
    Batch,
    Librdkafka,
}

impl ProduceConfig {
    /// Takes `key` when it is one of these settings (false: not one of them). `producer.*`
    /// properties are taken by the caller after every named key has had its chance.
    pub(super) fn set(&mut self, key: &str, value: &str) -> Result<bool, ConfigError> {
        let k = key;
        match k {
            "produce.metadata.timeout.ms" => self.metadata_timeout_ms = parse_positive(k, value)?,
            "produce.engine" => {
                self.engine = match value.trim() {
                    "auto" => ProduceEngine::Auto,
                    "batch" => ProduceEngine::Batch,
                    "librdkafka" => ProduceEngine::Librdkafka,
                    _ => {
                        return Err(ConfigError::InvalidValue {
                            key: key.to_string(),
                            value: value.to_string(),
                            reason: "expected auto, batch or librdkafka".into(),
                        })
                    }
                }
            }
            "produce.connections.per.broker" => {
                self.connections_per_broker = parse_positive(k, value)?
            }
            "produce.max.in.flight.per.broker" => {
                self.max_in_flight_per_broker = parse_positive(k, value)?
            }
            _ => return Ok(false),
        }
        Ok(true)
    }
}
