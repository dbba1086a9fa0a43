//! `kafka-proxy`: parse configuration, initialise tracing, serve until SIGTERM/SIGINT.

use std::collections::BTreeMap;
use std::path::PathBuf;

use clap::Parser;
use kafka_proxy::Config;

/// Confluent REST Proxy v2 compatible HTTP gateway to Kafka.
///
/// Settings come from flags, then KAFKA_REST_* environment variables, then the config file
/// (kafka-rest.properties format), then defaults.
#[derive(Parser, Debug)]
#[command(version)]
struct Args {
    /// Kafka bootstrap servers, HOST:PORT[,...] (`bootstrap.servers`).
    #[arg(long)]
    bootstrap_servers: Option<String>,
    /// HTTP listeners, http://HOST:PORT[,...] (`listeners`, default http://0.0.0.0:8082).
    #[arg(long)]
    listeners: Option<String>,
    /// Absolute URL clients reach this proxy at, used in consumer base_uri (`advertised.listeners`).
    #[arg(long)]
    advertised_url: Option<String>,
    /// Listeners of the built-in Schema Registry, http://HOST:PORT[,...]
    /// (`schema.registry.listeners`, default http://0.0.0.0:8081; empty disables it).
    #[arg(long)]
    schema_registry_listeners: Option<String>,
    /// An external Confluent-compatible Schema Registry, http(s)://HOST:PORT
    /// (`schema.registry.url`); when set, the built-in one is off unless listeners are given.
    #[arg(long)]
    schema_registry_url: Option<String>,
    /// MQTT listeners, tcp://HOST:PORT[,...] (`mqtt.listeners`); none by default.
    #[arg(long)]
    mqtt_listeners: Option<String>,
    /// MQTT topic to Kafka topic rules, `kafka_topic:regex, ...` (`mqtt.topic.regex.list`, env
    /// KAFKA_MQTT_TOPIC_REGEX_LIST).
    #[arg(long)]
    mqtt_topic_regex_list: Option<String>,
    /// A kafka-rest.properties file.
    #[arg(long, short = 'c', value_name = "FILE")]
    config: Option<PathBuf>,
    /// Any other configuration key, as KEY=VALUE (repeatable), e.g. --set producer.linger.ms=10.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
    /// The config file may also be given positionally, as with Confluent's kafka-rest-start.
    #[arg(value_name = "FILE", conflicts_with = "config")]
    file: Option<PathBuf>,
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let mut flags = BTreeMap::new();
    for kv in &args.set {
        let Some((k, v)) = kv.split_once('=') else {
            eprintln!("error: --set expects KEY=VALUE, got `{kv}`");
            return std::process::ExitCode::from(2);
        };
        flags.insert(k.trim().to_string(), v.to_string());
    }
    let named = [
        ("bootstrap.servers", &args.bootstrap_servers),
        ("listeners", &args.listeners),
        ("advertised.listeners", &args.advertised_url),
        ("schema.registry.listeners", &args.schema_registry_listeners),
        ("schema.registry.url", &args.schema_registry_url),
        ("mqtt.listeners", &args.mqtt_listeners),
        ("mqtt.topic.regex.list", &args.mqtt_topic_regex_list),
    ];
    for (key, value) in named {
        if let Some(v) = value {
            flags.insert(key.to_string(), v.clone());
        }
    }
    let file = args.config.or(args.file);
    let (config, ignored) = match Config::resolve(file.as_deref(), std::env::vars(), flags) {
        Ok(c) => c,
        Err(err) => {
            eprintln!("error: invalid configuration: {err}");
            return std::process::ExitCode::from(2);
        }
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| format!("info,{}=warn", kafka_proxy::kafka::LOG_TARGET).into()),
        )
        .init();
    for key in ignored {
        tracing::warn!(%key, "configuration key has no effect in kafka-proxy");
    }
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    let result = runtime.block_on(run(config));
    // Kafka client calls still blocked on an unreachable cluster (a consumer's close, a flush) must
    // not hold the exit: `serve` already waited for them as long as shutdown.graceful.ms allows.
    runtime.shutdown_timeout(std::time::Duration::from_millis(100));
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            std::process::ExitCode::from(if err.is::<kafka_proxy::kafka::Error>() {
                2
            } else {
                1
            })
        }
    }
}

async fn run(config: Config) -> anyhow::Result<()> {
    let mut listeners = Vec::new();
    for addr in &config.rest.listeners {
        listeners.push(tokio::net::TcpListener::bind(addr).await?);
    }
    kafka_proxy::serve(config, listeners, shutdown_signal()).await
}

async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
