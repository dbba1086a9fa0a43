//! One comparison run: produce rounds alternating the drivers until the headline ratio's 95%
//! interval settles (or the round budget is spent), consume rounds the same way on a topic
//! filled once, then delivery checks, the `wrk` cross-check (a turn of every produce round),
//! and the summary.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::ceiling::Nginx;
use crate::interval::{enough_rounds, Interval};
use crate::measure::{self, PhaseResult, Progress};
use crate::phase::{check, observe, say};
use crate::scenario::{Format, Phase, Scenario, Workload};
use crate::summary::{
    AddedLatency, Ceiling, Check, CpuRatios, Crosscheck, Environment, Machine, PeerRatio, Summary,
};
use crate::targets::Targets;
use crate::wrk::{Wrk, WrkResult};
use crate::{drivers, report, sweep, BrokerTarget, Peer};

/// Runs a scenario end to end and returns its summary (gates evaluated, nothing written).
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
    let mut w = scenario.workload.clone();
    let tag = format!("{}-{}", scenario.name, std::process::id());
    let prefix = format!("{}{tag}", w.topic_prefix);
    // MQTT drivers publish on `lg/<driver>-<round>/...`; the proxy maps each to its Kafka topic.
    let mqtt_drivers: Vec<(String, u8)> = w
        .mqtt_qos
        .iter()
        .map(|q| (format!("mqtt-qos{q}"), *q))
        .collect();
    let mqtt = (!mqtt_drivers.is_empty()).then(|| crate::targets::Mqtt {
        rules: (0..w.max_rounds())
            .flat_map(|round| {
                let prefix = &prefix;
                mqtt_drivers
                    .iter()
                    .map(move |(name, _)| format!("{prefix}-{name}-{round}:lg/{name}-{round}/.*"))
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
        &scenario.clients,
        w.replication_factor,
    )
    .await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let proxy_rss_idle_bytes = targets.proxy_rss();
    let result = compare(
        &scenario,
        &mut w,
        &mut targets,
        &prefix,
        &mqtt_drivers,
        peers,
    )
    .await;
    if !w.keep_topics && !targets.broker_started_here() {
        say(&targets.delete_created_topics().await);
    }
    targets.stop().await;
    let (phases, checks, figures) = result?;
    let mut summary = Summary {
        environment: environment(&scenario, &targets),
        scenario,
        started_at,
        git_commit: git_commit(),
        machine: Machine::current(),
        bootstrap_servers: targets.bootstrap.clone(),
        proxy_url: targets.proxy_url.clone(),
        proxy_rss_idle_bytes,
        phases,
        checks,
        ..figures
    };
    summary.scenario.workload.rate_records_per_s = w.rate_records_per_s;
    summary.gates = report::evaluate_gates(&summary, None);
    Ok(summary)
}

/// What [`compare`] measured beyond phases and checks: a summary without the run's facts.
type Measured = (Vec<PhaseResult>, Vec<Check>, Summary);

async fn compare(
    scenario: &Scenario,
    w: &mut Workload,
    targets: &mut Targets,
    prefix: &str,
    mqtt_drivers: &[(String, u8)],
    peers: Vec<Peer>,
) -> anyhow::Result<Measured> {
    let mut figures = Summary::empty(scenario.clone());
    if let Some(sw) = scenario.sweep.clone() {
        let (phases, points, checks) = sweep::run(scenario, &sw, targets, prefix).await?;
        figures.produce_ratio = sweep::capacity_ratio(&points).unwrap_or(0.0);
        figures.sweep = points;
        return Ok((phases, checks, figures));
    }
    let warmup_topic = format!("{prefix}-warmup");
    targets.create_topic(&warmup_topic, w.partitions).await?;

    // Every endpoint measured against native: this project's proxy ("rest") or its MQTT
    // listener, then the peers, then the HTTP ceiling.
    let mut endpoints = match &targets.mqtt_addr {
        Some(addr) => mqtt_drivers
            .iter()
            .map(|(name, q)| Peer {
                name: name.clone(),
                url: addr.clone(),
                mqtt_qos: Some(*q),
                ceiling: false,
            })
            .collect(),
        None => vec![Peer {
            name: "rest".into(),
            url: targets.proxy_url.clone(),
            mqtt_qos: None,
            ceiling: false,
        }],
    };
    endpoints.extend(peers);
    let nginx = match w.http_ceiling {
        true => Some(Nginx::start().await?),
        false => None,
    };
    if let Some(n) = &nginx {
        endpoints.push(Peer {
            name: "nginx".into(),
            url: n.url.clone(),
            mqtt_qos: None,
            ceiling: true,
        });
    }

    if let Some(fraction) = w.rate_of_max {
        w.rate_records_per_s =
            Some(calibrate(w, targets, &endpoints[0], prefix, &warmup_topic, fraction).await?);
    }

    let rounds = produce_rounds(w, targets, &endpoints, prefix, &warmup_topic).await?;
    let consumed = match w.phases.contains(&Phase::Consume) {
        true => Some(consume_rounds(w, targets, &endpoints, prefix, &warmup_topic).await?),
        false => None,
    };

    let mut checks = Vec::new();
    for (i, round) in rounds.iter().enumerate() {
        let n = i + 1;
        let native = &round.native;
        checks.push(check(
            &format!("round {n}: native produce: no errors"),
            native.errors == 0,
            format!("{} errors", native.errors),
        ));
        for ((e, r, _), stored) in round.rest.iter().zip(&round.stored) {
            let Some((stored, checksum)) = *stored else {
                continue;
            };
            checks.push(check(
                &format!(
                    "round {n}: {} produce: every acknowledged record is in Kafka exactly once",
                    e.name
                ),
                r.errors == 0 && stored == w.records && checksum == r.checksum,
                format!(
                    "{} acknowledged, {stored} stored, checksums {} / {checksum}",
                    r.records, r.checksum
                ),
            ));
        }
        if !round.wrk.is_empty() {
            let requests: u64 = round.wrk.iter().map(|t| t.requests).sum();
            let errors: u64 = round.wrk.iter().map(|t| t.errors).sum();
            checks.push(check(
                &format!("round {n}: wrk: every request answered 2xx"),
                errors == 0,
                format!("{requests} requests, {errors} errors"),
            ));
        }
    }

    // Phases: every driver's rounds merged; ratios: medians of the rounds' paired ratios.
    let mut phases = vec![measure::merge_rounds(
        rounds.iter().map(|r| r.native.clone()).collect(),
    )];
    let mut produce = Vec::new();
    for (i, e) in endpoints.iter().enumerate() {
        let paired: Vec<f64> = rounds
            .iter()
            .map(|r| r.rest[i].1.ratio_to(&r.native))
            .collect();
        produce.push((e, paired));
        phases.push(measure::merge_rounds(
            rounds.iter().map(|r| r.rest[i].1.clone()).collect(),
        ));
    }
    let mut consume_ratios: Vec<Option<Vec<f64>>> = vec![None; endpoints.len()];
    if let Some(c) = &consumed {
        phases.push(measure::merge_rounds(c.native.clone()));
        for (i, rest) in c.rest.iter().enumerate() {
            if let Some(rest) = rest {
                consume_ratios[i] = Some(
                    rest.iter()
                        .zip(&c.native)
                        .map(|(r, n)| r.ratio_to(n))
                        .collect(),
                );
                phases.push(measure::merge_rounds(rest.clone()));
            }
        }
        checks.extend(c.checks.iter().cloned());
    }
    let headline = &produce[0].1;
    figures.produce_interval = Interval::of(headline);
    figures.produce_ratio = measure::median(headline).unwrap_or(0.0);
    figures.produce_round_ratios = headline.clone();
    if let Some(Some(c)) = consume_ratios.first() {
        figures.consume_interval = Interval::of(c);
        figures.consume_ratio = measure::median(c);
        figures.consume_round_ratios = c.clone();
    }
    figures.peers = produce
        .iter()
        .zip(&consume_ratios)
        .skip(1)
        .filter(|((e, _), _)| !e.ceiling)
        .map(|((e, paired), consume)| PeerRatio {
            name: e.name.clone(),
            produce: measure::median(paired).unwrap_or(0.0),
            consume: consume.as_ref().and_then(|c| measure::median(c)),
        })
        .collect();
    if let Some(i) = endpoints.iter().position(|e| e.ceiling) {
        // The proxy's rate over nginx's, paired by round.
        let fractions: Vec<f64> = rounds
            .iter()
            .map(|r| r.rest[0].1.ratio_to(&r.rest[i].1))
            .collect();
        let nginx_phase = &phases[1 + i];
        figures.ceiling = Some(Ceiling {
            name: "nginx".into(),
            requests_per_s: nginx_phase.rate() / w.records_per_request as f64,
            fraction: measure::median(&fractions).unwrap_or(0.0),
            interval: Interval::of(&fractions),
            round_fractions: fractions,
        });
    }
    figures.crosscheck = crosscheck(w, &rounds);
    figures.cpu_ratios = CpuRatios::of(&phases, &endpoints[0].name);
    figures.added_latency = added_latency(&phases, &endpoints[0].name, w.rate_records_per_s);
    drop(nginx);
    Ok((phases, checks, figures))
}

/// One produce round: the native run, and each endpoint's (endpoint, result, topic).
struct Round {
    native: PhaseResult,
    rest: Vec<(Peer, PhaseResult, String)>,
    /// What each REST topic held when read back after the round: (records, checksum); None for
    /// the HTTP ceiling, which writes nothing.
    stored: Vec<Option<(u64, u64)>>,
    /// `wrk`'s turns against the proxy, before and after the REST driver's (`wrk_crosscheck`).
    wrk: Vec<WrkResult>,
}

impl Round {
    /// The REST driver's steady requests/s and `wrk`'s (the mean of its turns), when `wrk` ran.
    fn driver_and_wrk(&self, w: &Workload) -> Option<(f64, f64)> {
        if self.wrk.is_empty() {
            return None;
        }
        let driver = self.rest[0].1.rate() / w.records_per_request as f64;
        let wrk = self.wrk.iter().map(|t| t.requests_per_s).sum::<f64>() / self.wrk.len() as f64;
        Some((driver, wrk))
    }
}

/// Who drives in one turn of a produce round.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Turn {
    Native,
    /// `endpoints[i]`.
    Endpoint(usize),
    /// `wrk` against the headline proxy: the REST driver's cross-check.
    Wrk,
}

/// The order of a round's turns: native, the headline endpoint between two turns of `wrk`
/// (the driver is compared with their mean, which cancels the machine's drift over the round
/// when it is linear), then the other endpoints; reversed every other round (ABBA), so that
/// drift hits every driver alike.
fn turn_order(round: u32, endpoints: usize, wrk: bool) -> Vec<Turn> {
    let mut turns = vec![Turn::Native];
    for i in 0..endpoints {
        if i == 0 && wrk {
            turns.extend([Turn::Wrk, Turn::Endpoint(0), Turn::Wrk]);
        } else {
            turns.push(Turn::Endpoint(i));
        }
    }
    if round % 2 == 1 {
        turns.reverse();
    }
    turns
}

/// Produce rounds, the drivers' turns rotating (see [`turn_order`]) until the headline ratio's
/// interval settles, and the cross-check's when `wrk` runs.
async fn produce_rounds(
    w: &Workload,
    targets: &Targets,
    endpoints: &[Peer],
    prefix: &str,
    warmup_topic: &str,
) -> anyhow::Result<Vec<Round>> {
    let wrk_request = match w.wrk_crosscheck {
        true => Some(wrk_request(w)?),
        false => None,
    };
    let mut rounds: Vec<Round> = Vec::new();
    let (mut headline, mut crosscheck) = (Vec::new(), Vec::new());
    for round in 0..w.max_rounds() {
        if stop_rounds(&headline, w) && (crosscheck.is_empty() || stop_rounds(&crosscheck, w)) {
            break;
        }
        let native_topic = format!("{prefix}-native-{round}");
        targets.create_topic(&native_topic, w.partitions).await?;
        let mut rest = Vec::new();
        for e in endpoints {
            let topic = format!("{prefix}-{}-{round}", e.name);
            if !e.ceiling {
                targets.create_topic(&topic, w.partitions).await?;
            }
            rest.push((e.clone(), topic));
        }
        let wrk_topic = format!("{prefix}-wrk-{round}");
        if wrk_request.is_some() {
            targets.create_topic(&wrk_topic, w.partitions).await?;
        }
        let mut native = None;
        let mut wrk = Vec::new();
        let mut measured = vec![None; rest.len()];
        let n = round + 1;
        for turn in turn_order(round, rest.len(), wrk_request.is_some()) {
            let p = targets.progress();
            let i = match turn {
                Turn::Native => {
                    say(&format!(
                        "round {n}: native produce, {} {} records of {}",
                        w.records,
                        w.format.name(),
                        w.value_sizes()
                    ));
                    let e2e = EndToEnd::start(targets, None, &native_topic, w, &p);
                    let run = drivers::native::produce(
                        &targets.bootstrap,
                        targets.schema_registry_url.as_deref(),
                        &native_topic,
                        warmup_topic,
                        w,
                        &targets.clients,
                        p.clone(),
                    );
                    native = Some(
                        EndToEnd::attach(
                            e2e,
                            observe(targets, w, &p, ("native produce", w.records), run).await,
                        )
                        .await?,
                    );
                    continue;
                }
                Turn::Wrk => {
                    let request = wrk_request.as_ref().expect("a wrk turn has a request");
                    say(&format!(
                        "round {n}: wrk -t1, {} connections, {} s",
                        w.concurrency, w.crosscheck_s
                    ));
                    let url = format!("{}/topics/{wrk_topic}", targets.proxy_url);
                    let duration = Duration::from_secs(w.crosscheck_s);
                    wrk.push(request.run(&url, w.concurrency, duration).await?);
                    continue;
                }
                Turn::Endpoint(i) => i,
            };
            let (e, topic) = &rest[i];
            let result = if let Some(qos) = e.mqtt_qos {
                say(&format!(
                    "round {n}: {} produce, {} records of {}, {} MQTT clients",
                    e.name,
                    w.records,
                    w.value_sizes(),
                    w.concurrency
                ));
                let e2e = EndToEnd::start(targets, None, topic, w, &p);
                let topic_prefix = format!("lg/{}-{round}", e.name);
                let run = drivers::mqtt::produce(&e.name, &e.url, &topic_prefix, qos, w, p.clone());
                let result = observe(targets, w, &p, (&e.name, w.records), run).await;
                let mut result = EndToEnd::attach(e2e, result).await?;
                if qos == 0 {
                    // QoS 0's series counts publishes as the proxy reads them, which socket
                    // buffers front-load; only the whole window (to each client's fence
                    // PUBACK) says when the records were in Kafka.
                    result.steady_records_per_s = None;
                }
                result
            } else {
                say(&format!(
                    "round {n}: {} produce, {} {} records per request, {} clients",
                    e.name,
                    w.format.name(),
                    w.records_per_request,
                    w.concurrency
                ));
                let reader = (!e.ceiling).then_some(e.url.as_str());
                let e2e = reader.and_then(|url| EndToEnd::start(targets, Some(url), topic, w, &p));
                let run =
                    drivers::rest::produce(&e.name, &e.url, topic, warmup_topic, w, p.clone());
                EndToEnd::attach(
                    e2e,
                    observe(targets, w, &p, (&e.name, w.records), run).await,
                )
                .await?
            };
            measured[i] = Some(result);
        }
        let native = native.expect("ran");
        let rest: Vec<(Peer, PhaseResult, String)> = rest
            .into_iter()
            .zip(measured)
            .map(|((e, topic), r)| (e, r.expect("ran"), topic))
            .collect();
        headline.push(rest[0].1.ratio_to(&native));
        if let Some(i) = Interval::of(&headline) {
            say(&format!("produce ratio so far: {}", i.describe()));
        }
        let mut dropped = vec![native_topic];
        if !wrk.is_empty() {
            dropped.push(wrk_topic);
        }
        let stored = verify_and_drop(w, targets, dropped, &rest).await?;
        let round = Round {
            native,
            rest,
            stored,
            wrk,
        };
        if let Some((driver, wrk)) = round.driver_and_wrk(w) {
            crosscheck.push(driver / wrk.max(1e-9));
            let i = Interval::of(&crosscheck).expect("a ratio");
            say(&format!("REST driver / wrk so far: {}", i.describe()));
        }
        rounds.push(round);
    }
    Ok(rounds)
}

/// Between rounds, outside any measured window: reads back each REST topic of the round (all
/// of it, duplicates included), then deletes them and the round's `unread` topics (native's and
/// wrk's, which are not read back) unless `keep_topics`. Without the deletes an in-memory broker
/// holds every round's data (Tansu: 120 MB per 1.2M-record topic), and grew slower round by
/// round: the rates of later rounds measured a fuller broker.
async fn verify_and_drop(
    w: &Workload,
    targets: &Targets,
    unread: Vec<String>,
    rest: &[(Peer, PhaseResult, String)],
) -> anyhow::Result<Vec<Option<(u64, u64)>>> {
    let written: Vec<String> = rest
        .iter()
        .filter(|(e, _, _)| !e.ceiling)
        .map(|(_, _, topic)| topic.clone())
        .collect();
    let mut read =
        drivers::native::verify_all(&targets.bootstrap, &written, w.partitions, &targets.clients)
            .await?
            .into_iter();
    let stored = rest
        .iter()
        .map(|(e, _, _)| (!e.ceiling).then(|| read.next().expect("one read per topic")))
        .collect();
    if !w.keep_topics && targets.deletes_topics() {
        let mut dropped = written;
        dropped.extend(unread);
        // On a given cluster, a topic that could not be deleted now is tried again at the end.
        let _ = targets.delete_topics(&dropped).await;
    }
    Ok(stored)
}

/// Whether the rounds can stop: the interval settled (or the budget is spent), after an even
/// number of rounds so that each driver went first equally often.
fn stop_rounds(ratios: &[f64], w: &Workload) -> bool {
    let (n, max) = (ratios.len(), w.max_rounds() as usize);
    n >= max || (n % 2 == 0 && enough_rounds(ratios, w.rounds as usize, max, w.ci_half_width))
}

/// What the consume rounds measured: native's rounds, each REST endpoint's (None for MQTT and
/// the ceiling, which have no consume path), and the delivery checks.
struct Consumed {
    native: Vec<PhaseResult>,
    rest: Vec<Option<Vec<PhaseResult>>>,
    checks: Vec<Check>,
}

/// Fills one topic with `consume_records` records natively (outside any measurement), then
/// reads all of it with every consumer per round, alternating who goes first, until the
/// headline consume ratio's interval settles.
async fn consume_rounds(
    w: &Workload,
    targets: &Targets,
    endpoints: &[Peer],
    prefix: &str,
    warmup_topic: &str,
) -> anyhow::Result<Consumed> {
    let topic = format!("{prefix}-consume");
    targets.create_topic(&topic, w.partitions).await?;
    let fill = Workload {
        records: w.consume_records(),
        rate_records_per_s: None,
        ..w.clone()
    };
    say(&format!("filling {topic} with {} records", fill.records));
    let written = drivers::native::produce(
        &targets.bootstrap,
        None,
        &topic,
        warmup_topic,
        &fill,
        &targets.clients,
        Arc::new(Progress::default()),
    )
    .await?;
    anyhow::ensure!(
        written.errors == 0,
        "filling {topic}: {} errors",
        written.errors
    );
    let mut out = Consumed {
        native: Vec::new(),
        rest: endpoints
            .iter()
            .map(|e| (e.mqtt_qos.is_none() && !e.ceiling).then(Vec::new))
            .collect(),
        checks: Vec::new(),
    };
    // The endpoints that have a consume path, by index into `endpoints` (and `out.rest`).
    let readers: Vec<usize> = (0..endpoints.len())
        .filter(|&i| out.rest[i].is_some())
        .collect();
    let mut headline = Vec::new();
    for round in 0..w.max_rounds() {
        if stop_rounds(&headline, w) {
            break;
        }
        let n = round + 1;
        let turns = readers.len() + 1;
        for k in 0..turns {
            let turn = if round % 2 == 0 { k } else { turns - 1 - k };
            let p = targets.progress();
            let result = if turn == 0 {
                say(&format!(
                    "consume round {n}: native, {} records, {} consumers",
                    fill.records, w.consumers
                ));
                let run = drivers::native::consume(
                    &targets.bootstrap,
                    &topic,
                    w,
                    &targets.clients,
                    fill.records,
                    p.clone(),
                );
                observe(targets, w, &p, ("native consume", fill.records), run).await?
            } else {
                let e = &endpoints[readers[turn - 1]];
                say(&format!(
                    "consume round {n}: {}, max_bytes {}, {} instances",
                    e.name, w.max_bytes, w.consumers
                ));
                let run =
                    drivers::rest::consume(&e.name, &e.url, &topic, w, fill.records, p.clone());
                observe(targets, w, &p, (&e.name, fill.records), run).await?
            };
            out.checks.push(check(
                &format!(
                    "consume round {n}: {}: read every produced record once",
                    result.driver
                ),
                result.records == written.records && result.checksum == written.checksum,
                format!(
                    "{} read of {}, checksums {} / {}",
                    result.records, written.records, result.checksum, written.checksum
                ),
            ));
            match turn {
                0 => out.native.push(result),
                _ => out.rest[readers[turn - 1]]
                    .as_mut()
                    .expect("a reader")
                    .push(result),
            }
        }
        if let (Some(native), Some(Some(rest))) = (out.native.last(), out.rest.first()) {
            if let Some(r) = rest.last() {
                headline.push(r.ratio_to(native));
            }
        }
        if let Some(i) = Interval::of(&headline) {
            say(&format!("consume ratio so far: {}", i.describe()));
        }
    }
    Ok(out)
}

/// Open loop at a fraction of the maximum: one closed-loop round of native and the headline
/// endpoint, producing and then reading what they produced, and the rate is `fraction` of the
/// slowest of the four steady rates. End-to-end latency needs the consumers to keep up too: on
/// a broker whose fetch path is slower than its produce path, the pipeline's maximum is the
/// consumer's.
async fn calibrate(
    w: &Workload,
    targets: &Targets,
    headline: &Peer,
    prefix: &str,
    warmup_topic: &str,
    fraction: f64,
) -> anyhow::Result<f64> {
    let closed = Workload {
        rate_records_per_s: None,
        ..w.clone()
    };
    let native_topic = format!("{prefix}-calibrate-native");
    targets.create_topic(&native_topic, w.partitions).await?;
    say("calibrating: native produce, closed loop");
    let p = targets.progress();
    let run = drivers::native::produce(
        &targets.bootstrap,
        targets.schema_registry_url.as_deref(),
        &native_topic,
        warmup_topic,
        &closed,
        &targets.clients,
        p.clone(),
    );
    let native = observe(targets, &closed, &p, ("calibrating native", w.records), run).await?;
    let topic = format!("{prefix}-calibrate-{}", headline.name);
    targets.create_topic(&topic, w.partitions).await?;
    say(&format!(
        "calibrating: {} produce, closed loop",
        headline.name
    ));
    let p = targets.progress();
    let run = drivers::rest::produce(
        &headline.name,
        &headline.url,
        &topic,
        warmup_topic,
        &closed,
        p.clone(),
    );
    let rest = observe(targets, &closed, &p, ("calibrating REST", w.records), run).await?;
    say("calibrating: native and REST consume, closed loop");
    let p = targets.progress();
    let run = drivers::native::consume(
        &targets.bootstrap,
        &native_topic,
        &closed,
        &targets.clients,
        native.records,
        p.clone(),
    );
    let native_read = observe(
        targets,
        &closed,
        &p,
        ("calibrating native", native.records),
        run,
    )
    .await?;
    let p = targets.progress();
    let run = drivers::rest::consume(
        &headline.name,
        &headline.url,
        &topic,
        &closed,
        rest.records,
        p.clone(),
    );
    let rest_read = observe(
        targets,
        &closed,
        &p,
        ("calibrating REST", rest.records),
        run,
    )
    .await?;
    let rates = [
        native.rate(),
        rest.rate(),
        native_read.rate(),
        rest_read.rate(),
    ];
    let max = rates.iter().copied().fold(f64::INFINITY, f64::min);
    let rate = (max * fraction).max(1.0);
    say(&format!(
        "calibrated: produce native {:.0} / {} {:.0}, consume native {:.0} / {} {:.0} records/s; open loop at {rate:.0} records/s ({:.0}% of the slowest)",
        rates[0], headline.name, rates[1], rates[2], headline.name, rates[3],
        fraction * 100.0
    ));
    Ok(rate)
}

/// `wrk` sending the REST driver's request: one produce request of `records_per_request`
/// binary records, the body the driver sends.
fn wrk_request(w: &Workload) -> anyhow::Result<Wrk> {
    anyhow::ensure!(
        w.format == Format::Binary && w.mqtt_qos.is_empty(),
        "the wrk cross-check compares binary REST produce"
    );
    let ids: Vec<u64> = (0..w.records_per_request as u64).collect();
    Wrk::new(&drivers::rest::binary_body(&ids, w), drivers::rest::BINARY)
}

/// The REST driver's requests/s over `wrk`'s (the mean of its turns around the driver's)
/// against the same proxy, paired by round.
fn crosscheck(w: &Workload, rounds: &[Round]) -> Option<Crosscheck> {
    let (mut driver, mut wrk, mut ratios, mut errors) = (Vec::new(), Vec::new(), Vec::new(), 0);
    for r in rounds {
        let Some((d, t)) = r.driver_and_wrk(w) else {
            continue;
        };
        driver.push(d);
        wrk.push(t);
        ratios.push(d / t.max(1e-9));
        errors += r.wrk.iter().map(|t| t.errors).sum::<u64>();
    }
    Some(Crosscheck {
        tool: "wrk -t1".into(),
        connections: w.concurrency,
        duration_s: w.crosscheck_s,
        wrk_requests_per_s: measure::median(&wrk)?,
        wrk_errors: errors,
        driver_requests_per_s: measure::median(&driver)?,
        ratio: measure::median(&ratios)?,
        interval: Interval::of(&ratios),
        round_ratios: ratios,
    })
}

/// The headline endpoint's end-to-end latency minus native's, at p50, p99 and p99.9.
fn added_latency(
    phases: &[PhaseResult],
    headline: &str,
    rate: Option<f64>,
) -> Option<AddedLatency> {
    let e2e = |driver: &str| {
        phases
            .iter()
            .find(|p| p.driver == driver && p.phase == "produce")
            .and_then(|p| p.end_to_end.clone())
    };
    let (rest, native) = (e2e(headline)?, e2e("native")?);
    let d = |a: u64, b: u64| a as f64 - b as f64;
    Some(AddedLatency {
        rate_records_per_s: rate.unwrap_or(0.0),
        p50_us: d(rest.p50_us, native.p50_us),
        p99_us: d(rest.p99_us, native.p99_us),
        p999_us: d(rest.p999_us, native.p999_us),
    })
}

/// The run's environment, for the report's reader.
fn environment(scenario: &Scenario, targets: &Targets) -> Environment {
    let mut proxy_settings = scenario.clients.proxy.clone();
    let engine = proxy_settings
        .get("produce.engine")
        .cloned()
        .unwrap_or_else(|| "auto (batch unless a librdkafka-only producer property is set)".into());
    proxy_settings.remove("produce.engine");
    let local = [targets.broker_started_here(), targets.proxy_pid.is_some()];
    Environment {
        broker: targets.broker_kind.clone(),
        broker_local: local[0],
        proxy: targets.proxy_version.clone(),
        proxy_local: local[1],
        produce_engine: engine,
        proxy_settings,
        native_producer: scenario.clients.native_producer(),
        native_consumer: scenario.clients.native_consumer.clone(),
        rest_driver: "goose users, one kept-open HTTP/1.1 connection each, requests built before \
                      the clock"
            .into(),
        sharing: match local {
            [true, true] => format!(
                "broker, proxy and loadgen share this machine's {} cores",
                Machine::current().cores
            ),
            [false, true] => "proxy and loadgen share this machine; the broker is elsewhere".into(),
            [true, false] => "broker and loadgen share this machine; the proxy is elsewhere".into(),
            [false, false] => "broker and proxy are elsewhere".into(),
        },
    }
}

/// A reader of a topic while it is produced (open-loop runs), for per-record end-to-end latency:
/// native for the native and MQTT drivers, a REST consumer for REST endpoints.
struct EndToEnd {
    stop: Arc<AtomicBool>,
    reader: tokio::task::JoinHandle<anyhow::Result<measure::Recorder>>,
}

impl EndToEnd {
    /// Starts a reader when the workload is open loop; `rest` is the proxy to read through.
    fn start(
        targets: &Targets,
        rest: Option<&str>,
        topic: &str,
        w: &Workload,
        progress: &Arc<Progress>,
    ) -> Option<EndToEnd> {
        w.rate_records_per_s?;
        let stop = Arc::new(AtomicBool::new(false));
        let (topic, partitions, records, patience) = (
            topic.to_string(),
            w.partitions,
            w.records,
            Duration::from_secs(10),
        );
        let progress = progress.clone();
        let reader = match rest {
            Some(url) => {
                let (url, stop, max_bytes) = (url.to_string(), stop.clone(), w.max_bytes);
                tokio::spawn(async move {
                    drivers::rest::end_to_end(
                        &url, &topic, partitions, records, max_bytes, stop, patience, progress,
                    )
                    .await
                })
            }
            None => {
                let (bootstrap, clients, stop) = (
                    targets.bootstrap.clone(),
                    targets.clients.clone(),
                    stop.clone(),
                );
                tokio::task::spawn_blocking(move || {
                    drivers::native::end_to_end(
                        &bootstrap, &topic, partitions, records, &clients, &stop, patience,
                        &progress,
                    )
                })
            }
        };
        Some(EndToEnd { stop, reader })
    }

    /// Stops the reader once the produce phase is over (whether it succeeded or not: a reader
    /// left running would keep the process from exiting) and attaches what it measured.
    async fn attach(
        e2e: Option<EndToEnd>,
        result: anyhow::Result<PhaseResult>,
    ) -> anyhow::Result<PhaseResult> {
        let Some(e) = e2e else { return result };
        e.stop.store(true, Ordering::Relaxed);
        let mut result = match result {
            Ok(r) => r,
            Err(err) => {
                // Stopped: the reader ends within its patience; its outcome no longer matters.
                let _ = e.reader.await;
                return Err(err);
            }
        };
        result.end_to_end = Some(e.reader.await??.summary());
        Ok(result)
    }
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
