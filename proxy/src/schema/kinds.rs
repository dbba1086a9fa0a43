//! What the registry needs to know about each schema type: parsing (validity), a canonical form
//! (to recognise a schema registered before), and reader/writer compatibility.

use std::collections::HashMap;
use std::sync::Arc;

use apache_avro::schema::{Name, ResolvedSchema};
use serde::{Deserialize, Serialize};

use super::error::{Incompatibility, InvalidSchema, SchemaError};
use super::ordered_json::Ordered;
pub use super::proto::ProtoSchema;

/// A schema reference (`references` in the API): the name a schema imports and the subject
/// version it resolves to. Here, beside the kinds that resolve them, so the store depends on the
/// kinds and not the other way round.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Reference {
    pub name: String,
    pub subject: String,
    pub version: i32,
}

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
    Protobuf(Arc<ProtoSchema>),
}

/// A schema that another one references (`references`), resolved to its text: what an Avro
/// named type, a JSON Schema `$ref` or a Protobuf `import` finds under `name`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dependency {
    pub name: String,
    pub kind: SchemaType,
    pub schema: String,
}

/// An Avro schema with its named types resolved once, not per record.
pub struct AvroSchema {
    pub schema: apache_avro::Schema,
    /// The text Confluent keeps and shows (Avro Java's `toString()`, [`super::avro_text`]).
    pub text: String,
    /// The schemas of the references, which define named types `schema` uses.
    pub referenced: Vec<apache_avro::Schema>,
    names: HashMap<Name, apache_avro::Schema>,
}

impl AvroSchema {
    /// Parses `text`; named types it uses may come from `dependencies` (referenced schemas'
    /// texts, each defining one named type, dependencies first).
    pub fn parse(text: &str, dependencies: &[&str]) -> Result<Self, SchemaError> {
        // What apache-avro parses: each text with its mismatched field defaults replaced
        // (`avro_defaults`: Confluent accepts them).
        let mut parsed_texts = Vec::with_capacity(dependencies.len() + 1);
        for t in dependencies.iter().chain(std::iter::once(&text)) {
            let doc: serde_json::Value = serde_json::from_str(t).map_err(parse_error)?;
            super::avro_names::check(&doc)?;
            parsed_texts.push(match super::avro_defaults::with_valid_defaults(&doc) {
                Some(fixed) => std::borrow::Cow::Owned(fixed.to_string()),
                None => std::borrow::Cow::Borrowed(*t),
            });
        }
        let (own, deps) = parsed_texts.split_last().expect("the schema's own text");
        let deps: Vec<&str> = deps.iter().map(|t| t.as_ref()).collect();
        // The names apache-avro unwraps are checked above; a panic left in the library must
        // still not take a request or the registry's log reader down with it.
        let mut schema = std::panic::catch_unwind(|| Self::parse_checked(own, &deps))
            .unwrap_or_else(|_| {
                tracing::error!(schema = %text, "apache-avro panicked parsing a schema");
                Err(SchemaError::ParserFailed)
            })?;
        schema.text = super::avro_text::canonical_text(text)?;
        Ok(schema)
    }

    fn parse_checked(text: &str, dependencies: &[&str]) -> Result<Self, SchemaError> {
        let (schema, referenced) = if dependencies.is_empty() {
            (
                apache_avro::Schema::parse_str(text).map_err(parse_error)?,
                Vec::new(),
            )
        } else {
            apache_avro::Schema::parse_str_with_list(text, dependencies).map_err(parse_error)?
        };
        let all: Vec<&apache_avro::Schema> =
            referenced.iter().chain(std::iter::once(&schema)).collect();
        let names = ResolvedSchema::try_from(all)
            .map_err(parse_error)?
            .get_names()
            .iter()
            .map(|(n, s)| (n.clone(), (*s).clone()))
            .collect();
        Ok(AvroSchema {
            schema,
            text: String::new(),
            referenced,
            names,
        })
    }

    /// `schema` itself, or the named type a `Ref` points at.
    pub fn resolve<'s>(
        &'s self,
        schema: &'s apache_avro::Schema,
    ) -> Result<&'s apache_avro::Schema, SchemaError> {
        match schema {
            apache_avro::Schema::Ref { name } => self
                .names
                .get(name)
                .ok_or_else(|| SchemaError::UnknownType(name.fullname(None))),
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
    /// Compact JSON in the document's key order: the text Confluent keeps (Jackson's).
    pub text: String,
    /// The schema's simple subset for the one-pass record check, when it is within it.
    pub plan: Option<super::json_plan::Plan>,
}

