//! One consumer instance: an rdkafka consumer plus the state the v2 API needs around it (a buffer
//! of fetched-but-undelivered records, what was delivered, subscription mode).
//!
//! Operations on an instance are serialized by its state lock, as in Confluent's proxy. GET records
//! long-polls on the consumer's async stream, so a waiting request holds no thread; woken by a
//! burst, it answers with part of it ([`ReadLimits`]), and the messages it answered with are freed
//! once the answer is on its way.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{FutureExt, StreamExt};
use rdkafka::consumer::{CommitMode, Consumer, MessageStream, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{BorrowedMessage, Message};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use tokio_util::sync::CancellationToken;

use super::alignment::InstanceContext;
use super::error::{blocking, Error};
use super::fetched::Fetched;
use super::metadata::{legal_topic, Metadata};
use crate::record::{ConsumedRecord, EmbeddedFormat};

type KafkaConsumer = StreamConsumer<InstanceContext>;
type Record = Fetched<InstanceContext>;

/// How long blocking consumer calls (commit, committed, seek) may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a manual assignment waits to learn its topics' partitions (`learn_topics`): without
/// them it still works, a little slower.
const LEARN_TIMEOUT: Duration = Duration::from_secs(5);

/// How much one read may answer with: `max_bytes` of keys and values, and `woken_max_bytes` when it
/// waited for records with none in hand. A long poll woken by records reaching the proxy answers
/// with at most `woken_max_bytes` of them, so that its answer is ready within about a millisecond
/// of their arrival (issue 19: encoding the ~1,000 records of a 100 KiB burst took longer;
/// docs/performance-log.md, "Long polls woken by a burst"). Records beyond stay buffered, and the
/// next GET takes them at once, up to `max_bytes`: a reader that is behind, or that sends its next
/// GET before decoding an answer, loses nothing.
#[derive(Debug, Clone, Copy)]
pub struct ReadLimits {
    pub max_bytes: u64,
    pub woken_max_bytes: u64,
}

/// What a client asked for when creating the instance.
#[derive(Debug, Clone)]
pub struct InstanceSettings {
    pub format: EmbeddedFormat,
    /// `earliest`, `latest` or `none`; None keeps the configured/Kafka default.
    pub auto_offset_reset: Option<String>,
    /// `auto.commit.enable`; None keeps the configured/Kafka default (true).
    pub auto_commit: Option<bool>,
    pub fetch_min_bytes: i64,
    pub request_timeout: Duration,
    /// Beyond Confluent: show each record's headers (`record.headers`) and timestamp
    /// (`record.timestamps`) in GET records.
    pub record_headers: bool,
    pub record_timestamps: bool,
    /// The creating request's user and password as the consumer's SASL credentials
    /// (`confluent.rest.auth.propagate.method=JETTY_AUTH`); None: the proxy's own.
    pub sasl: Option<(String, String)>,
}

pub use super::topic_partition::TopicPartition;

/// An offset (or timestamp) for one partition.
#[derive(Debug, Clone)]
pub struct PartitionOffset {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub metadata: Option<String>,
}

/// Where a seek goes.
#[derive(Debug, Clone, Copy)]
pub enum SeekTarget {
    Offset(i64),
    Timestamp(i64),
    Beginning,
    End,
}

#[derive(Debug, Clone, PartialEq)]
enum Mode {
    Idle,
    Topics(Vec<String>),
    Pattern,
    Assigned,
}

/// Why a read failed; `E` is the error of the caller's record writer.
#[derive(Debug, thiserror::Error)]
pub enum ReadError<E: std::error::Error + 'static> {
    #[error(transparent)]
    Kafka(#[from] Error),
    /// The first pending record cannot be shown in the consumer's format. It stays pending: the
    /// client can seek past it.
    #[error("cannot deserialize the record at {topic}-{partition} offset {offset}: {source}")]
    Format {
        topic: String,
        partition: i32,
        offset: i64,
        source: E,
    },
}

struct State {
    consumer: Option<Arc<KafkaConsumer>>,
    /// Records fetched from Kafka but not yet returned to the client, in fetch order.
    buffer: VecDeque<Record>,
    /// Next offset after the last record delivered to the client, per partition.
    delivered: Vec<(TopicPartition, i64)>,
    /// Start offsets given to the last seek's assignment, for partitions not read since (their
    /// position is still unknown to librdkafka).
    starts: Vec<(TopicPartition, Offset)>,
    mode: Mode,
    /// The rebalance generation at which the buffer was last checked against the assignment;
    /// None after the instance changed its assignment itself (subscribe, assign, seek).
    checked: Option<u64>,
}

/// A consumer instance.
pub struct Instance {
    pub group: String,
    pub name: String,
    /// Unique per created instance, so a reused name is a different instance.
    pub id: u64,
    pub settings: InstanceSettings,
    auto_commit: bool,
    last_used_ms: AtomicU64,
    /// Cancelled by `close`, so a long-poll in progress ends at once instead of delaying it.
    closing: CancellationToken,
    state: tokio::sync::Mutex<State>,
}

impl Instance {
    /// Creates the rdkafka consumer. `base` holds the proxy-wide client and consumer properties.
    pub fn new(
        group: &str,
        name: &str,
        id: u64,
        mut settings: InstanceSettings,
        base: &ClientConfig,
        metadata: Arc<Metadata>,
        now_ms: u64,
    ) -> Result<Instance, Error> {
        let mut config = base.clone();
        config
            .set("group.id", group)
            .set("enable.partition.eof", "false")
            // Offsets are stored when records reach the client, never when fetched into the buffer.
            .set("enable.auto.offset.store", "false");
        if let Some(reset) = &settings.auto_offset_reset {
            let value = match reset.as_str() {
                "earliest" | "latest" => reset.as_str(),
                "none" => "error",
                other => {
                    return Err(Error::InvalidConfig(format!(
                        "Invalid value {other} for configuration auto.offset.reset: String must be one of: latest, earliest, none"
                    )))
                }
            };
            config.set("auto.offset.reset", value);
        }
        if let Some(auto_commit) = settings.auto_commit {
            config.set("enable.auto.commit", auto_commit.to_string());
        }
        // Taken out: the settings are kept (and printable), the password is not.
        if let Some((user, password)) = settings.sasl.take() {
            config
                .set("sasl.username", user)
                .set("sasl.password", password);
        }
        let auto_commit = config
            .get("enable.auto.commit")
            .is_none_or(|v| v != "false");
        let context = InstanceContext::new(metadata);
        let consumer: KafkaConsumer = config
            .create_with_context(context)
            .map_err(|e| Error::InvalidConfig(e.to_string()))?;
        Ok(Instance {
            group: group.to_string(),
            name: name.to_string(),
            id,
            settings,
            auto_commit,
            last_used_ms: AtomicU64::new(now_ms),
            closing: CancellationToken::new(),
            state: tokio::sync::Mutex::new(State {
                consumer: Some(Arc::new(consumer)),
                buffer: VecDeque::new(),
                delivered: Vec::new(),
                starts: Vec::new(),
                mode: Mode::Idle,
                checked: None,
            }),
        })
    }

    /// Marks the instance used at `now_ms` (postpones expiry).
    pub fn touch(&self, now_ms: u64) {
        self.last_used_ms.fetch_max(now_ms, Ordering::Relaxed);
    }

    pub fn last_used_ms(&self) -> u64 {
        self.last_used_ms.load(Ordering::Relaxed)
    }

    /// True while some request is operating on the instance.
    pub fn is_busy(&self) -> bool {
        self.state.try_lock().is_err()
    }

    /// Subscribes to a topic list or (when `pattern` is set) a regex matching whole topic names.
    pub async fn subscribe(
        &self,
        topics: Vec<String>,
        pattern: Option<String>,
    ) -> Result<(), Error> {
        topics.iter().try_for_each(|t| legal_topic(t))?;
        let mut st = self.state.lock().await;
        let consumer = st.consumer()?;
        if st.mode == Mode::Assigned {
            return Err(mutually_exclusive());
        }
        if let Some(pattern) = pattern.filter(|_| topics.is_empty()) {
            // librdkafka's regex engine is not Java's: a pattern is checked with the regex crate
            // first (a client mistake is a 400, not a Kafka error), then by librdkafka itself.
            let invalid = |e: String| Error::InvalidPattern(pattern.clone(), e);
            crate::names::pattern(&pattern).map_err(|e| invalid(e.to_string()))?;
            // librdkafka treats a leading `^` as a regex; Java matches the whole name.
            consumer
                .subscribe(&[&format!("^({pattern})$")])
                .map_err(|e| invalid(e.to_string()))?;
            st.mode = Mode::Pattern;
            st.checked = None;
        } else if !topics.is_empty() {
            let refs: Vec<&str> = topics.iter().map(String::as_str).collect();
            consumer.subscribe(&refs)?;
            st.mode = Mode::Topics(topics);
            st.checked = None;
        }
        Ok(())
    }

    /// The subscribed topics (for a pattern: the topics currently assigned).
    pub async fn subscription(&self) -> Result<Vec<String>, Error> {
        let st = self.state.lock().await;
        let consumer = st.consumer()?;
        Ok(match &st.mode {
            Mode::Topics(t) => t.clone(),
            Mode::Pattern => {
                let mut topics: Vec<String> = assigned(&consumer)?
                    .into_iter()
                    .map(|tp| tp.topic)
                    .collect();
                topics.dedup();
                topics
            }
            Mode::Idle | Mode::Assigned => Vec::new(),
        })
    }

    /// Drops the subscription and any manual assignment.
    pub async fn unsubscribe(&self) -> Result<(), Error> {
        let mut st = self.state.lock().await;
        let consumer = st.consumer()?;
        consumer.unsubscribe();
        if st.mode == Mode::Assigned {
            consumer.unassign()?;
        }
        st.mode = Mode::Idle;
        st.checked = None;
        st.buffer.clear();
        st.delivered.clear();
        Ok(())
    }

    /// Replaces the manual assignment.
    pub async fn assign(&self, partitions: Vec<TopicPartition>) -> Result<(), Error> {
        partitions
            .iter()
            .try_for_each(|tp| legal_topic(&tp.topic))?;
        let mut st = self.state.lock().await;
        let consumer = st.consumer()?;
        if matches!(st.mode, Mode::Topics(_) | Mode::Pattern) {
            return Err(mutually_exclusive());
        }
        let mut tpl = TopicPartitionList::new();
        for tp in &partitions {
            tpl.add_partition(&tp.topic, tp.partition);
        }
        learn_topics(&consumer, &partitions).await;
        let queues = &consumer.context().queues;
        queues.detach(consumer.client().native_ptr(), &tpl);
        consumer.assign(&tpl)?;
        st.checked = None;
        st.mode = if partitions.is_empty() {
            Mode::Idle
        } else {
            Mode::Assigned
        };
        // librdkafka starts every assigned partition over from its committed offset: records
        // taken and not handed out would come again.
        st.buffer.clear();
        st.retain_partitions(&partitions);
        Ok(())
    }

    /// The partitions currently assigned (by the group or manually), sorted.
    pub async fn assignment(&self) -> Result<Vec<TopicPartition>, Error> {
        let st = self.state.lock().await;
        assigned(&*st.consumer()?)
    }

    /// Moves the fetch positions. Every partition must be assigned.
    pub async fn seek(&self, targets: Vec<(TopicPartition, SeekTarget)>) -> Result<(), Error> {
        targets
            .iter()
            .try_for_each(|(tp, _)| legal_topic(&tp.topic))?;
        for (_, target) in &targets {
            if let SeekTarget::Offset(o) | SeekTarget::Timestamp(o) = target {
                if *o < 0 {
                    return Err(Error::InvalidOffset(*o));
                }
            }
        }
        let mut st = self.state.lock().await;
        let consumer = st.consumer()?;
        let current = assigned(&consumer)?;
        for (tp, _) in &targets {
            if current.binary_search(tp).is_err() {
                return Err(Error::IllegalState(format!(
                    "No current assignment for partition {}-{}",
                    tp.topic, tp.partition
                )));
            }
        }
        for (tp, _) in &targets {
            st.forget_partition(tp);
        }
        st.checked = None;
        let pending = st.starts.clone();
        // Where each partition not being moved goes on: after its last record the instance took
        // (buffered or handed out). librdkafka's own position can be past that: a batch pop
        // moves it past a consumer error's offset, a record not yet fetched.
        let taken_up_to: Vec<(TopicPartition, i64)> = current
            .iter()
            .filter_map(|tp| {
                let buffered = st
                    .buffer
                    .iter()
                    .rev()
                    .find(|r| r.is_of(&tp.topic, tp.partition));
                let next = match buffered {
                    Some(r) => r.offset() + 1,
                    None => st.delivered.iter().find(|(d, _)| d == tp)?.1,
                };
                Some((tp.clone(), next))
            })
            .collect();
        let starts = blocking(move || {
            // librdkafka applies assignments asynchronously, and a seek() racing a fresh assignment
            // is lost. Re-assigning with explicit start offsets is applied atomically instead.
            // Partitions not being moved keep their position, or their pending start if they have
            // not been read since an earlier seek.
            let positions = consumer.position()?;
            let mut tpl = TopicPartitionList::new();
            let mut starts = Vec::new();
            for tp in &current {
                let offset = match targets.iter().find(|(t, _)| t == tp) {
                    Some((_, SeekTarget::End)) => {
                        // Resolved now rather than lazily at the next fetch, so that records
                        // produced after this call are read.
                        let ctx = consumer.context();
                        let (_, end) = ctx.metadata.watermarks_blocking(&tp.topic, tp.partition)?;
                        ctx.start_at(tp, Offset::Offset(end))
                    }
                    Some((_, target)) => {
                        let offset = resolve(&consumer, tp, *target)?;
                        consumer.context().start_at(tp, offset)
                    }
                    None => taken_up_to
                        .iter()
                        .find(|(t, _)| t == tp)
                        .map(|(_, next)| Offset::Offset(*next))
                        .or_else(|| {
                            positions
                                .find_partition(&tp.topic, tp.partition)
                                .map(|e| e.offset())
                                .filter(|o| matches!(o, Offset::Offset(_)))
                        })
                        .or_else(|| pending.iter().find(|(t, _)| t == tp).map(|(_, o)| *o))
                        .unwrap_or(Offset::Stored),
                };
                tpl.add_partition_offset(&tp.topic, tp.partition, offset)?;
                starts.push((tp.clone(), offset));
            }
            let queues = &consumer.context().queues;
            queues.detach(consumer.client().native_ptr(), &tpl);
            consumer.assign(&tpl)?;
            Ok(starts)
        })
        .await?;
        st.starts = starts;
        Ok(())
    }

    /// Commits offsets. With `offsets`, commits each `offset + 1` (the client names the last
    /// record it processed). Without, commits what has been delivered to the client.
    pub async fn commit(&self, offsets: Option<Vec<PartitionOffset>>) -> Result<(), Error> {
        if let Some(offsets) = &offsets {
            offsets.iter().try_for_each(|o| legal_topic(&o.topic))?;
        }
        let st = self.state.lock().await;
        let consumer = st.consumer()?;
        let mut tpl = TopicPartitionList::new();
        match offsets {
            Some(offsets) => {
                for o in offsets {
                    let next = o
                        .offset
                        .checked_add(1)
                        .filter(|_| o.offset >= 0)
                        .ok_or_else(|| Error::InvalidOffset(o.offset))?;
                    let mut e = tpl.add_partition(&o.topic, o.partition);
                    e.set_offset(Offset::Offset(next))?;
                    if let Some(meta) = o.metadata {
                        e.set_metadata(meta);
                    }
                }
            }
            None => {
                // Only partitions still ours: a rebalance may have handed the others on, and
                // committing them would rewind their new owner.
                let current = assigned(&consumer)?;
                for (tp, next) in st
                    .delivered
                    .iter()
                    .filter(|(tp, _)| current.binary_search(tp).is_ok())
                {
                    tpl.add_partition_offset(&tp.topic, tp.partition, Offset::Offset(*next))?;
                }
            }
        }
        if tpl.count() == 0 {
            return Ok(());
        }
        blocking(move || Ok(consumer.commit(&tpl, CommitMode::Sync)?)).await
    }

    /// Committed offsets (the next offset to read) of the given partitions; partitions without a
    /// commit are left out.
    pub async fn committed(
        &self,
        partitions: Vec<TopicPartition>,
    ) -> Result<Vec<PartitionOffset>, Error> {
        partitions
            .iter()
            .try_for_each(|tp| legal_topic(&tp.topic))?;
        let st = self.state.lock().await;
        let consumer = st.consumer()?;
        let mut tpl = TopicPartitionList::new();
        for tp in &partitions {
            tpl.add_partition(&tp.topic, tp.partition);
        }
        let found = blocking(move || Ok(consumer.committed_offsets(tpl, CALL_TIMEOUT)?)).await?;
        Ok(found
            .elements()
            .iter()
            .filter_map(|e| match e.offset() {
                Offset::Offset(o) => Some(PartitionOffset {
                    topic: e.topic().to_string(),
                    partition: e.partition(),
                    offset: o,
                    metadata: Some(e.metadata().to_string()),
                }),
                _ => None,
            })
            .collect())
    }

    /// Long-polls for records and writes them as a JSON array with `encode`.
    ///
    /// Waits at most `wait`. Returns as soon as records are available (when `fetch_min_bytes` is
    /// -1) or more than `fetch_min_bytes` are collected. Collects records while their key+value
    /// bytes stay under `limits.max_bytes` (`limits.woken_max_bytes` once it has waited for
    /// records with none in hand, see [`ReadLimits`]), but always returns at least one record.
    /// Records not returned stay buffered for the next read.
    pub async fn read<F, E>(
        &self,
        wait: Duration,
        limits: ReadLimits,
        mut encode: F,
    ) -> Result<Vec<u8>, ReadError<E>>
    where
        F: FnMut(&ConsumedRecord<'_>, &mut Vec<u8>) -> Result<(), E>,
        E: std::error::Error + 'static,
    {
        let deadline = Instant::now() + wait;
        let mut st = self.state.lock().await;
        let consumer = st.consumer()?;
        if st.mode == Mode::Idle {
            return Err(Error::IllegalState(
                "Consumer is not subscribed to any topics or assigned any partitions".into(),
            )
            .into());
        }
        // A rebalance may have taken partitions away: their buffered records are not ours. Only
        // a rebalance (a new generation) or the instance's own calls change the assignment, so
        // the buffer (thousands of records at a small max_bytes) is checked only after one.
        let generation = consumer.context().generation();
        if !st.buffer.is_empty() && st.checked != Some(generation) {
            let current = assigned(&consumer)?;
            st.retain_partitions(&current);
            st.checked = Some(generation);
        }
        let min = self.settings.fetch_min_bytes;
        let wake = consumer.context().queues.wake();
        // One stream for the whole read: each `recv()` would register and drop a waker slot.
        let mut stream = consumer.stream();
        let mut taken: Vec<Record> = Vec::new();
        let mut bytes = 0u64;
        // When the read last began waiting for records with none taken, if it woke to the
        // queues' call: its answer is then measured from their arrival.
        let mut waited_from = None;
        // Lowered to `woken_max_bytes` once the read has waited with nothing in hand, never to
        // `fetch.min.bytes` or under.
        let mut limit = limits.max_bytes;
        let woken_limit = match u64::try_from(min) {
            Ok(min) => limits.woken_max_bytes.max(min + 1),
            Err(_) => limits.woken_max_bytes,
        };
        'collect: loop {
            while let Some(front) = st.buffer.front() {
                let size = front.size();
                if !taken.is_empty() && bytes + size >= limit {
                    break 'collect;
                }
                bytes += size;
                taken.extend(st.buffer.pop_front());
            }
            let enough = if min < 0 {
                !taken.is_empty()
            } else {
                bytes > min as u64
            };
            if waited_from.is_some() {
                limit = limit.min(woken_limit);
            }
            let budget = limit.saturating_sub(bytes).max(1);
            let err = match pull_ready(&mut stream, &consumer, &mut st.buffer, budget) {
                Ok(0) if enough => break,
                Ok(0) => {
                    if taken.is_empty() {
                        waited_from = Some(super::partition_queues::now_ns());
                    }
                    tokio::select! {
                        // Nothing held yet: wait for records, a consumer event, the end or a close.
                        _ = self.closing.cancelled() => break,
                        _ = tokio::time::sleep_until(deadline.into()) => break,
                        _ = wake.notify.notified() => continue,
                        next = stream.next() => match next {
                            // The stream never ends while its consumer lives.
                            None => break,
                            Some(Ok(msg)) => {
                                keep_polled(msg, &consumer, &mut st.buffer);
                                continue;
                            }
                            Some(Err(err)) => err,
                        },
                    }
                }
                Ok(_) => continue,
                Err(err) => err,
            };
            if taken.is_empty() && waiting_cannot_help(&err) {
                return Err(Error::Kafka(err).into());
            }
            if enough {
                break;
            }
            tracing::debug!(group = %self.group, instance = %self.name, error = %err, "consumer error");
            let pause = tokio::time::sleep(Duration::from_millis(20));
            if tokio::time::timeout_at(deadline.into(), pause)
                .await
                .is_err()
            {
                break;
            }
        }
        // Room for the whole answer, so it is never copied into a larger buffer as it grows
        // (at 1 MiB, that copy was 5% of the proxy's CPU per consumed record): base64 and its
        // padding, and each record's JSON members around the data, topic name included.
        let topic_len = taken.first().map_or(0, |m| m.topic().len());
        let mut out =
            Vec::with_capacity(bytes as usize * 4 / 3 + taken.len() * (104 + topic_len) + 2);
        out.push(b'[');
        let mut ok = 0;
        let mut failure = None;
        // The topic's name, read once per run of one partition's records.
        let mut run: Option<(&Record, &str)> = None;
        for msg in &taken {
            let topic = match run {
                Some((first, topic)) if first.same_partition(msg) => topic,
                _ => {
                    let topic = msg.topic();
                    run = Some((msg, topic));
                    topic
                }
            };
            let mark = out.len();
            if ok > 0 {
                out.push(b',');
            }
            // Headers are parsed and gathered only for instances that show them.
            let mut headers: Vec<(&str, Option<&[u8]>)> = Vec::new();
            if self.settings.record_headers {
                msg.headers_into(&mut headers);
            }
            let record = ConsumedRecord {
                topic,
                key: msg.key(),
                value: msg.payload(),
                partition: msg.partition(),
                offset: msg.offset(),
                headers: &headers,
                // Read (a call into librdkafka) only for instances that show it.
                timestamp: if self.settings.record_timestamps {
                    msg.timestamp_ms()
                } else {
                    None
                },
            };
            if let Err(err) = encode(&record, &mut out) {
                out.truncate(mark);
                failure = Some((msg.topic().to_string(), msg.partition(), msg.offset(), err));
                break;
            }
            ok += 1;
        }
        out.push(b']');
        for msg in taken.drain(ok..).rev() {
            st.buffer.push_front(msg);
        }
        if let (0, Some((topic, partition, offset, source))) = (ok, failure) {
            return Err(ReadError::Format {
                topic,
                partition,
                offset,
                source,
            });
        }
        st.record_delivered(&taken);
        if !taken.is_empty() {
            let lag: i64 = st
                .delivered
                .iter()
                .filter_map(|(tp, next)| {
                    cached_high_watermark(&consumer, &tp.topic, tp.partition)
                        .map(|high| (high - next).max(0))
                })
                .sum();
            metrics::gauge!(
                crate::telemetry::CONSUMER_LAG,
                "group" => self.group.clone(),
                "instance" => self.name.clone()
            )
            .set(lag as f64);
        }
        if self.auto_commit && !taken.is_empty() {
            // Auto-commit then commits only what the client has received.
            let mut tpl = TopicPartitionList::new();
            for (tp, next) in &st.delivered {
                let _ = tpl.add_partition_offset(&tp.topic, tp.partition, Offset::Offset(*next));
            }
            if let Err(err) = consumer.store_offsets(&tpl) {
                tracing::debug!(error = %err, "storing offsets failed (partition revoked?)");
            }
        }
        // A long poll woken by records reaching a partition's queue while it waited: from
        // their arrival to its answer (issue 19: within 1 ms).
        if let Some(from) = waited_from {
            let arrived = wake.arrived_ns();
            if ok > 0 && arrived >= from {
                let us = super::partition_queues::now_ns().saturating_sub(arrived) / 1_000;
                metrics::histogram!(crate::telemetry::CONSUMER_WAKE).record(us as f64);
            }
        }
        // The messages are freed once the answer is on its way, not before: freeing a
        // thousand of librdkafka's messages (glibc, allocated on its broker thread) costs as
        // much as encoding them. A task spawned from this worker runs when the request's task
        // next waits, after the answer is written. It holds a handle of its own, dropped after
        // the messages: if the instance closed meanwhile, librdkafka's blocking close is that
        // handle's, and goes to the blocking pool as in `close`.
        if !taken.is_empty() {
            let handle = Arc::clone(&consumer);
            tokio::spawn(async move {
                drop(taken);
                if let Ok(last) = Arc::try_unwrap(handle) {
                    let _ = tokio::task::spawn_blocking(move || drop(last)).await;
                }
            });
        }
        Ok(out)
    }

    /// Closes the consumer: commits (if auto-commit is on) and leaves the group. Idempotent.
    /// A long-poll in progress returns what it has at once.
    pub async fn close(&self) {
        self.closing.cancel();
        // A closed instance has no lag (the series would otherwise keep its last value).
        metrics::gauge!(
            crate::telemetry::CONSUMER_LAG,
            "group" => self.group.clone(),
            "instance" => self.name.clone()
        )
        .set(0.0);
        let consumer = {
            let mut st = self.state.lock().await;
            // Dropped first, so that the blocking close below is the last handle's, off the
            // async threads.
            st.let_go_of_librdkafka();
            st.consumer.take()
        };
        if let Some(consumer) = consumer {
            // Dropping the last handle runs librdkafka's blocking consumer close.
            let _ = tokio::task::spawn_blocking(move || drop(consumer)).await;
        }
    }
}

impl Drop for State {
    /// An instance dropped without `close`: the same order as there.
    fn drop(&mut self) {
        self.let_go_of_librdkafka();
    }
}

impl State {
    /// Drops what must go before the consumer: buffered records (librdkafka's messages, which
    /// hold the consumer too) and the partitions' queue handles.
    fn let_go_of_librdkafka(&mut self) {
        self.buffer.clear();
        if let Some(consumer) = &self.consumer {
            consumer.context().queues.release();
        }
    }

    fn consumer(&self) -> Result<Arc<KafkaConsumer>, Error> {
        self.consumer
            .clone()
            .ok_or_else(|| Error::IllegalState("consumer instance is closed".into()))
    }

    fn forget_partition(&mut self, tp: &TopicPartition) {
        self.starts.retain(|(t, _)| t != tp);
        self.buffer.retain(|m| !m.is_of(&tp.topic, tp.partition));
        self.delivered.retain(|(d, _)| d != tp);
    }

    /// Keeps only buffered records and delivery marks of `partitions` (sorted or not).
    fn retain_partitions(&mut self, partitions: &[TopicPartition]) {
        let keep = |topic: &str, partition: i32| {
            partitions
                .iter()
                .any(|tp| tp.partition == partition && tp.topic == topic)
        };
        self.buffer.retain(|m| keep(m.topic(), m.partition()));
        self.delivered
            .retain(|(tp, _)| keep(&tp.topic, tp.partition));
    }

    fn record_delivered(&mut self, records: &[Record]) {
        if !self.starts.is_empty() {
            self.starts.retain(|(tp, _)| {
                !records
                    .iter()
                    .any(|m| m.partition() == tp.partition && m.topic() == tp.topic)
            });
        }
        // One look-up per run of records of one partition (they come in runs from the
        // partitions' queues), with the run's last offset.
        for run in records.chunk_by(|a, b| a.same_partition(b)) {
            let (first, last) = (&run[0], &run[run.len() - 1]);
            let next = last.offset() + 1;
            let topic = first.topic();
            match self
                .delivered
                .iter_mut()
                .find(|(tp, _)| tp.partition == first.partition() && tp.topic == topic)
            {
                Some((_, n)) => *n = next,
                None => self.delivered.push((
                    TopicPartition {
                        topic: topic.to_string(),
                        partition: first.partition(),
                    },
                    next,
                )),
            }
        }
    }
}

/// Moves what librdkafka already holds to `buffer`, without waiting, until about `budget` bytes
/// of keys and values are moved: first the consumer queue (where a rebalance may be served, and
/// where a partition's records arrive until its own queue is detached), then the partitions' own
/// queues (`kafka/partition_queues.rs`), only once the consumer queue is drained. The number of
/// records moved, or the first consumer error (records before it are kept).
fn pull_ready(
    stream: &mut MessageStream<'_, InstanceContext>,
    consumer: &Arc<KafkaConsumer>,
    buffer: &mut VecDeque<Record>,
    mut budget: u64,
) -> Result<usize, KafkaError> {
    let mut moved = 0;
    while budget > 0 {
        let Some(Some(next)) = stream.next().now_or_never() else {
            break;
        };
        if let Some(size) = keep_polled(next?, consumer, buffer) {
            budget = budget.saturating_sub(size.max(1));
            moved += 1;
        }
    }
    count_taken("consumer", moved);
    if budget == 0 {
        return Ok(moved);
    }
    let context = consumer.context();
    // A rebalance served in a poll above (or in an earlier wait) restarts its partitions' fetch:
    // what was taken for them before it would come again. Dropped before new records are taken.
    let restarted = context.take_restarted();
    if !restarted.is_empty() {
        buffer.retain(|r| {
            !restarted
                .iter()
                .any(|(tp, g)| r.generation < *g && r.is_of(&tp.topic, tp.partition))
        });
    }
    let generation = context.generation();
    let skip = |r: &Record| context.skips(r.partition(), r.offset(), || r.topic());
    let taken = context
        .queues
        .take_into(consumer, buffer, budget, generation, skip)?;
    count_taken("partition", taken);
    Ok(moved + taken)
}

/// Counts records taken from librdkafka's `queue` (once per take, not per record).
fn count_taken(queue: &'static str, records: usize) {
    if records > 0 {
        metrics::counter!(crate::telemetry::CONSUMER_RECORDS, "queue" => queue)
            .increment(records as u64);
    }
}

/// Has the consumer learn the partitions of the topics of `partitions` before they are detached
/// and assigned. A partition librdkafka does not know yet is a placeholder, which an assignment
/// replacing it (the seek that follows) destroys: the partition then gets a new queue, forwarded
/// to the consumer queue again (seen in `consume-cpu`: every record came one per poll). Without
/// an answer the records still arrive, through the consumer queue.
async fn learn_topics(consumer: &Arc<KafkaConsumer>, partitions: &[TopicPartition]) {
    let mut topics: Vec<String> = partitions.iter().map(|tp| tp.topic.clone()).collect();
    topics.sort();
    topics.dedup();
    let consumer = Arc::clone(consumer);
    let deadline = Instant::now() + LEARN_TIMEOUT;
    let _ = blocking(move || {
        for topic in &topics {
            let left = deadline.saturating_duration_since(Instant::now());
            if let Err(err) = consumer.fetch_metadata(Some(topic), left) {
                tracing::debug!(%topic, error = %err, "metadata before an assignment");
            }
        }
        Ok(())
    })
    .await;
}

/// Buffers a record polled from the consumer queue, unless it precedes the offset its partition
/// was asked to start at (see [`InstanceContext::skips`]); its size when kept.
fn keep_polled(
    msg: BorrowedMessage<'_>,
    consumer: &Arc<KafkaConsumer>,
    buffer: &mut VecDeque<Record>,
) -> Option<u64> {
    let context = consumer.context();
    if context.skips(msg.partition(), msg.offset(), || msg.topic()) {
        return None;
    }
    let record = Fetched::polled(msg, consumer, context.generation());
    let size = record.size();
    buffer.push_back(record);
    Some(size)
}

/// The start offset a seek target names.
fn resolve(
    consumer: &KafkaConsumer,
    tp: &TopicPartition,
    target: SeekTarget,
) -> Result<Offset, Error> {
    Ok(match target {
        SeekTarget::Offset(o) => Offset::Offset(o),
        SeekTarget::Beginning => Offset::Beginning,
        SeekTarget::End => Offset::End,
        SeekTarget::Timestamp(ts) => {
            let mut tpl = TopicPartitionList::new();
            tpl.add_partition_offset(&tp.topic, tp.partition, Offset::Offset(ts))?;
            let found = consumer.offsets_for_times(tpl, CALL_TIMEOUT)?;
            // No record at or after the timestamp: go to the end (Confluent fails with a 500).
            match found
                .find_partition(&tp.topic, tp.partition)
                .map(|e| e.offset())
            {
                Some(Offset::Offset(o)) => Offset::Offset(o),
                _ => Offset::End,
            }
        }
    })
}

/// Consumer errors that will not go away by waiting for the long-poll to end.
fn waiting_cannot_help(err: &KafkaError) -> bool {
    use rdkafka::error::RDKafkaErrorCode as C;
    match err.rdkafka_error_code() {
        Some(C::AutoOffsetReset) => true,
        Some(code) => matches!(
            super::error::classify(code),
            super::error::ErrorClass::Authentication | super::error::ErrorClass::Authorization
        ),
        None => false,
    }
}

fn mutually_exclusive() -> Error {
    Error::IllegalState(
        "Subscription to topics, partitions and pattern are mutually exclusive".into(),
    )
}

fn assigned(consumer: &KafkaConsumer) -> Result<Vec<TopicPartition>, Error> {
    let tpl = consumer
        .assignment()
        .map_err(|e: KafkaError| Error::Kafka(e))?;
    let mut out: Vec<TopicPartition> = tpl
        .elements()
        .iter()
        .map(|e| TopicPartition {
            topic: e.topic().to_string(),
            partition: e.partition(),
        })
        .collect();
    out.sort();
    Ok(out)
}

/// librdkafka's last known high watermark of a partition `consumer` fetches, from its fetch
/// responses: no request is made (rust-rdkafka only wraps the querying call).
#[allow(unsafe_code)]
fn cached_high_watermark(consumer: &KafkaConsumer, topic: &str, partition: i32) -> Option<i64> {
    use rdkafka::consumer::Consumer as _;
    let topic = std::ffi::CString::new(topic).ok()?;
    let (mut low, mut high) = (-1i64, -1i64);
    // SAFETY: the client pointer is valid while `consumer` is borrowed; `topic` is a valid C
    // string for the call; the out-parameters are locals librdkafka writes two i64s into.
    let err = unsafe {
        rdkafka::bindings::rd_kafka_get_watermark_offsets(
            consumer.client().native_ptr(),
            topic.as_ptr(),
            partition,
            &mut low,
            &mut high,
        )
    };
    (err == rdkafka::bindings::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR && high >= 0)
        .then_some(high)
}
