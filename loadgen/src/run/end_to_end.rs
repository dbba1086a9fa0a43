//! Per-record end-to-end latency in open-loop runs: a reader of the topic being produced.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::drivers;
use crate::histogram::Recorder;
use crate::measure::PhaseResult;
use crate::progress::Progress;
use crate::scenario::Workload;
use crate::targets::Targets;

/// A reader of a topic while it is produced (open-loop runs), for per-record end-to-end latency:
/// native for the native and MQTT drivers, a REST consumer for REST endpoints.
pub(super) struct EndToEnd {
    stop: Arc<AtomicBool>,
    reader: tokio::task::JoinHandle<anyhow::Result<Recorder>>,
}

impl EndToEnd {
    /// Starts a reader when the workload is open loop, and returns once it is reading (its first
    /// fetch of the still empty topic answered), so that the producer starts after it; `rest` is
    /// the proxy to read through.
    pub(super) async fn start(
        targets: &Targets,
        rest: Option<&str>,
        topic: &str,
        w: &Workload,
        progress: &Arc<Progress>,
    ) -> anyhow::Result<Option<EndToEnd>> {
        if w.rate_records_per_s.is_none() {
            return Ok(None);
        }
        Self::spawn(targets, rest, topic, w, progress)
            .await
            .map(Some)
    }

    /// Starts a reader whatever the workload's loop (the calibration's closed-loop produce runs
    /// with the readers its open loop will have), and returns once it is reading.
    pub(super) async fn spawn(
        targets: &Targets,
        rest: Option<&str>,
        topic: &str,
        w: &Workload,
        progress: &Arc<Progress>,
    ) -> anyhow::Result<EndToEnd> {
        let stop = Arc::new(AtomicBool::new(false));
        let (topic, partitions, records, patience) = (
            topic.to_string(),
            w.partitions,
            w.records,
            Duration::from_secs(10),
        );
        let progress = progress.clone();
        let (ready, is_ready) = tokio::sync::oneshot::channel();
        let reader = match rest {
            Some(url) => {
                let (url, stop, max_bytes) = (url.to_string(), stop.clone(), w.max_bytes);
                // A thread and a runtime of its own, as the native reader has its own thread:
                // on loadgen's shared runtime its answers waited for the producers' tasks.
                tokio::task::spawn_blocking(move || {
                    tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()?
                        .block_on(drivers::rest::end_to_end(
                            &url, &topic, partitions, records, max_bytes, stop, patience, progress,
                            ready,
                        ))
                })
            }
            None => {
                let (bootstrap, clients, stop) = (
                    targets.bootstrap.clone(),
                    targets.clients.clone(),
                    stop.clone(),
                );
                tokio::task::spawn_blocking(move || {
                    drivers::native::end_to_end(
                        &bootstrap, &topic, partitions, records, &clients, &stop, patience,
                        &progress, ready,
                    )
                })
            }
        };
        if is_ready.await.is_err() {
            // The reader ended before it was ready: its error says why.
            reader.await??;
            anyhow::bail!("the end-to-end reader stopped before reading");
        }
        Ok(EndToEnd { stop, reader })
    }

    /// The readers of an open-loop phase, started whatever the workload's loop: one of the
    /// phase's own kind (through the proxy at `rest` for a REST phase), and with
    /// `workload.cross_readers` one of the other kind.
    pub(super) async fn spawn_both(
        targets: &Targets,
        rest: Option<&str>,
        topic: &str,
        w: &Workload,
        progress: &Arc<Progress>,
    ) -> anyhow::Result<(Option<EndToEnd>, Option<EndToEnd>)> {
        let own = Self::spawn(targets, rest, topic, w, progress).await?;
        if !w.cross_readers {
            return Ok((Some(own), None));
        }
        let other = match rest {
            Some(_) => None,
            None => Some(targets.proxy_url.as_str()),
        };
        let cross = Self::spawn(targets, other, topic, w, progress).await?;
        Ok((Some(own), Some(cross)))
    }

    /// The readers of an open-loop phase ([`Self::spawn_both`]); none in a closed loop.
    pub(super) async fn start_both(
        targets: &Targets,
        rest: Option<&str>,
        topic: &str,
        w: &Workload,
        progress: &Arc<Progress>,
    ) -> anyhow::Result<(Option<EndToEnd>, Option<EndToEnd>)> {
        if w.rate_records_per_s.is_none() {
            return Ok((None, None));
        }
        Self::spawn_both(targets, rest, topic, w, progress).await
    }

    /// Stops the readers once the produce phase is over (whether it succeeded or not: a reader
    /// left running would keep the process from exiting) and attaches what they measured: the
    /// reader of the phase's own kind, and the other kind's.
    pub(super) async fn attach(
        e2e: Option<EndToEnd>,
        cross: Option<EndToEnd>,
        result: anyhow::Result<PhaseResult>,
    ) -> anyhow::Result<PhaseResult> {
        let result = Self::attach_one(cross, result, true).await;
        Self::attach_one(e2e, result, false).await
    }

    async fn attach_one(
        e2e: Option<EndToEnd>,
        result: anyhow::Result<PhaseResult>,
        cross: bool,
    ) -> anyhow::Result<PhaseResult> {
        let Some(e) = e2e else { return result };
        e.stop.store(true, Ordering::Relaxed);
        let mut result = match result {
            Ok(r) => r,
            Err(err) => {
                // Stopped: the reader ends within its patience; its outcome no longer matters.
                let _ = e.reader.await;
                return Err(err);
            }
        };
        let measured = Some(e.reader.await??.summary());
        match cross {
            true => result.end_to_end_cross = measured,
            false => result.end_to_end = measured,
        }
        Ok(result)
    }
}
