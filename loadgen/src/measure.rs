//! Measurements: µs latency histograms, progress of a running phase, and per-phase results.
//! The run's summary (`summary.json`) is in [`crate::summary`].

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::Instant;

use base64::Engine;
use hdrhistogram::serialization::{Serializer, V2Serializer};
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// A latency recorder in microseconds (1 µs .. 10 min, 3 significant digits).
#[derive(Clone)]
pub struct Recorder(Histogram<u64>);

impl Default for Recorder {
    fn default() -> Self {
        Recorder(Histogram::new_with_bounds(1, 600_000_000, 3).expect("valid bounds"))
    }
}

/// A duration as whole µs within the histograms' bounds.
fn bounded_us(elapsed: std::time::Duration) -> u64 {
    (elapsed.as_micros() as u64).clamp(1, 600_000_000)
}

impl Recorder {
    pub fn record(&mut self, elapsed: std::time::Duration) {
        self.0
            .record(bounded_us(elapsed))
            .expect("clamped into bounds");
    }

    pub fn histogram(&self) -> &Histogram<u64> {
        &self.0
    }

    pub fn merge(&mut self, other: &Recorder) {
        self.0.add(&other.0).expect("same bounds");
    }

    /// Percentiles and the whole histogram, V2-serialized and base64-encoded.
    pub fn summary(&self) -> Latency {
        let h = &self.0;
        let mut bytes = Vec::new();
        V2Serializer::new()
            .serialize(h, &mut bytes)
            .expect("serializing to a Vec");
        Latency {
            count: h.len(),
            mean_us: h.mean(),
            p50_us: h.value_at_quantile(0.50),
            p90_us: h.value_at_quantile(0.90),
            p99_us: h.value_at_quantile(0.99),
            p999_us: h.value_at_quantile(0.999),
            max_us: h.max(),
            histogram_v2: base64::engine::general_purpose::STANDARD.encode(bytes),
        }
    }
}

/// Latency percentiles in µs, plus the full histogram.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Latency {
    pub count: u64,
    pub mean_us: f64,
    pub p50_us: u64,
    pub p90_us: u64,
    pub p99_us: u64,
    pub p999_us: u64,
    pub max_us: u64,
    /// HdrHistogram V2 serialization, base64.
    pub histogram_v2: String,
}

/// A driver's running count of completed records, when its measured window started (and the
/// CPU time of the run's processes then), and the latencies of the current time-series bucket.
#[derive(Default)]
pub struct Progress {
    records: AtomicU64,
    started: OnceLock<Instant>,
    processes: crate::cpu::Processes,
    cpu_at_start: OnceLock<crate::cpu::Snapshot>,
    cpu_at_stop: OnceLock<crate::cpu::Snapshot>,
    /// Latencies since the sampler last took them (2 significant digits: for the series only).
    window: std::sync::Mutex<Option<Histogram<u64>>>,
    /// Open loop: each record id's intended send time, for the end-to-end reader.
    due: OnceLock<DueFn>,
}

/// A record id's intended send time (None for an id the phase does not send).
pub type DueFn = Box<dyn Fn(u64) -> Option<Instant> + Send + Sync>;

impl Progress {
    /// Progress of a phase whose window accounts the CPU of `processes`.
    pub fn new(processes: crate::cpu::Processes) -> Progress {
        Progress {
            processes,
            ..Progress::default()
        }
    }

    /// Marks the start of the measured window (after warm-up and payload building); what was
    /// counted before (warm-up) is forgotten. Returns the window's start.
    pub fn start(&self) -> Instant {
        self.records.store(0, Ordering::Relaxed);
        let _ = self.cpu_at_start.set(self.processes.snapshot());
        *self.window.lock().expect("poisoned") = None;
        *self.started.get_or_init(Instant::now)
    }

    /// Open loop: publishes when each record is due (set once, at the window's start).
    pub fn set_due(&self, due: DueFn) {
        let _ = self.due.set(due);
    }

    /// When record `id` was due to be sent, once the driver has said.
    pub fn due(&self, id: u64) -> Option<Instant> {
        (self.due.get()?)(id)
    }

    /// When the measured window started.
    pub fn started(&self) -> Option<Instant> {
        self.started.get().copied()
    }

    /// Marks the end of the measured window for CPU accounting (a driver's teardown after its
    /// last record is not the proxy's work). Only the first call counts.
    pub fn stop(&self) {
        let _ = self.cpu_at_stop.set(self.processes.snapshot());
    }

    /// CPU used by the run's processes in the window (to [`Progress::stop`], or now), for
    /// `records` records.
    pub fn cpu_since_start(&self, records: u64) -> Option<crate::cpu::Cpu> {
        let start = self.cpu_at_start.get()?;
        let end = match self.cpu_at_stop.get() {
            Some(end) => *end,
            None => self.processes.snapshot(),
        };
        Some(start.until(&end, records))
    }

    pub fn add(&self, records: u64) {
        self.records.fetch_add(records, Ordering::Relaxed);
    }

