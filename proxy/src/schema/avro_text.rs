//! The text of an Avro schema as Confluent's registry keeps and returns it: Avro Java's
//! `Schema.toString()`, compact JSON with a fixed key order, `doc`, `aliases`, defaults and custom
//! properties kept. Two schemas are the same schema when these texts are equal, so a schema
//! differing only in its `doc` or a custom property is another schema, as in Confluent's registry.
//!
//! The order (Avro Java's `toJson`): a record is `type`, `name`, `namespace` (only where it
//! differs from the enclosing one; `""` when a type without one sits inside one that has one),
//! `doc`, `fields`, custom properties, `aliases`; a field is `name`, `type`, `doc`, `default`,
//! `order` (unless ascending), `aliases`, custom properties; an enum is `type`, names, `doc`,
//! `symbols`, `default`, properties, `aliases`; a fixed is `type`, names, `doc`, `size`,
//! properties, `aliases`; arrays and maps are `type`, `items`/`values`, properties; a primitive
//! without properties is its name as a string. A named type appears in full once, and as its
//! name (short within its own namespace) after that.
//!
//! Custom properties keep the order they were written in, so the text is read as [`Ordered`]
//! JSON; `serde_json::Value` sorts its keys.

use std::collections::HashSet;

use super::error::SchemaError;
use super::ordered_json::{write_str, Ordered};

const PRIMITIVES: [&str; 8] = [
    "null", "boolean", "int", "long", "float", "double", "bytes", "string",
];

/// The keys Avro Java reads itself on a schema; any other is a custom property.
const SCHEMA_KEYS: [&str; 10] = [
    "type",
    "name",
    "namespace",
    "doc",
    "fields",
    "items",
    "values",
    "size",
    "symbols",
    "aliases",
];
/// The same on a field.
const FIELD_KEYS: [&str; 6] = ["name", "type", "doc", "default", "order", "aliases"];

/// Confluent's text of the Avro schema `text` (already parsed and found valid by apache-avro).
pub fn canonical_text(text: &str) -> Result<String, SchemaError> {
    print(text, false)
}

/// The same under `normalize=true`: custom properties sorted by name (and the keys inside
/// their values), aliases sorted, as Confluent's `AvroSchema.normalize()` leaves them.
pub fn normalized_text(text: &str) -> Result<String, SchemaError> {
    print(text, true)
}

fn print(text: &str, normalize: bool) -> Result<String, SchemaError> {
    let doc: Ordered = serde_json::from_str(text).map_err(|e| SchemaError::Parse(e.to_string()))?;
    let mut printer = Printer {
        known: HashSet::new(),
        out: String::with_capacity(text.len()),
        normalize,
    };
    printer.schema(&doc, None)?;
    Ok(printer.out)
}

struct Printer {
    /// Full names printed in full already.
    known: HashSet<String>,
    out: String,
    normalize: bool,
}

/// A named type's full name and namespace, from its `name`, `namespace` and the enclosing one.
fn full_name(
    schema: &Ordered,
    enclosing: Option<&str>,
) -> Result<(String, Option<String>), SchemaError> {
    let name = schema
        .get("name")
        .and_then(Ordered::as_str)
        .ok_or(SchemaError::NotAString("name"))?;
    if let Some((space, short)) = name.rsplit_once('.') {
        let _ = short;
        return Ok((
            name.to_string(),
            Some(space.to_string()).filter(|s| !s.is_empty()),
        ));
    }
    let space = match schema.get("namespace") {
        Some(Ordered::String(s)) => Some(s.clone()).filter(|s| !s.is_empty()),
        Some(Ordered::Null) | None => enclosing.map(str::to_string),
        Some(_) => return Err(SchemaError::NotAString("namespace")),
    };
    Ok(match &space {
        Some(s) => (format!("{s}.{name}"), space),
        None => (name.to_string(), None),
    })
}

/// A name as Avro Java writes it from within `space`: short when in that namespace.
fn qualified(full: &str, space: Option<&str>) -> String {
    match (full.rsplit_once('.'), space) {
        (Some((ns, short)), Some(space)) if ns == space => short.to_string(),
        _ => full.to_string(),
    }
}

