//! Consumer groups for the v3 API (read-only): the groups of the cluster, their state, assignor
//! and members with their assigned partitions (Kafka's consumer protocol assignment, decoded
//! here), and each committed partition's lag against its log end. Any group counts, the v2
//! consumer instances' groups included.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

use super::client_log::QuietContext;
use super::error::{blocking, Error};
use super::metadata::{topic_partitions, Metadata};

/// One member of a group.
#[derive(Debug, Clone)]
pub struct Member {
    pub consumer_id: String,
    pub client_id: String,
    pub host: String,
    /// Assigned partitions, sorted.
    pub assignment: Vec<(String, i32)>,
}

/// A consumer group as the cluster describes it.
#[derive(Debug, Clone)]
pub struct Group {
    pub id: String,
    /// Kafka's state name, upper-cased as Confluent shows it (STABLE, EMPTY, ...).
    pub state: String,
    /// The protocol type (`consumer` for Kafka consumers; empty for a simple group).
    pub protocol_type: String,
    /// The partition assignor (`range`, `cooperative-sticky`, ...).
    pub assignor: String,
    pub members: Vec<Member>,
}

impl Group {
    /// A group that only commits offsets (no members, no protocol): Confluent's `is_simple`.
    pub fn is_simple(&self) -> bool {
        self.protocol_type.is_empty()
    }
}

/// One committed partition's lag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lag {
    pub topic: String,
    pub partition: i32,
    pub current_offset: i64,
    pub log_end_offset: i64,
    /// The member the partition is assigned to (consumer id, client id), if any.
    pub member: Option<(String, String)>,
}

impl Lag {
    pub fn lag(&self) -> i64 {
        (self.log_end_offset - self.current_offset).max(0)
    }
}

/// Decodes Kafka's ConsumerProtocolAssignment (v0–v3: version, then topics with partitions; the
/// user data after them is not needed). None when the bytes are not one.
pub fn decode_assignment(bytes: &[u8]) -> Option<Vec<(String, i32)>> {
    let mut at = 0usize;
    let mut take = |n: usize| -> Option<&[u8]> {
        let s = bytes.get(at..at + n)?;
        at += n;
        Some(s)
    };
    let i16_of = |b: &[u8]| i16::from_be_bytes([b[0], b[1]]);
    let i32_of = |b: &[u8]| i32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    let _version = i16_of(take(2)?);
    let topics = i32_of(take(4)?);
    let mut out = Vec::new();
    for _ in 0..topics.max(0) {
        let len = i16_of(take(2)?);
        let name = std::str::from_utf8(take(len.max(0) as usize)?)
            .ok()?
            .to_string();
        let partitions = i32_of(take(4)?);
        for _ in 0..partitions.max(0) {
            out.push((name.clone(), i32_of(take(4)?)));
        }
    }
    out.sort();
    Some(out)
}

/// Read access to the cluster's consumer groups.
pub struct Groups {
    client: Arc<BaseConsumer<QuietContext>>,
    config: ClientConfig,
    metadata: Arc<Metadata>,
    timeout: Duration,
}

impl Groups {
    pub fn new(
        config: &ClientConfig,
        metadata: Arc<Metadata>,
        timeout: Duration,
    ) -> Result<Self, Error> {
        Ok(Groups {
            client: Arc::new(config.create_with_context(QuietContext)?),
            config: config.clone(),
            metadata,
            timeout,
        })
    }

    /// Every group, sorted by id.
    pub async fn list(&self) -> Result<Vec<Group>, Error> {
        let mut groups = self.describe(None).await?;
        groups.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(groups)
    }

    /// One group; None when the cluster does not know it (Kafka's `Dead` state).
    pub async fn get(&self, id: &str) -> Result<Option<Group>, Error> {
        Ok(self
            .describe(Some(id.to_string()))
            .await?
            .into_iter()
            .find(|g| g.id == id && g.state != "DEAD"))
    }

