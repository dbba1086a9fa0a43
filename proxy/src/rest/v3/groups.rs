//! v3 consumer groups (read-only): groups, their consumers and assignments, per-partition lags
//! and the lag summary, for any group of the cluster (v2 consumer instances' groups included).

use std::sync::Arc;

use axum::extract::State;
use axum::http::HeaderMap;
use serde_json::{json, Value};

use super::envelope::{cluster, list, ok, related, resource, Json, Links};
use super::error::{V3Error, V3Result};
use crate::http::error::ApiError;
use crate::kafka::admin::ClusterInfo;
use crate::kafka::groups::{Group, Lag, Member};
use crate::rest::{ApiPath, App};

/// The cluster, with the consumer-group endpoints' wording for a wrong id.
async fn group_cluster(app: &Arc<App>, cluster_id: &str) -> Result<ClusterInfo, V3Error> {
    cluster(app, cluster_id).await.map_err(|e| {
        if e.status == axum::http::StatusCode::NOT_FOUND {
            V3Error(ApiError::not_found_message(format!(
                "Cluster {cluster_id} could not be found."
            )))
        } else {
            V3Error(e)
        }
    })
}

/// The group, or 404 with `message` (None: Jersey's plain text).
async fn group_or(app: &App, id: &str, message: Option<String>) -> Result<Group, V3Error> {
    app.kafka.groups.get(id).await?.ok_or_else(|| {
        V3Error(match message {
            Some(m) => ApiError::not_found_message(m),
            None => ApiError::not_found(),
        })
    })
}

fn group_json(links: &Links, c: &ClusterInfo, g: &Group) -> Json {
    let base = ["consumer-groups", g.id.as_str()];
    // librdkafka does not say which broker coordinates a group; a cluster of one broker has
    // only that one.
    let coordinator = match c.brokers.as_slice() {
        [only] => related(links.url(&["brokers", &only.id.to_string()])),
        _ => Value::Null,
    };
    resource(
        "KafkaConsumerGroup",
        links.url(&base),
        links.crn(&[("consumer-group", &g.id)]),
        vec![
            ("cluster_id", json!(links.cluster_id)),
            ("consumer_group_id", json!(g.id)),
            ("is_simple", json!(g.is_simple())),
            ("partition_assignor", json!(g.assignor)),
            ("state", json!(g.state)),
            // Groups are described with the classic protocol (DescribeGroups).
            ("type", json!("CLASSIC")),
            ("is_mixed_consumer_group", json!(false)),
            ("coordinator", coordinator),
            (
                "consumers",
                related(links.url(&[&base[..], &["consumers"]].concat())),
            ),
            (
                "lag_summary",
                related(links.url(&[&base[..], &["lag-summary"]].concat())),
            ),
        ],
    )
}

fn consumer_json(links: &Links, g: &Group, m: &Member) -> Json {
    let base = [
        "consumer-groups",
        g.id.as_str(),
        "consumers",
        m.consumer_id.as_str(),
    ];
    resource(
        "KafkaConsumer",
        links.url(&base),
        links.crn(&[("consumer-group", &g.id), ("consumer", &m.consumer_id)]),
        vec![
            ("cluster_id", json!(links.cluster_id)),
            ("consumer_group_id", json!(g.id)),
            ("consumer_id", json!(m.consumer_id)),
            // Static membership ids are not in librdkafka's group list.
            ("instance_id", Value::Null),
            ("client_id", json!(m.client_id)),
            (
                "assignments",
                related(links.url(&[&base[..], &["assignments"]].concat())),
            ),
        ],
    )
}

fn assignment_json(links: &Links, g: &Group, m: &Member, topic: &str, partition: i32) -> Json {
    let p = partition.to_string();
    resource(
        "KafkaConsumerAssignment",
        links.url(&[
            "consumer-groups",
            &g.id,
            "consumers",
            &m.consumer_id,
            "assignments",
            topic,
            "partitions",
            &p,
        ]),
        links.crn(&[
            ("consumer-group", &g.id),
            ("consumer", &m.consumer_id),
            ("assignment", topic),
            ("partition", &p),
        ]),
        vec![
            ("cluster_id", json!(links.cluster_id)),
            ("consumer_group_id", json!(g.id)),
            ("consumer_id", json!(m.consumer_id)),
            ("topic_name", json!(topic)),
            ("partition_id", json!(partition)),
            (
                "partition",
                related(links.url(&["topics", topic, "partitions", &p])),
            ),
            (
                "lag",
                related(links.url(&["consumer-groups", &g.id, "lags", topic, "partitions", &p])),
            ),
        ],
    )
}

