//! One record of a v3 produce request (`POST /v3/clusters/{c}/topics/{t}/records`): its JSON
//! (`partition_id`, `headers` with base64 values and repeatable names, `key` and `value` data
//! objects, an ISO-8601 `timestamp`), turned into Kafka bytes. Data objects of type BINARY
//! (base64), JSON (any JSON, written as its text) and STRING (UTF-8) are converted here;
//! schema-based ones (AVRO, JSONSCHEMA, PROTOBUF, or no type) are read here and resolved
//! against the registry by [`super::schema_data`]. Key and value may differ.

use std::borrow::Cow;
use std::sync::Arc;

use base64::Engine;
use bytes::Bytes;
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;

use super::schema_data::{self, Pending, SchemaUsed};
use crate::http::error::ApiError;
use crate::record::Header;
use crate::schema::kinds::SchemaType;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RecordIn<'a> {
    #[serde(default, deserialize_with = "crate::json_int::opt_int")]
    partition_id: Option<i32>,
    #[serde(default)]
    headers: Option<Vec<HeaderIn>>,
    #[serde(default, borrow)]
    key: Option<DataIn<'a>>,
    #[serde(default, borrow)]
    value: Option<DataIn<'a>>,
    #[serde(default)]
    timestamp: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HeaderIn {
    name: String,
    #[serde(default)]
    value: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DataIn<'a> {
    #[serde(rename = "type", default)]
    kind: Option<String>,
    #[serde(default)]
    subject: Option<String>,
    #[serde(default)]
    subject_name_strategy: Option<String>,
    #[serde(default, deserialize_with = "crate::json_int::opt_int")]
    schema_id: Option<i32>,
    #[serde(default, deserialize_with = "crate::json_int::opt_int")]
    schema_version: Option<i32>,
    #[serde(default)]
    schema: Option<String>,
    /// The data as sent (None: null or absent), decoded by type without a value tree.
    #[serde(default, borrow)]
    data: Option<&'a RawValue>,
}

/// A key or value as Kafka gets it (None: a null given with its type), with the type its
/// delivery report names, and the schema it was written with when schema-based.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Data {
    pub kind: &'static str,
    pub bytes: Option<Vec<u8>>,
    pub schema: Option<Arc<SchemaUsed>>,
}

impl Data {
    fn plain(kind: &'static str, bytes: Option<Vec<u8>>) -> Self {
        Data {
            kind,
            bytes,
            schema: None,
        }
    }
}

/// A key or value as read: converted, or schema-based and still to be resolved.
enum Part {
    Ready(Data),
    Schema(Pending),
}

/// A record ready for the producer.
#[derive(Debug, Clone)]
pub struct Record {
    pub partition: Option<i32>,
    pub headers: Vec<Header>,
    pub key: Option<Data>,
    pub value: Option<Data>,
    /// CreateTime in ms, if the record gave one.
    pub timestamp: Option<i64>,
    /// Schema-based key and value, still to be resolved ([`Record::resolve`]).
    pending: Option<Box<(Option<Pending>, Option<Pending>)>>,
}

impl Record {
    /// Resolves a schema-based key and value against the registry (a no-op for the others).
    pub async fn resolve(
        &mut self,
        resolver: &mut schema_data::Resolver<'_>,
    ) -> Result<(), ApiError> {
        let Some(pending) = self.pending.take() else {
            return Ok(());
        };
        let (key, value) = *pending;
        for (p, slot) in [(key, &mut self.key), (value, &mut self.value)] {
            if let Some(p) = p {
                let (bytes, used) = resolver.encode(p).await?;
                *slot = Some(Data {
                    kind: used.kind,
                    bytes,
                    schema: Some(used),
                });
            }
        }
        Ok(())
    }
}

fn bad(message: impl std::fmt::Display) -> ApiError {
    ApiError::bad_request(message)
}

