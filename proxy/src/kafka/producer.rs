//! The one shared producer. A request's records are validated as a whole, enqueued together,
//! and answered in request order once every delivery report is in. Delivery reports land in a
//! per-request [`Batch`], so a request costs one allocation for its results, not one per record.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{DeliveryResult, Message};
use rdkafka::producer::{BaseRecord, ProducerContext};
use rdkafka::{ClientConfig, ClientContext};
use tokio::sync::oneshot;

use super::batch::{BatchEngine, Routes};
use super::error::{blocking, Error, ErrorClass, RecordError};
use super::metadata::{leaders_in, legal_topic, Metadata};
use super::partitioner::partition_for_key;
use super::polled_producer::PolledProducer;
use crate::record::{EncodedRecords, KafkaRecord};

/// Where one record went, or why it failed: what [`Producer::produce`] answers.
pub type Outcome = Result<(i32, i64), RecordError>;

/// A record's delivery report inside this module, in librdkafka's terms.
type Delivery = Result<(i32, i64), KafkaError>;

/// Bytes a record adds to its key and value when `message.max.bytes` is checked: a v2 batch
/// header (61) and the record's varint fields (at most 36), rounded up.
const RECORD_OVERHEAD_BYTES: usize = 100;

/// Collects the delivery reports of one request. Each record's slot is written once, without a
/// lock; the last report wakes the request.
struct Batch {
    results: Vec<OnceLock<Delivery>>,
    remaining: AtomicUsize,
    done: Mutex<Option<oneshot::Sender<()>>>,
}

impl Batch {
    fn new(count: usize) -> (Arc<Batch>, oneshot::Receiver<()>) {
        let (tx, rx) = oneshot::channel();
        let batch = Batch {
            results: (0..count).map(|_| OnceLock::new()).collect(),
            remaining: AtomicUsize::new(count),
            done: Mutex::new(Some(tx)),
        };
        (Arc::new(batch), rx)
    }

    fn complete(&self, index: usize, outcome: Delivery) {
        let _ = self.results[index].set(outcome);
        if self.remaining.fetch_sub(1, Ordering::AcqRel) == 1 {
            if let Some(tx) = self.done.lock().expect("poisoned").take() {
                let _ = tx.send(());
            }
        }
    }
}

/// The delivery opaque of one record: its request's batch and its index in the request.
pub struct Slot {
    batch: Arc<Batch>,
    index: usize,
}

/// Routes librdkafka delivery reports into their request's batch.
pub struct DeliveryContext;

impl ClientContext for DeliveryContext {
    fn log(&self, level: rdkafka::config::RDKafkaLogLevel, fac: &str, message: &str) {
        super::client_log::log(level, fac, message);
    }

    fn error(&self, error: rdkafka::error::KafkaError, reason: &str) {
        super::client_log::error(error, reason);
    }
}

impl ProducerContext for DeliveryContext {
    type DeliveryOpaque = Box<Slot>;

    fn delivery(&self, result: &DeliveryResult<'_>, slot: Box<Slot>) {
        let outcome = match result {
            Ok(msg) => Ok((msg.partition(), msg.offset())),
            Err((err, _)) => Err(err.clone()),
        };
        slot.batch.complete(slot.index, outcome);
    }
}

/// Why a produce request was rejected before anything was sent.
#[derive(Debug, thiserror::Error)]
pub enum ProduceError {
    #[error(transparent)]
    Kafka(#[from] Error),
    #[error("record {index} has {size} bytes of key and value, above the producer's message.max.bytes of {max}")]
    RecordTooLarge {
        index: usize,
        size: usize,
        max: usize,
    },
}

/// The shared producer.
pub struct Producer {
    /// librdkafka's producer: the delivery path of the `librdkafka` engine, and in every engine the
    /// client whose metadata requests may create topics on brokers that do so (as a Java
    /// producer's would).
    inner: Arc<PolledProducer<DeliveryContext>>,
    /// The batch engine, when selected (`produce.engine`).
    batch: Option<BatchEngine>,
    metadata: Arc<Metadata>,
    /// Rotates the partition that key-less records of a request go to when librdkafka delivers
    /// them (sticky per request); the batch engine has its own turn ([`BatchEngine::sticky_turn`]).
    sticky: AtomicUsize,
    max_message_bytes: usize,
}

impl Producer {
    pub fn new(
        config: &ClientConfig,
        batch: Option<BatchEngine>,
        metadata: Arc<Metadata>,
    ) -> Result<Self, Error> {
        let max_message_bytes = config
            .get("message.max.bytes")
            .and_then(|v| v.parse().ok())
            .unwrap_or(1_000_000);
        Ok(Producer {
            inner: Arc::new(PolledProducer::new(config, DeliveryContext)?),
            batch,
            metadata,
            sticky: AtomicUsize::new(0),
            max_message_bytes,
        })
    }

