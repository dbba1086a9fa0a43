//! Produce side: a request's records in their embedded format, checked and converted to Kafka
//! bytes; any invalid record fails the whole request.

use std::ops::Range;

use bytes::Bytes;
use serde_json::value::RawValue;

use super::embedded::{EmbeddedFormat, FormatError};
use super::encoded::RawRecord;
use super::{avro, avro_stream, binary, json, protobuf};
use crate::record::{EncodedRecord, EncodedRecords};
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
/// into framed Kafka bytes, all in one arena. Any invalid record fails the whole request.
pub fn encode_schema_records(
    format: EmbeddedFormat,
    records: &[RawRecord<'_>],
    key: Option<&ResolvedSchema>,
    value: Option<&ResolvedSchema>,
) -> Result<EncodedRecords, FormatError> {
    let estimate: usize = records
        .iter()
        .map(|r| r.key.map_or(0, |k| k.get().len()) + r.value.map_or(0, |v| v.get().len()) + 10)
        .sum();
    let mut arena = Vec::with_capacity(estimate);
    let mut keys = Encoder::new(format, key, "key");
    let mut values = Encoder::new(format, value, "value");
    let mut out = Vec::with_capacity(records.len());
    for (i, r) in records.iter().enumerate() {
        out.push(EncodedRecord::new(
            keys.encode(r.key, i, &mut arena)?,
            values.encode(r.value, i, &mut arena)?,
            r.partition,
        ));
    }
    Ok(EncodedRecords {
        data: arena.into(),
        records: out,
    })
}

/// Encodes a request's keys (or values) with their schema onto the request's arena.
struct Encoder<'a> {
    format: EmbeddedFormat,
    schema: Option<&'a ResolvedSchema>,
    what: &'static str,
    /// Avro and Protobuf: try the one-pass encoder ([`avro_stream`], [`protobuf::write_one_pass`])
    /// first; off for the rest of the request once it gave up, since a request's records mostly
    /// share their shape.
    one_pass: bool,
}

impl<'a> Encoder<'a> {
    fn new(format: EmbeddedFormat, schema: Option<&'a ResolvedSchema>, what: &'static str) -> Self {
        Encoder {
            format,
            schema,
            what,
            one_pass: true,
        }
    }

    /// Appends record `index`'s framed key or value, if it has one, and returns its range.
    fn encode(
        &mut self,
        raw: Option<&RawValue>,
        index: usize,
        arena: &mut Vec<u8>,
    ) -> Result<Option<Range<usize>>, FormatError> {
        let Some(raw) = raw.filter(|r| r.get() != "null") else {
            return Ok(None);
        };
        let what = self.what;
        let schema = self.schema.ok_or_else(|| {
            FormatError::Schema(format!("record {index} has a {what} but no {what} schema"))
        })?;
        let start = arena.len();
        let refused = |e: String| FormatError::Schema(format!("record {index} {what}: {e}"));
        match (&schema.schema, self.format) {
            (Parsed::Avro(s), EmbeddedFormat::Avro) => {
                avro::frame(schema.id, &[], arena);
                if !(self.one_pass && avro_stream::write(s, raw.get(), arena)) {
                    self.one_pass = false;
                    avro::write_value(s, &parse(raw)?, arena)
                        .map_err(|e| refused(e.to_string()))?;
                }
            }
            (Parsed::Protobuf(s), EmbeddedFormat::Protobuf) => {
                if !(self.one_pass && protobuf::write_one_pass(s, schema.id, raw.get(), arena)) {
                    self.one_pass = false;
                    arena.extend_from_slice(&encode_value(schema, parse(raw)?).map_err(refused)?);
                }
            }
            (Parsed::Json(_), EmbeddedFormat::JsonSchema) => {
                arena.extend_from_slice(&encode_value(schema, parse(raw)?).map_err(refused)?);
            }
            _ => {
                return Err(FormatError::Schema(format!(
                    "the {what} schema {} is not a schema of the {} format",
                    schema.id,
                    self.format.media_type()
                )))
            }
        }
        Ok(Some(start..arena.len()))
    }
}

fn parse(raw: &RawValue) -> Result<serde_json::Value, FormatError> {
    serde_json::from_str(raw.get()).map_err(|e| FormatError::InvalidJson(e.to_string()))
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