fn data(which: &str, d: DataIn<'_>) -> Result<Option<Part>, ApiError> {
    let schema_given = d.subject.is_some()
        || d.subject_name_strategy.is_some()
        || d.schema_id.is_some()
        || d.schema_version.is_some()
        || d.schema.is_some();
    let kind = d.kind.as_deref().map(str::to_ascii_uppercase);
    match kind.as_deref() {
        Some(kind @ ("BINARY" | "JSON" | "STRING")) if schema_given => {
            // Confluent's order and text (ProduceRequestData.Builder).
            let field = [
                (d.subject_name_strategy.is_some(), "subject_strategy"),
                (d.subject.is_some(), "subject"),
                (d.schema_id.is_some(), "schema_id"),
                (d.schema_version.is_some(), "schema_version"),
                (d.schema.is_some(), "schema"),
            ]
            .into_iter()
            .find_map(|(given, name)| given.then_some(name))
            .unwrap_or("schema");
            Err(bad(format!(
                "{which}: 'type={kind}' cannot be used with '{field}'."
            )))
        }
        // `data: null` with a type is a null key or value (Confluent's NoSchemaRecordSerializer).
        Some(kind @ ("BINARY" | "JSON" | "STRING")) if d.data.is_none() => {
            Ok(Some(Part::Ready(Data::plain(
                match kind {
                    "BINARY" => "BINARY",
                    "JSON" => "JSON",
                    _ => "STRING",
                },
                None,
            ))))
        }
        Some("BINARY") => {
            let raw = d.data.map_or("null", RawValue::get);
            let text: Cow<'_, str> = serde_json::from_str(raw)
                .map_err(|_| bad(format!("data={raw} is not a base64 string.")))?;
            base64::engine::general_purpose::STANDARD
                .decode(text.as_bytes())
                .map(|bytes| Some(Part::Ready(Data::plain("BINARY", Some(bytes)))))
                .map_err(|_| bad(format!("data={text} is not a base64 string.")))
        }
        // Written compact, as Jackson writes the tree it read.
        Some("JSON") => {
            let raw = d.data.map_or("null", RawValue::get);
            let value: Value = serde_json::from_str(raw).map_err(bad)?;
            Ok(Some(Part::Ready(Data::plain(
                "JSON",
                Some(value.to_string().into_bytes()),
            ))))
        }
        Some("STRING") => {
            let raw = d.data.map_or("null", RawValue::get);
            let text: Cow<'_, str> = serde_json::from_str(raw)
                .map_err(|_| bad(format!("data={raw} is not a string.")))?;
            Ok(Some(Part::Ready(Data::plain(
                "STRING",
                Some(text.into_owned().into_bytes()),
            ))))
        }
        Some(kind @ ("AVRO" | "JSONSCHEMA" | "PROTOBUF")) => {
            let kind = match kind {
                "AVRO" => SchemaType::Avro,
                "JSONSCHEMA" => SchemaType::Json,
                _ => SchemaType::Protobuf,
            };
            schema_of(which, Some(kind), d).map(|p| Some(Part::Schema(p)))
        }
        Some(other) => Err(bad(format!(
            "{which}: unknown type {other}: expected BINARY, JSON, STRING, AVRO, JSONSCHEMA or PROTOBUF"
        ))),
        None => schema_of(which, None, d).map(|p| Some(Part::Schema(p))),
    }
}

fn schema_of(which: &str, kind: Option<SchemaType>, d: DataIn<'_>) -> Result<Pending, ApiError> {
    schema_data::pending(
        which,
        kind,
        d.subject,
        d.subject_name_strategy.as_deref(),
        (d.schema_id, d.schema_version, d.schema),
        d.data,
    )
}

/// An ISO-8601 timestamp (`2023-03-09T14:07:23.592Z`, an offset or none) in ms since the epoch.
fn timestamp(text: &str) -> Result<i64, ApiError> {
    humantime::parse_rfc3339_weak(text)
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_millis() as i64)
        .ok_or_else(|| bad(format!("timestamp={text} is not an ISO-8601 timestamp")))
}

