//! One comparison run: produce rounds alternating the drivers until the headline ratio's 95%
//! interval settles (or the round budget is spent), consume rounds the same way on a topic
//! filled once, then delivery checks, the `wrk` cross-check, and the summary.

use std::time::{Duration, SystemTime};

use crate::ceiling::Nginx;
use crate::histogram::Latency;
use crate::interval::Interval;
use crate::measure::{self, PhaseResult};
use crate::phase::{check, say};
use crate::scenario::{Phase, Scenario, Workload};
use crate::summary::{
    Added, AddedLatency, Ceiling, Check, CpuRatios, Environment, Machine, PairedRatio, PeerRatio,
    ShortTurns, Summary,
};

/// The name of the v2 endpoint a v3 workload with `also_v2` measures beside it.
pub const V2_PEER: &str = "rest-v2";
/// The name of the binary endpoint a schema workload with `also_binary` measures beside it.
pub const BINARY_PEER: &str = "rest-binary";
use crate::targets::Targets;
use crate::{gates, sweep, BrokerTarget, Peer, Relay, RestApi};

use super::calibrate::calibrate;
use super::consume::consume_rounds;
use super::crosscheck::crosscheck;
use super::produce::{produce_rounds, LISTENER_ROOT, NATIVE_BINARY, SOURCE_ROOT};

