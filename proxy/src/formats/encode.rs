//! Produce side: a request's records in their embedded format, checked and converted to Kafka
//! bytes; any invalid record fails the whole request.

use std::ops::Range;

use bytes::Bytes;
use serde_json::value::RawValue;

use super::embedded::{EmbeddedFormat, FormatError};
use super::encoded::RawRecord;
use super::{avro, avro_stream, binary, json, jsonschema_stream, protobuf};
use crate::record::{EncodedRecord, EncodedRecords};
use crate::schema::kinds::Parsed;

/// A resolved key or value schema of a produce request: its id and parsed form.
#[derive(Clone)]
pub struct ResolvedSchema {
    pub id: i32,
    pub schema: crate::schema::kinds::Parsed,
}

/// One key or value (`text`, one JSON value) as its schema's format writes it, in Confluent's
/// framing (magic byte, schema id, payload): Avro binary, JSON Schema's compact JSON once the
/// data validates, or Protobuf's message-index list and binary. The error says why the data does
/// not fit.
pub fn encode_value(schema: &ResolvedSchema, text: &str) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(text.len() + 8);
    write_value(schema, text, true, &mut out).map_err(|e| match e {
        ValueError::Json(e) | ValueError::Schema(e) => e,
    })?;
    Ok(out)
}

/// Why a key or value does not encode.
enum ValueError {
    /// Not JSON that standard parsers take.
    Json(String),
    /// Does not fit its schema.
    Schema(String),
}

/// Appends one framed key or value. With `one_pass`, the one-pass encoders (checkers) are tried
/// first; returns whether they took it, so that a request's later records skip them once they
/// gave up. Whatever path encodes it, the bytes are the same.
fn write_value(
    schema: &ResolvedSchema,
    text: &str,
    one_pass: bool,
    out: &mut Vec<u8>,
) -> Result<bool, ValueError> {
    let tree = || {
        serde_json::from_str::<serde_json::Value>(text).map_err(|e| ValueError::Json(e.to_string()))
    };
    match &schema.schema {
        Parsed::Avro(s) => {
            avro::frame(schema.id, &[], out);
            if one_pass && avro_stream::write(s, text, out) {
                return Ok(true);
            }
            avro::write_value(s, &tree()?, out).map_err(|e| ValueError::Schema(e.to_string()))?;
        }
        Parsed::Protobuf(s) => {
            if one_pass && protobuf::write_one_pass(s, schema.id, text, out) {
                return Ok(true);
            }
            let framed = protobuf::encode(s, schema.id, tree()?)
                .map_err(|e| ValueError::Schema(e.to_string()))?;
            out.extend_from_slice(&framed);
        }
        Parsed::Json(s) => {
            avro::frame(schema.id, &[], out);
            if one_pass
                && s.plan
                    .as_ref()
                    .is_some_and(|p| jsonschema_stream::write(p, text, out))
            {
                return Ok(true);
            }
            let json = tree()?;
            let error = s.validator.iter_errors(&json).next().map(|first| {
                format!(
                    "does not match its JSON Schema: {first} (at {})",
                    first.instance_path()
                )
            });
            if let Some(error) = error {
                return Err(ValueError::Schema(error));
            }
            jsonschema_stream::compact(text, out);
        }
    }
    Ok(false)
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
    Ok(EncodedRecords::new(arena.into(), out))
}

/// Encodes a request's keys (or values) with their schema onto the request's arena.
struct Encoder<'a> {
    format: EmbeddedFormat,
    schema: Option<&'a ResolvedSchema>,
    what: &'static str,
    /// Try the one-pass encoders and checkers first ([`avro_stream`],
    /// [`protobuf::write_one_pass`], [`jsonschema_stream`]); off for the rest of the request once
    /// they gave up, since a request's records mostly share their shape.
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
        let matches = matches!(
            (&schema.schema, self.format),
            (Parsed::Avro(_), EmbeddedFormat::Avro)
                | (Parsed::Json(_), EmbeddedFormat::JsonSchema)
                | (Parsed::Protobuf(_), EmbeddedFormat::Protobuf)
        );
        if !matches {
            return Err(FormatError::Schema(format!(
                "the {what} schema {} is not a schema of the {} format",
                schema.id,
                self.format.media_type()
            )));
        }
        match write_value(schema, raw.get(), self.one_pass, arena) {
            Ok(taken) => self.one_pass &= taken,
            Err(ValueError::Json(e)) => return Err(FormatError::InvalidJson(e)),
            Err(ValueError::Schema(e)) => {
                return Err(FormatError::Schema(format!("record {index} {what}: {e}")))
            }
        }
        Ok(Some(start..arena.len()))
    }
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
