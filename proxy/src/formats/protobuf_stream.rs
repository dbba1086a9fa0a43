//! Proto3 JSON straight to Protobuf binary, in one pass over the request's text: serde_json's
//! tokenizer drives a visitor that walks the message descriptor alongside, so a record costs no
//! `serde_json::Value`, no `DynamicMessage` and no second walk. Written by hand because building
//! both trees (a map and a string per object, then a field map of boxed values) made Protobuf
//! produce cost 3.7 times binary's proxy CPU per record (docs/performance-log.md, "JSON Schema and
//! Protobuf produce without a value tree").
//!
//! It takes the shapes clients send: proto3 messages whose fields come in field-number order,
//! with scalar, string, bytes, enum, nested message and repeated fields, in proto3 JSON (JSON or
//! original field names, 64-bit integers as numbers or decimal strings, enums by name or
//! number). On anything else (fields out of order or repeated, `null`, maps, oneofs, well-known
//! types, proto2 or editions files, a value that does not fit its field) it gives up, and
//! [`super::protobuf`]'s tree encoder (prost-reflect), which defines the semantics and the error
//! messages, encodes the record instead. Each value is converted by the rules of prost-reflect's
//! own JSON visitors, and fields are written as its encoder writes them (ascending numbers,
//! defaults of fields without presence left out, repeated scalars packed when the field is), so
//! whatever this module writes is byte for byte what the tree encoder writes; the differential
//! fuzz target `protobuf_json` checks exactly that.

use std::fmt;

use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine;
use prost::encoding::{encode_key, encode_varint, WireType};
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

use crate::schema::proto_layout::{FieldKind, FieldLayout, Layout, MessageLayout};

/// Appends the Protobuf binary encoding of `text` (one JSON object in proto3 JSON) as a message
/// of `layout`'s produce type. Returns false, with `out` as it was, when the value is not one of
/// the shapes this module takes: the caller then encodes it with the tree encoder.
pub fn write(layout: &Layout, text: &str, out: &mut Vec<u8>) -> bool {
    let start = out.len();
    let mut de = serde_json::Deserializer::from_str(text);
    let message = Message {
        layout,
        index: 0,
        out,
    };
    let written = message.deserialize(&mut de).is_ok() && de.end().is_ok();
    if !written {
        out.truncate(start);
    }
    written
}

/// The one-pass encoder as a serde seed for a message the caller's deserializer is at (a
/// produce body parsed in one pass, `super::one_pass_request`). It fails where [`write`]
/// returns false, leaving part of a message on `out` for the caller to discard.
pub struct Seed<'l, 'o>(Message<'l, 'o>);

impl<'l, 'o> Seed<'l, 'o> {
    pub fn new(layout: &'l Layout, out: &'o mut Vec<u8>) -> Self {
        Seed(Message {
            layout,
            index: 0,
            out,
        })
    }
}

impl<'de> DeserializeSeed<'de> for Seed<'_, '_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<(), D::Error> {
        self.0.deserialize(de)
    }
}

/// Why the one pass stopped; never shown (the tree encoder gives the message).
fn give_up<E: de::Error>() -> E {
    E::custom("not a shape the one-pass Protobuf encoder takes")
}

/// Starts a length-delimited value: one byte is reserved for its length, which [`end_len`]
/// writes (moving the value along when the length needs more bytes).
fn start_len(out: &mut Vec<u8>) -> usize {
    out.push(0);
    out.len()
}

fn end_len(out: &mut Vec<u8>, at: usize) {
    let len = out.len() - at;
    if len < 0x80 {
        out[at - 1] = len as u8;
        return;
    }
    let mut prefix = Vec::with_capacity(10);
    encode_varint(len as u64, &mut prefix);
    out.splice(at - 1..at, prefix);
}

/// One message (`layout.messages[index]`): an object whose members are written as fields.
struct Message<'l, 'o> {
    layout: &'l Layout,
    index: usize,
    out: &'o mut Vec<u8>,
}

