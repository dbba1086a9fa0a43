//! Merging summaries of `loadgen` processes that ran at the same time on several machines, so
//! load beyond one box needs no coordinator: throughputs add up, latency histograms merge exactly,
//! and the ratios are recomputed from the merged rates.

use crate::histogram::decode_histogram;
use crate::measure::PhaseResult;
use crate::series::SeriesPoint;
use crate::summary::{Check, Summary};

/// Merges concurrent runs of the same scenario. `summaries` must not be empty.
pub fn merge(summaries: Vec<Summary>) -> anyhow::Result<Summary> {
    anyhow::ensure!(!summaries.is_empty(), "nothing to merge");
    if summaries.len() == 1 {
        return Ok(summaries.into_iter().next().expect("one"));
    }
    let mut merged = summaries[0].clone();
    merged.scenario.name = format!("{}-merged-{}", merged.scenario.name, summaries.len());
    merged.started_at = summaries
        .iter()
        .map(|s| s.started_at.clone())
        .min()
        .unwrap_or_default();
    merged.machine.cores = summaries.iter().map(|s| s.machine.cores).sum();
    merged.machine.memory_bytes = summaries.iter().map(|s| s.machine.memory_bytes).sum();
    merged.checks = summaries
        .iter()
        .enumerate()
        .flat_map(|(i, s)| {
            s.checks.iter().map(move |c| Check {
                name: format!("[{}] {}", i + 1, c.name),
                ..c.clone()
            })
        })
        .collect();
    merged.phases = summaries[0]
        .phases
        .iter()
        .map(|first| {
            let same: Vec<&PhaseResult> = summaries
                .iter()
                .filter_map(|s| s.phase(&first.driver, &first.phase))
                .collect();
            merge_concurrent(&same)
        })
        .collect();
    let rate = |driver: &str, phase: &str| merged.phase(driver, phase).map(PhaseResult::rate);
    let produce = rate("rest", "produce")
        .zip(rate("native", "produce"))
        .map(|(r, n)| r / n);
    let consume = rate("rest", "consume")
        .zip(rate("native", "consume"))
        .map(|(r, n)| r / n);
    // The same-proxy comparisons, from the merged rates (no rounds, so no interval).
    let v3_vs_v2 = rate("rest", "produce")
        .zip(rate(crate::run::V2_PEER, "produce"))
        .map(|(v3, v2)| v3 / v2);
    let format_vs_binary = produce
        .zip(rate(crate::run::BINARY_PEER, "produce"))
        .zip(rate(crate::run::NATIVE_BINARY, "produce"))
        .map(|((format, rest), native)| format / (rest / native));
    let paired = |ratio: Option<f64>| {
        ratio.map(|ratio| crate::summary::PairedRatio {
            ratio,
            interval: None,
            round_ratios: Vec::new(),
        })
    };
    merged.v3_vs_v2 = paired(v3_vs_v2);
    merged.format_vs_binary = paired(format_vs_binary);
    merged.produce_ratio =
        produce.ok_or_else(|| anyhow::anyhow!("the summaries have no produce phases"))?;
    merged.consume_ratio = consume;
    merged.produce_round_ratios = Vec::new();
    // Rounds ran on each machine at its own pace: the merged ratios have no rounds, and the
    // per-machine extras (ceiling, cross-check, added latency) stay in each machine's summary.
    merged.produce_interval = None;
    merged.consume_interval = None;
    merged.consume_round_ratios = Vec::new();
    merged.ceiling = None;
    merged.other_ceilings.clear();
    merged.crosscheck = None;
    merged.added_latency = None;
    merged.long_poll_wake = None;
    merged.produce_requests = None;
    merged.cpu_ratios = crate::summary::CpuRatios::of(&merged.phases, "rest");
    merged.peers = Vec::new(); // peers' ratios are in the merged phases
    merged.gates = Vec::new();
    Ok(merged)
}

/// One phase measured at the same time on several machines.
fn merge_concurrent(parts: &[&PhaseResult]) -> PhaseResult {
    let mut out = parts[0].clone();
    let mut histogram = decode_histogram(&out.latency.histogram_v2);
    for p in &parts[1..] {
        out.records += p.records;
        out.bytes += p.bytes;
        out.requests += p.requests;
        out.errors += p.errors;
        out.records_per_s += p.records_per_s;
        out.mib_per_s += p.mib_per_s;
        out.requests_per_s += p.requests_per_s;
        out.elapsed_s = out.elapsed_s.max(p.elapsed_s);
        out.checksum = out.checksum.wrapping_add(p.checksum);
        out.proxy_rss_max_bytes = out.proxy_rss_max_bytes.max(p.proxy_rss_max_bytes);
        // CPU seconds and records add up: per-record figures are weighted by each machine's.
        out.cpu = match (out.cpu, p.cpu) {
            (Some(mut a), Some(b)) => {
                a.add(&b);
                Some(a)
            }
            _ => None,
        };
        out.steady_records_per_s = out
            .steady_records_per_s
            .zip(p.steady_records_per_s)
            .map(|(a, b)| a + b);
        for (i, point) in p.series.iter().enumerate() {
            match out.series.get_mut(i) {
                Some(mine) => mine.records_per_s += point.records_per_s,
                None => out.series.push(SeriesPoint { ..point.clone() }),
            }
        }
        if let (Some(h), Some(other)) = (
            histogram.as_mut(),
            decode_histogram(&p.latency.histogram_v2),
        ) {
            h.merge(&other);
        }
    }
    if let Some(h) = histogram {
        out.latency = h.summary();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::histogram::Recorder;
    use crate::measure::PhaseResult;
    use crate::scenario::Scenario;
    use crate::summary::Machine;
    use std::time::Duration;

    fn phase(driver: &str, rate_k: u64, latencies_ms: &[u64]) -> PhaseResult {
        let mut rec = Recorder::default();
        for ms in latencies_ms {
            rec.record(Duration::from_millis(*ms));
        }
        PhaseResult::new(
            driver,
            "produce",
            rate_k * 1000,
            rate_k * 100_000,
            10,
            0,
            Duration::from_secs(1),
            "request",
            &rec,
            7,
        )
    }

    fn summary(native_k: u64, rest_k: u64, latencies_ms: &[u64]) -> Summary {
        let scenario: Scenario = toml::from_str("name = 'm'").unwrap();
        Summary {
            started_at: "2026-01-01T00:00:00Z".into(),
            machine: Machine {
                cores: 2,
                memory_bytes: Some(1),
                os: "linux".into(),
            },
            phases: vec![
                phase("native", native_k, &[1]),
                phase("rest", rest_k, latencies_ms),
            ],
            produce_ratio: rest_k as f64 / native_k as f64,
            ..Summary::empty(scenario)
        }
    }

    #[test]
    fn rates_add_and_histograms_merge_exactly() {
        let a = summary(100, 50, &[1, 2, 3, 4]);
        let b = summary(100, 70, &[100, 200, 300, 400]);
        let m = merge(vec![a, b]).unwrap();
        let rest = m.phase("rest", "produce").unwrap();
        assert_eq!(rest.records, 120_000);
        assert!((m.produce_ratio - 0.6).abs() < 1e-9);
        assert_eq!(rest.latency.count, 8);
        // The merged median sits between the two machines' data; the max is machine b's.
        assert!(
            rest.latency.p50_us >= 4_000 && rest.latency.p50_us < 100_000,
            "{}",
            rest.latency.p50_us
        );
        assert!(rest.latency.max_us >= 399_000);
        assert_eq!(m.machine.cores, 4);
    }
}
