//! JSON Schema produce without a value tree: a record is checked against its schema's plan
//! (`schema/json_plan.rs`) and written in the same pass over the request's text, made compact
//! (insignificant whitespace removed, members in the client's order, strings and numbers exactly
//! as sent), which is what Confluent's serializer keeps (Jackson writes members in document
//! order). Written by hand, for speed, twice over:
//! - parsing each record into `serde_json::Value` (a `BTreeMap` and a `String` per object and
//!   string), running the `jsonschema` validator on it and serializing it again cost a third more
//!   proxy CPU per record than binary produce;
//! - checking with serde's events and then copying the text without whitespace read every value
//!   twice, and serde's events cannot carry a number's text, which the stored form keeps
//!   (docs/performance-log.md, "JSON Schema and binary in one pass").
//!
//! [`write`] only says yes when the `jsonschema` validator would and when `serde_json` takes the
//! text as it is: numbers are read with serde_json's own rules (an integer beyond `u64` or a
//! `-0` is a float; a float out of range is an error), strings with escapes are decoded by
//! serde_json (a lone surrogate is an error), and control characters in strings are refused.
//! When it says no (the record breaks the schema, is not JSON, or uses a shape left to the
//! validator), the caller validates the parsed record with the validator, which gives the error.
//! The differential fuzz target `jsonschema_json` checks that every record [`write`] takes is
//! valid for the validator and written as [`compact`] writes it.

use super::json_scan::{self, Number};
use crate::schema::json_plan::{types, Additional, Node, Plan};

/// Appends `text` (one JSON value) made compact when it certainly is valid for the schema of
/// `plan`, and answers whether it did; on no, `out` is as it was.
pub fn write(plan: &Plan, text: &str, out: &mut Vec<u8>) -> bool {
    let start = out.len();
    out.reserve(text.len());
    let ok = write_at(plan, text, 0, out).is_some_and(|end| end == text.len());
    if !ok {
        out.truncate(start);
    }
    ok
}

