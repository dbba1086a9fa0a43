//! POST /topics/{topic} and /topics/{topic}/partitions/{p}: produce with the binary and json
//! embedded formats. The body is parsed with borrowed raw values, converted as a whole (one bad
//! record fails the request before anything is sent), and handed to the shared producer.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

use super::error::{ApiError, V2_JSON};
use super::{body, guard, negotiate, parse_partition, schemas, ApiPath, App};
use crate::formats::{self, Family, FormatError, RawRecord};
use crate::kafka::producer::{Outcome, ProduceError};
use crate::kafka::{classify, ErrorClass};
use crate::names::check_topic;

/// The v2 produce request (identical for every embedded format).
pub struct ProduceRequest<'a> {
    pub records: Vec<RawRecord<'a>>,
    pub key_schema: Option<&'a RawValue>,
    pub key_schema_id: Option<i64>,
    pub value_schema: Option<&'a RawValue>,
    pub value_schema_id: Option<i64>,
}

impl<'a> ProduceRequest<'a> {
    /// Parses a body, refusing it (422) as soon as it holds more than `max_records` records
    /// (`produce.max.records`): a body of tiny records costs far more memory than its bytes, so
    /// no more than the cap are ever held.
    pub fn parse(bytes: &'a [u8], max_records: usize) -> Result<Self, ApiError> {
        let over = std::cell::Cell::new(false);
        let mut de = serde_json::Deserializer::from_slice(bytes);
        let parsed = RequestSeed {
            max_records,
            over: &over,
        }
        .deserialize(&mut de)
        .and_then(|r| de.end().map(|()| r));
        parsed.map_err(|err| {
            if over.get() {
                ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    422,
                    format!("A produce request may carry at most {max_records} records (produce.max.records)"),
                )
            } else {
                body::json_error(err)
            }
        })
    }
}

/// Deserializes a [`ProduceRequest`] with a cap on its records (serde's derive cannot pass one).
struct RequestSeed<'c> {
    max_records: usize,
    over: &'c std::cell::Cell<bool>,
}

const FIELDS: &[&str] = &[
    "records",
    "key_schema",
    "key_schema_id",
    "value_schema",
    "value_schema_id",
];

impl<'de> DeserializeSeed<'de> for RequestSeed<'_> {
    type Value = ProduceRequest<'de>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for RequestSeed<'_> {
    type Value = ProduceRequest<'de>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a produce request object")
    }

    fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Self::Value, M::Error> {
        let mut req = ProduceRequest {
            records: Vec::new(),
            key_schema: None,
            key_schema_id: None,
            value_schema: None,
            value_schema_id: None,
        };
        let mut seen = [false; 5];
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            let i = FIELDS
                .iter()
                .position(|f| *f == key)
                .ok_or_else(|| de::Error::unknown_field(&key, FIELDS))?;
            if std::mem::replace(&mut seen[i], true) {
                return Err(de::Error::duplicate_field(FIELDS[i]));
            }
            match i {
                0 => {
                    req.records = map
                        .next_value_seed(RecordsSeed {
                            max: self.max_records,
                            over: self.over,
                        })?
                        .unwrap_or_default()
                }
                1 => req.key_schema = map.next_value()?,
                2 => req.key_schema_id = map.next_value()?,
                3 => req.value_schema = map.next_value()?,
                _ => req.value_schema_id = map.next_value()?,
            }
        }
        Ok(req)
    }
}

/// `records`: null or an array of at most `max` records.
struct RecordsSeed<'c> {
    max: usize,
    over: &'c std::cell::Cell<bool>,
}

impl<'de> DeserializeSeed<'de> for RecordsSeed<'_> {
    type Value = Option<Vec<RawRecord<'de>>>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_option(self)
    }
}

impl<'de> Visitor<'de> for RecordsSeed<'_> {
    type Value = Option<Vec<RawRecord<'de>>>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an array of records")
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_seq(self)
    }

    fn visit_seq<S: SeqAccess<'de>>(self, mut seq: S) -> Result<Self::Value, S::Error> {
        let mut records = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(self.max));
        while let Some(record) = seq.next_element::<RawRecord<'de>>()? {
            if records.len() == self.max {
                self.over.set(true);
                return Err(de::Error::custom("too many records"));
            }
            records.push(record);
        }
        Ok(Some(records))
    }
}

