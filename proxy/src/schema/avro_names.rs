//! Avro names checked before a schema reaches apache-avro.
//!
//! apache-avro 0.21 validates the `name` of a named type but then unwraps the result in several
//! places (`Name::parse`, aliases, type references), so a schema naming a type `test-schema`
//! panicked inside the parser: over HTTP the request task died with no answer, and replaying such
//! a record from `_schemas` killed the registry's log reader. Every name the parser would unwrap
//! is checked here against the Avro specification's rule first, so such a schema is an ordinary
//! "Invalid schema" error.

use serde_json::Value;

use super::error::SchemaError;

/// How deep types may nest: apache-avro parses recursively.
const MAX_DEPTH: usize = 64;

/// The names the Avro specification reserves for types that are not named types.
const BUILT_IN: &[&str] = &[
    "null", "boolean", "int", "long", "float", "double", "bytes", "string", "record", "error",
    "enum", "array", "map", "fixed",
];

/// Checks the names in a parsed Avro schema document.
pub fn check(schema: &Value) -> Result<(), SchemaError> {
    check_at(schema, 0)
}

fn check_at(schema: &Value, depth: usize) -> Result<(), SchemaError> {
    // apache-avro parses recursively too; a schema this deep is refused before it can be.
    if depth > MAX_DEPTH {
        return Err(SchemaError::TooDeep(MAX_DEPTH));
    }
    match schema {
        Value::String(name) => reference(name),
        Value::Array(union) => union.iter().try_for_each(|s| check_at(s, depth + 1)),
        Value::Object(map) => {
            let kind = map.get("type");
            if let Some(Value::String(kind)) = kind {
                if matches!(kind.as_str(), "record" | "error" | "enum" | "fixed") {
                    if let Some(name) = map.get("name") {
                        let name = name
                            .as_str()
                            .ok_or(SchemaError::NotAString("a type's name"))?;
                        full_name(name)?;
                    }
                    if let Some(ns) = map.get("namespace").and_then(Value::as_str) {
                        if !ns.is_empty() {
                            full_name(ns)
                                .map_err(|_| SchemaError::AvroNamespace(ns.to_string()))?;
                        }
                    }
                    if let Some(Value::Array(aliases)) = map.get("aliases") {
                        for alias in aliases {
                            full_name(alias.as_str().ok_or(SchemaError::NotAString("an alias"))?)?;
                        }
                    }
                }
            }
            if let Some(kind) = kind {
                check_at(kind, depth + 1)?;
            }
            for key in ["items", "values"] {
                if let Some(inner) = map.get(key) {
                    check_at(inner, depth + 1)?;
                }
            }
            if let Some(Value::Array(fields)) = map.get("fields") {
                for field in fields {
                    if let Some(t) = field.get("type") {
                        check_at(t, depth + 1)?;
                    }
                }
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// A type referenced by name (a string where a schema is expected).
fn reference(name: &str) -> Result<(), SchemaError> {
    if BUILT_IN.contains(&name) {
        return Ok(());
    }
    full_name(name)
}

/// `[A-Za-z_][A-Za-z0-9_]*` segments joined by dots.
fn full_name(name: &str) -> Result<(), SchemaError> {
    let segment_ok = |s: &str| {
        let mut bytes = s.bytes();
        bytes
            .next()
            .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
            && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
    };
    if name.split('.').all(segment_ok) {
        Ok(())
    } else {
        Err(SchemaError::AvroName(name.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn names() {
        check(&json!("string")).unwrap();
        check(
            &json!({"type":"record","name":"a.b_1.C","namespace":"x.y","aliases":["Old"],
            "fields":[{"name":"f","type":["null",{"type":"enum","name":"E","symbols":["A"]}]},
                      {"name":"g","type":{"type":"array","items":"a.b_1.C"}}]}),
        )
        .unwrap();
        for bad in [
            json!({"type":"record","name":"test-schema","fields":[]}),
            json!({"type":"fixed","name":"F","size":1,"aliases":["a-b"]}),
            json!({"type":"record","name":"R","namespace":"1x","fields":[]}),
            json!({"type":"record","name":"R","fields":[{"name":"f","type":"no-such"}]}),
            json!({"type":{"type":"record","name":"bad name","fields":[]}}),
            json!({"type":"map","values":"x..y"}),
            json!(["null", "9lives"]),
        ] {
            assert!(check(&bad).is_err(), "{bad}");
        }
        let mut deep = json!("int");
        for _ in 0..100 {
            deep = json!({"type":"array","items":deep});
        }
        assert!(check(&deep).is_err());
    }
}