/// Runs a scenario end to end and returns its summary (gates evaluated, nothing written).
/// `schema_registry_url`: the registry the proxy uses (schema workloads; see [`Targets::start`]).
pub async fn run(
    scenario: Scenario,
    bootstrap: BrokerTarget,
    proxy_url: Option<String>,
    schema_registry_url: Option<String>,
    peers: Vec<Peer>,
) -> anyhow::Result<Summary> {
    let started_at = humantime::format_rfc3339_seconds(SystemTime::now()).to_string();
    let needs_registry = scenario.workload.format.has_schema();
    let mut w = scenario.workload.clone();
    let tag = format!("{}-{}", scenario.name, std::process::id());
    let prefix = format!("{}{tag}", w.topic_prefix);
    // MQTT drivers publish on `<root>/<driver>-<round>/...` (root `lg` for the listener, `src`
    // through the source); the proxy maps each to its Kafka topic.
    let kind = if w.mqtt_source { "mqtt-source" } else { "mqtt" };
    let mqtt_drivers: Vec<(String, u8)> = w
        .mqtt_qos
        .iter()
        .map(|q| (format!("{kind}-qos{q}"), *q))
        .collect();
    let rules = |root: &str| {
        (0..w.max_rounds())
            .flat_map(|round| {
                let prefix = &prefix;
                mqtt_drivers.iter().map(move |(name, _)| {
                    format!("{prefix}-{name}-{round}:{root}/{name}-{round}/.*")
                })
            })
            .collect::<Vec<_>>()
            .join(",")
    };
    let mqtt = match (mqtt_drivers.is_empty(), w.mqtt_source) {
        (true, _) => None,
        (false, false) => Some(crate::targets::Mqtt::Listener {
            rules: rules(LISTENER_ROOT),
            receive_maximum: w.mqtt_receive_maximum,
        }),
        (false, true) => Some(crate::targets::Mqtt::Source {
            filter: format!("{SOURCE_ROOT}/#"),
            rules: rules(SOURCE_ROOT),
            qos: w.mqtt_qos.iter().copied().max().unwrap_or(1),
        }),
    };
    let needs = crate::targets::Needs {
        registry: needs_registry,
        mqtt,
        edge_tls: w.edge_tls,
    };
    let mut targets = Targets::start(
        bootstrap,
        proxy_url,
        schema_registry_url,
        needs,
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
    let metrics = scrape_metrics(&targets.proxy_url).await.unwrap_or_default();
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
    // Less the calibration's, which `compare` left in `long_poll_wake` (None without one).
    let calibration = summary.long_poll_wake.take();
    summary.long_poll_wake =
        crate::summary::LongPollWake::parse(&metrics).map(|end| match &calibration {
            Some(before) => end.since(before),
            None => end,
        });
    summary.produce_requests = crate::summary::ProduceRequests::parse(&metrics);
    summary.gates = gates::evaluate_gates(&summary, None);
    Ok(summary)
}

/// The proxy's `/metrics` at the end of the run (its woken long polls and its Produce
/// requests, over the whole run); None when it cannot be read.
async fn scrape_metrics(proxy_url: &str) -> Option<String> {
    reqwest::get(format!("{proxy_url}/metrics"))
        .await
        .ok()?
        .text()
        .await
        .ok()
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
                api: RestApi::V2,
                relay: w.mqtt_source.then_some(Relay::Source),
                format: None,
                server_pid: None,
            })
            .collect(),
        None => vec![Peer {
            name: "rest".into(),
            url: targets.proxy_url.clone(),
            mqtt_qos: None,
            ceiling: false,
            api: w.rest_api(),
            relay: None,
            format: None,
            server_pid: None,
        }],
    };
    if let (true, Some(addr)) = (w.mqtt_source, &targets.mqtt_addr) {
        // mosquitto's own delivery at each level, to a subscriber here: the source's ceiling.
        endpoints.extend(w.mqtt_qos.iter().map(|q| Peer {
            name: format!("mosquitto-qos{q}"),
            url: addr.clone(),
            mqtt_qos: Some(*q),
            ceiling: true,
            api: RestApi::V2,
            relay: Some(Relay::Subscriber),
            format: None,
            server_pid: None,
        }));
    }
    if w.also_v2 {
        // The same proxy through v2, in the same rounds: the v3/v2 ratio.
        endpoints.push(Peer {
            name: V2_PEER.into(),
            url: targets.proxy_url.clone(),
            mqtt_qos: None,
            ceiling: false,
            api: RestApi::V2,
            relay: None,
            format: None,
            server_pid: None,
        });
    }
    if w.also_binary {
        // The same proxy with binary values, in the same rounds (after a native turn with
        // binary values): the format's ratio over binary's.
        endpoints.push(Peer {
            name: BINARY_PEER.into(),
            url: targets.proxy_url.clone(),
            mqtt_qos: None,
            ceiling: false,
            api: RestApi::V2,
            relay: None,
            format: Some(crate::format::Format::Binary),
            server_pid: None,
        });
    }
    endpoints.extend(peers);
    let nginx = match w.http_ceiling {
        true => Some(Nginx::start(w.http2).await?),
        false => None,
    };
    if let Some(n) = &nginx {
        endpoints.push(Peer {
            name: "nginx".into(),
            url: n.url.clone(),
            mqtt_qos: None,
            ceiling: true,
            api: RestApi::V2,
            relay: None,
            format: None,
            server_pid: n.pid(),
        });
    }

    if let Some(fraction) = w.rate_of_max {
        w.rate_records_per_s =
            Some(calibrate(w, targets, &endpoints[0], prefix, &warmup_topic, fraction).await?);
        // The calibration's woken long polls (the machine flat out) are not the open loop's:
        // kept here and taken off the end of the run's (`run`).
        figures.long_poll_wake = scrape_metrics(&targets.proxy_url)
            .await
            .and_then(|m| crate::summary::LongPollWake::parse(&m));
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
        if let Some(binary) = &round.native_binary {
            checks.push(check(
                &format!("round {n}: {NATIVE_BINARY} produce: no errors"),
                binary.errors == 0,
                format!("{} errors", binary.errors),
            ));
        }
        for ((e, r, _), stored) in round.rest.iter().zip(&round.stored) {
            if let Some(d) = &r.delivery {
                checks.push(relay_check(n, e, r, d, *stored));
                continue;
            }
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
                &format!(
                    "round {n}: {}: every request answered 2xx",
                    crate::wrk::tool(w.http2_shape(), w.concurrency)
                ),
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
        let paired: Vec<f64> = rounds.iter().map(|r| r.ratio(i)).collect();
        produce.push((e, paired));
        phases.push(measure::merge_rounds(
            rounds.iter().map(|r| r.rest[i].1.clone()).collect(),
        ));
    }
    // After the endpoints' phases (`phases[1 + i]` is endpoint i's).
    let native_binary: Vec<PhaseResult> = rounds
        .iter()
        .filter_map(|r| r.native_binary.clone())
        .collect();
    if !native_binary.is_empty() {
        phases.push(measure::merge_rounds(native_binary));
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
    if let Some(i) = endpoints.iter().position(|e| e.name == V2_PEER) {
        let ratios: Vec<f64> = rounds
            .iter()
            .map(|r| r.rest[0].1.ratio_to(&r.rest[i].1))
            .collect();
        figures.v3_vs_v2 = Some(PairedRatio::of(ratios));
    }
    // The endpoint sending binary values, as the rounds pair it (`Round::native_for`).
    if let Some(b) = endpoints.iter().position(|e| e.format.is_some()) {
        figures.format_vs_binary = Some(PairedRatio::of(
            rounds.iter().map(|r| r.vs_binary(b)).collect(),
        ));
    }
    for (i, e) in endpoints.iter().enumerate().filter(|(_, e)| e.ceiling) {
        // The rate of the endpoint it bounds over its own, paired by round: nginx bounds the
        // headline, mosquitto at a QoS level the source at that level.
        let bounded = match e.relay {
            Some(Relay::Subscriber) => endpoints
                .iter()
                .position(|b| b.relay == Some(Relay::Source) && b.mqtt_qos == e.mqtt_qos),
            _ => Some(0),
        };
        let Some(b) = bounded else { continue };
        let fractions: Vec<f64> = rounds
            .iter()
            .map(|r| r.rest[b].1.ratio_to(&r.rest[i].1))
            .collect();
        let phase = &phases[1 + i];
        let (kind, per_request, unit) = match e.relay {
            Some(_) => (
                "MQTT broker",
                1.0,
                "records/s from publishers through it to a subscriber",
            ),
            None => (
                "HTTP",
                w.records_per_request as f64,
                "requests/s answering a fixed reply",
            ),
        };
        let ceiling = Ceiling {
            kind: kind.into(),
            name: e.name.clone(),
            endpoint: endpoints[b].name.clone(),
            requests_per_s: phase.rate() / per_request,
            unit: unit.into(),
            fraction: measure::median(&fractions).unwrap_or(0.0),
            interval: Interval::of(&fractions),
            round_fractions: fractions,
            cpu_us: phase
                .cpu
                .and_then(|c| c.proxy_us())
                .zip(phases[1 + b].cpu.and_then(|c| c.proxy_us()))
                .filter(|_| e.server_pid.is_some())
                .map(|(ceiling, proxy)| crate::summary::CeilingCpu {
                    ceiling: ceiling * per_request,
                    proxy: proxy * per_request,
                }),
        };
        if b == 0 && figures.ceiling.is_none() {
            figures.ceiling = Some(ceiling);
        } else {
            figures.other_ceilings.push(ceiling);
        }
    }
    // Relayed MQTT turns and QoS 0 have no steady rate by design (their deliveries are
    // counted at the far end, or front-loaded by socket buffers).
    let produce_turns = rounds.iter().flat_map(|r| {
        let rest = r
            .rest
            .iter()
            .filter(|(e, _, _)| e.mqtt_qos.is_none())
            .map(|(_, result, _)| result);
        std::iter::once(&r.native)
            .chain(&r.native_binary)
            .chain(rest)
    });
    let consume_turns = consumed
        .iter()
        .flat_map(|c| c.native.iter().chain(c.rest.iter().flatten().flatten()));
    figures.short_turns = ShortTurns::of(produce_turns.chain(consume_turns));
    figures.crosscheck = crosscheck(w, &rounds);
    figures.cpu_ratios = CpuRatios::of(&phases, &endpoints[0].name);
    figures.added_latency = added_latency(&phases, &endpoints[0].name, w.rate_records_per_s);
    drop(nginx);
    Ok((phases, checks, figures))
}

/// A relayed endpoint's delivery in one round: every published record arrived at the far end,
/// unchanged, at least once (duplicates are counted, not failed: MQTT QoS 1 is at least once),
/// and for the source what Kafka held after the round.
fn relay_check(
    n: usize,
    e: &Peer,
    r: &PhaseResult,
    d: &crate::measure::Delivery,
    stored: Option<(u64, u64)>,
) -> Check {
    let (far_end, kafka) = match stored {
        Some((stored, _)) => ("in Kafka", format!("; {stored} records in the topic")),
        None => ("at the subscriber", String::new()),
    };
    check(
        &format!(
            "round {n}: {}: every published record arrived {far_end} (at least once)",
            e.name
        ),
        d.complete(r.checksum) && stored.is_none_or(|(s, _)| s >= d.published),
        format!(
            "{} published, {} arrived, {} missing, {} duplicates, {} foreign; checksums {} / {}{kafka}",
            d.published, r.records, d.missing, d.duplicates, d.strangers, d.published_checksum, r.checksum
        ),
    )
}

/// The headline endpoint's end-to-end latency minus native's, at p50, p99 and p99.9, and with
/// cross readers, the same split into the produce and the consume side.
fn added_latency(
    phases: &[PhaseResult],
    headline: &str,
    rate: Option<f64>,
) -> Option<AddedLatency> {
    let phase = |driver: &str| {
        phases
            .iter()
            .find(|p| p.driver == driver && p.phase == "produce")
    };
    let (rest, native) = (phase(headline)?, phase("native")?);
    let both = added(rest.end_to_end.as_ref()?, native.end_to_end.as_ref()?);
    let side = |a: Option<&Latency>, b: Option<&Latency>| Some(added(a?, b?));
    Some(AddedLatency {
        rate_records_per_s: rate.unwrap_or(0.0),
        p50_us: both.p50_us,
        p99_us: both.p99_us,
        p999_us: both.p999_us,
        // Native readers: the REST phase's cross reader against the native phase's own.
        produce_side: side(rest.end_to_end_cross.as_ref(), native.end_to_end.as_ref()),
        // The native producer's records: its REST cross reader against its native reader.
        consume_side: side(native.end_to_end_cross.as_ref(), native.end_to_end.as_ref()),
    })
}

/// What latency `a` adds over `b`.
fn added(a: &Latency, b: &Latency) -> Added {
    let d = |a: u64, b: u64| a as f64 - b as f64;
    Added {
        p50_us: d(a.p50_us, b.p50_us),
        p99_us: d(a.p99_us, b.p99_us),
        p999_us: d(a.p999_us, b.p999_us),
    }
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
        rest_driver: format!(
            "goose users, one kept-open HTTP/1.1 connection each, requests built before the \
             clock{}",
            if scenario.workload.edge_tls {
                "; TLS on the HTTP edge: plaintext to a stunnel client, HTTPS from it to the proxy"
            } else {
                ""
            }
        ),
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

fn git_commit() -> Option<String> {
    let out = std::process::Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}