fn lag_json(links: &Links, g: &Group, l: &Lag) -> Json {
    let p = l.partition.to_string();
    let (consumer, client) = l.member.clone().unwrap_or_default();
    resource(
        "KafkaConsumerLag",
        links.url(&["consumer-groups", &g.id, "lags", &l.topic, "partitions", &p]),
        links.crn(&[
            ("consumer-group", &g.id),
            ("lag", &l.topic),
            ("partition", &p),
        ]),
        vec![
            ("cluster_id", json!(links.cluster_id)),
            ("consumer_group_id", json!(g.id)),
            ("topic_name", json!(l.topic)),
            ("partition_id", json!(l.partition)),
            ("consumer_id", json!(consumer)),
            ("instance_id", Value::Null),
            ("client_id", json!(client)),
            ("current_offset", json!(l.current_offset)),
            ("log_end_offset", json!(l.log_end_offset)),
            ("lag", json!(l.lag())),
        ],
    )
}

/// The group's lags, largest first (then by topic and partition), or Confluent's 404s.
async fn lags_of(app: &App, id: &str) -> Result<(Group, Vec<Lag>), V3Error> {
    let g = group_or(
        app,
        id,
        Some(format!("Consumer Group {id} could not be found.")),
    )
    .await?;
    let mut lags = app.kafka.groups.lags(&g).await?;
    if lags.is_empty() {
        return Err(V3Error(ApiError::not_found_message(
            "Consumer group offsets could not be found.",
        )));
    }
    lags.sort_by(|a, b| {
        b.lag()
            .cmp(&a.lag())
            .then_with(|| a.topic.cmp(&b.topic))
            .then(a.partition.cmp(&b.partition))
    });
    Ok((g, lags))
}

/// GET /v3/clusters/{cluster_id}/consumer-groups
pub async fn list_groups(
    State(app): State<Arc<App>>,
    ApiPath(cluster_id): ApiPath<String>,
    headers: HeaderMap,
) -> V3Result {
    let c = group_cluster(&app, &cluster_id).await?;
    let links = Links::new(&app, &headers, &c.id)?;
    let groups = app.kafka.groups.list().await?;
    let data = groups
        .iter()
        .filter(|g| !(g.is_simple() && g.state == "DEAD"))
        .map(|g| group_json(&links, &c, g))
        .collect();
    Ok(ok(&list(
        "KafkaConsumerGroupList",
        links.url(&["consumer-groups"]),
        data,
    )))
}

/// GET /v3/clusters/{cluster_id}/consumer-groups/{group}
pub async fn get_group(
    State(app): State<Arc<App>>,
    ApiPath((cluster_id, group)): ApiPath<(String, String)>,
    headers: HeaderMap,
) -> V3Result {
    let c = group_cluster(&app, &cluster_id).await?;
    let links = Links::new(&app, &headers, &c.id)?;
    let g = group_or(&app, &group, None).await?;
    Ok(ok(&group_json(&links, &c, &g)))
}

/// GET .../consumer-groups/{group}/consumers
pub async fn list_consumers(
    State(app): State<Arc<App>>,
    ApiPath((cluster_id, group)): ApiPath<(String, String)>,
    headers: HeaderMap,
) -> V3Result {
    let c = group_cluster(&app, &cluster_id).await?;
    let links = Links::new(&app, &headers, &c.id)?;
    let g = group_or(
        &app,
        &group,
        Some(format!("Consumer Group {group} does not exist.")),
    )
    .await?;
    let mut members: Vec<&Member> = g.members.iter().collect();
    members.sort_by(|a, b| a.consumer_id.cmp(&b.consumer_id));
    let data = members
        .iter()
        .map(|m| consumer_json(&links, &g, m))
        .collect();
    Ok(ok(&list(
        "KafkaConsumerList",
        links.url(&["consumer-groups", &group, "consumers"]),
        data,
    )))
}

/// The member `consumer` of `group` (`missing`: the 404's text, None for Jersey's).
async fn member_of(
    app: &App,
    group: &str,
    consumer: &str,
    missing: Option<String>,
) -> Result<(Group, Member), V3Error> {
    let g = group_or(
        app,
        group,
        Some(format!("Consumer Group {group} does not exist.")),
    )
    .await?;
    let m = g
        .members
        .iter()
        .find(|m| m.consumer_id == consumer)
        .cloned()
        .ok_or_else(|| {
            V3Error(match missing {
                Some(text) => ApiError::not_found_message(text),
                None => ApiError::not_found(),
            })
        })?;
    Ok((g, m))
}

/// The member whose assignments are asked for (Confluent's "Consumer c does not exist.").
async fn assigned_member(
    app: &App,
    group: &str,
    consumer: &str,
) -> Result<(Group, Member), V3Error> {
    let missing = format!("Consumer {consumer} does not exist.");
    member_of(app, group, consumer, Some(missing)).await
}

/// GET .../consumer-groups/{group}/consumers/{consumer}
pub async fn get_consumer(
    State(app): State<Arc<App>>,
    ApiPath((cluster_id, group, consumer)): ApiPath<(String, String, String)>,
    headers: HeaderMap,
) -> V3Result {
    let c = group_cluster(&app, &cluster_id).await?;
    let links = Links::new(&app, &headers, &c.id)?;
    let (g, m) = member_of(&app, &group, &consumer, None).await?;
    Ok(ok(&consumer_json(&links, &g, &m)))
}

