//! `loadgen`: measures Kafka through the REST proxy against native Kafka clients, on the same
//! broker with the same workload in the same run, and checks the ratios against gates.
//!
//! [`scenario`] reads the TOML workload; [`targets`] starts (or points at) the broker and proxy;
//! [`drivers`] run the workload natively and over REST; [`measure`] holds the µs histograms and
//! the `summary.json` types; [`report`] renders the terminal table and the HTML report.

pub mod drivers;
pub mod measure;
pub mod report;
pub mod scenario;
pub mod targets;

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use measure::{Check, Machine, PhaseResult, Summary};
use scenario::{Phase, Scenario};
use targets::Targets;

/// Runs a scenario end to end and returns its summary (gates evaluated, nothing written).
pub async fn run(
    scenario: Scenario,
    bootstrap: Option<String>,
    proxy_url: Option<String>,
) -> anyhow::Result<Summary> {
    let started_at = humantime::format_rfc3339_seconds(SystemTime::now()).to_string();
    let mut targets = Targets::start(bootstrap, proxy_url).await?;
    let w = scenario.workload.clone();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let proxy_rss_idle_bytes = targets.proxy_rss();

    let tag = format!("{}-{}", scenario.name, std::process::id());
    let (native_topic, rest_topic) = (
        format!("loadgen-{tag}-native"),
        format!("loadgen-{tag}-rest"),
    );
    let warmup_topic = format!("loadgen-{tag}-warmup");
    for topic in [&native_topic, &rest_topic, &warmup_topic] {
        targets.create_topic(topic, w.partitions).await?;
    }

    progress(&format!(
        "native produce: {} records of {} B",
        w.records, w.value_bytes
    ));
    let native_produce =
        drivers::native::produce(&targets.bootstrap, &native_topic, &warmup_topic, &w).await?;
    progress(&format!(
        "REST produce: {} records per request, {} clients",
        w.records_per_request, w.concurrency
    ));
    let rest_produce = sampling_rss(
        &targets,
        drivers::rest::produce(&targets.proxy_url, &rest_topic, &warmup_topic, &w),
    )
    .await?;
    let expected = native_produce.records;
    let consumed = if w.phases.contains(&Phase::Consume) {
        progress(&format!(
            "native consume: {expected} records, {} consumers",
            w.consumers
        ));
        let native =
            drivers::native::consume(&targets.bootstrap, &native_topic, &w, expected).await?;
        progress(&format!("REST consume: max_bytes {}", w.max_bytes));
        let rest_consume = drivers::rest::consume(&targets.proxy_url, &native_topic, &w, expected);
        Some((native, sampling_rss(&targets, rest_consume).await?))
    } else {
        None
    };
    progress("verifying delivery");
    let (rest_stored, rest_checksum) = drivers::native::verify(
        &targets.bootstrap,
        &rest_topic,
        w.partitions,
        rest_produce.records,
    )
    .await?;

    let mut checks = vec![
        check(
            "native produce: no errors",
            native_produce.errors == 0,
            format!("{} errors", native_produce.errors),
        ),
        check(
            "REST produce: every acknowledged record is in Kafka exactly once",
            rest_produce.errors == 0
                && rest_stored == w.records
                && rest_checksum == rest_produce.checksum,
            format!(
                "{} acknowledged, {rest_stored} stored, checksums {} / {rest_checksum}",
                rest_produce.records, rest_produce.checksum
            ),
        ),
    ];
    targets.stop().await;
    let produce_ratio = rest_produce.records_per_s / native_produce.records_per_s;
    let mut consume_ratio = None;
    let mut phases = vec![native_produce, rest_produce];
    if let Some((native_consume, rest_consume)) = consumed {
        checks.push(same_data("native consume", &native_consume, &phases[0]));
        checks.push(same_data("REST consume", &rest_consume, &phases[0]));
        consume_ratio = Some(rest_consume.records_per_s / native_consume.records_per_s);
        phases.extend([native_consume, rest_consume]);
    }
    let mut summary = Summary {
        scenario,
        started_at,
        git_commit: git_commit(),
        machine: Machine::current(),
        bootstrap_servers: targets.bootstrap.clone(),
        proxy_url: targets.proxy_url.clone(),
        proxy_rss_idle_bytes,
        phases,
        produce_ratio,
        consume_ratio,
        checks,
        gates: Vec::new(),
    };
    summary.gates = report::evaluate_gates(&summary);
    Ok(summary)
}

fn progress(msg: &str) {
    eprintln!("loadgen: {msg}");
}

fn check(name: &str, passed: bool, detail: String) -> Check {
    Check {
        name: name.to_string(),
        passed,
        detail,
    }
}

fn same_data(name: &str, read: &PhaseResult, written: &PhaseResult) -> Check {
    check(
        &format!("{name}: read every produced record once"),
        read.records == written.records && read.checksum == written.checksum,
        format!(
            "{} read of {}, checksums {} / {}",
            read.records, written.records, read.checksum, written.checksum
        ),
    )
}

/// Runs a phase while sampling the local proxy's resident memory every 50 ms.
async fn sampling_rss<F>(targets: &Targets, phase: F) -> anyhow::Result<PhaseResult>
where
    F: Future<Output = anyhow::Result<PhaseResult>>,
{
    let max = Arc::new(AtomicU64::new(0));
    let sampler = async {
        let mut tick = tokio::time::interval(Duration::from_millis(50));
        loop {
            tick.tick().await;
            if let Some(rss) = targets.proxy_rss() {
                max.fetch_max(rss, Ordering::Relaxed);
            }
        }
    };
    let mut result = tokio::select! {
        r = phase => r?,
        _ = sampler => unreachable!("the sampler never ends"),
    };
    result.proxy_rss_max_bytes = Some(max.load(Ordering::Relaxed)).filter(|&m| m > 0);
    Ok(result)
}

fn git_commit() -> Option<String> {
    let out = std::process::Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}
