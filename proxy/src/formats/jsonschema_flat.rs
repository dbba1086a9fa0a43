//! The flattest JSON Schema record, the shape nearly every produce request has, checked and
//! written straight from the body's text: an object whose members are all named by the schema's
//! `properties` (or allowed by an `additionalProperties` schema), each a string, number,
//! boolean or null, with names and strings free of escapes. Written by hand because the general
//! one-pass check (`jsonschema_stream.rs`), which walks any depth and writes byte by byte, cost
//! JSON Schema 0.07 µs more proxy CPU per record than binary's base64 in `jsonschema-100`
//! (docs/performance-log.md); here a member is copied whole once checked.
//!
//! The checks are the general pass's own (`jsonschema_stream::{allows, string_fits,
//! number_fits}`), so it says yes only where that pass does, and writes what it writes: the
//! record without insignificant whitespace. On anything else (a nested object or array, an
//! escape, a member left to `additionalProperties: true`, a record that breaks the schema) it
//! answers None having consumed part of the text, and the caller checks the value with the
//! general pass from where it started (`tests` below; the fuzz target `one_pass_request`
//! compares whole requests with the usual path).

use super::body_reader::Reader;
use super::json_scan;
use super::jsonschema_stream::{allows, number_fits, string_fits};
use crate::schema::json_plan::{types, Additional, Node, Plan};

/// Appends the record at the reader (whitespace before it skipped) without whitespace, the
/// reader then after it. None: not the flat shape or not certainly valid; `out` and the reader
/// hold part of it.
pub(super) fn write(plan: &Plan, r: &mut Reader<'_>, out: &mut Vec<u8>) -> Option<()> {
    let n = &plan.nodes[0];
    allows(n, types::OBJECT).then_some(())?;
    r.byte(b'{')?;
    out.push(b'{');
    let mut seen = 0u64;
    if r.peek()? == b'}' {
        r.at += 1;
    } else {
        loop {
            let name = r.string()?;
            r.byte(b':')?;
            let at = n.member(name);
            if let Some(at) = at {
                seen |= 1u64.checked_shl(at as u32).unwrap_or(0);
            }
            let node = match (at.and_then(|at| n.members[at].1), n.additional) {
                (Some(node), _) | (None, Additional::Schema(node)) => node,
                // Unconstrained members and unknown ones: left to the general pass.
                (None, Additional::Any | Additional::None) => return None,
            };
            out.push(b'"');
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b"\":");
            scalar(&plan.nodes[node], r, out)?;
            match r.next()? {
                b',' => out.push(b','),
                b'}' => break,
                _ => return None,
            }
        }
    }
    out.push(b'}');
    (n.required & !seen == 0).then_some(())
}

/// A string, number, boolean or null, checked against `n` and copied.
fn scalar(n: &Node, r: &mut Reader<'_>, out: &mut Vec<u8>) -> Option<()> {
    r.ws();
    let start = r.at;
    let fits = match r.text.as_bytes().get(start)? {
        b'"' => string_fits(n, r.string()?),
        b'-' | b'0'..=b'9' => {
            let (end, number) = json_scan::number(r.text, start, n.has_bounds())?;
            r.at = end;
            number_fits(n, number)
        }
        b't' | b'f' => r.boolean().is_some() && allows(n, types::BOOLEAN),
        b'n' => r.null().is_some() && allows(n, types::NULL),
        _ => false,
    };
    fits.then_some(())?;
    out.extend_from_slice(&r.text.as_bytes()[start..r.at]);
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::jsonschema_stream;
    use serde_json::json;

    /// The flat writer's bytes and where it stopped, or None where it gives up.
    fn flat(plan: &Plan, text: &str) -> Option<(Vec<u8>, usize)> {
        let mut r = Reader::new(text);
        let mut out = Vec::new();
        write(plan, &mut r, &mut out)?;
        Some((out, r.at))
    }

    /// The general pass's bytes, or None where it leaves the record to the validator.
    fn general(plan: &Plan, text: &str) -> Option<Vec<u8>> {
        let mut out = Vec::new();
        jsonschema_stream::write(plan, text, &mut out).then_some(out)
    }

    fn plan() -> Plan {
        Plan::compile(&json!({
            "type": "object",
            "properties": {
                "id": {"type": "integer", "minimum": 0},
                "payload": {"type": "string", "maxLength": 8},
                "score": {"type": ["number", "null"]},
                "ok": {"type": "boolean"},
                "kind": {"enum": ["a", "b"]},
                "nested": {"type": "object"}
            },
            "required": ["id"],
            "additionalProperties": false
        }))
        .unwrap()
    }

    /// Every flat record is written as the general pass writes it, and the reader stops right
    /// after it.
    #[test]
    fn writes_the_general_pass_bytes() {
        let p = plan();
        for text in [
            r#"{"id":1,"payload":"abc"}"#,
            r#" { "payload" : "é𝄞" , "id" : 0 , "score" : -2.5e3 , "ok" : true , "kind" : "b" } "#,
            r#"{"id":9007199254740992,"score":null,"ok":false}"#,
        ] {
            let (bytes, end) = flat(&p, text).expect("flat");
            assert_eq!(Some(bytes), general(&p, text), "{text}");
            assert_eq!(text[end..].trim(), "", "{text}");
        }
        // Members of an `additionalProperties` schema.
        let p =
            Plan::compile(&json!({"type": "object", "additionalProperties": {"type": "integer"}}))
                .unwrap();
        for text in [r#"{"a":1,"b":-2}"#, "{}"] {
            let (bytes, _) = flat(&p, text).expect("flat");
            assert_eq!(Some(bytes), general(&p, text), "{text}");
        }
    }

    /// What the flat writer leaves to the general pass: valid records of other shapes and
    /// every record that breaks the schema.
    #[test]
    fn gives_up_on_other_shapes_and_invalid_records() {
        let p = plan();
        for (text, general_takes) in [
            // Valid: a nested object, an escape in a string or a name.
            (r#"{"id":1,"nested":{}}"#, true),
            (r#"{"id":1,"payload":"a\"b"}"#, true),
            (r#"{"\u0069d":1}"#, true),
            // Invalid: a required member missing, a bound, a length, a type, an enum, an
            // unknown member, a float for an integer.
            (r#"{"payload":"a"}"#, false),
            (r#"{"id":-1}"#, false),
            (r#"{"id":1,"payload":"123456789"}"#, false),
            (r#"{"id":1,"ok":null}"#, false),
            (r#"{"id":1,"kind":"c"}"#, false),
            (r#"{"id":1,"x":1}"#, false),
            (r#"{"id":1.5}"#, false),
            ("[]", false),
        ] {
            assert_eq!(flat(&p, text), None, "{text}");
            assert_eq!(general(&p, text).is_some(), general_takes, "{text}");
        }
        // Members left to `additionalProperties: true` (any value): left to the general pass.
        let p = Plan::compile(&json!({"type": "object"})).unwrap();
        assert_eq!(flat(&p, r#"{"a":1}"#), None);
        assert!(general(&p, r#"{"a":1}"#).is_some());
    }
}
