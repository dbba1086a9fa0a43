//! JSON Schema compatibility by Confluent's rules (`json/diff/SchemaDiff`, strict set):
//! `can_read(writer, reader)` is `compare(original = writer, update = reader)`, and passes when
//! every difference found is one Confluent counts as compatible. Difference names are Confluent's.
//!
//! Covered: types (integer to number extends), string/number/array/object limits, patterns,
//! `multipleOf`, enums, `not`, `anyOf`/`oneOf`/`allOf` (subschemas paired by a maximum
//! matching), properties under open, partially open (`patternProperties` or an
//! `additionalProperties` schema) and closed content models, `required`, `additionalProperties`,
//! tuple and list `items` with `additionalItems`, `dependencies` (and 2020-12's
//! `dependentRequired`/`dependentSchemas`, `prefixItems`, `unevaluated*`), `min/maxContains`, and
//! local `$ref`s (`#/...`); the document is first shaped as Confluent's loader models it
//! ([`prepare`]). Not compared: `if`/`then`/`else`, `contains` itself, `format`; a `$ref` to
//! another document compares by its text.

use std::collections::HashSet;

use serde_json::{Map, Value};

use super::error::Incompatibility;

/// Whether every instance valid under `writer` stays valid under `reader`, by Confluent's rules.
pub fn can_read(writer: &Value, reader: &Value) -> Result<(), Incompatibility> {
    let (writer, reader) = (&prepare(writer, 0), &prepare(reader, 0));
    let mut diff = Diff {
        roots: (writer, reader),
        seen: HashSet::new(),
        why: Vec::new(),
    };
    diff.compare(writer, reader, "#");
    if diff.why.is_empty() {
        Ok(())
    } else {
        Err(Incompatibility(diff.why.join("; ")))
    }
}

/// Keywords that constrain a value of one type (Everit loads them into one typed schema).
const TYPED_KEYWORDS: &[&str] = &[
    "type",
    "properties",
    "required",
    "additionalProperties",
    "patternProperties",
    "maxProperties",
    "minProperties",
    "dependencies",
    "propertyNames",
    "items",
    "additionalItems",
    "maxItems",
    "minItems",
    "uniqueItems",
    "contains",
    "maxContains",
    "minContains",
    "maxLength",
    "minLength",
    "pattern",
    "format",
    "maximum",
    "minimum",
    "exclusiveMaximum",
    "exclusiveMinimum",
    "multipleOf",
];

/// Keywords whose values are data, not schemas: never rewritten.
const DATA_KEYWORDS: &[&str] = &["enum", "const", "default", "examples", "required"];

