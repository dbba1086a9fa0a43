//! Cluster metadata for the metadata endpoints and for produce: topics, partitions, watermarks,
//! brokers and topic configs, and the route cache ([`RouteCache`]) produce shares.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use super::client_log::QuietContext;
use rdkafka::admin::{AdminClient, AdminOptions, ResourceSpecifier};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, KafkaResult, RDKafkaErrorCode};
use rdkafka::message::{BorrowedMessage, Message};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

use super::error::{blocking, classify, Error, ErrorClass};
use super::routes::RouteCache;
use crate::names::check_topic;

/// Fails for a name that is not a legal topic name, before it reaches librdkafka (see
/// [`super::names`]).
pub(super) fn legal_topic(topic: &str) -> Result<(), Error> {
    check_topic(topic).map_err(|e| Error::InvalidTopic(topic.to_string(), e))
}

/// Topics Java's `Admin.listTopics()` hides by default.
const INTERNAL_TOPICS: &[&str] = &[
    "__consumer_offsets",
    "__transaction_state",
    "__share_group_state",
];

/// One partition as the metadata endpoints show it.
#[derive(Debug, Clone)]
pub struct PartitionInfo {
    pub id: i32,
    pub leader: i32,
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
}

/// Metadata access shared by the whole proxy.
pub struct Metadata {
    /// A group-less consumer: metadata and watermark queries (Confluent's hidden admin consumer).
    client: Arc<BaseConsumer<QuietContext>>,
    admin: AdminClient<QuietContext>,
    /// Reads the last batch of a partition to find its true end offset (see [`Metadata::watermarks`]).
    probe: Arc<Mutex<BaseConsumer<QuietContext>>>,
    /// The one cache of topic routes (partition leaders, so partition counts).
    pub(super) routes: RouteCache,
    timeout: Duration,
}

impl Metadata {
    /// `timeout` bounds each metadata request; `max_age` is how long topic routes are reused.
    pub fn new(config: &ClientConfig, timeout: Duration, max_age: Duration) -> Result<Self, Error> {
        Ok(Metadata {
            client: Arc::new(config.create_with_context(QuietContext)?),
            admin: config.create_with_context(QuietContext)?,
            probe: Arc::new(Mutex::new(
                config
                    .clone()
                    // librdkafka needs a group for an assignment; this one never commits.
                    .set(
                        "group.id",
                        format!("kafka-proxy-offset-probe-{}", uuid::Uuid::new_v4()),
                    )
                    .set("enable.auto.commit", "false")
                    .set("enable.partition.eof", "true")
                    .set("fetch.wait.max.ms", "10")
                    .create_with_context(QuietContext)?,
            )),
            routes: RouteCache::new(max_age),
            timeout,
        })
    }

    /// Partition count of `topic`, from the route cache when fresh. Never creates the topic.
    pub async fn partition_count(&self, topic: &str) -> Result<u32, Error> {
        legal_topic(topic)?;
        if let Some(leaders) = self.routes.get(topic) {
            return Ok(leaders.len() as u32);
        }
        let (client, timeout, name) = (self.client.clone(), self.timeout, topic.to_string());
        let leaders = blocking(move || {
            let md = client.fetch_metadata(Some(&name), timeout)?;
            leaders_in(&md, &name)
        })
        .await?;
        Ok(self.routes.insert(topic, leaders).len() as u32)
    }

    /// How long a metadata request may take.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Forgets the cached route of `topic` (after a produce or a log read saw it change).
    pub fn invalidate(&self, topic: &str) {
        self.routes.forget(topic);
    }

    /// Topic names, internal topics excluded, sorted.
    pub async fn topics(&self) -> Result<Vec<String>, Error> {
        let (client, timeout) = (self.client.clone(), self.timeout);
        blocking(move || {
            let md = client.fetch_metadata(None, timeout)?;
            let mut names: Vec<String> = md
                .topics()
                .iter()
                .filter(|t| t.error().is_none() && !INTERNAL_TOPICS.contains(&t.name()))
                .map(|t| t.name().to_string())
                .collect();
            names.sort();
            Ok(names)
        })
        .await
    }

    /// The partitions of `topic`, ordered by id.
    pub async fn partitions(&self, topic: &str) -> Result<Vec<PartitionInfo>, Error> {
        legal_topic(topic)?;
        let (client, timeout, name) = (self.client.clone(), self.timeout, topic.to_string());
        blocking(move || {
            let md = client.fetch_metadata(Some(&name), timeout)?;
            topic_partitions(&md, &name)
        })
        .await
    }

