//! A compacted one-partition log held in memory by whoever reads it: read from the beginning at
//! start-up and then tailed by a background thread that hands every record to an [`Apply`]
//! function. Writes are produced with acks=all and return once this instance's reader has applied
//! them, so a write is visible here as soon as it is answered, and in every other instance a
//! moment later. The built-in Schema Registry keeps its `_schemas` topic this way.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::client_log::QuietContext;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::DeliveryResult;
use rdkafka::message::Message;
use rdkafka::producer::{BaseRecord, ProducerContext};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{ClientConfig, ClientContext, Offset, TopicPartitionList};
use tokio::sync::{oneshot, watch};

use super::error::Error;
use super::metadata::Metadata;
use super::polled_producer::PolledProducer;

/// What the reader does with each record (key, value or None for a tombstone), in log order.
pub type Apply = Box<dyn Fn(&[u8], Option<&[u8]>) + Send>;

/// What can go wrong opening, reading or writing a log. The texts name the log (`name`, e.g.
/// "schema log") and its topic.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("{name} {role}: {source}")]
    Client {
        name: &'static str,
        role: &'static str,
        source: KafkaError,
    },
    #[error("admin client: {0}")]
    Admin(KafkaError),
    #[error("{0}")]
    Assign(KafkaError),
    #[error("{0}")]
    Thread(std::io::Error),
    #[error("{0}")]
    Metadata(Error),
    #[error("reading the end of {topic}: {source}")]
    End { topic: String, source: Error },
    #[error("could not read {topic} to its end (offset {end}) within 60 s")]
    ReadToEnd { topic: String, end: i64 },
    #[error("creating {topic}: {source}")]
    Create { topic: String, source: KafkaError },
    #[error("creating {topic}: {code}")]
    CreateRefused {
        topic: String,
        code: RDKafkaErrorCode,
    },
    #[error("{0} was created but never appeared in metadata")]
    NeverAppeared(String),
    #[error("writing to {topic}: {source}")]
    Write { topic: String, source: KafkaError },
    #[error("record {offset} of {topic} was not read back in time")]
    NotReadBack { topic: String, offset: i64 },
    #[error("the reader of {0} did not start over")]
    NoRestart(String),
}

