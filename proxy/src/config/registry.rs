//! The Schema Registry: an external one the proxy is a client of, or the built-in one it serves.

use std::net::SocketAddr;

use super::error::ConfigError;
use super::parse::{https_of, invalid, non_empty, parse_listeners, parse_positive};

/// The Schema Registry's settings.
#[derive(Debug, Clone)]
pub struct RegistryConfig {
    /// `schema.registry.url`: an external Schema Registry for the avro/jsonschema/protobuf
    /// formats (the first of a comma-separated list). Empty (default): the built-in registry.
    pub url: String,
    /// `schema.registry.basic.auth.user.info`: `user:password` for the external registry
    /// (with `schema.registry.basic.auth.credentials.source` USER_INFO, the default here; URL
    /// takes them from the URL's user info).
    pub user_info: Option<String>,
    /// `schema.registry.basic.auth.credentials.source`: USER_INFO or URL.
    pub credentials_source: String,
    /// `schema.registry.request.timeout.ms`: timeout of each external registry call. Default
    /// 10000.
    pub timeout_ms: u64,
    /// `schema.registry.listeners` (flag `--schema-registry-listeners`): listeners of the built-in
    /// Schema Registry, `http://HOST:PORT[,...]`. Default `http://0.0.0.0:8081` when
    /// `schema.registry.url` is empty; empty disables the built-in registry. `https://` ones are
    /// served with TLS, as the REST listeners are.
    pub listeners: Vec<SocketAddr>,
    /// The `https://` ones among `listeners`.
    pub https: Vec<SocketAddr>,
    /// `schema.registry.topic`: the built-in registry's Kafka topic. Default `_schemas`.
    pub topic: String,
}

impl Default for RegistryConfig {
    fn default() -> Self {
        RegistryConfig {
            url: String::new(),
            user_info: None,
            credentials_source: "USER_INFO".into(),
            timeout_ms: 10_000,
            listeners: Vec::new(),
            https: Vec::new(),
            topic: "_schemas".into(),
        }
    }
}

impl RegistryConfig {
    /// Takes `key` when it is one of these settings (false: not one of them).
    pub(super) fn set(&mut self, key: &str, value: &str) -> Result<bool, ConfigError> {
        let k = key;
        match k {
            "schema.registry.url" => {
                self.url = value
                    .split(',')
                    .map(str::trim)
                    .find(|u| !u.is_empty())
                    .unwrap_or("")
                    .to_string();
                if !(self.url.is_empty()
                    || self.url.starts_with("http://")
                    || self.url.starts_with("https://"))
                {
                    return Err(invalid(k, value, "must be an http:// or https:// URL"));
                }
            }
            "schema.registry.basic.auth.user.info" => self.user_info = non_empty(value),
            "schema.registry.basic.auth.credentials.source" => {
                let source = value.trim().to_ascii_uppercase();
                if source != "USER_INFO" && source != "URL" {
                    return Err(invalid(k, value, "expected USER_INFO or URL"));
                }
                self.credentials_source = source;
            }
            "schema.registry.request.timeout.ms" => self.timeout_ms = parse_positive(k, value)?,
            "schema.registry.listeners" => {
                (self.listeners, self.https) = if value.trim().is_empty() {
                    (Vec::new(), Vec::new())
                } else {
                    (parse_listeners(k, value)?, https_of(k, value)?)
                }
            }
            "schema.registry.topic" => self.topic = value.trim().to_string(),
            _ => return Ok(false),
        }
        Ok(true)
    }
}

impl RegistryConfig {
    /// The external registry client's settings.
    pub fn client(&self) -> RegistryClientSettings {
        let mut url = self.url.clone();
        let mut basic_auth = None;
        // Credentials in the URL (`http://user:pass@host`) are used with source URL, and always
        // stripped from the URL itself.
        if let Some((scheme, rest)) = url.split_once("://") {
            if let Some((userinfo, host)) = rest.split_once('@') {
                if let Some((u, p)) = userinfo.split_once(':') {
                    if self.credentials_source == "URL" {
                        basic_auth = Some((u.to_string(), p.to_string()));
                    }
                }
                url = format!("{scheme}://{host}");
            }
        }
        if self.credentials_source == "USER_INFO" {
            basic_auth = self
                .user_info
                .as_deref()
                .and_then(|i| i.split_once(':'))
                .map(|(u, p)| (u.to_string(), p.to_string()));
        }
        RegistryClientSettings {
            url,
            basic_auth,
            timeout: std::time::Duration::from_millis(self.timeout_ms),
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
