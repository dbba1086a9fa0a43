//! Bounds of both HTTP servers (the REST API's and the built-in registry's).

use super::error::ConfigError;
use super::parse::parse_positive;

/// The HTTP servers' bounds.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// `http.header.read.timeout.ms`: how long a connection may wait for, and take to send, a
    /// request's headers: a slow-header client is disconnected, and so is a keep-alive
    /// connection idle this long between requests. Default 10000.
    pub header_read_timeout_ms: u64,
    /// `http.request.body.timeout.ms`: how long reading one request body may take; a slower
    /// body gets 408. Default 60000.
    pub body_read_timeout_ms: u64,
    /// `http.max.connections`: open HTTP connections per server (REST, and the registry's);
    /// further connections wait in the kernel's accept queue. Default 4096.
    pub max_connections: usize,
    /// `http.max.concurrent.requests`: requests handled at once per server; more are answered
    /// 429 (error code 429, as Confluent's rate limiter) at once instead of queueing. Default
    /// 2048.
    pub max_concurrent_requests: usize,
    /// `http.access.log`: one `INFO` line per request under the `access` target (method, path,
    /// status, bytes, µs, principal). Default true.
    pub access_log: bool,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            header_read_timeout_ms: 10_000,
            body_read_timeout_ms: 60_000,
            max_connections: 4096,
            max_concurrent_requests: 2048,
            access_log: true,
        }
    }
}

impl HttpConfig {
    /// Takes `key` when it is one of these settings (false: not one of them).
    pub(super) fn set(&mut self, key: &str, value: &str) -> Result<bool, ConfigError> {
        let k = key;
        match k {
            "http.header.read.timeout.ms" => {
                self.header_read_timeout_ms = parse_positive(k, value)?
            }
            "http.request.body.timeout.ms" => self.body_read_timeout_ms = parse_positive(k, value)?,
            "http.max.connections" => self.max_connections = parse_positive(k, value)?,
            "http.max.concurrent.requests" => {
                self.max_concurrent_requests = parse_positive(k, value)?
            }
            "http.access.log" => {
                self.access_log = match value.trim() {
                    "true" => true,
                    "false" => false,
                    _ => return Err(super::parse::invalid(k, value, "expected true or false")),
                }
            }
            _ => return Ok(false),
        }
        Ok(true)
    }
}
