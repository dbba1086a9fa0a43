//! Metadata endpoints: topics, partitions, partition offsets, brokers.

use std::sync::Arc;

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::{parse_partition, ApiPath, App};
use crate::http::error::{ApiError, V2_JSON};
use crate::kafka::metadata::PartitionInfo;

fn v2_json(value: serde_json::Value) -> Response {
    ([(header::CONTENT_TYPE, V2_JSON)], value.to_string()).into_response()
}

fn partition_json(p: &PartitionInfo) -> serde_json::Value {
    let replicas: Vec<_> = p
        .replicas
        .iter()
        .map(|&b| json!({ "broker": b, "leader": b == p.leader, "in_sync": p.isr.contains(&b) }))
        .collect();
    json!({ "partition": p.id, "leader": p.leader, "replicas": replicas })
}

/// GET / and POST /: liveness.
pub async fn root() -> Response {
    v2_json(json!({}))
}

/// GET /topics
pub async fn list(State(app): State<Arc<App>>) -> Result<Response, ApiError> {
    Ok(v2_json(json!(app.kafka.metadata.topics().await?)))
}

/// GET /topics/{topic}
pub async fn get(
    State(app): State<Arc<App>>,
    ApiPath(topic): ApiPath<String>,
) -> Result<Response, ApiError> {
    let md = &app.kafka.metadata;
    let partitions = md.partitions(&topic).await.map_err(unknown_topic)?;
    let configs = md.topic_configs(&topic).await?;
    let partitions: Vec<_> = partitions.iter().map(partition_json).collect();
    Ok(v2_json(
        json!({ "name": topic, "configs": configs, "partitions": partitions }),
    ))
}

/// GET /topics/{topic}/partitions
pub async fn partitions(
    State(app): State<Arc<App>>,
    ApiPath(topic): ApiPath<String>,
) -> Result<Response, ApiError> {
    let partitions = app
        .kafka
        .metadata
        .partitions(&topic)
        .await
        .map_err(unknown_topic)?;
    Ok(v2_json(json!(partitions
        .iter()
        .map(partition_json)
        .collect::<Vec<_>>())))
}

/// GET /topics/{topic}/partitions/{p}
pub async fn partition(
    State(app): State<Arc<App>>,
    ApiPath((topic, p)): ApiPath<(String, String)>,
) -> Result<Response, ApiError> {
    let p = parse_partition(&p)?;
    let partitions = app
        .kafka
        .metadata
        .partitions(&topic)
        .await
        .map_err(unknown_topic)?;
    let found = partitions
        .iter()
        .find(|x| x.id == p)
        .ok_or_else(ApiError::partition_not_found)?;
    Ok(v2_json(partition_json(found)))
}

/// GET /topics/{topic}/partitions/{p}/offsets
pub async fn offsets(
    State(app): State<Arc<App>>,
    ApiPath((topic, p)): ApiPath<(String, String)>,
) -> Result<Response, ApiError> {
    let p = parse_partition(&p)?;
    let (beginning, end) = app
        .kafka
        .metadata
        .watermarks(&topic, p)
        .await
        .map_err(unknown_topic)?;
    Ok(v2_json(
        json!({ "beginning_offset": beginning, "end_offset": end }),
    ))
}

/// GET /brokers
pub async fn brokers(State(app): State<Arc<App>>) -> Result<Response, ApiError> {
    Ok(v2_json(
        json!({ "brokers": app.kafka.metadata.brokers().await? }),
    ))
}

/// Metadata lookups of an unknown topic (or of a name no topic can have) answer as current
/// Confluent does: 404/40403.
fn unknown_topic(err: crate::kafka::Error) -> ApiError {
    match err {
        crate::kafka::Error::TopicNotFound(_) | crate::kafka::Error::InvalidTopic(..) => {
            ApiError::unknown_topic_partition()
        }
        other => other.into(),
    }
}
