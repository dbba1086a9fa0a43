//! A whole Avro or Protobuf produce body encoded in one pass: the body is read by hand
//! (`body_reader.rs`), and each record's value drives the schema's one-pass encoder where it
//! stands, through a deserializer of our own (`json_de.rs`), so a value is read once. The usual
//! path reads the body twice: first into records holding their values as raw JSON (every value
//! is tokenized to find its end), then each value again to encode it; for Avro at 100 records
//! per request, that first pass was 14.6% of the proxy's CPU (docs/performance-log.md). With
//! serde_json reading the body and driving the encoders, its string scan was 18% of the
//! encoding (`avro-100`). A JSON Schema value is checked and written by its own scanner
//! (`jsonschema_stream::write_at`) where it stands: its check keeps the value's text, numbers
//! included, which serde's events do not carry. A value of the flattest shape (an object of
//! scalar members: `avro_flat.rs`, `protobuf_flat.rs`, `jsonschema_flat.rs`) is written without
//! serde or the general pass; any other value goes to the general encoder from where it started.
//!
//! Only the plainest form of the common shape is taken: `{"value_schema_id": N, "records":
//! [...]}`, optionally with a `"key_schema_id": K` before or after the value's, with N and K
//! JSON integers and the records last; records with a `value`, a `key` (absent or null without
//! a key schema id), and an optional `partition` (see `body_reader.rs`). Anything else (a schema
//! given as text, other members or another order, a value the one-pass encoder gives up on, too
//! many records, bad JSON) answers `None`, and the caller parses and encodes the body the usual
//! way, which defines every error. Whatever this writes is byte for byte what the usual path
//! writes (`tests` below, and the fuzz target `one_pass_request`).

use serde::de::DeserializeSeed;

use super::body_reader::{schema_records, Part, Reader};
use super::encode::ResolvedSchema;
use super::json_de::ValueReader;
use super::{
    avro_flat, avro_stream, jsonschema_flat, jsonschema_stream, protobuf_flat, protobuf_stream,
};
use crate::record::EncodedRecords;
use crate::schema::json_plan::Plan;
use crate::schema::kinds::{AvroSchema, Parsed};
use crate::schema::proto::write_indexes;
use crate::schema::proto_layout::{Layout, MessageLayout};

pub use super::body_reader::SchemaIds;

/// The schema ids of a body that starts `{"value_schema_id": N, "records": ...`, or with a
/// `key_schema_id` beside N (JSON integers); None for any other start (the body then takes the
/// usual path). Only the start is read, and only its UTF-8 checked ([`encode`] checks the whole
/// body's): the bytes before the first `[`, which hold the whole head of a body of that shape
/// (the head has no `[`, and the records' array opens with one).
pub fn leading_schema_ids(body: &[u8]) -> Option<SchemaIds> {
    let head = &body[..memchr::memchr(b'[', body)?];
    Reader::new(std::str::from_utf8(head).ok()?).schema_head()
}

/// Encodes a body whose schemas are `key` and `value` (resolved from [`leading_schema_ids`]),
/// with `path_partition` for records naming none. None: take the usual path.
pub fn encode(
    body: &[u8],
    key: Option<&ResolvedSchema>,
    value: &ResolvedSchema,
    max_records: usize,
    path_partition: Option<i32>,
) -> Option<EncodedRecords> {
    let keys = match key {
        Some(k) => Some(Writer::new(&k.schema)?),
        None => None,
    };
    let values = Writer::new(&value.schema)?;
    let ids = SchemaIds {
        key: key.map(|k| k.id),
        value: value.id,
    };
    schema_records(
        body,
        ids,
        max_records,
        path_partition,
        |r, part, arena| match part {
            // A key without a key schema id was refused before (`schema_records`).
            Part::Key => keys.as_ref()?.write(r, arena),
            Part::Value => values.write(r, arena),
        },
    )
}

