//! Avro's JSON encoding straight to Avro binary, in one pass over the request's text:
//! serde_json's tokenizer drives a visitor that walks the schema alongside, so a record costs no
//! value tree, no string or object allocation and no second walk. Written by hand because
//! building serde_json's `Value` (a BTreeMap and a String per object and string) was the top
//! cost of Avro produce (docs/performance-log.md, "Avro produce without a value tree").
//!
//! It takes the shapes clients send: fields in schema order (those left out take their
//! defaults), null and wrapped unions (`{"string": "x"}`), and every primitive, named and
//! container type except decimals. On anything else (fields out of order or repeated, an
//! unwrapped union value, a decimal, a value that does not fit its schema) it gives up, and
//! [`super::avro`]'s tree encoder, which defines the semantics and the error messages, encodes
//! the record instead. So whatever this module writes is byte for byte what the tree encoder
//! writes; the differential fuzz target `avro_json` checks exactly that.

use std::borrow::Cow;
use std::fmt;

use apache_avro::schema::{RecordSchema, Schema, UnionSchema};
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::avro::{is_int, is_long, put_bytes, put_latin1, wraps, write_default, At};
use crate::schema::kinds::AvroSchema;
use crate::varint::put_long;

/// Appends the Avro binary encoding of `text` (one JSON value in Avro's JSON encoding) with
/// `schema`. Returns false, with `out` as it was, when the value is not one of the shapes this
/// module takes: the caller then encodes it with [`super::avro::write_value`].
pub fn write(schema: &AvroSchema, text: &str, out: &mut Vec<u8>) -> bool {
    let start = out.len();
    let mut de = serde_json::Deserializer::from_str(text);
    let node = Node {
        names: schema,
        schema: &schema.schema,
        out,
    };
    let written = node.deserialize(&mut de).is_ok() && de.end().is_ok();
    if !written {
        out.truncate(start);
    }
    written
}

/// The one-pass encoder as a serde seed for a value the caller's deserializer is at (a produce
/// body parsed in one pass, `super::one_pass_request`). It fails where [`write`] returns false,
/// leaving part of a value on `out` for the caller to discard.
pub struct Seed<'s, 'o>(Node<'s, 'o>);

impl<'s, 'o> Seed<'s, 'o> {
    pub fn new(schema: &'s AvroSchema, out: &'o mut Vec<u8>) -> Self {
        Seed(Node {
            names: schema,
            schema: &schema.schema,
            out,
        })
    }
}

impl<'de> DeserializeSeed<'de> for Seed<'_, '_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        self.0.deserialize(d)
    }
}

/// Why the one pass stopped; never shown (the tree encoder gives the message).
fn give_up<E: de::Error>() -> E {
    E::custom("not a shape the one-pass Avro encoder takes")
}

/// The value at one place of the schema, written onto `out`.
struct Node<'s, 'o> {
    names: &'s AvroSchema,
    schema: &'s Schema,
    out: &'o mut Vec<u8>,
}

