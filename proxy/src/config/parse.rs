//! Value parsers shared by every part of the configuration; each error names its key.

use std::net::{SocketAddr, ToSocketAddrs};

use super::error::ConfigError;

pub(super) fn invalid(key: &str, value: &str, reason: impl ToString) -> ConfigError {
    ConfigError::InvalidValue {
        key: key.to_string(),
        value: value.to_string(),
        reason: reason.to_string(),
    }
}

pub(super) fn non_empty(value: &str) -> Option<String> {
    Some(value.trim().to_string()).filter(|v| !v.is_empty())
}

pub(super) fn parse_num<T: std::str::FromStr>(key: &str, value: &str) -> Result<T, ConfigError>
where
    T::Err: std::fmt::Display,
{
    value.trim().parse().map_err(|e| invalid(key, value, e))
}

pub(super) fn parse_positive<T: std::str::FromStr + Default + PartialOrd>(
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

/// `true` or `false`, in any case (as Kafka's and Confluent's boolean settings).
pub(super) fn parse_bool(key: &str, value: &str) -> Result<bool, ConfigError> {
    match value.trim() {
        v if v.eq_ignore_ascii_case("true") => Ok(true),
        v if v.eq_ignore_ascii_case("false") => Ok(false),
        _ => Err(invalid(key, value, "expected true or false")),
    }
}

/// `http://HOST:PORT[,...]` listeners; `https://` ones too (served with TLS, [`https_of`]).
pub(super) fn parse_listeners(key: &str, value: &str) -> Result<Vec<SocketAddr>, ConfigError> {
    Ok(parse_listener_urls(key, value)?
        .into_iter()
        .map(|(addr, _)| addr)
        .collect())
}

/// The `https://` addresses of a listener list (already checked by [`parse_listeners`]).
pub(super) fn https_of(key: &str, value: &str) -> Result<Vec<SocketAddr>, ConfigError> {
    Ok(parse_listener_urls(key, value)?
        .into_iter()
        .filter(|(_, https)| *https)
        .map(|(addr, _)| addr)
        .collect())
}

fn parse_listener_urls(key: &str, value: &str) -> Result<Vec<(SocketAddr, bool)>, ConfigError> {
    let mut out = Vec::new();
    for item in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (hostport, https) = match (item.strip_prefix("http://"), item.strip_prefix("https://"))
        {
            (Some(h), _) => (h, false),
            (_, Some(h)) => (h, true),
            _ => {
                return Err(invalid(
                    key,
                    value,
                    format!("`{item}` must start with http:// or https://"),
                ))
            }
        };
        let hostport = hostport.trim_end_matches('/');
        let addr = hostport
            .to_socket_addrs()
            .map_err(|e| invalid(key, value, format!("`{item}`: {e}")))?
            .next()
            .ok_or_else(|| invalid(key, value, format!("`{item}` resolves to no address")))?;
        out.push((addr, https));
    }
    if out.is_empty() {
        return Err(invalid(key, value, "no listener given"));
    }
    Ok(out)
}

/// `advertised.listeners`: the first http(s) URL of the list.
pub(super) fn parse_advertised(key: &str, value: &str) -> Result<Option<String>, ConfigError> {
    // Confluent's key is a list; the first http entry is the one used for http requests.
    let Some(first) = value.split(',').map(str::trim).find(|s| !s.is_empty()) else {
        return Ok(None);
    };
    if !(first.starts_with("http://") || first.starts_with("https://")) {
        return Err(invalid(key, value, "must be an absolute http:// URL"));
    }
    Ok(Some(first.trim_end_matches('/').to_string()))
}