impl<'de> DeserializeSeed<'de> for Message<'_, '_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<(), D::Error> {
        de.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Message<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a message object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let (layout, out) = (self.layout, self.out);
        let message = &layout.messages[self.index];
        let mut last = 0u32;
        while let Some(field) = map.next_key_seed(FieldName(message))? {
            // Ascending and once each, so the order is the tree encoder's and no member
            // overwrites another.
            if field.number <= last || !field.takes {
                return Err(give_up());
            }
            last = field.number;
            let value = Value { layout, field, out };
            match field.repeated {
                true => map.next_value_seed(List(value))?,
                false => map.next_value_seed(value)?,
            }
        }
        Ok(())
    }
}

/// A member name, looked up as the tree encoder does: JSON name first, then the field's name.
struct FieldName<'l>(&'l MessageLayout);

impl<'de, 'l> DeserializeSeed<'de> for FieldName<'l> {
    type Value = &'l FieldLayout;

    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<&'l FieldLayout, D::Error> {
        de.deserialize_str(self)
    }
}

impl<'l> Visitor<'_> for FieldName<'l> {
    type Value = &'l FieldLayout;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a field name")
    }

    fn visit_str<E: de::Error>(self, name: &str) -> Result<&'l FieldLayout, E> {
        self.0.field(name).ok_or_else(give_up)
    }
}

/// One value of a field, written with its key. A singular field without presence is left out
/// at its default, as the tree encoder leaves it out; an element of a repeated field never is.
struct Value<'l, 'o> {
    layout: &'l Layout,
    field: &'l FieldLayout,
    out: &'o mut Vec<u8>,
}

impl Value<'_, '_> {
    fn keeps(&self, default: bool) -> bool {
        self.field.repeated || self.field.presence || !default
    }

    /// Writes a string's or bytes' value with its key, unless it is a default left out.
    fn put_bytes(self, bytes: &[u8]) {
        if self.keeps(bytes.is_empty()) {
            encode_key(self.field.number, WireType::LengthDelimited, self.out);
            encode_varint(bytes.len() as u64, self.out);
            self.out.extend_from_slice(bytes);
        }
    }
}

impl<'de> DeserializeSeed<'de> for Value<'_, '_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<(), D::Error> {
        let number = self.field.number;
        match self.field.kind {
            FieldKind::Message(None) => return Err(give_up()),
            FieldKind::Message(Some(index)) => {
                encode_key(number, WireType::LengthDelimited, self.out);
                let at = start_len(self.out);
                Message {
                    layout: self.layout,
                    index,
                    out: &mut *self.out,
                }
                .deserialize(de)?;
                end_len(self.out, at);
            }
            FieldKind::String => de.deserialize_string(Text(self))?,
            FieldKind::Bytes => {
                let bytes = de.deserialize_str(Base64)?;
                self.put_bytes(&bytes);
            }
            kind => {
                let scalar = de.deserialize_any(ScalarOf(kind, self.layout))?;
                if self.keeps(scalar.is_default()) {
                    encode_key(number, scalar.wire_type(), self.out);
                    scalar.put(self.out);
                }
            }
        }
        Ok(())
    }
}

/// A repeated field's array: packed into one length-delimited value when the field is packed
/// (left out when empty), else one field per element.
struct List<'l, 'o>(Value<'l, 'o>);

impl<'de> DeserializeSeed<'de> for List<'_, '_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<(), D::Error> {
        de.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for List<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let Value { layout, field, out } = self.0;
        if field.packed {
            let start = out.len();
            encode_key(field.number, WireType::LengthDelimited, out);
            let at = start_len(out);
            let mut any = false;
            while let Some(scalar) = seq.next_element_seed(ScalarOf(field.kind, layout))? {
                scalar.put(out);
                any = true;
            }
            match any {
                true => end_len(out, at),
                false => out.truncate(start),
            }
            return Ok(());
        }
        while seq
            .next_element_seed(Value {
                layout,
                field,
                out: &mut *out,
            })?
            .is_some()
        {}
        Ok(())
    }
}

/// A string field's value, written with its key.
struct Text<'l, 'o>(Value<'l, 'o>);

impl Visitor<'_> for Text<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<(), E> {
        self.0.put_bytes(s.as_bytes());
        Ok(())
    }
}

/// A bytes field's base64 text, decoded as the tree encoder decodes it: the standard alphabet,
/// padding optional, trailing bits allowed. (The tree encoder also takes the URL-safe alphabet;
/// such a value gives up here.)
struct Base64;

const BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_allow_trailing_bits(true)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

impl<'de> DeserializeSeed<'de> for Base64 {
    type Value = Vec<u8>;

    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<Vec<u8>, D::Error> {
        de.deserialize_str(self)
    }
}

impl Visitor<'_> for Base64 {
    type Value = Vec<u8>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("base64 text")
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<Vec<u8>, E> {
        BASE64.decode(s).map_err(|_| give_up())
    }
}

/// A numeric, boolean or enum value, as the tree encoder holds it.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Scalar {
    I32(i32, Signed),
    I64(i64, Signed),
    U32(u32, bool),
    U64(u64, bool),
    F32(f32),
    F64(f64),
    Bool(bool),
}

/// How a signed value is written: `int32`/`int64`/`enum` (varint), `sint32`/`sint64` (zigzag)
/// or `sfixed32`/`sfixed64`. (Unsigned ones carry whether they are fixed.)
#[derive(Debug, Clone, Copy, PartialEq)]
enum Signed {
    Varint,
    ZigZag,
    Fixed,
}

impl Scalar {
    /// Whether the value is its field's proto3 default (compared as the tree encoder compares
    /// values: `-0.0` is a default, NaN is not).
    fn is_default(self) -> bool {
        match self {
            Scalar::I32(v, _) => v == 0,
            Scalar::I64(v, _) => v == 0,
            Scalar::U32(v, _) => v == 0,
            Scalar::U64(v, _) => v == 0,
            Scalar::F32(v) => v == 0.0,
            Scalar::F64(v) => v == 0.0,
            Scalar::Bool(v) => !v,
        }
    }

    fn wire_type(self) -> WireType {
        match self {
            Scalar::I32(_, Signed::Fixed) | Scalar::U32(_, true) | Scalar::F32(_) => {
                WireType::ThirtyTwoBit
            }
            Scalar::I64(_, Signed::Fixed) | Scalar::U64(_, true) | Scalar::F64(_) => {
                WireType::SixtyFourBit
            }
            _ => WireType::Varint,
        }
    }

    /// Writes the value without its key.
    fn put(self, out: &mut Vec<u8>) {
        match self {
            // Negative int32 and enum values are sign-extended to ten bytes.
            Scalar::I32(v, Signed::Varint) => encode_varint(v as i64 as u64, out),
            Scalar::I32(v, Signed::ZigZag) => {
                encode_varint(((v << 1) ^ (v >> 31)) as u32 as u64, out)
            }
            Scalar::I32(v, Signed::Fixed) => out.extend_from_slice(&v.to_le_bytes()),
            Scalar::I64(v, Signed::Varint) => encode_varint(v as u64, out),
            Scalar::I64(v, Signed::ZigZag) => encode_varint(((v << 1) ^ (v >> 63)) as u64, out),
            Scalar::I64(v, Signed::Fixed) => out.extend_from_slice(&v.to_le_bytes()),
            Scalar::U32(v, false) => encode_varint(u64::from(v), out),
            Scalar::U32(v, true) => out.extend_from_slice(&v.to_le_bytes()),
            Scalar::U64(v, false) => encode_varint(v, out),
            Scalar::U64(v, true) => out.extend_from_slice(&v.to_le_bytes()),
            Scalar::F32(v) => out.extend_from_slice(&v.to_le_bytes()),
            Scalar::F64(v) => out.extend_from_slice(&v.to_le_bytes()),
            Scalar::Bool(v) => out.push(u8::from(v)),
        }
    }
}

/// Reads a scalar of one kind from JSON by the rules of prost-reflect's visitors (numbers, or
/// decimal strings for integers; enum names or numbers). Integers written as floats are left to
/// the tree encoder.
struct ScalarOf<'l>(FieldKind, &'l Layout);

impl<'de> DeserializeSeed<'de> for ScalarOf<'_> {
    type Value = Scalar;

    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<Scalar, D::Error> {
        match self.0 {
            FieldKind::Message(_) | FieldKind::String | FieldKind::Bytes => Err(give_up()),
            FieldKind::Enum(e) if !self.1.enums[e].takes => Err(give_up()),
            _ => de.deserialize_any(self),
        }
    }
}

