//! Cluster administration for the v3 API: the cluster (id, controller, brokers), topics with
//! their partitions and replicas (internal ones included), and topic creation, deletion and
//! partition increases through librdkafka's admin client. A broker's refusal leaves as
//! [`Error::Admin`] with Kafka's error code, classified once in [`super::error::classify`].

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewPartitions, NewTopic, TopicReplication};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::RDKafkaErrorCode;
use rdkafka::ClientConfig;

use super::client_log::QuietContext;
use super::error::{blocking, Error};
use super::metadata::{legal_topic, topic_partitions, PartitionInfo};
use super::wire_admin::{WireAccess, WireAdmin};

/// One broker as the cluster describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerInfo {
    pub id: i32,
    pub host: String,
    pub port: i32,
}

/// The cluster: its id, controller and brokers (sorted by id).
#[derive(Debug, Clone)]
pub struct ClusterInfo {
    pub id: String,
    pub controller: Option<i32>,
    pub brokers: Vec<BrokerInfo>,
}

/// One topic with its partitions (sorted by id).
#[derive(Debug, Clone)]
pub struct TopicInfo {
    pub name: String,
    pub internal: bool,
    pub partitions: Vec<PartitionInfo>,
}

impl TopicInfo {
    /// The replica count of partition 0 (as Confluent reports a topic's replication factor).
    pub fn replication_factor(&self) -> usize {
        self.partitions.first().map_or(0, |p| p.replicas.len())
    }
}

/// A topic to create.
#[derive(Debug, Clone, Default)]
pub struct NewTopicSpec {
    pub name: String,
    /// None: the broker's `num.partitions`.
    pub partitions: Option<i32>,
    /// None: the broker's `default.replication.factor`.
    pub replication_factor: Option<i32>,
    /// Partition id → broker ids; when given, it decides partitions and replication.
    pub assignments: BTreeMap<i32, Vec<i32>>,
    /// Config name → value (None: the default).
    pub configs: Vec<(String, Option<String>)>,
}

/// Topics Kafka itself keeps.
fn is_internal(name: &str) -> bool {
    name.starts_with("__")
}

/// The admin side of the cluster.
pub struct Admin {
    admin: AdminClient<QuietContext>,
    client: Arc<BaseConsumer<QuietContext>>,
    timeout: Duration,
    cluster_id: OnceLock<String>,
    /// The requests librdkafka lacks: configs, ACLs, reassignments
    /// ([`super::configs`], [`super::acls`], [`super::reassignments`]).
    pub(super) wire: WireAdmin,
}

impl Admin {
    pub fn new(
        config: &ClientConfig,
        timeout: Duration,
        access: Result<WireAccess, String>,
    ) -> Result<Admin, Error> {
        Ok(Admin {
            admin: config.create_with_context(QuietContext)?,
            client: Arc::new(config.create_with_context(QuietContext)?),
            timeout,
            cluster_id: OnceLock::new(),
            wire: WireAdmin::new(access),
        })
    }

    /// The address (`host:port`) of broker `id`, or of the controller (any broker when it is
    /// not known) for `None`: where cluster-wide admin requests go.
    pub(super) async fn broker_address(&self, id: Option<i32>) -> Result<String, Error> {
        let cluster = self.cluster().await?;
        let wanted = id.or(cluster.controller);
        let broker = match wanted {
            Some(id) => cluster.brokers.iter().find(|b| b.id == id),
            None => None,
        }
        .or(if id.is_none() {
            cluster.brokers.first()
        } else {
            None
        });
        match broker {
            Some(b) => Ok(format!("{}:{}", b.host, b.port)),
            None => Err(Error::Admin {
                code: RDKafkaErrorCode::BrokerNotAvailable,
                message: format!("Broker {} not found.", id.unwrap_or(-1)),
            }),
        }
    }

    /// How long an admin request may take.
    pub(super) fn timeout(&self) -> Duration {
        self.timeout
    }

    fn options(&self, validate_only: bool) -> AdminOptions {
        AdminOptions::new()
            .request_timeout(Some(self.timeout))
            .operation_timeout(Some(self.timeout))
            .validate_only(validate_only)
    }

