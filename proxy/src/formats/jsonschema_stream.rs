//! JSON Schema produce without a value tree: a record is checked in one pass over the request's
//! text against its schema's plan (`schema/json_plan.rs`), and stored as that text made compact
//! (insignificant whitespace removed, members in the client's order, strings and numbers exactly
//! as sent), which is what Confluent's serializer keeps (Jackson writes members in document
//! order). Written by hand because parsing each record into `serde_json::Value` (a `BTreeMap` and
//! a `String` per object and string), running the `jsonschema` validator on it and serializing it
//! again cost a third more proxy CPU per record than binary produce (README, "Performance").
//!
//! [`valid`] only says yes when the `jsonschema` validator would; when it says no (the record
//! breaks the schema, or uses a shape it leaves to the validator), the caller validates the
//! parsed record with the validator, which gives the error. The differential fuzz target
//! `jsonschema_json` checks that every record [`valid`] takes is valid for the validator.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

use crate::schema::json_plan::{types, Additional, Node, Plan};

/// Whether `text` (one JSON value) is certainly valid for the schema of `plan`.
pub fn valid(plan: &Plan, text: &str) -> bool {
    let mut de = serde_json::Deserializer::from_str(text);
    Check { plan, node: 0 }.deserialize(&mut de).is_ok() && de.end().is_ok()
}

/// Appends `text` (one syntactically valid JSON value) without insignificant whitespace: string
/// contents are copied as they are, escapes included. Strings are crossed with `memchr` (a
/// byte-at-a-time loop over them was 60% more than the one-pass check itself).
pub fn compact(text: &str, out: &mut Vec<u8>) {
    let bytes = text.as_bytes();
    out.reserve(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        // Tokens up to the next string, whitespace dropped.
        let quote = memchr::memchr(b'"', &bytes[i..]).map_or(bytes.len(), |q| i + q);
        out.extend(
            bytes[i..quote]
                .iter()
                .filter(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r')),
        );
        if quote == bytes.len() {
            return;
        }
        // The string, to its closing quote (one not escaped).
        let mut end = quote + 1;
        loop {
            match memchr::memchr2(b'"', b'\\', bytes.get(end..).unwrap_or_default()) {
                Some(at) if bytes[end + at] == b'"' => {
                    end += at + 1;
                    break;
                }
                Some(at) => end += at + 2,
                None => {
                    end = bytes.len();
                    break;
                }
            }
        }
        let end = end.min(bytes.len());
        out.extend_from_slice(&bytes[quote..end]);
        i = end;
    }
}

/// Why the one pass said no; never shown (the validator gives the message).
fn no<E: de::Error>() -> E {
    E::custom("not certainly valid")
}

/// Integers an `f64` holds exactly: beyond them, a bound is left to the validator.
const EXACT: u64 = 1 << 53;

/// Checks one value against `plan.nodes[node]`.
#[derive(Clone, Copy)]
struct Check<'p> {
    plan: &'p Plan,
    node: usize,
}

impl Check<'_> {
    fn node(&self) -> &Node {
        &self.plan.nodes[self.node]
    }

    /// Whether the node allows a non-string type among `bits` (an `enum` allows strings only).
    fn allows(&self, bits: u8) -> bool {
        self.node().types & bits != 0 && self.node().strings.is_none()
    }

    fn within(&self, v: f64) -> bool {
        let n = self.node();
        n.minimum.is_none_or(|m| v >= m)
            && n.maximum.is_none_or(|m| v <= m)
            && n.exclusive_minimum.is_none_or(|m| v > m)
            && n.exclusive_maximum.is_none_or(|m| v < m)
    }

    fn integer<E: de::Error>(self, magnitude: u64, v: f64) -> Result<(), E> {
        let exact = !self.node().has_bounds() || magnitude <= EXACT;
        match self.allows(types::INTEGER | types::NUMBER) && exact && self.within(v) {
            true => Ok(()),
            false => Err(no()),
        }
    }
}

