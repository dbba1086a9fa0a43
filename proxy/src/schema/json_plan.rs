//! A JSON Schema's simple subset, compiled for the one-pass record check
//! (`formats/jsonschema_stream.rs`): `type`, `properties`, `required`, `additionalProperties`,
//! `items` (one schema), numeric bounds, string and array lengths, string `enum`s, and
//! annotations. A schema that uses anything else (`$ref`, combinators, `pattern`, `format`,
//! draft-04's boolean exclusive bounds, ...) has no plan, and its records are validated by the
//! `jsonschema` crate only, as before.
//!
//! The plan only ever says "valid" when the validator would: each keyword is checked as the
//! specification defines it for every draft Confluent selects, and where drafts differ (a float
//! with no fraction as an `integer`) the one pass gives up and leaves the record to the validator.

use std::collections::HashMap;

use serde_json::{Map, Value};

/// A compiled schema: `nodes[0]` is the root.
#[derive(Debug)]
pub struct Plan {
    pub nodes: Vec<Node>,
}

/// Instance types a node allows, as bits.
pub mod types {
    pub const NULL: u8 = 1;
    pub const BOOLEAN: u8 = 2;
    pub const INTEGER: u8 = 4;
    /// Any number (an integer too).
    pub const NUMBER: u8 = 8;
    pub const STRING: u8 = 16;
    pub const ARRAY: u8 = 32;
    pub const OBJECT: u8 = 64;
    pub const ANY: u8 = 127;
}

/// One (sub)schema.
#[derive(Debug, Default)]
pub struct Node {
    /// The allowed instance types ([`types`]).
    pub types: u8,
    /// Named members: `properties` (with their schema) and `required` names (without one when
    /// `properties` does not name them: such a member is checked as an additional one).
    pub members: Vec<(Box<str>, Option<usize>)>,
    /// Beyond 16 members: name to index in `members`.
    by_name: Option<HashMap<Box<str>, usize>>,
    /// Bits of `members` that must be present (at most 64 members).
    pub required: u64,
    pub additional: Additional,
    /// The schema of every array element.
    pub items: Option<usize>,
    pub minimum: Option<f64>,
    pub maximum: Option<f64>,
    pub exclusive_minimum: Option<f64>,
    pub exclusive_maximum: Option<f64>,
    pub min_length: Option<u64>,
    pub max_length: Option<u64>,
    pub min_items: Option<u64>,
    pub max_items: Option<u64>,
    /// A string `enum`: the instance must be one of these strings.
    pub strings: Option<Vec<Box<str>>>,
}

/// What members that `properties` does not name may be.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub enum Additional {
    #[default]
    Any,
    None,
    Schema(usize),
}

impl Node {
    /// The index in `members` of the member `name`.
    pub fn member(&self, name: &str) -> Option<usize> {
        match &self.by_name {
            Some(map) => map.get(name).copied(),
            None => self.members.iter().position(|(n, _)| &**n == name),
        }
    }

    pub fn has_bounds(&self) -> bool {
        self.minimum.is_some()
            || self.maximum.is_some()
            || self.exclusive_minimum.is_some()
            || self.exclusive_maximum.is_some()
    }
}

/// Keywords that only annotate: no effect on validity.
const ANNOTATIONS: [&str; 11] = [
    "$schema",
    "$id",
    "$comment",
    "title",
    "description",
    "default",
    "examples",
    "readOnly",
    "writeOnly",
    "deprecated",
    "$defs",
];

/// Integers an `f64` holds exactly: bounds beyond them are left to the validator.
const EXACT: f64 = 9_007_199_254_740_992.0;

impl Plan {
    /// The plan of `schema`, or None when it uses anything beyond the subset.
    pub fn compile(schema: &Value) -> Option<Plan> {
        let mut plan = Plan { nodes: Vec::new() };
        plan.node(schema, 0)?;
        Some(plan)
    }

