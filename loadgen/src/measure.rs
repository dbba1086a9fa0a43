//! Per-phase results: one driver's figures for one phase, rounds merged into one, and medians.
//! Their parts are in [`crate::histogram`], [`crate::series`] and [`crate::cpu`]; the run's
//! summary (`summary.json`) is in [`crate::summary`].

use serde::{Deserialize, Serialize};

use crate::histogram::{decode_histogram, Latency, Recorder};
use crate::series::{LatencyPoint, SeriesPoint};

/// One driver's result for one phase.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PhaseResult {
    /// `native` or `rest`.
    pub driver: String,
    /// `produce` or `consume`.
    pub phase: String,
    pub records: u64,
    pub bytes: u64,
    pub requests: u64,
    pub errors: u64,
    pub elapsed_s: f64,
    pub records_per_s: f64,
    pub mib_per_s: f64,
    pub requests_per_s: f64,
    /// What one latency sample covers: a produce request, a record, or a fetch.
    pub latency_of: String,
    pub latency: Latency,
    /// Order-independent checksum of the values (see [`crate::payload::value_checksum`]).
    pub checksum: u64,
    /// Largest resident memory of the proxy process seen during the phase.
    pub proxy_rss_max_bytes: Option<u64>,
    /// Throughput over time.
    #[serde(default)]
    pub series: Vec<SeriesPoint>,
    /// Records per second with the warm-up window excluded (None for a too-short phase).
    #[serde(default)]
    pub steady_records_per_s: Option<f64>,
    /// Open loop only: how late sends were against their intended times.
    #[serde(default)]
    pub schedule_lag: Option<Latency>,
    /// Open loop only: per record, from its intended send time to a concurrent consumer of the
    /// same kind (native or REST) reading it, in µs.
    #[serde(default)]
    pub end_to_end: Option<Latency>,
    /// With `cross_readers`: the same from a concurrent consumer of the other kind.
    #[serde(default)]
    pub end_to_end_cross: Option<Latency>,
    /// CPU time of the proxy, the broker and the client during the measured window.
    #[serde(default)]
    pub cpu: Option<crate::cpu::Cpu>,
    /// Latency (of what `latency_of` says) over time, per bucket.
    #[serde(default)]
    pub latency_series: Vec<LatencyPoint>,
    /// Merged rounds: where each round starts on the series' time line.
    #[serde(default)]
    pub round_starts: Vec<f64>,
    /// Relayed phases (published into an MQTT broker, read at the far end): what was
    /// published against what arrived.
    #[serde(default)]
    pub delivery: Option<Delivery>,
}

/// What a relayed phase published and what arrived at the far end (`records` and `checksum`
/// of its [`PhaseResult`] count the distinct arrivals).
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct Delivery {
    pub published: u64,
    /// [`crate::payload::value_checksum`] summed over the published values.
    pub published_checksum: u64,
    pub published_bytes: u64,
    /// Published records that never arrived.
    pub missing: u64,
    /// Arrivals of a record that had arrived before.
    pub duplicates: u64,
    /// Arrivals that are no record of the phase.
    pub strangers: u64,
    /// From the first publish to the broker's last answer to the publishers.
    pub publishing_s: f64,
}

impl Delivery {
    /// Every published record arrived, unchanged (duplicates aside: MQTT QoS 1 is at least
    /// once), and nothing else did.
    pub fn complete(&self, arrived_checksum: u64) -> bool {
        self.missing == 0 && self.strangers == 0 && arrived_checksum == self.published_checksum
    }

    fn add(&mut self, other: &Delivery) {
        self.published += other.published;
        self.published_checksum = self
            .published_checksum
            .wrapping_add(other.published_checksum);
        self.published_bytes += other.published_bytes;
        self.missing += other.missing;
        self.duplicates += other.duplicates;
        self.strangers += other.strangers;
        self.publishing_s += other.publishing_s;
    }
}

impl PhaseResult {
    /// This phase's headline rate: steady state when measured, else the whole window.
    pub fn rate(&self) -> f64 {
        self.steady_records_per_s.unwrap_or(self.records_per_s)
    }

    /// `self`'s rate over `baseline`'s, like for like: steady state when both have one (a phase
    /// too short for a steady window has none), else both whole windows.
    pub fn ratio_to(&self, baseline: &PhaseResult) -> f64 {
        match (self.steady_records_per_s, baseline.steady_records_per_s) {
            (Some(a), Some(b)) => a / b,
            _ => self.records_per_s / baseline.records_per_s,
        }
    }

    #[allow(clippy::too_many_arguments)]
    pub fn new(
        driver: &str,
        phase: &str,
        records: u64,
        bytes: u64,
        requests: u64,
        errors: u64,
        elapsed: std::time::Duration,
        latency_of: &str,
        latency: &Recorder,
        checksum: u64,
    ) -> Self {
        let s = elapsed.as_secs_f64().max(1e-9);
        PhaseResult {
            driver: driver.into(),
            phase: phase.into(),
            records,
            bytes,
            requests,
            errors,
            elapsed_s: s,
            records_per_s: records as f64 / s,
            mib_per_s: bytes as f64 / s / (1024.0 * 1024.0),
            requests_per_s: requests as f64 / s,
            latency_of: latency_of.into(),
            latency: latency.summary(),
            checksum,
            proxy_rss_max_bytes: None,
            series: Vec::new(),
            steady_records_per_s: None,
            schedule_lag: None,
            end_to_end: None,
            end_to_end_cross: None,
            cpu: None,
            latency_series: Vec::new(),
            round_starts: Vec::new(),
            delivery: None,
        }
    }

