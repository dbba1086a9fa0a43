//! The flattest proto3 JSON message, the shape nearly every produce request has, written
//! straight from the body's text: an object whose members name singular fields in ascending
//! number order, each an integer (`int32`, `int64`, `uint32`, `uint64`, `sint32`, `sint64`) given
//! as a JSON integer, a `double` or `float` given as a JSON number, a `bool`, or a `string`, with
//! names and strings free of escapes. Written
//! by hand because the general one-pass encoder (`protobuf_stream.rs`), driven through serde's
//! visitors, cost Protobuf a third more proxy CPU per record than binary's base64 (`cargo bench
//! -p proxy-benches --bench produce_decode`, docs/performance-log.md); here a record is one walk of
//! its members with no dispatch per token.
//!
//! On anything else (another field type, a repeated or nested field, an integer as a string,
//! `null`, an escape, members out of order) it answers None having consumed part of the text,
//! and the caller encodes the value with `protobuf_stream.rs` from where it started. Fields are
//! written as that encoder writes them (a field without presence left out at its default), so
//! the bytes are the same (`tests` below; the fuzz target `one_pass_request` compares whole
//! requests with the usual path).

use prost::encoding::{encode_key, encode_varint, WireType};

use super::body_reader::Reader;
use super::json_scan::{self, Number};
use crate::schema::proto_layout::{FieldKind, MessageLayout};