/// The schema as Confluent's loader models it, before comparing:
/// - `const` is a one-value `enum`;
/// - 2020-12 arrays: `prefixItems` are tuple `items` and the `items` after them
///   `additionalItems`; `unevaluatedItems`/`unevaluatedProperties` bound a content model like
///   `additionalItems`/`additionalProperties` where those are absent;
/// - `dependentRequired` and `dependentSchemas` are `dependencies`;
/// - a schema that combines kinds (a type with an `enum`, a `not` or a combiner) is the `allOf`
///   of them, as Everit's loader builds it, so removing the `enum` narrows a product type.
fn prepare(v: &Value, depth: usize) -> Value {
    let Value::Object(m) = v else {
        return v.clone();
    };
    if depth > 64 {
        return v.clone();
    }
    let mut m: Map<String, Value> = m
        .iter()
        .map(|(k, v)| {
            let v = if DATA_KEYWORDS.contains(&k.as_str()) {
                v.clone()
            } else {
                prepare_nested(v, depth + 1)
            };
            (k.clone(), v)
        })
        .collect();
    if let Some(c) = m.remove("const") {
        m.entry("enum").or_insert(Value::Array(vec![c]));
    }
    if let Some(prefix) = m.remove("prefixItems") {
        if let Some(rest) = m.remove("items") {
            m.insert("additionalItems".into(), rest);
        }
        m.insert("items".into(), prefix);
    }
    for (from, to) in [
        ("unevaluatedItems", "additionalItems"),
        ("unevaluatedProperties", "additionalProperties"),
    ] {
        if let Some(v) = m.remove(from) {
            m.entry(to).or_insert(v);
        }
    }
    for from in ["dependentRequired", "dependentSchemas"] {
        if let Some(Value::Object(deps)) = m.remove(from) {
            let target = m
                .entry("dependencies")
                .or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(target) = target {
                target.extend(deps);
            }
        }
    }
    // Split a schema of several kinds into the `allOf` of its parts.
    let typed_part: Map<String, Value> = m
        .iter()
        .filter(|(k, _)| TYPED_KEYWORDS.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let mut parts: Vec<Value> = Vec::new();
    if !typed_part.is_empty() {
        parts.push(Value::Object(typed_part));
    }
    for key in ["enum", "not", "allOf", "anyOf", "oneOf"] {
        if let Some(v) = m.get(key) {
            let mut part = Map::new();
            part.insert(key.to_string(), v.clone());
            parts.push(Value::Object(part));
        }
    }
    if parts.len() > 1 {
        m.retain(|k, _| {
            !TYPED_KEYWORDS.contains(&k.as_str())
                && !["enum", "not", "allOf", "anyOf", "oneOf"].contains(&k.as_str())
        });
        m.insert("allOf".into(), Value::Array(parts));
    }
    Value::Object(m)
}

/// [`prepare`] through a keyword's value: a schema, a list of schemas, or a map of them.
fn prepare_nested(v: &Value, depth: usize) -> Value {
    match v {
        Value::Array(items) => Value::Array(items.iter().map(|i| prepare(i, depth)).collect()),
        Value::Object(m)
            if m.values()
                .all(|x| x.is_object() || x.is_boolean() || x.is_array())
                && !looks_like_schema(m) =>
        {
            // `properties`, `definitions`, `dependencies`...: a map of schemas.
            Value::Object(
                m.iter()
                    .map(|(k, x)| (k.clone(), prepare(x, depth)))
                    .collect(),
            )
        }
        other => prepare(other, depth),
    }
}

/// Whether an object is a schema itself rather than a map of named schemas.
fn looks_like_schema(m: &Map<String, Value>) -> bool {
    m.keys().any(|k| {
        TYPED_KEYWORDS.contains(&k.as_str())
            || [
                "enum",
                "const",
                "not",
                "allOf",
                "anyOf",
                "oneOf",
                "$ref",
                "items",
                "prefixItems",
            ]
            .contains(&k.as_str())
    })
}

struct Diff<'a> {
    roots: (&'a Value, &'a Value),
    /// `$ref` pairs being compared further up, so recursive schemas terminate.
    seen: HashSet<(String, String)>,
    why: Vec<String>,
}

