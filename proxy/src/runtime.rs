//! The async runtime the proxy runs on: tokio's multi-threaded scheduler with `worker.threads`
//! workers, by default one fewer than the CPUs the process may use (at least one).
//!
//! Why one fewer: the proxy's CPU is not all the runtime's. librdkafka parses fetched records on
//! threads of its own (a third of the proxy's CPU in `consume-cpu`), and the broker and clients
//! often share the machine. A worker per CPU then mostly adds parking and cross-thread wake-ups:
//! on the 2-core test machine, `perf` put tokio's park and unpark at 11% of the proxy's CPU in
//! `produce-100`, and the scheduler's context switches at another 8%. Measured with one worker
//! instead of two (docs/performance-log.md, "The worker threads"), same build:
//! - `produce-100`: REST/native 0.80 to 0.99, proxy CPU 0.57–0.63 to 0.44 µs per record, and the
//!   broker's 0.42 to 0.33 (the lane's Produce requests carry bigger batches);
//! - `single-record`: 15.0 µs of proxy CPU per request instead of 19–21;
//! - `open-loop`: REST's added end-to-end p99 8.9 ms instead of 10–36 ms.
//!
//! Where the proxy has the machine to itself and many cores, `worker.threads` gives it more.

use std::num::NonZeroUsize;

use crate::Config;

/// The runtime for `config`: `worker.threads` workers, or [`default_workers`].
pub fn build(config: &Config) -> std::io::Result<tokio::runtime::Runtime> {
    let workers = config.worker_threads.unwrap_or_else(|| {
        default_workers(std::thread::available_parallelism().map_or(1, NonZeroUsize::get))
    });
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
}

/// One fewer worker than `cpus`, at least one.
pub fn default_workers(cpus: usize) -> usize {
    cpus.saturating_sub(1).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_cpu_is_left_to_librdkafka_and_the_rest_of_the_machine() {
        assert_eq!(default_workers(0), 1);
        assert_eq!(default_workers(1), 1);
        assert_eq!(default_workers(2), 1);
        assert_eq!(default_workers(16), 15);
    }

    fn config(worker_threads: &str) -> Result<Config, crate::config::ConfigError> {
        let props = [
            ("bootstrap.servers", "localhost:9092"),
            ("worker.threads", worker_threads),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        Config::from_properties(&props).map(|(config, _)| config)
    }

    #[test]
    fn worker_threads_is_honoured() {
        let three = config("3").unwrap();
        assert_eq!(three.worker_threads, Some(3));
        let runtime = build(&three).unwrap();
        assert_eq!(runtime.metrics().num_workers(), 3);
        let err = config("0").unwrap_err().to_string();
        assert!(err.contains("worker.threads"), "{err}");
    }
}
