//! Bounds of both HTTP servers (the REST API's and the built-in registry's).

use super::error::ConfigError;
use super::parse::{parse_bool, parse_positive};

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
    /// `http2.enabled` (Confluent's name): HTTP/2 beside HTTP/1.1 on every listener, h2c by
    /// prior knowledge on `http://` and h2 by ALPN on `https://`. Default true.
    pub http2_enabled: bool,
    /// `http2.max.concurrent.streams`: requests one HTTP/2 connection may have open at once
    /// (Jetty's default, under Confluent's proxy, is 128). Default 128.
    pub http2_max_concurrent_streams: u32,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            header_read_timeout_ms: 10_000,
            body_read_timeout_ms: 60_000,
            max_connections: 4096,
            max_concurrent_requests: 2048,
            access_log: true,
            http2_enabled: true,
            http2_max_concurrent_streams: 128,
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
            "http.access.log" => self.access_log = parse_bool(k, value)?,
            "http2.enabled" => self.http2_enabled = parse_bool(k, value)?,
            "http2.max.concurrent.streams" => {
                self.http2_max_concurrent_streams = parse_positive(k, value)?
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// HTTP/2's stream limit when it is on.
    pub fn http2_max_streams(&self) -> Option<u32> {
        self.http2_enabled
            .then_some(self.http2_max_concurrent_streams)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http2_is_on_by_default_and_can_be_turned_off_or_bounded() {
        let mut c = HttpConfig::default();
        assert_eq!(c.http2_max_streams(), Some(128));
        assert!(c.set("http2.max.concurrent.streams", "16").unwrap());
        assert_eq!(c.http2_max_streams(), Some(16));
        assert!(c.set("http2.enabled", " FALSE ").unwrap());
        assert_eq!(c.http2_max_streams(), None);
        assert!(c.set("http2.enabled", "true").unwrap());
        assert_eq!(c.http2_max_streams(), Some(16));
        for (key, bad) in [
            ("http2.enabled", "yes"),
            ("http2.max.concurrent.streams", "0"),
            ("http2.max.concurrent.streams", "-1"),
        ] {
            let err = c.set(key, bad).unwrap_err().to_string();
            assert!(err.contains(key), "{err}");
        }
        assert!(!c.set("http2.other", "1").unwrap());
    }
}