    /// Whether `latency` holds measurements (a phase that measures none says "n/a").
    pub fn latency_measured(&self) -> bool {
        self.latency.count > 0
    }
}

/// The median (the mean of the middle two for an even count); None when empty.
pub fn median(values: &[f64]) -> Option<f64> {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(v[n / 2]),
        _ => Some((v[n / 2 - 1] + v[n / 2]) / 2.0),
    }
}

/// Merges one driver's rounds of a phase: totals add up, histograms merge exactly, series are
/// laid end to end, and the steady rate is the median of the rounds'.
pub fn merge_rounds(rounds: Vec<PhaseResult>) -> PhaseResult {
    let mut rounds = rounds.into_iter();
    let mut merged = rounds.next().expect("at least one round");
    let mut histogram = decode_histogram(&merged.latency.histogram_v2);
    let mut e2e = merged
        .end_to_end
        .as_ref()
        .and_then(|l| decode_histogram(&l.histogram_v2));
    let mut cross = merged
        .end_to_end_cross
        .as_ref()
        .and_then(|l| decode_histogram(&l.histogram_v2));
    let mut steady: Vec<f64> = merged.steady_records_per_s.into_iter().collect();
    merged.round_starts = vec![0.0];
    for r in rounds {
        let offset = merged.elapsed_s;
        merged.round_starts.push(offset);
        merged.series.extend(r.series.iter().map(|p| SeriesPoint {
            t_s: p.t_s + offset,
            ..p.clone()
        }));
        merged
            .latency_series
            .extend(r.latency_series.iter().map(|p| LatencyPoint {
                t_s: p.t_s + offset,
                ..p.clone()
            }));
        merged.cpu = match (merged.cpu, r.cpu) {
            (Some(mut a), Some(b)) => {
                a.add(&b);
                Some(a)
            }
            _ => None,
        };
        merged.records += r.records;
        merged.bytes += r.bytes;
        merged.requests += r.requests;
        merged.errors += r.errors;
        merged.elapsed_s += r.elapsed_s;
        merged.checksum = merged.checksum.wrapping_add(r.checksum);
        merged.delivery = match (merged.delivery, r.delivery) {
            (Some(mut a), Some(b)) => {
                a.add(&b);
                Some(a)
            }
            (a, b) => a.or(b),
        };
        merged.proxy_rss_max_bytes = merged.proxy_rss_max_bytes.max(r.proxy_rss_max_bytes);
        steady.extend(r.steady_records_per_s);
        if let (Some(h), Some(other)) = (
            histogram.as_mut(),
            decode_histogram(&r.latency.histogram_v2),
        ) {
            h.merge(&other);
        }
        merge_latency(&mut e2e, r.end_to_end.as_ref());
        merge_latency(&mut cross, r.end_to_end_cross.as_ref());
    }
    let s = merged.elapsed_s.max(1e-9);
    merged.records_per_s = merged.records as f64 / s;
    merged.mib_per_s = merged.bytes as f64 / s / (1024.0 * 1024.0);
    merged.requests_per_s = merged.requests as f64 / s;
    merged.steady_records_per_s = median(&steady);
    if let Some(h) = histogram {
        merged.latency = h.summary();
    }
    merged.end_to_end = e2e.map(|h| h.summary());
    merged.end_to_end_cross = cross.map(|h| h.summary());
    merged
}

/// Adds a round's latency histogram to the merged one.
fn merge_latency(merged: &mut Option<Recorder>, round: Option<&Latency>) {
    match (
        merged.as_mut(),
        round.and_then(|l| decode_histogram(&l.histogram_v2)),
    ) {
        (Some(h), Some(other)) => h.merge(&other),
        (None, Some(other)) => *merged = Some(other),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians() {
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[0.6, 0.8]), Some(0.7));
    }

    #[test]
    fn ratios_compare_like_with_like() {
        let phase = |overall: f64, steady: Option<f64>| {
            let mut p = PhaseResult::new(
                "d",
                "produce",
                overall as u64,
                0,
                1,
                0,
                std::time::Duration::from_secs(1),
                "request",
                &Recorder::default(),
                0,
            );
            p.steady_records_per_s = steady;
            p
        };
        // A short native phase has no steady window: both sides use their whole windows.
        let native = phase(1000.0, None);
        let rest = phase(800.0, Some(400.0));
        assert!((rest.ratio_to(&native) - 0.8).abs() < 1e-9);
        let native = phase(1000.0, Some(2000.0));
        assert!((rest.ratio_to(&native) - 0.2).abs() < 1e-9);
    }
}