/// Appends the Protobuf binary of the message at the reader (whitespace before it skipped), the
/// reader then after it. None: not the flat shape; `out` and the reader hold part of it.
pub(super) fn write(message: &MessageLayout, r: &mut Reader<'_>, out: &mut Vec<u8>) -> Option<()> {
    r.byte(b'{')?;
    if r.peek()? == b'}' {
        r.at += 1;
        return Some(());
    }
    let mut last = 0;
    loop {
        let field = message.field(r.string()?)?;
        r.byte(b':')?;
        // Ascending and once each, as the general encoder requires.
        (field.takes && !field.repeated && field.number > last).then_some(())?;
        last = field.number;
        let keeps = |default: bool| field.presence || !default;
        match field.kind {
            FieldKind::String => {
                let s = r.string()?;
                if keeps(s.is_empty()) {
                    encode_key(field.number, WireType::LengthDelimited, out);
                    encode_varint(s.len() as u64, out);
                    out.extend_from_slice(s.as_bytes());
                }
            }
            FieldKind::Bool => {
                let v = r.boolean()?;
                if keeps(!v) {
                    encode_key(field.number, WireType::Varint, out);
                    out.push(u8::from(v));
                }
            }
            FieldKind::Double | FieldKind::Float => {
                r.ws();
                let (end, n) = json_scan::number(r.text, r.at, true)?;
                r.at = end;
                // As the general encoder converts them: integers with `as`, a float for a
                // `float` field only within its range.
                if field.kind == FieldKind::Double {
                    let v = match n {
                        Number::U64(n) => n as f64,
                        Number::I64(n) => n as f64,
                        Number::F64(f) => f,
                    };
                    if keeps(v == 0.0) {
                        encode_key(field.number, WireType::SixtyFourBit, out);
                        out.extend_from_slice(&v.to_le_bytes());
                    }
                } else {
                    let v = match n {
                        Number::U64(n) => i128::from(n) as f32,
                        Number::I64(n) => i128::from(n) as f32,
                        Number::F64(f) if f >= f64::from(f32::MIN) && f <= f64::from(f32::MAX) => {
                            f as f32
                        }
                        Number::F64(_) => return None,
                    };
                    if keeps(v == 0.0) {
                        encode_key(field.number, WireType::ThirtyTwoBit, out);
                        out.extend_from_slice(&v.to_le_bytes());
                    }
                }
            }
            kind => {
                let v = r.integer()?;
                let varint = match kind {
                    // Negative int32 values are sign-extended to ten bytes.
                    FieldKind::Int32 => i64::from(i32::try_from(v).ok()?) as u64,
                    FieldKind::Int64 => v as u64,
                    FieldKind::Uint32 => u64::from(u32::try_from(v).ok()?),
                    FieldKind::Uint64 => u64::try_from(v).ok()?,
                    FieldKind::Sint32 => {
                        let v = i32::try_from(v).ok()?;
                        u64::from(((v << 1) ^ (v >> 31)) as u32)
                    }
                    FieldKind::Sint64 => ((v << 1) ^ (v >> 63)) as u64,
                    _ => return None,
                };
                if keeps(v == 0) {
                    encode_key(field.number, WireType::Varint, out);
                    encode_varint(varint, out);
                }
            }
        }
        match r.next()? {
            b',' => {}
            b'}' => return Some(()),
            _ => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::kinds::{parse, Parsed, SchemaType};

    const PROTO: &str = r#"syntax = "proto3";
        message M {
          int64 id = 1; string payload = 2; int32 i = 3; uint32 u = 4; uint64 ul = 5;
          sint32 s = 6; sint64 sl = 7; bool ok = 8; optional int32 maybe = 9;
          string user_name = 10; double d = 11; repeated int32 r = 12; float f = 13;
          optional float df = 14; fixed32 x = 15;
        }"#;

    fn schema() -> Parsed {
        parse(SchemaType::Protobuf, PROTO).unwrap()
    }

    /// The flat writer's bytes and where it stopped, or None where it gives up.
    fn flat(schema: &Parsed, text: &str) -> Option<(Vec<u8>, usize)> {
        let Parsed::Protobuf(p) = schema else {
            unreachable!()
        };
        let mut r = Reader::new(text);
        let mut out = Vec::new();
        write(&p.layout().unwrap().messages[0], &mut r, &mut out)?;
        Some((out, r.at))
    }

    /// The general one-pass encoder's bytes (which are the tree encoder's).
    fn general(schema: &Parsed, text: &str) -> Option<Vec<u8>> {
        let Parsed::Protobuf(p) = schema else {
            unreachable!()
        };
        let mut out = Vec::new();
        super::super::protobuf_stream::write(p.layout().unwrap(), text, &mut out).then_some(out)
    }

    /// Whether the tree encoder, which defines Protobuf produce, takes the record.
    fn valid(schema: &Parsed, text: &str) -> bool {
        let Parsed::Protobuf(p) = schema else {
            unreachable!()
        };
        serde_json::from_str(text)
            .is_ok_and(|json| super::super::protobuf::encode(p, 1, json).is_ok())
    }

    /// Every flat message is written as the general encoder writes it, and the reader stops
    /// right after it.
    #[test]
    fn writes_the_general_encoders_bytes() {
        let s = schema();
        for text in [
            r#"{"id":12345,"payload":"abcdefghijklmnopqrstuvwxyz0123456789"}"#,
            r#" { "id" : -9223372036854775808 , "payload" : "é, ü and 𝄞" } "#,
            r#"{"id":0,"payload":"","i":-1,"u":4294967295,"ul":9223372036854775807,"s":-2147483648,"sl":-9223372036854775808,"ok":true,"maybe":0,"userName":"x"}"#,
            r#"{"i":2147483647,"u":0,"s":2147483647,"sl":9223372036854775807,"ok":false,"user_name":""}"#,
            r#"{"maybe":-3}"#,
            r#"{"d":1.5}"#,
            r#"{"d":-0.0,"f":0}"#,
            r#"{"d":18446744073709551615,"f":16777217,"df":-9223372036854775808}"#,
            r#"{"d":1e300,"f":3.4028234663852886e38,"df":0.1}"#,
            "{}",
            " { } ",
        ] {
            let (bytes, end) = flat(&s, text).expect("flat");
            assert_eq!(Some(bytes), general(&s, text), "{text}");
            assert_eq!(text[end..].trim(), "", "{text}");
        }
    }

    /// What the flat writer leaves to the general encoders: valid messages of other shapes
    /// (which they take) and invalid ones.
    #[test]
    fn gives_up_on_other_shapes() {
        let s = schema();
        for (text, tree_takes) in [
            // Valid: an integer as a string or as an integral float, another type, a repeated
            // field, null, an escape, members out of order or given twice.
            (r#"{"id":"12"}"#, true),
            (r#"{"id":1.0}"#, true),
            (r#"{"x":1}"#, true),
            (r#"{"r":[1,2]}"#, true),
            (r#"{"id":null}"#, true),
            (r#"{"payload":"a\"b"}"#, true),
            (r#"{"\u0069d":1}"#, true),
            (r#"{"payload":"p","id":1}"#, true),
            (r#"{"id":1,"id":2}"#, true),
            // Invalid: out of range, a negative unsigned, a fraction for an integer, an unknown
            // member, a number for a bool.
            (r#"{"i":2147483648}"#, false),
            (r#"{"ul":-1}"#, false),
            (r#"{"id":1.5}"#, false),
            (r#"{"nope":1}"#, false),
            (r#"{"ok":1}"#, false),
            (r#"{"f":1e300}"#, false),
            ("[]", false),
        ] {
            assert_eq!(flat(&s, text), None, "{text}");
            assert_eq!(valid(&s, text), tree_takes, "{text}");
        }
    }
}
