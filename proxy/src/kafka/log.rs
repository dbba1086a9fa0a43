//! The `_schemas` topic: one partition, read from the beginning at start-up and then tailed by a
//! background thread that applies every record to the [`Store`]. Writes are produced with
//! acks=all and return once this instance's reader has applied them, so a registration is
//! visible here as soon as it is answered, and in every other instance a moment later.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use tokio::sync::watch;

use super::store::Store;
use crate::kafka::Metadata;

/// How long a write waits to be acknowledged and read back.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

pub struct SchemaLog {
    topic: String,
    client: ClientConfig,
    metadata: Arc<Metadata>,
    producer: FutureProducer,
    /// The next offset the reader will apply.
    applied: watch::Receiver<i64>,
    /// Asks the reader to read the topic again from its beginning (it was created again).
    restart: Arc<Restart>,
    stop: Arc<AtomicBool>,
}

/// A request to the reader to start over, and how many times it has.
#[derive(Default)]
struct Restart {
    asked: AtomicBool,
    done: std::sync::atomic::AtomicU64,
}

impl SchemaLog {
    /// Creates the topic if needed, reads it to its end into `store`, and starts tailing it.
    pub async fn open(
        client: &ClientConfig,
        topic: &str,
        metadata: Arc<Metadata>,
        store: Arc<RwLock<Store>>,
    ) -> Result<SchemaLog, String> {
        ensure_topic(client, topic, &metadata).await?;
        let producer: FutureProducer = client
            .clone()
            .set("acks", "all")
            // Not idempotent: an idempotent producer whose broker restarted without its state is
            // fenced for good (Tansu answers ProducerFenced), which failed every later write.
            // Writes are one at a time and a duplicated record applies as a no-op, so plain
            // retries lose nothing.
            .set("enable.idempotence", "false")
            .set("linger.ms", "0")
            // A write to a topic that vanished fails within a second (then it is created
            // again), instead of waiting out librdkafka's 30 s propagation grace.
            .set("topic.metadata.propagation.max.ms", "1000")
            .create()
            .map_err(|e| format!("schema log producer: {e}"))?;
        let consumer: BaseConsumer = client
            .clone()
            .set(
                "group.id",
                format!("kafka-proxy-schemas-{}", uuid::Uuid::new_v4()),
            )
            .set("enable.auto.commit", "false")
            .set("enable.partition.eof", "false")
            // A topic deleted and created again (or lost with an in-memory broker) starts over
            // at offset 0: read the new log from its start, not from its end.
            .set("auto.offset.reset", "earliest")
            .set("fetch.wait.max.ms", "50")
            .create()
            .map_err(|e| format!("schema log consumer: {e}"))?;
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(topic, 0, Offset::Beginning)
            .map_err(|e| e.to_string())?;
        consumer.assign(&tpl).map_err(|e| e.to_string())?;
        let (tx, applied) = watch::channel(0i64);
        let stop = Arc::new(AtomicBool::new(false));
        let restart = Arc::new(Restart::default());
        let reader = Reader {
            consumer,
            beginning: tpl,
            store,
            applied: tx,
            restart: restart.clone(),
            stop: stop.clone(),
        };
        std::thread::Builder::new()
            .name("schema-log".into())
            .spawn(move || reader.tail())
            .map_err(|e| e.to_string())?;
        let log = SchemaLog {
            topic: topic.to_string(),
            client: client.clone(),
            metadata: metadata.clone(),
            producer,
            applied,
            restart,
            stop,
        };
        let (_, end) = metadata
            .watermarks(topic, 0)
            .await
            .map_err(|e| format!("reading the end of {topic}: {e}"))?;
        log.wait_applied(end, Duration::from_secs(60))
            .await
            .map_err(|_| format!("could not read {topic} to its end (offset {end}) within 60 s"))?;
        Ok(log)
    }

    async fn wait_applied(&self, next_offset: i64, timeout: Duration) -> Result<(), ()> {
        let mut applied = self.applied.clone();
        tokio::time::timeout(timeout, applied.wait_for(|n| *n >= next_offset))
            .await
            .map_err(|_| ())?
            .map_err(|_| ())?;
        Ok(())
    }

    /// Writes one record and waits until this instance has applied it. When the topic is gone
    /// (deleted, or lost with the broker), it is created again and the write retried once: the
    /// registry keeps its state in memory and carries on in the new log.
    pub async fn write(&self, key: &[u8], value: Option<&[u8]>) -> Result<(), String> {
        match self.write_once(key, value).await {
            Ok(()) => Ok(()),
            Err(err) => {
                self.metadata.invalidate(&self.topic);
                if self.metadata.partition_count(&self.topic).await.is_ok() {
                    return Err(err);
                }
                tracing::warn!(topic = %self.topic, error = %err, "the schema log topic is gone; creating it again");
                ensure_topic(&self.client, &self.topic, &self.metadata).await?;
                self.restart_reader().await?;
                self.write_once(key, value).await
            }
        }
    }

