//! Field defaults that do not match their field's type. Confluent's registry parses Avro with
//! Avro Java's default validation off, so `{"name":"f","type":["null","int"],"default":"null"}`
//! registers; apache-avro refuses it. For apache-avro's parse only, such a default is replaced by
//! a default of the field's type (the first branch of a union, as the Avro specification reads a
//! union's default), so the field still has a default for compatibility checks and for filling
//! in when reading older data. The registry keeps and shows the schema's own text, default and
//! all. A default that matches its type is never touched.
//!
//! A *new* registration is still checked ([`first_mismatch`]): Confluent validates defaults then
//! (`validateNewSchemas`, on by default), with Avro 1.12's rule that a union's default may match
//! any branch. Lookups, compatibility checks, imports and the `_schemas` log are not.

use std::collections::HashMap;

use serde_json::{json, Map, Value};

/// The first field whose default matches no branch of its type (`record.field`), as Avro 1.12
/// validates defaults when Confluent registers a new schema (`validateNewSchemas`).
pub fn first_mismatch(schema: &Value) -> Option<String> {
    let mut names = HashMap::new();
    collect_names(schema, None, &mut names);
    let mut found = None;
    find_mismatch(schema, &names, &mut found, 0);
    found
}

fn find_mismatch(
    s: &Value,
    names: &HashMap<String, &Value>,
    found: &mut Option<String>,
    depth: usize,
) {
    if depth > MAX_DEPTH || found.is_some() {
        return;
    }
    match s {
        Value::Array(branches) => branches
            .iter()
            .for_each(|b| find_mismatch(b, names, found, depth + 1)),
        Value::Object(m) => {
            for key in ["type", "items", "values"] {
                if let Some(inner) = m.get(key).filter(|v| !v.is_string()) {
                    find_mismatch(inner, names, found, depth + 1);
                }
            }
            for f in m
                .get("fields")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if let Some(t) = f.get("type") {
                    find_mismatch(t, names, found, depth + 1);
                    if let Some(default) = f.get("default") {
                        if found.is_none() && !matches(t, default, names, 0) {
                            let record = m.get("name").and_then(Value::as_str).unwrap_or("");
                            let field = f.get("name").and_then(Value::as_str).unwrap_or("");
                            *found = Some(format!("{record}.{field}: {default} not a {t}"));
                        }
                    }
                }
            }
        }
        _ => {}
    }
}

/// `schema` with every mismatched field default replaced, or None when nothing was replaced.
pub fn with_valid_defaults(schema: &Value) -> Option<Value> {
    let mut names = HashMap::new();
    collect_names(schema, None, &mut names);
    let mut fixed = schema.clone();
    let mut changed = false;
    repair(&mut fixed, None, &names, &mut changed, 0);
    changed.then_some(fixed)
}

const MAX_DEPTH: usize = 64;

/// Named types by full name (and by short name, for the common single-namespace schema).
fn collect_names<'a>(s: &'a Value, space: Option<&str>, names: &mut HashMap<String, &'a Value>) {
    match s {
        Value::Array(branches) => branches.iter().for_each(|b| collect_names(b, space, names)),
        Value::Object(m) => {
            let ty = m.get("type").and_then(Value::as_str).unwrap_or("");
            let mut inner_space = space.map(str::to_string);
            if matches!(ty, "record" | "error" | "enum" | "fixed") {
                if let Some(name) = m.get("name").and_then(Value::as_str) {
                    let full = full_name(name, m.get("namespace").and_then(Value::as_str), space);
                    inner_space = full.rsplit_once('.').map(|(ns, _)| ns.to_string());
                    let short = full.rsplit('.').next().unwrap_or(&full).to_string();
                    names.insert(full, s);
                    names.entry(short).or_insert(s);
                }
            }
            let space = inner_space.as_deref();
            for key in ["type", "items", "values"] {
                if let Some(inner) = m.get(key).filter(|v| !v.is_string()) {
                    collect_names(inner, space, names);
                }
            }
            if let Some(Value::Array(fields)) = m.get("fields") {
                for f in fields {
                    if let Some(t) = f.get("type") {
                        collect_names(t, space, names);
                    }
                }
            }
        }
        _ => {}
    }
}

