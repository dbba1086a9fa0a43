//! Partition reassignments (read-only): `/topics/-/partitions/-/reassignment` (all),
//! `/topics/{t}/partitions/-/reassignment` (one topic's) and
//! `/topics/{t}/partitions/{p}/reassignment` (404 when the partition is not being moved).
//! Confluent lists all and filters, as here. Its list items' links say `reassignments`
//! (plural), a path it does not serve; these links use the served singular path.

use std::sync::Arc;

use axum::extract::State;
use axum::http::HeaderMap;
use serde_json::json;

use super::envelope::{cluster, list, ok, related, resource, Json, Links};
use super::error::V3Result;
use crate::http::error::ApiError;
use crate::kafka::reassignments::Reassignment;
use crate::rest::{ApiPath, App};

fn reassignment_json(links: &Links, r: &Reassignment) -> Json {
    let p = r.partition.to_string();
    let partition = ["topics", r.topic.as_str(), "partitions", p.as_str()];
    let at = |tail: &str| {
        let mut path = partition.to_vec();
        path.push(tail);
        links.url(&path)
    };
    resource(
        "KafkaReassignment",
        at("reassignment"),
        format!(
            "{}/reassignment",
            links.crn(&[("topic", &r.topic), ("partition", &p)])
        ),
        vec![
            ("cluster_id", json!(links.cluster_id)),
            ("topic_name", json!(r.topic)),
            ("partition_id", json!(r.partition)),
            ("adding_replicas", json!(r.adding)),
            ("removing_replicas", json!(r.removing)),
            ("replicas", related(at("replicas"))),
        ],
    )
}

/// GET /v3/clusters/{cluster_id}/topics/{topic|-}/partitions/{partition|-}/reassignment
pub async fn get_reassignments(
    State(app): State<Arc<App>>,
    ApiPath((cluster_id, topic, partition)): ApiPath<(String, String, String)>,
    headers: HeaderMap,
) -> V3Result {
    let c = cluster(&app, &cluster_id).await?;
    let links = Links::new(&app, &headers, &c.id)?;
    let all = app.kafka.admin.reassignments().await?;
    let of_topic = |r: &&Reassignment| topic == "-" || r.topic == topic;
    if partition == "-" {
        let data = all
            .iter()
            .filter(of_topic)
            .map(|r| reassignment_json(&links, r))
            .collect();
        let self_url = links.url(&["topics", &topic, "partitions", "-", "reassignment"]);
        return Ok(ok(&list("KafkaReassignmentList", self_url, data)));
    }
    let wanted: Option<i32> = partition.parse().ok();
    all.iter()
        .filter(of_topic)
        .find(|r| topic != "-" && Some(r.partition) == wanted)
        .map(|r| ok(&reassignment_json(&links, r)))
        .ok_or_else(|| ApiError::not_found().into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entity() {
        let links = Links::for_tests("http://h:8082", "C");
        let r = Reassignment {
            topic: "t".into(),
            partition: 1,
            replicas: vec![1, 2, 3],
            adding: vec![3],
            removing: vec![1],
        };
        assert_eq!(
            reassignment_json(&links, &r).text(),
            concat!(
                r#"{"kind":"KafkaReassignment","metadata":{"#,
                r#""self":"http://h:8082/v3/clusters/C/topics/t/partitions/1/reassignment","#,
                r#""resource_name":"crn:///kafka=C/topic=t/partition=1/reassignment"},"#,
                r#""cluster_id":"C","topic_name":"t","partition_id":1,"adding_replicas":[3],"#,
                r#""removing_replicas":[1],"replicas":{"related":"#,
                r#""http://h:8082/v3/clusters/C/topics/t/partitions/1/replicas"}}"#
            )
        );
    }
}