    /// Topic configs as name -> value. Empty when the broker reports none.
    pub async fn topic_configs(
        &self,
        topic: &str,
    ) -> Result<BTreeMap<String, Option<String>>, Error> {
        legal_topic(topic)?;
        let opts = AdminOptions::new().request_timeout(Some(self.timeout));
        let spec = ResourceSpecifier::Topic(topic);
        let results = self.admin.describe_configs([&spec], &opts).await?;
        let mut out = BTreeMap::new();
        // A broker that cannot describe configs still has a valid topic: show no configs.
        for resource in results.into_iter().flatten() {
            for entry in resource.entries {
                out.insert(entry.name, entry.value);
            }
        }
        Ok(out)
    }

    /// `(beginning, end)` offsets of one partition, `end` being one past the last record.
    ///
    /// Some brokers (Tansu 0.6) report the end as the last *batch's* base offset + 1, so the end
    /// the broker reports is checked by reading the batch just before it: the true end is one past
    /// the last record found there. On Apache Kafka this reads one record and changes nothing.
    pub async fn watermarks(&self, topic: &str, partition: i32) -> Result<(i64, i64), Error> {
        let count = self.partition_count(topic).await?;
        if partition < 0 || partition as u32 >= count {
            return Err(Error::PartitionNotFound(topic.to_string(), partition));
        }
        let (client, probe) = (self.client.clone(), self.probe.clone());
        let (timeout, name) = (self.timeout, topic.to_string());
        blocking(move || true_watermarks(&client, &probe, &name, partition, timeout)).await
    }

    /// [`Metadata::watermarks`] for a partition known to exist, from blocking code.
    pub fn watermarks_blocking(&self, topic: &str, partition: i32) -> Result<(i64, i64), Error> {
        legal_topic(topic)?;
        true_watermarks(&self.client, &self.probe, topic, partition, self.timeout)
    }

    /// Broker ids, sorted.
    pub async fn brokers(&self) -> Result<Vec<i32>, Error> {
        let (client, timeout) = (self.client.clone(), self.timeout);
        blocking(move || {
            let md = client.fetch_metadata(None, timeout)?;
            let mut ids: Vec<i32> = md.brokers().iter().map(|b| b.id()).collect();
            ids.sort();
            Ok(ids)
        })
        .await
    }
}

/// The route of `name` in a metadata response.
pub(super) fn leaders_in(
    md: &rdkafka::metadata::Metadata,
    name: &str,
) -> Result<Vec<Option<String>>, Error> {
    let partitions = topic_partitions(md, name)?;
    let addr = |id: i32| {
        md.brokers()
            .iter()
            .find(|b| b.id() == id)
            .map(|b| format!("{}:{}", b.host(), b.port()))
    };
    let mut leaders = vec![None; partitions.len()];
    for p in &partitions {
        if let Some(slot) = leaders.get_mut(p.id as usize) {
            *slot = addr(p.leader);
        }
    }
    Ok(leaders)
}

/// The partitions of `name` in a metadata response, ordered by id.
pub fn topic_partitions(
    md: &rdkafka::metadata::Metadata,
    name: &str,
) -> Result<Vec<PartitionInfo>, Error> {
    let t = md
        .topics()
        .iter()
        .find(|t| t.name() == name)
        .ok_or_else(|| Error::TopicNotFound(name.to_string()))?;
    if let Some(err) = t.error() {
        let code = RDKafkaErrorCode::from(err);
        return Err(match classify(code) {
            ErrorClass::UnknownTopicOrPartition => Error::TopicNotFound(name.to_string()),
            _ => Error::Kafka(KafkaError::MetadataFetch(code)),
        });
    }
    if t.partitions().is_empty() {
        return Err(Error::TopicNotFound(name.to_string()));
    }
    let mut parts: Vec<PartitionInfo> = t
        .partitions()
        .iter()
        .map(|p| PartitionInfo {
            id: p.id(),
            leader: p.leader(),
            replicas: p.replicas().to_vec(),
            isr: p.isr().to_vec(),
        })
        .collect();
    parts.sort_by_key(|p| p.id);
    Ok(parts)
}