impl Printer {
    fn schema(&mut self, s: &Ordered, space: Option<&str>) -> Result<(), SchemaError> {
        match s {
            Ordered::String(name) => {
                if PRIMITIVES.contains(&name.as_str()) {
                    write_str(name, &mut self.out);
                } else {
                    let full = if name.contains('.') {
                        name.clone()
                    } else {
                        match space {
                            Some(ns) if self.known.contains(&format!("{ns}.{name}")) => {
                                format!("{ns}.{name}")
                            }
                            _ => name.clone(),
                        }
                    };
                    write_str(&qualified(&full, space), &mut self.out);
                }
                Ok(())
            }
            Ordered::Array(branches) => {
                self.out.push('[');
                for (i, b) in branches.iter().enumerate() {
                    if i > 0 {
                        self.out.push(',');
                    }
                    self.schema(b, space)?;
                }
                self.out.push(']');
                Ok(())
            }
            Ordered::Object(entries) => {
                let ty = match s.get("type") {
                    Some(Ordered::String(t)) => t.as_str(),
                    // `{"type": {...}}` or `{"type": [...]}`: the inner schema (Avro Java).
                    Some(inner @ (Ordered::Object(_) | Ordered::Array(_))) => {
                        return self.schema(inner, space)
                    }
                    _ => return Err(SchemaError::Parse("a schema without a type".into())),
                };
                let props: Vec<&(String, Ordered)> = entries
                    .iter()
                    .filter(|(k, _)| !SCHEMA_KEYS.contains(&k.as_str()))
                    .filter(|(k, _)| !(ty == "enum" && k == "default"))
                    .collect();
                match ty {
                    "record" | "error" | "enum" | "fixed" => self.named(s, ty, &props, space),
                    "array" | "map" => {
                        self.out.push_str("{\"type\":");
                        write_str(ty, &mut self.out);
                        let (key, inner) = if ty == "array" {
                            ("items", "items")
                        } else {
                            ("values", "values")
                        };
                        let _ = key;
                        self.out.push_str(&format!(",\"{inner}\":"));
                        let inner = s
                            .get(inner)
                            .ok_or_else(|| SchemaError::Parse(format!("{ty} without {inner}")))?;
                        self.schema(inner, space)?;
                        self.props(&props);
                        self.out.push('}');
                        Ok(())
                    }
                    primitive if props.is_empty() => {
                        // `{"type":"string"}` is `"string"`; a named type's reference likewise.
                        self.schema(&Ordered::String(primitive.to_string()), space)
                    }
                    primitive => {
                        self.out.push_str("{\"type\":");
                        write_str(primitive, &mut self.out);
                        self.props(&props);
                        self.out.push('}');
                        Ok(())
                    }
                }
            }
            _ => Err(SchemaError::Parse(
                "a schema is a string, an array or an object".into(),
            )),
        }
    }

    fn props(&mut self, props: &[&(String, Ordered)]) {
        let mut props = props.to_vec();
        if self.normalize {
            props.sort_by(|a, b| a.0.cmp(&b.0));
        }
        for (k, v) in props {
            self.out.push(',');
            write_str(k, &mut self.out);
            self.out.push(':');
            if self.normalize {
                v.sorted().write(&mut self.out);
            } else {
                v.write(&mut self.out);
            }
        }
    }

