//! GET /v3/clusters, /v3/clusters/{cluster_id}, and the cluster's brokers.

use std::sync::Arc;

use axum::extract::State;
use axum::http::HeaderMap;
use serde_json::{json, Value};

use super::envelope::{cluster, list, ok, related, resource, Json, Links};
use super::error::V3Result;
use crate::http::error::ApiError;
use crate::kafka::admin::{BrokerInfo, ClusterInfo};
use crate::rest::{ApiPath, App};

fn cluster_json(links: &Links, c: &ClusterInfo) -> Json {
    resource(
        "KafkaCluster",
        links.url(&[]),
        links.crn(&[]),
        vec![
            ("cluster_id", json!(c.id)),
            (
                "controller",
                c.controller.map_or(Value::Null, |id| {
                    related(links.url(&["brokers", &id.to_string()]))
                }),
            ),
            ("acls", related(links.url(&["acls"]))),
            ("brokers", related(links.url(&["brokers"]))),
            ("broker_configs", related(links.url(&["broker-configs"]))),
            ("consumer_groups", related(links.url(&["consumer-groups"]))),
            ("topics", related(links.url(&["topics"]))),
            (
                "partition_reassignments",
                related(links.url(&["topics", "-", "partitions", "-", "reassignment"])),
            ),
        ],
    )
}

pub(super) fn broker_json(links: &Links, b: &BrokerInfo) -> Json {
    let id = b.id.to_string();
    resource(
        "KafkaBroker",
        links.url(&["brokers", &id]),
        links.crn(&[("broker", &id)]),
        vec![
            ("cluster_id", json!(links.cluster_id)),
            ("broker_id", json!(b.id)),
            (
                "host",
                if b.host.is_empty() {
                    Value::Null
                } else {
                    json!(b.host)
                },
            ),
            (
                "port",
                if b.port < 0 {
                    Value::Null
                } else {
                    json!(b.port)
                },
            ),
            // librdkafka's metadata does not carry racks.
            ("rack", Value::Null),
            ("configs", related(links.url(&["brokers", &id, "configs"]))),
            (
                "partition_replicas",
                related(links.url(&["brokers", &id, "partition-replicas"])),
            ),
        ],
    )
}

/// GET /v3/clusters: the one cluster the proxy serves.
pub async fn list_clusters(State(app): State<Arc<App>>, headers: HeaderMap) -> V3Result {
    let c = app.kafka.admin.cluster().await?;
    let links = Links::new(&app, &headers, &c.id)?;
    Ok(ok(&list(
        "KafkaClusterList",
        links.clusters(),
        vec![cluster_json(&links, &c)],
    )))
}

/// GET /v3/clusters/{cluster_id}
pub async fn get_cluster(
    State(app): State<Arc<App>>,
    ApiPath(cluster_id): ApiPath<String>,
    headers: HeaderMap,
) -> V3Result {
    let c = app.kafka.admin.cluster().await?;
    if c.id != cluster_id {
        // Confluent's `orElseThrow(NotFoundException::new)`: Jersey's plain 404.
        return Err(ApiError::not_found().into());
    }
    let links = Links::new(&app, &headers, &c.id)?;
    Ok(ok(&cluster_json(&links, &c)))
}

/// GET /v3/clusters/{cluster_id}/brokers
pub async fn list_brokers(
    State(app): State<Arc<App>>,
    ApiPath(cluster_id): ApiPath<String>,
    headers: HeaderMap,
) -> V3Result {
    let c = cluster(&app, &cluster_id).await?;
    let links = Links::new(&app, &headers, &c.id)?;
    let data = c.brokers.iter().map(|b| broker_json(&links, b)).collect();
    Ok(ok(&list("KafkaBrokerList", links.url(&["brokers"]), data)))
}

/// GET /v3/clusters/{cluster_id}/brokers/{broker_id}
pub async fn get_broker(
    State(app): State<Arc<App>>,
    ApiPath((cluster_id, broker_id)): ApiPath<(String, String)>,
    headers: HeaderMap,
) -> V3Result {
    let c = cluster(&app, &cluster_id).await?;
    let links = Links::new(&app, &headers, &c.id)?;
    let broker = broker_id
        .parse::<i32>()
        .ok()
        .and_then(|id| c.brokers.iter().find(|b| b.id == id))
        .ok_or_else(ApiError::not_found)?;
    Ok(ok(&broker_json(&links, broker)))
}
