//! v3 topics: list, get, create (201 + Location; 200 with `validate_only`), PATCH (raise the
//! partition count) and DELETE (204).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::IntoResponse;
use serde::Deserialize;
use serde_json::json;

use super::envelope::{answer, cluster, json_body, list, ok, related, resource, Json, Links};
use super::error::{V3Error, V3Result};
use crate::http::error::ApiError;
use crate::kafka::admin::{NewTopicSpec, TopicInfo};
use crate::names::check_topic;
use crate::rest::{ApiPath, App};

/// A topic's resource. `partitions_count` and `replication_factor` as given (the created topic's
/// or the cluster's).
fn topic_json(links: &Links, name: &str, internal: bool, partitions: usize, rf: usize) -> Json {
    resource(
        "KafkaTopic",
        links.url(&["topics", name]),
        links.crn(&[("topic", name)]),
        vec![
            ("cluster_id", json!(links.cluster_id)),
            ("topic_name", json!(name)),
            ("is_internal", json!(internal)),
            ("replication_factor", json!(rf)),
            ("partitions_count", json!(partitions)),
            (
                "partitions",
                related(links.url(&["topics", name, "partitions"])),
            ),
            ("configs", related(links.url(&["topics", name, "configs"]))),
            (
                "partition_reassignments",
                related(links.url(&["topics", name, "partitions", "-", "reassignment"])),
            ),
            // Authorized operations are not asked of the cluster: always empty, as Confluent
            // answers without include_authorized_operations.
            ("authorized_operations", json!([])),
        ],
    )
}

fn info_json(links: &Links, t: &TopicInfo) -> Json {
    topic_json(
        links,
        &t.name,
        t.internal,
        t.partitions.len(),
        t.replication_factor(),
    )
}

/// The query of the topic reads (accepted; authorized operations are never listed).
#[derive(Deserialize)]
pub struct TopicQuery {
    #[serde(default, rename = "includeAuthorizedOperations")]
    _list: Option<String>,
    #[serde(default, rename = "include_authorized_operations")]
    _get: Option<String>,
}

/// GET /v3/clusters/{cluster_id}/topics
pub async fn list_topics(
    State(app): State<Arc<App>>,
    ApiPath(cluster_id): ApiPath<String>,
    Query(_q): Query<TopicQuery>,
    headers: HeaderMap,
) -> V3Result {
    let c = cluster(&app, &cluster_id).await?;
    let links = Links::new(&app, &headers, &c.id)?;
    let topics = app.kafka.admin.topics().await?;
    let data = topics.iter().map(|t| info_json(&links, t)).collect();
    Ok(ok(&list("KafkaTopicList", links.url(&["topics"]), data)))
}