/// Parses one record's JSON; any fault is a 400 for this record alone.
pub fn parse(json: &[u8]) -> Result<Record, ApiError> {
    let r: RecordIn = serde_json::from_slice(json).map_err(bad)?;
    if let Some(p) = r.partition_id {
        if p < 0 {
            return Err(ApiError::partition_not_found());
        }
    }
    let mut headers = Vec::new();
    for h in r.headers.unwrap_or_default() {
        let value = match h.value {
            None => None,
            Some(v) => Some(Bytes::from(
                base64::engine::general_purpose::STANDARD
                    .decode(&v)
                    .map_err(|_| {
                        bad(format!(
                            "header {}: value={v} is not a base64 string.",
                            h.name
                        ))
                    })?,
            )),
        };
        headers.push((Cow::Owned(h.name), value));
    }
    let key = r.key.map(|d| data("key", d)).transpose()?.flatten();
    let value = r.value.map(|d| data("value", d)).transpose()?.flatten();
    let split = |p: Option<Part>| match p {
        None => (None, None),
        Some(Part::Ready(d)) => (Some(d), None),
        Some(Part::Schema(p)) => (None, Some(p)),
    };
    let ((key, key_schema), (value, value_schema)) = (split(key), split(value));
    Ok(Record {
        partition: r.partition_id,
        headers,
        key,
        value,
        timestamp: r.timestamp.as_deref().map(timestamp).transpose()?,
        pending: (key_schema.is_some() || value_schema.is_some())
            .then(|| Box::new((key_schema, value_schema))),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_and_their_faults() {
        let r = parse(
            br#"{"partition_id":1,"headers":[{"name":"h","value":"AQI="},{"name":"h","value":null}],
                "key":{"type":"STRING","data":"k"},"value":{"type":"BINARY","data":"aGk="},
                "timestamp":"2023-03-09T14:07:23.592Z"}"#,
        )
        .unwrap();
        assert_eq!(r.partition, Some(1));
        assert_eq!(r.key.unwrap(), Data::plain("STRING", Some(b"k".to_vec())));
        assert_eq!(
            r.value.unwrap(),
            Data::plain("BINARY", Some(b"hi".to_vec()))
        );
        assert_eq!(r.timestamp, Some(1_678_370_843_592));
        assert_eq!(r.headers.len(), 2);
        assert_eq!(r.headers[0].1.as_deref(), Some(&[1u8, 2][..]));
        assert_eq!(r.headers[1].1, None);
        let j = parse(br#"{"value":{"type":"JSON","data":{"a":[1,2]}}}"#).unwrap();
        assert_eq!(j.value.unwrap().bytes.unwrap(), br#"{"a":[1,2]}"#);
        assert!(parse(b"{}").unwrap().value.is_none());
        assert!(parse(br#"{"value":null}"#).unwrap().value.is_none());
        let null = parse(br#"{"value":{"type":"JSON","data":null}}"#).unwrap();
        assert_eq!(null.value.unwrap(), Data::plain("JSON", None));
        for (bad, code, text) in [
            (
                &br#"{"value":{"type":"BINARY","data":"!!"}}"#[..],
                400,
                "data=!! is not a base64 string.",
            ),
            (
                br#"{"value":{"type":"BINARY","data":1}}"#,
                400,
                "data=1 is not a base64 string.",
            ),
            (br#"{"records":[]}"#, 400, "unknown field `records`"),
            (br#"{"partition_id":-1}"#, 40402, "Partition not found."),
            (
                br#"{"value":{"type":"AVRO","schema_id":1,"data":1}}"#,
                400,
                "'schema_id=1' cannot be used with 'serializer'.",
            ),
            (
                br#"{"value":{"schema":"\"int\"","data":1}}"#,
                400,
                "needs its type",
            ),
            (
                br#"{"value":{"schema_id":1,"schema_version":1,"data":1}}"#,
                400,
                "Only one of 'schema_id', 'schema_version' or 'schema' can be used.",
            ),
            (
                br#"{"value":{"subject":"s","subject_name_strategy":"TOPIC_NAME","data":1}}"#,
                400,
                "Only one of 'subject_name_strategy' or 'subject' can be used.",
            ),
            (
                br#"{"value":{"subject_name_strategy":"RECORD_NAME","data":1}}"#,
                400,
                "Cannot use schema_subject_strategy=RECORD_NAME without schema_id or schema.",
            ),
            (
                br#"{"value":{"subject_name_strategy":"NOPE","schema_id":1,"data":1}}"#,
                400,
                "unknown subject_name_strategy",
            ),
            (
                br#"{"value":{"type":"STRING","data":1}}"#,
                400,
                "not a string",
            ),
            (br#"{"timestamp":"yesterday"}"#, 400, "ISO-8601"),
            (br#"{"headers":[{"name":"h","value":"%"}]}"#, 400, "base64"),
            (
                br#"{"value":{"type":"JSON","schema_id":1,"data":1}}"#,
                400,
                "'type=JSON' cannot be used with 'schema_id'.",
            ),
        ] {
            let e = parse(bad).unwrap_err();
            assert_eq!(e.error_code, code, "{}", String::from_utf8_lossy(bad));
            assert!(
                e.message.contains(text),
                "{}: {}",
                String::from_utf8_lossy(bad),
                e.message
            );
        }
    }
}
