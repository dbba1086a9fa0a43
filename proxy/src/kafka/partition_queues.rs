//! A consumer instance's fetched records taken from each partition's own queue, many per call.
//!
//! Hand-written for speed. Through rust-rdkafka every record is one poll of the consumer queue:
//! a lock, three clock reads inside librdkafka and two in rust-rdkafka, an event wrapper, and a
//! waker check. In the profile of `scenarios/consume-cpu.toml` that was the largest cost left per
//! consumed record. `rd_kafka_consume_batch_queue` takes up to [`BATCH`] records per call, but
//! on the consumer queue it would also serve group rebalances with librdkafka's default handling,
//! bypassing the instance's own (`kafka/alignment.rs`). So every partition's queue is detached
//! from the consumer queue (`rd_kafka_queue_forward(partition, NULL)`) just before the partition
//! is assigned, and its records are taken in batches here, while rebalances and errors stay on the
//! consumer queue, which the instance keeps polling through rust-rdkafka.
//!
//! Order: detached before its first fetch starts, a partition's records all reach its own queue,
//! and librdkafka never forwards a queue again once the application has set its forwarding (it
//! skips that on every later fetch start), so the detaching lasts through re-assignments. That
//! holds for a partition librdkafka knows: one it does not know yet is a placeholder that the
//! next assignment may replace with a new partition (and queue), so a manual assignment first
//! has the consumer learn its topics (`consumer::learn_topics`). Should a partition's records
//! still reach the consumer queue, a read takes them from there, and drains the consumer queue
//! before these queues.
//!
//! Wake-ups: each queue calls back when it turns non-empty, from a librdkafka thread with the
//! queue's lock held; the callback only notes the time and stores a permit in a [`Notify`]
//! ([`Wake`]). The time is when records reached the proxy, from which a waiting read's answer
//! is measured (`kafka_proxy_consumer_wake_us`).
//!
//! Safety: the queue handles must be destroyed before the consumer, so the instance calls
//! [`PartitionQueues::release`] before dropping it; every callback is disabled before its
//! `Notify` is freed.
#![allow(unsafe_code)]

use std::collections::VecDeque;
use std::ffi::{c_void, CString};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

use rdkafka::bindings as rd;
use rdkafka::consumer::{ConsumerContext, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::TopicPartitionList;
use tokio::sync::Notify;

use super::fetched::Fetched;
use super::topic_partition::TopicPartition;

/// The most records one call takes from one partition's queue.
const BATCH: usize = 1024;

/// The detached queues of every partition an instance has been assigned.
pub(super) struct PartitionQueues {
    inner: Mutex<Inner>,
    /// Given to every queue's callback, which is disabled before this is dropped.
    wake: Arc<Wake>,
}

/// What the queues' callbacks share with the reads.
pub(super) struct Wake {
    /// The permit a waiting read wakes on.
    pub(super) notify: Notify,
    /// When a queue last turned non-empty ([`now_ns`]).
    arrived: AtomicU64,
}

impl Wake {
    /// When records last reached an empty queue ([`now_ns`]).
    pub(super) fn arrived_ns(&self) -> u64 {
        self.arrived.load(Ordering::Relaxed)
    }
}

/// Monotonic nanoseconds since the first call in this process.
pub(super) fn now_ns() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    u64::try_from(START.get_or_init(Instant::now).elapsed().as_nanos()).unwrap_or(u64::MAX)
}

struct Inner {
    queues: Vec<(TopicPartition, NonNull<rd::rd_kafka_queue_t>)>,
    /// After `release`: nothing is detached any more.
    released: bool,
    /// The queue a take starts at, rotating so that no partition waits behind the others.
    next: usize,
    batch: Vec<*mut rd::rd_kafka_message_t>,
}

// SAFETY: the queue handles may be used from any thread (librdkafka locks its queues inside), and
// are only used under the mutex. The batch buffer holds no message between calls.
unsafe impl Send for Inner {}

/// librdkafka's non-empty callback: notes the time and wakes a read waiting for records.
unsafe extern "C" fn queue_not_empty(_rk: *mut rd::rd_kafka_t, opaque: *mut c_void) {
    // SAFETY: `opaque` is the `Wake` of a live `PartitionQueues`: the callback is disabled
    // before that is freed.
    let wake = unsafe { &*opaque.cast::<Wake>() };
    wake.arrived.store(now_ns(), Ordering::Relaxed);
    wake.notify.notify_one();
}