    /// The largest key and value a record may carry (`message.max.bytes` less the record's
    /// framing), as [`Producer::produce`] checks it.
    pub fn max_record_bytes(&self) -> usize {
        self.max_message_bytes.saturating_sub(RECORD_OVERHEAD_BYTES)
    }

    /// Produces one request's records to `topic` and returns one outcome per record, in order.
    ///
    /// Everything that can be checked up front is (topic exists, partitions in range, sizes), so a
    /// request with an invalid record sends nothing. Keyed records go where the Java client would
    /// put them; key-less records of one request share a partition. With the batch engine that is
    /// the partition of the Produce request being gathered, so concurrent requests share it too;
    /// with librdkafka it rotates between requests.
    pub async fn produce(
        &self,
        topic: &str,
        mut records: EncodedRecords,
    ) -> Result<Vec<Outcome>, ProduceError> {
        let partitions = self.partition_count(topic).await?;
        for (index, r) in records.iter().enumerate() {
            if let Some(p) = r.partition {
                if p < 0 || p as u32 >= partitions {
                    return Err(Error::PartitionNotFound(topic.to_string(), p).into());
                }
            }
            let size = r.key.map_or(0, <[u8]>::len) + r.value.map_or(0, <[u8]>::len);
            if size + RECORD_OVERHEAD_BYTES > self.max_message_bytes {
                return Err(ProduceError::RecordTooLarge {
                    index,
                    size,
                    max: self.max_message_bytes,
                });
            }
        }
        // Key-less records only: the batch engine's lane picks their partition when it closes
        // the Produce request carrying them (`BatchEngine::sticky_turn`).
        let lane_picks = self.batch.is_some()
            && records
                .iter()
                .all(|r| r.partition.is_none() && r.key.is_none());
        if !lane_picks {
            let turn = match &self.batch {
                Some(engine) => engine.sticky_turn(),
                None => self.sticky.fetch_add(1, Ordering::Relaxed),
            };
            let sticky = (turn % partitions as usize) as i32;
            // The last key hashed and its partition: records sharing one key's bytes (an MQTT
            // chunk's run of publishes to one topic) hash it once.
            let mut last: Option<(*const u8, usize, i32)> = None;
            for i in 0..records.len() {
                let r = records.get(i);
                let partition = r.partition.unwrap_or_else(|| match r.key {
                    None => sticky,
                    Some(k) => match last {
                        Some((at, len, p)) if at == k.as_ptr() && len == k.len() => p,
                        _ => {
                            let p = partition_for_key(k, partitions);
                            last = Some((k.as_ptr(), k.len(), p));
                            p
                        }
                    },
                });
                records.set_partition(i, partition);
            }
        }
        // One CreateTime for the whole request (Confluent stamps the proxy's "now"), instead of
        // reading the wall clock for every record.
        let timestamp = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        let outcomes: Vec<Outcome> = match &self.batch {
            Some(engine) => engine
                .produce(self, topic, timestamp, Arc::new(records))
                .await
                .into_iter()
                .map(|o| o.map_err(RecordError::from))
                .collect(),
            None => self
                .enqueue(topic, timestamp, records.iter())
                .await
                .into_iter()
                .map(|o| o.map_err(RecordError::from))
                .collect(),
        };
        if outcomes
            .iter()
            .any(|o| matches!(o, Err(e) if e.class == ErrorClass::UnknownTopicOrPartition))
        {
            self.metadata.invalidate(topic);
        }
        Ok(outcomes)
    }