/// What kind of schema a value is once `$ref`s and one-element combinations are unwrapped.
enum Shape<'a> {
    /// `{}` or `true`: anything.
    Empty,
    /// `false`: nothing.
    Nothing,
    Combined(&'static str, Vec<&'a Value>),
    Enum(&'a Vec<Value>),
    Not(&'a Value),
    Typed(&'static str),
}

const COMBINERS: [&str; 3] = ["allOf", "anyOf", "oneOf"];

fn is_empty_schema(v: &Value) -> bool {
    match v {
        Value::Bool(b) => *b,
        Value::Object(m) => m.keys().all(|k| {
            matches!(
                k.as_str(),
                "$schema"
                    | "$id"
                    | "id"
                    | "title"
                    | "description"
                    | "default"
                    | "$comment"
                    | "examples"
            )
        }),
        _ => false,
    }
}

/// The type a schema constrains (`type`, or what its keywords imply, as everit infers it).
fn typed(m: &Map<String, Value>) -> Option<&'static str> {
    let t = match m.get("type") {
        Some(Value::String(t)) => t.as_str(),
        Some(Value::Array(ts)) if ts.len() == 1 => ts[0].as_str().unwrap_or(""),
        _ => {
            let has = |keys: &[&str]| keys.iter().any(|k| m.contains_key(*k));
            if has(&[
                "properties",
                "required",
                "additionalProperties",
                "patternProperties",
                "maxProperties",
                "minProperties",
                "dependencies",
                "propertyNames",
            ]) {
                "object"
            } else if has(&[
                "items",
                "additionalItems",
                "maxItems",
                "minItems",
                "uniqueItems",
                "prefixItems",
                "contains",
                "maxContains",
                "minContains",
            ]) {
                "array"
            } else if has(&["maxLength", "minLength", "pattern"]) {
                "string"
            } else if has(&[
                "maximum",
                "minimum",
                "exclusiveMaximum",
                "exclusiveMinimum",
                "multipleOf",
            ]) {
                "number"
            } else {
                return None;
            }
        }
    };
    Some(match t {
        "object" => "object",
        "array" => "array",
        "string" => "string",
        "number" => "number",
        "integer" => "integer",
        "boolean" => "boolean",
        "null" => "null",
        _ => return None,
    })
}

impl<'a> Diff<'a> {
    fn fail(&mut self, path: &str, what: &str, detail: impl std::fmt::Display) {
        self.why.push(format!("{what} at {path}: {detail}"));
    }

    /// Follows a local `$ref` (`#/json/pointer`) within the document `root`.
    fn deref<'b>(&self, v: &'b Value, root: &'a Value) -> &'b Value
    where
        'a: 'b,
    {
        let mut v = v;
        for _ in 0..32 {
            let Some(target) = v
                .get("$ref")
                .and_then(Value::as_str)
                .and_then(|r| r.strip_prefix('#'))
                .and_then(|pointer| root.pointer(pointer))
            else {
                break;
            };
            v = target;
        }
        v
    }

    fn shape<'b>(v: &'b Value) -> Shape<'b> {
        match v {
            Value::Bool(true) => return Shape::Empty,
            Value::Bool(false) => return Shape::Nothing,
            _ => {}
        }
        let Some(m) = v.as_object() else {
            return Shape::Empty;
        };
        for c in COMBINERS {
            if let Some(Value::Array(subs)) = m.get(c) {
                return Shape::Combined(c, subs.iter().collect());
            }
        }
        if let Some(Value::Array(values)) = m.get("enum") {
            return Shape::Enum(values);
        }
        if let Some(not) = m.get("not") {
            return Shape::Not(not);
        }
        match typed(m) {
            Some(t) => Shape::Typed(t),
            // No type and no typed keyword (or an unresolved `$ref`): any value.
            None => Shape::Empty,
        }
    }

    /// The branches of a multi-type schema (`"type": ["string", "null"]`).
    fn type_branches(v: &Value) -> Option<Vec<Value>> {
        let m = v.as_object()?;
        let ts = m.get("type")?.as_array().filter(|ts| ts.len() > 1)?;
        Some(
            ts.iter()
                .map(|t| {
                    let mut branch = m.clone();
                    branch.insert("type".into(), t.clone());
                    Value::Object(branch)
                })
                .collect(),
        )
    }

    fn compatible(&mut self, o: &Value, u: &Value, path: &str) -> bool {
        let before = self.why.len();
        self.compare(o, u, path);
        let ok = self.why.len() == before;
        self.why.truncate(before);
        ok
    }

    fn compare(&mut self, o: &Value, u: &Value, path: &str) {
        let (o_ref, u_ref) = (
            o.get("$ref").and_then(Value::as_str),
            u.get("$ref").and_then(Value::as_str),
        );
        if o_ref.is_some() || u_ref.is_some() {
            if o_ref.is_some_and(|r| !r.starts_with('#'))
                || u_ref.is_some_and(|r| !r.starts_with('#'))
            {
                if o_ref != u_ref {
                    self.fail(path, "REFERENCE_CHANGED", format!("{o_ref:?} to {u_ref:?}"));
                }
                return;
            }
            // A pair of `$ref`s already being compared further up is a cycle: it holds if
            // everything else does.
            let key = (
                o_ref.unwrap_or("").to_string(),
                u_ref.unwrap_or("").to_string(),
            );
            if !self.seen.insert(key.clone()) {
                return;
            }
            self.compare_resolved(o, u, path);
            self.seen.remove(&key);
            return;
        }
        self.compare_resolved(o, u, path);
    }

    fn compare_resolved(&mut self, o: &Value, u: &Value, path: &str) {
        let o = self.deref(o, self.roots.0);
        let u = self.deref(u, self.roots.1);
        if matches!(o, Value::Bool(false)) || is_empty_schema(u) {
            return;
        }
        // Multi-type schemas are unions of one schema per type: every writer branch must be
        // read, by some reader branch.
        if let Some(branches) = Self::type_branches(o) {
            for b in &branches {
                self.compare(b, u, path);
            }
            return;
        }
        if let Some(branches) = Self::type_branches(u) {
            if !branches.iter().any(|b| self.compatible(o, b, path)) {
                self.fail(
                    path,
                    "TYPE_CHANGED",
                    "no type of the new union reads the old schema",
                );
            }
            return;
        }
        self.compare_shapes(o, u, path);
    }

    fn compare_shapes(&mut self, o: &Value, u: &Value, path: &str) {
        match (Self::shape(o), Self::shape(u)) {
            (Shape::Nothing, _) | (_, Shape::Empty) => {}
            (_, Shape::Nothing) => self.fail(path, "TYPE_NARROWED", "the reader accepts nothing"),
            (Shape::Empty, _) => self.fail(path, "TYPE_NARROWED", "the writer accepted any value"),
            (Shape::Combined(oc, os), Shape::Combined(uc, us)) => {
                self.compare_combined(oc, &os, uc, &us, path)
            }
            // A plain schema against a combined one is a combination of one, of the same kind:
            // a union that gained branches, or a product that lost constraints.
            (_, Shape::Combined(uc, us)) => self.compare_combined(uc, &[o], uc, &us, path),
            (Shape::Combined(oc, os), _) => self.compare_combined(oc, &os, oc, &[u], path),
            (Shape::Enum(ov), Shape::Enum(uv)) => {
                if !ov.iter().all(|v| uv.contains(v)) {
                    let what = if uv.iter().all(|v| ov.contains(v)) {
                        "ENUM_ARRAY_NARROWED"
                    } else {
                        "ENUM_ARRAY_CHANGED"
                    };
                    self.fail(path, what, format!("{ov:?} to {uv:?}"));
                }
            }
            (Shape::Not(on), Shape::Not(un)) => {
                if !self.compatible(un, on, path) {
                    self.fail(path, "NOT_TYPE_EXTENDED", "the excluded schema grew");
                }
            }
            (Shape::Typed(ot), Shape::Typed(ut)) => {
                if ot != ut && !(ot == "integer" && ut == "number") {
                    let what = if ot == "number" && ut == "integer" {
                        "TYPE_NARROWED"
                    } else {
                        "TYPE_CHANGED"
                    };
                    self.fail(path, what, format!("{ot} to {ut}"));
                    return;
                }
                let (Some(om), Some(um)) = (o.as_object(), u.as_object()) else {
                    return;
                };
                match ut {
                    "string" => {
                        self.limit(om, um, "maxLength", true, path);
                        self.limit(om, um, "minLength", false, path);
                        match (om.get("pattern"), um.get("pattern")) {
                            (_, None) => {}
                            (None, Some(_)) => {
                                self.fail(path, "PATTERN_ADDED", "a pattern was added")
                            }
                            (Some(a), Some(b)) if a != b => {
                                self.fail(path, "PATTERN_CHANGED", format!("{a} to {b}"))
                            }
                            _ => {}
                        }
                    }
                    "number" | "integer" => {
                        self.limit(om, um, "maximum", true, path);
                        self.limit(om, um, "minimum", false, path);
                        self.limit(om, um, "exclusiveMaximum", true, path);
                        self.limit(om, um, "exclusiveMinimum", false, path);
                        match (
                            om.get("multipleOf").and_then(Value::as_f64),
                            um.get("multipleOf").and_then(Value::as_f64),
                        ) {
                            (_, None) => {}
                            (None, Some(_)) => {
                                self.fail(path, "MULTIPLE_OF_ADDED", "multipleOf was added")
                            }
                            (Some(a), Some(b)) if a != b => {
                                let ratio = a / b;
                                if (ratio - ratio.round()).abs() > 1e-9 {
                                    let what = if b > a {
                                        "MULTIPLE_OF_EXPANDED"
                                    } else {
                                        "MULTIPLE_OF_CHANGED"
                                    };
                                    self.fail(path, what, format!("{a} to {b}"));
                                }
                            }
                            _ => {}
                        }
                    }
                    "object" => self.compare_objects(om, um, path),
                    "array" => self.compare_arrays(om, um, path),
                    _ => {}
                }
            }
            (Shape::Enum(_), _) | (_, Shape::Enum(_)) | (Shape::Not(_), _) | (_, Shape::Not(_)) => {
                self.fail(path, "TYPE_CHANGED", "the kind of schema changed")
            }
        }
    }

    /// A numeric limit: `upper` limits (max*) may grow or go, lower limits may shrink or go.
    fn limit(
        &mut self,
        om: &Map<String, Value>,
        um: &Map<String, Value>,
        key: &str,
        upper: bool,
        path: &str,
    ) {
        let (o, u) = (
            om.get(key).and_then(Value::as_f64),
            um.get(key).and_then(Value::as_f64),
        );
        let name = to_screaming(key);
        match (o, u) {
            (_, None) => {}
            (None, Some(v)) => self.fail(path, &format!("{name}_ADDED"), v),
            (Some(a), Some(b)) if upper && b < a => {
                self.fail(path, &format!("{name}_DECREASED"), format!("{a} to {b}"))
            }
            (Some(a), Some(b)) if !upper && b > a => {
                self.fail(path, &format!("{name}_INCREASED"), format!("{a} to {b}"))
            }
            _ => {}
        }
    }

    fn compare_combined(&mut self, oc: &str, os: &[&Value], uc: &str, us: &[&Value], path: &str) {
        // Confluent: any combination may become a sum type (COMBINED_TYPE_EXTENDED); a sum
        // becomes a product only as a combination of one.
        let criterion_ok = oc == uc
            || uc == "anyOf"
            || uc == "oneOf"
            || (uc == "allOf" && os.len() == 1 && us.len() == 1);
        if !criterion_ok {
            self.fail(path, "COMBINED_TYPE_CHANGED", format!("{oc} to {uc}"));
            return;
        }
        fn dedup<'v>(xs: &[&'v Value]) -> Vec<&'v Value> {
            let mut out: Vec<&'v Value> = Vec::new();
            for x in xs {
                if !out.contains(x) {
                    out.push(*x);
                }
            }
            out
        }
        let (os, us) = (dedup(os), dedup(us));
        // A product may lose constraints, a sum may gain branches.
        if uc == "allOf" && us.len() > os.len() {
            self.fail(path, "PRODUCT_TYPE_EXTENDED", "allOf gained subschemas");
        } else if oc != "allOf" && uc != "allOf" && us.len() < os.len() {
            self.fail(path, "SUM_TYPE_NARROWED", format!("{uc} lost subschemas"));
        }
        // Maximum bipartite matching of compatible (original, update) pairs (Kuhn's algorithm).
        let edges: Vec<Vec<usize>> = os
            .iter()
            .enumerate()
            .map(|(i, o)| {
                (0..us.len())
                    .filter(|&j| self.compatible(o, us[j], &format!("{path}/{oc}/{i}")))
                    .collect()
            })
            .collect();
        let mut owner: Vec<Option<usize>> = vec![None; us.len()];
        let mut matched = 0;
        for i in 0..os.len() {
            let mut visited = vec![false; us.len()];
            if augment(i, &edges, &mut owner, &mut visited) {
                matched += 1;
            }
        }
        if matched < os.len().min(us.len()) {
            self.fail(
                path,
                "COMBINED_TYPE_SUBSCHEMAS_CHANGED",
                format!("only {matched} subschemas still match"),
            );
        }
    }

    fn compare_objects(&mut self, om: &Map<String, Value>, um: &Map<String, Value>, path: &str) {
        self.limit(om, um, "maxProperties", true, path);
        self.limit(om, um, "minProperties", false, path);
        let empty = Map::new();
        let props = |m: &Map<String, Value>| -> Map<String, Value> {
            m.get("properties")
                .and_then(Value::as_object)
                .unwrap_or(&empty)
                .clone()
        };
        let required = |m: &Map<String, Value>| -> Vec<String> {
            m.get("required")
                .and_then(Value::as_array)
                .map(|r| {
                    r.iter()
                        .filter_map(|v| v.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default()
        };
        let (op, up) = (props(om), props(um));
        let (op, up) = (&op, &up);
        let (or, ur) = (required(om), required(um));
        for (name, os) in op {
            let p = format!("{path}/properties/{name}");
            match up.get(name) {
                Some(us) => {
                    self.compare(os, us, &p);
                    if ur.contains(name)
                        && !or.contains(name)
                        && self.deref(us, self.roots.1).get("default").is_none()
                    {
                        self.fail(
                            &p,
                            "REQUIRED_ATTRIBUTE_ADDED",
                            "the property became required",
                        );
                    }
                }
                None => match model(um, name) {
                    Model::Open => {}
                    Model::Partial(cover) => {
                        if !self.compatible(os, cover, &p) {
                            self.fail(
                                &p,
                                "PROPERTY_REMOVED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL",
                                "the removed property's values are refused",
                            );
                        }
                    }
                    Model::Closed => {
                        if !matches!(os, Value::Bool(false)) {
                            self.fail(
                                &p,
                                "PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL",
                                "the reader refuses the removed property",
                            );
                        }
                    }
                },
            }
        }
        for (name, us) in up {
            if op.contains_key(name) {
                continue;
            }
            let p = format!("{path}/properties/{name}");
            match model(om, name) {
                Model::Open => {
                    if !is_empty_schema(us) {
                        self.fail(
                            &p,
                            "PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL",
                            "old data may hold any value under this name",
                        );
                    }
                }
                unopen => {
                    if let Model::Partial(cover) = unopen {
                        if !self.compatible(cover, us, &p) {
                            self.fail(
                                &p,
                                "PROPERTY_ADDED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL",
                                "old data may hold values the new property refuses",
                            );
                        }
                    }
                    if ur.contains(name) && self.deref(us, self.roots.1).get("default").is_none() {
                        self.fail(
                            &p,
                            "REQUIRED_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL",
                            "old data lacks the new required property",
                        );
                    }
                }
            }
        }
        self.compare_dependencies(om, um, path);
        // additionalProperties itself.
        self.compare_additional(om, um, "additionalProperties", path);
    }

    /// `additionalProperties` or `additionalItems` itself: `false` may go, not come; a schema
    /// may not appear where anything was allowed; two schemas compare.
    fn compare_additional(
        &mut self,
        om: &Map<String, Value>,
        um: &Map<String, Value>,
        key: &str,
        path: &str,
    ) {
        let name = to_screaming(key);
        let noun = if key == "additionalItems" {
            "items"
        } else {
            "properties"
        };
        match (om.get(key), um.get(key)) {
            (Some(Value::Bool(false)), _) => {}
            (_, Some(Value::Bool(false))) => self.fail(
                path,
                &format!("{name}_REMOVED"),
                format!("additional {noun} are no longer allowed"),
            ),
            (None | Some(Value::Bool(true)), Some(s)) if !is_empty_schema(s) => self.fail(
                path,
                &format!("{name}_NARROWED"),
                format!("additional {noun} gained a schema"),
            ),
            (Some(a @ Value::Object(_)), Some(b @ Value::Object(_))) => {
                self.compare(a, b, &format!("{path}/{key}"))
            }
            _ => {}
        }
    }

    /// `dependencies`: a property list may shrink or go, a schema may go or read more; a new
    /// one, a longer list, or a list become a schema (or back) is incompatible.
    fn compare_dependencies(
        &mut self,
        om: &Map<String, Value>,
        um: &Map<String, Value>,
        path: &str,
    ) {
        let empty = Map::new();
        let deps = |m: &Map<String, Value>| -> Map<String, Value> {
            m.get("dependencies")
                .and_then(Value::as_object)
                .unwrap_or(&empty)
                .clone()
        };
        let (od, ud) = (deps(om), deps(um));
        for (name, uv) in &ud {
            let p = format!("{path}/dependencies/{name}");
            match (od.get(name), uv) {
                (None, Value::Array(_)) => {
                    self.fail(&p, "DEPENDENCY_ARRAY_ADDED", "a new property dependency")
                }
                (None, _) => self.fail(&p, "DEPENDENCY_SCHEMA_ADDED", "a new schema dependency"),
                (Some(Value::Array(ov)), Value::Array(uv)) => {
                    if uv.iter().any(|x| !ov.contains(x)) {
                        self.fail(&p, "DEPENDENCY_ARRAY_EXTENDED", "the dependency grew");
                    }
                }
                (Some(Value::Array(_)), _) | (Some(_), Value::Array(_)) => {
                    self.fail(&p, "DEPENDENCY_CHANGED", "a list became a schema or back")
                }
                (Some(ov), uv) => self.compare(ov, uv, &p),
            }
        }
    }

    fn compare_arrays(&mut self, om: &Map<String, Value>, um: &Map<String, Value>, path: &str) {
        self.limit(om, um, "maxItems", true, path);
        self.limit(om, um, "minItems", false, path);
        self.limit(om, um, "maxContains", true, path);
        self.limit(om, um, "minContains", false, path);
        if um.get("uniqueItems") == Some(&Value::Bool(true))
            && om.get("uniqueItems") != Some(&Value::Bool(true))
        {
            self.fail(path, "UNIQUE_ITEMS_ADDED", "items must now be unique");
        }
        fn tuple(m: &Map<String, Value>) -> Option<&Vec<Value>> {
            m.get("prefixItems")
                .or_else(|| m.get("items"))
                .and_then(Value::as_array)
        }
        fn rest(m: &Map<String, Value>) -> Option<&Value> {
            if m.contains_key("prefixItems") {
                m.get("items")
            } else {
                m.get("additionalItems")
            }
        }
        // No `items` at all is an open list: against a tuple, a tuple of none.
        let no_items: Vec<Value> = Vec::new();
        let (ot, ut) = match (tuple(om), tuple(um)) {
            (Some(t), None) if !um.contains_key("items") => (Some(t), Some(&no_items)),
            (None, Some(t)) if !om.contains_key("items") => (Some(&no_items), Some(t)),
            pair => pair,
        };
        self.compare_additional(om, um, "additionalItems", path);
        match (ot, ut) {
            (None, None) => {
                if let (Some(a), Some(b)) = (om.get("items"), um.get("items")) {
                    self.compare(a, b, &format!("{path}/items"));
                } else if let (None, Some(b)) = (om.get("items"), um.get("items")) {
                    if !is_empty_schema(b) {
                        self.fail(path, "ITEMS_NARROWED", "items gained a schema");
                    }
                }
            }
            (Some(ot), Some(ut)) => {
                for (i, (a, b)) in ot.iter().zip(ut).enumerate() {
                    self.compare(a, b, &format!("{path}/items/{i}"));
                }
                for (i, a) in ot.iter().enumerate().skip(ut.len()) {
                    let p = format!("{path}/items/{i}");
                    match rest(um) {
                        None | Some(Value::Bool(true)) => {}
                        Some(Value::Bool(false)) if !matches!(a, Value::Bool(false)) => self.fail(
                            &p,
                            "ITEM_REMOVED_FROM_CLOSED_CONTENT_MODEL",
                            "the reader refuses the removed item",
                        ),
                        Some(cover) => {
                            if !self.compatible(a, cover, &p) {
                                self.fail(
                                    &p,
                                    "ITEM_REMOVED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL",
                                    "the removed item's values are refused",
                                );
                            }
                        }
                    }
                }
                for (i, b) in ut.iter().enumerate().skip(ot.len()) {
                    let p = format!("{path}/items/{i}");
                    match rest(om) {
                        Some(Value::Bool(false)) => {}
                        None | Some(Value::Bool(true)) => {
                            if !is_empty_schema(b) {
                                self.fail(
                                    &p,
                                    "ITEM_ADDED_TO_OPEN_CONTENT_MODEL",
                                    "old data may hold any value at this index",
                                );
                            }
                        }
                        Some(cover) => {
                            if !self.compatible(cover, b, &p) {
                                self.fail(
                                    &p,
                                    "ITEM_ADDED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL",
                                    "old data may hold values the new item refuses",
                                );
                            }
                        }
                    }
                }
            }
            _ => self.fail(
                path,
                "TYPE_CHANGED",
                "a list schema became a tuple schema or back",
            ),
        }
    }
}

fn augment(
    i: usize,
    edges: &[Vec<usize>],
    owner: &mut [Option<usize>],
    visited: &mut [bool],
) -> bool {
    for &j in &edges[i] {
        if visited[j] {
            continue;
        }
        visited[j] = true;
        if owner[j].is_none_or(|k| augment(k, edges, owner, visited)) {
            owner[j] = Some(i);
            return true;
        }
    }
    false
}

/// How an object schema treats a property it does not list.
enum Model<'a> {
    Open,
    /// Covered by a `patternProperties` or `additionalProperties` schema.
    Partial(&'a Value),
    Closed,
}

fn model<'a>(m: &'a Map<String, Value>, name: &str) -> Model<'a> {
    if let Some(patterns) = m.get("patternProperties").and_then(Value::as_object) {
        for (pattern, schema) in patterns {
            if crate::names::pattern(pattern).is_ok_and(|re| re.is_match(name)) {
                return Model::Partial(schema);
            }
        }
    }
    match m.get("additionalProperties") {
        None | Some(Value::Bool(true)) => Model::Open,
        Some(Value::Bool(false)) => Model::Closed,
        Some(schema) => Model::Partial(schema),
    }
}

