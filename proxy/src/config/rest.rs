//! The REST API's settings: where it listens, how it names itself, and what one request may hold.

use std::net::SocketAddr;

use super::error::ConfigError;
use super::parse::{https_of, non_empty, parse_advertised, parse_listeners, parse_positive};

/// The REST API's settings.
#[derive(Debug, Clone)]
pub struct RestConfig {
    /// `listeners`: HTTP listen addresses, `http://HOST:PORT[,...]`; `https://` ones are served
    /// with TLS (`ssl.*`, [`super::edge`]), and both may be mixed. Default `http://0.0.0.0:8082`.
    pub listeners: Vec<SocketAddr>,
    /// The `https://` ones among `listeners`.
    pub https: Vec<SocketAddr>,
    /// `advertised.listeners` (flag `--advertised-url`): the absolute URL clients use to reach this
    /// proxy, used to build consumer `base_uri`s. Default: none, the request's `Host` is used.
    pub advertised_url: Option<String>,
    /// `host.name` (deprecated in Confluent): host used in `base_uri` when no advertised URL is set.
    pub host_name: Option<String>,
    /// `id`: server id, part of generated consumer instance names. Default empty.
    pub id: String,
    /// `request.body.max.bytes`: largest accepted HTTP request body; larger bodies get 413.
    /// Default 67108864 (64 MiB).
    pub request_body_max_bytes: usize,
    /// `produce.max.records`: the most records one produce request may carry; more get 422
    /// before any is parsed further. Bounds the memory of a request of tiny records (each
    /// costs far more in memory and in the answer than its few body bytes). Default 10000.
    pub produce_max_records: usize,
    /// `api.v3.produce.batch.maximum.entries`: entries of one v3 `records:batch` (1 to 50).
    /// Default 10, as Confluent.
    pub v3_batch_max_entries: usize,
    /// `streaming.connection.max.duration.ms`: how long one v3 streaming produce may go on;
    /// records after it get 408 and the stream closes after
    /// `streaming.connection.max.duration.grace.period.ms`. Defaults 86400000 (a day) and 500,
    /// as Confluent.
    pub v3_stream_max_duration_ms: u64,
    pub v3_stream_grace_ms: u64,
}

impl Default for RestConfig {
    fn default() -> Self {
        RestConfig {
            listeners: vec![SocketAddr::from(([0, 0, 0, 0], 8082))],
            https: Vec::new(),
            advertised_url: None,
            host_name: None,
            id: String::new(),
            request_body_max_bytes: 64 * 1024 * 1024,
            produce_max_records: 10_000,
            v3_batch_max_entries: 10,
            v3_stream_max_duration_ms: 86_400_000,
            v3_stream_grace_ms: 500,
        }
    }
}

impl RestConfig {
    /// Takes `key` when it is one of these settings (false: not one of them).
    pub(super) fn set(&mut self, key: &str, value: &str) -> Result<bool, ConfigError> {
        let k = key;
        match k {
            // Empty: no REST API (an MQTT-only proxy).
            "listeners" if value.trim().is_empty() => {
                self.listeners = Vec::new();
                self.https = Vec::new();
            }
            "listeners" => {
                self.listeners = parse_listeners(k, value)?;
                self.https = https_of(k, value)?;
            }
            "advertised.listeners" => self.advertised_url = parse_advertised(k, value)?,
            "host.name" => self.host_name = non_empty(value),
            "id" => self.id = value.trim().to_string(),
            "request.body.max.bytes" => self.request_body_max_bytes = parse_positive(k, value)?,
            "produce.max.records" => self.produce_max_records = parse_positive(k, value)?,
            "api.v3.produce.batch.maximum.entries" => {
                let n: usize = parse_positive(k, value)?;
                if n > 50 {
                    return Err(super::parse::invalid(k, value, "at most 50"));
                }
                self.v3_batch_max_entries = n;
            }
            "streaming.connection.max.duration.ms" => {
                self.v3_stream_max_duration_ms = parse_positive(k, value)?
            }
            "streaming.connection.max.duration.grace.period.ms" => {
                self.v3_stream_grace_ms = super::parse::parse_num(k, value)?
            }
            _ => return Ok(false),
        }
        Ok(true)
    }
}
