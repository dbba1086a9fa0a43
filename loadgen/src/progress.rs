//! A running phase's shared progress: records completed, the measured window and its CPU, the
//! current time-series bucket's latencies, and (open loop) when each record was due. The
//! terminal's progress bars are in [`crate::progress_bar`].

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::Instant;

use hdrhistogram::Histogram;

use crate::histogram::bounded_us;

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
