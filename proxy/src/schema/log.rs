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
    producer: FutureProducer,
    /// The next offset the reader will apply.
    applied: watch::Receiver<i64>,
    stop: Arc<AtomicBool>,
}

impl SchemaLog {
    /// Creates the topic if needed, reads it to its end into `store`, and starts tailing it.
    pub async fn open(
        client: &ClientConfig,
        topic: &str,
        metadata: &Metadata,
        store: Arc<RwLock<Store>>,
    ) -> Result<SchemaLog, String> {
        ensure_topic(client, topic, metadata).await?;
        let producer: FutureProducer = client
            .clone()
            .set("acks", "all")
            .set("enable.idempotence", "true")
            .set("linger.ms", "0")
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
            .set("fetch.wait.max.ms", "50")
            .create()
            .map_err(|e| format!("schema log consumer: {e}"))?;
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(topic, 0, Offset::Beginning)
            .map_err(|e| e.to_string())?;
        consumer.assign(&tpl).map_err(|e| e.to_string())?;
        let (tx, applied) = watch::channel(0i64);
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        std::thread::Builder::new()
            .name("schema-log".into())
            .spawn(move || tail(consumer, store, tx, stopping))
            .map_err(|e| e.to_string())?;
        let log = SchemaLog {
            topic: topic.to_string(),
            producer,
            applied,
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

    /// Writes one record and waits until this instance has applied it.
    pub async fn write(&self, key: &[u8], value: Option<&[u8]>) -> Result<(), String> {
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

fn tail(
    consumer: BaseConsumer,
    store: Arc<RwLock<Store>>,
    applied: watch::Sender<i64>,
    stop: Arc<AtomicBool>,
) {
    while !stop.load(Ordering::Relaxed) {
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => {
                if let Some(key) = m.key() {
                    store
                        .write()
                        .unwrap_or_else(|e| e.into_inner())
                        .apply(key, m.payload());
                }
                let _ = applied.send(m.offset() + 1);
            }
            Some(Err(e)) => tracing::warn!(error = %e, "reading the schema log"),
            None => {}
        }
        if applied.is_closed() {
            return;
        }
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