    async fn describe(&self, id: Option<String>) -> Result<Vec<Group>, Error> {
        let (client, timeout) = (self.client.clone(), self.timeout);
        blocking(move || {
            let list = client.client().fetch_group_list(id.as_deref(), timeout)?;
            Ok(list
                .groups()
                .iter()
                .map(|g| Group {
                    id: g.name().to_string(),
                    state: g.state().to_ascii_uppercase(),
                    protocol_type: g.protocol_type().to_string(),
                    assignor: g.protocol().to_string(),
                    members: g
                        .members()
                        .iter()
                        .map(|m| Member {
                            consumer_id: m.id().to_string(),
                            client_id: m.client_id().to_string(),
                            host: m.client_host().to_string(),
                            assignment: m
                                .assignment()
                                .and_then(decode_assignment)
                                .unwrap_or_default(),
                        })
                        .collect(),
                })
                .collect())
        })
        .await
    }

    /// The lag of every partition `group` has committed an offset for, sorted by topic and
    /// partition: the committed offset against the partition's log end.
    pub async fn lags(&self, group: &Group) -> Result<Vec<Lag>, Error> {
        let owners: HashMap<(String, i32), (String, String)> = group
            .members
            .iter()
            .flat_map(|m| {
                m.assignment
                    .iter()
                    .map(move |tp| (tp.clone(), (m.consumer_id.clone(), m.client_id.clone())))
            })
            .collect();
        let (client, timeout) = (self.client.clone(), self.timeout);
        // Every partition of the cluster is asked for (one OffsetFetch); those without a
        // committed offset are left out.
        let partitions: Vec<(String, i32)> = blocking(move || {
            let md = client.fetch_metadata(None, timeout)?;
            let mut out = Vec::new();
            for t in md.topics().iter().filter(|t| t.error().is_none()) {
                for p in topic_partitions(&md, t.name())? {
                    out.push((t.name().to_string(), p.id));
                }
            }
            Ok(out)
        })
        .await?;
        let mut config = self.config.clone();
        config
            .set("group.id", &group.id)
            .set("enable.auto.commit", "false");
        let timeout = self.timeout;
        let committed: BTreeMap<(String, i32), i64> = blocking(move || {
            // A consumer of the group that never joins it: it only reads the commits.
            let reader: BaseConsumer<QuietContext> = config.create_with_context(QuietContext)?;
            let mut tpl = TopicPartitionList::new();
            for (topic, partition) in &partitions {
                tpl.add_partition(topic, *partition);
            }
            let committed = reader.committed_offsets(tpl, timeout)?;
            Ok(committed
                .elements()
                .iter()
                .filter_map(|e| match e.offset() {
                    Offset::Offset(o) => Some(((e.topic().to_string(), e.partition()), o)),
                    _ => None,
                })
                .collect())
        })
        .await?;
        let mut lags = Vec::with_capacity(committed.len());
        for ((topic, partition), current) in committed {
            let (_, end) = self.metadata.watermarks(&topic, partition).await?;
            lags.push(Lag {
                member: owners.get(&(topic.clone(), partition)).cloned(),
                topic,
                partition,
                current_offset: current,
                log_end_offset: end,
            });
        }
        Ok(lags)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assignments_decode() {
        // Version 1, two topics: "a" [2, 0], "bb" [1]; then user data.
        let mut b = vec![0, 1, 0, 0, 0, 2];
        b.extend([0, 1, b'a', 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 0]);
        b.extend([0, 2, b'b', b'b', 0, 0, 0, 1, 0, 0, 0, 1]);
        b.extend([0xff, 0xff, 0xff, 0xff]);
        assert_eq!(
            decode_assignment(&b).unwrap(),
            vec![("a".into(), 0), ("a".into(), 2), ("bb".into(), 1)]
        );
        assert_eq!(decode_assignment(&b[..9]), None);
        assert_eq!(decode_assignment(&[]), None);
    }
}
