//! Cluster metadata for the metadata endpoints and for produce: topics, partitions, watermarks,
//! brokers and topic configs, plus a cache of partition counts used on every produce.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, ResourceSpecifier};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::RDKafkaErrorCode;
use rdkafka::ClientConfig;

use super::error::{blocking, classify, Error, ErrorClass};

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
    client: Arc<BaseConsumer>,
    admin: AdminClient<DefaultClientContext>,
    partition_counts: RwLock<HashMap<String, (u32, Instant)>>,
    max_age: Duration,
    timeout: Duration,
}

impl Metadata {
    /// `timeout` bounds each metadata request; `max_age` is how long partition counts are reused.
    pub fn new(config: &ClientConfig, timeout: Duration, max_age: Duration) -> Result<Self, Error> {
        Ok(Metadata {
            client: Arc::new(config.create()?),
            admin: config.create()?,
            partition_counts: RwLock::new(HashMap::new()),
            max_age,
            timeout,
        })
    }

    /// Partition count of `topic`, from the cache when fresh. Fails fast with
    /// [`Error::TopicNotFound`] when the broker does not know the topic.
    pub async fn partition_count(&self, topic: &str) -> Result<u32, Error> {
        if let Some((n, at)) = self.partition_counts.read().expect("poisoned").get(topic) {
            if at.elapsed() < self.max_age {
                return Ok(*n);
            }
        }
        let partitions = self.partitions(topic).await?;
        let n = partitions.len() as u32;
        self.partition_counts
            .write()
            .expect("poisoned")
            .insert(topic.to_string(), (n, Instant::now()));
        Ok(n)
    }

    /// Forgets a cached partition count (after a produce saw the topic change).
    pub fn invalidate(&self, topic: &str) {
        self.partition_counts
            .write()
            .expect("poisoned")
            .remove(topic);
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
        let (client, timeout, name) = (self.client.clone(), self.timeout, topic.to_string());
        blocking(move || {
            let md = client.fetch_metadata(Some(&name), timeout)?;
            let t = md
                .topics()
                .iter()
                .find(|t| t.name() == name)
                .ok_or_else(|| Error::TopicNotFound(name.clone()))?;
            if let Some(err) = t.error() {
                let code = RDKafkaErrorCode::from(err);
                return Err(match classify(code) {
                    ErrorClass::UnknownTopicOrPartition => Error::TopicNotFound(name.clone()),
                    _ => Error::Kafka(rdkafka::error::KafkaError::MetadataFetch(code)),
                });
            }
            if t.partitions().is_empty() {
                return Err(Error::TopicNotFound(name.clone()));
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
        })
        .await
    }

    /// Topic configs as name -> value. Empty when the broker reports none.
    pub async fn topic_configs(
        &self,
        topic: &str,
    ) -> Result<BTreeMap<String, Option<String>>, Error> {
        let opts = AdminOptions::new().request_timeout(Some(self.timeout));
        let spec = ResourceSpecifier::Topic(topic);
        let results = self.admin.describe_configs([&spec], &opts).await?;
        let mut out = BTreeMap::new();
        for result in results {
            // A broker that cannot describe configs still has a valid topic: show no configs.
            if let Ok(resource) = result {
                for entry in resource.entries {
                    out.insert(entry.name, entry.value);
                }
            }
        }
        Ok(out)
    }

    /// `(beginning, end)` offsets of one partition.
    pub async fn watermarks(&self, topic: &str, partition: i32) -> Result<(i64, i64), Error> {
        let count = self.partition_count(topic).await?;
        if partition < 0 || partition as u32 >= count {
            return Err(Error::PartitionNotFound(topic.to_string(), partition));
        }
        let (client, timeout, name) = (self.client.clone(), self.timeout, topic.to_string());
        blocking(move || Ok(client.fetch_watermarks(&name, partition, timeout)?)).await
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
