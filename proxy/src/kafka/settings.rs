//! The client properties the proxy's configuration gives each kind of client (`client.*`,
//! `producer.*`, `consumer.*` over our defaults), and the choice of produce engine.

use std::time::Duration;

use rdkafka::ClientConfig;

use super::batch;
use super::error::Error;
use crate::config::{Config, ProduceEngine};

/// Properties every client shares: `bootstrap.servers`, then `extra`.
pub fn client_config(
    config: &Config,
    extra: &std::collections::BTreeMap<String, String>,
) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", &config.bootstrap_servers);
    for (k, v) in extra {
        c.set(k, v);
    }
    c
}

/// Producer properties: our defaults, then `client.*`, then `producer.*`.
pub fn producer_config(config: &Config) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", &config.bootstrap_servers)
        // Java client defaults (acks=all, 120 s delivery timeout) but no linger: a request's
        // records are already a batch, and lingering only delays its answer (measured in the
        // README: 745k vs 544k records/s at 500 records per request with linger 0 vs 5 ms).
        .set("acks", "all")
        .set("linger.ms", "0")
        .set("message.timeout.ms", "120000")
        // Retries cannot duplicate or reorder acknowledged records.
        .set("enable.idempotence", "true");
    for (k, v) in config.client.iter().chain(&config.produce.properties) {
        c.set(k, v);
    }
    c
}

/// librdkafka holds back a partition's next fetch this long once the instance's queue is past
/// `queued.min.messages`. Its default, 1000 ms, suits an application that polls all the time; a
/// REST instance's queue drains only as its client's GETs come, so the fetch after a burst came
/// up to a second late. With 10 ms, REST consume on Tansu went from 142k to 631k records/s
/// (docs/performance-log.md); 1 ms gained little more and wakes every idle partition 1000 times
/// a second.
const FETCH_QUEUE_BACKOFF_MS: &str = "10";

/// Consumer properties shared by all instances: our defaults, then `client.*`, then
/// `consumer.*`. Protected topics are hidden from pattern subscriptions (librdkafka's
/// `topic.blacklist`) unless `consumer.*` sets that property itself.
pub fn consumer_config(config: &Config) -> ClientConfig {
    let mut c = client_config(config, &config.client);
    if !config.client.contains_key("fetch.queue.backoff.ms") {
        c.set("fetch.queue.backoff.ms", FETCH_QUEUE_BACKOFF_MS);
    }
    if !config.protected_topics.is_empty() {
        c.set("topic.blacklist", config.protected_topics.as_regex_list());
    }
    for (k, v) in &config.consumers.properties {
        c.set(k, v);
    }
    c
}

/// `producer.*`/`client.*` properties the batch engine honours (or that do not apply to it).
const BATCH_PROPERTIES: &[&str] = &[
    "acks",
    "request.required.acks",
    "request.timeout.ms",
    "message.timeout.ms",
    "delivery.timeout.ms",
    "retry.backoff.ms",
    "message.max.bytes",
    "client.id",
    // Each request is already a batch and is sent at once.
    "linger.ms",
    "queue.buffering.max.ms",
    "batch.size",
    "batch.num.messages",
    "queue.buffering.max.messages",
    "queue.buffering.max.kbytes",
    "socket.nagle.disable",
];

/// How the admin requests librdkafka lacks ([`super::wire_admin`]) reach the brokers: the
/// `client.*` connection settings (`security.protocol`, `ssl.*`, `sasl.*`, `client.id`,
/// `request.timeout.ms`), or why the proxy cannot connect on its own (a SASL mechanism only
/// librdkafka speaks).
pub(super) fn wire_access(config: &Config) -> Result<super::wire_admin::WireAccess, String> {
    let get = |k: &str| config.client.get(k).map(String::as_str);
    let protocol =
        get("security.protocol").map_or("plaintext".to_string(), |v| v.trim().to_ascii_lowercase());
    let (ssl, sasl) = match protocol.as_str() {
        "plaintext" => (false, false),
        "ssl" => (true, false),
        "sasl_plaintext" => (false, true),
        "sasl_ssl" => (true, true),
        other => return Err(format!("security.protocol={other} is not supported")),
    };
    let tls = ssl
        .then(|| super::tls_client::KafkaTls::from_properties(get))
        .transpose()
        .map_err(|e| e.to_string())?;
    let sasl = sasl
        .then(|| super::sasl_client::KafkaSasl::from_properties(get))
        .transpose()
        .map_err(|e| e.to_string())?;
    let timeout = get("request.timeout.ms")
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or(30_000)
        .max(1);
    Ok(super::wire_admin::WireAccess {
        client_id: get("client.id").unwrap_or("kafka-proxy").to_string(),
        timeout: Duration::from_millis(timeout),
        tls,
        sasl,
    })
}