pub async fn to_topic(
    State(app): State<Arc<App>>,
    ApiPath(topic): ApiPath<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    produce(app, topic, None, &headers, body).await
}

pub async fn to_partition(
    State(app): State<Arc<App>>,
    ApiPath((topic, partition)): ApiPath<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let partition = parse_partition(&partition)?;
    produce(app, topic, Some(partition), &headers, body).await
}

async fn produce(
    app: Arc<App>,
    topic: String,
    path_partition: Option<i32>,
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
    let mut request = ProduceRequest::parse(&bytes, app.config.produce_max_records)?;
    if request.records.is_empty() {
        return Err(ApiError::unprocessable("records may not be empty"));
    }
    // A name no topic can have is not found (and never reaches librdkafka).
    if check_topic(&topic).is_err() {
        return Err(ApiError::topic_not_found());
    }

    for r in &mut request.records {
        // A record's own partition overrides the path's, as in Confluent.
        r.partition = r.partition.or(path_partition);
    }
    let (encoded, key_schema_id, value_schema_id) = if format.family() == Family::Schema {
        let registry = app
            .schemas
            .as_ref()
            .ok_or_else(|| format_error(FormatError::SchemaRegistryRequired))?;
        schemas::encode(registry, &topic, format, &request).await?
    } else {
        let encoded = formats::encode_records(
            format,
            &bytes,
            &request.records,
            app.config.json_max_nesting_depth,
        )
        .map_err(format_error)?;
        (encoded, None, None)
    };
    // Enqueueing runs in its own task: if the client goes away mid-request, the request still
    // completes as a whole instead of being cut off half-enqueued.
    let enqueue = tokio::spawn(async move { app.kafka.producer.produce(&topic, encoded).await });
    let outcomes = enqueue
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "produce task failed");
            ApiError::internal()
        })?
        .map_err(|err| match err {
            ProduceError::Kafka(e) => ApiError::from(e),
            too_large @ ProduceError::RecordTooLarge { .. } => {
                ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, 413, too_large.to_string())
            }
        })?;
    Ok(respond(outcomes, key_schema_id, value_schema_id))
}

/// Maps a conversion failure to Confluent's answer.
pub fn format_error(err: FormatError) -> ApiError {
    match err {
        FormatError::SchemaRegistryRequired => {
            ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, 42206, err.to_string())
        }
        FormatError::InvalidBase64(_) | FormatError::InvalidJson(_) | FormatError::Schema(_) => {
            ApiError::bad_request(err)
        }
        // Only consume decodes records with fetched schemas.
        FormatError::SchemaNotFetched(_) => {
            ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, 500, err.to_string())
        }
    }
}

/// Builds the response: offsets in request order, per-record errors, 401/403 when any record hit
/// an authentication/authorization error. Written directly: this runs once per record.
fn respond(
    outcomes: Vec<Outcome>,
    key_schema_id: Option<i32>,
    value_schema_id: Option<i32>,
) -> Response {
    let mut status = StatusCode::OK;
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
                    Some(ErrorClass::Retriable)
                    | Some(ErrorClass::BrokerNotAvailable)
                    | Some(ErrorClass::UnknownTopicOrPartition) => 50003,
                    _ => 50002,
                };
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
    (status, [(header::CONTENT_TYPE, V2_JSON)], out).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn response_shape_has_explicit_nulls_and_per_record_errors() {
        use rdkafka::error::{KafkaError, RDKafkaErrorCode};
        use serde_json::Value;
        let outcomes = vec![
            Ok((0, 3)),
            Err(KafkaError::MessageProduction(
                RDKafkaErrorCode::MessageTimedOut,
            )),
            Err(KafkaError::MessageProduction(
                RDKafkaErrorCode::TopicAuthorizationFailed,
            )),
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
