//! What REST clients may name and touch: protected topics (`protected.topics`), consumer group
//! and instance names, and the `Host` header that ends up in `base_uri`.

use axum::http::{header, HeaderMap};

use crate::config::Config;
use crate::http::error::ApiError;
use crate::names::check_member_name;

/// 403/40301 for a topic in `protected.topics` (Kafka's authorization error code, as a cluster
/// with ACLs would answer).
pub fn topic_allowed(config: &Config, topic: &str) -> Result<(), ApiError> {
    if config.protected_topics.matches(topic) {
        return Err(ApiError::topic_protected(topic));
    }
    Ok(())
}

/// Every topic of a request must be allowed.
pub fn topics_allowed<'a>(
    config: &Config,
    topics: impl IntoIterator<Item = &'a str>,
) -> Result<(), ApiError> {
    topics
        .into_iter()
        .try_for_each(|t| topic_allowed(config, t))
}

/// A consumer group name from a path: 422 unless it is a legal name.
pub fn group_name(group: &str) -> Result<(), ApiError> {
    check_member_name(group)
        .map_err(|e| ApiError::unprocessable(format!("Invalid consumer group name: {e}.")))
}

/// A consumer instance name: 422 unless it is a legal name.
pub fn instance_name(name: &str) -> Result<(), ApiError> {
    check_member_name(name)
        .map_err(|e| ApiError::unprocessable(format!("Invalid consumer instance name: {e}.")))
}

/// The `Host` header, when it is a plain `host[:port]` authority (a DNS name, IPv4 address or
/// bracketed IPv6 address); None when absent. Anything else is 400, so that nothing a client
/// sends is copied into `base_uri` unchecked.
pub fn host(headers: &HeaderMap) -> Result<Option<&str>, ApiError> {
    let Some(value) = headers.get(header::HOST) else {
        return Ok(None);
    };
    let bad = || ApiError::bad_request("invalid Host header");
    let host = value.to_str().map_err(|_| bad())?;
    let (name, port) = if let Some(rest) = host.strip_prefix('[') {
        let (v6, after) = rest.split_once(']').ok_or_else(bad)?;
        v6.parse::<std::net::Ipv6Addr>().map_err(|_| bad())?;
        match after {
            "" => (None, None),
            _ => (None, Some(after.strip_prefix(':').ok_or_else(bad)?)),
        }
    } else {
        match host.rsplit_once(':') {
            Some((n, p)) => (Some(n), Some(p)),
            None => (Some(host), None),
        }
    };
    if let Some(name) = name {
        let ok = !name.is_empty()
            && name.len() <= 253
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
        if !ok {
            return Err(bad());
        }
    }
    if let Some(port) = port {
        port.parse::<u16>().map_err(|_| bad())?;
    }
    Ok(Some(host))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn with_host(h: &str) -> HeaderMap {
        let mut m = HeaderMap::new();
        m.insert(header::HOST, HeaderValue::from_str(h).unwrap());
        m
    }

    #[test]
    fn hosts() {
        for good in [
            "localhost",
            "localhost:8082",
            "10.0.0.1:80",
            "[::1]:8082",
            "[::1]",
            "a-b.example.com",
        ] {
            assert_eq!(host(&with_host(good)).unwrap(), Some(good), "{good}");
        }
        for bad in [
            "",
            "a b",
            "evil.com/x?",
            "h:99999",
            "h:",
            "[::1",
            "[zz]:1",
            "a@b",
            "x\"y",
        ] {
            assert!(host(&with_host(bad)).is_err(), "{bad:?}");
        }
        assert_eq!(host(&HeaderMap::new()).unwrap(), None);
    }
}
