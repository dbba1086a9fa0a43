//! What the registry needs to know about each schema type: parsing (validity), a canonical form
//! (to recognise a schema registered before), and reader/writer compatibility.

use std::collections::HashMap;
use std::sync::Arc;

use apache_avro::schema::{Name, ResolvedSchema};
use serde::{Deserialize, Serialize};

/// The schema types of Confluent's Schema Registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "UPPERCASE")]
pub enum SchemaType {
    #[default]
    Avro,
    Json,
    Protobuf,
}

impl SchemaType {
    pub fn name(self) -> &'static str {
        match self {
            SchemaType::Avro => "AVRO",
            SchemaType::Json => "JSON",
            SchemaType::Protobuf => "PROTOBUF",
        }
    }

    /// Parses `AVRO`, `JSON` or `PROTOBUF` (case-insensitively, as Confluent does).
    pub fn parse(name: &str) -> Option<SchemaType> {
        match name.to_ascii_uppercase().as_str() {
            "AVRO" => Some(SchemaType::Avro),
            "JSON" => Some(SchemaType::Json),
            "PROTOBUF" => Some(SchemaType::Protobuf),
            _ => None,
        }
    }
}

/// A parsed schema. Cheap to clone.
#[derive(Debug, Clone)]
pub enum Parsed {
    Avro(Arc<AvroSchema>),
    Json(Arc<JsonSchema>),
}

/// An Avro schema with its named types resolved once, not per record.
pub struct AvroSchema {
    pub schema: apache_avro::Schema,
    names: HashMap<Name, apache_avro::Schema>,
}

impl AvroSchema {
    pub fn parse(text: &str) -> Result<Self, String> {
        let schema = apache_avro::Schema::parse_str(text).map_err(|e| e.to_string())?;
        let names = ResolvedSchema::try_from(&schema)
            .map_err(|e| e.to_string())?
            .get_names()
            .iter()
            .map(|(n, s)| (n.clone(), (*s).clone()))
            .collect();
        Ok(AvroSchema { schema, names })
    }

    /// `schema` itself, or the named type a `Ref` points at.
    pub fn resolve<'s>(
        &'s self,
        schema: &'s apache_avro::Schema,
    ) -> Result<&'s apache_avro::Schema, String> {
        match schema {
            apache_avro::Schema::Ref { name } => self
                .names
                .get(name)
                .ok_or_else(|| format!("unknown type {}", name.fullname(None))),
            other => Ok(other),
        }
    }
}

impl std::fmt::Debug for AvroSchema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AvroSchema({})", self.schema.canonical_form())
    }
}

/// A JSON Schema and its compiled validator.
pub struct JsonSchema {
    pub value: serde_json::Value,
    pub validator: jsonschema::Validator,
}

impl std::fmt::Debug for JsonSchema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "JsonSchema({})", self.value)
    }
}

/// Parses a schema of `kind`; the error says why it is invalid.
pub fn parse(kind: SchemaType, text: &str) -> Result<Parsed, String> {
    match kind {
        SchemaType::Avro => AvroSchema::parse(text)
            .map(|s| Parsed::Avro(Arc::new(s)))
            .map_err(|e| format!("Invalid schema: {e}")),
        SchemaType::Json => {
            let value: serde_json::Value =
                serde_json::from_str(text).map_err(|e| format!("Invalid schema: {e}"))?;
            if !(value.is_object() || value.is_boolean()) {
                return Err("Invalid schema: a JSON Schema is an object or a boolean".into());
            }
            let validator =
                jsonschema::validator_for(&value).map_err(|e| format!("Invalid schema: {e}"))?;
            Ok(Parsed::Json(Arc::new(JsonSchema { value, validator })))
        }
        SchemaType::Protobuf => {
            Err("Invalid schema: PROTOBUF schemas are not supported by this registry yet".into())
        }
    }
}

/// The form two registrations are compared in: Avro's Parsing Canonical Form, compact JSON.
pub fn canonical(parsed: &Parsed) -> String {
    match parsed {
        Parsed::Avro(s) => s.schema.canonical_form(),
        Parsed::Json(j) => j.value.to_string(),
    }
}

/// Whether data written with `writer` can be read with `reader`.
pub fn can_read(writer: &Parsed, reader: &Parsed) -> Result<(), String> {
    match (writer, reader) {
        (Parsed::Avro(w), Parsed::Avro(r)) => {
            apache_avro::schema_compatibility::SchemaCompatibility::can_read(&w.schema, &r.schema)
                .map_err(|e| e.to_string())
        }
        // JSON Schema compatibility has no rules here yet (README): any change is accepted.
        (Parsed::Json(_), Parsed::Json(_)) => Ok(()),
        _ => Err("the schema type changed".into()),
    }
}

/// Compatibility levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Compatibility {
    None,
    Backward,
    BackwardTransitive,
    Forward,
    ForwardTransitive,
    Full,
    FullTransitive,
}

