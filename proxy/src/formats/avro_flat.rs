//! The flattest Avro record, the shape nearly every produce request has, written straight from
//! the body's text: an object whose members are the record's fields, all of them, in schema
//! order, each a boolean, int, long, float, double or string, or a union of null and one of those (JSON null or
//! `{"<branch>": value}`), with names and strings free of escapes. Written by hand because the
//! general one-pass encoder (`avro_stream.rs`), driven through serde's visitors, cost Avro a
//! third more proxy CPU per record than binary's base64 (`cargo bench -p proxy-benches --bench
//! produce_decode`, docs/performance-log.md); here a record is one walk of its fields with no
//! dispatch per token.
//!
//! On anything else (a field left out or out of order, another type, an escape, a number serde_json
//! reads as a float for an int or long) it answers None having consumed part of the text,
//! and the caller encodes the value with `avro_stream.rs` from where it started. What it writes
//! is byte for byte what that encoder writes (`tests` below; the fuzz target `one_pass_request`
//! compares whole requests with the usual path).

use apache_avro::schema::{RecordSchema, Schema};

use super::avro::{is_int, is_long, put_bytes, wraps};
use super::body_reader::Reader;
use super::json_scan::{self, Number};
use crate::varint::put_long;

/// Appends the Avro binary of the record at the reader (whitespace before it skipped), the
/// reader then after it. None: not the flat shape; `out` and the reader hold part of it.
pub(super) fn write(record: &RecordSchema, r: &mut Reader<'_>, out: &mut Vec<u8>) -> Option<()> {
    r.byte(b'{')?;
    let mut first = true;
    for field in &record.fields {
        if !first {
            r.byte(b',')?;
        }
        first = false;
        r.name(&field.name)?;
        value(&field.schema, r, out)?;
    }
    r.byte(b'}')
}

/// Whether a record of `record`'s schema can ever be flat: every field a scalar type or a union
/// with null or a scalar among its branches.
pub(super) fn takes(record: &RecordSchema) -> bool {
    record.fields.iter().all(|f| is_flat_field(&f.schema))
}

/// A value of `schema` (resolved) at the reader: a record ([`write`]), or a scalar or a union
/// with scalar branches written alone, as keys mostly are (`"string"`, `"long"`).
pub(super) fn write_any(schema: &Schema, r: &mut Reader<'_>, out: &mut Vec<u8>) -> Option<()> {
    match schema {
        Schema::Record(record) => write(record, r, out),
        other => value(other, r, out),
    }
}

/// Whether [`write_any`] can ever take a value of `schema`.
pub(super) fn takes_any(schema: &Schema) -> bool {
    match schema {
        Schema::Record(record) => takes(record),
        other => is_flat_field(other),
    }
}

/// What [`value`] writes: a scalar type, or a union with null or a scalar among its branches.
fn is_flat_field(schema: &Schema) -> bool {
    match schema {
        Schema::Union(u) => u
            .variants()
            .iter()
            .any(|v| matches!(v, Schema::Null) || is_scalar(v)),
        other => is_scalar(other),
    }
}

/// The types [`scalar`] writes.
fn is_scalar(schema: &Schema) -> bool {
    matches!(
        schema,
        Schema::String | Schema::Float | Schema::Double | Schema::Boolean
    ) || is_long(schema)
        || is_int(schema)
}

/// One field's value.
fn value(schema: &Schema, r: &mut Reader<'_>, out: &mut Vec<u8>) -> Option<()> {
    match schema {
        Schema::Union(u) => match r.peek()? {
            b'n' => {
                r.null()?;
                let i = u
                    .variants()
                    .iter()
                    .position(|v| matches!(v, Schema::Null))?;
                put_long(out, i as i64);
                Some(())
            }
            b'{' => {
                r.at += 1;
                let key = r.string()?;
                r.byte(b':')?;
                let (i, branch) = u
                    .variants()
                    .iter()
                    .enumerate()
                    .find(|(_, v)| wraps(v, key))?;
                put_long(out, i as i64);
                scalar(branch, r, out)?;
                r.byte(b'}')
            }
            _ => None,
        },
        other => scalar(other, r, out),
    }
}

