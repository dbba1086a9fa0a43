//! µs latency histograms (HdrHistogram): recording, merging, and their serialized summary.

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
pub(crate) fn bounded_us(elapsed: std::time::Duration) -> u64 {
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

#[cfg(test)]
mod tests {
    use super::*;

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
