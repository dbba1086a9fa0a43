//! POST /topics/{topic} and /topics/{topic}/partitions/{p}: produce in every embedded format.
//! The body is parsed with borrowed raw values, converted as a whole (one bad record fails the
//! request before anything is sent), and handed to the shared producer. The common shape of a
//! binary, Avro, JSON Schema or Protobuf body is encoded in one pass instead
//! (`formats::binary_request`, `formats::one_pass_request`).

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use bytes::Bytes;

use super::produce_request::ProduceRequest;
use super::{body, guard, negotiate, parse_partition, schemas, ApiPath, App};
use crate::finish::Finish;
use crate::formats::{self, EmbeddedFormat, EncodedRecords, Family, FormatError};
use crate::http::error::{ApiError, RecordErrors, V2_JSON};
use crate::http::principal::KafkaCredentials;
use crate::kafka::producer::{Outcome, ProduceError};
use crate::names::check_topic;
use crate::telemetry;

pub async fn to_topic(
    State(app): State<Arc<App>>,
    ApiPath(topic): ApiPath<String>,
    credentials: Option<Extension<KafkaCredentials>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    produce(app, topic, None, credentials, &headers, body).await
}

pub async fn to_partition(
    State(app): State<Arc<App>>,
    ApiPath((topic, partition)): ApiPath<(String, String)>,
    credentials: Option<Extension<KafkaCredentials>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let partition = parse_partition(&partition)?;
    produce(app, topic, Some(partition), credentials, &headers, body).await
}

async fn produce(
    app: Arc<App>,
    topic: String,
    path_partition: Option<i32>,
    credentials: Option<Extension<KafkaCredentials>>,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let format = negotiate::produce_format(headers)?;
    guard::topic_allowed(&app.config, &topic)?;
    let bytes = body::read(headers, body, &app.config).await?;
    if body::is_empty(&bytes) {
        return Err(ApiError::unprocessable(
            "Request body is empty. Data is required.",
        ));
    }
    let max_records = app.config.rest.produce_max_records;
    // The common shape of a binary or schema-format body is encoded in one pass; anything
    // else, and every error, takes the usual path below.
    let one_pass = match (&app.schemas, format.family()) {
        _ if check_topic(&topic).is_err() => None,
        (Some(registry), Family::Schema) => schemas::encode_one_pass(
            registry,
            &topic,
            format,
            &bytes,
            max_records,
            path_partition,
        )
        .await
        .map(|(encoded, key, value)| (encoded, key, Some(value))),
        (_, Family::Binary) => formats::binary_request::encode(&bytes, max_records, path_partition)
            .map(|encoded| (encoded, None, None)),
        _ => None,
    };
    let (encoded, key_schema_id, value_schema_id) = match one_pass {
        Some(encoded) => encoded,
        None => encode(&app, &topic, format, &bytes, path_partition).await?,
    };
    // The request completes as a whole even if its client goes away mid-request, instead of
    // being cut off half-enqueued ([`Finish`]).
    let handed = std::time::Instant::now();
    let records = encoded.len() as u64;
    // With principal propagation, the user's own producer (its credentials reach Kafka).
    let own = match (&app.kafka.principals, credentials) {
        (Some(principals), Some(Extension(c))) => Some(
            principals
                .producer(&c.user, &c.password)
                .map_err(ApiError::from)?,
        ),
        _ => None,
    };
    let outcomes = Finish::new(async move {
        match own {
            Some(producer) => producer.produce(&topic, encoded).await,
            None => app.kafka.producer.produce(&topic, encoded).await,
        }
    })
    .await
    .map_err(|err| match err {
        ProduceError::Kafka(e) => ApiError::from(e),
        too_large @ ProduceError::RecordTooLarge { .. } => ApiError::record_too_large(too_large),
    })?;
    let name = format.name();
    metrics::histogram!(telemetry::PRODUCE_KAFKA_DURATION, "format" => name)
        .record(handed.elapsed().as_micros() as f64);
    metrics::counter!(telemetry::PRODUCE_RECORDS, "format" => name).increment(records);
    metrics::counter!(telemetry::PRODUCE_BYTES, "format" => name).increment(bytes.len() as u64);
    let failed = outcomes.iter().filter(|o| o.is_err()).count() as u64;
    if failed > 0 {
        metrics::counter!(telemetry::PRODUCE_FAILED_RECORDS, "format" => name).increment(failed);
    }
    Ok(respond(outcomes, key_schema_id, value_schema_id))
}

