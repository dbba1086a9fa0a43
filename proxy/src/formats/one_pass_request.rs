//! A whole Avro or Protobuf produce body encoded in one pass: the request's JSON tokenizer drives
//! the schema's one-pass encoder straight from each record's `value`, so a value is read once.
//! The usual path reads the body twice: first into records holding their values as raw JSON
//! (every value is tokenized to find its end), then each value again to encode it. For Avro at
//! 100 records per request, that first pass was 14.6% of the proxy's CPU (README,
//! "Performance"). A JSON Schema body is read by hand instead (`jsonschema_request.rs`): its
//! check needs each value's text, which serde's events do not carry.
//!
//! Only the common shape is taken: `{"value_schema_id": N, "records": [...]}` in that order,
//! records with a `value`, no key (absent or null), and an optional `partition`. Anything else
//! (a key, a schema given as text, other members or another order, a value the one-pass encoder
//! gives up on, too many records, bad JSON) answers `None`, and the caller parses and encodes
//! the body the usual way, which defines every error. Whatever this writes is byte for byte what
//! the usual path writes (`tests` below compare the two).

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::encode::ResolvedSchema;
use super::{avro, avro_stream, jsonschema_request, protobuf_stream};
use crate::json_int::JsonInt;
use crate::record::{EncodedRecord, EncodedRecords};
use crate::schema::kinds::Parsed;
use crate::schema::proto::write_indexes;

/// The value schema id of a body that starts `{"value_schema_id": N, "records": ...`; None for
/// any other start (the body then takes the usual path).
pub fn leading_value_schema_id(body: &[u8]) -> Option<i32> {
    let found = std::cell::Cell::new(None);
    let mut de = serde_json::Deserializer::from_slice(body);
    // The visitor stops at "records", so the parse itself ends in an error: only `found` counts.
    let _ = de.deserialize_map(Leading(&found));
    found.get()
}

struct Leading<'c>(&'c std::cell::Cell<Option<i32>>);

impl<'de> Visitor<'de> for Leading<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a produce request object")
    }

    fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<(), M::Error> {
        if map.next_key_seed(Member)? != Some(Name::ValueSchemaId) {
            return Err(give_up());
        }
        let id = map.next_value::<JsonInt<i64>>()?.0;
        if map.next_key_seed(Member)? == Some(Name::Records) {
            self.0.set(i32::try_from(id).ok());
        }
        Err(give_up())
    }
}

/// Encodes a body whose value schema is `value` (resolved from [`leading_value_schema_id`]),
/// with `path_partition` for records naming none. None: take the usual path.
pub fn encode(
    body: &[u8],
    value: &ResolvedSchema,
    max_records: usize,
    path_partition: Option<i32>,
) -> Option<EncodedRecords> {
    let target = match &value.schema {
        Parsed::Avro(schema) => Target::Avro(schema),
        Parsed::Protobuf(schema) => Target::Protobuf(schema.layout()?),
        Parsed::Json(schema) => {
            let plan = schema.plan.as_ref()?;
            return jsonschema_request::encode(body, plan, value.id, max_records, path_partition);
        }
    };
    let mut out = Out {
        target,
        id: value.id,
        max_records,
        path_partition,
        arena: Vec::with_capacity(body.len()),
        records: Vec::new(),
    };
    // The whole body's UTF-8 is checked in one go: read as a `str`, serde_json does not check
    // each string again (that was 6% of the proxy's CPU in `avro-100`).
    let text = std::str::from_utf8(body).ok()?;
    let mut de = serde_json::Deserializer::from_str(text);
    de.deserialize_map(Body(&mut out)).ok()?;
    de.end().ok()?;
    if out.records.is_empty() {
        return None;
    }
    Some(EncodedRecords {
        data: out.arena.into(),
        records: out.records,
    })
}

/// The schema's one-pass encoder.
enum Target<'s> {
    Avro(&'s crate::schema::kinds::AvroSchema),
    Protobuf(&'s crate::schema::proto_layout::Layout),
}

/// What the pass writes: the framed values in one arena, and the records.
struct Out<'s> {
    target: Target<'s>,
    id: i32,
    max_records: usize,
    path_partition: Option<i32>,
    arena: Vec<u8>,
    records: Vec<EncodedRecord>,
}

