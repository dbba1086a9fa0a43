//! POST /topics/{topic} and /topics/{topic}/partitions/{p}: produce with the binary and json
//! embedded formats. The body is parsed with borrowed raw values, converted as a whole (one bad
//! record fails the request before anything is sent), and handed to the shared producer.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::error::{ApiError, V2_JSON};
use super::{body, negotiate, parse_partition, App};
use crate::formats::{self, FormatError, RawRecord};
use crate::kafka::producer::{Outcome, ProduceError};
use crate::kafka::{classify, ErrorClass};

/// The v2 produce request (identical for every embedded format).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProduceRequest<'a> {
    #[serde(borrow, default)]
    pub records: Vec<RecordIn<'a>>,
    #[serde(borrow, default)]
    pub key_schema: Option<&'a RawValue>,
    #[serde(default)]
    pub key_schema_id: Option<i64>,
    #[serde(borrow, default)]
    pub value_schema: Option<&'a RawValue>,
    #[serde(default)]
    pub value_schema_id: Option<i64>,
}

/// One record as sent by the client.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordIn<'a> {
    #[serde(borrow, default)]
    pub key: Option<&'a RawValue>,
    #[serde(borrow, default)]
    pub value: Option<&'a RawValue>,
    #[serde(default)]
    pub partition: Option<i32>,
}

#[derive(Serialize)]
struct ProduceResponse {
    offsets: Vec<OffsetOut>,
    key_schema_id: Option<i64>,
    value_schema_id: Option<i64>,
}

#[derive(Serialize)]
struct OffsetOut {
    partition: Option<i32>,
    offset: Option<i64>,
    error_code: Option<u32>,
    error: Option<String>,
}

pub async fn to_topic(
    State(app): State<Arc<App>>,
    Path(topic): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    produce(&app, &topic, None, &headers, body).await
}

pub async fn to_partition(
    State(app): State<Arc<App>>,
    Path((topic, partition)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let partition = parse_partition(&partition)?;
    produce(&app, &topic, Some(partition), &headers, body).await
}

async fn produce(
    app: &App,
    topic: &str,
    path_partition: Option<i32>,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let format = negotiate::produce_format(headers)?;
    let bytes = body::read(headers, body, app.config.request_body_max_bytes).await?;
    if body::is_empty(&bytes) {
        return Err(ApiError::unprocessable(
            "Request body is empty. Data is required.",
        ));
    }
    let request: ProduceRequest = body::parse_json(&bytes)?;
    if request.records.is_empty() {
        return Err(ApiError::unprocessable("records may not be empty"));
    }
    if !valid_topic_name(topic) {
        return Err(ApiError::topic_not_found());
    }
    let raws: Vec<RawRecord> = request
        .records
        .iter()
        .map(|r| RawRecord {
            key: r.key,
            value: r.value,
            // A record's own partition overrides the path's, as in Confluent.
            partition: r.partition.or(path_partition),
        })
        .collect();
    let encoded = formats::encode_records(format, &bytes, &raws).map_err(format_error)?;
    let outcomes = app
        .kafka
        .producer
        .produce(topic, encoded.iter())
        .await
        .map_err(|err| match err {
            ProduceError::Kafka(e) => ApiError::from(e),
            too_large @ ProduceError::RecordTooLarge { .. } => {
                ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, 413, too_large.to_string())
            }
        })?;
    Ok(respond(outcomes))
}

/// Maps a conversion failure to Confluent's answer.
pub fn format_error(err: FormatError) -> ApiError {
    match err {
        FormatError::SchemaRegistryRequired => {
            ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, 42206, err.to_string())
        }
        FormatError::InvalidBase64(_) | FormatError::InvalidJson(_) => ApiError::bad_request(err),
    }
}

/// Kafka's legal topic names: 1-249 characters of `[a-zA-Z0-9._-]`, not `.` or `..`.
fn valid_topic_name(topic: &str) -> bool {
    !topic.is_empty()
        && topic.len() <= 249
        && topic != "."
        && topic != ".."
        && topic
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

/// Builds the response: offsets in request order, per-record errors, 401/403 when any record hit
/// an authentication/authorization error.
fn respond(outcomes: Vec<Outcome>) -> Response {
    let mut status = StatusCode::OK;
    let offsets = outcomes
        .into_iter()
        .map(|o| match o {
            Ok((partition, offset)) => OffsetOut {
                partition: Some(partition),
                offset: Some(offset),
                error_code: None,
                error: None,
            },
            Err(err) => {
                let code = match err.rdkafka_error_code().map(classify) {
                    Some(ErrorClass::Authentication) => {
                        status = StatusCode::UNAUTHORIZED;
                        40101
                    }
                    Some(ErrorClass::Authorization) => {
                        if status == StatusCode::OK {
                            status = StatusCode::FORBIDDEN;
                        }
                        40301
                    }
                    Some(ErrorClass::Retriable) | Some(ErrorClass::BrokerNotAvailable) => 50003,
                    _ => 50002,
                };
                OffsetOut {
                    partition: None,
                    offset: None,
                    error_code: Some(code),
                    error: Some(err.to_string()),
                }
            }
        })
        .collect();
    let body = ProduceResponse {
        offsets,
        key_schema_id: None,
        value_schema_id: None,
    };
    let json = serde_json::to_vec(&body).unwrap_or_default();
    (status, [(header::CONTENT_TYPE, V2_JSON)], json).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_names() {
        assert!(valid_topic_name("rest-binary.v1_x"));
        for bad in ["", ".", "..", "a b", "a/b", &"x".repeat(250)] {
            assert!(!valid_topic_name(bad), "{bad}");
        }
    }

    #[test]
    fn response_shape_has_explicit_nulls() {
        let resp = ProduceResponse {
            offsets: vec![OffsetOut {
                partition: Some(0),
                offset: Some(3),
                error_code: None,
                error: None,
            }],
            key_schema_id: None,
            value_schema_id: None,
        };
        assert_eq!(
            serde_json::to_string(&resp).unwrap(),
            r#"{"offsets":[{"partition":0,"offset":3,"error_code":null,"error":null}],"key_schema_id":null,"value_schema_id":null}"#
        );
    }
}
