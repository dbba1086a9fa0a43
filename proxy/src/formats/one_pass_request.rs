//! A whole Avro or Protobuf produce body encoded in one pass: the body is read by hand
//! (`body_reader.rs`), and each record's value drives the schema's one-pass encoder where it
//! stands, through a deserializer of our own (`json_de.rs`), so a value is read once. The usual
//! path reads the body twice: first into records holding their values as raw JSON (every value
//! is tokenized to find its end), then each value again to encode it; for Avro at 100 records
//! per request, that first pass was 14.6% of the proxy's CPU (README, "Performance"). With
//! serde_json reading the body and driving the encoders, its string scan was 18% of the
//! encoding (`avro-100`). A JSON Schema value is checked and written by its own scanner
//! (`jsonschema_stream::write_at`) where it stands: its check keeps the value's text, numbers
//! included, which serde's events do not carry. A value of the flattest shape (an object of
//! scalar members: `avro_flat.rs`, `protobuf_flat.rs`, `jsonschema_flat.rs`) is written without
//! serde or the general pass; any other value goes to the general encoder from where it started.
//!
//! Only the plainest form of the common shape is taken: `{"value_schema_id": N, "records":
//! [...]}` in that order with N a JSON integer, records with a `value`, no key (absent or
//! null), and an optional `partition` (see `body_reader.rs`). Anything else (a key, a schema
//! given as text, other members or another order, a value the one-pass encoder gives up on, too
//! many records, bad JSON) answers `None`, and the caller parses and encodes the body the usual
//! way, which defines every error. Whatever this writes is byte for byte what the usual path
//! writes (`tests` below, and the fuzz target `one_pass_request`).

use serde::de::DeserializeSeed;

use super::body_reader::{schema_records, Reader};
use super::encode::ResolvedSchema;
use super::json_de::ValueReader;
use super::{
    avro_flat, avro_stream, jsonschema_flat, jsonschema_stream, protobuf_flat, protobuf_stream,
};
use crate::record::EncodedRecords;
use crate::schema::kinds::Parsed;
use crate::schema::proto::write_indexes;

/// The value schema id of a body that starts `{"value_schema_id": N, "records": ...` (N a JSON
/// integer); None for any other start (the body then takes the usual path). Only the start is
/// read, and only its UTF-8 checked ([`encode`] checks the whole body's): the bytes before the
/// first `[`, which hold the whole head of a body of that shape (the head has no `[`, and the
/// records' array opens with one).
pub fn leading_value_schema_id(body: &[u8]) -> Option<i32> {
    let head = &body[..memchr::memchr(b'[', body)?];
    let id = Reader::new(std::str::from_utf8(head).ok()?).schema_head()?;
    i32::try_from(id).ok()
}

/// Encodes a body whose value schema is `value` (resolved from [`leading_value_schema_id`]),
/// with `path_partition` for records naming none. None: take the usual path.
pub fn encode(
    body: &[u8],
    value: &ResolvedSchema,
    max_records: usize,
    path_partition: Option<i32>,
) -> Option<EncodedRecords> {
    let id = value.id;
    match &value.schema {
        Parsed::Avro(schema) => {
            // A record with a field the flat writer never takes would try it, and fail, per
            // record: such a schema goes straight to the general encoder.
            let flat = match schema.resolve(&schema.schema) {
                Ok(apache_avro::Schema::Record(record)) if avro_flat::takes(record) => Some(record),
                _ => None,
            };
            schema_records(body, id, max_records, path_partition, |r, arena| {
                if let Some(record) = flat {
                    if flat_or_rewind(r, arena, |r, out| avro_flat::write(record, r, out)) {
                        return Some(());
                    }
                }
                read_value(r, |d| avro_stream::Seed::new(schema, arena).deserialize(d))
            })
        }
        Parsed::Protobuf(schema) => {
            let layout = schema.layout()?;
            let message = &layout.messages[0];
            schema_records(body, id, max_records, path_partition, |r, arena| {
                write_indexes(&[0], arena);
                if flat_or_rewind(r, arena, |r, out| protobuf_flat::write(message, r, out)) {
                    return Some(());
                }
                read_value(r, |d| {
                    protobuf_stream::Seed::new(layout, arena).deserialize(d)
                })
            })
        }
        Parsed::Json(schema) => {
            let plan = schema.plan.as_ref()?;
            schema_records(body, id, max_records, path_partition, |r, arena| {
                if !flat_or_rewind(r, arena, |r, out| jsonschema_flat::write(plan, r, out)) {
                    r.at = jsonschema_stream::write_at(plan, r.text, r.at, arena)?;
                }
                Some(())
            })
        }
    }
}