fn to_screaming(key: &str) -> String {
    let mut out = String::new();
    for c in key.chars() {
        if c.is_uppercase() {
            out.push('_');
        }
        out.push(c.to_ascii_uppercase());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(writer: Value, reader: Value) -> Result<(), String> {
        can_read(&writer, &reader).map_err(|e| e.to_string())
    }

    fn fails_with(writer: Value, reader: Value, what: &str) {
        let err = check(writer, reader).expect_err(what);
        assert!(err.contains(what), "{what}: {err}");
    }

    #[test]
    fn types_and_limits() {
        assert!(check(json!({"type": "integer"}), json!({"type": "number"})).is_ok());
        fails_with(
            json!({"type": "number"}),
            json!({"type": "integer"}),
            "TYPE_NARROWED",
        );
        fails_with(
            json!({"type": "string"}),
            json!({"type": "boolean"}),
            "TYPE_CHANGED",
        );
        assert!(check(
            json!({"type": "string", "maxLength": 5}),
            json!({"type": "string", "maxLength": 9})
        )
        .is_ok());
        fails_with(
            json!({"type": "string", "maxLength": 5}),
            json!({"type": "string", "maxLength": 3}),
            "MAX_LENGTH_DECREASED",
        );
        fails_with(
            json!({"type": "string"}),
            json!({"type": "string", "pattern": "^a"}),
            "PATTERN_ADDED",
        );
        fails_with(
            json!({"type": "number"}),
            json!({"type": "number", "minimum": 0}),
            "MINIMUM_ADDED",
        );
        assert!(check(
            json!({"type": "number", "multipleOf": 10}),
            json!({"type": "number", "multipleOf": 5})
        )
        .is_ok());
        fails_with(
            json!({"type": "number", "multipleOf": 5}),
            json!({"type": "number", "multipleOf": 10}),
            "MULTIPLE_OF_EXPANDED",
        );
        assert!(check(json!({"enum": ["a"]}), json!({"enum": ["a", "b"]})).is_ok());
        fails_with(
            json!({"enum": ["a", "b"]}),
            json!({"enum": ["a"]}),
            "ENUM_ARRAY_NARROWED",
        );
        // A union that still has the old type reads old data; the reverse does not hold.
        assert!(check(
            json!({"type": "string"}),
            json!({"type": ["string", "null"]})
        )
        .is_ok());
        assert!(check(
            json!({"type": ["string", "null"]}),
            json!({"type": "string"})
        )
        .is_err());
        assert!(check(
            json!({"type": "string"}),
            json!({"oneOf": [{"type": "null"}, {"type": "string"}]})
        )
        .is_ok());
        fails_with(
            json!({"anyOf": [{"type": "string"}, {"type": "integer"}]}),
            json!({"anyOf": [{"type": "string"}]}),
            "SUM_TYPE_NARROWED",
        );
    }

    #[test]
    fn content_models() {
        let open = json!({"type": "object", "properties": {"a": {"type": "string"}}});
        let closed = json!({"type": "object", "properties": {"a": {"type": "string"}}, "additionalProperties": false});
        // Open model: a new constrained property may clash with what old data holds.
        fails_with(
            open.clone(),
            json!({"type": "object", "properties": {"a": {"type": "string"}, "b": {"type": "integer"}}}),
            "PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL",
        );
        // Removing from an open reader is fine; from a closed one it is not.
        assert!(check(open.clone(), json!({"type": "object"})).is_ok());
        fails_with(
            closed.clone(),
            json!({"type": "object", "additionalProperties": false}),
            "PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL",
        );
        // Closed model: optional additions are fine, required ones only with a default.
        let mut added = closed.clone();
        added["properties"]["b"] = json!({"type": "integer"});
        assert!(check(closed.clone(), added.clone()).is_ok());
        added["required"] = json!(["b"]);
        fails_with(
            closed.clone(),
            added.clone(),
            "REQUIRED_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL",
        );
        added["properties"]["b"]["default"] = json!(0);
        assert!(check(closed.clone(), added).is_ok());
        // Partially open: additions must accept what the pattern allowed.
        let partial = json!({"type": "object", "patternProperties": {"^n_": {"type": "number"}}, "additionalProperties": false});
        assert!(check(partial.clone(), json!({"type": "object", "properties": {"n_x": {"type": "number"}}, "patternProperties": {"^n_": {"type": "number"}}, "additionalProperties": false})).is_ok());
        fails_with(
            partial.clone(),
            json!({"type": "object", "properties": {"n_x": {"type": "integer"}}, "patternProperties": {"^n_": {"type": "number"}}, "additionalProperties": false}),
            "NOT_COVERED",
        );
        // Required: making an existing property required is incompatible.
        fails_with(
            open.clone(),
            json!({"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]}),
            "REQUIRED_ATTRIBUTE_ADDED",
        );
        fails_with(open, closed, "ADDITIONAL_PROPERTIES_REMOVED");
    }

    #[test]
    fn nested_refs_and_arrays() {
        let v1 = json!({"type": "object", "properties": {"list": {"type": "array", "items": {"$ref": "#/definitions/item"}}},
                        "definitions": {"item": {"type": "integer"}}});
        let v2 = json!({"type": "object", "properties": {"list": {"type": "array", "items": {"$ref": "#/definitions/item"}}},
                        "definitions": {"item": {"type": "string"}}});
        fails_with(v1.clone(), v2, "TYPE_CHANGED");
        assert!(check(v1.clone(), v1).is_ok());
        let tree = json!({"$ref": "#/definitions/node", "definitions": {"node": {"type": "object",
                          "properties": {"kids": {"type": "array", "items": {"$ref": "#/definitions/node"}}}}}});
        assert!(
            check(tree.clone(), tree).is_ok(),
            "recursive schemas terminate"
        );
        fails_with(
            json!({"type": "array", "items": [{"type": "string"}]}),
            json!({"type": "array", "items": [{"type": "string"}, {"type": "integer"}]}),
            "ITEM_ADDED_TO_OPEN_CONTENT_MODEL",
        );
        assert!(check(
            json!({"type": "array", "items": [{"type": "string"}], "additionalItems": false}),
            json!({"type": "array", "items": [{"type": "string"}, {"type": "integer"}]})
        )
        .is_ok());
        fails_with(
            json!({"type": "array"}),
            json!({"type": "array", "uniqueItems": true}),
            "UNIQUE_ITEMS_ADDED",
        );
    }
}