/// Appends the value starting at byte `at` of `text` (a whole request body: the whitespace
/// around the value is skipped) made compact when it certainly is valid for `plan`'s schema, and
/// answers where the text after it starts, whitespace skipped. On None, `out` holds part of it.
pub(super) fn write_at(plan: &Plan, text: &str, at: usize, out: &mut Vec<u8>) -> Option<usize> {
    let mut scan = Scan {
        text,
        at,
        out,
        depth: 0,
    };
    scan.value(plan, Some(0))?;
    scan.skip_ws();
    Some(scan.at)
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

/// Integers an `f64` holds exactly: beyond them, a bound is left to the validator.
const EXACT: u64 = 1 << 53;

/// Nesting deeper than this is left to the validator (serde_json itself stops at 128).
const MAX_DEPTH: u32 = 100;

/// The pass: a position in `text`, and the compact form written so far. Every step answers
/// None as soon as the value is not certainly valid.
struct Scan<'t, 'o> {
    text: &'t str,
    at: usize,
    out: &'o mut Vec<u8>,
    depth: u32,
}

impl<'t> Scan<'t, '_> {
    fn bytes(&self) -> &'t [u8] {
        self.text.as_bytes()
    }

    fn peek(&self) -> Option<u8> {
        self.bytes().get(self.at).copied()
    }

    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.at += 1;
        }
    }

    /// The next significant byte, consumed and written.
    fn punct(&mut self) -> Option<u8> {
        self.skip_ws();
        let b = self.peek()?;
        self.at += 1;
        self.out.push(b);
        Some(b)
    }

    /// One value, checked against `plan.nodes[node]` (None: unconstrained).
    fn value(&mut self, plan: &Plan, node: Option<usize>) -> Option<()> {
        let n = node.map(|i| &plan.nodes[i]);
        let allows = |bits: u8| n.is_none_or(|n| allows(n, bits));
        self.skip_ws();
        match self.peek()? {
            b'{' => {
                check(allows(types::OBJECT))?;
                self.object(plan, n)
            }
            b'[' => {
                check(allows(types::ARRAY))?;
                self.array(plan, n)
            }
            b'"' => {
                let (raw, decoded) = self.string()?;
                let Some(n) = n else {
                    return Some(());
                };
                check(string_fits(
                    n,
                    decoded.as_deref().unwrap_or(&raw[1..raw.len() - 1]),
                ))
            }
            b't' => {
                self.literal("true")?;
                check(allows(types::BOOLEAN))
            }
            b'f' => {
                self.literal("false")?;
                check(allows(types::BOOLEAN))
            }
            b'n' => {
                self.literal("null")?;
                check(allows(types::NULL))
            }
            b'-' | b'0'..=b'9' => {
                let number = self.number(n.is_some_and(Node::has_bounds))?;
                check(n.is_none_or(|n| number_fits(n, number)))
            }
            _ => None,
        }
    }

    fn object(&mut self, plan: &Plan, n: Option<&Node>) -> Option<()> {
        let mut seen = 0u64;
        if !self.open(b'}')? {
            loop {
                self.skip_ws();
                if self.peek()? != b'"' {
                    return None;
                }
                let (raw, decoded) = self.string()?;
                let schema = match n {
                    None => None,
                    Some(n) => {
                        let at = n.member(decoded.as_deref().unwrap_or(&raw[1..raw.len() - 1]));
                        let named = at.and_then(|at| {
                            seen |= 1u64.checked_shl(at as u32).unwrap_or(0);
                            n.members[at].1
                        });
                        match (named, n.additional) {
                            (Some(node), _) => Some(node),
                            (None, Additional::Any) => None,
                            (None, Additional::None) => return None,
                            (None, Additional::Schema(node)) => Some(node),
                        }
                    }
                };
                if self.punct()? != b':' {
                    return None;
                }
                self.value(plan, schema)?;
                if self.next(b'}')? {
                    break;
                }
            }
        }
        self.depth -= 1;
        check(n.is_none_or(|n| n.required & !seen == 0))
    }

    fn array(&mut self, plan: &Plan, n: Option<&Node>) -> Option<()> {
        let items = n.and_then(|n| n.items);
        let mut count = 0u64;
        if !self.open(b']')? {
            loop {
                self.value(plan, items)?;
                count += 1;
                if self.next(b']')? {
                    break;
                }
            }
        }
        self.depth -= 1;
        check(n.is_none_or(|n| {
            n.min_items.is_none_or(|m| count >= m) && n.max_items.is_none_or(|m| count <= m)
        }))
    }

    /// Enters the object or array at `at`, writing its opening byte: true when it is empty
    /// (its closing byte, `close`, written too).
    fn open(&mut self, close: u8) -> Option<bool> {
        self.depth += 1;
        check(self.depth <= MAX_DEPTH)?;
        self.punct()?;
        self.skip_ws();
        let empty = self.peek() == Some(close);
        if empty {
            self.punct()?;
        }
        Some(empty)
    }

    /// After a member or an element: true at the end (`close`), false after a comma.
    fn next(&mut self, close: u8) -> Option<bool> {
        match self.punct()? {
            b',' => Some(false),
            b if b == close => Some(true),
            _ => None,
        }
    }

    fn literal(&mut self, word: &str) -> Option<()> {
        let end = self.at + word.len();
        check(self.bytes().get(self.at..end)? == word.as_bytes())?;
        self.out.extend_from_slice(word.as_bytes());
        self.at = end;
        Some(())
    }

    /// A string at `at`: its text with the quotes, written as it is, and its content if it has
    /// escapes (`json_scan::string`).
    fn string(&mut self) -> Option<(&'t str, Option<String>)> {
        let (end, decoded) = json_scan::string(self.text, self.at)?;
        let raw = &self.text[self.at..end];
        self.out.extend_from_slice(raw.as_bytes());
        self.at = end;
        Some((raw, decoded))
    }

    /// A number at `at`, written as it is, read as serde_json reads it. A float's value is only
    /// computed when `bounds` need it or when it might be out of range (an error for serde_json).
    fn number(&mut self, bounds: bool) -> Option<Number> {
        let (end, number) = json_scan::number(self.text, self.at, bounds)?;
        self.out
            .extend_from_slice(&self.text.as_bytes()[self.at..end]);
        self.at = end;
        Some(number)
    }
}

/// Whether the node allows a non-string type among `bits` (an `enum` allows strings only).
pub(super) fn allows(n: &Node, bits: u8) -> bool {
    n.types & bits != 0 && n.strings.is_none()
}

