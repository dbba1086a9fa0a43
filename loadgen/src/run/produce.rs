//! Produce rounds: every driver's turn in a rotating order, each round's topics read back and
//! dropped between rounds.

use std::time::Duration;

use crate::drivers::mqtt_relay::Sink;
use crate::interval::Interval;
use crate::measure::PhaseResult;
use crate::phase::{observe, say};
use crate::scenario::{Format, Workload};
use crate::targets::Targets;
use crate::wrk::{Wrk, WrkResult};
use crate::{drivers, Peer, Relay, RestApi};

use super::end_to_end::EndToEnd;
use super::rounds::stop_rounds;

/// The driver name of native's turn with binary values (`also_binary`).
pub const NATIVE_BINARY: &str = "native-binary";

/// The MQTT topics' first level: publishes to the proxy's listener, publishes the proxy's MQTT
/// source subscribes to, and publishes only mosquitto's own subscriber reads (its ceiling).
pub(super) const LISTENER_ROOT: &str = "lg";
pub(super) const SOURCE_ROOT: &str = "src";
const BROKER_ROOT: &str = "mosq";

/// One produce round: the native run, and each endpoint's (endpoint, result, topic).
pub(super) struct Round {
    pub(super) native: PhaseResult,
    /// With `also_binary`: native's run with binary values, the baseline of `rest-binary`.
    pub(super) native_binary: Option<PhaseResult>,
    pub(super) rest: Vec<(Peer, PhaseResult, String)>,
    /// What each REST topic held when read back after the round: (records, checksum); None for
    /// the HTTP ceiling, which writes nothing.
    pub(super) stored: Vec<Option<(u64, u64)>>,
    /// `wrk`'s turns against the proxy, before and after the REST driver's (`wrk_crosscheck`).
    pub(super) wrk: Vec<WrkResult>,
}

impl Round {
    /// The REST driver's steady requests/s and `wrk`'s (the mean of its turns), when `wrk` ran.
    pub(super) fn driver_and_wrk(&self, w: &Workload) -> Option<(f64, f64)> {
        if self.wrk.is_empty() {
            return None;
        }
        let driver = self.rest[0].1.rate() / w.records_per_request as f64;
        let wrk = self.wrk.iter().map(|t| t.requests_per_s).sum::<f64>() / self.wrk.len() as f64;
        Some((driver, wrk))
    }

    /// The native run endpoint `i`'s ratio is paired with: binary's for an endpoint sending
    /// binary values in a schema workload, else the round's own.
    pub(super) fn native_for(&self, i: usize) -> &PhaseResult {
        match (&self.rest[i].0.format, &self.native_binary) {
            (Some(_), Some(binary)) => binary,
            _ => &self.native,
        }
    }

    /// Endpoint `i`'s REST/native ratio in this round, against its own native baseline.
    pub(super) fn ratio(&self, i: usize) -> f64 {
        self.rest[i].1.ratio_to(self.native_for(i))
    }

    /// The headline's REST/native ratio over that of endpoint `binary` (binary values against
    /// binary's native run).
    pub(super) fn vs_binary(&self, binary: usize) -> f64 {
        self.ratio(0) / self.ratio(binary).max(1e-9)
    }
}

/// Who drives in one turn of a produce round.
#[derive(Clone, Copy)]
enum Turn {
    Native,
    /// Native with binary values (`also_binary`), next to the endpoint sending them.
    NativeBinary,
    /// `endpoints[i]`.
    Endpoint(usize),
    /// `wrk` against the headline proxy: the REST driver's cross-check.
    Wrk,
}

/// The order of a round's turns: native, the headline endpoint between two turns of `wrk`
/// (the driver is compared with their mean, which cancels the machine's drift over the round
/// when it is linear), then the other endpoints, the one sending binary values (`binary`)
/// next to native's binary turn; reversed every other round (ABBA), so that drift hits every
/// driver alike.
fn turn_order(round: u32, endpoints: usize, wrk: bool, binary: Option<usize>) -> Vec<Turn> {
    let mut turns = vec![Turn::Native];
    for i in 0..endpoints {
        if i == 0 && wrk {
            turns.extend([Turn::Wrk, Turn::Endpoint(0), Turn::Wrk]);
        } else if Some(i) == binary {
            turns.extend([Turn::NativeBinary, Turn::Endpoint(i)]);
        } else {
            turns.push(Turn::Endpoint(i));
        }
    }
    if round % 2 == 1 {
        turns.reverse();
    }
    turns
}

