//! Publishes become Kafka records in batches, by group commit. Each Kafka topic has
//! `mqtt.batch.max.in.flight` writers ("lanes"); a writer takes every publish waiting in its
//! queue (up to `mqtt.batch.max.records` and `mqtt.batch.max.bytes`) as one produce call, and sends the next batch only
//! once Kafka has answered the previous one. No timer holds a publish back: a lone publish is
//! written at once, and under load publishes gather while the previous batch is on the wire.
//!
//! Order: the publishes of one MQTT topic always take the same lane (by a hash of the topic),
//! and a lane has one batch in flight, so they reach Kafka in the order they were published
//! (lanes in parallel could otherwise overtake each other on the producer's connections).
//!
//! Queues are bounded, so a slow Kafka slows the sockets (the connection stops reading) instead
//! of growing memory.
//!
//! Each publish keeps its own arrival time as the record's CreateTime, and hears its own
//! outcome: one failed record does not fail the others of its batch.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use rmqtt_codec::types::QoS;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::formats::RecordsBuilder;
use crate::kafka::producer::ProduceError;
use crate::rest::App;

/// Whether Kafka took a publish; the error says why not.
pub type Delivered = Result<(), String>;

/// One publish on its way to Kafka.
pub struct Publish {
    pub mqtt_topic: Bytes,
    pub payload: Bytes,
    pub qos: QoS,
    /// Arrival, in ms since the epoch: the record's CreateTime.
    pub arrived: i64,
    /// Told the outcome (QoS 1 and 2); QoS 0 publishes have no one to tell.
    pub ack: Option<AckTo>,
}

/// Where a publish's outcome goes: its connection's channel, with its sequence number there.
pub struct AckTo {
    pub tx: mpsc::UnboundedSender<(u64, Delivered)>,
    pub seq: u64,
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

/// The queues of one Kafka topic's lanes.
pub struct Lanes(Vec<mpsc::Sender<Publish>>);

impl Lanes {
    /// Starts the writers of `topic` (their handles go to `tasks`); they finish once every
    /// queue sender is gone and every batch is answered.
    pub fn start(
        topic: &str,
        app: &Arc<App>,
        stats: &Arc<Stats>,
        tasks: &mut Vec<JoinHandle<()>>,
    ) -> Lanes {
        let max_records = app.config.mqtt_batch_max_records;
        let max_bytes = app.config.mqtt_batch_max_bytes;
        let lanes = (0..app.config.mqtt_batch_max_in_flight)
            .map(|_| {
                let (tx, rx) = mpsc::channel(max_records);
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

    /// The lane of an MQTT topic: always the same one.
    pub fn of(&self, mqtt_topic: &[u8]) -> &mpsc::Sender<Publish> {
        &self.0[crc32c::crc32c(mqtt_topic) as usize % self.0.len()]
    }
}

struct Writer {
    topic: String,
    app: Arc<App>,
    stats: Arc<Stats>,
}

impl Writer {
    /// Writes batch after batch until every sender is gone (shutdown) and the queue is empty.
    /// A batch is everything queued, up to `max_records` publishes or `max_bytes` of payload.
    async fn run(self, mut rx: mpsc::Receiver<Publish>, max_records: usize, max_bytes: usize) {
        // While a batch is written, the next one gathers in the queue.
        while let Some(first) = rx.recv().await {
            let mut bytes = first.payload.len();
            let mut batch = Vec::with_capacity(max_records.min(rx.len() + 1));
            batch.push(first);
            while batch.len() < max_records && bytes < max_bytes {
                match rx.try_recv() {
                    Ok(p) => {
                        bytes += p.payload.len();
                        batch.push(p);
                    }
                    Err(_) => break,
                }
            }
            self.write(batch).await;
        }
    }

    async fn write(&self, mut batch: Vec<Publish>) {
        while !batch.is_empty() {
            let bytes: usize = batch
                .iter()
                .map(|p| 2 * p.mqtt_topic.len() + p.payload.len())
                .sum();
            let mut records = RecordsBuilder::with_capacity(batch.len(), bytes);
            for p in &batch {
                const QOS: [&[u8]; 3] = [b"0", b"1", b"2"];
                let headers = vec![
                    ("mqtt.topic", p.mqtt_topic.clone()),
                    (
                        "mqtt.qos",
                        Bytes::from_static(QOS[usize::from(u8::from(p.qos))]),
                    ),
                ];
                records.push(
                    Some(&p.mqtt_topic),
                    Some(&p.payload),
                    None,
                    headers,
                    Some(p.arrived),
                );
            }
            match self
                .app
                .kafka
                .producer
                .produce(&self.topic, records.finish())
                .await
            {
                Ok(outcomes) => {
                    for (p, outcome) in batch.drain(..).zip(outcomes) {
                        self.answer(p, outcome.map(|_| ()).map_err(|e| e.to_string()));
                    }
                }
                // One record the producer will never take: it fails alone, the rest go again.
                Err(ProduceError::RecordTooLarge { index, .. }) if index < batch.len() => {
                    let p = batch.remove(index);
                    self.answer(
                        p,
                        Err("the record is larger than the producer's message.max.bytes".into()),
                    );
                }
                Err(e) => {
                    let why = e.to_string();
                    for p in batch.drain(..) {
                        self.answer(p, Err(why.clone()));
                    }
                }
            }
        }
    }

    fn answer(&self, p: Publish, outcome: Delivered) {
        match &outcome {
            Ok(()) => {
                Stats::add(&self.stats.published[usize::from(u8::from(p.qos))], 1);
                Stats::add(&self.stats.published_bytes, p.payload.len() as u64);
            }
            Err(e) => {
                Stats::add(&self.stats.failed, 1);
                if p.ack.is_none() {
                    tracing::warn!(kafka_topic = %self.topic, error = %e, "QoS 0 publish not produced");
                }
            }
        }
        if let Some(ack) = p.ack {
            let _ = ack.tx.send((ack.seq, outcome));
        }
    }
}
