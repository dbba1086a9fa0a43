//! `loadgen`: parse the command line, run or re-render, exit non-zero when a gate fails.

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use loadgen::measure::Summary;
use loadgen::report;
use loadgen::scenario::Scenario;

/// REST proxy vs native Kafka, measured side by side.
#[derive(Parser)]
#[command(version)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run a scenario and write summary.json and index.html.
    Run {
        scenario: PathBuf,
        /// Use this Kafka cluster instead of starting a local Tansu broker.
        #[arg(long)]
        bootstrap_servers: Option<String>,
        /// Use this REST proxy instead of starting kafka-proxy.
        #[arg(long)]
        proxy_url: Option<String>,
        /// Parent directory of the report directory.
        #[arg(long, default_value = "reports")]
        out: PathBuf,
    },
    /// Re-render the report of a summary.json.
    Report {
        summary: PathBuf,
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Check a summary.json against its scenario's gates.
    Gate { summary: PathBuf },
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
        Cmd::Run {
            scenario,
            bootstrap_servers,
            proxy_url,
            out,
        } => {
            let scenario = Scenario::load(&scenario)?;
            let summary = loadgen::run(scenario, bootstrap_servers, proxy_url).await?;
            let dir = report::write(&summary, &out)?;
            print!("{}", report::terminal(&summary));
            println!("report: {}", dir.join("index.html").display());
            Ok(report::print_failures(&summary))
        }
        Cmd::Report { summary, out } => {
            let s = read_summary(&summary)?;
            let dir =
                out.unwrap_or_else(|| summary.parent().map(PathBuf::from).unwrap_or_default());
            std::fs::create_dir_all(&dir)?;
            report::write_into(&s, &dir)?;
            print!("{}", report::terminal(&s));
            Ok(true)
        }
        Cmd::Gate { summary } => {
            let mut s = read_summary(&summary)?;
            s.gates = report::evaluate_gates(&s);
            Ok(report::print_failures(&s))
        }
    }
}

fn read_summary(path: &PathBuf) -> anyhow::Result<Summary> {
    let text =
        std::fs::read_to_string(path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    Ok(serde_json::from_str(&text)?)
}
