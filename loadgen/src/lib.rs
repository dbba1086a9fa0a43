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
pub mod sweep;
pub mod targets;

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use measure::{Check, Machine, PeerRatio, PhaseResult, Progress, Summary};
use scenario::{Format, Phase, Scenario, Workload};
use targets::Targets;

/// Runs a scenario end to end and returns its summary (gates evaluated, nothing written).
/// Another REST proxy measured with the same workload (e.g. Confluent's, Karapace).
#[derive(Debug, Clone)]
pub struct Peer {
    pub name: String,
    /// A REST base URL, or for MQTT the listener's `HOST:PORT`.
    pub url: String,
    /// Publishes over MQTT at this QoS instead of REST.
    pub mqtt_qos: Option<u8>,
}

/// The cluster a run measures: one given by address, or one started for the run.
#[derive(Debug, Clone)]
pub enum BrokerTarget {
    Existing(String),
    Start(local_broker::BrokerKind),
}

/// `schema_registry_url`: the registry the proxy uses (Avro workloads; see [`Targets::start`]).
pub async fn run(
    scenario: Scenario,
    bootstrap: BrokerTarget,
    proxy_url: Option<String>,
    schema_registry_url: Option<String>,
    peers: Vec<Peer>,
) -> anyhow::Result<Summary> {
    let started_at = humantime::format_rfc3339_seconds(SystemTime::now()).to_string();
    let needs_registry = scenario.workload.format == Format::Avro;
    let w = scenario.workload.clone();
    let tag = format!("{}-{}", scenario.name, std::process::id());
    // MQTT drivers publish on `lg/<driver>-<round>/...`; the proxy maps each to its Kafka topic.
    let mqtt_drivers: Vec<(String, u8)> = w
        .mqtt_qos
        .iter()
        .map(|q| (format!("mqtt-qos{q}"), *q))
        .collect();
    let mqtt = (!mqtt_drivers.is_empty()).then(|| targets::Mqtt {
        rules: (0..w.rounds)
            .flat_map(|round| {
                let tag = &tag;
                mqtt_drivers.iter().map(move |(name, _)| {
                    format!("loadgen-{tag}-{name}-{round}:lg/{name}-{round}/.*")
                })
            })
            .collect::<Vec<_>>()
            .join(","),
        receive_maximum: w.mqtt_receive_maximum,
    });
    let mut targets = Targets::start(
        bootstrap,
        proxy_url,
        schema_registry_url,
        needs_registry,
        mqtt,
    )
    .await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let proxy_rss_idle_bytes = targets.proxy_rss();

    if let Some(sw) = scenario.sweep.clone() {
        let (phases, points, checks) = sweep::run(&scenario, &sw, &targets, &tag).await?;
        targets.stop().await;
        let mut summary = new_summary(
            scenario,
            started_at,
            &targets,
            proxy_rss_idle_bytes,
            phases,
            checks,
        );
        summary.produce_ratio = sweep::capacity_ratio(&points).unwrap_or(0.0);
        summary.sweep = points;
        summary.gates = report::evaluate_gates(&summary, None);
        return Ok(summary);
    }
    let warmup_topic = format!("loadgen-{tag}-warmup");
    targets.create_topic(&warmup_topic, w.partitions).await?;

    // Produce rounds alternate the drivers (ABBA...), so drift in the machine's speed during the
    // run affects both alike; the produce ratio is the median of the rounds' paired ratios.
    // Every REST endpoint measured: this project's proxy ("rest"), then the peers.
    let mut endpoints = match &targets.mqtt_addr {
        Some(addr) => mqtt_drivers
            .iter()
            .map(|(name, q)| Peer {
                name: name.clone(),
                url: addr.clone(),
                mqtt_qos: Some(*q),
            })
            .collect(),
        None => vec![Peer {
            name: "rest".into(),
            url: targets.proxy_url.clone(),
            mqtt_qos: None,
        }],
    };
    endpoints.extend(peers);
    let mut rounds: Vec<Round> = Vec::new();
    for round in 0..w.rounds {
        let native_topic = format!("loadgen-{tag}-native-{round}");
        targets.create_topic(&native_topic, w.partitions).await?;
        let mut rest = Vec::new();
        for e in &endpoints {
            let topic = format!("loadgen-{tag}-{}-{round}", e.name);
            targets.create_topic(&topic, w.partitions).await?;
            rest.push((e.clone(), topic));
        }
        // Turns rotate every round (ABBA for one proxy) so drift hits every driver alike.
        let turns = rest.len() + 1;
        let mut native = None;
        let mut measured = vec![None; rest.len()];
        for k in 0..turns {
            let turn = if round % 2 == 0 { k } else { turns - 1 - k };
            let p = Arc::new(Progress::default());
            let topic = if turn == 0 {
                native_topic.clone()
            } else {
                rest[turn - 1].1.clone()
            };
            let e2e = w
                .rate_records_per_s
                .is_some()
                .then(|| EndToEnd::start(&targets.bootstrap, &topic, &w));
            if turn == 0 {
                say(&format!(
                    "round {}/{}: native produce, {} {} records of {}",
                    round + 1,
                    w.rounds,
                    w.records,
                    w.format.name(),
                    w.value_sizes()
                ));
                let run = drivers::native::produce(
                    &targets.bootstrap,
                    targets.schema_registry_url.as_deref(),
                    &native_topic,
                    &warmup_topic,
                    &w,
                    p.clone(),
                );
                native = Some(EndToEnd::attach(e2e, observe(&targets, &w, &p, run).await?).await?);
            } else {
                let (e, topic) = &rest[turn - 1];
                let result = if let Some(qos) = e.mqtt_qos {
                    say(&format!(
                        "round {}/{}: {} produce, {} records of {}, {} MQTT clients",
                        round + 1,
                        w.rounds,
                        e.name,
                        w.records,
                        w.value_sizes(),
                        w.concurrency
                    ));
                    let prefix = format!("lg/{}-{round}", e.name);
                    let run = drivers::mqtt::produce(&e.name, &e.url, &prefix, qos, &w, p.clone());
                    let mut result = observe(&targets, &w, &p, run).await?;
                    if qos == 0 {
                        // QoS 0's series counts publishes as the proxy reads them, which socket
                        // buffers front-load; only the whole window (to each client's fence
                        // PUBACK) says when the records were in Kafka.
                        result.steady_records_per_s = None;
                    }
                    result
                } else {
                    say(&format!(
                        "round {}/{}: {} produce, {} {} records per request, {} clients",
                        round + 1,
                        w.rounds,
                        e.name,
                        w.format.name(),
                        w.records_per_request,
                        w.concurrency
                    ));
                    let run = drivers::rest::produce(
                        &e.name,
                        &e.url,
                        topic,
                        &warmup_topic,
                        &w,
                        p.clone(),
                    );
                    observe(&targets, &w, &p, run).await?
                };
                measured[turn - 1] = Some(EndToEnd::attach(e2e, result).await?);
            }
        }
        let rest = rest
            .into_iter()
            .zip(measured)
            .map(|((e, topic), r)| (e.name, r.expect("ran"), topic))
            .collect();
        rounds.push(Round {
            native: native.expect("ran"),
            rest,
        });
    }
    let consume_topic = format!("loadgen-{tag}-native-0");
    let expected = rounds[0].native.records;
    let mut consumed = Vec::new();
    if w.phases.contains(&Phase::Consume) {
        say(&format!(
            "native consume: {expected} records, {} consumers",
            w.consumers
        ));
        let p = Arc::new(Progress::default());
        let run =
            drivers::native::consume(&targets.bootstrap, &consume_topic, &w, expected, p.clone());
        consumed.push(observe(&targets, &w, &p, run).await?);
        for e in &endpoints {
            say(&format!("{} consume: max_bytes {}", e.name, w.max_bytes));
            let p = Arc::new(Progress::default());
            let run =
                drivers::rest::consume(&e.name, &e.url, &consume_topic, &w, expected, p.clone());
            consumed.push(observe(&targets, &w, &p, run).await?);
        }
    }
    say("verifying delivery");
    let mut checks = Vec::new();
    for (i, round) in rounds.iter().enumerate() {
        let n = i + 1;
        let native = &round.native;
        checks.push(check(
            &format!("round {n}: native produce: no errors"),
            native.errors == 0,
            format!("{} errors", native.errors),
        ));
        for (name, r, topic) in &round.rest {
            let (stored, checksum) =
                drivers::native::verify(&targets.bootstrap, topic, w.partitions, r.records).await?;
            checks.push(check(
                &format!(
                    "round {n}: {name} produce: every acknowledged record is in Kafka exactly once"
                ),
                r.errors == 0 && stored == w.records && checksum == r.checksum,
                format!(
                    "{} acknowledged, {stored} stored, checksums {} / {checksum}",
                    r.records, r.checksum
                ),
            ));
        }
    }
    targets.stop().await;
    let first_native = rounds[0].native.clone();
    let mut phases = vec![measure::merge_rounds(
        rounds.iter().map(|r| r.native.clone()).collect(),
    )];
    let mut ratios = Vec::new();
    for (i, e) in endpoints.iter().enumerate() {
        let paired: Vec<f64> = rounds
            .iter()
            .map(|r| r.rest[i].1.ratio_to(&r.native))
            .collect();
        let median = measure::median(&paired).expect("at least one round");
        ratios.push((e.name.clone(), median, paired));
        phases.push(measure::merge_rounds(
            rounds.iter().map(|r| r.rest[i].1.clone()).collect(),
        ));
    }
    let mut consume_ratios = vec![None; endpoints.len()];
    if let Some((native_consume, rest)) = consumed.split_first() {
        checks.push(same_data("native consume", native_consume, &first_native));
        for (i, r) in rest.iter().enumerate() {
            checks.push(same_data(
                &format!("{} consume", r.driver),
                r,
                &first_native,
            ));
            consume_ratios[i] = Some(r.ratio_to(native_consume));
        }
        phases.extend(consumed.iter().cloned());
    }
    let (_, produce_ratio, round_ratios) = ratios[0].clone();
    let consume_ratio = consume_ratios[0];
    let peer_ratios = ratios
        .iter()
        .zip(&consume_ratios)
        .skip(1)
        .map(|((name, produce, _), consume)| PeerRatio {
            name: name.clone(),
            produce: *produce,
            consume: *consume,
        })
        .collect();
    let mut summary = new_summary(
        scenario,
        started_at,
        &targets,
        proxy_rss_idle_bytes,
        phases,
        checks,
    );
    summary.produce_ratio = produce_ratio;
    summary.produce_round_ratios = round_ratios;
    summary.peers = peer_ratios;
    summary.consume_ratio = consume_ratio;
    summary.gates = report::evaluate_gates(&summary, None);
    Ok(summary)
}

