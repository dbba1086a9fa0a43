//! `loadgen`: parse the command line, run or re-render, exit non-zero when a gate fails.

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use loadgen::scenario::Scenario;
use loadgen::summary::Summary;
use loadgen::{gates, report};

/// REST proxy vs native Kafka, measured side by side.
#[derive(Parser)]
#[command(
    version,
    after_help = "Exit status: 0 every gate and check passed; 1 a gate or a delivery check failed \
                  (one line names each); 2 an error stopped the run (bad scenario, unreachable \
                  broker or proxy, a phase timed out)."
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run a scenario and write summary.json and index.html.
    Run {
        scenario: PathBuf,
        /// Use this Kafka cluster instead of starting a broker.
        #[arg(long, conflicts_with = "broker")]
        bootstrap_servers: Option<String>,
        /// The broker to start when no --bootstrap-servers is given: `tansu` (local, default),
        /// `mock` (librdkafka's mock cluster in a process of its own: a fetch path that keeps up
        /// with consumers; at most 5 MiB kept per partition), `tansu-tls` (Tansu behind a stunnel
        /// TLS terminator: every client connects with TLS), `tansu-sasl` (Tansu behind a SASL
        /// front: SCRAM-SHA-512 on every connection), `tansu-sasl-ssl` (both: SASL_SSL) or
        /// `docker` (Apache Kafka through testcontainers; needs a Docker engine).
        #[arg(long, value_parser = parse_broker)]
        broker: Option<local_broker::BrokerKind>,
        /// Use this REST proxy instead of starting kafka-proxy.
        #[arg(long)]
        proxy_url: Option<String>,
        /// The Schema Registry for schema workloads (Avro, JSON Schema, Protobuf): the one
        /// --proxy-url uses (required with it), or an external one for the kafka-proxy started
        /// here (default: its built-in registry on a free loopback port).
        #[arg(long)]
        schema_registry_url: Option<String>,
        /// Also measure another REST proxy on the same cluster, as NAME=URL (repeatable).
        #[arg(long = "peer", value_name = "NAME=URL")]
        peers: Vec<String>,
        /// Parent directory of the report directory.
        #[arg(long, default_value = "reports")]
        out: PathBuf,
        /// Prefix of every topic the run creates (overrides workload.topic_prefix).
        #[arg(long)]
        topic_prefix: Option<String>,
        /// Replication factor of the topics the run creates (overrides
        /// workload.replication_factor; a real cluster usually wants 3).
        #[arg(long)]
        replication_factor: Option<i32>,
        /// Keep the topics the run created (each produce round's are deleted once read back, and
        /// the rest at the end on a --bootstrap-servers cluster, otherwise).
        #[arg(long)]
        keep_topics: bool,
        /// A librdkafka client property for every client of the run, as KEY=VALUE (repeatable),
        /// e.g. `-X security.protocol=SASL_SSL`: the native producer and consumers, the harness's
        /// admin client, and the kafka-proxy it starts (as `client.KEY`). Over --client-config.
        #[arg(short = 'X', value_name = "KEY=VALUE")]
        client_property: Vec<String>,
        /// A properties file of such client properties (KEY=VALUE lines, `#` comments).
        #[arg(long, value_name = "FILE")]
        client_config: Option<PathBuf>,
    },
    /// Re-render one summary.json, or merge several from concurrent runs on several machines
    /// (throughputs add up, histograms merge exactly) into one report.
    Report {
        #[arg(required = true)]
        summaries: Vec<PathBuf>,
        /// Where to write; default: beside a single summary, or reports/<name>-merged-<n>-<time>.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Check a summary.json against its scenario's gates, and against a baseline summary for the
    /// max_regression gate.
    Gate {
        summary: PathBuf,
        /// A baseline summary.json: each driver's rate may drop at most the scenario's
        /// gates.max_regression against it (required with --baseline; an error without).
        #[arg(long)]
        baseline: Option<PathBuf>,
    },
    /// Serves librdkafka's mock cluster until standard input closes (what `--broker mock` starts).
    #[command(hide = true)]
    MockBroker,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match run(Cli::parse()).await {
        Ok(true) => std::process::ExitCode::SUCCESS,
        Ok(false) => std::process::ExitCode::from(1),
        Err(err) => {
            eprintln!("loadgen: error: {err:#}");
            std::process::ExitCode::from(2)
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<bool> {
    match cli.command {
        Cmd::MockBroker => {
            tokio::task::spawn_blocking(local_broker::mock::serve).await??;
            Ok(true)
        }
        Cmd::Run {
            scenario,
            bootstrap_servers,
            broker,
            proxy_url,
            schema_registry_url,
            peers,
            out,
            topic_prefix,
            replication_factor,
            keep_topics,
            client_property,
            client_config,
        } => {
            let mut scenario = Scenario::load(&scenario)?;
            let mut settings = match &client_config {
                Some(path) => loadgen::scenario::client_properties(
                    &std::fs::read_to_string(path)
                        .map_err(|e| anyhow::anyhow!("--client-config {}: {e}", path.display()))?,
                )
                .map_err(|e| anyhow::anyhow!("--client-config {}: {e}", path.display()))?,
                None => Default::default(),
            };
            for p in &client_property {
                let (k, v) = p
                    .split_once('=')
                    .ok_or_else(|| anyhow::anyhow!("-X {p}: expected KEY=VALUE"))?;
                settings.insert(k.trim().to_string(), v.trim().to_string());
            }
            scenario.clients.apply_to_all(&settings);
            let target = match bootstrap_servers {
                Some(b) => loadgen::BrokerTarget::Existing(b),
                None => loadgen::BrokerTarget::Start(match (broker, &scenario.broker) {
                    (Some(kind), _) => kind,
                    (None, Some(name)) => {
                        local_broker::BrokerKind::parse(name).map_err(anyhow::Error::msg)?
                    }
                    (None, None) => local_broker::BrokerKind::Tansu,
                }),
            };
            if let Some(prefix) = topic_prefix {
                scenario.workload.topic_prefix = prefix;
            }
            if let Some(rf) = replication_factor {
                scenario.workload.replication_factor = rf;
            }
            scenario.workload.keep_topics |= keep_topics;
            scenario.validate()?;
            let peers = peers
                .iter()
                .map(|p| parse_peer(p))
                .collect::<anyhow::Result<Vec<_>>>()?;
            let summary =
                loadgen::run(scenario, target, proxy_url, schema_registry_url, peers).await?;
            let dir = report::write(&summary, &out)?;
            print!("{}", report::terminal(&summary));
            println!("report: {}", dir.join("index.html").display());
            Ok(gates::print_failures(&summary))
        }
        Cmd::Report { summaries, out } => {
            let single = summaries.len() == 1;
            let parsed = summaries
                .iter()
                .map(read_summary)
                .collect::<anyhow::Result<Vec<_>>>()?;
            let mut s = loadgen::merge::merge(parsed)?;
            s.gates = gates::evaluate_gates(&s, None);
            let dir = match out {
                Some(dir) => {
                    std::fs::create_dir_all(&dir)?;
                    report::write_into(&s, &dir)?;
                    dir
                }
                None if single => {
                    let dir = summaries[0].parent().map(PathBuf::from).unwrap_or_default();
                    report::write_into(&s, &dir)?;
                    dir
                }
                None => report::write(&s, std::path::Path::new("reports"))?,
            };
            print!("{}", report::terminal(&s));
            println!("report: {}", dir.join("index.html").display());
            Ok(gates::print_failures(&s))
        }
        Cmd::Gate { summary, baseline } => {
            let mut s = read_summary(&summary)?;
            let baseline = baseline.as_ref().map(read_summary).transpose()?;
            anyhow::ensure!(
                baseline.is_none() || s.scenario.gates.max_regression.is_some(),
                "--baseline needs a regression bound: set gates.max_regression in the scenario \
                 (e.g. 0.10 fails a run 10% slower than the baseline)"
            );
            s.gates = gates::evaluate_gates(&s, baseline.as_ref());
            for g in &s.gates {
                println!(
                    "{} {}: measured {:.3}, bound {:.3} ({})",
                    if g.passed { "ok  " } else { "FAIL" },
                    g.name,
                    g.value,
                    g.bound,
                    g.basis
                );
            }
            Ok(gates::print_failures(&s))
        }
    }
}

fn parse_peer(p: &str) -> anyhow::Result<loadgen::Peer> {
    match p.split_once('=') {
        Some((name, url))
            if !name.is_empty()
                && ![
                    "rest",
                    loadgen::run::V2_PEER,
                    loadgen::run::BINARY_PEER,
                    "native",
                    loadgen::run::NATIVE_BINARY,
                    "nginx",
                ]
                .contains(&name)
                && url.starts_with("http") =>
        {
            Ok(loadgen::Peer {
                name: name.to_string(),
                url: url.trim_end_matches('/').to_string(),
                mqtt_qos: None,
                api: loadgen::RestApi::V2,
                ceiling: false,
                relay: None,
                format: None,
                server_pid: None,
            })
        }
        _ => anyhow::bail!(
            "--peer expects NAME=URL (a name other than rest, rest-v2, rest-binary, native, native-binary or nginx; an http URL), got `{p}`"
        ),
    }
}

fn read_summary(path: &PathBuf) -> anyhow::Result<Summary> {
    let text =
        std::fs::read_to_string(path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    Ok(serde_json::from_str(&text)?)
}

fn parse_broker(name: &str) -> Result<local_broker::BrokerKind, String> {
    local_broker::BrokerKind::parse(name)
}