/// The draft a JSON Schema is validated by, as Confluent chooses it: the one its `$schema` names
/// (draft-04, -06, -07, 2019-09, 2020-12; `http` or `https`, one trailing `#` allowed), and
/// draft-07 when `$schema` is absent or names anything else.
pub fn json_schema_draft(schema: &serde_json::Value) -> jsonschema::Draft {
    use jsonschema::Draft;
    let Some(uri) = schema.get("$schema").and_then(|v| v.as_str()) else {
        return Draft::Draft7;
    };
    let uri = uri.strip_suffix('#').unwrap_or(uri);
    let path = uri
        .strip_prefix("https://json-schema.org/")
        .or_else(|| uri.strip_prefix("http://json-schema.org/"));
    match path {
        Some("draft-04/schema" | "schema") => Draft::Draft4,
        Some("draft-06/schema") => Draft::Draft6,
        Some("draft/2019-09/schema") => Draft::Draft201909,
        Some("draft/2020-12/schema") => Draft::Draft202012,
        _ => Draft::Draft7,
    }
}

impl JsonSchema {
    /// Compiles `text`; `$ref`s to other documents find them among `dependencies` by name
    /// (the reference name as written in the `$ref`, resolved against the default base URI).
    pub fn parse(text: &str, dependencies: &[Dependency]) -> Result<Self, SchemaError> {
        let value: serde_json::Value = serde_json::from_str(text).map_err(parse_error)?;
        if !(value.is_object() || value.is_boolean()) {
            return Err(SchemaError::Parse(
                "a JSON Schema is an object or a boolean".into(),
            ));
        }
        let mut documents = HashMap::new();
        for d in dependencies {
            let doc: serde_json::Value = serde_json::from_str(&d.schema)
                .map_err(|e| SchemaError::Reference(format!("reference {}: {e}", d.name)))?;
            documents.insert(d.name.clone(), doc);
        }
        let validator = jsonschema::options()
            .with_draft(json_schema_draft(&value))
            .with_retriever(References(documents))
            .build(&value)
            .map_err(parse_error)?;
        let ordered = Ordered::parse(text).map_err(parse_error)?;
        Ok(JsonSchema {
            // After the validator: the plan ignores `$id`, `$defs` and `definitions` because a
            // schema whose contents there are wrong never gets this far.
            plan: super::json_plan::Plan::compile(&value),
            value,
            validator,
            text: ordered.compact(),
        })
    }
}

/// Serves referenced JSON Schema documents to the validator; nothing is fetched from outside.
struct References(HashMap<String, serde_json::Value>);

impl jsonschema::Retrieve for References {
    fn retrieve(
        &self,
        uri: &jsonschema::Uri<String>,
    ) -> Result<serde_json::Value, Box<dyn std::error::Error + Send + Sync>> {
        let uri = uri.as_str();
        self.0
            .iter()
            .find(|(name, _)| {
                uri == name.as_str()
                    || uri
                        .strip_suffix(name.trim_start_matches("./"))
                        .is_some_and(|base| base.ends_with('/'))
            })
            .map(|(_, doc)| doc.clone())
            .ok_or_else(|| format!("{uri} is not among the schema's references").into())
    }
}

impl std::fmt::Debug for JsonSchema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "JsonSchema({})", self.value)
    }
}

/// A parser's refusal, in its own words.
fn parse_error(e: impl std::fmt::Display) -> SchemaError {
    SchemaError::Parse(e.to_string())
}

/// Parses a schema of `kind` without references; the error says why it is invalid.
pub fn parse(kind: SchemaType, text: &str) -> Result<Parsed, InvalidSchema> {
    parse_with(kind, text, &[])
}

/// Parses a schema of `kind` whose references resolve to `dependencies` (their transitive
/// closure, dependencies before the schemas that use them).
pub fn parse_with(
    kind: SchemaType,
    text: &str,
    dependencies: &[Dependency],
) -> Result<Parsed, InvalidSchema> {
    if let Some(d) = dependencies.iter().find(|d| d.kind != kind) {
        return Err(InvalidSchema(SchemaError::Reference(format!(
            "reference {} is a {} schema, not {}",
            d.name,
            d.kind.name(),
            kind.name()
        ))));
    }
    match kind {
        SchemaType::Avro => {
            let texts: Vec<&str> = dependencies.iter().map(|d| d.schema.as_str()).collect();
            AvroSchema::parse(text, &texts)
                .map(|s| Parsed::Avro(Arc::new(s)))
                .map_err(InvalidSchema)
        }
        SchemaType::Json => JsonSchema::parse(text, dependencies)
            .map(|s| Parsed::Json(Arc::new(s)))
            .map_err(InvalidSchema),
        SchemaType::Protobuf => {
            let imports: Vec<(String, String)> = dependencies
                .iter()
                .map(|d| (d.name.clone(), d.schema.clone()))
                .collect();
            ProtoSchema::parse(text, &imports)
                .map(|s| Parsed::Protobuf(Arc::new(s)))
                .map_err(InvalidSchema)
        }
    }
}

