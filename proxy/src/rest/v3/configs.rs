//! Broker, cluster (dynamic broker defaults) and topic configs:
//! `/brokers/{id|-}/configs[/{name}]`, `/brokers/{id}/configs:alter`, `/broker-configs[/{name}]`,
//! `/broker-configs:alter`, `/topics/{t|-}/configs[/{name}]`, `/topics/{t|-}/configs:alter`.
//! Reads describe with synonyms; PUT, DELETE and `configs:alter` change single keys
//! (IncrementalAlterConfigs SET and DELETE), as Confluent does. PUT and DELETE of a broker or
//! topic config, and their `configs:alter`, check first that each name exists (404 otherwise);
//! cluster PUT and alter are upserts. `validate_only` is honoured by every alter (Confluent
//! ignores it for broker and cluster alters).

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use serde::Deserialize;
use serde_json::{json, Value};

use super::envelope::{answer_text, cluster, json_body, list, ok, resource, Json, Links};
use super::error::{V3Error, V3Result};
use crate::http::error::ApiError;
use crate::kafka::admin::ClusterInfo;
use crate::kafka::configs::{ConfigChange, ConfigEntry, ConfigTarget};
use crate::rest::{ApiPath, App};

/// `{"value": ...}` of a PUT.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateConfig {
    #[serde(default)]
    value: Option<String>,
}

#[derive(Deserialize)]
enum Operation {
    #[serde(rename = "SET")]
    Set,
    #[serde(rename = "DELETE")]
    Delete,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AlterEntry {
    name: String,
    #[serde(default)]
    value: Option<String>,
    #[serde(default)]
    operation: Option<Operation>,
}

impl AlterEntry {
    fn change(self) -> (String, ConfigChange) {
        match self.operation {
            Some(Operation::Delete) => (self.name, ConfigChange::Delete),
            _ => (self.name, ConfigChange::Set(self.value)),
        }
    }
}

/// `configs:alter` of one resource.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AlterBatch {
    data: Vec<AlterEntry>,
    #[serde(default)]
    validate_only: bool,
}

/// `/topics/-/configs:alter`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MultiAlter {
    data: Vec<TopicAlter>,
    #[serde(default)]
    validate_only: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TopicAlter {
    topic_name: String,
    configs: Vec<AlterEntry>,
}

/// One config as an entity of its target.
fn config_json(links: &Links, target: &ConfigTarget, e: &ConfigEntry) -> Json {
    let (kind, self_url, crn, id_field) = match target {
        ConfigTarget::Broker(id) => {
            let id_text = id.to_string();
            (
                "KafkaBrokerConfig",
                links.url(&["brokers", &id_text, "configs", &e.name]),
                links.crn(&[("broker", &id_text), ("config", &e.name)]),
                ("broker_id", json!(id)),
            )
        }
        ConfigTarget::Cluster => (
            "KafkaClusterConfig",
            links.url(&["broker-configs", &e.name]),
            links.crn(&[("broker-config", &e.name)]),
            ("config_type", json!("BROKER")),
        ),
        ConfigTarget::Topic(t) => (
            "KafkaTopicConfig",
            links.url(&["topics", t, "configs", &e.name]),
            links.crn(&[("topic", t), ("config", &e.name)]),
            ("topic_name", json!(t)),
        ),
    };
    let synonyms = e
        .synonyms
        .iter()
        .map(|s| {
            Json::Object(vec![
                ("name", json!(s.name).into()),
                ("value", json!(s.value).into()),
                ("source", json!(s.source).into()),
            ])
        })
        .collect();
    let mut entity = resource(
        kind,
        self_url,
        crn,
        vec![
            ("cluster_id", json!(links.cluster_id)),
            id_field,
            ("name", json!(e.name)),
            ("value", json!(e.value)),
            ("is_default", json!(e.is_default)),
            ("is_read_only", json!(e.is_read_only)),
            ("is_sensitive", json!(e.is_sensitive)),
            ("source", json!(e.source)),
        ],
    );
    if let Json::Object(members) = &mut entity {
        members.push(("synonyms", Json::Array(synonyms)));
    }
    entity
}

