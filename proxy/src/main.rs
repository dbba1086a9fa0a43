//! `kafka-proxy`: parse configuration, initialise tracing, serve until SIGTERM/SIGINT.

use std::process::ExitCode;

use clap::Parser;
use kafka_proxy::cli::Args;
use kafka_proxy::Config;

/// mimalloc: small, short-lived allocations per request cost a fraction of glibc's
/// (docs/performance-log.md, "The per-request path"). librdkafka's own allocations stay on glibc's
/// malloc (see `Cargo.toml` for why).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let (file, flags) = match Args::parse().layers() {
        Ok(layers) => layers,
        Err(err) => {
            eprintln!("error: {err}");
            return ExitCode::from(2);
        }
    };
    let (config, ignored) = match Config::resolve(file.as_deref(), std::env::vars(), flags) {
        Ok(c) => c,
        Err(err) => {
            eprintln!("error: invalid configuration: {err}");
            return ExitCode::from(2);
        }
    };
    // Held to the end of `main`: its drop writes out the lines still queued.
    let _logs = kafka_proxy::logs::init(config.log_json);
    for key in ignored {
        tracing::warn!(%key, "configuration key has no effect in kafka-proxy");
    }
    let runtime = kafka_proxy::runtime::build(&config).expect("tokio runtime");
    let result = runtime.block_on(kafka_proxy::run(config, kafka_proxy::shutdown_signal()));
    // Kafka client calls still blocked on an unreachable cluster (a consumer's close, a flush) must
    // not hold the exit: `serve` already waited for them as long as shutdown.graceful.ms allows.
    runtime.shutdown_timeout(std::time::Duration::from_millis(100));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(if err.is::<kafka_proxy::kafka::Error>() {
                2
            } else {
                1
            })
        }
    }
}