/// The form two registrations are compared in, as Confluent compares them: the text it keeps
/// ([`text`]: Avro Java's `toString()`, so `doc` and custom properties count; compact JSON in
/// key order), the compiled Protobuf descriptor; plus the references, which are part of a
/// schema's identity.
pub fn canonical(parsed: &Parsed, references: &[Reference]) -> String {
    let mut form = match parsed {
        Parsed::Avro(s) => s.text.clone(),
        Parsed::Json(j) => j.text.clone(),
        Parsed::Protobuf(p) => p.canonical(),
    };
    for r in references {
        form.push_str(&format!("\n{}={}@{}", r.name, r.subject, r.version));
    }
    form
}

/// The text the registry keeps and shows for a schema, as Confluent's `canonicalString()`: Avro
/// Java's `toString()`, compact JSON in key order, `.proto` text.
pub fn text(parsed: &Parsed) -> String {
    match parsed {
        Parsed::Avro(s) => s.text.clone(),
        Parsed::Json(j) => j.text.clone(),
        Parsed::Protobuf(p) => p.text(),
    }
}

/// The text of a schema under `normalize=true`, as Confluent's `normalize()` leaves it: Avro
/// with its custom properties and aliases sorted, JSON with every object's keys sorted,
/// Protobuf printed normalized (fully qualified types, fields by number, sorted options).
pub fn normalized_text(parsed: &Parsed) -> String {
    match parsed {
        // Derived from the kept text when asked (normalizing is idempotent on it), not stored
        // with every parsed schema: only `normalize=true` and Avro's lookup fallback need it.
        Parsed::Avro(s) => {
            super::avro_text::normalized_text(&s.text).unwrap_or_else(|_| s.text.clone())
        }
        Parsed::Json(j) => Ordered::parse(&j.text)
            .map(|o| o.sorted().compact())
            .unwrap_or_else(|_| j.text.clone()),
        Parsed::Protobuf(p) => p.normalized(),
    }
}

/// Whether data written with `writer` can be read with `reader`.
pub fn can_read(writer: &Parsed, reader: &Parsed) -> Result<(), Incompatibility> {
    match (writer, reader) {
        (Parsed::Avro(w), Parsed::Avro(r)) => {
            apache_avro::schema_compatibility::SchemaCompatibility::can_read(&w.schema, &r.schema)
                .map_err(|e| Incompatibility(e.to_string()))
        }
        (Parsed::Json(w), Parsed::Json(r)) => super::json_compat::can_read(&w.value, &r.value),
        (Parsed::Protobuf(w), Parsed::Protobuf(r)) => super::proto::can_read(w, r),
        _ => Err(Incompatibility("the schema type changed".into())),
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
    fn canonical_forms_ignore_layout_but_not_doc() {
        let a = avro(V1);
        let b = avro(
            r#"{ "name": "User", "type": "record",
                 "fields": [ {"type": "string", "name": "name"} ] }"#,
        );
        assert_eq!(canonical(&a, &[]), canonical(&b, &[]));
        // Confluent: a `doc` (or a custom property) makes another schema.
        let c = avro(
            r#"{ "name": "User", "type": "record", "doc": "x",
                 "fields": [ {"type": "string", "name": "name"} ] }"#,
        );
        assert_ne!(canonical(&a, &[]), canonical(&c, &[]));
        // JSON Schema: compact text in key order (Jackson's), so layout does not count.
        let j1 = parse(SchemaType::Json, r#"{ "type": "object",  "title": "t" }"#).unwrap();
        let j2 = parse(SchemaType::Json, r#"{"type":"object","title":"t"}"#).unwrap();
        assert_eq!(canonical(&j1, &[]), canonical(&j2, &[]));
        assert_eq!(text(&j1), r#"{"type":"object","title":"t"}"#);
        // Tuple-form `items` is draft-07, the draft a schema without `$schema` is read by.
        assert!(parse(
            SchemaType::Json,
            r#"{"type":"array","items":[{"type":"string"}]}"#
        )
        .is_ok());
        assert!(parse(
            SchemaType::Json,
            r#"{"$schema":"https://json-schema.org/draft/2020-12/schema","type":"array","prefixItems":[{"type":"string"}]}"#
        )
        .is_ok());
        assert!(parse(SchemaType::Avro, r#"{"type":"nope"}"#).is_err());
        assert!(parse(SchemaType::Json, "[1]").is_err());
        assert!(parse(SchemaType::Json, r#"{"type":"object"}"#).is_ok());
        assert!(parse(SchemaType::Json, r#"{"type":"no-such-type"}"#).is_err());
    }
}