impl<'s> Node<'s, '_> {
    fn at<'p>(&'p mut self, schema: &'s Schema) -> Node<'s, 'p> {
        Node {
            names: self.names,
            schema,
            out: self.out,
        }
    }

    /// ISO-8859-1 characters as bytes (Avro JSON's bytes and fixed).
    fn put_latin1<E: de::Error>(&mut self, s: &str) -> Result<(), E> {
        put_latin1(self.out, &At::Root, s).map_err(|_| give_up())
    }

    fn record<'de, M: MapAccess<'de>>(
        mut self,
        r: &'s RecordSchema,
        mut map: M,
    ) -> Result<(), M::Error> {
        let mut next = 0;
        while let Some(i) = map.next_key_seed(FieldKey { record: r, next })? {
            // A field before the next one is repeated or out of order.
            if i < next {
                return Err(give_up());
            }
            for skipped in &r.fields[next..i] {
                self.default(skipped)?;
            }
            map.next_value_seed(self.at(&r.fields[i].schema))?;
            next = i + 1;
        }
        for missing in &r.fields[next..] {
            self.default(missing)?;
        }
        Ok(())
    }

    fn default<E: de::Error>(&mut self, f: &'s apache_avro::schema::RecordField) -> Result<(), E> {
        write_default(self.names, f, &At::Root, self.out).map_err(|_| give_up())
    }

    /// A map's entries in the tree encoder's order: by key, the last of repeated keys winning.
    fn map<'de, M: MapAccess<'de>>(self, values: &'s Schema, mut map: M) -> Result<(), M::Error> {
        let mut scratch = Vec::new();
        let mut entries: Vec<(Cow<'de, str>, std::ops::Range<usize>)> = Vec::new();
        while let Some(key) = map.next_key_seed(Key)? {
            let start = scratch.len();
            map.next_value_seed(Node {
                names: self.names,
                schema: values,
                out: &mut scratch,
            })?;
            entries.push((key, start..scratch.len()));
        }
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        let mut kept = Vec::with_capacity(entries.len());
        for (i, entry) in entries.iter().enumerate() {
            if entries.get(i + 1).is_none_or(|next| next.0 != entry.0) {
                kept.push(entry);
            }
        }
        if !kept.is_empty() {
            put_long(self.out, kept.len() as i64);
            for (key, range) in kept {
                put_bytes(self.out, key.as_bytes());
                self.out.extend_from_slice(&scratch[range.clone()]);
            }
        }
        self.out.push(0);
        Ok(())
    }

    /// `{"<branch>": value}` with a branch of `u`.
    fn wrapped<'de, M: MapAccess<'de>>(
        mut self,
        u: &'s UnionSchema,
        mut map: M,
    ) -> Result<(), M::Error> {
        let key = map.next_key_seed(Key)?.ok_or_else(give_up)?;
        let (i, branch) = u
            .variants()
            .iter()
            .enumerate()
            .find(|(_, v)| wraps(v, &key))
            .ok_or_else(give_up)?;
        put_long(self.out, i as i64);
        map.next_value_seed(self.at(branch))?;
        if map.next_key::<IgnoredAny>()?.is_some() {
            return Err(give_up());
        }
        Ok(())
    }
}

impl<'de> DeserializeSeed<'de> for Node<'_, '_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        let schema = self.names.resolve(self.schema).map_err(|_| give_up())?;
        d.deserialize_any(Node { schema, ..self })
    }
}

impl<'de> Visitor<'de> for Node<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a value of its Avro schema")
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        match self.schema {
            Schema::Null => Ok(()),
            Schema::Union(u) => {
                let i = u
                    .variants()
                    .iter()
                    .position(|v| matches!(v, Schema::Null))
                    .ok_or_else(give_up)?;
                put_long(self.out, i as i64);
                Ok(())
            }
            _ => Err(give_up()),
        }
    }

    fn visit_bool<E: de::Error>(self, b: bool) -> Result<(), E> {
        match self.schema {
            Schema::Boolean => {
                self.out.push(u8::from(b));
                Ok(())
            }
            _ => Err(give_up()),
        }
    }

    fn visit_i64<E: de::Error>(self, n: i64) -> Result<(), E> {
        match self.schema {
            s if is_int(s) => {
                put_long(
                    self.out,
                    i64::from(i32::try_from(n).map_err(|_| give_up())?),
                );
            }
            s if is_long(s) => put_long(self.out, n),
            // The tree encoder reads every JSON number as an f64 here.
            Schema::Float => self.out.extend_from_slice(&(n as f64 as f32).to_le_bytes()),
            Schema::Double => self.out.extend_from_slice(&(n as f64).to_le_bytes()),
            _ => return Err(give_up()),
        }
        Ok(())
    }

    fn visit_u64<E: de::Error>(self, n: u64) -> Result<(), E> {
        match self.schema {
            Schema::Float => self.out.extend_from_slice(&(n as f64 as f32).to_le_bytes()),
            Schema::Double => self.out.extend_from_slice(&(n as f64).to_le_bytes()),
            _ => return self.visit_i64(i64::try_from(n).map_err(|_| give_up())?),
        }
        Ok(())
    }

    fn visit_f64<E: de::Error>(self, f: f64) -> Result<(), E> {
        match self.schema {
            Schema::Float if f.is_finite() => {
                self.out.extend_from_slice(&(f as f32).to_le_bytes());
            }
            Schema::Double if f.is_finite() => self.out.extend_from_slice(&f.to_le_bytes()),
            _ => return Err(give_up()),
        }
        Ok(())
    }

    fn visit_str<E: de::Error>(mut self, s: &str) -> Result<(), E> {
        match self.schema {
            Schema::String => put_bytes(self.out, s.as_bytes()),
            Schema::Uuid => {
                uuid::Uuid::parse_str(s).map_err(|_| give_up())?;
                put_bytes(self.out, s.as_bytes());
            }
            Schema::Bytes => {
                put_long(self.out, s.chars().count() as i64);
                self.put_latin1(s)?;
            }
            Schema::Fixed(f) => {
                let start = self.out.len();
                self.put_latin1(s)?;
                if self.out.len() - start != f.size {
                    return Err(give_up());
                }
            }
            Schema::Enum(e) => {
                let i = e.symbols.iter().position(|y| y == s).ok_or_else(give_up)?;
                put_long(self.out, i as i64);
            }
            _ => return Err(give_up()),
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(mut self, mut seq: A) -> Result<(), A::Error> {
        let Schema::Array(a) = self.schema else {
            return Err(give_up());
        };
        let start = self.out.len();
        let mut n: i64 = 0;
        while seq.next_element_seed(self.at(&a.items))?.is_some() {
            n += 1;
        }
        if n > 0 {
            // The count goes before the items, which were written before it was known.
            let mut count = [0u8; 10];
            let mut rest = &mut count[..];
            put_long(&mut rest, n);
            let len = 10 - rest.len();
            self.out.splice(start..start, count[..len].iter().copied());
        }
        self.out.push(0);
        Ok(())
    }

    fn visit_map<M: MapAccess<'de>>(self, map: M) -> Result<(), M::Error> {
        match self.schema {
            Schema::Record(r) => self.record(r, map),
            Schema::Map(m) => self.map(&m.types, map),
            Schema::Union(u) => self.wrapped(u, map),
            _ => Err(give_up()),
        }
    }
}