impl Compatibility {
    pub fn parse(name: &str) -> Option<Compatibility> {
        Some(match name.to_ascii_uppercase().as_str() {
            "NONE" => Compatibility::None,
            "BACKWARD" => Compatibility::Backward,
            "BACKWARD_TRANSITIVE" => Compatibility::BackwardTransitive,
            "FORWARD" => Compatibility::Forward,
            "FORWARD_TRANSITIVE" => Compatibility::ForwardTransitive,
            "FULL" => Compatibility::Full,
            "FULL_TRANSITIVE" => Compatibility::FullTransitive,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Compatibility::None => "NONE",
            Compatibility::Backward => "BACKWARD",
            Compatibility::BackwardTransitive => "BACKWARD_TRANSITIVE",
            Compatibility::Forward => "FORWARD",
            Compatibility::ForwardTransitive => "FORWARD_TRANSITIVE",
            Compatibility::Full => "FULL",
            Compatibility::FullTransitive => "FULL_TRANSITIVE",
        }
    }

    fn transitive(self) -> bool {
        matches!(
            self,
            Compatibility::BackwardTransitive
                | Compatibility::ForwardTransitive
                | Compatibility::FullTransitive
        )
    }

    /// Checks `new` against `previous` (oldest first, live versions only): the latest alone, or
    /// all of them for the transitive levels. Returns the reasons it is incompatible.
    pub fn check(self, new: &Parsed, previous: &[Parsed]) -> Result<(), Vec<String>> {
        if self == Compatibility::None {
            return Ok(());
        }
        let against: &[Parsed] = if self.transitive() {
            previous
        } else {
            previous.last().map(std::slice::from_ref).unwrap_or(&[])
        };
        let (backward, forward) = match self {
            Compatibility::Backward | Compatibility::BackwardTransitive => (true, false),
            Compatibility::Forward | Compatibility::ForwardTransitive => (false, true),
            _ => (true, true),
        };
        let mut why = Vec::new();
        for old in against {
            if backward {
                if let Err(e) = can_read(old, new) {
                    why.push(format!(
                        "the new schema cannot read data written with an earlier one: {e}"
                    ));
                }
            }
            if forward {
                if let Err(e) = can_read(new, old) {
                    why.push(format!(
                        "an earlier schema cannot read data written with the new one: {e}"
                    ));
                }
            }
        }
        if why.is_empty() {
            Ok(())
        } else {
            Err(why)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const V1: &str =
        r#"{"type":"record","name":"User","fields":[{"name":"name","type":"string"}]}"#;
    /// Adds a field with a default: readable both ways.
    const V2: &str = r#"{"type":"record","name":"User","fields":[{"name":"name","type":"string"},
        {"name":"age","type":["null","int"],"default":null}]}"#;
    /// Adds a field without a default: new readers cannot read old data.
    const V3: &str = r#"{"type":"record","name":"User","fields":[{"name":"name","type":"string"},
        {"name":"email","type":"string"}]}"#;

    fn avro(text: &str) -> Parsed {
        parse(SchemaType::Avro, text).unwrap()
    }

    #[test]
    fn avro_levels() {
        let (v1, v2, v3) = (avro(V1), avro(V2), avro(V3));
        assert!(Compatibility::Backward
            .check(&v2, std::slice::from_ref(&v1))
            .is_ok());
        assert!(Compatibility::Full
            .check(&v2, std::slice::from_ref(&v1))
            .is_ok());
        assert!(Compatibility::Backward
            .check(&v3, std::slice::from_ref(&v1))
            .is_err());
        // FORWARD: old readers ignore the new field.
        assert!(Compatibility::Forward
            .check(&v3, std::slice::from_ref(&v1))
            .is_ok());
        assert!(Compatibility::None
            .check(&v3, std::slice::from_ref(&v1))
            .is_ok());
        // Transitive levels look past the latest version: `age` without a default reads v2's
        // data but not v1's.
        let with_default = avro(
            r#"{"type":"record","name":"User","fields":[{"name":"name","type":"string"},
                {"name":"age","type":"int","default":0}]}"#,
        );
        let required = avro(
            r#"{"type":"record","name":"User","fields":[{"name":"name","type":"string"},
                {"name":"age","type":"int"}]}"#,
        );
        let history = [v1.clone(), with_default];
        assert!(Compatibility::Backward.check(&required, &history).is_ok());
        assert!(Compatibility::BackwardTransitive
            .check(&required, &history)
            .is_err());
    }

    #[test]
    fn canonical_forms_ignore_layout() {
        let a = avro(V1);
        let b = avro(
            r#"{ "name": "User", "type": "record", "doc": "x",
                 "fields": [ {"type": "string", "name": "name"} ] }"#,
        );
        assert_eq!(canonical(&a), canonical(&b));
        assert!(parse(SchemaType::Avro, r#"{"type":"nope"}"#).is_err());
        assert!(parse(SchemaType::Json, "[1]").is_err());
        assert!(parse(SchemaType::Json, r#"{"type":"object"}"#).is_ok());
        assert!(parse(SchemaType::Json, r#"{"type":"no-such-type"}"#).is_err());
    }
}