    /// The cluster's id: kept after the first ask, so the hot paths (v3 produce) make no
    /// metadata request for it.
    pub async fn cluster_id(&self) -> Result<String, Error> {
        match self.cluster_id.get() {
            Some(id) => Ok(id.clone()),
            None => Ok(self.cluster().await?.id),
        }
    }

    /// The cluster's id (asked once, then kept), controller and brokers.
    pub async fn cluster(&self) -> Result<ClusterInfo, Error> {
        let (client, timeout) = (self.client.clone(), self.timeout);
        let known = self.cluster_id.get().cloned();
        let (id, controller, brokers) = blocking(move || {
            let md = client.fetch_metadata(None, timeout)?;
            let mut brokers: Vec<BrokerInfo> = md
                .brokers()
                .iter()
                .map(|b| BrokerInfo {
                    id: b.id(),
                    host: b.host().to_string(),
                    port: b.port(),
                })
                .collect();
            brokers.sort_by_key(|b| b.id);
            let id = match known {
                Some(id) => id,
                None => client.client().fetch_cluster_id(timeout).ok_or_else(|| {
                    Error::Kafka(rdkafka::error::KafkaError::MetadataFetch(
                        RDKafkaErrorCode::OperationTimedOut,
                    ))
                })?,
            };
            Ok((id, controller_id(&client, timeout), brokers))
        })
        .await?;
        let id = self.cluster_id.get_or_init(|| id).clone();
        Ok(ClusterInfo {
            id,
            controller,
            brokers,
        })
    }

    /// Every topic, internal ones included, sorted by name.
    pub async fn topics(&self) -> Result<Vec<TopicInfo>, Error> {
        let (client, timeout) = (self.client.clone(), self.timeout);
        blocking(move || {
            let md = client.fetch_metadata(None, timeout)?;
            let mut topics = Vec::new();
            for t in md.topics().iter().filter(|t| t.error().is_none()) {
                topics.push(TopicInfo {
                    name: t.name().to_string(),
                    internal: is_internal(t.name()),
                    partitions: topic_partitions(&md, t.name())?,
                });
            }
            topics.sort_by(|a, b| a.name.cmp(&b.name));
            Ok(topics)
        })
        .await
    }

    /// One topic; [`Error::TopicNotFound`] when the cluster has none of that name.
    pub async fn topic(&self, name: &str) -> Result<TopicInfo, Error> {
        legal_topic(name).map_err(|_| Error::TopicNotFound(name.to_string()))?;
        let (client, timeout, name) = (self.client.clone(), self.timeout, name.to_string());
        blocking(move || {
            let md = client.fetch_metadata(Some(&name), timeout)?;
            let partitions = topic_partitions(&md, &name)?;
            Ok(TopicInfo {
                internal: is_internal(&name),
                name,
                partitions,
            })
        })
        .await
    }

    /// Creates a topic (or, with `validate_only`, only asks the broker whether it could).
    pub async fn create_topic(
        &self,
        spec: &NewTopicSpec,
        validate_only: bool,
    ) -> Result<(), Error> {
        let assignment: Vec<Vec<i32>> = spec.assignments.values().cloned().collect();
        let rows: Vec<&[i32]> = assignment.iter().map(Vec::as_slice).collect();
        let (partitions, replication) = if rows.is_empty() {
            (
                spec.partitions.unwrap_or(-1),
                TopicReplication::Fixed(spec.replication_factor.unwrap_or(-1)),
            )
        } else {
            (rows.len() as i32, TopicReplication::Variable(&rows))
        };
        // See the end: Tansu creates the topic even when asked only to validate.
        let existed = validate_only && self.topic(&spec.name).await.is_ok();
        let mut topic = NewTopic::new(&spec.name, partitions, replication);
        for (name, value) in &spec.configs {
            if let Some(value) = value {
                topic = topic.set(name, value);
            }
        }
        let results = self
            .admin
            .create_topics([&topic], &self.options(validate_only))
            .await
            .map_err(|e| refused(e, "create topic", &spec.name))?;
        first_failure(results, "create topic", &spec.name)?;
        if validate_only && !existed {
            self.undo_validation_create(&spec.name).await?;
        }
        Ok(())
    }

