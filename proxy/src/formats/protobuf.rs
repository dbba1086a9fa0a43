//! The `protobuf` embedded format: JSON records parsed into a dynamic message of the schema's
//! first message type (as Confluent's `JsonFormat.parser()`: proto3 JSON, JSON or original field
//! names, unknown fields refused), written with Confluent's framing and message indexes; consumed
//! records printed as proto3 JSON with lowerCamel names and default values included.

use prost::Message;
use prost_reflect::{DeserializeOptions, DynamicMessage, SerializeOptions};

use crate::schema::proto::{read_indexes, write_indexes, IndexesError, ProtoSchema};
use crate::schema::SchemaError;

/// Why a record does not encode or decode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtobufError {
    /// The schema has no message type for the record.
    #[error("{0}")]
    Schema(#[from] SchemaError),
    /// A JSON record that is not the message type's proto3 JSON.
    #[error("{0}")]
    Json(String),
    #[error("encoding the message: {0}")]
    Encode(String),
    /// A payload whose message indexes do not decode.
    #[error("{0}")]
    Indexes(#[from] IndexesError),
    /// A payload that is not a message of its type.
    #[error("{0}")]
    Decode(String),
}

/// Encodes one JSON value as a framed record of `schema`'s first message type (id `id`).
pub fn encode(
    schema: &ProtoSchema,
    id: i32,
    json: serde_json::Value,
) -> Result<Vec<u8>, ProtobufError> {
    let descriptor = schema.first_message()?;
    let message = DynamicMessage::deserialize_with_options(
        descriptor,
        json,
        &DeserializeOptions::new().deny_unknown_fields(true),
    )
    .map_err(|e| ProtobufError::Json(e.to_string()))?;
    let mut out = Vec::with_capacity(message.encoded_len() + 6);
    super::avro::frame(id, &[], &mut out);
    write_indexes(&[0], &mut out);
    message
        .encode(&mut out)
        .map_err(|e| ProtobufError::Encode(e.to_string()))?;
    Ok(out)
}

/// Appends `text` (one record's proto3 JSON) as a framed record of `schema`'s first message type
/// (id `id`) with the one-pass encoder ([`super::protobuf_stream`]), which writes exactly what
/// [`encode`] writes. Returns false, with `out` as it was, when the record is not a shape it
/// takes: [`encode`] then encodes it or says why it does not fit.
pub fn write_one_pass(schema: &ProtoSchema, id: i32, text: &str, out: &mut Vec<u8>) -> bool {
    let Some(layout) = schema.layout() else {
        return false;
    };
    let start = out.len();
    super::avro::frame(id, &[], out);
    write_indexes(&[0], out);
    let written = super::protobuf_stream::write(layout, text, out);
    if !written {
        out.truncate(start);
    }
    written
}

/// Decodes a framed payload (after the magic byte and id) and appends its proto3 JSON to `out`.
pub fn decode(
    schema: &ProtoSchema,
    payload: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), ProtobufError> {
    let (indexes, data) = read_indexes(payload)?;
    let descriptor = schema.message_at(&indexes)?;
    let message = DynamicMessage::decode(descriptor, data)
        .map_err(|e| ProtobufError::Decode(e.to_string()))?;
    let options = SerializeOptions::new().skip_default_fields(false);
    message
        .serialize_with_options(&mut serde_json::Serializer::new(out), &options)
        .map_err(|e| ProtobufError::Decode(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const SCHEMA: &str = r#"
        syntax = "proto3";
        message Reading {
          string device_id = 1;
          double celsius = 2;
          int64 at = 3;
          repeated string tags = 4;
          enum Kind { UNKNOWN = 0; TEMP = 1; }
          Kind kind = 5;
        }"#;

    #[test]
    fn round_trip_in_confluent_framing() {
        let schema = ProtoSchema::parse(SCHEMA, &[]).unwrap();
        let framed = encode(
            &schema,
            7,
            json!({"device_id": "d1", "celsius": 21.5, "at": "1700000000000", "kind": "TEMP"}),
        )
        .unwrap();
        assert_eq!(&framed[..6], &[0, 0, 0, 0, 7, 0], "magic, id, index [0]");
        let mut out = Vec::new();
        decode(&schema, &framed[5..], &mut out).unwrap();
        let back: serde_json::Value = serde_json::from_slice(&out).unwrap();
        // proto3 JSON: lowerCamel names, 64-bit integers as strings, defaults included.
        assert_eq!(
            back,
            json!({"deviceId": "d1", "celsius": 21.5, "at": "1700000000000", "tags": [],
                   "kind": "TEMP"})
        );
        // JSON names are accepted on input too.
        assert!(encode(&schema, 7, json!({"deviceId": "d2"})).is_ok());
    }

    #[test]
    fn bad_records_are_refused() {
        let schema = ProtoSchema::parse(SCHEMA, &[]).unwrap();
        for bad in [
            json!({"no_such_field": 1}),
            json!({"celsius": "warm"}),
            json!({"kind": "NOPE"}),
            json!([1, 2]),
        ] {
            assert!(encode(&schema, 1, bad.clone()).is_err(), "{bad}");
        }
        let mut out = Vec::new();
        assert!(decode(&schema, &[0, 0xff], &mut out).is_err());
        assert!(
            decode(&schema, &[2, 4], &mut out).is_err(),
            "index [2] does not exist"
        );
    }
}
