//! One record of a v3 produce request (`POST /v3/clusters/{c}/topics/{t}/records`): its JSON
//! (`partition_id`, `headers` with base64 values and repeatable names, `key` and `value` data
//! objects, an ISO-8601 `timestamp`), turned into Kafka bytes. Data objects of type BINARY
//! (base64), JSON (any JSON, written as its text) and STRING (UTF-8); key and value may differ.

use std::borrow::Cow;

use base64::Engine;
use bytes::Bytes;
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;

use crate::http::error::ApiError;
use crate::record::Header;

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
/// delivery report names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Data {
    pub kind: &'static str,
    pub bytes: Option<Vec<u8>>,
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
}

fn bad(message: impl std::fmt::Display) -> ApiError {
    ApiError::bad_request(message)
}

fn data(which: &str, d: DataIn<'_>) -> Result<Option<Data>, ApiError> {
    let schema_given = d.subject.is_some()
        || d.subject_name_strategy.is_some()
        || d.schema_id.is_some()
        || d.schema_version.is_some()
        || d.schema.is_some();
    let kind = d.kind.as_deref().map(str::to_ascii_uppercase);
    match kind.as_deref() {
        Some(kind @ ("BINARY" | "JSON" | "STRING")) if schema_given => Err(bad(format!(
            "{which}: type {kind} takes no subject, schema_id, schema_version or schema"
        ))),
        // `data: null` with a type is a null key or value (Confluent's NoSchemaRecordSerializer).
        Some(kind @ ("BINARY" | "JSON" | "STRING")) if d.data.is_none() => Ok(Some(Data {
            kind: match kind {
                "BINARY" => "BINARY",
                "JSON" => "JSON",
                _ => "STRING",
            },
            bytes: None,
        })),
        Some("BINARY") => {
            let raw = d.data.map_or("null", RawValue::get);
            let text: Cow<'_, str> = serde_json::from_str(raw)
                .map_err(|_| bad(format!("data={raw} is not a base64 string.")))?;
            base64::engine::general_purpose::STANDARD
                .decode(text.as_bytes())
                .map(|bytes| Some(Data { kind: "BINARY", bytes: Some(bytes) }))
                .map_err(|_| bad(format!("data={text} is not a base64 string.")))
        }
        // Written compact, as Jackson writes the tree it read.
        Some("JSON") => {
            let raw = d.data.map_or("null", RawValue::get);
            let value: Value = serde_json::from_str(raw).map_err(bad)?;
            Ok(Some(Data {
                kind: "JSON",
                bytes: Some(value.to_string().into_bytes()),
            }))
        }
        Some("STRING") => {
            let raw = d.data.map_or("null", RawValue::get);
            let text: Cow<'_, str> = serde_json::from_str(raw)
                .map_err(|_| bad(format!("data={raw} is not a string.")))?;
            Ok(Some(Data {
                kind: "STRING",
                bytes: Some(text.into_owned().into_bytes()),
            }))
        }
        Some(kind @ ("AVRO" | "JSONSCHEMA" | "PROTOBUF")) => Err(bad(format!(
            "{which}: type {kind} (schema-based data) is not served by this proxy's v3 produce \
             yet; produce it through v2 with its embedded format"
        ))),
        Some(other) => Err(bad(format!(
            "{which}: unknown type {other}: expected BINARY, JSON, STRING, AVRO, JSONSCHEMA or PROTOBUF"
        ))),
        None => Err(bad(format!(
            "{which}: a data object without a type is schema-based (the subject's schema), which \
             this proxy's v3 produce does not serve yet: give type BINARY, JSON or STRING"
        ))),
    }
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
    Ok(Record {
        partition: r.partition_id,
        headers,
        key: r.key.map(|d| data("key", d)).transpose()?.flatten(),
        value: r.value.map(|d| data("value", d)).transpose()?.flatten(),
        timestamp: r.timestamp.as_deref().map(timestamp).transpose()?,
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
        assert_eq!(
            r.key.unwrap(),
            Data {
                kind: "STRING",
                bytes: Some(b"k".to_vec())
            }
        );
        assert_eq!(
            r.value.unwrap(),
            Data {
                kind: "BINARY",
                bytes: Some(b"hi".to_vec())
            }
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
        assert_eq!(
            null.value.unwrap(),
            Data {
                kind: "JSON",
                bytes: None
            }
        );
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
            (br#"{"value":{"data":1}}"#, 400, "schema-based"),
            (
                br#"{"value":{"type":"AVRO","schema":"\"int\"","data":1}}"#,
                400,
                "AVRO",
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
                "takes no",
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
