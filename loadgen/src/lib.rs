//! `loadgen`: measures Kafka through the REST proxy against native Kafka clients, on the same
//! broker with the same workload in the same run, and checks the ratios against gates.
//!
//! [`scenario`] reads the TOML workload; [`targets`] starts (or points at) the broker and proxy;
//! [`drivers`] run the workload natively and over REST; [`measure`] holds the µs histograms and
//! the `summary.json` types; [`report`] renders the terminal table and the HTML report.

pub mod charts;
pub mod drivers;
pub mod measure;
pub mod merge;
pub mod report;
pub mod scenario;
pub mod targets;

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use measure::{Check, Machine, PhaseResult, Progress, Summary};
use scenario::{Phase, Scenario, Workload};
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
    let warmup_topic = format!("loadgen-{tag}-warmup");
    targets.create_topic(&warmup_topic, w.partitions).await?;

    // Produce rounds alternate the drivers (ABBA...), so drift in the machine's speed during the
    // run affects both alike; the produce ratio is the median of the rounds' paired ratios.
    let mut rounds: Vec<(PhaseResult, PhaseResult, String)> = Vec::new();
    for round in 0..w.rounds {
        let (native_topic, rest_topic) = (
            format!("loadgen-{tag}-native-{round}"),
            format!("loadgen-{tag}-rest-{round}"),
        );
        targets.create_topic(&native_topic, w.partitions).await?;
        targets.create_topic(&rest_topic, w.partitions).await?;
        let native_first = round % 2 == 0;
        let mut native = None;
        let mut rest = None;
        for native_turn in [native_first, !native_first] {
            let p = Arc::new(Progress::default());
            if native_turn {
                say(&format!(
                    "round {}/{}: native produce, {} records of {} B",
                    round + 1,
                    w.rounds,
                    w.records,
                    w.value_bytes
                ));
                let run = drivers::native::produce(
                    &targets.bootstrap,
                    &native_topic,
                    &warmup_topic,
                    &w,
                    p.clone(),
                );
                native = Some(observe(&targets, &w, &p, run).await?);
            } else {
                say(&format!(
                    "round {}/{}: REST produce, {} records per request, {} clients",
                    round + 1,
                    w.rounds,
                    w.records_per_request,
                    w.concurrency
                ));
                let run = drivers::rest::produce(
                    &targets.proxy_url,
                    &rest_topic,
                    &warmup_topic,
                    &w,
                    p.clone(),
                );
                rest = Some(observe(&targets, &w, &p, run).await?);
            }
        }
        let (native, rest) = (native.expect("ran"), rest.expect("ran"));
        rounds.push((native, rest, rest_topic));
    }
    let consume_topic = format!("loadgen-{tag}-native-0");
    let expected = rounds[0].0.records;
    let consumed = if w.phases.contains(&Phase::Consume) {
        say(&format!(
            "native consume: {expected} records, {} consumers",
            w.consumers
        ));
        let p = Arc::new(Progress::default());
        let run =
            drivers::native::consume(&targets.bootstrap, &consume_topic, &w, expected, p.clone());
        let native = observe(&targets, &w, &p, run).await?;
        say(&format!("REST consume: max_bytes {}", w.max_bytes));
        let p = Arc::new(Progress::default());
        let run =
            drivers::rest::consume(&targets.proxy_url, &consume_topic, &w, expected, p.clone());
        Some((native, observe(&targets, &w, &p, run).await?))
    } else {
        None
    };
    say("verifying delivery");
    let mut checks = Vec::new();
    for (i, (native, rest, rest_topic)) in rounds.iter().enumerate() {
        let (stored, checksum) =
            drivers::native::verify(&targets.bootstrap, rest_topic, w.partitions, rest.records)
                .await?;
        let n = i + 1;
        checks.push(check(
            &format!("round {n}: native produce: no errors"),
            native.errors == 0,
            format!("{} errors", native.errors),
        ));
        checks.push(check(
            &format!("round {n}: REST produce: every acknowledged record is in Kafka exactly once"),
            rest.errors == 0 && stored == w.records && checksum == rest.checksum,
            format!(
                "{} acknowledged, {stored} stored, checksums {} / {checksum}",
                rest.records, rest.checksum
            ),
        ));
    }
    targets.stop().await;
    let mut ratios: Vec<f64> = rounds.iter().map(|(n, r, _)| r.rate() / n.rate()).collect();
    ratios.sort_by(f64::total_cmp);
    let produce_ratio = ratios[ratios.len() / 2];
    let round_ratios = rounds.iter().map(|(n, r, _)| r.rate() / n.rate()).collect();
    let first_native = rounds[0].0.clone();
    let (natives, rests): (Vec<_>, Vec<_>) = rounds.into_iter().map(|(n, r, _)| (n, r)).unzip();
    let mut phases = vec![measure::merge_rounds(natives), measure::merge_rounds(rests)];
    let mut consume_ratio = None;
    if let Some((native_consume, rest_consume)) = consumed {
        checks.push(same_data("native consume", &native_consume, &first_native));
        checks.push(same_data("REST consume", &rest_consume, &first_native));
        consume_ratio = Some(rest_consume.rate() / native_consume.rate());
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
        produce_round_ratios: round_ratios,
        consume_ratio,
        checks,
        gates: Vec::new(),
    };
    summary.gates = report::evaluate_gates(&summary, None);
    Ok(summary)
}

fn say(msg: &str) {
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

/// Runs a phase while sampling its progress (for the time series and the steady-state rate) and
/// the local proxy's resident memory, every 20 ms.
async fn observe<F>(
    targets: &Targets,
    w: &Workload,
    progress: &Progress,
    phase: F,
) -> anyhow::Result<PhaseResult>
where
    F: Future<Output = anyhow::Result<PhaseResult>>,
{
    let max_rss = AtomicU64::new(0);
    let samples = std::sync::Mutex::new(vec![(0.0, 0u64)]);
    let sampler = async {
        let mut tick = tokio::time::interval(Duration::from_millis(20));
        loop {
            tick.tick().await;
            if let Some(rss) = targets.proxy_rss() {
                max_rss.fetch_max(rss, Ordering::Relaxed);
            }
            if let Some(sample) = progress.sample() {
                samples.lock().expect("poisoned").push(sample);
            }
        }
    };
    let mut result = tokio::select! {
        r = phase => r?,
        _ = sampler => unreachable!("the sampler never ends"),
    };
    let mut samples = samples.into_inner().expect("poisoned");
    // The window ends when the driver's clock stopped, with everything counted.
    samples.retain(|(t, _)| *t < result.elapsed_s);
    samples.push((result.elapsed_s, result.records));
    result.series = measure::buckets(&samples, w.bucket_ms as f64 / 1000.0);
    result.steady_records_per_s = measure::steady_rate(&samples, w.warmup_ms as f64 / 1000.0);
    result.proxy_rss_max_bytes = Some(max_rss.load(Ordering::Relaxed)).filter(|&m| m > 0);
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
