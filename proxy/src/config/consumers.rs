//! Consumer instances: how long they live, how many there may be, and how a read behaves.

use std::collections::BTreeMap;

use super::error::ConfigError;
use super::parse::{invalid, parse_num, parse_positive};

/// The consumer instances' settings.
#[derive(Debug, Clone)]
pub struct ConsumerConfig {
    /// `consumer.instance.timeout.ms`: idle time after which a consumer instance is closed and leaves
    /// its group. Default 300000 (5 min).
    pub instance_timeout_ms: u64,
    /// `consumer.request.timeout.ms`: upper bound of a GET records long-poll; the request's
    /// `timeout` can only shorten it. Default 1000.
    pub request_timeout_ms: u64,
    /// `consumer.request.max.bytes`: cap on the unencoded key+value bytes of one GET records
    /// response. Default 67108864 (64 MiB).
    pub request_max_bytes: u64,
    /// `consumer.wake.max.bytes`: cap on the key+value bytes of a GET records that waited for
    /// records and was woken by their arrival, so that it answers within about a millisecond of
    /// it; records beyond stay buffered for the next GET. Default 65536 (64 KiB).
    pub wake_max_bytes: u64,
    /// `fetch.min.bytes`: a GET records returns once more than this many bytes are collected.
    /// -1 (default) returns as soon as any record is available. Range -1..=10000000.
    pub fetch_min_bytes: i64,
    /// `consumer.instances.max` / `consumer.instances.max.per.group`: consumer instances this
    /// proxy holds at once, in all and per group; creating one more answers 429. Each instance
    /// is a librdkafka consumer with its own threads and buffers. Defaults 500 and 100.
    pub instances_max: usize,
    pub instances_max_per_group: usize,
    /// `consumer.request.timeout.max.ms`: the longest `consumer.request.timeout.ms` a consumer
    /// instance may ask for at creation (larger gets 422/42204). Default 60000.
    pub request_timeout_max_ms: u64,
    /// `consumer.*`: librdkafka consumer properties (prefix stripped) for every instance.
    pub properties: BTreeMap<String, String>,
}

impl Default for ConsumerConfig {
    fn default() -> Self {
        ConsumerConfig {
            instance_timeout_ms: 300_000,
            request_timeout_ms: 1_000,
            request_max_bytes: 64 * 1024 * 1024,
            wake_max_bytes: 64 * 1024,
            fetch_min_bytes: -1,
            instances_max: 500,
            instances_max_per_group: 100,
            request_timeout_max_ms: 60_000,
            properties: BTreeMap::new(),
        }
    }
}

impl ConsumerConfig {
    /// Takes `key` when it is one of these settings (false: not one of them). `consumer.*`
    /// properties are taken by the caller after every named key has had its chance.
    pub(super) fn set(&mut self, key: &str, value: &str) -> Result<bool, ConfigError> {
        let k = key;
        match k {
            "consumer.instance.timeout.ms" => self.instance_timeout_ms = parse_positive(k, value)?,
            "consumer.request.timeout.ms" => self.request_timeout_ms = parse_num(k, value)?,
            "consumer.request.max.bytes" => self.request_max_bytes = parse_positive(k, value)?,
            "consumer.wake.max.bytes" => self.wake_max_bytes = parse_positive(k, value)?,
            "fetch.min.bytes" => self.fetch_min_bytes = parse_fetch_min_bytes(k, value)?,
            "consumer.instances.max" => self.instances_max = parse_positive(k, value)?,
            "consumer.instances.max.per.group" => {
                self.instances_max_per_group = parse_positive(k, value)?
            }
            "consumer.request.timeout.max.ms" => {
                self.request_timeout_max_ms = parse_positive(k, value)?
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// The request timeout may not exceed its maximum.
    pub(super) fn check(&self) -> Result<(), ConfigError> {
        if self.request_timeout_ms > self.request_timeout_max_ms {
            return Err(invalid(
                "consumer.request.timeout.ms",
                &self.request_timeout_ms.to_string(),
                format!(
                    "must not exceed consumer.request.timeout.max.ms ({})",
                    self.request_timeout_max_ms
                ),
            ));
        }
        Ok(())
    }
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