    /// Adds one latency sample to the current time-series bucket (drivers also keep their own
    /// full-precision histogram).
    pub fn latency(&self, elapsed: std::time::Duration) {
        let us = bounded_us(elapsed);
        let mut w = self.window.lock().expect("poisoned");
        let h = w.get_or_insert_with(|| {
            Histogram::new_with_bounds(1, 600_000_000, 2).expect("valid bounds")
        });
        let _ = h.record(us);
    }

    /// Takes the latencies recorded since the last call: (p50, p99, count), if any.
    pub fn take_latency(&self) -> Option<(u64, u64, u64)> {
        let h = self.window.lock().expect("poisoned").take()?;
        Some((h.value_at_quantile(0.5), h.value_at_quantile(0.99), h.len()))
    }

    /// (seconds since the window started, records completed), once started.
    pub fn sample(&self) -> Option<(f64, u64)> {
        let started = self.started.get()?;
        Some((
            started.elapsed().as_secs_f64(),
            self.records.load(Ordering::Relaxed),
        ))
    }
}

/// One bucket of a throughput time series.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SeriesPoint {
    /// End of the bucket, seconds since the measured window started.
    pub t_s: f64,
    pub records_per_s: f64,
}

/// Latency over time: one point per time-series bucket that had samples.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LatencyPoint {
    /// End of the bucket, seconds since the measured window started.
    pub t_s: f64,
    pub p50_us: u64,
    pub p99_us: u64,
    pub count: u64,
}

/// Turns cumulative samples into fixed buckets of `bucket_s` seconds (the last one partial).
pub fn buckets(samples: &[(f64, u64)], bucket_s: f64) -> Vec<SeriesPoint> {
    let Some(&(end, _)) = samples.last() else {
        return Vec::new();
    };
    let at = |t: f64| -> f64 {
        // Records completed by time t, interpolated between samples.
        let i = samples.partition_point(|(ts, _)| *ts < t);
        match (i.checked_sub(1).map(|j| samples[j]), samples.get(i)) {
            (Some((t0, n0)), Some(&(t1, n1))) if t1 > t0 => {
                n0 as f64 + (n1 - n0) as f64 * (t - t0) / (t1 - t0)
            }
            (_, Some(&(_, n1))) => n1 as f64,
            (Some((_, n0)), None) => n0 as f64,
            (None, None) => 0.0,
        }
    };
    let mut out = Vec::new();
    let mut t = 0.0;
    while t < end - 1e-9 {
        let next = (t + bucket_s).min(end);
        out.push(SeriesPoint {
            t_s: next,
            records_per_s: (at(next) - at(t)) / (next - t),
        });
        t = next;
    }
    out
}

/// Records per second after `warmup_s`, or None when the window is too short to tell.
pub fn steady_rate(samples: &[(f64, u64)], warmup_s: f64) -> Option<f64> {
    let &(_, total) = samples.last()?;
    // The window ends when the last record completed: a driver's teardown is not throughput.
    let end = samples.iter().find(|(_, n)| *n == total)?.0;
    if end < 2.0 * warmup_s || end <= warmup_s {
        return None;
    }
    let i = samples.partition_point(|(t, _)| *t < warmup_s);
    let &(t0, n0) = samples.get(i)?;
    (end > t0).then(|| (total - n0) as f64 / (end - t0))
}

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
    /// Order-independent checksum of the values (see [`value_checksum`]).
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
    /// CPU time of the proxy, the broker and the client during the measured window.
    #[serde(default)]
    pub cpu: Option<crate::cpu::Cpu>,
    /// Latency (of what `latency_of` says) over time, per bucket.
    #[serde(default)]
    pub latency_series: Vec<LatencyPoint>,
    /// Merged rounds: where each round starts on the series' time line.
    #[serde(default)]
    pub round_starts: Vec<f64>,
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
            cpu: None,
            latency_series: Vec::new(),
            round_starts: Vec::new(),
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
        merged.proxy_rss_max_bytes = merged.proxy_rss_max_bytes.max(r.proxy_rss_max_bytes);
        steady.extend(r.steady_records_per_s);
        if let (Some(h), Some(other)) = (
            histogram.as_mut(),
            decode_histogram(&r.latency.histogram_v2),
        ) {
            h.merge(&other);
        }
        match (
            e2e.as_mut(),
            r.end_to_end
                .as_ref()
                .and_then(|l| decode_histogram(&l.histogram_v2)),
        ) {
            (Some(h), Some(other)) => h.merge(&other),
            (None, Some(other)) => e2e = Some(other),
            _ => {}
        }
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
    merged
}

/// A recorder rebuilt from a summary's serialized histogram.
pub fn decode_histogram(encoded: &str) -> Option<Recorder> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .ok()?;
    hdrhistogram::serialization::Deserializer::new()
        .deserialize(&mut bytes.as_slice())
        .ok()
        .map(Recorder)
}