/// GET .../consumers/{consumer}/assignments
pub async fn list_assignments(
    State(app): State<Arc<App>>,
    ApiPath((cluster_id, group, consumer)): ApiPath<(String, String, String)>,
    headers: HeaderMap,
) -> V3Result {
    let c = group_cluster(&app, &cluster_id).await?;
    let links = Links::new(&app, &headers, &c.id)?;
    let (g, m) = assigned_member(&app, &group, &consumer).await?;
    let data = m
        .assignment
        .iter()
        .map(|(t, p)| assignment_json(&links, &g, &m, t, *p))
        .collect();
    Ok(ok(&list(
        "KafkaConsumerAssignmentList",
        links.url(&[
            "consumer-groups",
            &group,
            "consumers",
            &consumer,
            "assignments",
        ]),
        data,
    )))
}

/// GET .../consumers/{consumer}/assignments/{topic}/partitions/{partition}
pub async fn get_assignment(
    State(app): State<Arc<App>>,
    ApiPath((cluster_id, group, consumer, topic, partition)): ApiPath<(
        String,
        String,
        String,
        String,
        String,
    )>,
    headers: HeaderMap,
) -> V3Result {
    let c = group_cluster(&app, &cluster_id).await?;
    let links = Links::new(&app, &headers, &c.id)?;
    let (g, m) = assigned_member(&app, &group, &consumer).await?;
    let p = partition
        .parse::<i32>()
        .ok()
        .filter(|p| m.assignment.iter().any(|(t, q)| *t == topic && q == p))
        .ok_or_else(ApiError::not_found)?;
    Ok(ok(&assignment_json(&links, &g, &m, &topic, p)))
}

/// GET .../consumer-groups/{group}/lags
pub async fn list_lags(
    State(app): State<Arc<App>>,
    ApiPath((cluster_id, group)): ApiPath<(String, String)>,
    headers: HeaderMap,
) -> V3Result {
    let c = group_cluster(&app, &cluster_id).await?;
    let links = Links::new(&app, &headers, &c.id)?;
    let (g, lags) = lags_of(&app, &group).await?;
    let data = lags.iter().map(|l| lag_json(&links, &g, l)).collect();
    Ok(ok(&list(
        "KafkaConsumerLagList",
        links.url(&["consumer-groups", &group, "lags"]),
        data,
    )))
}

/// GET .../consumer-groups/{group}/lags/{topic}/partitions/{partition}
pub async fn get_lag(
    State(app): State<Arc<App>>,
    ApiPath((cluster_id, group, topic, partition)): ApiPath<(String, String, String, String)>,
    headers: HeaderMap,
) -> V3Result {
    let c = group_cluster(&app, &cluster_id).await?;
    let links = Links::new(&app, &headers, &c.id)?;
    let (g, lags) = lags_of(&app, &group).await?;
    let lag = partition
        .parse::<i32>()
        .ok()
        .and_then(|p| lags.iter().find(|l| l.topic == topic && l.partition == p))
        .ok_or_else(ApiError::not_found)?;
    Ok(ok(&lag_json(&links, &g, lag)))
}

/// GET .../consumer-groups/{group}/lag-summary
pub async fn lag_summary(
    State(app): State<Arc<App>>,
    ApiPath((cluster_id, group)): ApiPath<(String, String)>,
    headers: HeaderMap,
) -> V3Result {
    let c = group_cluster(&app, &cluster_id).await?;
    let links = Links::new(&app, &headers, &c.id)?;
    let (g, lags) = lags_of(&app, &group).await?;
    // Sorted largest first: the first is the (first) largest.
    let max = &lags[0];
    let total: i64 = lags.iter().map(Lag::lag).sum();
    let (consumer, client) = max.member.clone().unwrap_or_default();
    let p = max.partition.to_string();
    let mut consumer_link = vec!["consumer-groups", group.as_str(), "consumers"];
    if !consumer.is_empty() {
        consumer_link.push(&consumer);
    }
    Ok(ok(&resource(
        "KafkaConsumerGroupLagSummary",
        links.url(&["consumer-groups", &group, "lag-summary"]),
        format!("{}/lag-summary", links.crn(&[("consumer-group", &g.id)])),
        vec![
            ("cluster_id", json!(links.cluster_id)),
            ("consumer_group_id", json!(g.id)),
            ("max_lag", json!(max.lag())),
            ("total_lag", json!(total)),
            ("max_lag_consumer_id", json!(consumer)),
            ("max_lag_consumer", related(links.url(&consumer_link))),
            ("max_lag_client_id", json!(client)),
            ("max_lag_instance_id", Value::Null),
            ("max_lag_topic_name", json!(max.topic)),
            ("max_lag_partition_id", json!(max.partition)),
            (
                "max_lag_partition",
                related(links.url(&["topics", &max.topic, "partitions", &p])),
            ),
        ],
    )))
}
