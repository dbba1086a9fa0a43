//! Produce side: a request's records in their embedded format, checked and converted to Kafka
//! bytes; any invalid record fails the whole request.

use bytes::Bytes;
use serde_json::value::RawValue;

use super::embedded::{EmbeddedFormat, FormatError};
use super::encoded::RawRecord;
use super::{avro, binary, json, protobuf};
use crate::record::EncodedRecords;
use crate::schema::kinds::Parsed;

/// A resolved key or value schema of a produce request: its id and parsed form.
#[derive(Clone)]
pub struct ResolvedSchema {
    pub id: i32,
    pub schema: crate::schema::kinds::Parsed,
}

/// One key or value as its schema's format writes it, in Confluent's framing (magic byte,
/// schema id, payload): Avro binary, JSON Schema's compact JSON once the data validates, or
/// Protobuf's message-index list and binary. The error says why the data does not fit.
pub fn encode_value(schema: &ResolvedSchema, json: serde_json::Value) -> Result<Vec<u8>, String> {
    match &schema.schema {
        Parsed::Avro(s) => avro::encode(s, schema.id, &json).map_err(|e| e.to_string()),
        Parsed::Json(s) => {
            if let Some(first) = s.validator.iter_errors(&json).next() {
                return Err(format!(
                    "does not match its JSON Schema: {first} (at {})",
                    first.instance_path()
                ));
            }
            let text = serde_json::to_vec(&json).expect("re-serializing");
            let mut out = Vec::with_capacity(text.len() + 5);
            avro::frame(schema.id, &text, &mut out);
            Ok(out)
        }
        Parsed::Protobuf(s) => protobuf::encode(s, schema.id, json).map_err(|e| e.to_string()),
    }
}

/// Converts a schema-format request's records (key/value JSON checked against their schemas)
/// into framed Kafka bytes. Any invalid record fails the whole request.
pub fn encode_schema_records(
    format: EmbeddedFormat,
    records: &[RawRecord<'_>],
    key: Option<&ResolvedSchema>,
    value: Option<&ResolvedSchema>,
) -> Result<EncodedRecords, FormatError> {
    let encode = |raw: Option<&RawValue>,
                  schema: Option<&ResolvedSchema>,
                  what: &str,
                  index: usize|
     -> Result<Option<Vec<u8>>, FormatError> {
        let Some(raw) = raw.filter(|r| r.get() != "null") else {
            return Ok(None);
        };
        let schema = schema.ok_or_else(|| {
            FormatError::Schema(format!("record {index} has a {what} but no {what} schema"))
        })?;
        let json: serde_json::Value =
            serde_json::from_str(raw.get()).map_err(|e| FormatError::InvalidJson(e.to_string()))?;
        let matches = matches!(
            (&schema.schema, format),
            (Parsed::Avro(_), EmbeddedFormat::Avro)
                | (Parsed::Json(_), EmbeddedFormat::JsonSchema)
                | (Parsed::Protobuf(_), EmbeddedFormat::Protobuf)
        );
        if !matches {
            return Err(FormatError::Schema(format!(
                "the {what} schema {} is not a schema of the {} format",
                schema.id,
                format.media_type()
            )));
        }
        encode_value(schema, json)
            .map(Some)
            .map_err(|e| FormatError::Schema(format!("record {index} {what}: {e}")))
    };
    let mut out = Vec::with_capacity(records.len());
    for (i, r) in records.iter().enumerate() {
        out.push((
            encode(r.key, key, "key", i)?,
            encode(r.value, value, "value", i)?,
            r.partition,
        ));
    }
    Ok(EncodedRecords::from_owned(out))
}

/// Converts a request's records into Kafka bytes. Any invalid record fails the whole request.
/// `body` is the request body the raw values borrow from.
/// `json_depth` bounds the nesting of json-format values (`json.max.nesting.depth`).
pub fn encode_records(
    format: EmbeddedFormat,
    body: &Bytes,
    records: &[RawRecord<'_>],
    json_depth: usize,
) -> Result<EncodedRecords, FormatError> {
    match format {
        EmbeddedFormat::Json => json::encode_records(body, records, json_depth),
        EmbeddedFormat::Binary => binary::encode_records(records),
        EmbeddedFormat::Avro | EmbeddedFormat::JsonSchema | EmbeddedFormat::Protobuf => {
            Err(FormatError::SchemaRegistryRequired)
        }
    }
}