impl Out<'_> {
    /// Appends one framed value (Confluent's framing, then the encoder's bytes), as
    /// `encode::write_value` does.
    fn value<'de, D: Deserializer<'de>>(&mut self, d: D) -> Result<(), D::Error> {
        avro::frame(self.id, &[], &mut self.arena);
        match self.target {
            Target::Avro(schema) => avro_stream::Seed::new(schema, &mut self.arena).deserialize(d),
            Target::Protobuf(layout) => {
                write_indexes(&[0], &mut self.arena);
                protobuf_stream::Seed::new(layout, &mut self.arena).deserialize(d)
            }
        }
    }
}

/// Why the pass stopped; never shown (the usual path gives the answer).
fn give_up<E: de::Error>() -> E {
    E::custom("not a body the one-pass request encoder takes")
}

/// The members this pass knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Name {
    ValueSchemaId,
    Records,
    Key,
    Value,
    Partition,
    Other,
}

struct Member;

impl<'de> DeserializeSeed<'de> for Member {
    type Value = Name;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Name, D::Error> {
        d.deserialize_str(self)
    }
}

impl Visitor<'_> for Member {
    type Value = Name;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a member name")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Name, E> {
        Ok(match v {
            "value_schema_id" => Name::ValueSchemaId,
            "records" => Name::Records,
            "key" => Name::Key,
            "value" => Name::Value,
            "partition" => Name::Partition,
            _ => Name::Other,
        })
    }
}

/// The body: exactly `value_schema_id`, then `records`.
struct Body<'a, 's>(&'a mut Out<'s>);

impl<'de> Visitor<'de> for Body<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a produce request object")
    }

    fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<(), M::Error> {
        if map.next_key_seed(Member)? != Some(Name::ValueSchemaId)
            || i64::from(self.0.id) != map.next_value::<JsonInt<i64>>()?.0
            || map.next_key_seed(Member)? != Some(Name::Records)
        {
            return Err(give_up());
        }
        map.next_value_seed(Records(self.0))?;
        match map.next_key_seed(Member)? {
            None => Ok(()),
            Some(_) => Err(give_up()),
        }
    }
}

/// `records`: an array of at most `max_records` records.
struct Records<'a, 's>(&'a mut Out<'s>);

impl<'de> DeserializeSeed<'de> for Records<'_, '_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for Records<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of records")
    }

    fn visit_seq<S: SeqAccess<'de>>(self, mut seq: S) -> Result<(), S::Error> {
        while seq.next_element_seed(Record(self.0))?.is_some() {
            if self.0.records.len() > self.0.max_records {
                return Err(give_up());
            }
        }
        Ok(())
    }
}

/// One record: a value, no key, and perhaps a partition; each member at most once.
struct Record<'a, 's>(&'a mut Out<'s>);

impl<'de> DeserializeSeed<'de> for Record<'_, '_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Record<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a record object")
    }

    fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<(), M::Error> {
        let out = self.0;
        let (mut key, mut value, mut partition) = (false, None, None);
        while let Some(name) = map.next_key_seed(Member)? {
            match name {
                Name::Key if !key => {
                    key = true;
                    if map.next_value::<Option<IgnoredAny>>()?.is_some() {
                        return Err(give_up());
                    }
                }
                Name::Value if value.is_none() => {
                    let start = out.arena.len();
                    let written = map.next_value_seed(Value(out))?;
                    value = Some(written.then_some(start..out.arena.len()));
                }
                Name::Partition if partition.is_none() => {
                    partition = Some(map.next_value::<Option<JsonInt<i32>>>()?.map(|p| p.0));
                }
                _ => return Err(give_up()),
            }
        }
        let partition = partition.flatten().or(out.path_partition);
        out.records
            .push(EncodedRecord::new(None, value.flatten(), partition));
        Ok(())
    }
}

/// A record's value: null (none), or one framed value. Answers whether it wrote one.
struct Value<'a, 's>(&'a mut Out<'s>);

impl<'de> DeserializeSeed<'de> for Value<'_, '_> {
    type Value = bool;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_option(self)
    }
}

impl<'de> Visitor<'de> for Value<'_, '_> {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a value")
    }

    fn visit_none<E: de::Error>(self) -> Result<bool, E> {
        Ok(false)
    }

    fn visit_unit<E: de::Error>(self) -> Result<bool, E> {
        Ok(false)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        self.0.value(d)?;
        Ok(true)
    }
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
                r#"{"value_schema_id":"7","records":[{"value":{"id":-5,"payload":"\u00e9\"x","tag":{"string":"t"}},"partition":2},{"key":null,"value":null},{"partition":null,"value":{"id":9,"payload":""}}]}"#,
                " { \"value_schema_id\" : 7 , \"records\" : [ { \"value\" : { \"id\" : 3 , \"payload\" : \"b\" } } ] } ",
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
