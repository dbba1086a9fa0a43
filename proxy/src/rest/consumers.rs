//! Consumer endpoints: instance create/delete, subscription, assignments, positions, offsets and
//! the GET records long-poll.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use serde::Deserialize;
use serde_json::json;

use super::base_url::base_url;
use super::instance::{control_body, ConsumerInstance, InstanceWith};
use super::{guard, negotiate, ApiPath, App};
use crate::config::check_fetch_min_bytes;
use crate::formats::{self, EmbeddedFormat, FormatError};
use crate::http::error::{ApiError, V2_JSON};
use crate::http::principal::KafkaCredentials;
use crate::json_int;
use crate::kafka::consumer::{
    InstanceSettings, PartitionOffset, ReadError, ReadLimits, SeekTarget, TopicPartition,
};
use crate::kafka::registry::CreateError;

type InstancePath = ApiPath<(String, String)>;

fn v2_json(status: StatusCode, value: serde_json::Value) -> Response {
    (status, [(header::CONTENT_TYPE, V2_JSON)], value.to_string()).into_response()
}

fn no_content() -> Response {
    StatusCode::NO_CONTENT.into_response()
}

/// The body of POST /consumers/{group}. (The consumer request bodies are public for the fuzz
/// targets, which parse them as the handlers do.)
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct CreateRequest {
    name: Option<String>,
    id: Option<String>,
    format: Option<String>,
    #[serde(rename = "auto.offset.reset")]
    auto_offset_reset: Option<String>,
    #[serde(rename = "auto.commit.enable")]
    auto_commit_enable: Option<serde_json::Value>,
    #[serde(rename = "fetch.min.bytes", alias = "responseMinBytes")]
    fetch_min_bytes: Option<serde_json::Value>,
    #[serde(rename = "consumer.request.timeout.ms", alias = "requestWaitMs")]
    request_timeout_ms: Option<serde_json::Value>,
    /// Beyond Confluent: records in GET records carry their headers / timestamps.
    #[serde(rename = "record.headers")]
    record_headers: Option<serde_json::Value>,
    #[serde(rename = "record.timestamps")]
    record_timestamps: Option<serde_json::Value>,
}

/// A boolean setting: true/false or their strings (Jackson coerces both); absent is false.
fn as_bool(field: &str, v: &Option<serde_json::Value>) -> Result<bool, ApiError> {
    match v {
        None | Some(serde_json::Value::Null) => Ok(false),
        Some(serde_json::Value::Bool(b)) => Ok(*b),
        Some(serde_json::Value::String(s)) if s.eq_ignore_ascii_case("true") => Ok(true),
        Some(serde_json::Value::String(s)) if s.eq_ignore_ascii_case("false") => Ok(false),
        Some(other) => Err(ApiError::invalid_consumer_config(format!(
            "{field} must be true or false, not {other}"
        ))),
    }
}

