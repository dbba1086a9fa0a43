//! Capacity sweeps: REST produce at every combination of records per request, concurrency and
//! value size, each point verified, against the native baseline for its value size. The point
//! with the highest rate whose p99 stays under the bound is the capacity for that value size.

use crate::drivers;
use crate::measure::PhaseResult;
use crate::phase::{check, observe, say};
use crate::scenario::{Scenario, Sweep, Workload};
use crate::summary::{Check, SweepPoint};
use crate::targets::Targets;

/// Runs the sweep; returns the native baselines (one per value size), the points and the checks.
pub async fn run(
    scenario: &Scenario,
    sweep: &Sweep,
    targets: &Targets,
    tag: &str,
) -> anyhow::Result<(Vec<PhaseResult>, Vec<SweepPoint>, Vec<Check>)> {
    let warmup_topic = format!("{tag}-warmup");
    targets
        .create_topic(&warmup_topic, scenario.workload.partitions)
        .await?;
    let (mut baselines, mut points, mut checks) = (Vec::new(), Vec::new(), Vec::new());
    for &value_bytes in &sweep.value_bytes {
        let base = Workload {
            value_bytes,
            value_bytes_max: None,
            ..scenario.workload.clone()
        };
        let topic = format!("{tag}-native-{value_bytes}");
        targets.create_topic(&topic, base.partitions).await?;
        say(&format!(
            "sweep: native baseline, {} records of {value_bytes} B",
            base.records
        ));
        let p = targets.progress();
        let native = observe(
            targets,
            &base,
            &p,
            ("native baseline", base.records),
            drivers::native::produce(
                &targets.bootstrap,
                targets.schema_registry_url.as_deref(),
                drivers::native::To::plain(&topic, &warmup_topic),
                &base,
                &targets.clients,
                p.clone(),
            ),
        )
        .await?;
        for &records_per_request in &sweep.records_per_request {
            for &concurrency in &sweep.concurrency {
                let records =
                    records_per_request as u64 * concurrency as u64 * sweep.requests_per_client;
                let w = Workload {
                    value_bytes,
                    records_per_request,
                    concurrency,
                    records,
                    ..base.clone()
                };
                let topic =
                    format!("{tag}-sweep-{value_bytes}-{records_per_request}-{concurrency}");
                targets.create_topic(&topic, w.partitions).await?;
                say(&format!("sweep: {value_bytes} B, {records_per_request} records/request, {concurrency} clients"));
                let p = targets.progress();
                let run = drivers::rest::produce(
                    "rest",
                    &targets.proxy_url,
                    &topic,
                    &warmup_topic,
                    &w,
                    p.clone(),
                );
                let rest = observe(targets, &w, &p, ("sweep point", w.records), run).await?;
                let (stored, checksum) = drivers::native::verify(
                    &targets.bootstrap,
                    &topic,
                    w.partitions,
                    &targets.clients,
                )
                .await?;
                let verified = rest.errors == 0 && stored == records && checksum == rest.checksum;
                checks.push(check(
                    &format!("sweep {value_bytes} B x {records_per_request}/request x {concurrency}: every acknowledged record is in Kafka exactly once"),
                    verified,
                    format!("{} acknowledged, {stored} stored", rest.records),
                ));
                points.push(SweepPoint {
                    value_bytes,
                    records_per_request,
                    concurrency,
                    records_per_s: rest.rate(),
                    requests_per_s: rest.requests_per_s,
                    p50_us: rest.latency.p50_us,
                    p99_us: rest.latency.p99_us,
                    ratio: rest.ratio_to(&native),
                    verified,
                    capacity: false,
                });
            }
        }
        baselines.push(native);
    }
    mark_capacity(&mut points, sweep.p99_bound_us);
    Ok((baselines, points, checks))
}

/// Marks, per value size, the verified point with the highest rate and p99 within the bound.
pub fn mark_capacity(points: &mut [SweepPoint], p99_bound_us: u64) {
    let sizes: Vec<usize> = points.iter().map(|p| p.value_bytes).collect();
    for size in sizes {
        let best = points
            .iter()
            .enumerate()
            .filter(|(_, p)| p.value_bytes == size && p.verified && p.p99_us <= p99_bound_us)
            .max_by(|a, b| a.1.records_per_s.total_cmp(&b.1.records_per_s))
            .map(|(i, _)| i);
        for (i, p) in points.iter_mut().enumerate() {
            if p.value_bytes == size {
                p.capacity = Some(i) == best;
            }
        }
    }
}

/// The summary's headline ratio for a sweep: at the capacity point of the first value size.
pub fn capacity_ratio(points: &[SweepPoint]) -> Option<f64> {
    points.iter().find(|p| p.capacity).map(|p| p.ratio)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(rpr: usize, rate: f64, p99: u64) -> SweepPoint {
        SweepPoint {
            value_bytes: 100,
            records_per_request: rpr,
            concurrency: 8,
            records_per_s: rate,
            requests_per_s: rate / rpr as f64,
            p50_us: p99 / 2,
            p99_us: p99,
            ratio: rate / 1e6,
            verified: true,
            capacity: false,
        }
    }

    #[test]
    fn capacity_is_the_fastest_point_within_the_bound() {
        let mut pts = vec![
            point(1, 10_000.0, 2_000),
            point(100, 500_000.0, 8_000),
            point(1000, 900_000.0, 60_000),
        ];
        mark_capacity(&mut pts, 10_000);
        assert_eq!(
            pts.iter().map(|p| p.capacity).collect::<Vec<_>>(),
            vec![false, true, false]
        );
        assert_eq!(capacity_ratio(&pts), Some(0.5));
    }
}