    /// The librdkafka engine: enqueues every record with its request's [`Batch`] as opaque and
    /// waits for all delivery reports.
    async fn enqueue<'r>(
        &self,
        topic: &str,
        timestamp: i64,
        records: impl ExactSizeIterator<Item = KafkaRecord<'r>>,
    ) -> Vec<Delivery> {
        let (batch, done) = Batch::new(records.len());
        for (index, r) in records.enumerate() {
            let partition = r.partition.expect("partition assigned");
            let mut slot = Box::new(Slot {
                batch: batch.clone(),
                index,
            });
            loop {
                let mut record = BaseRecord::<[u8], [u8], Box<Slot>>::with_opaque_to(topic, slot)
                    .partition(partition);
                record.key = r.key;
                record.payload = r.value;
                record.timestamp = Some(r.timestamp.unwrap_or(timestamp));
                if !r.headers.is_empty() {
                    let headers = r.headers.iter().fold(
                        rdkafka::message::OwnedHeaders::new_with_capacity(r.headers.len()),
                        |h, (name, value)| {
                            h.insert(rdkafka::message::Header {
                                key: name,
                                value: value.as_deref(),
                            })
                        },
                    );
                    record = record.headers(headers);
                }
                match self.inner.send(record) {
                    Ok(()) => break,
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), record)) => {
                        // Backpressure: wait for the queue to drain; order is kept because this
                        // request enqueues nothing else meanwhile.
                        slot = record.delivery_opaque;
                        tokio::time::sleep(Duration::from_millis(1)).await;
                    }
                    Err((err, record)) => {
                        record.delivery_opaque.batch.complete(index, Err(err));
                        break;
                    }
                }
            }
        }
        // The sender lives in the batch, which outlives every pending delivery report.
        let _ = done.await;
        batch
            .results
            .iter()
            .map(|o| o.get().cloned().unwrap_or(Err(KafkaError::Canceled)))
            .collect()
    }

    /// Partition count of `topic`, from the cached route.
    async fn partition_count(&self, topic: &str) -> Result<u32, Error> {
        Ok(self.route(topic, false).await?.len() as u32)
    }

    /// The leader address of every partition of `topic`, cached for `metadata.max.age.ms` and
    /// looked up through the producer's own client, so a broker that creates topics on demand
    /// creates it here as it would for any producer. Tansu does not: an unknown topic answers
    /// within `produce.metadata.timeout.ms`.
    async fn route(&self, topic: &str, refresh: bool) -> Result<Arc<Vec<Option<String>>>, Error> {
        if !refresh {
            if let Some(leaders) = self.metadata.routes.get(topic) {
                return Ok(leaders);
            }
        }
        // Only names that pass are ever cached, so the check is paid on a miss alone.
        legal_topic(topic)?;
        let (client, name, timeout) = (
            self.inner.clone(),
            topic.to_string(),
            self.metadata.timeout(),
        );
        let leaders = blocking(move || {
            let deadline = Instant::now() + timeout;
            loop {
                let md = client.client().fetch_metadata(Some(&name), timeout)?;
                match leaders_in(&md, &name) {
                    // A topic being created on demand has no leaders yet: ask again.
                    Err(Error::Kafka(KafkaError::MetadataFetch(
                        RDKafkaErrorCode::LeaderNotAvailable,
                    ))) if Instant::now() < deadline => {
                        std::thread::sleep(Duration::from_millis(50));
                    }
                    Err(Error::Kafka(KafkaError::MetadataFetch(
                        RDKafkaErrorCode::LeaderNotAvailable,
                    ))) => {
                        return Err(Error::TopicNotFound(name));
                    }
                    other => return other,
                }
            }
        })
        .await
        .map_err(|e| match e {
            // Kafka unreachable because it refused the credentials: say so (401/40101).
            Error::Kafka(_) => {
                super::client_log::recent_authentication_failure(timeout + Duration::from_secs(10))
                    .map_or(e, Error::Authentication)
            }
            e => e,
        })?;
        Ok(self.metadata.routes.insert(topic, leaders))
    }

    /// Waits for every queued record to be delivered (shutdown).
    pub fn flush(&self, timeout: Duration) -> Result<(), Error> {
        Ok(self.inner.flush(timeout)?)
    }
}

impl Routes for Producer {
    async fn leaders(&self, topic: &str, refresh: bool) -> Result<Arc<Vec<Option<String>>>, Error> {
        self.route(topic, refresh).await
    }
}