/// How long a write waits to be acknowledged and read back.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// An open log: its writer, and the reader's progress.
pub struct CompactedLog {
    topic: String,
    client: ClientConfig,
    metadata: Arc<Metadata>,
    /// Served by a thread that sleeps until librdkafka has a delivery report: rdkafka's
    /// `FutureProducer` polls in a loop that spins for the last millisecond of every 100 ms,
    /// about 1% of a core, busy or idle (8% of the proxy's CPU samples in `avro-100`).
    producer: PolledProducer<Deliveries>,
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

impl CompactedLog {
    /// Creates the topic if needed, reads it to its end through `apply`, and starts tailing it
    /// on a thread of its own. `name` (e.g. "schema log") names the log in errors and the
    /// thread.
    pub async fn open(
        name: &'static str,
        client: &ClientConfig,
        topic: &str,
        metadata: Arc<Metadata>,
        apply: Apply,
    ) -> Result<CompactedLog, LogError> {
        ensure_topic(client, topic, &metadata).await?;
        let producer = PolledProducer::new(
            client
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
                .set("topic.metadata.propagation.max.ms", "1000"),
            Deliveries,
        )
        .map_err(|source| LogError::Client {
            name,
            role: "producer",
            source,
        })?;
        let consumer: BaseConsumer<QuietContext> = client
            .clone()
            .set(
                "group.id",
                // Never committed (the partition is assigned, not subscribed): the name only has
                // to be unique. The registry's log is the only one, and keeps its old name.
                format!("kafka-proxy-schemas-{}", uuid::Uuid::new_v4()),
            )
            .set("enable.auto.commit", "false")
            .set("enable.partition.eof", "false")
            // A topic deleted and created again (or lost with an in-memory broker) starts over
            // at offset 0: read the new log from its start, not from its end.
            .set("auto.offset.reset", "earliest")
            .set("fetch.wait.max.ms", "50")
            .create_with_context(QuietContext)
            .map_err(|source| LogError::Client {
                name,
                role: "consumer",
                source,
            })?;
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(topic, 0, Offset::Beginning)
            .map_err(LogError::Assign)?;
        consumer.assign(&tpl).map_err(LogError::Assign)?;
        let (tx, applied) = watch::channel(0i64);
        let stop = Arc::new(AtomicBool::new(false));
        let restart = Arc::new(Restart::default());
        let reader = Reader {
            consumer,
            beginning: tpl,
            apply,
            applied: tx,
            restart: restart.clone(),
            stop: stop.clone(),
        };
        std::thread::Builder::new()
            .name(name.replace(' ', "-"))
            .spawn(move || reader.tail())
            .map_err(LogError::Thread)?;
        let log = CompactedLog {
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
            .map_err(|source| LogError::End {
                topic: topic.to_string(),
                source,
            })?;
        log.wait_applied(end, Duration::from_secs(60))
            .await
            .map_err(|_| LogError::ReadToEnd {
                topic: topic.to_string(),
                end,
            })?;
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
    pub async fn write(&self, key: &[u8], value: Option<&[u8]>) -> Result<(), LogError> {
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
    async fn restart_reader(&self) -> Result<(), LogError> {
        let before = self.restart.done.load(Ordering::Acquire);
        self.restart.asked.store(true, Ordering::Release);
        let deadline = Instant::now() + WRITE_TIMEOUT;
        while self.restart.done.load(Ordering::Acquire) == before {
            if Instant::now() > deadline {
                return Err(LogError::NoRestart(self.topic.clone()));
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        Ok(())
    }

    async fn write_once(&self, key: &[u8], value: Option<&[u8]>) -> Result<(), LogError> {
        let (tx, rx) = oneshot::channel();
        let mut record = BaseRecord::<[u8], [u8], _>::with_opaque_to(&self.topic, Box::new(tx))
            .key(key)
            .partition(0);
        if let Some(v) = value {
            record = record.payload(v);
        }
        let failed = |source| LogError::Write {
            topic: self.topic.clone(),
            source,
        };
        let started = Instant::now();
        self.producer
            .send(record)
            .map_err(|(source, _)| failed(source))?;
        // librdkafka reports every record it took, delivered or failed, once.
        let offset = rx
            .await
            .unwrap_or(Err(KafkaError::Canceled))
            .map_err(failed)?;
        let left = WRITE_TIMEOUT.saturating_sub(started.elapsed());
        self.wait_applied(offset + 1, left)
            .await
            .map_err(|_| LogError::NotReadBack {
                topic: self.topic.clone(),
                offset,
            })
    }
}

/// Routes the writer's delivery reports to their writes; logs like [`QuietContext`].
struct Deliveries;

impl ClientContext for Deliveries {
    fn log(&self, level: rdkafka::config::RDKafkaLogLevel, fac: &str, message: &str) {
        QuietContext.log(level, fac, message);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        QuietContext.error(error, reason);
    }
}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = Box<oneshot::Sender<Result<i64, KafkaError>>>;

    fn delivery(&self, result: &DeliveryResult<'_>, write: Self::DeliveryOpaque) {
        let _ = write.send(match result {
            Ok(message) => Ok(message.offset()),
            Err((error, _)) => Err(error.clone()),
        });
    }
}

impl Drop for CompactedLog {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// The thread that applies the log.
struct Reader {
    consumer: BaseConsumer<QuietContext>,
    /// The assignment at the log's beginning.
    beginning: TopicPartitionList,
    apply: Apply,
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
                    tracing::warn!(error = %e, "reading a compacted log");
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

    /// A record that trips a bug in its reader's parser is skipped, never the end of the
    /// reader: every later write waits for this thread.
    fn apply(&self, key: &[u8], value: Option<&[u8]>, offset: i64) {
        let applying =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| (self.apply)(key, value)));
        if applying.is_err() {
            tracing::error!(offset, "skipping a log record that could not be applied");
        }
    }

    /// Reads the log again from its beginning (the state in memory is kept: records already
    /// applied apply again as no-ops), with the watermark back at 0.
    fn start_over(&self) {
        if let Err(e) = self.consumer.assign(&self.beginning) {
            tracing::warn!(error = %e, "re-assigning a compacted log");
        }
        self.applied.send_replace(0);
        self.restart.done.fetch_add(1, Ordering::AcqRel);
    }
}

async fn ensure_topic(
    client: &ClientConfig,
    topic: &str,
    metadata: &Metadata,
) -> Result<(), LogError> {
    if metadata.partition_count(topic).await.is_ok() {
        return Ok(());
    }
    let admin: AdminClient<QuietContext> = client
        .create_with_context(QuietContext)
        .map_err(LogError::Admin)?;
    let brokers = metadata.brokers().await.map_err(LogError::Metadata)?.len();
    let replication = brokers.clamp(1, 3) as i32;
    let new = NewTopic::new(topic, 1, TopicReplication::Fixed(replication))
        .set("cleanup.policy", "compact");
    let results = admin
        .create_topics([&new], &AdminOptions::new())
        .await
        .map_err(|source| LogError::Create {
            topic: topic.to_string(),
            source,
        })?;
    for r in results {
        match r {
            Ok(_) => {}
            Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((topic, code)) => return Err(LogError::CreateRefused { topic, code }),
        }
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        metadata.invalidate(topic);
        if metadata.partition_count(topic).await.is_ok() {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(LogError::NeverAppeared(topic.to_string()));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