impl ScalarOf<'_> {
    /// An integer as the kind holds it, or None when it does not fit.
    fn integer(&self, v: i128) -> Option<Scalar> {
        Some(match self.0 {
            FieldKind::Int32 | FieldKind::Enum(_) => {
                Scalar::I32(i32::try_from(v).ok()?, Signed::Varint)
            }
            FieldKind::Sint32 => Scalar::I32(i32::try_from(v).ok()?, Signed::ZigZag),
            FieldKind::Sfixed32 => Scalar::I32(i32::try_from(v).ok()?, Signed::Fixed),
            FieldKind::Int64 => Scalar::I64(i64::try_from(v).ok()?, Signed::Varint),
            FieldKind::Sint64 => Scalar::I64(i64::try_from(v).ok()?, Signed::ZigZag),
            FieldKind::Sfixed64 => Scalar::I64(i64::try_from(v).ok()?, Signed::Fixed),
            FieldKind::Uint32 => Scalar::U32(u32::try_from(v).ok()?, false),
            FieldKind::Fixed32 => Scalar::U32(u32::try_from(v).ok()?, true),
            FieldKind::Uint64 => Scalar::U64(u64::try_from(v).ok()?, false),
            FieldKind::Fixed64 => Scalar::U64(u64::try_from(v).ok()?, true),
            // Integers become floats with `as`, as the tree encoder converts them.
            FieldKind::Float => Scalar::F32(v as f32),
            FieldKind::Double => Scalar::F64(v as f64),
            _ => return None,
        })
    }
}