impl<'de> DeserializeSeed<'de> for Check<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<(), D::Error> {
        de.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Check<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.allows(types::NULL).then_some(()).ok_or_else(no)
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        self.allows(types::BOOLEAN).then_some(()).ok_or_else(no)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<(), E> {
        self.integer(v, v as f64)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<(), E> {
        self.integer(v.unsigned_abs(), v as f64)
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<(), E> {
        // A float with no fraction is an integer in some drafts only: left to the validator.
        match self.allows(types::NUMBER) && self.within(v) {
            true => Ok(()),
            false => Err(no()),
        }
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<(), E> {
        let n = self.node();
        let fits = n.types & types::STRING != 0
            && n.strings
                .as_ref()
                .is_none_or(|strings| strings.iter().any(|x| &**x == s));
        let lengths = n.min_length.is_some() || n.max_length.is_some();
        // Lengths count code points, as the specification (and the validator) does.
        let length = if lengths { s.chars().count() as u64 } else { 0 };
        let ok = fits
            && n.min_length.is_none_or(|m| length >= m)
            && n.max_length.is_none_or(|m| length <= m);
        ok.then_some(()).ok_or_else(no)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        if !self.allows(types::ARRAY) {
            return Err(no());
        }
        let n = self.node();
        let mut count = 0u64;
        loop {
            let more = match n.items {
                Some(node) => seq
                    .next_element_seed(Check {
                        plan: self.plan,
                        node,
                    })?
                    .is_some(),
                None => seq.next_element::<Any>()?.is_some(),
            };
            if !more {
                break;
            }
            count += 1;
        }
        let ok = n.min_items.is_none_or(|m| count >= m) && n.max_items.is_none_or(|m| count <= m);
        ok.then_some(()).ok_or_else(no)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        if !self.allows(types::OBJECT) {
            return Err(no());
        }
        let n = self.node();
        let mut seen = 0u64;
        while let Some(member) = map.next_key_seed(Member(n))? {
            let schema = match member {
                Some(at) => {
                    seen |= 1u64.checked_shl(at as u32).unwrap_or(0);
                    n.members[at].1
                }
                None => None,
            };
            let schema = match (schema, n.additional) {
                (Some(node), _) => Some(node),
                (None, Additional::Any) => None,
                (None, Additional::None) => return Err(no()),
                (None, Additional::Schema(node)) => Some(node),
            };
            match schema {
                Some(node) => map.next_value_seed(Check {
                    plan: self.plan,
                    node,
                })?,
                None => map.next_value::<Any>().map(drop)?,
            }
        }
        match n.required & !seen {
            0 => Ok(()),
            _ => Err(no()),
        }
    }
}

/// A value the schema does not constrain, parsed as fully as a value tree would be (numbers
/// in range, string escapes whole), so that no text the tree parser refuses is stored: serde's
/// `IgnoredAny` skips strings and numbers without those checks.
struct Any;

impl<'de> de::Deserialize<'de> for Any {
    fn deserialize<D: Deserializer<'de>>(de: D) -> Result<Any, D::Error> {
        de.deserialize_any(Any)
    }
}

impl<'de> Visitor<'de> for Any {
    type Value = Any;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Any, E> {
        Ok(Any)
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Any, E> {
        Ok(Any)
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Any, E> {
        Ok(Any)
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Any, E> {
        Ok(Any)
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Any, E> {
        Ok(Any)
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<Any, E> {
        Ok(Any)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Any, A::Error> {
        while seq.next_element::<Any>()?.is_some() {}
        Ok(Any)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Any, A::Error> {
        while map.next_key::<Any>()?.is_some() {
            map.next_value::<Any>()?;
        }
        Ok(Any)
    }
}

/// A member name: its index among the node's named members, if it is one.
struct Member<'n>(&'n Node);

impl<'de> DeserializeSeed<'de> for Member<'_> {
    type Value = Option<usize>;

    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<Option<usize>, D::Error> {
        de.deserialize_str(self)
    }
}

impl Visitor<'_> for Member<'_> {
    type Value = Option<usize>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a member name")
    }

    fn visit_str<E: de::Error>(self, name: &str) -> Result<Option<usize>, E> {
        Ok(self.0.member(name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(schema: &serde_json::Value, text: &str) -> (bool, bool) {
        let plan = Plan::compile(schema).expect("in the subset");
        let validator = jsonschema::options()
            .with_draft(crate::schema::kinds::json_schema_draft(schema))
            .build(schema)
            .unwrap();
        let value: serde_json::Value = serde_json::from_str(text).unwrap();
        (valid(&plan, text), validator.is_valid(&value))
    }

    #[test]
    fn says_valid_only_when_the_validator_does() {
        let schema = json!({
            "type": "object",
            "properties": {
                "id": {"type": "integer", "minimum": 0, "exclusiveMaximum": 100},
                "name": {"type": "string", "minLength": 2, "maxLength": 3},
                "tags": {"type": "array", "items": {"enum": ["a", "b"]}, "maxItems": 2},
                "score": {"type": ["number", "null"]},
                "meta": {"type": "object", "additionalProperties": {"type": "boolean"}}
            },
            "required": ["id"],
            "additionalProperties": false
        });
        // (text, one pass says valid)
        let cases = [
            (r#"{"id":1}"#, true),
            (
                r#"{"name":"éé","id":99,"tags":["a","b"],"score":null,"meta":{"x":true}}"#,
                true,
            ),
            (r#"{"id":1,"score":1.5}"#, true),
            (r#"{"id":1,"score":-7}"#, true),
            (r#"{"id":100}"#, false),
            (r#"{"id":-1}"#, false),
            (r#"{"id":1.0}"#, false),
            (r#"{"id":"1"}"#, false),
            (r#"{"name":"ab"}"#, false),
            (r#"{"id":1,"name":"a"}"#, false),
            (r#"{"id":1,"name":"abcd"}"#, false),
            (r#"{"id":1,"tags":["c"]}"#, false),
            (r#"{"id":1,"tags":["a","a","a"]}"#, false),
            (r#"{"id":1,"other":1}"#, false),
            (r#"{"id":1,"meta":{"x":1}}"#, false),
            (r#"{"id":1,"score":"x"}"#, false),
            (r#"[1]"#, false),
            (r#"{"id":1,"id":2}"#, true),
        ];
        for (text, expected) in cases {
            let (one_pass, validator) = check(&schema, text);
            assert_eq!(one_pass, expected, "{text}");
            assert!(!one_pass || validator, "{text}: the validator says invalid");
        }
        // Integers an f64 does not hold exactly are left to the validator when bounded.
        let bounded = json!({"type": "integer", "maximum": 9007199254740992u64});
        assert!(!check(&bounded, "9007199254740993").0);
        assert!(check(&json!({"type": "integer"}), "18446744073709551615").0);
        // Unconstrained values are parsed whole: what a value tree refuses is not taken.
        let open = json!({"type": "object"});
        assert!(check(&open, r#"{"x":[1,{"y":"z"}],"w":null}"#).0);
        for refused in [
            r#"{"x":1e999}"#,
            r#"{"x":["\ud800"]}"#,
            r#"{"x":{"\udc00":1}}"#,
        ] {
            assert!(
                Plan::compile(&open).is_some_and(|p| !valid(&p, refused)),
                "{refused}"
            );
        }
        // An enum and a type must both hold.
        assert!(!check(&json!({"type": "integer", "enum": ["a"]}), r#""a""#).0);
        assert!(check(&json!({"enum": ["a"]}), r#""a""#).0);
    }

    #[test]
    fn compacts_without_touching_strings() {
        let mut out = Vec::new();
        compact(
            " { \"a b\" : [ 1 , 2.50e1 , \"x\\\" y\" ] ,\n\t\"c\":null , \"\\\\\" : true } ",
            &mut out,
        );
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"a b":[1,2.50e1,"x\" y"],"c":null,"\\":true}"#
        );
        // Text that is not JSON does not make it panic.
        for odd in ["\"ab", "\"a\\", "\\", " \" \\\" "] {
            compact(odd, &mut Vec::new());
        }
    }
}