/// How one schema's keys or values are written, chosen once per request.
enum Writer<'s> {
    /// `flat`: the schema, resolved, when its values can be flat (`avro_flat.rs`: records of
    /// scalar fields, or a scalar alone). A record with a field the flat writer never takes
    /// would try it, and fail, per record: such a schema goes straight to the general encoder.
    Avro {
        schema: &'s AvroSchema,
        flat: Option<&'s apache_avro::Schema>,
    },
    /// The first message type's layout (Confluent's message index `[0]`).
    Protobuf {
        layout: &'s Layout,
        message: &'s MessageLayout,
    },
    Json(&'s Plan),
}

impl<'s> Writer<'s> {
    /// None for a schema the one pass does not write (the usual path then does).
    fn new(schema: &'s Parsed) -> Option<Self> {
        Some(match schema {
            Parsed::Avro(schema) => Writer::Avro {
                schema,
                flat: schema
                    .resolve(&schema.schema)
                    .ok()
                    .filter(|s| avro_flat::takes_any(s)),
            },
            Parsed::Protobuf(schema) => {
                let layout = schema.layout()?;
                Writer::Protobuf {
                    layout,
                    message: layout.messages.first()?,
                }
            }
            Parsed::Json(schema) => Writer::Json(schema.plan.as_ref()?),
        })
    }