/// The usual path: the body parsed into records holding raw JSON, then encoded in its format
/// (with the request's key and value schemas for the schema formats).
async fn encode(
    app: &App,
    topic: &str,
    format: EmbeddedFormat,
    bytes: &Bytes,
    path_partition: Option<i32>,
) -> Result<(EncodedRecords, Option<i32>, Option<i32>), ApiError> {
    let mut request = ProduceRequest::parse(bytes, app.config.rest.produce_max_records)?;
    if request.records.is_empty() {
        return Err(ApiError::unprocessable("records may not be empty"));
    }
    // A name no topic can have is not found (and never reaches the Kafka client).
    if check_topic(topic).is_err() {
        return Err(ApiError::topic_not_found());
    }
    for r in &mut request.records {
        // A record's own partition overrides the path's, as in Confluent.
        r.partition = r.partition.or(path_partition);
    }
    if format.family() == Family::Schema {
        let registry = app
            .schemas
            .as_ref()
            .ok_or_else(|| ApiError::from(FormatError::SchemaRegistryRequired))?;
        return schemas::encode(registry, topic, format, &request).await;
    }
    let encoded = formats::encode_records(
        format,
        bytes,
        &request.records,
        app.config.json_max_nesting_depth,
    )
    .map_err(ApiError::from)?;
    Ok((encoded, None, None))
}

/// Builds the response: offsets in request order, per-record errors, 401/403 when any record hit
/// an authentication/authorization error. Written directly: this runs once per record.
fn respond(
    outcomes: Vec<Outcome>,
    key_schema_id: Option<i32>,
    value_schema_id: Option<i32>,
) -> Response {
    let mut errors = RecordErrors::default();
    let mut out = Vec::with_capacity(outcomes.len() * 72 + 64);
    let mut num = itoa::Buffer::new();
    out.extend_from_slice(b"{\"offsets\":[");
    for (i, outcome) in outcomes.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        match outcome {
            Ok((partition, offset)) => {
                out.extend_from_slice(b"{\"partition\":");
                out.extend_from_slice(num.format(*partition).as_bytes());
                out.extend_from_slice(b",\"offset\":");
                out.extend_from_slice(num.format(*offset).as_bytes());
                out.extend_from_slice(b",\"error_code\":null,\"error\":null}");
            }
            Err(err) => {
                let code = errors.code(err.class);
                out.extend_from_slice(b"{\"partition\":null,\"offset\":null,\"error_code\":");
                out.extend_from_slice(num.format(code).as_bytes());
                out.extend_from_slice(b",\"error\":");
                serde_json::to_writer(&mut out, &err.to_string()).expect("writing to a Vec");
                out.push(b'}');
            }
        }
    }
    out.extend_from_slice(b"],\"key_schema_id\":");
    match key_schema_id {
        Some(id) => out.extend_from_slice(num.format(id).as_bytes()),
        None => out.extend_from_slice(b"null"),
    }
    out.extend_from_slice(b",\"value_schema_id\":");
    match value_schema_id {
        Some(id) => out.extend_from_slice(num.format(id).as_bytes()),
        None => out.extend_from_slice(b"null"),
    }
    out.push(b'}');
    (errors.status(), [(header::CONTENT_TYPE, V2_JSON)], out).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn response_shape_has_explicit_nulls_and_per_record_errors() {
        use crate::kafka::{ErrorClass, RecordError};
        use axum::http::StatusCode;
        use serde_json::Value;
        let outcomes = vec![
            Ok((0, 3)),
            Err(RecordError {
                class: ErrorClass::Retriable,
                message: "Message production error: MessageTimedOut (Local: Message timed out)"
                    .into(),
            }),
            Err(RecordError {
                class: ErrorClass::Authorization,
                message: "Message production error: TopicAuthorizationFailed (Broker: Topic \
                          authorization failed)"
                    .into(),
            }),
        ];
        let resp = respond(outcomes, None, None);
        assert_eq!(resp.status(), StatusCode::FORBIDDEN);
        let body = axum::body::to_bytes(resp.into_body(), 1 << 20)
            .await
            .unwrap();
        assert!(body.starts_with(
            br#"{"offsets":[{"partition":0,"offset":3,"error_code":null,"error":null},"#
        ));
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["offsets"][1]["error_code"], 50003);
        assert_eq!(v["offsets"][1]["partition"], Value::Null);
        assert!(
            v["offsets"][1]["error"]
                .as_str()
                .unwrap()
                .contains("timed out"),
            "{v}"
        );
        assert_eq!(v["offsets"][2]["error_code"], 40301);
        assert_eq!(v["key_schema_id"], Value::Null);
        assert_eq!(v["value_schema_id"], Value::Null);
    }
}