/// A boolean, int, long, float, double or string (or their logical types written as one).
fn scalar(schema: &Schema, r: &mut Reader<'_>, out: &mut Vec<u8>) -> Option<()> {
    match schema {
        Schema::String => put_bytes(out, r.string()?.as_bytes()),
        Schema::Float | Schema::Double => {
            // As the general encoder reads a number for them: every JSON number as an f64.
            r.ws();
            let (end, n) = json_scan::number(r.text, r.at, true)?;
            r.at = end;
            let v = match n {
                Number::U64(n) => n as f64,
                Number::I64(n) => n as f64,
                Number::F64(f) if f.is_finite() => f,
                Number::F64(_) => return None,
            };
            match schema {
                Schema::Float => out.extend_from_slice(&(v as f32).to_le_bytes()),
                _ => out.extend_from_slice(&v.to_le_bytes()),
            }
        }
        s if is_long(s) => put_long(out, r.integer()?),
        s if is_int(s) => put_long(out, i64::from(i32::try_from(r.integer()?).ok()?)),
        Schema::Boolean => out.push(u8::from(r.boolean()?)),
        _ => return None,
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::kinds::AvroSchema;

    /// The flat writer's bytes and where it stopped, or None where it gives up.
    fn flat(schema: &AvroSchema, text: &str) -> Option<(Vec<u8>, usize)> {
        let Schema::Record(record) = schema.resolve(&schema.schema).unwrap() else {
            panic!("a record schema");
        };
        let mut r = Reader::new(text);
        let mut out = Vec::new();
        write(record, &mut r, &mut out)?;
        Some((out, r.at))
    }

    /// The general one-pass encoder's bytes (which are the tree encoder's).
    fn general(schema: &AvroSchema, text: &str) -> Option<Vec<u8>> {
        let mut out = Vec::new();
        super::super::avro_stream::write(schema, text, &mut out).then_some(out)
    }

    /// Whether the tree encoder, which defines Avro produce, takes the record.
    fn valid(schema: &AvroSchema, text: &str) -> bool {
        let Ok(json) = serde_json::from_str::<serde_json::Value>(text) else {
            return false;
        };
        super::super::avro::write_value(schema, &json, &mut Vec::new()).is_ok()
    }

    const FLAT: &str = r#"{"type":"record","name":"F","namespace":"t","fields":[
        {"name":"id","type":"long"},{"name":"payload","type":"string"},
        {"name":"n","type":"int"},{"name":"ok","type":"boolean"},
        {"name":"ts","type":{"type":"long","logicalType":"timestamp-millis"}},
        {"name":"day","type":{"type":"int","logicalType":"date"}},
        {"name":"tag","type":["null","string"],"default":null},
        {"name":"count","type":["long","null"]},
        {"name":"f","type":"float"},{"name":"d","type":["null","double"]},
        {"name":"e","type":{"type":"enum","name":"E","symbols":["A"]},"default":"A"}]}"#;

    /// Every flat record is written as the general encoder writes it, and the reader stops
    /// right after it.
    #[test]
    fn writes_the_general_encoders_bytes() {
        let s = AvroSchema::parse(
            r#"{"type":"record","name":"LoadRecord","namespace":"loadgen","fields":[{"name":"id","type":"long"},{"name":"payload","type":"string"}]}"#,
            &[],
        )
        .unwrap();
        for text in [
            r#"{"id":12345,"payload":"abcdefghijklmnopqrstuvwxyz0123456789"}"#,
            r#" { "id" : -9223372036854775808 , "payload" : "" } "#,
            r#"{"id":9223372036854775807,"payload":"é, ü and 𝄞"}"#,
        ] {
            let (bytes, end) = flat(&s, text).expect("flat");
            assert_eq!(Some(bytes), general(&s, text), "{text}");
            assert_eq!(text[end..].trim(), "", "{text}");
        }
        let s = AvroSchema::parse(
            &FLAT.replace(
                r#",
        {"name":"e","type":{"type":"enum","name":"E","symbols":["A"]},"default":"A"}"#,
                "",
            ),
            &[],
        )
        .unwrap();
        for text in [
            r#"{"id":1,"payload":"p","n":-2147483648,"ok":true,"ts":1700000000000,"day":19000,"tag":null,"count":{"long":7},"f":1.5,"d":{"double":-2.25}}"#,
            r#"{"id":0,"payload":"p","n":2147483647,"ok":false,"ts":-1,"day":-1,"tag":{"string":"x"},"count":null,"f":16777217,"d":null}"#,
            r#"{"id":0,"payload":"p","n":0,"ok":false,"ts":0,"day":0,"tag":null,"count":null,"f":-0.0,"d":{"double":1e300}}"#,
            r#"{"id":0,"payload":"p","n":0,"ok":false,"ts":0,"day":0,"tag":null,"count":null,"f":1e300,"d":{"double":-9223372036854775809}}"#,
            r#"{"id":0,"payload":"p","n":0,"ok":false,"ts":0,"day":0,"tag":null,"count":null,"f":0.1,"d":{"double":18446744073709551615}}"#,
        ] {
            let (bytes, _) = flat(&s, text).expect("flat");
            assert_eq!(Some(bytes), general(&s, text), "{text}");
        }
    }

    /// A scalar schema, or a union of scalars, written alone (keys' usual schemas): the general
    /// encoder's bytes, and given up where the general encoder is needed or refuses.
    #[test]
    fn writes_scalars_alone_as_the_general_encoder() {
        for (schema, text, is_flat) in [
            (r#""string""#, r#""device-17""#, true),
            (r#""string""#, r#""é""#, true),
            (r#""string""#, r#""a\"b""#, false),
            (r#""string""#, "17", false),
            (r#""long""#, "-17", true),
            (r#""long""#, r#""17""#, false),
            (r#""int""#, "2147483648", false),
            (r#""double""#, "2.5", true),
            (r#""boolean""#, "true", true),
            (r#"["null","string"]"#, r#"{"string":"k"}"#, true),
            (r#"["null","string"]"#, r#"{"long":1}"#, false),
            (
                r#"{"type":"enum","name":"E","symbols":["A"]}"#,
                r#""A""#,
                false,
            ),
        ] {
            let s = AvroSchema::parse(schema, &[]).unwrap();
            let resolved = s.resolve(&s.schema).unwrap();
            let mut r = Reader::new(text);
            let mut out = Vec::new();
            let taken = takes_any(resolved) && write_any(resolved, &mut r, &mut out).is_some();
            assert_eq!(taken, is_flat, "{schema} {text}");
            if taken {
                assert_eq!(Some(out), general(&s, text), "{schema} {text}");
                assert_eq!(r.at, text.len(), "{schema} {text}");
            }
        }
        let record = AvroSchema::parse(FLAT, &[]).unwrap();
        assert!(
            !takes_any(record.resolve(&record.schema).unwrap()),
            "an enum field"
        );
    }

    /// A schema with a field of a type the flat writer never takes is not tried at all.
    #[test]
    fn takes_only_schemas_whose_records_can_be_flat() {
        let record = |text: &str| {
            let s = AvroSchema::parse(text, &[]).unwrap();
            let Schema::Record(r) = s.resolve(&s.schema).unwrap() else {
                panic!("a record schema");
            };
            takes(r)
        };
        assert!(record(&FLAT.replace(
            r#",
        {"name":"e","type":{"type":"enum","name":"E","symbols":["A"]},"default":"A"}"#,
            ""
        )));
        assert!(!record(FLAT), "an enum field");
        assert!(record(
            r#"{"type":"record","name":"R","fields":[{"name":"u","type":["null",{"type":"array","items":"int"}]}]}"#
        ));
        assert!(!record(
            r#"{"type":"record","name":"R","fields":[{"name":"u","type":[{"type":"array","items":"int"},{"type":"map","values":"int"}]}]}"#
        ));
    }

    /// What the flat writer leaves to the general encoders: valid records of other shapes (which
    /// they take) and invalid ones.
    #[test]
    fn gives_up_on_other_shapes() {
        let s = AvroSchema::parse(FLAT, &[]).unwrap();
        let all = r#""id":1,"payload":"p","n":1,"ok":true,"ts":1,"day":1,"tag":null,"count":null,"f":1,"d":null"#;
        for (text, tree_takes) in [
            // An enum field: not a flat type.
            (format!(r#"{{{all},"e":"A"}}"#), true),
            // A field left out (it takes its default) or out of order.
            (format!("{{{all}}}"), true),
            (
                format!(r#"{{"payload":"p","id":1{},"e":"A"}}"#, &all[20..]),
                true,
            ),
            // Escapes in a string or a name.
            (
                format!(r#"{{{},"e":"A"}}"#, all.replace(r#""p""#, r#""a\"b""#)),
                true,
            ),
            (
                format!(r#"{{{},"e":"A"}}"#, all.replace(r#""id""#, r#""\u0069d""#)),
                true,
            ),
            // Invalid: an int out of range, a float for a long, a wrong branch, an extra member.
            (
                format!(
                    r#"{{{},"e":"A"}}"#,
                    all.replace(r#""n":1"#, r#""n":2147483648"#)
                ),
                false,
            ),
            (
                format!(r#"{{{},"e":"A"}}"#, all.replace(r#""id":1"#, r#""id":1.0"#)),
                false,
            ),
            (
                format!(r#"{{{},"e":"A"}}"#, all.replace(r#""id":1"#, r#""id":-0"#)),
                false,
            ),
            (
                format!(
                    r#"{{{},"e":"A"}}"#,
                    all.replace(r#""tag":null"#, r#""tag":{"long":1}"#)
                ),
                false,
            ),
            (format!(r#"{{{all},"e":"A","x":1}}"#), false),
            (
                format!(r#"{{{},"e":"A"}}"#, all.replace(r#""f":1"#, r#""f":1e400"#)),
                false,
            ),
            ("[]".to_string(), false),
        ] {
            assert_eq!(flat(&s, &text), None, "{text}");
            assert_eq!(valid(&s, &text), tree_takes, "{text}");
        }
    }
}