    fn node(&mut self, schema: &Value, depth: usize) -> Option<usize> {
        if depth > 64 {
            return None;
        }
        // Boolean subschemas are left out: draft-04 has none, and which drafts the validator
        // takes them in is its business (`additionalProperties` takes a boolean in every draft).
        let object = schema.as_object()?;
        let index = self.nodes.len();
        self.nodes.push(Node::default());
        let mut node = Node {
            types: types::ANY,
            ..Node::default()
        };
        let mut required: Vec<&str> = Vec::new();
        let mut properties: Option<&Map<String, Value>> = None;
        for (key, value) in object {
            match key.as_str() {
                k if ANNOTATIONS.contains(&k)
                    || k == "definitions"
                    || k.starts_with("connect.") => {}
                "type" => node.types = type_bits(value)?,
                "properties" => properties = Some(value.as_object()?),
                "required" => {
                    for name in value.as_array()? {
                        required.push(name.as_str()?);
                    }
                }
                "additionalProperties" => {
                    node.additional = match value {
                        Value::Bool(true) => Additional::Any,
                        Value::Bool(false) => Additional::None,
                        schema => Additional::Schema(self.node(schema, depth + 1)?),
                    }
                }
                "items" => node.items = Some(self.node(value, depth + 1)?),
                "minimum" => node.minimum = Some(bound(value)?),
                "maximum" => node.maximum = Some(bound(value)?),
                "exclusiveMinimum" => node.exclusive_minimum = Some(bound(value)?),
                "exclusiveMaximum" => node.exclusive_maximum = Some(bound(value)?),
                "minLength" => node.min_length = Some(value.as_u64()?),
                "maxLength" => node.max_length = Some(value.as_u64()?),
                "minItems" => node.min_items = Some(value.as_u64()?),
                "maxItems" => node.max_items = Some(value.as_u64()?),
                "enum" => {
                    let strings = value.as_array()?.iter().map(|v| v.as_str().map(Box::from));
                    node.strings = Some(strings.collect::<Option<Vec<_>>>()?);
                }
                _ => return None,
            }
        }
        for (name, schema) in properties.into_iter().flatten() {
            let sub = self.node(schema, depth + 1)?;
            node.members.push((name.as_str().into(), Some(sub)));
        }
        for name in required {
            let at = match node.member(name) {
                Some(at) => at,
                None => {
                    node.members.push((name.into(), None));
                    node.members.len() - 1
                }
            };
            node.required |= 1u64.checked_shl(u32::try_from(at).ok()?)?;
        }
        if node.members.len() > 16 {
            node.by_name = Some(
                node.members
                    .iter()
                    .enumerate()
                    .map(|(i, (n, _))| (n.clone(), i))
                    .collect(),
            );
        }
        self.nodes[index] = node;
        Some(index)
    }
}

fn type_bits(value: &Value) -> Option<u8> {
    let one = |name: &str| {
        Some(match name {
            "null" => types::NULL,
            "boolean" => types::BOOLEAN,
            "integer" => types::INTEGER,
            "number" => types::NUMBER | types::INTEGER,
            "string" => types::STRING,
            "array" => types::ARRAY,
            "object" => types::OBJECT,
            _ => return None,
        })
    };
    match value {
        Value::String(name) => one(name),
        Value::Array(names) => names
            .iter()
            .try_fold(0, |bits, name| Some(bits | one(name.as_str()?)?)),
        _ => None,
    }
}

/// A numeric bound, when an `f64` holds it exactly.
fn bound(value: &Value) -> Option<f64> {
    let Value::Number(n) = value else {
        return None;
    };
    if let Some(i) = n.as_i64() {
        return (i.unsigned_abs() as f64 <= EXACT).then_some(i as f64);
    }
    if n.is_u64() {
        return None;
    }
    n.as_f64()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn compiles_the_subset_only() {
        let plan = Plan::compile(&json!({
            "$schema": "http://json-schema.org/draft-07/schema#",
            "type": "object", "title": "t",
            "properties": {"id": {"type": "integer", "minimum": 0},
                           "tags": {"type": "array", "items": {"type": "string", "maxLength": 3}},
                           "kind": {"enum": ["a", "b"]}},
            "required": ["id", "other"],
            "additionalProperties": false
        }))
        .unwrap();
        let root = &plan.nodes[0];
        assert_eq!(root.types, types::OBJECT);
        assert_eq!(
            root.members.len(),
            4,
            "three properties and a required-only name"
        );
        assert_eq!(root.required, 0b1001);
        assert_eq!(root.additional, Additional::None);
        assert_eq!(root.member("other"), Some(3));
        for beyond in [
            json!({"$ref": "#/definitions/x"}),
            json!({"anyOf": [{"type": "string"}]}),
            json!({"type": "string", "pattern": "^a"}),
            json!({"type": "string", "format": "email"}),
            json!({"type": "number", "exclusiveMinimum": true}),
            json!({"type": "array", "items": [{"type": "string"}]}),
            json!({"properties": {"a": false}}),
            json!({"type": "integer", "maximum": 18446744073709551615u64}),
            json!({"enum": [1, "a"]}),
            json!({"type": "uuid"}),
            json!([1]),
        ] {
            assert!(Plan::compile(&beyond).is_none(), "{beyond}");
        }
        assert!(Plan::compile(&json!(true)).is_none());
        assert!(Plan::compile(&json!({"items": true})).is_none());
        assert!(Plan::compile(&json!({"connect.index": 1, "type": "string"})).is_some());
    }
}