/// The records native's turn writes with `native_same_records`: the headline MQTT endpoint's
/// own ([`drivers::native::MqttRecords`], on the same MQTT topics), so that both sides store
/// the same records. None otherwise, and for mosquitto's own subscriber, which stores nothing.
fn mqtt_records(
    headline: Option<&Peer>,
    round: u32,
    w: &Workload,
) -> Option<drivers::native::MqttRecords> {
    if !w.native_same_records {
        return None;
    }
    let e = headline?;
    let qos = e.mqtt_qos?;
    // The source subscribes at the highest level published (`Mqtt::Source`) and adds
    // `mqtt.retained`.
    let (root, max_qos, retained_header) = match e.relay {
        None => (LISTENER_ROOT, 2, false),
        Some(Relay::Source) => (SOURCE_ROOT, w.mqtt_qos.iter().copied().max()?, true),
        Some(Relay::Subscriber) => return None,
    };
    Some(drivers::native::MqttRecords {
        topic_prefix: format!("{root}/{}-{round}", e.name),
        qos,
        max_qos,
        retained_header,
        clients: w.concurrency,
    })
}

/// Produce rounds, the drivers' turns rotating (see [`turn_order`]) until the headline ratio's
/// interval settles, and the cross-check's when `wrk` runs.
pub(super) async fn produce_rounds(
    w: &Workload,
    targets: &Targets,
    endpoints: &[Peer],
    prefix: &str,
    warmup_topic: &str,
) -> anyhow::Result<Vec<Round>> {
    // wrk sends the driver's request: `records_per_request` binary records (the scenario's
    // validation keeps the cross-check to binary REST produce).
    let wrk_request = match w.wrk_crosscheck {
        true => {
            let ids: Vec<u64> = (0..w.records_per_request as u64).collect();
            let body = drivers::rest::binary_body(&ids, w);
            Some(Wrk::new(&body, drivers::rest::BINARY, w.http2_shape())?)
        }
        false => None,
    };
    let binary = endpoints.iter().position(|e| e.format.is_some());
    let mut rounds: Vec<Round> = Vec::new();
    let (mut headline, mut crosscheck, mut vs_binary) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..w.max_rounds() {
        let settled = |ratios: &Vec<f64>| ratios.is_empty() || stop_rounds(ratios, w);
        if stop_rounds(&headline, w) && settled(&crosscheck) && settled(&vs_binary) {
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
        let native_binary_topic = format!("{prefix}-native-binary-{round}");
        if binary.is_some() {
            targets
                .create_topic(&native_binary_topic, w.partitions)
                .await?;
        }
        let wrk_topic = format!("{prefix}-wrk-{round}");
        if wrk_request.is_some() {
            targets.create_topic(&wrk_topic, w.partitions).await?;
        }
        let mut native = None;
        let mut native_binary = None;
        let mut wrk = Vec::new();
        let mut measured = vec![None; rest.len()];
        let n = round + 1;
        for turn in turn_order(round, rest.len(), wrk_request.is_some(), binary) {
            let p = match turn {
                Turn::Endpoint(i) => targets.progress_of(&rest[i].0),
                _ => targets.progress(),
            };
            let i = match turn {
                Turn::Native | Turn::NativeBinary => {
                    let (topic, w, driver) = match turn {
                        Turn::NativeBinary => {
                            let mut binary = w.clone();
                            binary.format = Format::Binary;
                            (&native_binary_topic, binary, NATIVE_BINARY)
                        }
                        _ => (&native_topic, w.clone(), "native"),
                    };
                    let w = &w;
                    let mqtt = match turn {
                        Turn::Native => mqtt_records(endpoints.first(), round, w),
                        _ => None,
                    };
                    say(&format!(
                        "round {n}: {driver} produce, {} {} records of {}{}",
                        w.records,
                        w.format.name(),
                        w.value_sizes(),
                        match mqtt {
                            Some(_) => ", keyed and with headers as the MQTT endpoint's",
                            None => "",
                        }
                    ));
                    let to = drivers::native::To {
                        topic,
                        warmup_topic,
                        mqtt: mqtt.as_ref(),
                    };
                    let (e2e, cross) = EndToEnd::start_both(targets, None, topic, w, &p).await?;
                    let run = drivers::native::produce(
                        &targets.bootstrap,
                        targets.schema_registry_url.as_deref(),
                        to,
                        w,
                        &targets.clients,
                        p.clone(),
                    );
                    let label = format!("{driver} produce");
                    let mut result = EndToEnd::attach(
                        e2e,
                        cross,
                        observe(targets, w, &p, (&label, w.records), run).await,
                    )
                    .await?;
                    result.driver = driver.into();
                    match turn {
                        Turn::NativeBinary => native_binary = Some(result),
                        _ => native = Some(result),
                    }
                    continue;
                }
                Turn::Wrk => {
                    let request = wrk_request.as_ref().expect("a wrk turn has a request");
                    say(&format!(
                        "round {n}: {}, {} clients, {} s",
                        request.tool(w.concurrency),
                        w.concurrency,
                        w.crosscheck_s
                    ));
                    let url = format!("{}/topics/{wrk_topic}", targets.proxy_url);
                    let duration = Duration::from_secs(w.crosscheck_s);
                    wrk.push(request.run(&url, w.concurrency, duration).await?);
                    continue;
                }
                Turn::Endpoint(i) => i,
            };
            let (e, topic) = &rest[i];
            let result = if let (Some(qos), Some(relay)) = (e.mqtt_qos, e.relay) {
                say(&format!(
                    "round {n}: {} produce, {} records of {}, {} MQTT clients into mosquitto{}",
                    e.name,
                    w.records,
                    w.value_sizes(),
                    w.concurrency,
                    match relay {
                        Relay::Source => ", the proxy's MQTT source forwarding to Kafka",
                        Relay::Subscriber => ", one subscriber",
                    }
                ));
                let sink = match relay {
                    Relay::Source => Sink::Kafka {
                        bootstrap: targets.bootstrap.clone(),
                        topic: topic.clone(),
                        partitions: w.partitions,
                        clients: targets.clients.clone(),
                    },
                    Relay::Subscriber => Sink::Subscriber {
                        filter: format!("{BROKER_ROOT}/{}-{round}/#", e.name),
                        qos: w.mqtt_qos.iter().copied().max().unwrap_or(qos),
                        receive_maximum: source_receive_maximum(targets),
                    },
                };
                let root = match relay {
                    Relay::Source => SOURCE_ROOT,
                    Relay::Subscriber => BROKER_ROOT,
                };
                let topic_prefix = format!("{root}/{}-{round}", e.name);
                let run = drivers::mqtt_relay::produce(
                    &e.name,
                    &e.url,
                    &topic_prefix,
                    qos,
                    sink,
                    w,
                    p.clone(),
                );
                observe(targets, w, &p, (&e.name, w.records), run).await?
            } else if let Some(qos) = e.mqtt_qos {
                say(&format!(
                    "round {n}: {} produce, {} records of {}, {} MQTT clients",
                    e.name,
                    w.records,
                    w.value_sizes(),
                    w.concurrency
                ));
                let e2e = EndToEnd::start(targets, None, topic, w, &p).await?;
                let topic_prefix = format!("{LISTENER_ROOT}/{}-{round}", e.name);
                let run = drivers::mqtt::produce(&e.name, &e.url, &topic_prefix, qos, w, p.clone());
                let result = observe(targets, w, &p, (&e.name, w.records), run).await;
                let mut result = EndToEnd::attach(e2e, None, result).await?;
                if qos == 0 {
                    // QoS 0's series counts publishes as the proxy reads them, which socket
                    // buffers front-load; only the whole window (to each client's fence
                    // PUBACK) says when the records were in Kafka.
                    result.steady_records_per_s = None;
                }
                result
            } else if e.api == RestApi::V3Stream {
                say(&format!(
                    "round {n}: {} produce, v3 streaming, {} records per chunk, {} streams",
                    e.name, w.records_per_request, w.concurrency
                ));
                let e2e = EndToEnd::start(targets, None, topic, w, &p).await?;
                let run = drivers::v3stream::produce(&e.name, &e.url, topic, w, p.clone());
                EndToEnd::attach(
                    e2e,
                    None,
                    observe(targets, w, &p, (&e.name, w.records), run).await,
                )
                .await?
            } else {
                // The endpoint's API decides v2 or v3 requests (a v3 workload's `rest-v2` peer
                // sends v2), and its format the values (a schema workload's `rest-binary`).
                let mut w = w.clone();
                w.v3_records = e.api == RestApi::V3;
                w.format = e.format.unwrap_or(w.format);
                let w = &w;
                say(&format!(
                    "round {n}: {} produce, {} {} records per request{}, {} clients",
                    e.name,
                    w.format.name(),
                    w.records_per_request,
                    if w.v3_records { " (v3)" } else { "" },
                    w.concurrency
                ));
                let (e2e, cross) = match e.ceiling {
                    false => EndToEnd::start_both(targets, Some(&e.url), topic, w, &p).await?,
                    true => (None, None),
                };
                let run =
                    drivers::rest::produce(&e.name, &e.url, topic, warmup_topic, w, p.clone());
                EndToEnd::attach(
                    e2e,
                    cross,
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
        if native_binary.is_some() {
            dropped.push(native_binary_topic);
        }
        let stored = verify_and_drop(w, targets, dropped, &rest).await?;
        let round = Round {
            native,
            native_binary,
            rest,
            stored,
            wrk,
        };
        if let Some((driver, wrk)) = round.driver_and_wrk(w) {
            crosscheck.push(driver / wrk.max(1e-9));
            let i = Interval::of(&crosscheck).expect("a ratio");
            say(&format!("REST driver / wrk so far: {}", i.describe()));
        }
        if let Some(b) = binary {
            vs_binary.push(round.vs_binary(b));
            let i = Interval::of(&vs_binary).expect("a ratio");
            say(&format!(
                "{} ratio / binary's so far: {}",
                w.format.name(),
                i.describe()
            ));
        }
        rounds.push(round);
    }
    Ok(rounds)
}

/// The Receive Maximum the proxy's MQTT source grants mosquitto (its `mqtt.max.inflight`), for
/// the ceiling's subscriber to grant the same.
fn source_receive_maximum(targets: &Targets) -> u16 {
    targets
        .clients
        .proxy
        .get(&format!(
            "mqtt.source.{}.mqtt.max.inflight",
            crate::targets::SOURCE
        ))
        .and_then(|v| v.parse().ok())
        .unwrap_or(SOURCE_MAX_INFLIGHT)
}

/// The proxy's default `mqtt.max.inflight`.
const SOURCE_MAX_INFLIGHT: u16 = 1000;

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
    // A broker that drops older records (the mock cluster) cannot show a turn larger than it
    // keeps: reading back would report records missing that were written. 70 bytes a record
    // over its value bound a record's framing, key and its share of the batch header.
    let per_partition = w.records * (w.value_bytes_max.unwrap_or(w.value_bytes) as u64 + 70)
        / w.partitions.max(1) as u64;
    let stored = match targets
        .kept_per_partition_bytes()
        .filter(|&kept| per_partition > kept)
    {
        Some(kept) => {
            eprintln!(
                "loadgen: WARNING: REST produce not read back: the broker keeps {} MiB per \
                 partition, the turn wrote about {} MiB to each",
                kept >> 20,
                per_partition >> 20
            );
            rest.iter().map(|_| None).collect()
        }
        None => {
            let mut read = drivers::native::verify_all(
                &targets.bootstrap,
                &written,
                w.partitions,
                &targets.clients,
            )
            .await?
            .into_iter();
            rest.iter()
                .map(|(e, _, _)| (!e.ceiling).then(|| read.next().expect("one read per topic")))
                .collect()
        }
    };
    if !w.keep_topics && targets.deletes_topics() {
        let mut dropped = written;
        dropped.extend(unread);
        // On a given cluster, a topic that could not be deleted now is tried again at the end.
        let _ = targets.delete_topics(&dropped).await;
    }
    Ok(stored)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(turns: Vec<Turn>) -> Vec<String> {
        turns
            .into_iter()
            .map(|t| match t {
                Turn::Native => "native".to_string(),
                Turn::NativeBinary => "native-binary".to_string(),
                Turn::Wrk => "wrk".to_string(),
                Turn::Endpoint(i) => format!("e{i}"),
            })
            .collect()
    }

    #[test]
    fn binary_runs_natively_next_to_its_endpoint_and_rounds_alternate() {
        assert_eq!(
            names(turn_order(0, 2, false, Some(1))),
            ["native", "e0", "native-binary", "e1"]
        );
        assert_eq!(
            names(turn_order(1, 2, false, Some(1))),
            ["e1", "native-binary", "e0", "native"]
        );
        assert_eq!(
            names(turn_order(0, 2, true, None)),
            ["native", "wrk", "e0", "wrk", "e1"]
        );
    }
}