    /// A broker that ignores `validate_only` (Tansu 0.6, README quirk 10) has just created the
    /// topic a validation asked about: it is deleted again, but only while it is still empty,
    /// so nothing anyone wrote is lost. On Apache Kafka the topic does not exist and this is
    /// one metadata request.
    async fn undo_validation_create(&self, name: &str) -> Result<(), Error> {
        let Ok(topic) = self.topic(name).await else {
            return Ok(());
        };
        let (client, timeout, topic_name) = (self.client.clone(), self.timeout, name.to_string());
        let ids: Vec<i32> = topic.partitions.iter().map(|p| p.id).collect();
        let empty = blocking(move || {
            for id in ids {
                let (_, high) = client.fetch_watermarks(&topic_name, id, timeout)?;
                if high > 0 {
                    return Ok(false);
                }
            }
            Ok(true)
        })
        .await?;
        if empty {
            tracing::warn!(topic = %name, "the broker created a topic for a validate_only request; deleting it");
            self.delete_topic(name).await?;
        }
        Ok(())
    }

    /// Deletes a topic.
    pub async fn delete_topic(&self, name: &str) -> Result<(), Error> {
        let results = self
            .admin
            .delete_topics(&[name], &self.options(false))
            .await
            .map_err(|e| refused(e, "delete topic", name))?;
        first_failure(results, "delete topic", name)
    }

    /// Raises a topic's partition count to `total`.
    pub async fn create_partitions(&self, name: &str, total: usize) -> Result<(), Error> {
        let spec = NewPartitions::new(name, total);
        let results = self
            .admin
            .create_partitions([&spec], &self.options(false))
            .await
            .map_err(|e| refused(e, "create partitions", name))?;
        first_failure(results, "create partitions", name)
    }

    /// The topic once its metadata shows `partitions` partitions (a broker may answer a create
    /// before its metadata has the topic), within the admin timeout.
    pub async fn await_topic(
        &self,
        name: &str,
        partitions: Option<usize>,
    ) -> Result<TopicInfo, Error> {
        let deadline = Instant::now() + self.timeout;
        loop {
            match self.topic(name).await {
                Ok(t) if partitions.is_none_or(|n| t.partitions.len() >= n) => return Ok(t),
                Ok(t) if Instant::now() >= deadline => return Ok(t),
                Err(e) if Instant::now() >= deadline => return Err(e),
                _ => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    }
}

/// A whole admin request the client or broker refused (librdkafka's `AdminOp`, e.g. an API the
/// broker lacks), as [`Error::Admin`]; other failures stay librdkafka's.
fn refused(e: rdkafka::error::KafkaError, what: &'static str, name: &str) -> Error {
    match e {
        rdkafka::error::KafkaError::AdminOp(code) => Error::Admin {
            code,
            message: admin_message(code, name, what),
        },
        e => Error::Kafka(e),
    }
}

/// The first refused resource of an admin answer, as [`Error::Admin`].
fn first_failure(
    results: Vec<Result<String, (String, RDKafkaErrorCode)>>,
    what: &'static str,
    name: &str,
) -> Result<(), Error> {
    match results.into_iter().find_map(Result::err) {
        None => Ok(()),
        Some((_, code)) => Err(Error::Admin {
            code,
            message: admin_message(code, name, what),
        }),
    }
}

/// Kafka's text for the refusals users meet most (its Java exceptions' messages); librdkafka's
/// description otherwise.
fn admin_message(code: RDKafkaErrorCode, name: &str, what: &str) -> String {
    use RDKafkaErrorCode as C;
    match code {
        C::TopicAlreadyExists => format!("Topic '{name}' already exists."),
        C::UnknownTopicOrPartition => "This server does not host this topic-partition.".into(),
        C::UnsupportedFeature | C::UnsupportedVersion => {
            format!("The broker does not support the request to {what} ({code})")
        }
        _ => format!("{code} ({what} {name})"),
    }
}

/// The controller's broker id (librdkafka's cached metadata; None when unknown).
#[allow(unsafe_code)]
fn controller_id(client: &BaseConsumer<QuietContext>, timeout: Duration) -> Option<i32> {
    let ms = i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX);
    // SAFETY: the client pointer is valid while `client` is borrowed; the call only reads
    // librdkafka's metadata cache (waiting at most `ms` for it).
    let id = unsafe { rdkafka::bindings::rd_kafka_controllerid(client.client().native_ptr(), ms) };
    (id >= 0).then_some(id)
}