impl Visitor<'_> for ScalarOf<'_> {
    type Value = Scalar;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a scalar")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Scalar, E> {
        match self.0 {
            FieldKind::Bool => Ok(Scalar::Bool(v)),
            _ => Err(give_up()),
        }
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Scalar, E> {
        self.integer(i128::from(v)).ok_or_else(give_up)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Scalar, E> {
        self.integer(i128::from(v)).ok_or_else(give_up)
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Scalar, E> {
        match self.0 {
            FieldKind::Double => Ok(Scalar::F64(v)),
            FieldKind::Float if v >= f64::from(f32::MIN) && v <= f64::from(f32::MAX) => {
                Ok(Scalar::F32(v as f32))
            }
            // An integer written with a fraction or exponent (`1.0`, `1e3`): the tree encoder
            // takes some, by range checks of its own; left to it.
            _ => Err(give_up()),
        }
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<Scalar, E> {
        match self.0 {
            FieldKind::Enum(e) => self.1.enums[e]
                .number(s)
                .map(|n| Scalar::I32(n, Signed::Varint))
                .ok_or_else(give_up),
            // Decimal strings, parsed as the tree encoder parses them (`str::parse`).
            FieldKind::Int32
            | FieldKind::Sint32
            | FieldKind::Sfixed32
            | FieldKind::Int64
            | FieldKind::Sint64
            | FieldKind::Sfixed64 => s
                .parse::<i64>()
                .ok()
                .and_then(|v| self.integer(i128::from(v)))
                .ok_or_else(give_up),
            FieldKind::Uint32 | FieldKind::Fixed32 | FieldKind::Uint64 | FieldKind::Fixed64 => s
                .parse::<u64>()
                .ok()
                .and_then(|v| self.integer(i128::from(v)))
                .ok_or_else(give_up),
            // "NaN", "Infinity" and floats as strings: left to the tree encoder.
            _ => Err(give_up()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::proto::ProtoSchema;
    use prost::Message as _;
    use prost_reflect::{DeserializeOptions, DynamicMessage};

    /// Every scalar kind, enums (one negative), nested, recursive, packed and unpacked repeated
    /// fields, `optional`, a oneof, a map and a well-known type: the fuzz target's schema.
    const SCHEMA: &str = include_str!("../../../fuzz/protobuf_json.proto");

    fn tree(message: &prost_reflect::MessageDescriptor, text: &str) -> Option<Vec<u8>> {
        let json: serde_json::Value = serde_json::from_str(text).ok()?;
        let options = DeserializeOptions::new().deny_unknown_fields(true);
        let m = DynamicMessage::deserialize_with_options(message.clone(), json, &options).ok()?;
        Some(m.encode_to_vec())
    }

    /// Each text is written by the one pass (`true`) or left to the tree encoder, and whatever
    /// the one pass writes is the tree encoder's bytes.
    #[test]
    fn writes_what_the_tree_encoder_writes() {
        let schema = ProtoSchema::parse(SCHEMA, &[]).unwrap();
        let all = schema.first_message().unwrap();
        let layout = schema.layout().unwrap();
        let long = "x".repeat(300);
        let cases: Vec<(String, bool)> = vec![
            (r#"{}"#.into(), true),
            (
                r#"{"d":1.5,"f":-2.25,"i32":-7,"i64":"-9007199254740993","u32":4000000000,
                  "u64":"18446744073709551615","s32":-3,"s64":-300,"x32":7,"x64":8,"sx32":-9,
                  "sx64":-10,"b":true,"s":"h\u00e9","y":"aGk=","e":"MINUS",
                  "m":{"name":"in","kids":[{"name":"k"},{}],"n":5},"ri":[1,-2,"3"],
                  "rs":["a",""],"rm":[{},{"n":1}],"re":["ONE",0,2],"rd":[0,1.5],"oi":0}"#
                    .into(),
                true,
            ),
            // Defaults of fields without presence are left out; `optional` ones are kept.
            (
                r#"{"d":-0.0,"i32":0,"b":false,"s":"","e":"ZERO","oi":0}"#.into(),
                true,
            ),
            (r#"{"d":-0.0}"#.into(), true),
            (r#"{"e":"ZERO"}"#.into(), true),
            (r#"{"oi":0}"#.into(), true),
            (r#"{"i64":1,"u64":2}"#.into(), true),
            // JSON names and original names.
            (r#"{"sx32":1}"#.into(), true),
            (format!(r#"{{"s":"{long}","m":{{"name":"{long}"}}}}"#), true),
            (r#"{"ry":["AA","/w==",""]}"#.into(), true),
            (r#"{"ri":[]}"#.into(), true),
            (r#"{"f":1e300}"#.into(), false),
            (r#"{"i32":1.0}"#.into(), false),
            (r#"{"d":"NaN"}"#.into(), false),
            (r#"{"i32":2147483648}"#.into(), false),
            (r#"{"u32":-1}"#.into(), false),
            (r#"{"b":1}"#.into(), false),
            (r#"{"e":"TWO"}"#.into(), false),
            (r#"{"s":null}"#.into(), false),
            (r#"{"i64":2,"i32":1}"#.into(), false),
            (r#"{"i32":1,"i32":2}"#.into(), false),
            (r#"{"a":"x"}"#.into(), false),
            (r#"{"mp":{"k":1}}"#.into(), false),
            (r#"{"nope":1}"#.into(), false),
            (r#"{"y":"-_8"}"#.into(), false),
            (r#"{"y":"!"}"#.into(), false),
            (r#"[1]"#.into(), false),
            (r#"{"i32":1} x"#.into(), false),
        ];
        for (text, one_pass) in cases {
            let mut out = vec![0xAA];
            let written = write(layout, &text, &mut out);
            assert_eq!(written, one_pass, "{text}");
            match written {
                true => assert_eq!(Some(&out[1..]), tree(&all, &text).as_deref(), "{text}"),
                false => assert_eq!(out, [0xAA], "{text}"),
            }
        }
    }

    #[test]
    fn proto2_and_well_known_types_are_left_to_the_tree_encoder() {
        let proto2 = ProtoSchema::parse(
            "syntax = \"proto2\"; message P { optional int32 a = 1 [default = 5]; }",
            &[],
        )
        .unwrap();
        assert!(proto2.layout().is_none());
        let wkt = ProtoSchema::parse(
            "syntax = \"proto3\"; import \"google/protobuf/timestamp.proto\";
             message W { google.protobuf.Timestamp at = 1; }",
            &[],
        )
        .unwrap();
        let mut out = Vec::new();
        assert!(!write(
            wkt.layout().unwrap(),
            r#"{"at":"2024-01-01T00:00:00Z"}"#,
            &mut out
        ));
        assert!(out.is_empty());
    }
}