/// A summary with the run's facts; ratios, sweep points and gates are filled in by the caller.
fn new_summary(
    scenario: Scenario,
    started_at: String,
    targets: &Targets,
    proxy_rss_idle_bytes: Option<u64>,
    phases: Vec<PhaseResult>,
    checks: Vec<Check>,
) -> Summary {
    Summary {
        scenario,
        started_at,
        git_commit: git_commit(),
        machine: Machine::current(),
        bootstrap_servers: targets.bootstrap.clone(),
        proxy_url: targets.proxy_url.clone(),
        proxy_rss_idle_bytes,
        phases,
        produce_ratio: 0.0,
        produce_round_ratios: Vec::new(),
        peers: Vec::new(),
        sweep: Vec::new(),
        consume_ratio: None,
        checks,
        gates: Vec::new(),
    }
}

/// A consumer reading a topic while it is produced (open-loop runs), for end-to-end latency.
struct EndToEnd {
    stop: Arc<std::sync::atomic::AtomicBool>,
    reader: tokio::task::JoinHandle<anyhow::Result<measure::Recorder>>,
}

impl EndToEnd {
    fn start(bootstrap: &str, topic: &str, w: &Workload) -> EndToEnd {
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (bootstrap, topic, partitions, records) = (
            bootstrap.to_string(),
            topic.to_string(),
            w.partitions,
            w.records,
        );
        let flag = stop.clone();
        let reader = tokio::task::spawn_blocking(move || {
            drivers::native::end_to_end(
                &bootstrap,
                &topic,
                partitions,
                records,
                &flag,
                Duration::from_secs(10),
            )
        });
        EndToEnd { stop, reader }
    }

    /// Stops the reader once the produce phase is over and attaches what it measured.
    async fn attach(e2e: Option<EndToEnd>, mut result: PhaseResult) -> anyhow::Result<PhaseResult> {
        if let Some(e) = e2e {
            e.stop.store(true, Ordering::Relaxed);
            result.end_to_end = Some(e.reader.await??.summary());
        }
        Ok(result)
    }
}

/// One produce round: the native run and each REST endpoint's (name, result, topic).
struct Round {
    native: PhaseResult,
    rest: Vec<(String, PhaseResult, String)>,
}

pub(crate) fn say(msg: &str) {
    eprintln!("loadgen: {msg}");
}

pub(crate) fn check(name: &str, passed: bool, detail: String) -> Check {
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
pub(crate) async fn observe<F>(
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
