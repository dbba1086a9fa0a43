//! Running one phase of a driver: sampling its progress, latencies and the proxy's memory while
//! it runs, accounting the CPU of the run's processes over its window; and the harness's
//! messages and checks.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::measure::PhaseResult;
use crate::progress::Progress;
use crate::scenario::Workload;
use crate::series::{self, LatencyPoint};
use crate::summary::Check;
use crate::targets::Targets;

pub(crate) fn say(msg: &str) {
    eprintln!("loadgen: {msg}");
}

pub(crate) fn check(name: &str, passed: bool, detail: String) -> Check {
    Check {
        name: name.to_string(),
        passed,
        detail,
    }
}

/// Runs a phase while sampling, every 20 ms, its progress (for the time series and the
/// steady-state rate), its latencies per bucket, and the local proxy's resident memory; then
/// accounts the CPU each process used in the measured window.
pub(crate) async fn observe<F>(
    targets: &Targets,
    w: &Workload,
    progress: &Progress,
    (label, total): (&str, u64),
    phase: F,
) -> anyhow::Result<PhaseResult>
where
    F: Future<Output = anyhow::Result<PhaseResult>>,
{
    let bar = crate::progress_bar::phase(label, total);
    let max_rss = AtomicU64::new(0);
    let samples = std::sync::Mutex::new(vec![(0.0, 0u64)]);
    let latencies = std::sync::Mutex::new(Vec::new());
    let bucket_s = w.bucket_ms as f64 / 1000.0;
    let take = |t: f64| {
        if let Some((p50_us, p99_us, count)) = progress.take_latency() {
            latencies.lock().expect("poisoned").push(LatencyPoint {
                t_s: t,
                p50_us,
                p99_us,
                count,
            });
        }
    };
    let sampler = async {
        let mut tick = tokio::time::interval(Duration::from_millis(20));
        let mut next_bucket = bucket_s;
        loop {
            tick.tick().await;
            if let Some(rss) = targets.proxy_rss() {
                max_rss.fetch_max(rss, Ordering::Relaxed);
            }
            if let Some(sample) = progress.sample() {
                bar.set_position(sample.1);
                if sample.0 >= next_bucket {
                    take(next_bucket);
                    next_bucket += bucket_s;
                }
                samples.lock().expect("poisoned").push(sample);
            }
        }
    };
    let result = tokio::select! {
        r = phase => r,
        _ = sampler => unreachable!("the sampler never ends"),
    };
    bar.finish_and_clear();
    let mut result = result?;
    result.cpu = progress.cpu_since_start(result.records);
    take(result.elapsed_s);
    let mut samples = samples.into_inner().expect("poisoned");
    // The window ends when the driver's clock stopped, with everything counted.
    samples.retain(|(t, _)| *t < result.elapsed_s);
    samples.push((result.elapsed_s, result.records));
    result.series = series::buckets(&samples, bucket_s);
    result.latency_series = latencies.into_inner().expect("poisoned");
    result.steady_records_per_s = series::steady_rate(&samples, w.warmup_ms as f64 / 1000.0);
    result.proxy_rss_max_bytes = Some(max_rss.load(Ordering::Relaxed)).filter(|&m| m > 0);
    Ok(result)
}