/// Whether `write` took the value at the reader (the flat shape, `avro_flat.rs`,
/// `protobuf_flat.rs`, `jsonschema_flat.rs`): the reader then after it. If not, the reader and
/// `out` are as they were, for the general encoder.
fn flat_or_rewind<'t>(
    r: &mut Reader<'t>,
    out: &mut Vec<u8>,
    write: impl FnOnce(&mut Reader<'t>, &mut Vec<u8>) -> Option<()>,
) -> bool {
    let (at, len) = (r.at, out.len());
    if write(r, out).is_some() {
        return true;
    }
    r.at = at;
    out.truncate(len);
    false
}

/// The value at the reader, handed to `encode`'s deserializer; the reader then after it.
fn read_value<'t>(
    r: &mut Reader<'t>,
    encode: impl FnOnce(&mut ValueReader<'t>) -> Result<(), super::json_de::GiveUp>,
) -> Option<()> {
    let mut d = ValueReader::new(r.text, r.at);
    encode(&mut d).ok()?;
    r.at = d.position();
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::{encode_schema_records, EmbeddedFormat, RawRecord};
    use crate::schema::kinds::{parse, SchemaType};

    const AVRO: &str = r#"{"type":"record","name":"r","fields":[{"name":"id","type":"long"},{"name":"payload","type":"string"},{"name":"tag","type":["null","string"],"default":null}]}"#;
    const PROTO: &str = "syntax = \"proto3\"; message M { int64 id = 1; string payload = 2; }";
    const JSON: &str = r#"{"type":"object","properties":{"id":{"type":"integer","minimum":0},"payload":{"type":"string"}},"required":["id"]}"#;

    fn schema(kind: SchemaType, text: &str) -> ResolvedSchema {
        ResolvedSchema {
            id: 7,
            schema: parse(kind, text).unwrap(),
        }
    }

    /// The usual path: records with raw values, then the encoders.
    fn usual(
        body: &str,
        format: EmbeddedFormat,
        value: &ResolvedSchema,
        path: Option<i32>,
    ) -> EncodedRecords {
        #[derive(serde::Deserialize)]
        struct Req<'a> {
            #[serde(borrow)]
            records: Vec<&'a serde_json::value::RawValue>,
        }
        let req: Req = serde_json::from_str(body).unwrap();
        let records: Vec<RawRecord> = req
            .records
            .iter()
            .map(|r| {
                let mut r: RawRecord = serde_json::from_str(r.get()).unwrap();
                r.partition = r.partition.or(path);
                r
            })
            .collect();
        encode_schema_records(format, &records, None, Some(value)).unwrap()
    }

    fn same(a: &EncodedRecords, b: &EncodedRecords) {
        assert_eq!(a.len(), b.len());
        for (x, y) in a.iter().zip(b.iter()) {
            assert_eq!((x.key, x.value, x.partition), (y.key, y.value, y.partition));
            assert!(x.headers.is_empty() && y.headers.is_empty());
        }
    }

    #[test]
    fn writes_what_the_usual_path_writes() {
        let cases = [
            (EmbeddedFormat::Avro, schema(SchemaType::Avro, AVRO), vec![
                r#"{"value_schema_id":7,"records":[{"value":{"id":1,"payload":"a"}}]}"#,
                r#"{"value_schema_id":7,"records":[{"value":{"id":-5,"payload":"\u00e9\"x","tag":{"string":"t"}},"partition":2},{"key":null,"value":null},{"partition":null,"value":{"id":9,"payload":""}}]}"#,
                " { \"value_schema_id\" : 7 , \"records\" : [ { \"value\" : { \"id\" : 3 , \"payload\" : \"b\" } } ] } ",
                // Flat records (`avro_flat.rs`) between records the general encoder takes.
                r#"{"value_schema_id":7,"records":[{"value":{"id":1,"payload":"a","tag":null}},{"value":{"id":2,"payload":"b\"","tag":null}},{"value":{"id":3,"payload":"c","tag":{"string":"t"}},"partition":1},{"value":{"id":4,"payload":"d","tag":{"string":"\u00e9"}}}]}"#,
            ]),
            (EmbeddedFormat::Protobuf, schema(SchemaType::Protobuf, PROTO), vec![
                r#"{"value_schema_id":7,"records":[{"value":{"id":1,"payload":"a"}},{"value":{"id":"12","payload":"b"},"partition":1}]}"#,
            ]),
            (EmbeddedFormat::JsonSchema, schema(SchemaType::Json, JSON), vec![
                r#"{"value_schema_id":7,"records":[{"value":{"id":1,"payload":"a"}},{"value":null},{"value":{ "payload" : "\u00e9\"x" , "id" : 2 , "score" : 2.5e0 , "more" : [ 1 , -0 ] },"partition":1}]}"#,
                " {\n\"value_schema_id\" :\t7 , \"records\" : [ { \"key\" : null , \"partition\" : null , \"value\" : { \"id\" : 0 } } , { } , {\"partition\":-2,\"value\":{\"id\":3}} ] }\r\n",
            ]),
        ];
        for (format, value, bodies) in &cases {
            for body in bodies {
                for path in [None, Some(3)] {
                    let one = encode(body.as_bytes(), value, 1000, path)
                        .unwrap_or_else(|| panic!("taken: {body}"));
                    same(&one, &usual(body, *format, value, path));
                    assert_eq!(leading_value_schema_id(body.as_bytes()), Some(7), "{body}");
                }
            }
        }
    }

    #[test]
    fn anything_else_takes_the_usual_path() {
        let avro = schema(SchemaType::Avro, AVRO);
        let bodies = [
            // Another start: the records first, a schema as text, another member, another id.
            r#"{"records":[{"value":{"id":1,"payload":"a"}}],"value_schema_id":7}"#,
            r#"{"value_schema":"\"long\"","records":[{"value":1}]}"#,
            r#"{"key_schema_id":7,"value_schema_id":7,"records":[{"value":{"id":1,"payload":"a"}}]}"#,
            r#"{"value_schema_id":8,"records":[{"value":{"id":1,"payload":"a"}}]}"#,
            r#"{"value_schema_id":"7","records":[{"value":{"id":1,"payload":"a"}}]}"#,
            // A member after the records; a key; a repeated or unknown member in a record.
            r#"{"value_schema_id":7,"records":[{"value":{"id":1,"payload":"a"}}],"key_schema_id":1}"#,
            r#"{"value_schema_id":7,"records":[{"key":"k","value":{"id":1,"payload":"a"}}]}"#,
            r#"{"value_schema_id":7,"records":[{"value":{"id":1,"payload":"a"},"value":null}]}"#,
            r#"{"value_schema_id":7,"records":[{"value":{"id":1,"payload":"a"},"offset":1}]}"#,
            // Values the one-pass encoder leaves to the tree encoder, or that do not fit.
            r#"{"value_schema_id":7,"records":[{"value":{"payload":"a","id":1}}]}"#,
            r#"{"value_schema_id":7,"records":[{"value":{"id":"x","payload":"a"}}]}"#,
            r#"{"value_schema_id":7,"records":[{"value":{"id":1,"payload":"\ud800"}}]}"#,
            // No records, records not an array, bad JSON, trailing bytes.
            r#"{"value_schema_id":7,"records":[]}"#,
            r#"{"value_schema_id":7,"records":null}"#,
            r#"{"value_schema_id":7,"records":[{"value":{"id":1,"payload":"a"}}]"#,
            r#"{"value_schema_id":7,"records":[{"value":{"id":1,"payload":"a"}}]} x"#,
            r#"{"value_schema_id":7,"records":[{"value":{"id":1,"payload":"a"}},[]]}"#,
        ];
        for body in bodies {
            assert!(
                encode(body.as_bytes(), &avro, 1000, None).is_none(),
                "{body}"
            );
        }
        // More records than the cap: the usual path refuses the request.
        let two = r#"{"value_schema_id":7,"records":[{"value":{"id":1,"payload":"a"}},{"value":{"id":2,"payload":"b"}}]}"#;
        assert!(encode(two.as_bytes(), &avro, 1, None).is_none());
        assert!(encode(two.as_bytes(), &avro, 2, None).is_some());
        // JSON Schema: values the check leaves to the validator, or that break the schema.
        let json = schema(SchemaType::Json, JSON);
        assert!(encode(two.as_bytes(), &json, 10, None).is_some());
        for body in [
            r#"{"value_schema_id":7,"records":[{"value":{"id":-1}}]}"#,
            r#"{"value_schema_id":7,"records":[{"value":{"payload":"a"}}]}"#,
            r#"{"value_schema_id":7,"records":[{"value":{"id":1,"payload":"\ud800"}}]}"#,
            r#"{"value_schema_id":7,"records":[{"value":{"id":1e999}}]}"#,
            // Forms the hand-read body leaves to the usual path: an id or a partition as a
            // string, escapes in a member name, `-0`, a key, a repeated member, no records.
            r#"{"value_schema_id":"7","records":[{"value":{"id":1}}]}"#,
            r#"{"value_schema_id":7,"records":[{"value":{"id":1},"partition":"1"}]}"#,
            r#"{"value_schema_id":7,"records":[{"valu\u0065":{"id":1}}]}"#,
            r#"{"value_schema_id":7,"records":[{"value":{"id":1},"partition":-0}]}"#,
            r#"{"value_schema_id":7,"records":[{"value":{"id":1},"partition":1.0}]}"#,
            r#"{"value_schema_id":7,"records":[{"value":{"id":1},"partition":2147483648}]}"#,
            r#"{"value_schema_id":7,"records":[{"key":1,"value":{"id":1}}]}"#,
            r#"{"value_schema_id":7,"records":[{"value":{"id":1},"value":{"id":1}}]}"#,
            r#"{"value_schema_id":7,"records":[]}"#,
            r#"{"value_schema_id":7,"records":[{"value":{"id":1}}],"x":1}"#,
            r#"{"value_schema_id":7,"records":[{"value":{"id":1}}]} ]"#,
            r#"{"value_schema_id":07,"records":[{"value":{"id":1}}]}"#,
        ] {
            assert!(encode(body.as_bytes(), &json, 10, None).is_none(), "{body}");
        }
        // A schema beyond the check's subset has no one-pass path.
        let beyond = schema(SchemaType::Json, r#"{"type":"object","anyOf":[{}]}"#);
        assert!(encode(two.as_bytes(), &beyond, 10, None).is_none());
        for body in [
            r#"{"records":[],"value_schema_id":7}"#,
            r#"{"value_schema_id":7.5,"records":[]}"#,
            "[",
            "",
        ] {
            assert_eq!(leading_value_schema_id(body.as_bytes()), None, "{body}");
        }
    }
}
