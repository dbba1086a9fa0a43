//! Publishes become Kafka records in batches, by group commit (`crate::gather`, shared with the
//! batch engine). Each Kafka topic has `mqtt.batch.max.in.flight` writers ("lanes"); a writer
//! takes everything waiting in its queue (up to `mqtt.batch.max.records` and `mqtt.batch.max.bytes`) as one produce call, and
//! sends the next batch only once Kafka has answered the previous one. No timer holds a publish
//! back: a lone publish is written at once, and under load publishes gather while the previous
//! batch is on the wire.
//!
//! Queues carry [`Chunk`]s: a connection handles every packet one socket read brought, then
//! queues those publishes as one chunk per lane. Outcomes go back to the connection as runs
//! ([`Settled`]). Queue hand-offs and wake-ups are so paid per read, not per publish; per
//! publish, they were the largest cost of the hot path (perf, README "MQTT").
//!
//! Order: the publishes of one MQTT topic always take the same lane (by a hash of the topic),
//! a chunk keeps publish order, and a lane has one batch in flight, so they reach Kafka in the
//! order they were published (lanes in parallel could otherwise overtake each other on the
//! producer's connections).
//!
//! Queues are bounded (in chunks, each of bounded size: at most `CHUNK_MAX_PUBLISHES` publishes
//! and about `CHUNK_MAX_BYTES` of payload, with room reserved for at most that), so a slow Kafka
//! slows the sockets (the connection stops reading) instead of growing memory.
//!
//! Each publish keeps its own arrival time as the record's CreateTime, and hears its own
//! outcome: one failed record does not fail the others of its batch.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::chunk::{records, Publishes, Ticket};
use crate::gather::{Gather, Limits};
use crate::kafka::producer::ProduceError;
use crate::kafka::RecordError;
use crate::state::App;

/// Whether Kafka took a publish; the error says why not.
pub type Delivered = Result<(), NotDelivered>;

/// Why Kafka did not take a publish.
#[derive(Debug, Clone, thiserror::Error)]
pub enum NotDelivered {
    /// Kafka refused or failed this record.
    #[error("{0}")]
    Record(#[from] RecordError),
    /// The produce call of its whole batch was refused (e.g. the topic does not exist).
    #[error("{0}")]
    Batch(Arc<ProduceError>),
    #[error("the record is larger than the producer's message.max.bytes")]
    TooLarge,
}

/// Publishes of one connection for one lane, in publish order: what the connection read in one
/// go. Queues carry chunks rather than single publishes, so a queue hand-off (and the writer's
/// wake-up) is paid once per socket read, not once per publish.
pub struct Chunk {
    pub publishes: Publishes,
    /// Where the outcomes go: the connection's channel.
    pub acks: mpsc::UnboundedSender<Settled>,
}

/// Kafka's outcome for a connection's publishes numbered `first..=last`. Every publish in that
/// range whose answer is still waiting belongs to one chunk (a connection starts a new chunk
/// whenever the lane changes), so a run of successes is one message.
pub struct Settled {
    pub first: u64,
    pub last: u64,
    pub outcome: Delivered,
    /// The chunk's records once written, with the chunk's last run of successes: the connection
    /// fills them again ([`super::routes::Pending::recycle`]), so a steady stream of QoS 1 and 2
    /// chunks neither allocates nor grows its buffers.
    pub spent: Option<Publishes>,
}

/// Now, in ms since the epoch.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Counters of the MQTT listeners, logged at shutdown.
#[derive(Default, Debug)]
pub struct Stats {
    pub connections: AtomicU64,
    pub refused_busy: AtomicU64,
    pub refused_credentials: AtomicU64,
    /// Publishes Kafka acknowledged, by QoS.
    pub published: [AtomicU64; 3],
    pub published_bytes: AtomicU64,
    /// Publishes Kafka did not take.
    pub failed: AtomicU64,
    /// Publishes no rule maps, with no default topic.
    pub unmatched: AtomicU64,
}

impl Stats {
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }
}

/// Chunks queued per lane: with chunks of at most [`CHUNK_MAX_PUBLISHES`] publishes, a lane
/// queues a bounded number of publishes, and a full queue stops the connections reading.
const QUEUED_CHUNKS: usize = 64;

/// The most publishes (and payload bytes) a connection gathers into one chunk.
pub const CHUNK_MAX_PUBLISHES: usize = 1024;
pub const CHUNK_MAX_BYTES: usize = 1 << 20;

