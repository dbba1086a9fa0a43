//! v3 partitions and replicas: a topic's partitions, one partition, its earliest and latest
//! offsets, its replicas, and the replicas a broker holds.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use serde::Deserialize;
use serde_json::{json, Value};

use super::envelope::{cluster, list, ok, related, resource, Json, Links};
use super::error::{V3Error, V3Result};
use crate::http::error::ApiError;
use crate::kafka::metadata::PartitionInfo;
use crate::kafka::Error;
use crate::rest::{ApiPath, App};

fn partition_json(links: &Links, topic: &str, p: &PartitionInfo) -> Json {
    let id = p.id.to_string();
    let base = ["topics", topic, "partitions", &id];
    let at = |rest: &[&str]| links.url(&[&base[..], rest].concat());
    resource(
        "KafkaPartition",
        at(&[]),
        links.crn(&[("topic", topic), ("partition", &id)]),
        vec![
            ("cluster_id", json!(links.cluster_id)),
            ("topic_name", json!(topic)),
            ("partition_id", json!(p.id)),
            (
                "leader",
                if p.leader < 0 {
                    Value::Null
                } else {
                    related(at(&["replicas", &p.leader.to_string()]))
                },
            ),
            ("replicas", related(at(&["replicas"]))),
            ("reassignment", related(at(&["reassignment"]))),
        ],
    )
}

fn replica_json(links: &Links, topic: &str, p: &PartitionInfo, broker: i32) -> Json {
    let (id, b) = (p.id.to_string(), broker.to_string());
    resource(
        "KafkaReplica",
        links.url(&["topics", topic, "partitions", &id, "replicas", &b]),
        links.crn(&[("topic", topic), ("partition", &id), ("replica", &b)]),
        vec![
            ("cluster_id", json!(links.cluster_id)),
            ("topic_name", json!(topic)),
            ("partition_id", json!(p.id)),
            ("broker_id", json!(broker)),
            ("is_leader", json!(p.leader == broker)),
            ("is_in_sync", json!(p.isr.contains(&broker))),
            ("broker", related(links.url(&["brokers", &b]))),
        ],
    )
}

/// The partitions of `topic` (404/40403 when it does not exist).
async fn partitions_of(app: &App, topic: &str) -> Result<Vec<PartitionInfo>, V3Error> {
    Ok(app.kafka.admin.topic(topic).await?.partitions)
}

/// Partition `segment` of `topic`: a missing topic is Kafka's 40403 naming both, a partition
/// the topic does not have (or a segment that is no number) Jersey's plain 404.
async fn partition_of(app: &App, topic: &str, segment: &str) -> Result<PartitionInfo, V3Error> {
    let partitions = app.kafka.admin.topic(topic).await.map_err(|e| match e {
        Error::TopicNotFound(_) => V3Error(ApiError::unknown_topic_partition_named(topic, segment)),
        e => V3Error::from(e),
    })?;
    segment
        .parse::<i32>()
        .ok()
        .and_then(|id| partitions.partitions.into_iter().find(|p| p.id == id))
        .ok_or_else(|| V3Error(ApiError::not_found()))
}

/// GET /v3/clusters/{cluster_id}/topics/{topic}/partitions
pub async fn list_partitions(
    State(app): State<Arc<App>>,
    ApiPath((cluster_id, topic)): ApiPath<(String, String)>,
    headers: HeaderMap,
) -> V3Result {
    let c = cluster(&app, &cluster_id).await?;
    let links = Links::new(&app, &headers, &c.id)?;
    let data = partitions_of(&app, &topic)
        .await?
        .iter()
        .map(|p| partition_json(&links, &topic, p))
        .collect();
    Ok(ok(&list(
        "KafkaPartitionList",
        links.url(&["topics", &topic, "partitions"]),
        data,
    )))
}

/// GET /v3/clusters/{cluster_id}/topics/{topic}/partitions/{partition}
pub async fn get_partition(
    State(app): State<Arc<App>>,
    ApiPath((cluster_id, topic, partition)): ApiPath<(String, String, String)>,
    headers: HeaderMap,
) -> V3Result {
    let c = cluster(&app, &cluster_id).await?;
    let links = Links::new(&app, &headers, &c.id)?;
    let p = partition_of(&app, &topic, &partition).await?;
    Ok(ok(&partition_json(&links, &topic, &p)))
}