/// The batch engine's settings, or None when librdkafka's producer is to be used: `produce.engine`
/// is `librdkafka`, or `auto` with a property only librdkafka honours (security, compression,
/// idempotence choices...). With `batch`, such a property is a configuration error.
pub(super) fn batch_settings(config: &Config) -> Result<Option<batch::BatchSettings>, Error> {
    if config.produce.engine == ProduceEngine::Librdkafka {
        return Ok(None);
    }
    let merged: std::collections::BTreeMap<&str, &str> = config
        .client
        .iter()
        .chain(&config.produce.properties)
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    // TLS and SASL PLAIN/SCRAM (`security.protocol` SSL, SASL_PLAINTEXT or SASL_SSL, with the
    // `ssl.*` and `sasl.*` keys the engine reads) stay on the fast path; other mechanisms and
    // anything else go to librdkafka.
    let protocol = merged
        .get("security.protocol")
        .map_or("plaintext".to_string(), |v| v.trim().to_ascii_lowercase());
    let ssl = matches!(protocol.as_str(), "ssl" | "sasl_ssl");
    let sasl = matches!(protocol.as_str(), "sasl_plaintext" | "sasl_ssl");
    let understood = |k: &str, v: &str| {
        BATCH_PROPERTIES.contains(&k)
            || (matches!(k, "compression.type" | "compression.codec")
                && super::wire::Compression::parse(v).is_some())
            || (k == "security.protocol"
                && matches!(
                    v.trim().to_ascii_lowercase().as_str(),
                    "plaintext" | "ssl" | "sasl_plaintext" | "sasl_ssl"
                ))
            || (ssl
                && super::tls_client::TLS_PROPERTIES.contains(&k)
                && (k != "ssl.endpoint.identification.algorithm"
                    || v.eq_ignore_ascii_case("https")))
            || (sasl && super::sasl_client::SASL_PROPERTIES.contains(&k))
    };
    if let Some((key, _)) = merged.iter().find(|(k, v)| !understood(k, v)) {
        if config.produce.engine == ProduceEngine::Batch {
            return Err(Error::InvalidConfig(format!(
                "produce.engine=batch does not support `{key}`; use produce.engine=librdkafka"
            )));
        }
        tracing::info!(%key, "produce.engine=auto: using librdkafka for this property");
        return Ok(None);
    }
    let num = |keys: &[&str], default: i64| -> Result<i64, Error> {
        match keys.iter().find_map(|k| merged.get(k)) {
            None => Ok(default),
            Some(v) => v.trim().parse::<i64>().map_err(|_| {
                Error::InvalidConfig(format!("{} must be a number, not {v:?}", keys[0]))
            }),
        }
    };
    let acks = match merged
        .get("acks")
        .or(merged.get("request.required.acks"))
        .map(|v| v.trim())
    {
        None | Some("all") | Some("-1") => -1,
        Some("0") => 0,
        Some("1") => 1,
        Some(v) => {
            return Err(Error::InvalidConfig(format!(
                "acks must be all, -1, 0 or 1, not {v:?}"
            )))
        }
    };
    let tls = if ssl {
        match super::tls_client::KafkaTls::from_properties(|k| merged.get(k).copied()) {
            Ok(tls) => Some(tls),
            Err(why) if config.produce.engine == ProduceEngine::Batch => {
                return Err(Error::InvalidConfig(format!("produce.engine=batch: {why}")))
            }
            Err(why) => {
                tracing::info!(%why, "produce.engine=auto: using librdkafka");
                return Ok(None);
            }
        }
    } else {
        None
    };
    let sasl = if sasl {
        match super::sasl_client::KafkaSasl::from_properties(|k| merged.get(k).copied()) {
            Ok(sasl) => Some(sasl),
            Err(why) if config.produce.engine == ProduceEngine::Batch => {
                return Err(Error::InvalidConfig(format!(
                    "produce.engine=batch with security.protocol={}: {why}",
                    protocol.to_ascii_uppercase()
                )))
            }
            Err(why) => {
                tracing::info!(%why, "produce.engine=auto: using librdkafka");
                return Ok(None);
            }
        }
    } else {
        None
    };
    let ms = |v: i64| Duration::from_millis(v.max(1) as u64);
    Ok(Some(batch::BatchSettings {
        client_id: merged
            .get("client.id")
            .unwrap_or(&"kafka-proxy")
            .to_string(),
        acks,
        request_timeout: ms(num(&["request.timeout.ms"], 30_000)?),
        delivery_timeout: ms(num(
            &["message.timeout.ms", "delivery.timeout.ms"],
            120_000,
        )?),
        retry_backoff: ms(num(&["retry.backoff.ms"], 100)?),
        max_batch_bytes: num(&["message.max.bytes"], 1_000_000)?.max(1024) as usize,
        connections_per_broker: config.produce.connections_per_broker,
        max_in_flight: config.produce.max_in_flight_per_broker,
        tls,
        sasl,
        compression: merged
            .get("compression.type")
            .or(merged.get("compression.codec"))
            .and_then(|v| super::wire::Compression::parse(v))
            .unwrap_or_default(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(props: &[(&str, &str)]) -> Config {
        let mut all: std::collections::BTreeMap<String, String> = props
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        all.insert("bootstrap.servers".into(), "127.0.0.1:9".into());
        Config::from_properties(&all).unwrap().0
    }

    #[test]
    fn consumers_fetch_again_soon_after_their_queue_drains() {
        let backoff = |props: &[(&str, &str)]| {
            consumer_config(&config(props))
                .get("fetch.queue.backoff.ms")
                .map(str::to_string)
        };
        assert_eq!(backoff(&[]).as_deref(), Some("10"));
        let client = [("client.fetch.queue.backoff.ms", "50")];
        assert_eq!(backoff(&client).as_deref(), Some("50"));
        let consumer = [("consumer.fetch.queue.backoff.ms", "1000")];
        assert_eq!(backoff(&consumer).as_deref(), Some("1000"));
    }

    #[test]
    fn engine_selection() {
        let s = batch_settings(&config(&[])).unwrap().unwrap();
        assert_eq!((s.acks, s.max_batch_bytes), (-1, 1_000_000));
        assert_eq!(s.connections_per_broker, 1);
        let s = batch_settings(&config(&[
            ("producer.acks", "1"),
            ("producer.request.timeout.ms", "500"),
            ("client.client.id", "me"),
            ("client.security.protocol", "PLAINTEXT"),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(s.acks, 1);
        assert_eq!(s.request_timeout, Duration::from_millis(500));
        assert_eq!(s.client_id, "me");
        // The codecs the batch engine writes stay on it.
        let s = batch_settings(&config(&[("producer.compression.type", "lz4")]))
            .unwrap()
            .unwrap();
        assert_eq!(s.compression, super::super::wire::Compression::Lz4);
        // SASL PLAIN and SCRAM stay on the batch engine, over TLS or not.
        for (protocol, mechanism) in [
            ("SASL_PLAINTEXT", "PLAIN"),
            ("sasl_plaintext", "SCRAM-SHA-256"),
            ("SASL_SSL", "SCRAM-SHA-512"),
        ] {
            let mut props = vec![
                ("client.security.protocol", protocol),
                ("client.sasl.mechanism", mechanism),
                ("client.sasl.username", "u"),
                ("client.sasl.password", "p"),
            ];
            if protocol == "SASL_SSL" {
                props.push(("client.ssl.ca.location", "/nonexistent/ca.pem"));
            }
            let s = batch_settings(&config(&props));
            if protocol == "SASL_SSL" {
                // The CA is read at start-up: a missing file is librdkafka's to report (auto).
                assert!(s.unwrap().is_none());
            } else {
                let s = s.unwrap().unwrap();
                assert_eq!(s.sasl.unwrap().mechanism(), mechanism);
                assert!(s.tls.is_none());
            }
        }
        // Properties only librdkafka honours: auto falls back, batch refuses.
        for (k, v) in [
            ("client.security.protocol", "SASL_SSL"),
            ("client.sasl.mechanism", "OAUTHBEARER"),
            ("producer.compression.type", "snappy"),
            ("producer.enable.idempotence", "true"),
        ] {
            assert!(batch_settings(&config(&[(k, v)])).unwrap().is_none(), "{k}");
            let err = batch_settings(&config(&[(k, v), ("produce.engine", "batch")]))
                .unwrap_err()
                .to_string();
            assert!(err.contains(k.split_once('.').unwrap().1), "{err}");
        }
        assert!(batch_settings(&config(&[("produce.engine", "librdkafka")]))
            .unwrap()
            .is_none());
        assert!(batch_settings(&config(&[("producer.acks", "most")])).is_err());
    }
}