/// The queues of one Kafka topic's lanes.
pub struct Lanes(Vec<mpsc::Sender<Chunk>>);

impl Lanes {
    /// Starts the writers of `topic` (their handles go to `tasks`); they finish once every
    /// queue sender is gone and every batch is answered.
    pub fn start(
        topic: &str,
        app: &Arc<App>,
        stats: &Arc<Stats>,
        tasks: &mut Vec<JoinHandle<()>>,
    ) -> Lanes {
        let max_records = app.config.mqtt.batch_max_records;
        let max_bytes = app.config.mqtt.batch_max_bytes;
        let lanes = (0..app.config.mqtt.batch_max_in_flight)
            .map(|_| {
                let (tx, rx) = mpsc::channel(QUEUED_CHUNKS);
                let writer = Writer {
                    topic: topic.to_string(),
                    app: app.clone(),
                    stats: stats.clone(),
                };
                tasks.push(tokio::spawn(writer.run(rx, max_records, max_bytes)));
                tx
            })
            .collect();
        Lanes(lanes)
    }

    /// The lane of an MQTT topic (an index into the lanes): always the same one.
    pub fn of(&self, mqtt_topic: &[u8]) -> usize {
        crc32c::crc32c(mqtt_topic) as usize % self.0.len()
    }

    pub fn queue(&self, lane: usize) -> &mpsc::Sender<Chunk> {
        &self.0[lane]
    }
}

struct Writer {
    topic: String,
    app: Arc<App>,
    stats: Arc<Stats>,
}

/// The publishes of one batch, chunk by chunk.
struct Batch(Vec<Chunk>);

impl Batch {
    fn publishes(&self) -> impl Iterator<Item = &Publishes> + Clone {
        self.0.iter().map(|c| &c.publishes)
    }

    /// Takes out the `index`-th publish of the batch, with its chunk's channel.
    fn remove(&mut self, mut index: usize) -> Option<(Ticket, mpsc::UnboundedSender<Settled>)> {
        for chunk in &mut self.0 {
            if index < chunk.publishes.len() {
                return Some((chunk.publishes.remove(index), chunk.acks.clone()));
            }
            index -= chunk.publishes.len();
        }
        None
    }
}

impl Writer {
    /// Writes batch after batch until every sender is gone (shutdown) and the queue is empty.
    /// A batch is every chunk queued, up to `max_records` publishes or `max_bytes` of payload
    /// (a chunk is never split, so a lone chunk may exceed them).
    async fn run(self, rx: mpsc::Receiver<Chunk>, max_records: usize, max_bytes: usize) {
        let limits = Limits {
            max_count: max_records,
            max_bytes,
            weigh: |c: &Chunk| (c.publishes.len(), c.publishes.bytes()),
        };
        let mut chunks = Gather::new(rx, limits);
        // While a batch is written, the next one gathers in the queue.
        while let Some(batch) = chunks.next().await {
            self.write(Batch(batch)).await;
        }
    }

    async fn write(&self, mut batch: Batch) {
        loop {
            let records = records(batch.publishes());
            let count = records.len();
            if count == 0 {
                return;
            }
            let outcomes = match self.app.kafka.producer.produce(&self.topic, records).await {
                Ok(outcomes) => outcomes
                    .into_iter()
                    .map(|o| o.map(|_| ()).map_err(NotDelivered::Record))
                    .collect(),
                // One record the producer will never take: it fails alone, the rest go again.
                Err(ProduceError::RecordTooLarge { index, .. }) if index < count => {
                    if let Some((ticket, acks)) = batch.remove(index) {
                        let outcome = std::iter::once(Err(NotDelivered::TooLarge));
                        if let Some(run) =
                            answer(&self.topic, &self.stats, &[ticket], &acks, outcome)
                        {
                            let _ = acks.send(run);
                        }
                    }
                    continue;
                }
                Err(e) => vec![Err(NotDelivered::Batch(Arc::new(e))); count],
            };
            // Acknowledgement latency, once per batch: from its oldest PUBLISH's arrival to
            // Kafka's answer (milliseconds, as arrivals are stamped).
            if let Some(oldest) = batch.publishes().filter_map(Publishes::oldest).min() {
                metrics::histogram!(crate::telemetry::MQTT_ACK_DURATION)
                    .record(((now_ms() - oldest).max(0) * 1000) as f64);
            }
            let mut outcomes = outcomes.into_iter();
            for chunk in batch.0 {
                let n = chunk.publishes.len();
                let outcomes = outcomes.by_ref().take(n);
                let tickets = chunk.publishes.tickets();
                let last = answer(&self.topic, &self.stats, tickets, &chunk.acks, outcomes);
                if let Some(mut run) = last {
                    run.spent = Some(chunk.publishes);
                    let _ = chunk.acks.send(run);
                }
            }
            return;
        }
    }
}

