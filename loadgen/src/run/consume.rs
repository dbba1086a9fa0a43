//! Consume rounds on one topic filled natively once.

use std::sync::Arc;

use crate::interval::Interval;
use crate::measure::PhaseResult;
use crate::phase::{check, observe, say};
use crate::progress::Progress;
use crate::scenario::Workload;
use crate::summary::Check;
use crate::targets::Targets;
use crate::{drivers, Peer};

use super::rounds::stop_rounds;

/// What the consume rounds measured: native's rounds, each REST endpoint's (None for MQTT and
/// the ceiling, which have no consume path), and the delivery checks.
pub(super) struct Consumed {
    pub(super) native: Vec<PhaseResult>,
    pub(super) rest: Vec<Option<Vec<PhaseResult>>>,
    pub(super) checks: Vec<Check>,
}

/// Fills one topic with `consume_records` records natively (outside any measurement), then
/// reads all of it with every consumer per round, alternating who goes first, until the
/// headline consume ratio's interval settles.
pub(super) async fn consume_rounds(
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
        drivers::native::To::plain(&topic, warmup_topic),
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