#[derive(Deserialize)]
pub struct OffsetQuery {
    offset_type: Option<String>,
}

/// GET .../partitions/{partition}/offset?offset_type=earliest_and_latest
pub async fn get_offsets(
    State(app): State<Arc<App>>,
    ApiPath((cluster_id, topic, partition)): ApiPath<(String, String, String)>,
    Query(q): Query<OffsetQuery>,
    headers: HeaderMap,
) -> V3Result {
    let kind = q.offset_type.as_deref().unwrap_or("earliest_and_latest");
    if kind != "earliest_and_latest" {
        return Err(ApiError::bad_request_plain(format!("offset_type:{kind} is invalid")).into());
    }
    let c = cluster(&app, &cluster_id).await?;
    let links = Links::new(&app, &headers, &c.id)?;
    let p = partition_of(&app, &topic, &partition).await?;
    let (earliest, latest) = app.kafka.metadata.watermarks(&topic, p.id).await?;
    let id = p.id.to_string();
    Ok(ok(&resource(
        "KafkaPartitionWithOffsets",
        links.url(&["topics", &topic, "partitions", &id, "offset"]),
        links.crn(&[
            ("topic", &topic),
            ("partition", &id),
            ("offset_type", "earliest_and_latest"),
        ]),
        vec![
            ("cluster_id", json!(links.cluster_id)),
            ("topic_name", json!(topic)),
            ("partition_id", json!(p.id)),
            ("earliest_offset", json!(earliest)),
            ("latest_offset", json!(latest)),
        ],
    )))
}

/// GET .../partitions/{partition}/replicas
pub async fn list_replicas(
    State(app): State<Arc<App>>,
    ApiPath((cluster_id, topic, partition)): ApiPath<(String, String, String)>,
    headers: HeaderMap,
) -> V3Result {
    let c = cluster(&app, &cluster_id).await?;
    let links = Links::new(&app, &headers, &c.id)?;
    let p = partition_of(&app, &topic, &partition).await?;
    let data = p
        .replicas
        .iter()
        .map(|&b| replica_json(&links, &topic, &p, b))
        .collect();
    let id = p.id.to_string();
    Ok(ok(&list(
        "KafkaReplicaList",
        links.url(&["topics", &topic, "partitions", &id, "replicas"]),
        data,
    )))
}

/// GET .../partitions/{partition}/replicas/{broker_id}
pub async fn get_replica(
    State(app): State<Arc<App>>,
    ApiPath((cluster_id, topic, partition, broker)): ApiPath<(String, String, String, String)>,
    headers: HeaderMap,
) -> V3Result {
    let c = cluster(&app, &cluster_id).await?;
    let links = Links::new(&app, &headers, &c.id)?;
    let p = partition_of(&app, &topic, &partition).await?;
    let broker = broker
        .parse::<i32>()
        .ok()
        .filter(|b| p.replicas.contains(b))
        .ok_or_else(ApiError::not_found)?;
    Ok(ok(&replica_json(&links, &topic, &p, broker)))
}

/// GET /v3/clusters/{cluster_id}/brokers/{broker_id}/partition-replicas
pub async fn broker_replicas(
    State(app): State<Arc<App>>,
    ApiPath((cluster_id, broker)): ApiPath<(String, String)>,
    headers: HeaderMap,
) -> V3Result {
    let c = cluster(&app, &cluster_id).await?;
    let links = Links::new(&app, &headers, &c.id)?;
    let broker = broker
        .parse::<i32>()
        .ok()
        .filter(|id| c.brokers.iter().any(|b| b.id == *id))
        .ok_or_else(ApiError::not_found)?;
    let mut data = Vec::new();
    for t in app.kafka.admin.topics().await? {
        for p in t.partitions.iter().filter(|p| p.replicas.contains(&broker)) {
            data.push(replica_json(&links, &t.name, p, broker));
        }
    }
    Ok(ok(&list(
        "KafkaReplicaList",
        links.url(&["brokers", &broker.to_string(), "partition-replicas"]),
        data,
    )))
}
