//! Where a consumer instance starts reading. Every partition starts at a record-batch boundary
//! and the records before the requested offset are dropped as they arrive, because brokers that
//! fetch per batch (Tansu 0.6) skip the rest of a batch when a fetch starts inside it (see
//! [`Metadata::batch_start`]). This applies to seeks and to committed offsets picked up on
//! (re)assignment, which is why it lives in the consumer's rebalance callback.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, RebalanceProtocol};
use rdkafka::types::RDKafkaRespErr;
use rdkafka::{ClientContext, Offset, TopicPartitionList};

use super::metadata::Metadata;
use super::partition_queues::PartitionQueues;
use super::topic_partition::TopicPartition;

/// How long the committed-offset lookup in a rebalance may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// Per-consumer callbacks: starts every partition at a record-batch boundary and drops the records
/// before the requested offset (see [`Metadata::batch_start`]), including on group rebalances.
pub struct InstanceContext {
    pub(super) metadata: Arc<Metadata>,
    /// (partition, first offset to deliver) for partitions started before that offset.
    skips: Mutex<Vec<(TopicPartition, i64)>>,
    has_skips: AtomicBool,
    /// Every partition's records come through its own queue, detached before it is assigned.
    pub(super) queues: PartitionQueues,
    /// Partitions a rebalance revoked or assigned since the instance last looked, with the
    /// rebalance's generation: their fetch starts over, so records of theirs taken before it are
    /// stale (see [`Self::take_restarted`]).
    restarted: Mutex<Vec<(TopicPartition, u64)>>,
    /// Rebalances served so far.
    generation: AtomicU64,
}

impl ClientContext for InstanceContext {
    fn log(&self, level: rdkafka::config::RDKafkaLogLevel, fac: &str, message: &str) {
        super::client_log::log(level, fac, message);
    }

    fn error(&self, error: rdkafka::error::KafkaError, reason: &str) {
        super::client_log::error(error, reason);
    }
}

impl ConsumerContext for InstanceContext {
    fn rebalance(
        &self,
        consumer: &BaseConsumer<Self>,
        err: RDKafkaRespErr,
        tpl: &mut TopicPartitionList,
    ) {
        let cooperative = matches!(
            consumer.rebalance_protocol(),
            RebalanceProtocol::Cooperative
        );
        let generation = self.generation.fetch_add(1, Ordering::AcqRel) + 1;
        self.restarted
            .lock()
            .expect("poisoned")
            .extend(tpl.elements().iter().map(|e| {
                let tp = TopicPartition {
                    topic: e.topic().to_string(),
                    partition: e.partition(),
                };
                (tp, generation)
            }));
        let result = match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => {
                // This runs inside a poll on an async worker, and the alignment makes broker
                // requests: let the runtime move its other tasks elsewhere meanwhile.
                off_the_runtime(|| self.align_to_committed(consumer, tpl));
                self.queues.detach(consumer.client().native_ptr(), tpl);
                if cooperative {
                    consumer.incremental_assign(tpl)
                } else {
                    consumer.assign(tpl)
                }
            }
            _ if cooperative && err == RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => {
                consumer.incremental_unassign(tpl)
            }
            _ => consumer.unassign(),
        };
        if let Err(e) = result {
            tracing::warn!(error = %e, "applying a rebalance failed");
        }
    }
}

impl InstanceContext {
    /// Where to start fetching to deliver from `offset`; remembers what to drop before it.
    pub(super) fn start_at(&self, tp: &TopicPartition, offset: Offset) -> Offset {
        let mut skips = self.skips.lock().expect("poisoned");
        skips.retain(|(t, _)| t != tp);
        let start = match offset {
            Offset::Offset(o) => match self.metadata.batch_start(&tp.topic, tp.partition, o) {
                Ok(base) if base < o => {
                    skips.push((tp.clone(), o));
                    Offset::Offset(base)
                }
                Ok(_) => offset,
                Err(err) => {
                    tracing::warn!(error = %err, "cannot find the batch start; fetching from the offset");
                    offset
                }
            },
            other => other,
        };
        self.has_skips.store(!skips.is_empty(), Ordering::Release);
        start
    }

    /// Replaces "start at the committed offset" in `tpl` with explicit, batch-aligned starts.
    pub(super) fn align_to_committed<C: Consumer<InstanceContext>>(
        &self,
        consumer: &C,
        tpl: &mut TopicPartitionList,
    ) {
        let committed = match consumer.committed_offsets(tpl.clone(), CALL_TIMEOUT) {
            Ok(c) => c,
            Err(err) => {
                tracing::warn!(error = %err, "cannot read committed offsets; librdkafka resolves them");
                return;
            }
        };
        for e in committed.elements() {
            if let Offset::Offset(o) = e.offset() {
                let tp = TopicPartition {
                    topic: e.topic().to_string(),
                    partition: e.partition(),
                };
                let start = self.start_at(&tp, Offset::Offset(o));
                let _ = tpl.set_partition_offset(&tp.topic, tp.partition, start);
            }
        }
    }

    /// The partitions a rebalance revoked or assigned since the last call, each with the
    /// rebalance's generation. A fetch that starts over (from the committed offset) delivers again
    /// what the instance took before it and had not handed out, so those records must go; records
    /// taken after it (a later [`Self::generation`]) are the new fetch's.
    pub(super) fn take_restarted(&self) -> Vec<(TopicPartition, u64)> {
        std::mem::take(&mut *self.restarted.lock().expect("poisoned"))
    }

    /// Rebalances served so far: stamped on each record taken.
    pub(super) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// True when the record at `offset` of `partition` (of the topic `topic` names) precedes the
    /// offset its partition was asked to start at. The topic is read only while some partition
    /// has records to drop: reading a fetched record's topic name is a C-string scan.
    pub(super) fn skips<'a>(
        &self,
        partition: i32,
        offset: i64,
        topic: impl FnOnce() -> &'a str,
    ) -> bool {
        if !self.has_skips.load(Ordering::Acquire) {
            return false;
        }
        let topic = topic();
        let mut skips = self.skips.lock().expect("poisoned");
        let Some(i) = skips
            .iter()
            .position(|(tp, _)| tp.partition == partition && tp.topic == topic)
        else {
            return false;
        };
        if offset < skips[i].1 {
            return true;
        }
        skips.swap_remove(i);
        self.has_skips.store(!skips.is_empty(), Ordering::Release);
        false
    }
}

impl InstanceContext {
    pub(super) fn new(metadata: Arc<Metadata>) -> Self {
        InstanceContext {
            metadata,
            skips: Mutex::new(Vec::new()),
            has_skips: AtomicBool::new(false),
            queues: PartitionQueues::new(),
            restarted: Mutex::new(Vec::new()),
            generation: AtomicU64::new(0),
        }
    }
}

/// Runs blocking work from inside a poll: on a multi-threaded runtime via `block_in_place`.
fn off_the_runtime<R>(f: impl FnOnce() -> R) -> R {
    match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(f),
        _ => f(),
    }
}