/// A JSON number or a string holding one (Jackson coerces both).
fn as_i64(field: &str, v: &serde_json::Value) -> Result<i64, ApiError> {
    match v {
        serde_json::Value::Number(n) => n.as_i64(),
        serde_json::Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
    .ok_or_else(|| ApiError::bad_request(format!("{field} must be an integer")))
}

/// POST /consumers/{group}
pub async fn create(
    State(app): State<Arc<App>>,
    ApiPath(group): ApiPath<String>,
    credentials: Option<Extension<KafkaCredentials>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    guard::group_name(&group)?;
    let base_url = base_url(&app, &headers)?;
    let req: CreateRequest = control_body(&app, &headers, body)
        .await?
        .unwrap_or_default();
    let format = match &req.format {
        None => EmbeddedFormat::Binary,
        Some(f) => EmbeddedFormat::from_name(f)
            .ok_or_else(|| ApiError::unprocessable("Invalid format type."))?,
    };
    let fetch_min_bytes = match &req.fetch_min_bytes {
        None => app.config.consumers.fetch_min_bytes,
        Some(v) => check_fetch_min_bytes(as_i64("fetch.min.bytes", v)?)
            .map_err(ApiError::invalid_fetch_min_bytes)?,
    };
    let request_timeout_ms = match &req.request_timeout_ms {
        None => app.config.consumers.request_timeout_ms,
        Some(v) => {
            let ms = u64::try_from(as_i64("consumer.request.timeout.ms", v)?).map_err(|_| {
                ApiError::unprocessable("consumer.request.timeout.ms must not be negative")
            })?;
            let max = app.config.consumers.request_timeout_max_ms;
            if ms > max {
                return Err(ApiError::invalid_consumer_config(format!(
                    "consumer.request.timeout.ms must be at most {max} (consumer.request.timeout.max.ms)"
                )));
            }
            ms
        }
    };
    let auto_commit = match &req.auto_commit_enable {
        None => None,
        Some(serde_json::Value::Bool(b)) => Some(*b),
        Some(serde_json::Value::String(s)) if s.eq_ignore_ascii_case("true") => Some(true),
        Some(serde_json::Value::String(s)) if s.eq_ignore_ascii_case("false") => Some(false),
        Some(other) => {
            return Err(ApiError::invalid_consumer_config(format!(
                "auto.commit.enable must be true or false, not {other}"
            )))
        }
    };
    let name = match req.id.or(req.name) {
        Some(name) => {
            guard::instance_name(&name)?;
            name
        }
        None => {
            let prefix = if app.config.rest.id.is_empty() {
                String::new()
            } else {
                format!("{}-", app.config.rest.id)
            };
            let name = format!("rest-consumer-{prefix}{}", uuid::Uuid::new_v4());
            // `id` is the operator's, but the name still has to be a legal path segment.
            guard::instance_name(&name)?;
            name
        }
    };
    let settings = InstanceSettings {
        format,
        auto_offset_reset: req.auto_offset_reset,
        auto_commit,
        fetch_min_bytes,
        request_timeout: Duration::from_millis(request_timeout_ms),
        record_headers: as_bool("record.headers", &req.record_headers)?,
        record_timestamps: as_bool("record.timestamps", &req.record_timestamps)?,
        sasl: credentials.map(|Extension(c)| (c.user, c.password)),
    };
    app.kafka
        .consumers
        .create(&group, &name, settings)
        .map_err(|e| match e {
            CreateError::Exists => ApiError::instance_exists(),
            too_many @ CreateError::TooMany { .. } => ApiError::too_many_instances(too_many),
            CreateError::Kafka(e) => e.into(),
        })?;
    let base_uri = format!("{base_url}/consumers/{group}/instances/{name}");
    Ok(v2_json(
        StatusCode::OK,
        json!({ "instance_id": name, "base_uri": base_uri }),
    ))
}

/// DELETE /consumers/{group}/instances/{name}
pub async fn delete(
    State(app): State<Arc<App>>,
    ApiPath((group, name)): InstancePath,
) -> Result<Response, ApiError> {
    let instance = app
        .kafka
        .consumers
        .remove(&group, &name)
        .ok_or_else(ApiError::instance_not_found)?;
    instance.close().await;
    Ok(no_content())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubscribeRequest {
    #[serde(default)]
    topics: Vec<String>,
    topic_pattern: Option<String>,
}

/// POST .../subscription
pub async fn subscribe(
    State(app): State<Arc<App>>,
    InstanceWith {
        instance: inst,
        body: req,
    }: InstanceWith<SubscribeRequest>,
) -> Result<Response, ApiError> {
    if let Some(req) = req {
        guard::topics_allowed(&app.config, req.topics.iter().map(String::as_str))?;
        inst.subscribe(req.topics, req.topic_pattern).await?;
    }
    Ok(no_content())
}

/// GET .../subscription
pub async fn subscription(c: ConsumerInstance) -> Result<Response, ApiError> {
    let topics = c.instance.subscription().await?;
    Ok(v2_json(StatusCode::OK, json!({ "topics": topics })))
}

/// DELETE .../subscription
pub async fn unsubscribe(c: ConsumerInstance) -> Result<Response, ApiError> {
    c.instance.unsubscribe().await?;
    Ok(no_content())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartitionIn {
    topic: String,
    #[serde(deserialize_with = "json_int::int")]
    partition: i32,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartitionsRequest {
    #[serde(default)]
    partitions: Vec<PartitionIn>,
}

fn to_partitions(req: Option<PartitionsRequest>) -> Vec<TopicPartition> {
    req.map(|r| r.partitions)
        .unwrap_or_default()
        .into_iter()
        .map(|p| TopicPartition {
            topic: p.topic,
            partition: p.partition,
        })
        .collect()
}

fn partitions_json(partitions: &[TopicPartition]) -> serde_json::Value {
    let list: Vec<_> = partitions
        .iter()
        .map(|tp| json!({ "topic": tp.topic, "partition": tp.partition }))
        .collect();
    json!({ "partitions": list })
}

/// POST .../assignments
pub async fn assign(
    State(app): State<Arc<App>>,
    InstanceWith { instance, body }: InstanceWith<PartitionsRequest>,
) -> Result<Response, ApiError> {
    let partitions = to_partitions(body);
    guard::topics_allowed(&app.config, partitions.iter().map(|tp| tp.topic.as_str()))?;
    instance.assign(partitions).await?;
    Ok(no_content())
}

/// GET .../assignments
pub async fn assignments(c: ConsumerInstance) -> Result<Response, ApiError> {
    let partitions = c.instance.assignment().await?;
    Ok(v2_json(StatusCode::OK, partitions_json(&partitions)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OffsetIn {
    topic: String,
    #[serde(deserialize_with = "json_int::int")]
    partition: i32,
    #[serde(deserialize_with = "json_int::int")]
    offset: i64,
    metadata: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimestampIn {
    topic: String,
    #[serde(deserialize_with = "json_int::int")]
    partition: i32,
    timestamp: serde_json::Value,
    #[allow(dead_code)]
    metadata: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PositionsRequest {
    #[serde(default)]
    offsets: Vec<OffsetIn>,
    #[serde(default)]
    timestamps: Vec<TimestampIn>,
}

/// A timestamp given as RFC 3339 text or epoch milliseconds.
fn timestamp_ms(v: &serde_json::Value) -> Result<i64, ApiError> {
    if let Some(ms) = v.as_i64() {
        return Ok(ms);
    }
    let text = v
        .as_str()
        .ok_or_else(|| ApiError::bad_request("timestamp must be an ISO-8601 string"))?;
    let t = humantime::parse_rfc3339_weak(text)
        .or_else(|_| humantime::parse_rfc3339(text))
        .map_err(|e| ApiError::bad_request(format!("invalid timestamp {text:?}: {e}")))?;
    let since = t
        .duration_since(std::time::UNIX_EPOCH)
        .map_err(|_| ApiError::bad_request("timestamp before 1970"))?;
    Ok(since.as_millis() as i64)
}

/// POST .../positions
pub async fn seek(
    InstanceWith {
        instance: inst,
        body: req,
    }: InstanceWith<PositionsRequest>,
) -> Result<Response, ApiError> {
    let mut targets = Vec::new();
    if let Some(req) = req {
        for o in req.offsets {
            let tp = TopicPartition {
                topic: o.topic,
                partition: o.partition,
            };
            targets.push((tp, SeekTarget::Offset(o.offset)));
        }
        for t in req.timestamps {
            let ts = timestamp_ms(&t.timestamp)?;
            targets.push((
                TopicPartition {
                    topic: t.topic,
                    partition: t.partition,
                },
                SeekTarget::Timestamp(ts),
            ));
        }
    }
    inst.seek(targets).await?;
    Ok(no_content())
}

async fn seek_all(
    InstanceWith { instance, body }: InstanceWith<PartitionsRequest>,
    target: SeekTarget,
) -> Result<Response, ApiError> {
    let targets = to_partitions(body).into_iter().map(|tp| (tp, target));
    instance.seek(targets.collect()).await?;
    Ok(no_content())
}

/// POST .../positions/beginning
pub async fn seek_beginning(
    request: InstanceWith<PartitionsRequest>,
) -> Result<Response, ApiError> {
    seek_all(request, SeekTarget::Beginning).await
}

/// POST .../positions/end
pub async fn seek_end(request: InstanceWith<PartitionsRequest>) -> Result<Response, ApiError> {
    seek_all(request, SeekTarget::End).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommitRequest {
    offsets: Option<Vec<OffsetIn>>,
}

/// POST .../offsets: commits synchronously; the `async` query parameter is accepted and ignored.
pub async fn commit(
    InstanceWith {
        instance,
        body: req,
    }: InstanceWith<CommitRequest>,
) -> Result<Response, ApiError> {
    let offsets = req.and_then(|r| r.offsets).map(|offsets| {
        offsets
            .into_iter()
            .map(|o| PartitionOffset {
                topic: o.topic,
                partition: o.partition,
                offset: o.offset,
                metadata: o.metadata,
            })
            .collect()
    });
    instance.commit(offsets).await?;
    Ok(v2_json(StatusCode::OK, json!([])))
}

/// GET .../offsets (with a JSON body listing the partitions).
pub async fn committed(
    InstanceWith {
        instance: inst,
        body: req,
    }: InstanceWith<PartitionsRequest>,
) -> Result<Response, ApiError> {
    let Some(req) = req else {
        return Err(ApiError::partition_not_found());
    };
    let offsets = inst.committed(to_partitions(Some(req))).await?;
    let list: Vec<_> = offsets
        .iter()
        .map(|o| {
            json!({ "topic": o.topic, "partition": o.partition, "offset": o.offset,
                    "metadata": o.metadata.clone().unwrap_or_default() })
        })
        .collect();
    Ok(v2_json(StatusCode::OK, json!({ "offsets": list })))
}

fn query_i64(query: &HashMap<String, String>, key: &str) -> Result<Option<i64>, ApiError> {
    query
        .get(key)
        .map(|v| {
            v.trim()
                .parse::<i64>()
                .map_err(|_| ApiError::bad_request(format!("{key} must be an integer")))
        })
        .transpose()
}

/// GET .../records?timeout=&max_bytes=
pub async fn records(
    State(app): State<Arc<App>>,
    ConsumerInstance {
        instance: inst,
        group,
        name,
    }: ConsumerInstance,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let format = negotiate::records_format(&headers, inst.settings.format)?;
    let server_wait = inst.settings.request_timeout;
    let wait = match query_i64(&query, "timeout")? {
        Some(ms) if ms > 0 => server_wait.min(Duration::from_millis(ms as u64)),
        _ => server_wait,
    };
    let cap = app.config.consumers.request_max_bytes;
    let max_bytes = match query_i64(&query, "max_bytes")? {
        Some(n) if n > 0 => cap.min(n as u64),
        _ => cap,
    };
    let limits = ReadLimits {
        max_bytes,
        woken_max_bytes: app.config.consumers.wake_max_bytes.min(max_bytes),
    };
    // A record whose schema the registry client has not fetched yet stops the read at that
    // record (it stays buffered); the schema is fetched here, without blocking, and the read
    // resumes. Each schema is fetched once.
    let mut fetches = 0;
    let body = loop {
        let mut writer = formats::RecordWriter::new(format, app.schemas.clone())
            .json_depth(app.config.json_max_nesting_depth)
            .with_metadata(
                inst.settings.record_headers,
                inst.settings.record_timestamps,
            );
        let read = inst
            .read(wait, limits, |msg, out| writer.write(msg, out))
            .await;
        let err = match read {
            Ok(body) => break body,
            Err(ReadError::Format {
                topic,
                partition,
                offset,
                source: FormatError::SchemaNotFetched(id),
            }) if fetches < 64 => {
                fetches += 1;
                let Some(schemas) = &app.schemas else {
                    unreachable!("schema formats are decoded only with a registry")
                };
                match schemas.schema(id).await {
                    Ok(_) => continue,
                    Err(e) => ReadError::Format {
                        topic,
                        partition,
                        offset,
                        source: FormatError::Schema(format!("schema {id}: {e}")),
                    },
                }
            }
            Err(err) => err,
        };
        return Err(match err {
            ReadError::Kafka(e) => ApiError::from(e),
            format_err @ ReadError::Format { .. } => ApiError::records_not_decoded(format_err),
        });
    };
    app.kafka.consumers.get(&group, &name); // the read counts as use at its end too
    Ok(([(header::CONTENT_TYPE, format.media_type())], body).into_response())
}