/// Whether a string (its content) is valid for the node.
pub(super) fn string_fits(n: &Node, s: &str) -> bool {
    let fits = n.types & types::STRING != 0
        && n.strings
            .as_ref()
            .is_none_or(|strings| strings.iter().any(|x| &**x == s));
    // Lengths count code points, as the specification (and the validator) does.
    let length = match n.min_length.is_some() || n.max_length.is_some() {
        true => s.chars().count() as u64,
        false => 0,
    };
    fits && n.min_length.is_none_or(|m| length >= m) && n.max_length.is_none_or(|m| length <= m)
}

/// Whether a number, read with its float value when the node has bounds, is valid for it.
pub(super) fn number_fits(n: &Node, number: Number) -> bool {
    let within = |v: f64| {
        n.minimum.is_none_or(|m| v >= m)
            && n.maximum.is_none_or(|m| v <= m)
            && n.exclusive_minimum.is_none_or(|m| v > m)
            && n.exclusive_maximum.is_none_or(|m| v < m)
    };
    let integer = |magnitude: u64, v: f64| {
        let exact = !n.has_bounds() || magnitude <= EXACT;
        allows(n, types::INTEGER | types::NUMBER) && exact && within(v)
    };
    match number {
        Number::U64(v) => integer(v, v as f64),
        Number::I64(v) => integer(v.unsigned_abs(), v as f64),
        // A float with no fraction is an integer in some drafts only: left to the validator.
        Number::F64(v) => allows(n, types::NUMBER) && within(v),
    }
}

/// Some(()) when `ok`: the pass goes on.
fn check(ok: bool) -> Option<()> {
    ok.then_some(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn valid(plan: &Plan, text: &str) -> bool {
        let mut out = b"framing".to_vec();
        let taken = write(plan, text, &mut out);
        let mut compacted = b"framing".to_vec();
        if taken {
            compact(text, &mut compacted);
        }
        assert_eq!(out, compacted, "{text}");
        taken
    }

    fn check(schema: &serde_json::Value, text: &str) -> (bool, bool) {
        let plan = Plan::compile(schema).expect("in the subset");
        let validator = jsonschema::options()
            .with_draft(crate::schema::kinds::json_schema_draft(schema))
            .build(schema)
            .unwrap();
        // Text serde_json refuses is invalid for the validator too.
        let value = serde_json::from_str::<serde_json::Value>(text);
        let taken = valid(&plan, text);
        (taken, value.is_ok_and(|v| validator.is_valid(&v)))
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
        // serde_json's reading of numbers and strings, whitespace anywhere.
        let numbers =
            json!({"type": "object", "additionalProperties": {"type": "number", "maximum": 1e300}});
        for (text, taken) in [
            (" { \"a\" : -0 , \"b\":1.5e2,\"c\":[ ] } ", false),
            (r#"{"a":-0.0,"b":1.5e2}"#, true),
            (r#"{"a":99999999999999999999999}"#, true),
            (r#"{"a":1e301}"#, false),
            (r#"{"a":01}"#, false),
            (r#"{"a":1.}"#, false),
            (r#"{"a":-}"#, false),
            (r#"{"a":1e}"#, false),
            (r#"{"a":1,}"#, false),
            (r#"{"a" 1}"#, false),
            (r#"{"a":1}x"#, false),
        ] {
            let (one_pass, validator) = check(&numbers, text);
            assert_eq!(one_pass, taken, "{text}");
            assert!(!one_pass || validator, "{text}");
        }
        let strings = json!({"type": "object", "properties": {"s": {"enum": ["é\"x"]}}});
        for (text, taken) in [
            (r#"{"s":"é\"x"}"#, true),
            (r#"{"s":"\u00e9\"x"}"#, true),
            (
                r#"{"\u0073":"é\"x", "t": ["\ud83d\ude00", {"\n": "\/"}]}"#,
                true,
            ),
            (r#"{"s":"e\"x"}"#, false),
            ("{\"t\":\"a\u{1}\"}", false),
            (r#"{"t":"\x"}"#, false),
            (r#"{"t":"\ud800"}"#, false),
            (r#"{"t":"abc"#, false),
            (r#"{"t":"abc\"#, false),
        ] {
            let (one_pass, validator) = check(&strings, text);
            assert_eq!(one_pass, taken, "{text}");
            assert!(!one_pass || validator, "{text}");
        }
        let deep = "[".repeat(200) + &"]".repeat(200);
        assert!(!check(&json!({}), &deep).0);
        assert!(check(&json!({}), &("[".repeat(50) + &"]".repeat(50))).0);
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
