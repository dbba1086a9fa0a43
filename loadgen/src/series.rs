//! Time series of a phase: throughput and latency per bucket, and the steady-state rate.

use serde::{Deserialize, Serialize};

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

#[cfg(test)]
mod tests {
    use super::*;

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
}