    /// The key or value at the reader onto `arena` (after its frame), the reader after it.
    fn write(&self, r: &mut Reader<'_>, arena: &mut Vec<u8>) -> Option<()> {
        match *self {
            Writer::Avro { schema, flat } => {
                if let Some(flat) = flat {
                    if flat_or_rewind(r, arena, |r, out| avro_flat::write_any(flat, r, out)) {
                        return Some(());
                    }
                }
                read_value(r, |d| avro_stream::Seed::new(schema, arena).deserialize(d))
            }
            Writer::Protobuf { layout, message } => {
                write_indexes(&[0], arena);
                if flat_or_rewind(r, arena, |r, out| protobuf_flat::write(message, r, out)) {
                    return Some(());
                }
                read_value(r, |d| {
                    protobuf_stream::Seed::new(layout, arena).deserialize(d)
                })
            }
            Writer::Json(plan) => {
                if !flat_or_rewind(r, arena, |r, out| jsonschema_flat::write(plan, r, out)) {
                    r.at = jsonschema_stream::write_at(plan, r.text, r.at, arena)?;
                }
                Some(())
            }
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
    const PROTO_KEY: &str = "syntax = \"proto3\"; message K { string name = 1; sint32 n = 2; }";

    fn schema(kind: SchemaType, text: &str) -> ResolvedSchema {
        ResolvedSchema {
            id: 7,
            schema: parse(kind, text).unwrap(),
        }
    }

    /// The key schema `text`, registered as id 5.
    fn key_schema(kind: SchemaType, text: &str) -> ResolvedSchema {
        ResolvedSchema {
            id: 5,
            schema: parse(kind, text).unwrap(),
        }
    }

    /// The one pass as `rest::schemas::encode_one_pass` runs it: the key schema (by the id the
    /// body names) only when the body's head names one.
    fn one_pass(
        body: &str,
        key: &ResolvedSchema,
        value: &ResolvedSchema,
        max: usize,
        path: Option<i32>,
    ) -> Option<EncodedRecords> {
        let ids = leading_schema_ids(body.as_bytes())?;
        let key = ids.key.map(|id| ResolvedSchema {
            id,
            schema: key.schema.clone(),
        });
        encode(body.as_bytes(), key.as_ref(), value, max, path)
    }

    /// The usual path: records with raw values, then the encoders.
    fn usual(
        body: &str,
        format: EmbeddedFormat,
        key: &ResolvedSchema,
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
        let key = body.contains("key_schema_id").then_some(key);
        encode_schema_records(format, &records, key, Some(value)).unwrap()
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
        let avro_key = key_schema(SchemaType::Avro, r#""string""#);
        let cases = [
            (EmbeddedFormat::Avro, avro_key.clone(), schema(SchemaType::Avro, AVRO), vec![
                r#"{"value_schema_id":7,"records":[{"value":{"id":1,"payload":"a"}}]}"#,
                r#"{"value_schema_id":7,"records":[{"value":{"id":-5,"payload":"\u00e9\"x","tag":{"string":"t"}},"partition":2},{"key":null,"value":null},{"partition":null,"value":{"id":9,"payload":""}}]}"#,
                " { \"value_schema_id\" : 7 , \"records\" : [ { \"value\" : { \"id\" : 3 , \"payload\" : \"b\" } } ] } ",
                // Flat records (`avro_flat.rs`) between records the general encoder takes.
                r#"{"value_schema_id":7,"records":[{"value":{"id":1,"payload":"a","tag":null}},{"value":{"id":2,"payload":"b\"","tag":null}},{"value":{"id":3,"payload":"c","tag":{"string":"t"}},"partition":1},{"value":{"id":4,"payload":"d","tag":{"string":"\u00e9"}}}]}"#,
                // Keys with a key schema (id 5), named before or after the value's.
                r#"{"key_schema_id":5,"value_schema_id":7,"records":[{"key":"a","value":{"id":1,"payload":"a"}},{"value":{"id":2,"payload":"b"}},{"key":null,"value":{"id":3,"payload":"c"},"partition":1},{"value":null,"key":"\u00e9"}]}"#,
                r#"{ "value_schema_id" : 7 , "key_schema_id" : 5 , "records" : [ { "key" : "" , "value" : { "id" : 1 , "payload" : "a" } } ] }"#,
                // A key schema id and no key: echoed, and the records written without keys.
                r#"{"key_schema_id":5,"value_schema_id":7,"records":[{"value":{"id":1,"payload":"a"}}]}"#,
            ]),
            // A record as the key schema: the flat writer takes keys too.
            (EmbeddedFormat::Avro, key_schema(SchemaType::Avro, AVRO), schema(SchemaType::Avro, AVRO), vec![
                r#"{"key_schema_id":5,"value_schema_id":7,"records":[{"key":{"id":1,"payload":"k","tag":null},"value":{"id":1,"payload":"a"}},{"key":{"id":2,"payload":"k","tag":{"string":"t"}},"value":{"id":2,"payload":"b","tag":null}}]}"#,
            ]),
            (EmbeddedFormat::Protobuf, key_schema(SchemaType::Protobuf, PROTO_KEY), schema(SchemaType::Protobuf, PROTO), vec![
                r#"{"value_schema_id":7,"records":[{"value":{"id":1,"payload":"a"}},{"value":{"id":"12","payload":"b"},"partition":1}]}"#,
                r#"{"key_schema_id":5,"value_schema_id":7,"records":[{"key":{"name":"k","n":-3},"value":{"id":1,"payload":"a"}},{"key":{"n":"4"},"value":{"id":2,"payload":"b"}},{"key":{},"value":null}]}"#,
            ]),
            (EmbeddedFormat::JsonSchema, key_schema(SchemaType::Json, r#"{"type":"string","maxLength":3}"#), schema(SchemaType::Json, JSON), vec![
                r#"{"value_schema_id":7,"records":[{"value":{"id":1,"payload":"a"}},{"value":null},{"value":{ "payload" : "\u00e9\"x" , "id" : 2 , "score" : 2.5e0 , "more" : [ 1 , -0 ] },"partition":1}]}"#,
                " {\n\"value_schema_id\" :\t7 , \"records\" : [ { \"key\" : null , \"partition\" : null , \"value\" : { \"id\" : 0 } } , { } , {\"partition\":-2,\"value\":{\"id\":3}} ] }\r\n",
                r#"{"key_schema_id":5,"value_schema_id":7,"records":[{"key":"abc","value":{"id":1,"payload":"a"}},{"key":"\u00e9","value":{"id":2}}]}"#,
            ]),
        ];
        for (format, key, value, bodies) in &cases {
            for body in bodies {
                for path in [None, Some(3)] {
                    let one = one_pass(body, key, value, 1000, path)
                        .unwrap_or_else(|| panic!("taken: {body}"));
                    same(&one, &usual(body, *format, key, value, path));
                    let ids = leading_schema_ids(body.as_bytes()).unwrap();
                    assert_eq!(ids.value, 7, "{body}");
                    assert_eq!(ids.key.is_some(), body.contains("key_schema_id"), "{body}");
                }
            }
        }
        // Keys need the key schema the head names, and only then.
        let avro = schema(SchemaType::Avro, AVRO);
        let keyed = cases[0].3[4];
        assert!(encode(keyed.as_bytes(), None, &avro, 10, None).is_none());
        let other = key_schema(SchemaType::Avro, r#""string""#);
        let other = ResolvedSchema { id: 6, ..other };
        assert!(encode(keyed.as_bytes(), Some(&other), &avro, 10, None).is_none());
        let keyless = cases[0].3[0];
        assert!(encode(keyless.as_bytes(), Some(&avro_key), &avro, 10, None).is_none());
    }

    #[test]
    fn anything_else_takes_the_usual_path() {
        let avro = schema(SchemaType::Avro, AVRO);
        let avro_key = key_schema(SchemaType::Avro, r#""string""#);
        let bodies = [
            // Another start: the records first, a schema as text, another member, another id.
            r#"{"records":[{"value":{"id":1,"payload":"a"}}],"value_schema_id":7}"#,
            r#"{"value_schema":"\"long\"","records":[{"value":1}]}"#,
            r#"{"value_schema_id":8,"records":[{"value":{"id":1,"payload":"a"}}]}"#,
            r#"{"value_schema_id":"7","records":[{"value":{"id":1,"payload":"a"}}]}"#,
            // A member after the records; a key; a repeated or unknown member in a record.
            r#"{"value_schema_id":7,"records":[{"value":{"id":1,"payload":"a"}}],"key_schema_id":1}"#,
            r#"{"value_schema_id":7,"records":[{"key":"k","value":{"id":1,"payload":"a"}}]}"#,
            // Key schema ids: without a value schema id, repeated, as a string, or null; a key
            // its schema does not take.
            r#"{"key_schema_id":5,"records":[{"key":"k","value":{"id":1,"payload":"a"}}]}"#,
            r#"{"key_schema_id":5,"key_schema_id":5,"value_schema_id":7,"records":[{"value":{"id":1,"payload":"a"}}]}"#,
            r#"{"key_schema_id":"5","value_schema_id":7,"records":[{"value":{"id":1,"payload":"a"}}]}"#,
            r#"{"key_schema_id":null,"value_schema_id":7,"records":[{"value":{"id":1,"payload":"a"}}]}"#,
            r#"{"key_schema_id":5,"value_schema_id":7,"records":[{"key":1,"value":{"id":1,"payload":"a"}}]}"#,
            r#"{"key_schema_id":5,"value_schema_id":7,"records":[{"key":"k","key":"k","value":{"id":1,"payload":"a"}}]}"#,
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
                one_pass(body, &avro_key, &avro, 1000, None).is_none(),
                "{body}"
            );
        }
        // More records than the cap: the usual path refuses the request.
        let two = r#"{"value_schema_id":7,"records":[{"value":{"id":1,"payload":"a"}},{"value":{"id":2,"payload":"b"}}]}"#;
        assert!(one_pass(two, &avro_key, &avro, 1, None).is_none());
        assert!(one_pass(two, &avro_key, &avro, 2, None).is_some());
        // JSON Schema: values the check leaves to the validator, or that break the schema.
        let json = schema(SchemaType::Json, JSON);
        assert!(one_pass(two, &avro_key, &json, 10, None).is_some());
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
            assert!(
                one_pass(body, &avro_key, &json, 10, None).is_none(),
                "{body}"
            );
        }
        // A schema beyond the check's subset has no one-pass path.
        let beyond = schema(SchemaType::Json, r#"{"type":"object","anyOf":[{}]}"#);
        assert!(one_pass(two, &avro_key, &beyond, 10, None).is_none());
        for body in [
            r#"{"records":[],"value_schema_id":7}"#,
            r#"{"value_schema_id":7.5,"records":[]}"#,
            "[",
            "",
        ] {
            assert_eq!(leading_schema_ids(body.as_bytes()), None, "{body}");
        }
    }
}