fn full_name(name: &str, namespace: Option<&str>, enclosing: Option<&str>) -> String {
    if name.contains('.') {
        return name.to_string();
    }
    match namespace.or(enclosing).filter(|s| !s.is_empty()) {
        Some(ns) => format!("{ns}.{name}"),
        None => name.to_string(),
    }
}

fn repair(
    s: &mut Value,
    space: Option<&str>,
    names: &HashMap<String, &Value>,
    changed: &mut bool,
    depth: usize,
) {
    if depth > MAX_DEPTH {
        return;
    }
    match s {
        Value::Array(branches) => branches
            .iter_mut()
            .for_each(|b| repair(b, space, names, changed, depth + 1)),
        Value::Object(m) => {
            let mut inner_space = space.map(str::to_string);
            if let (Some(name), true) = (
                m.get("name").and_then(Value::as_str),
                matches!(
                    m.get("type").and_then(Value::as_str),
                    Some("record" | "error" | "enum" | "fixed")
                ),
            ) {
                let full = full_name(name, m.get("namespace").and_then(Value::as_str), space);
                inner_space = full.rsplit_once('.').map(|(ns, _)| ns.to_string());
            }
            let space = inner_space.as_deref();
            for key in ["type", "items", "values"] {
                if let Some(inner) = m.get_mut(key).filter(|v| !v.is_string()) {
                    repair(inner, space, names, changed, depth + 1);
                }
            }
            if let Some(Value::Array(fields)) = m.get_mut("fields") {
                for f in fields.iter_mut().filter_map(Value::as_object_mut) {
                    if let Some(t) = f.get_mut("type") {
                        repair(t, space, names, changed, depth + 1);
                    }
                    repair_field(f, names, changed);
                }
            }
        }
        _ => {}
    }
}

fn repair_field(f: &mut Map<String, Value>, names: &HashMap<String, &Value>, changed: &mut bool) {
    let (Some(ty), Some(default)) = (f.get("type"), f.get("default")) else {
        return;
    };
    if matches(ty, default, names, 0) {
        return;
    }
    let replacement = default_of(ty, names, 0);
    f.insert("default".into(), replacement);
    *changed = true;
}

/// Whether `v` is a JSON default of type `ty` (the Avro specification's JSON encoding; a union's
/// default may match any branch, as apache-avro accepts).
fn matches(ty: &Value, v: &Value, names: &HashMap<String, &Value>, depth: usize) -> bool {
    if depth > MAX_DEPTH {
        return true;
    }
    match ty {
        Value::Array(branches) => branches.iter().any(|b| matches(b, v, names, depth + 1)),
        Value::String(name) => match name.as_str() {
            "null" => v.is_null(),
            "boolean" => v.is_boolean(),
            "int" | "long" => v.is_i64() || v.is_u64(),
            "float" | "double" => v.is_number(),
            "bytes" | "string" => v.is_string(),
            other => names
                .get(other)
                .or_else(|| names.get(other.rsplit('.').next().unwrap_or(other)))
                .is_none_or(|named| matches(named, v, names, depth + 1)),
        },
        Value::Object(m) => match m.get("type") {
            Some(Value::String(t)) => match t.as_str() {
                "record" | "error" => match (v, m.get("fields")) {
                    (Value::Object(values), Some(Value::Array(fields))) => fields.iter().all(|f| {
                        match (f.get("name").and_then(Value::as_str), f.get("type")) {
                            (Some(name), Some(fty)) => match values.get(name) {
                                Some(fv) => matches(fty, fv, names, depth + 1),
                                None => f.get("default").is_some(),
                            },
                            _ => true,
                        }
                    }),
                    _ => false,
                },
                "enum" => v.as_str().is_some_and(|sym| {
                    m.get("symbols")
                        .and_then(Value::as_array)
                        .is_some_and(|s| s.iter().any(|x| x == sym))
                }),
                "fixed" => v.is_string(),
                "array" => match (v, m.get("items")) {
                    (Value::Array(items), Some(it)) => {
                        items.iter().all(|i| matches(it, i, names, depth + 1))
                    }
                    _ => false,
                },
                "map" => match (v, m.get("values")) {
                    (Value::Object(vals), Some(vt)) => {
                        vals.values().all(|i| matches(vt, i, names, depth + 1))
                    }
                    _ => false,
                },
                primitive => matches(&json!(primitive), v, names, depth + 1),
            },
            Some(inner) => matches(inner, v, names, depth + 1),
            None => true,
        },
        _ => true,
    }
}