/// A record's key: the index of the field it names (usually the next one, compared first).
struct FieldKey<'s> {
    record: &'s RecordSchema,
    next: usize,
}

impl<'de> DeserializeSeed<'de> for FieldKey<'_> {
    type Value = usize;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<usize, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for FieldKey<'_> {
    type Value = usize;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a field name")
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<usize, E> {
        match self.record.fields.get(self.next) {
            Some(f) if f.name == key => Ok(self.next),
            _ => self.record.lookup.get(key).copied().ok_or_else(give_up),
        }
    }
}

/// An object key, borrowed from the text unless it has escapes.
struct Key;

impl<'de> DeserializeSeed<'de> for Key {
    type Value = Cow<'de, str>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for Key {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object key")
    }

    fn visit_borrowed_str<E: de::Error>(self, key: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(key))
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(key.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The tree encoder's bytes, or None where it refuses the value.
    fn tree(schema: &AvroSchema, text: &str) -> Option<Vec<u8>> {
        let json: serde_json::Value = serde_json::from_str(text).ok()?;
        let mut out = Vec::new();
        super::super::avro::write_value(schema, &json, &mut out).ok()?;
        Some(out)
    }

    fn one_pass(schema: &AvroSchema, text: &str) -> Option<Vec<u8>> {
        let mut out = vec![9, 9];
        let written = write(schema, text, &mut out);
        if !written {
            assert_eq!(out, [9, 9], "{text}: a give-up leaves the buffer as it was");
            return None;
        }
        Some(out.split_off(2))
    }

    const ALL: &str = r#"{"type":"record","name":"All","namespace":"t","fields":[
        {"name":"n","type":"null"},{"name":"b","type":"boolean"},{"name":"i","type":"int"},
        {"name":"l","type":"long"},{"name":"f","type":"float"},{"name":"d","type":"double"},
        {"name":"s","type":"string"},{"name":"y","type":"bytes"},
        {"name":"x","type":{"type":"fixed","name":"Four","size":4}},
        {"name":"e","type":{"type":"enum","name":"E","symbols":["A","B","C"]}},
        {"name":"u","type":{"type":"string","logicalType":"uuid"}},
        {"name":"ts","type":{"type":"long","logicalType":"timestamp-millis"}},
        {"name":"dt","type":{"type":"int","logicalType":"date"}},
        {"name":"a","type":{"type":"array","items":{"type":"array","items":"int"}}},
        {"name":"m","type":{"type":"map","values":"long"}},
        {"name":"o","type":["null","string","t.Four",{"type":"record","name":"In","fields":[
            {"name":"v","type":"int","default":7}]}],"default":null},
        {"name":"r","type":["null","In"],"default":null},
        {"name":"z","type":"string","default":"zed"}]}"#;

    /// Values the one pass takes, each written exactly as the tree encoder writes it.
    #[test]
    fn takes_the_common_shapes_with_the_tree_encoders_bytes() {
        let s = AvroSchema::parse(ALL, &[]).unwrap();
        for text in [
            r#"{"n":null,"b":true,"i":-7,"l":1099511627776,"f":1.5,"d":-2.25,"s":"h\u00e9\"llo",
                "y":"\u00ff\u0000a","x":"ab\u00ffd","e":"C","u":"6ba7b810-9dad-11d1-80b4-00c04fd430c8",
                "ts":1700000000000,"dt":19000,"a":[[1,2],[],[3]],"m":{"b":2,"a":1,"c":-300},
                "o":{"string":"x"},"r":{"t.In":{"v":3}},"z":"zz"}"#,
            // Trailing fields left out take their defaults; wrapped by short name; f from an int.
            r#"{"n":null,"b":false,"i":2147483647,"l":-9223372036854775808,"f":3,"d":1e300,
                "s":"","y":"","x":"\u0000\u0000\u0000\u0000","e":"A",
                "u":"6ba7b810-9dad-11d1-80b4-00c04fd430c8","ts":0,"dt":-1,"a":[],"m":{},
                "o":{"Four":"abcd"},"r":{"In":{}}}"#,
            // A field in the middle left out; repeated map keys (the last wins); a null union.
            r#"{"n":null,"b":true,"i":0,"l":0,"f":-0.0,"d":0.1,"s":"s","y":"y","x":"wxyz","e":"B",
                "u":"6ba7b810-9dad-11d1-80b4-00c04fd430c8","ts":1,"dt":1,"a":[[-1]],
                "m":{"k":1,"k":2,"\u006b2":3},"r":null,"z":"end"}"#,
        ] {
            let expected = tree(&s, text).expect("the tree encoder takes it");
            assert_eq!(one_pass(&s, text), Some(expected), "{text}");
        }
    }

    /// Values the one pass leaves to the tree encoder: valid ones it does not take, and every
    /// value the tree encoder refuses.
    #[test]
    fn gives_up_on_the_rest() {
        let s = AvroSchema::parse(ALL, &[]).unwrap();
        let base = r#""n":null,"b":true,"i":1,"l":1,"f":1,"d":1,"s":"s","y":"y","x":"wxyz","e":"A",
            "u":"6ba7b810-9dad-11d1-80b4-00c04fd430c8","ts":1,"dt":1,"a":[],"m":{}"#;
        for (text, tree_takes) in [
            // Out of order and an unwrapped union value: valid, left to the tree encoder.
            (
                format!(
                    r#"{{"b":true,"n":null,{}}}"#,
                    base.replacen(r#""n":null,"b":true,"#, "", 1)
                ),
                true,
            ),
            (format!(r#"{{{base},"o":"unwrapped"}}"#), true),
            // A repeated field: the tree encoder takes the last.
            (format!(r#"{{{base},"i":2}}"#), true),
            // Invalid.
            (format!(r#"{{{base},"nope":1}}"#), false),
            (format!(r#"{{{base},"o":{{"int":1}}}}"#), false),
            (
                format!(r#"{{{base},"o":{{"string":"a","null":null}}}}"#),
                false,
            ),
            (
                format!("{{{}}}", base.replace(r#""i":1"#, r#""i":1.0"#)),
                false,
            ),
            (
                format!("{{{}}}", base.replace(r#""i":1"#, r#""i":2147483648"#)),
                false,
            ),
            (
                format!("{{{}}}", base.replace(r#""e":"A""#, r#""e":"D""#)),
                false,
            ),
            (
                format!("{{{}}}", base.replace(r#""x":"wxyz""#, r#""x":"wxy""#)),
                false,
            ),
            (
                format!("{{{}}}", base.replace(r#""y":"y""#, r#""y":"\u0100""#)),
                false,
            ),
            (
                format!("{{{}}}", base.replace(r#""u":"6ba"#, r#""u":"zba"#)),
                false,
            ),
            (
                format!("{{{}}}", base.replace(r#""a":[]"#, r#""a":[[1,"2"]]"#)),
                false,
            ),
            (r#"{"n":null}"#.to_string(), false),
            ("[]".to_string(), false),
        ] {
            assert_eq!(one_pass(&s, &text), None, "{text}");
            assert_eq!(tree(&s, &text).is_some(), tree_takes, "{text}");
        }
    }
}