/// A config name the target does not have (Confluent's text for PUT and DELETE).
/// A config name the target does not have: Confluent's text for PUT and DELETE, also given
/// for GET (where Confluent answers a bare "HTTP 404 Not Found" with the same code).
fn missing(cluster_id: &str, target: &ConfigTarget, name: &str) -> ApiError {
    let whose = match target {
        ConfigTarget::Broker(id) => format!("BROKER {id}"),
        ConfigTarget::Cluster => "BROKER ".to_string(),
        ConfigTarget::Topic(t) => format!("TOPIC {t}"),
    };
    ApiError::not_found_message(format!(
        "Config {name} cannot be found for {whose} in cluster {cluster_id}."
    ))
}

/// The broker of a path (`-` is not one here), or 404.
fn broker_of(c: &ClusterInfo, id: &str) -> Result<ConfigTarget, ApiError> {
    id.parse::<i32>()
        .ok()
        .filter(|id| c.brokers.iter().any(|b| b.id == *id))
        .map(ConfigTarget::Broker)
        .ok_or_else(ApiError::not_found)
}

/// The topic of a path, checked to exist (404/40403 otherwise).
async fn topic_of(app: &App, topic: &str) -> Result<ConfigTarget, V3Error> {
    app.kafka.admin.topic(topic).await?;
    Ok(ConfigTarget::Topic(topic.to_string()))
}

/// The configs of one target.
async fn configs_of(app: &App, target: &ConfigTarget) -> Result<Vec<ConfigEntry>, V3Error> {
    let mut all = app
        .kafka
        .admin
        .describe_configs(std::slice::from_ref(target))
        .await?;
    Ok(all.remove(0)?)
}

/// A list of the configs of `targets`, in their order.
async fn list_of(
    app: &App,
    links: &Links,
    targets: &[ConfigTarget],
    kind: &str,
    self_url: String,
) -> V3Result {
    let described = app.kafka.admin.describe_configs(targets).await?;
    let mut data = Vec::new();
    for (target, entries) in targets.iter().zip(described) {
        data.extend(entries?.iter().map(|e| config_json(links, target, e)));
    }
    Ok(ok(&list(kind, self_url, data)))
}

async fn get_one(app: &App, links: &Links, target: ConfigTarget, name: &str) -> V3Result {
    let entries = configs_of(app, &target).await?;
    let e = entries
        .iter()
        .find(|e| e.name == name)
        .ok_or_else(|| missing(&links.cluster_id, &target, name))?;
    Ok(ok(&config_json(links, &target, e)))
}