/// The value of record `id`: its id (8 bytes, little endian), then a pattern derived from it.
pub fn make_value(id: u64, size: usize) -> Vec<u8> {
    let mut v = Vec::with_capacity(size.max(8));
    v.extend_from_slice(&id.to_le_bytes());
    let mut x = id.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    // Eight letters per xorshift step, each byte scaled onto a-z (no division per byte): every
    // round builds its records afresh, outside the measured window but inside the run's time.
    while v.len() < size {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let take = (size - v.len()).min(8);
        v.extend(
            x.to_le_bytes()[..take]
                .iter()
                .map(|&b| b'a' + ((u32::from(b) * 26) >> 8) as u8),
        );
    }
    v
}

/// A 64-bit hash of one value, summed (wrapping) over a phase, so order does not matter but
/// loss, duplication and corruption do. Eight bytes at a time: drivers that verify what they
/// read hash every record inside the measured window, where a byte-at-a-time hash cost
/// 0.15 µs per 100-byte record.
pub fn value_checksum(value: &[u8]) -> u64 {
    const K: u64 = 0x9E37_79B9_7F4A_7C15;
    let mix = |h: u64, word: u64| {
        let h = (h ^ word).wrapping_mul(K);
        h ^ (h >> 29)
    };
    let mut chunks = value.chunks_exact(8);
    let mut h = (value.len() as u64).wrapping_mul(K) ^ 0xcbf2_9ce4_8422_2325;
    for c in &mut chunks {
        h = mix(h, u64::from_le_bytes(c.try_into().expect("8 bytes")));
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let mut tail = [0u8; 8];
        tail[..rest.len()].copy_from_slice(rest);
        h = mix(h, u64::from_le_bytes(tail));
    }
    // Final avalanche (splitmix64's), so that sums of different sets rarely collide.
    h = (h ^ (h >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    h = (h ^ (h >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    h ^ (h >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_embed_their_id_and_differ() {
        let (a, b) = (make_value(1, 100), make_value(2, 100));
        assert_eq!(a.len(), 100);
        assert_eq!(u64::from_le_bytes(a[..8].try_into().unwrap()), 1);
        assert_ne!(value_checksum(&a), value_checksum(&b));
    }

    #[test]
    fn checksums_catch_loss_duplication_and_corruption() {
        let values: Vec<Vec<u8>> = (0..1000).map(|id| make_value(id, 100)).collect();
        let sum = |vs: &[Vec<u8>]| {
            vs.iter()
                .fold(0u64, |s, v| s.wrapping_add(value_checksum(v)))
        };
        let all = sum(&values);
        let mut reversed = values.clone();
        reversed.reverse();
        assert_eq!(sum(&reversed), all, "order does not matter");
        assert_ne!(sum(&values[1..]), all, "a lost record");
        let mut dup = values.clone();
        dup[5] = values[6].clone();
        assert_ne!(sum(&dup), all, "a record read twice instead of another");
        let mut flipped = values.clone();
        flipped[7][99] ^= 1;
        assert_ne!(sum(&flipped), all, "one bit in the tail");
        flipped = values.clone();
        flipped[7][40] ^= 0x80;
        assert_ne!(sum(&flipped), all, "one bit in a word");
        // Lengths count, even of zero bytes, and short values hash.
        assert_ne!(value_checksum(&[0]), value_checksum(&[0, 0]));
        assert_ne!(value_checksum(&[]), value_checksum(&[0]));
        assert_ne!(value_checksum(b"abc"), value_checksum(b"abd"));
    }

    #[test]
    fn medians() {
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[0.6, 0.8]), Some(0.7));
    }

    #[test]
    fn buckets_and_steady_rate() {
        // 1000 records/s after a slow first half second.
        let samples: Vec<(f64, u64)> = (0..=30)
            .map(|i| {
                let t = i as f64 * 0.1;
                (
                    t,
                    if t < 0.5 {
                        (t * 200.0) as u64
                    } else {
                        100 + ((t - 0.5) * 1000.0).round() as u64
                    },
                )
            })
            .collect();
        let b = buckets(&samples, 1.0);
        assert_eq!(b.len(), 3);
        assert!((b[1].records_per_s - 1000.0).abs() < 1.0, "{b:?}");
        let steady = steady_rate(&samples, 0.5).unwrap();
        assert!((steady - 1000.0).abs() < 1.0, "{steady}");
        assert_eq!(steady_rate(&samples[..5], 0.5), None);
        // Idle samples after the last record (a driver's teardown) do not dilute the rate.
        let mut idle = samples.clone();
        let last = idle.last().unwrap().1;
        idle.extend((1..=10).map(|i| (3.0 + i as f64 * 0.1, last)));
        let with_tail = steady_rate(&idle, 0.5).unwrap();
        assert!((with_tail - 1000.0).abs() < 1.0, "{with_tail}");
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

    #[test]
    fn recorder_reports_microseconds() {
        let mut r = Recorder::default();
        for ms in 1..=100 {
            r.record(std::time::Duration::from_millis(ms));
        }
        let l = r.summary();
        assert_eq!(l.count, 100);
        assert!((49_000..=51_000).contains(&l.p50_us), "{}", l.p50_us);
        assert!(l.max_us >= 99_000);
        assert!(!l.histogram_v2.is_empty());
    }
}
