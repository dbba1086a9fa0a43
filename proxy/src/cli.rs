//! The `kafka-proxy` command line: named flags for the common keys, `--set KEY=VALUE` for any
//! other, and a properties file; turned into the flag layer of the configuration.

use std::collections::BTreeMap;
use std::path::PathBuf;

use clap::Parser;

/// Confluent REST Proxy v2 compatible HTTP gateway to Kafka.
///
/// Settings come from flags, then KAFKA_REST_* environment variables, then the config file
/// (kafka-rest.properties format), then defaults.
#[derive(Parser, Debug)]
#[command(version)]
pub struct Args {
    /// Kafka bootstrap servers, HOST:PORT[,...] (`bootstrap.servers`).
    #[arg(long)]
    pub bootstrap_servers: Option<String>,
    /// HTTP listeners, http://HOST:PORT[,...] (`listeners`, default http://0.0.0.0:8082).
    #[arg(long)]
    pub listeners: Option<String>,
    /// Absolute URL clients reach this proxy at, used in consumer base_uri (`advertised.listeners`).
    #[arg(long)]
    pub advertised_url: Option<String>,
    /// Listeners of the built-in Schema Registry, http://HOST:PORT[,...]
    /// (`schema.registry.listeners`, default http://0.0.0.0:8081; empty disables it).
    #[arg(long)]
    pub schema_registry_listeners: Option<String>,
    /// An external Confluent-compatible Schema Registry, http(s)://HOST:PORT
    /// (`schema.registry.url`); when set, the built-in one is off unless listeners are given.
    #[arg(long)]
    pub schema_registry_url: Option<String>,
    /// MQTT listeners, tcp://HOST:PORT[,...] (`mqtt.listeners`); none by default.
    #[arg(long)]
    pub mqtt_listeners: Option<String>,
    /// MQTT topic to Kafka topic rules, `kafka_topic:regex, ...` (`mqtt.topic.regex.list`, env
    /// KAFKA_MQTT_TOPIC_REGEX_LIST).
    #[arg(long)]
    pub mqtt_topic_regex_list: Option<String>,
    /// Log format: `text` (default) or `json` (one JSON object per line). Same as
    /// `--set log.format=...`.
    #[arg(long, value_name = "text|json")]
    pub log_format: Option<String>,
    /// A kafka-rest.properties file.
    #[arg(long, short = 'c', value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Any other configuration key, as KEY=VALUE (repeatable), e.g. --set producer.linger.ms=10.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// The config file may also be given positionally, as with Confluent's kafka-rest-start.
    #[arg(value_name = "FILE", conflicts_with = "config")]
    pub file: Option<PathBuf>,
}

/// A `--set` that is not `KEY=VALUE`.
#[derive(Debug, thiserror::Error)]
#[error("--set expects KEY=VALUE, got `{0}`")]
pub struct BadSet(pub String);

impl Args {
    /// The properties file (`--config`, or given positionally) and the flags as properties.
    pub fn layers(self) -> Result<(Option<PathBuf>, BTreeMap<String, String>), BadSet> {
        let mut flags = BTreeMap::new();
        for kv in &self.set {
            let Some((k, v)) = kv.split_once('=') else {
                return Err(BadSet(kv.clone()));
            };
            flags.insert(k.trim().to_string(), v.to_string());
        }
        let named = [
            ("bootstrap.servers", &self.bootstrap_servers),
            ("listeners", &self.listeners),
            ("advertised.listeners", &self.advertised_url),
            ("schema.registry.listeners", &self.schema_registry_listeners),
            ("schema.registry.url", &self.schema_registry_url),
            ("mqtt.listeners", &self.mqtt_listeners),
            ("mqtt.topic.regex.list", &self.mqtt_topic_regex_list),
            ("log.format", &self.log_format),
        ];
        for (key, value) in named {
            if let Some(v) = value {
                flags.insert(key.to_string(), v.clone());
            }
        }
        Ok((self.config.or(self.file), flags))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layers(argv: &[&str]) -> Result<(Option<PathBuf>, BTreeMap<String, String>), BadSet> {
        Args::try_parse_from(std::iter::once("kafka-proxy").chain(argv.iter().copied()))
            .expect("valid arguments")
            .layers()
    }

    #[test]
    fn named_flags_win_over_set_and_the_file_may_be_positional() {
        let (file, flags) = layers(&[
            "--set",
            "producer.linger.ms=7",
            "--set",
            "listeners=http://a:1",
            "--listeners",
            "http://b:2",
            "kafka-rest.properties",
        ])
        .unwrap();
        assert_eq!(file, Some(PathBuf::from("kafka-rest.properties")));
        assert_eq!(flags["listeners"], "http://b:2");
        assert_eq!(flags["producer.linger.ms"], "7");
    }

    #[test]
    fn a_set_without_equals_is_refused_naming_it() {
        let err = layers(&["--set", "producer.linger.ms"]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "--set expects KEY=VALUE, got `producer.linger.ms`"
        );
    }
}