/// GET /v3/clusters/{cluster_id}/topics/{topic}
pub async fn get_topic(
    State(app): State<Arc<App>>,
    ApiPath((cluster_id, topic)): ApiPath<(String, String)>,
    Query(_q): Query<TopicQuery>,
    headers: HeaderMap,
) -> V3Result {
    let c = cluster(&app, &cluster_id).await?;
    let links = Links::new(&app, &headers, &c.id)?;
    let t = app.kafka.admin.topic(&topic).await?;
    Ok(ok(&info_json(&links, &t)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigEntry {
    name: String,
    #[serde(default)]
    value: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateTopic {
    #[serde(default)]
    topic_name: Option<String>,
    #[serde(default, deserialize_with = "crate::json_int::opt_int")]
    partitions_count: Option<i32>,
    #[serde(default, deserialize_with = "crate::json_int::opt_int")]
    replication_factor: Option<i16>,
    #[serde(default)]
    replicas_assignments: BTreeMap<String, Vec<i32>>,
    #[serde(default)]
    configs: Vec<ConfigEntry>,
    #[serde(default)]
    validate_only: bool,
}

/// Partition ids `0..n` in order, or 400.
fn assignments(raw: BTreeMap<String, Vec<i32>>) -> Result<BTreeMap<i32, Vec<i32>>, ApiError> {
    let mut out = BTreeMap::new();
    for (key, brokers) in raw {
        let id: i32 = key.parse().map_err(|_| {
            ApiError::bad_request(format!(
                "replicas_assignments: {key:?} is not a partition id"
            ))
        })?;
        if brokers.is_empty() {
            return Err(ApiError::bad_request(format!(
                "replicas_assignments: partition {id} has no replicas"
            )));
        }
        out.insert(id, brokers);
    }
    if out.keys().enumerate().any(|(i, id)| *id != i as i32) {
        return Err(ApiError::bad_request(
            "replicas_assignments: partition ids must be 0, 1, ... without gaps",
        ));
    }
    Ok(out)
}

/// POST /v3/clusters/{cluster_id}/topics
pub async fn create_topic(
    State(app): State<Arc<App>>,
    ApiPath(cluster_id): ApiPath<String>,
    headers: HeaderMap,
    body: Body,
) -> V3Result {
    let request: CreateTopic = json_body(&app, &headers, body)
        .await?
        .ok_or_else(|| ApiError::payload_empty("Data is required."))?;
    let name = request.topic_name.unwrap_or_default();
    if check_topic(&name).is_err() {
        return Err(ApiError::payload_error("Invalid topic name.").into());
    }
    let c = cluster(&app, &cluster_id).await?;
    let links = Links::new(&app, &headers, &c.id)?;
    let spec = NewTopicSpec {
        name: name.clone(),
        partitions: request.partitions_count,
        replication_factor: request.replication_factor.map(i32::from),
        assignments: assignments(request.replicas_assignments)?,
        configs: request
            .configs
            .into_iter()
            .map(|e| (e.name, e.value))
            .collect(),
    };
    let admin = &app.kafka.admin;
    admin.create_topic(&spec, request.validate_only).await?;
    // The created topic's real sizes (the broker's defaults included), as Confluent reports
    // them; with validate_only nothing exists, so the request's (0 when not given).
    let (partitions, rf) = if request.validate_only {
        match spec.assignments.values().next() {
            Some(first) => (spec.assignments.len(), first.len()),
            None => (
                spec.partitions.unwrap_or(0).max(0) as usize,
                spec.replication_factor.unwrap_or(0).max(0) as usize,
            ),
        }
    } else {
        let expected = match spec.assignments.len() {
            0 => spec.partitions.map(|n| n.max(0) as usize),
            n => Some(n),
        };
        let t = admin.await_topic(&name, expected).await?;
        (t.partitions.len(), t.replication_factor())
    };
    let body = topic_json(&links, &name, false, partitions, rf);
    let status = if request.validate_only {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    let mut response = answer(status, &body);
    if let Ok(location) = HeaderValue::from_str(&links.url(&["topics", &name])) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdatePartitions {
    #[serde(default, deserialize_with = "crate::json_int::opt_int")]
    partitions_count: Option<i32>,
}

/// PATCH /v3/clusters/{cluster_id}/topics/{topic}: `{"partitions_count": N}`.
pub async fn update_topic(
    State(app): State<Arc<App>>,
    ApiPath((cluster_id, topic)): ApiPath<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> V3Result {
    let request: UpdatePartitions = json_body(&app, &headers, body)
        .await?
        .ok_or_else(|| ApiError::payload_empty("Partitions_count is required."))?;
    let count = request
        .partitions_count
        .ok_or_else(|| ApiError::payload_error("Partitions_count is required."))?;
    // Unlike Confluent (which checks the cluster only after the change), a wrong cluster id
    // changes nothing.
    let c = cluster(&app, &cluster_id).await?;
    let links = Links::new(&app, &headers, &c.id)?;
    let admin = &app.kafka.admin;
    let before = admin.topic(&topic).await?;
    // Kafka's own refusals (InvalidPartitionsException), checked here so that brokers without
    // CreatePartitions answer them too.
    let have = before.partitions.len();
    let refusal = match (count as usize).cmp(&have) {
        _ if count < 1 => Some("Number of partitions must be larger than 0.".to_string()),
        std::cmp::Ordering::Equal => Some(format!("Topic already has {have} partitions.")),
        std::cmp::Ordering::Less => Some(format!(
            "Topic currently has {have} partitions, which is higher than the requested {count}."
        )),
        std::cmp::Ordering::Greater => None,
    };
    if let Some(message) = refusal {
        return Err(V3Error(ApiError::from(crate::kafka::Error::Admin {
            code: rdkafka::error::RDKafkaErrorCode::InvalidPartitions,
            message,
        })));
    }
    admin.create_partitions(&topic, count as usize).await?;
    app.kafka.metadata.invalidate(&topic);
    let t = admin.await_topic(&topic, Some(count as usize)).await?;
    Ok(ok(&info_json(&links, &t)))
}

/// DELETE /v3/clusters/{cluster_id}/topics/{topic}: 204.
pub async fn delete_topic(
    State(app): State<Arc<App>>,
    ApiPath((cluster_id, topic)): ApiPath<(String, String)>,
) -> V3Result {
    cluster(&app, &cluster_id).await?;
    // Unknown names answer as Kafka does (404/40403) without reaching the broker.
    app.kafka.admin.topic(&topic).await?;
    app.kafka.admin.delete_topic(&topic).await?;
    app.kafka.metadata.invalidate(&topic);
    Ok(StatusCode::NO_CONTENT.into_response())
}