/// A default of type `ty`: the zero of its kind (a union: of its first branch).
fn default_of(ty: &Value, names: &HashMap<String, &Value>, depth: usize) -> Value {
    if depth > MAX_DEPTH {
        return Value::Null;
    }
    match ty {
        Value::Array(branches) => branches
            .first()
            .map_or(Value::Null, |b| default_of(b, names, depth + 1)),
        Value::String(name) => match name.as_str() {
            "null" => Value::Null,
            "boolean" => json!(false),
            "int" | "long" => json!(0),
            "float" | "double" => json!(0.0),
            "bytes" | "string" => json!(""),
            other => names
                .get(other)
                .or_else(|| names.get(other.rsplit('.').next().unwrap_or(other)))
                .map_or(Value::Null, |named| default_of(named, names, depth + 1)),
        },
        Value::Object(m) => match m.get("type") {
            Some(Value::String(t)) => match t.as_str() {
                "record" | "error" => {
                    let mut out = Map::new();
                    for f in m
                        .get("fields")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                    {
                        if let (Some(name), Some(fty)) =
                            (f.get("name").and_then(Value::as_str), f.get("type"))
                        {
                            out.insert(name.to_string(), default_of(fty, names, depth + 1));
                        }
                    }
                    Value::Object(out)
                }
                "enum" => m
                    .get("symbols")
                    .and_then(Value::as_array)
                    .and_then(|s| s.first().cloned())
                    .unwrap_or(Value::Null),
                "fixed" => {
                    let size = m.get("size").and_then(Value::as_u64).unwrap_or(0) as usize;
                    Value::String("\u{0}".repeat(size))
                }
                "array" => json!([]),
                "map" => json!({}),
                primitive => default_of(&json!(primitive), names, depth + 1),
            },
            Some(inner) => default_of(inner, names, depth + 1),
            None => Value::Null,
        },
        _ => Value::Null,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mismatched_defaults_are_replaced_and_matching_ones_kept() {
        let schema = json!({"type": "record", "name": "R", "fields": [
            {"name": "a", "type": ["null", "int"], "default": "null"},
            {"name": "b", "type": "int", "default": 5},
            {"name": "c", "type": {"type": "enum", "name": "E", "symbols": ["X", "Y"]}, "default": "Z"},
            {"name": "d", "type": "E", "default": "Y"},
            {"name": "e", "type": ["string", "null"], "default": null}
        ]});
        let fixed = with_valid_defaults(&schema).unwrap();
        let defaults: Vec<&Value> = fixed["fields"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| &f["default"])
            .collect();
        assert_eq!(
            defaults,
            [
                &json!(null),
                &json!(5),
                &json!("X"),
                &json!("Y"),
                &json!(null)
            ]
        );
        let fine = json!({"type": "record", "name": "R", "fields": [
            {"name": "a", "type": ["null", "int"], "default": null}
        ]});
        assert_eq!(with_valid_defaults(&fine), None);
    }
}