    /// Has the reader start over at the new log's beginning (its watermark back at 0), and
    /// waits until it has, so that a write into the new log waits for its own record.
    async fn restart_reader(&self) -> Result<(), String> {
        let before = self.restart.done.load(Ordering::Acquire);
        self.restart.asked.store(true, Ordering::Release);
        let deadline = Instant::now() + WRITE_TIMEOUT;
        while self.restart.done.load(Ordering::Acquire) == before {
            if Instant::now() > deadline {
                return Err(format!("the reader of {} did not start over", self.topic));
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        Ok(())
    }

    async fn write_once(&self, key: &[u8], value: Option<&[u8]>) -> Result<(), String> {
        let mut record = FutureRecord::<[u8], [u8]>::to(&self.topic)
            .key(key)
            .partition(0);
        if let Some(v) = value {
            record = record.payload(v);
        }
        let started = Instant::now();
        let offset = self
            .producer
            .send(record, WRITE_TIMEOUT)
            .await
            .map_err(|(e, _)| format!("writing to {}: {e}", self.topic))?
            .offset;
        let left = WRITE_TIMEOUT.saturating_sub(started.elapsed());
        self.wait_applied(offset + 1, left).await.map_err(|_| {
            format!(
                "record {offset} of {} was not read back in time",
                self.topic
            )
        })
    }
}

impl Drop for SchemaLog {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// The thread that applies the log to the store.
struct Reader {
    consumer: BaseConsumer,
    /// The assignment at the log's beginning.
    beginning: TopicPartitionList,
    store: Arc<RwLock<Store>>,
    applied: watch::Sender<i64>,
    restart: Arc<Restart>,
    stop: Arc<AtomicBool>,
}

impl Reader {
    fn tail(self) {
        while !self.stop.load(Ordering::Relaxed) {
            if self.restart.asked.swap(false, Ordering::AcqRel) {
                self.start_over();
            }
            match self.consumer.poll(Duration::from_millis(100)) {
                Some(Ok(m)) => {
                    if let Some(key) = m.key() {
                        self.apply(key, m.payload(), m.offset());
                    }
                    let _ = self.applied.send(m.offset() + 1);
                }
                Some(Err(e)) => {
                    tracing::warn!(error = %e, "reading the schema log");
                    // The topic is gone: whatever comes next is a new log starting at 0.
                    if e.rdkafka_error_code().is_some_and(|c| {
                        matches!(
                            c,
                            RDKafkaErrorCode::UnknownTopicOrPartition
                                | RDKafkaErrorCode::UnknownTopic
                                | RDKafkaErrorCode::UnknownTopicId
                                | RDKafkaErrorCode::UnknownPartition
                        )
                    }) {
                        self.start_over();
                    }
                }
                None => {}
            }
            if self.applied.is_closed() {
                return;
            }
        }
    }

    /// A record that trips a bug in a parser is skipped, never the end of the reader: every
    /// later registration waits for this thread.
    fn apply(&self, key: &[u8], value: Option<&[u8]>, offset: i64) {
        let applying = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            self.store
                .write()
                .unwrap_or_else(|e| e.into_inner())
                .apply(key, value)
        }));
        if applying.is_err() {
            tracing::error!(
                offset,
                "skipping a schema log record that could not be applied"
            );
        }
    }

    /// Reads the log again from its beginning (the state in memory is kept: records already
    /// applied apply again as no-ops), with the watermark back at 0.
    fn start_over(&self) {
        if let Err(e) = self.consumer.assign(&self.beginning) {
            tracing::warn!(error = %e, "re-assigning the schema log");
        }
        self.applied.send_replace(0);
        self.restart.done.fetch_add(1, Ordering::AcqRel);
    }
}

async fn ensure_topic(
    client: &ClientConfig,
    topic: &str,
    metadata: &Metadata,
) -> Result<(), String> {
    if metadata.partition_count(topic).await.is_ok() {
        return Ok(());
    }
    let admin: AdminClient<DefaultClientContext> =
        client.create().map_err(|e| format!("admin client: {e}"))?;
    let brokers = metadata.brokers().await.map_err(|e| e.to_string())?.len();
    let replication = brokers.clamp(1, 3) as i32;
    let new = NewTopic::new(topic, 1, TopicReplication::Fixed(replication))
        .set("cleanup.policy", "compact");
    let results = admin
        .create_topics([&new], &AdminOptions::new())
        .await
        .map_err(|e| format!("creating {topic}: {e}"))?;
    for r in results {
        match r {
            Ok(_) => {}
            Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((t, e)) => return Err(format!("creating {t}: {e}")),
        }
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        metadata.invalidate(topic);
        if metadata.partition_count(topic).await.is_ok() {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!(
                "{topic} was created but never appeared in metadata"
            ));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