    /// Alias strings in the order they are written (sorted when normalizing).
    fn alias_list<'s>(&self, aliases: &'s [Ordered]) -> Vec<&'s str> {
        let mut list: Vec<&str> = aliases.iter().filter_map(Ordered::as_str).collect();
        if self.normalize {
            list.sort_unstable();
        }
        list
    }

    fn aliases(&mut self, s: &Ordered, space: Option<&str>) {
        if let Some(Ordered::Array(aliases)) = s.get("aliases") {
            if aliases.is_empty() {
                return;
            }
            self.out.push_str(",\"aliases\":[");
            for (i, a) in self.alias_list(aliases).into_iter().enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                let full = if a.contains('.') {
                    a.to_string()
                } else {
                    space.map_or(a.to_string(), |ns| format!("{ns}.{a}"))
                };
                write_str(&qualified(&full, space), &mut self.out);
            }
            self.out.push(']');
        }
    }

    fn named(
        &mut self,
        s: &Ordered,
        ty: &str,
        props: &[&(String, Ordered)],
        enclosing: Option<&str>,
    ) -> Result<(), SchemaError> {
        let (full, space) = full_name(s, enclosing)?;
        if !self.known.insert(full.clone()) {
            write_str(&qualified(&full, enclosing), &mut self.out);
            return Ok(());
        }
        let short = full.rsplit_once('.').map_or(full.as_str(), |(_, n)| n);
        self.out.push_str("{\"type\":");
        write_str(ty, &mut self.out);
        self.out.push_str(",\"name\":");
        write_str(short, &mut self.out);
        match (&space, enclosing) {
            (Some(ns), Some(outer)) if ns == outer => {}
            (Some(ns), _) => {
                self.out.push_str(",\"namespace\":");
                write_str(ns, &mut self.out);
            }
            (None, Some(_)) => self.out.push_str(",\"namespace\":\"\""),
            (None, None) => {}
        }
        let space = space.as_deref();
        if let Some(doc) = s.get("doc").and_then(Ordered::as_str) {
            self.out.push_str(",\"doc\":");
            write_str(doc, &mut self.out);
        }
        match ty {
            "enum" => {
                self.out.push_str(",\"symbols\":");
                s.get("symbols")
                    .cloned()
                    .unwrap_or(Ordered::Array(Vec::new()))
                    .write(&mut self.out);
                if let Some(default) = s.get("default").and_then(Ordered::as_str) {
                    self.out.push_str(",\"default\":");
                    write_str(default, &mut self.out);
                }
            }
            "fixed" => {
                self.out.push_str(",\"size\":");
                s.get("size")
                    .cloned()
                    .unwrap_or(Ordered::Null)
                    .write(&mut self.out);
            }
            _ => {
                self.out.push_str(",\"fields\":[");
                let fields = match s.get("fields") {
                    Some(Ordered::Array(fields)) => fields.as_slice(),
                    _ => &[],
                };
                for (i, f) in fields.iter().enumerate() {
                    if i > 0 {
                        self.out.push(',');
                    }
                    self.field(f, space)?;
                }
                self.out.push(']');
            }
        }
        self.props(props);
        self.aliases(s, space);
        self.out.push('}');
        Ok(())
    }

    fn field(&mut self, f: &Ordered, space: Option<&str>) -> Result<(), SchemaError> {
        let Ordered::Object(entries) = f else {
            return Err(SchemaError::Parse("a field is an object".into()));
        };
        self.out.push_str("{\"name\":");
        write_str(
            f.get("name")
                .and_then(Ordered::as_str)
                .ok_or(SchemaError::NotAString("name"))?,
            &mut self.out,
        );
        self.out.push_str(",\"type\":");
        let ty = f
            .get("type")
            .ok_or_else(|| SchemaError::Parse("a field without a type".into()))?;
        self.schema(ty, space)?;
        if let Some(doc) = f.get("doc").and_then(Ordered::as_str) {
            self.out.push_str(",\"doc\":");
            write_str(doc, &mut self.out);
        }
        if let Some(default) = f.get("default") {
            self.out.push_str(",\"default\":");
            default.write(&mut self.out);
        }
        if let Some(order) = f.get("order").and_then(Ordered::as_str) {
            if !order.eq_ignore_ascii_case("ascending") {
                self.out.push_str(",\"order\":");
                write_str(&order.to_ascii_lowercase(), &mut self.out);
            }
        }
        if let Some(Ordered::Array(aliases)) = f.get("aliases") {
            if !aliases.is_empty() {
                self.out.push_str(",\"aliases\":[");
                for (i, a) in self.alias_list(aliases).into_iter().enumerate() {
                    if i > 0 {
                        self.out.push(',');
                    }
                    write_str(a, &mut self.out);
                }
                self.out.push(']');
            }
        }
        let props: Vec<&(String, Ordered)> = entries
            .iter()
            .filter(|(k, _)| !FIELD_KEYS.contains(&k.as_str()))
            .collect();
        self.props(&props);
        self.out.push('}');
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::canonical_text as text;

    #[test]
    fn avro_java_key_order_and_compact_layout() {
        let posted = r#"{
            "fields": [
                {"type": "string", "name": "name", "doc": "who", "default": "x", "extra": 1},
                {"name": "age", "default": null, "type": ["null", {"type": "int"}]},
                {"name": "when", "type": {"logicalType": "timestamp-millis", "type": "long"}},
                {"name": "tags", "type": {"items": "string", "type": "array"}, "order": "descending"},
                {"name": "kind", "type": {"symbols": ["A", "B"], "name": "Kind", "type": "enum", "default": "A"}},
                {"name": "again", "type": "Kind"},
                {"name": "other", "type": {"type": "fixed", "size": 4, "name": "F", "namespace": "x.y"}},
                {"name": "otherAgain", "type": "x.y.F"}
            ],
            "custom": {"b": 1, "a": 2},
            "namespace": "com.example",
            "doc": "A user",
            "name": "User",
            "type": "record",
            "aliases": ["Person"]
        }"#;
        assert_eq!(
            text(posted).unwrap(),
            concat!(
                r#"{"type":"record","name":"User","namespace":"com.example","doc":"A user","fields":["#,
                r#"{"name":"name","type":"string","doc":"who","default":"x","extra":1},"#,
                r#"{"name":"age","type":["null","int"],"default":null},"#,
                r#"{"name":"when","type":{"type":"long","logicalType":"timestamp-millis"}},"#,
                r#"{"name":"tags","type":{"type":"array","items":"string"},"order":"descending"},"#,
                r#"{"name":"kind","type":{"type":"enum","name":"Kind","symbols":["A","B"],"default":"A"}},"#,
                r#"{"name":"again","type":"Kind"},"#,
                r#"{"name":"other","type":{"type":"fixed","name":"F","namespace":"x.y","size":4}},"#,
                r#"{"name":"otherAgain","type":"x.y.F"}"#,
                r#"],"custom":{"b":1,"a":2},"aliases":["Person"]}"#
            )
        );
    }

    #[test]
    fn primitives_and_full_names() {
        assert_eq!(text(r#" "string" "#).unwrap(), r#""string""#);
        assert_eq!(text(r#"{"type": "int"}"#).unwrap(), r#""int""#);
        assert_eq!(
            text(r#"{"type":"record","name":"a.b.R","fields":[]}"#).unwrap(),
            r#"{"type":"record","name":"R","namespace":"a.b","fields":[]}"#
        );
        // A type without a namespace inside one that has one says so.
        assert_eq!(
            text(r#"{"type":"record","name":"a.R","fields":[{"name":"f","type":{"type":"enum","name":"E","namespace":"","symbols":["X"]}}]}"#).unwrap(),
            r#"{"type":"record","name":"R","namespace":"a","fields":[{"name":"f","type":{"type":"enum","name":"E","namespace":"","symbols":["X"]}}]}"#
        );
    }

    #[test]
    fn normalizing_sorts_properties_and_aliases() {
        let a = r#"{"type":"record","name":"R","aliases":["Z","A"],"extra":{"b":1,"a":2},"fields":[{"name":"f","type":{"type":"int"},"y":1,"x":2}]}"#;
        assert_eq!(
            super::normalized_text(a).unwrap(),
            r#"{"type":"record","name":"R","fields":[{"name":"f","type":"int","x":2,"y":1}],"extra":{"a":2,"b":1},"aliases":["A","Z"]}"#
        );
    }

    #[test]
    fn doc_and_properties_make_another_text() {
        let a =
            text(r#"{"type":"record","name":"R","fields":[{"name":"f","type":"int"}]}"#).unwrap();
        let b =
            text(r#"{"type":"record","name":"R","doc":"d","fields":[{"name":"f","type":"int"}]}"#)
                .unwrap();
        let c = text(r#"{"type":"record","name":"R","fields":[{"name":"f","type":"int","x":1}]}"#)
            .unwrap();
        assert_ne!(a, b);
        assert_ne!(a, c);
        assert_ne!(b, c);
    }
}
