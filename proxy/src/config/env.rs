//! Environment variables as properties, as Confluent's Docker images name them.

/// Maps `KAFKA_REST_FOO_BAR=v` to `foo.bar=v` as Confluent's Docker image does (`__` is `_`,
/// `___` is `-`). JVM-only variables of that image are skipped.
pub fn env_properties(
    env: impl IntoIterator<Item = (String, String)>,
) -> impl Iterator<Item = (String, String)> {
    const JVM_ONLY: &[&str] = &[
        "HEAP_OPTS",
        "JVM_PERFORMANCE_OPTS",
        "JMX_OPTS",
        "JMX_PORT",
        "LOG4J_OPTS",
        "LOG4J_ROOT_LOGLEVEL",
        "LOG4J_LOGGERS",
        "OPTS",
        "LOG_DIR",
        "CLASSPATH",
    ];
    env.into_iter().filter_map(|(name, value)| {
        // Confluent's MQTT Proxy image names its keys KAFKA_MQTT_*: they are `mqtt.*` here.
        let (prefix, rest) = match name.strip_prefix("KAFKA_MQTT_") {
            Some(rest) => ("mqtt.", rest),
            None => ("", name.strip_prefix("KAFKA_REST_")?),
        };
        if rest.is_empty() || JVM_ONLY.contains(&rest) {
            return None;
        }
        let key = rest
            .to_ascii_lowercase()
            .replace("___", "\u{1}")
            .replace("__", "\u{2}")
            .replace('_', ".")
            .replace('\u{1}', "-")
            .replace('\u{2}', "_");
        // KAFKA_MQTT_BOOTSTRAP_SERVERS is the proxy's own bootstrap.servers.
        if key == "bootstrap.servers" {
            return Some((key, value));
        }
        Some((format!("{prefix}{key}"), value))
    })
}