/// Applies `changes` to `target` after checking (when `checked`) that every name exists: 204.
async fn change(
    app: &App,
    c: &ClusterInfo,
    target: ConfigTarget,
    changes: Vec<(String, ConfigChange)>,
    checked: bool,
    validate_only: bool,
) -> V3Result {
    if checked {
        let entries = configs_of(app, &target).await?;
        if let Some((name, _)) = changes
            .iter()
            .find(|(name, _)| !entries.iter().any(|e| &e.name == name))
        {
            return Err(missing(&c.id, &target, name).into());
        }
    }
    let mut results = app
        .kafka
        .admin
        .alter_configs(&[(target, changes)], validate_only)
        .await?;
    results.remove(0)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn put_body(app: &App, headers: &HeaderMap, body: Body) -> Result<ConfigChange, ApiError> {
    let update: UpdateConfig = json_body(app, headers, body)
        .await?
        .ok_or_else(|| ApiError::payload_empty("Data is required."))?;
    Ok(ConfigChange::Set(update.value))
}

async fn alter_body(app: &App, headers: &HeaderMap, body: Body) -> Result<AlterBatch, ApiError> {
    json_body(app, headers, body)
        .await?
        .ok_or_else(|| ApiError::payload_null("Data is required."))
}

/// GET /v3/clusters/{cluster_id}/brokers/{broker_id|-}/configs
pub async fn list_broker_configs(
    State(app): State<Arc<App>>,
    ApiPath((cluster_id, broker_id)): ApiPath<(String, String)>,
    headers: HeaderMap,
) -> V3Result {
    let c = cluster(&app, &cluster_id).await?;
    let links = Links::new(&app, &headers, &c.id)?;
    let targets = if broker_id == "-" {
        c.brokers
            .iter()
            .map(|b| ConfigTarget::Broker(b.id))
            .collect()
    } else {
        vec![broker_of(&c, &broker_id)?]
    };
    let self_url = links.url(&["brokers", &broker_id, "configs"]);
    list_of(&app, &links, &targets, "KafkaBrokerConfigList", self_url).await
}

/// GET /v3/clusters/{cluster_id}/brokers/{broker_id}/configs/{name}
pub async fn get_broker_config(
    State(app): State<Arc<App>>,
    ApiPath((cluster_id, broker_id, name)): ApiPath<(String, String, String)>,
    headers: HeaderMap,
) -> V3Result {
    let c = cluster(&app, &cluster_id).await?;
    let links = Links::new(&app, &headers, &c.id)?;
    get_one(&app, &links, broker_of(&c, &broker_id)?, &name).await
}

/// PUT /v3/clusters/{cluster_id}/brokers/{broker_id}/configs/{name}
pub async fn put_broker_config(
    State(app): State<Arc<App>>,
    ApiPath((cluster_id, broker_id, name)): ApiPath<(String, String, String)>,
    headers: HeaderMap,
    body: Body,
) -> V3Result {
    let set = put_body(&app, &headers, body).await?;
    let c = cluster(&app, &cluster_id).await?;
    let target = broker_of(&c, &broker_id)?;
    change(&app, &c, target, vec![(name, set)], true, false).await
}

/// DELETE /v3/clusters/{cluster_id}/brokers/{broker_id}/configs/{name}
pub async fn delete_broker_config(
    State(app): State<Arc<App>>,
    ApiPath((cluster_id, broker_id, name)): ApiPath<(String, String, String)>,
) -> V3Result {
    let c = cluster(&app, &cluster_id).await?;
    let target = broker_of(&c, &broker_id)?;
    change(
        &app,
        &c,
        target,
        vec![(name, ConfigChange::Delete)],
        true,
        false,
    )
    .await
}

/// POST /v3/clusters/{cluster_id}/brokers/{broker_id}/configs:alter
pub async fn alter_broker_configs(
    State(app): State<Arc<App>>,
    ApiPath((cluster_id, broker_id)): ApiPath<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> V3Result {
    let batch = alter_body(&app, &headers, body).await?;
    let c = cluster(&app, &cluster_id).await?;
    let target = broker_of(&c, &broker_id)?;
    let changes = batch.data.into_iter().map(AlterEntry::change).collect();
    change(&app, &c, target, changes, true, batch.validate_only).await
}

/// GET /v3/clusters/{cluster_id}/broker-configs
pub async fn list_cluster_configs(
    State(app): State<Arc<App>>,
    ApiPath(cluster_id): ApiPath<String>,
    headers: HeaderMap,
) -> V3Result {
    let c = cluster(&app, &cluster_id).await?;
    let links = Links::new(&app, &headers, &c.id)?;
    let self_url = links.url(&["broker-configs"]);
    list_of(
        &app,
        &links,
        &[ConfigTarget::Cluster],
        "KafkaClusterConfigList",
        self_url,
    )
    .await
}

/// GET /v3/clusters/{cluster_id}/broker-configs/{name}
pub async fn get_cluster_config(
    State(app): State<Arc<App>>,
    ApiPath((cluster_id, name)): ApiPath<(String, String)>,
    headers: HeaderMap,
) -> V3Result {
    let c = cluster(&app, &cluster_id).await?;
    let links = Links::new(&app, &headers, &c.id)?;
    get_one(&app, &links, ConfigTarget::Cluster, &name).await
}

/// PUT /v3/clusters/{cluster_id}/broker-configs/{name} (an upsert: no existence check)
pub async fn put_cluster_config(
    State(app): State<Arc<App>>,
    ApiPath((cluster_id, name)): ApiPath<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> V3Result {
    let set = put_body(&app, &headers, body).await?;
    let c = cluster(&app, &cluster_id).await?;
    change(
        &app,
        &c,
        ConfigTarget::Cluster,
        vec![(name, set)],
        false,
        false,
    )
    .await
}

/// DELETE /v3/clusters/{cluster_id}/broker-configs/{name}
pub async fn delete_cluster_config(
    State(app): State<Arc<App>>,
    ApiPath((cluster_id, name)): ApiPath<(String, String)>,
) -> V3Result {
    let c = cluster(&app, &cluster_id).await?;
    let changes = vec![(name, ConfigChange::Delete)];
    change(&app, &c, ConfigTarget::Cluster, changes, true, false).await
}

/// POST /v3/clusters/{cluster_id}/broker-configs:alter (upserts)
pub async fn alter_cluster_configs(
    State(app): State<Arc<App>>,
    ApiPath(cluster_id): ApiPath<String>,
    headers: HeaderMap,
    body: Body,
) -> V3Result {
    let batch = alter_body(&app, &headers, body).await?;
    let c = cluster(&app, &cluster_id).await?;
    let changes = batch.data.into_iter().map(AlterEntry::change).collect();
    change(
        &app,
        &c,
        ConfigTarget::Cluster,
        changes,
        false,
        batch.validate_only,
    )
    .await
}

/// GET /v3/clusters/{cluster_id}/topics/{topic|-}/configs
pub async fn list_topic_configs(
    State(app): State<Arc<App>>,
    ApiPath((cluster_id, topic)): ApiPath<(String, String)>,
    headers: HeaderMap,
) -> V3Result {
    let c = cluster(&app, &cluster_id).await?;
    let links = Links::new(&app, &headers, &c.id)?;
    let targets = if topic == "-" {
        app.kafka
            .admin
            .topics()
            .await?
            .into_iter()
            .map(|t| ConfigTarget::Topic(t.name))
            .collect()
    } else {
        vec![topic_of(&app, &topic).await?]
    };
    let self_url = links.url(&["topics", &topic, "configs"]);
    list_of(&app, &links, &targets, "KafkaTopicConfigList", self_url).await
}

/// GET /v3/clusters/{cluster_id}/topics/{topic}/configs/{name}
pub async fn get_topic_config(
    State(app): State<Arc<App>>,
    ApiPath((cluster_id, topic, name)): ApiPath<(String, String, String)>,
    headers: HeaderMap,
) -> V3Result {
    let c = cluster(&app, &cluster_id).await?;
    let links = Links::new(&app, &headers, &c.id)?;
    get_one(&app, &links, topic_of(&app, &topic).await?, &name).await
}

/// PUT /v3/clusters/{cluster_id}/topics/{topic}/configs/{name}
pub async fn put_topic_config(
    State(app): State<Arc<App>>,
    ApiPath((cluster_id, topic, name)): ApiPath<(String, String, String)>,
    headers: HeaderMap,
    body: Body,
) -> V3Result {
    let set = put_body(&app, &headers, body).await?;
    let c = cluster(&app, &cluster_id).await?;
    let target = topic_of(&app, &topic).await?;
    change(&app, &c, target, vec![(name, set)], true, false).await
}

/// DELETE /v3/clusters/{cluster_id}/topics/{topic}/configs/{name}
pub async fn delete_topic_config(
    State(app): State<Arc<App>>,
    ApiPath((cluster_id, topic, name)): ApiPath<(String, String, String)>,
) -> V3Result {
    let c = cluster(&app, &cluster_id).await?;
    let target = topic_of(&app, &topic).await?;
    change(
        &app,
        &c,
        target,
        vec![(name, ConfigChange::Delete)],
        true,
        false,
    )
    .await
}

/// POST /v3/clusters/{cluster_id}/topics/{topic}/configs:alter, and for many topics at once
/// with `-` (204, or 207 `{"failures":[{"topic_name","error_code","message"}]}` when some
/// topics' changes were refused).
pub async fn alter_topic_configs(
    State(app): State<Arc<App>>,
    ApiPath((cluster_id, topic)): ApiPath<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> V3Result {
    if topic != "-" {
        let batch = alter_body(&app, &headers, body).await?;
        let c = cluster(&app, &cluster_id).await?;
        let target = topic_of(&app, &topic).await?;
        let changes = batch.data.into_iter().map(AlterEntry::change).collect();
        return change(&app, &c, target, changes, true, batch.validate_only).await;
    }
    let multi: MultiAlter = json_body(&app, &headers, body)
        .await?
        .ok_or_else(|| ApiError::payload_null("Data is required."))?;
    let c = cluster(&app, &cluster_id).await?;
    // A topic named twice: its later entry wins.
    let mut changes: Vec<(ConfigTarget, Vec<(String, ConfigChange)>)> = Vec::new();
    for t in multi.data {
        let target = ConfigTarget::Topic(t.topic_name);
        changes.retain(|(existing, _)| *existing != target);
        changes.push((
            target,
            t.configs.into_iter().map(AlterEntry::change).collect(),
        ));
    }
    // Every topic and name must exist before anything changes.
    let targets: Vec<ConfigTarget> = changes.iter().map(|(t, _)| t.clone()).collect();
    for t in &targets {
        if let ConfigTarget::Topic(name) = t {
            app.kafka.admin.topic(name).await?;
        }
    }
    let described = app.kafka.admin.describe_configs(&targets).await?;
    for ((target, entries), existing) in changes.iter().zip(described) {
        let existing = existing?;
        if let Some((name, _)) = entries
            .iter()
            .find(|(name, _)| !existing.iter().any(|e| &e.name == name))
        {
            return Err(missing(&c.id, target, name).into());
        }
    }
    let results = app
        .kafka
        .admin
        .alter_configs(&changes, multi.validate_only)
        .await?;
    let failures: Vec<Value> = changes
        .iter()
        .zip(results)
        .filter_map(|((target, _), result)| {
            let e = result.err()?;
            let ConfigTarget::Topic(name) = target else {
                return None;
            };
            let e = ApiError::from(e);
            Some(json!({
                "topic_name": name,
                "error_code": e.error_code,
                "message": e.message.lines().next().unwrap_or(""),
            }))
        })
        .collect();
    if failures.is_empty() {
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    Ok(answer_text(
        StatusCode::MULTI_STATUS,
        json!({ "failures": failures }).to_string(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alter_entries() {
        let batch: AlterBatch = serde_json::from_str(
            r#"{"data":[{"name":"a","value":"1"},{"name":"b","operation":"DELETE"},
                {"name":"c","value":null,"operation":"SET"}],"validate_only":true}"#,
        )
        .unwrap();
        assert!(batch.validate_only);
        let changes: Vec<_> = batch.data.into_iter().map(AlterEntry::change).collect();
        assert_eq!(
            changes,
            [
                ("a".to_string(), ConfigChange::Set(Some("1".into()))),
                ("b".to_string(), ConfigChange::Delete),
                ("c".to_string(), ConfigChange::Set(None)),
            ]
        );
        // Confluent's enums in bodies are case-sensitive; names are required.
        assert!(serde_json::from_str::<AlterBatch>(
            r#"{"data":[{"name":"a","operation":"delete"}]}"#
        )
        .is_err());
        assert!(serde_json::from_str::<AlterBatch>(r#"{"data":[{"value":"1"}]}"#).is_err());
    }
}