impl Metadata {
    /// The offset to start fetching at so that a read beginning at `offset` misses nothing: the
    /// base offset of the record batch holding `offset`. Blocking.
    ///
    /// Apache Kafka answers a fetch at any offset with the batch holding it (the client drops the
    /// records before it), so this is `offset` after one probe. Tansu 0.6 answers with the first
    /// batch whose *base* is at or after the offset, skipping the rest of the batch holding it;
    /// there the base is found by binary search over probes, and the caller drops the records
    /// before `offset`.
    pub fn batch_start(&self, topic: &str, partition: i32, offset: i64) -> Result<i64, Error> {
        legal_topic(topic)?;
        let probe = self.probe.lock().unwrap_or_else(PoisonError::into_inner);
        let result = (|| {
            let (low, reported) = self
                .client
                .fetch_watermarks(topic, partition, self.timeout)?;
            if offset <= low {
                return Ok(offset); // the first batch starts at `low`; below it nothing is stored
            }
            let end = if reported > low {
                last_batch_end(&probe, topic, partition, reported, self.timeout)?
            } else {
                reported
            };
            if offset > end {
                return Ok(offset); // past the log: nothing to align to
            }
            let first_at = |x: i64| first_offset_from(&probe, topic, partition, x, self.timeout);
            if first_at(offset)? == Some(offset) {
                return Ok(offset);
            }
            // A fetch at `offset - 1` that starts there means a batch starts there (Tansu), or the
            // broker serves mid-batch fetches (Kafka): either way it is a safe start. This also
            // settles "start at the end" (no record at `offset` yet) in one more probe.
            if first_at(offset - 1)? == Some(offset - 1) {
                return Ok(offset - 1);
            }
            // Invariant: a fetch at `lo` starts at or before `offset`. low < offset <= end.
            let (mut lo, mut hi) = (low, offset);
            if first_at(lo)?.is_none_or(|f| f > offset) {
                return Ok(offset);
            }
            while lo < hi {
                let mid = lo + (hi - lo) / 2 + (hi - lo) % 2;
                if first_at(mid)?.is_some_and(|f| f <= offset) {
                    lo = mid;
                } else {
                    hi = mid - 1;
                }
            }
            Ok(lo)
        })();
        let _ = probe.unassign();
        result
    }
}

/// The least the read of a partition's last batch waits for its first record (a request's own
/// timeout is longer when it is longer). The broker has just said the record is there, so the
/// wait ends when it arrives, and is long only while the probe starts: a fresh consumer's first
/// fetch can take over a second (seen on Tansu under CI load), and a read that gave up at
/// `produce.metadata.timeout.ms` (1 s) reported a partition's end one batch short. (Probes for
/// offsets that may hold nothing keep the request's timeout: on Tansu a probe inside a batch
/// gets neither a record nor an end-of-partition event, so it waits for all of it.)
const PROBE_WAIT_MIN: Duration = Duration::from_secs(10);

/// The offset of the first record a fetch starting at `start` delivers, if any.
fn first_offset_from(
    probe: &BaseConsumer<QuietContext>,
    topic: &str,
    partition: i32,
    start: i64,
    timeout: Duration,
) -> Result<Option<i64>, Error> {
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, partition, Offset::Offset(start))?;
    probe.assign(&tpl)?;
    match next_event(probe, Instant::now() + timeout) {
        Some(Ok(msg)) => Ok(Some(msg.offset())),
        Some(Err(KafkaError::PartitionEOF(_))) | None => Ok(None),
        Some(Err(err)) => {
            tracing::debug!(%topic, partition, start, error = %err, "offset probe");
            Ok(None)
        }
    }
}

fn true_watermarks(
    client: &BaseConsumer<QuietContext>,
    probe: &Mutex<BaseConsumer<QuietContext>>,
    topic: &str,
    partition: i32,
    timeout: Duration,
) -> Result<(i64, i64), Error> {
    let (low, reported) = client.fetch_watermarks(topic, partition, timeout)?;
    if reported <= low {
        return Ok((low, reported));
    }
    let probe = probe.lock().unwrap_or_else(PoisonError::into_inner);
    let end = last_batch_end(&probe, topic, partition, reported, timeout);
    let _ = probe.unassign();
    Ok((low, end?))
}

/// One past the last record of the batch that holds offset `reported - 1`, or later ones.
fn last_batch_end(
    probe: &BaseConsumer<QuietContext>,
    topic: &str,
    partition: i32,
    reported: i64,
    timeout: Duration,
) -> Result<i64, Error> {
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, partition, Offset::Offset(reported - 1))?;
    probe.assign(&tpl)?;
    let deadline = Instant::now() + timeout.max(PROBE_WAIT_MIN);
    let mut end = reported;
    let mut seen = false;
    loop {
        // A batch arrives whole: once one record is in, the rest are already queued.
        let event = if seen {
            probe.poll(Duration::ZERO)
        } else {
            next_event(probe, deadline)
        };
        match event {
            Some(Ok(msg)) => {
                end = end.max(msg.offset() + 1);
                seen = true;
            }
            Some(Err(KafkaError::PartitionEOF(_))) | None => return Ok(end),
            Some(Err(err)) => return Err(err.into()),
        }
    }
}

/// The probe's next message or error, waiting until `deadline`; `None` once it has passed.
///
/// `poll` alone is not enough: rust-rdkafka's poll also answers `None` before its timeout, after
/// serving an event that is not a message (a rebalance or a commit), which is not "no record".
fn next_event(
    probe: &BaseConsumer<QuietContext>,
    deadline: Instant,
) -> Option<KafkaResult<BorrowedMessage<'_>>> {
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if let Some(event) = probe.poll(left) {
            return Some(event);
        }
        if left.is_zero() {
            return None;
        }
    }
}