/// Tells one chunk's connection the outcomes of its publishes: each run of successes as
/// one message, each failure on its own; the last run of successes is returned unsent, for
/// the caller to send with the chunk's spent records.
#[must_use]
fn answer(
    kafka_topic: &str,
    stats: &Stats,
    publishes: &[Ticket],
    acks: &mpsc::UnboundedSender<Settled>,
    outcomes: impl Iterator<Item = Delivered>,
) -> Option<Settled> {
    let mut published = [0u64; 3];
    let mut bytes = 0u64;
    let mut run: Option<(u64, u64)> = None;
    let settled = |(first, last)| Settled {
        first,
        last,
        outcome: Ok(()),
        spent: None,
    };
    let settle_run = |run: &mut Option<(u64, u64)>| {
        if let Some(r) = run.take() {
            let _ = acks.send(settled(r));
        }
    };
    for (p, outcome) in publishes.iter().zip(outcomes) {
        match outcome {
            Ok(()) => {
                published[usize::from(u8::from(p.qos))] += 1;
                bytes += p.bytes as u64;
                if let Some(seq) = p.seq {
                    run = Some(run.map_or((seq, seq), |(first, _)| (first, seq)));
                }
            }
            Err(e) => {
                Stats::add(&stats.failed, 1);
                settle_run(&mut run);
                match p.seq {
                    Some(seq) => {
                        let _ = acks.send(Settled {
                            first: seq,
                            last: seq,
                            outcome: Err(e),
                            spent: None,
                        });
                    }
                    None => {
                        tracing::warn!(%kafka_topic, error = %e, "QoS 0 publish not produced");
                    }
                }
            }
        }
    }
    for (counter, n) in stats.published.iter().zip(published) {
        if n > 0 {
            Stats::add(counter, n);
        }
    }
    Stats::add(&stats.published_bytes, bytes);
    run.map(settled)
}

#[cfg(test)]
mod tests {
    use super::*;

    use rmqtt_codec::types::QoS;

    fn publish(qos: QoS, seq: Option<u64>) -> Ticket {
        Ticket { seq, qos, bytes: 5 }
    }

    #[test]
    fn successes_are_settled_as_runs_and_failures_alone() {
        let stats = Stats::default();
        let (tx, mut rx) = mpsc::unbounded_channel();
        let publishes = vec![
            publish(QoS::AtLeastOnce, Some(0)),
            publish(QoS::AtMostOnce, None),
            publish(QoS::ExactlyOnce, Some(2)),
            publish(QoS::AtLeastOnce, Some(3)),
            publish(QoS::AtMostOnce, None),
            publish(QoS::AtLeastOnce, Some(5)),
            publish(QoS::AtLeastOnce, Some(6)),
        ];
        let outcomes = vec![
            Ok(()),
            Ok(()),
            Ok(()),
            Err(NotDelivered::TooLarge),
            Err(NotDelivered::TooLarge),
            Ok(()),
            Ok(()),
        ];
        let last = answer("k", &stats, &publishes, &tx, outcomes.into_iter());
        let mut got = Vec::new();
        while let Ok(s) = rx.try_recv() {
            got.push((s.first, s.last, s.outcome.is_ok()));
        }
        // The QoS 0 failure has no one to tell; the runs around the failure stay apart, and
        // the last is left to the caller.
        assert_eq!(got, [(0, 2, true), (3, 3, false)]);
        let last = last.expect("the last run");
        assert_eq!((last.first, last.last, last.outcome.is_ok()), (5, 6, true));
        let published: Vec<u64> = stats
            .published
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .collect();
        assert_eq!(published, [1, 3, 1]);
        assert_eq!(stats.failed.load(Ordering::Relaxed), 2);
        assert_eq!(stats.published_bytes.load(Ordering::Relaxed), 25);
    }
}