impl PartitionQueues {
    pub(super) fn new() -> Self {
        PartitionQueues {
            inner: Mutex::new(Inner {
                queues: Vec::new(),
                released: false,
                next: 0,
                batch: Vec::with_capacity(BATCH),
            }),
            wake: Arc::new(Wake {
                notify: Notify::new(),
                arrived: AtomicU64::new(0),
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Detaches the queue of each partition in `tpl` not detached yet. Called with the client
    /// `rk` before the partitions are assigned.
    pub(super) fn detach(&self, rk: *mut rd::rd_kafka_t, tpl: &TopicPartitionList) {
        let mut inner = self.lock();
        if inner.released {
            return;
        }
        for e in tpl.elements() {
            let (topic, partition) = (e.topic(), e.partition());
            if inner
                .queues
                .iter()
                .any(|(t, _)| t.partition == partition && t.topic == topic)
            {
                continue;
            }
            let Ok(name) = CString::new(topic) else {
                continue;
            };
            // SAFETY: a live client and a valid C string; the handle is ours to destroy.
            let queue = unsafe { rd::rd_kafka_queue_get_partition(rk, name.as_ptr(), partition) };
            let Some(queue) = NonNull::new(queue) else {
                continue;
            };
            // SAFETY: a live queue handle; the callback's opaque outlives it (see `release`).
            unsafe {
                rd::rd_kafka_queue_cb_event_enable(
                    queue.as_ptr(),
                    Some(queue_not_empty),
                    Arc::as_ptr(&self.wake).cast_mut().cast::<c_void>(),
                );
                rd::rd_kafka_queue_forward(queue.as_ptr(), std::ptr::null_mut());
            }
            let tp = TopicPartition {
                topic: topic.to_string(),
                partition,
            };
            tracing::debug!(topic, partition, "partition queue detached");
            inner.queues.push((tp, queue));
        }
    }

    /// Moves the records waiting in the detached queues to `out`, in each partition's order,
    /// except those `skip` names, until about `budget` bytes of keys and values are moved (each
    /// call takes up to [`BATCH`] records of one partition; the partition taken first rotates).
    /// Stops at the first error (a partition's consumer error), after keeping the records before
    /// it.
    pub(super) fn take_into<C: ConsumerContext + 'static>(
        &self,
        consumer: &Arc<StreamConsumer<C>>,
        out: &mut VecDeque<Fetched<C>>,
        mut budget: u64,
        generation: u64,
        mut skip: impl FnMut(&Fetched<C>) -> bool,
    ) -> Result<usize, KafkaError> {
        let mut guard = self.lock();
        let Inner {
            queues,
            batch,
            next,
            ..
        } = &mut *guard;
        let mut taken = 0;
        let count = queues.len();
        for k in 0..count {
            let queue = queues[(*next + k) % count].1;
            while budget > 0 {
                batch.clear();
                // SAFETY: a live queue handle and room for BATCH message pointers.
                let n = unsafe {
                    rd::rd_kafka_consume_batch_queue(queue.as_ptr(), 0, batch.as_mut_ptr(), BATCH)
                };
                if n <= 0 {
                    break;
                }
                // SAFETY: librdkafka wrote `n` (at most BATCH) message pointers.
                unsafe { batch.set_len(n as usize) };
                // Every message is owned by a `Fetched` in `out` (one carrying an error is
                // destroyed at once) before any other code runs: a panic later cannot leak one.
                // Straight into `out`, room made first: no batch of records in between.
                let start = out.len();
                out.reserve(n as usize);
                let mut failure = None;
                for message in batch.drain(..).filter_map(NonNull::new) {
                    // SAFETY: each message is returned once, and now owned here.
                    match unsafe { Fetched::batched(message, consumer, generation) } {
                        Ok(record) => out.push_back(record),
                        Err(err) => {
                            failure.get_or_insert(err);
                        }
                    }
                }
                // Records before the offset their partition was asked to start at go (only
                // after a seek: `skip` is a flag's load otherwise).
                let mut i = start;
                while i < out.len() {
                    if skip(&out[i]) {
                        drop(out.remove(i));
                    } else {
                        budget = budget.saturating_sub(out[i].size().max(1));
                        taken += 1;
                        i += 1;
                    }
                }
                if let Some(err) = failure {
                    return Err(err);
                }
                if (n as usize) < BATCH {
                    break;
                }
            }
        }
        if count > 0 {
            *next = (*next + 1) % count;
        }
        Ok(taken)
    }

    /// Notified when a detached queue turns non-empty (a permit is kept if no one waits).
    pub(super) fn wake(&self) -> Arc<Wake> {
        Arc::clone(&self.wake)
    }

    /// Destroys the queue handles: before the consumer is destroyed. Idempotent.
    pub(super) fn release(&self) {
        let mut inner = self.lock();
        inner.released = true;
        for (_, queue) in inner.queues.drain(..) {
            // SAFETY: a live handle: disabling the callback takes the queue's lock, so no
            // callback runs after it returns; the handle is destroyed once.
            unsafe {
                rd::rd_kafka_queue_cb_event_enable(queue.as_ptr(), None, std::ptr::null_mut());
                rd::rd_kafka_queue_destroy(queue.as_ptr());
            }
        }
    }
}

impl Drop for PartitionQueues {
    fn drop(&mut self) {
        if !self.lock().queues.is_empty() {
            tracing::error!("partition queues outlived their consumer instance's close");
        }
    }
}
