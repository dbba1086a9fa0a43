//! Avro's JSON encoding, both ways, as Confluent's REST Proxy speaks it: a non-null union branch
//! is wrapped (`{"string": "x"}`), bytes and fixed are ISO-8859-1 strings, enums are symbols,
//! logical types travel as their underlying type. On produce, an unwrapped union value is also
//! accepted when exactly one branch takes it (an extension; Confluent answers 400).

use apache_avro::schema::{Name, RecordField, RecordSchema, Schema, UnionSchema};
use apache_avro::types::Value as Avro;
use serde_json::{Map, Number, Value as Json};

use crate::schema::kinds::AvroSchema;
use crate::schema::SchemaError;
use crate::varint::put_long;

/// Where in a record a value sits, for error messages; built on the stack, formatted only when a
/// value is refused.
#[derive(Clone, Copy)]
pub(super) enum At<'a> {
    Root,
    Field(&'a At<'a>, &'a str),
    Index(&'a At<'a>, usize),
}

impl std::fmt::Display for At<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            At::Root => write!(f, "value"),
            At::Field(At::Root, name) => write!(f, "{name}"),
            At::Field(parent, name) => write!(f, "{parent}.{name}"),
            At::Index(parent, i) => write!(f, "{parent}[{i}]"),
        }
    }
}

/// Why a record does not encode or decode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AvroError {
    /// A JSON value that does not fit the schema where it sits (`f.g[2]: expected an int, ...`).
    #[error("{at}: {why}")]
    Value { at: String, why: String },
    /// A named type the schema does not resolve.
    #[error("{0}")]
    Schema(#[from] SchemaError),
    /// A payload without Confluent's framing.
    #[error("{0}")]
    Framing(String),
    /// Binary data that does not decode with its schema.
    #[error("{0}")]
    Decode(String),
}

/// A value refused at `at`.
fn value_err(at: &At<'_>, why: impl std::fmt::Display) -> AvroError {
    AvroError::Value {
        at: at.to_string(),
        why: why.to_string(),
    }
}

fn type_err(at: &At<'_>, expected: &str, json: &Json) -> AvroError {
    value_err(at, format!("expected {expected}, got {json}"))
}

pub(super) fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    put_long(out, bytes.len() as i64);
    out.extend_from_slice(bytes);
}

/// Appends the ISO-8859-1 bytes of `s` (Avro JSON's bytes and fixed), checking each character.
pub(super) fn put_latin1(out: &mut Vec<u8>, at: &At<'_>, s: &str) -> Result<(), AvroError> {
    for c in s.chars() {
        out.push(u8::try_from(u32::from(c)).map_err(|_| {
            value_err(
                at,
                format!("bytes must be ISO-8859-1 characters, got {c:?}"),
            )
        })?);
    }
    Ok(())
}

fn int(at: &At<'_>, json: &Json) -> Result<i32, AvroError> {
    json.as_i64()
        .and_then(|n| i32::try_from(n).ok())
        .ok_or_else(|| type_err(at, "an int", json))
}

fn long(at: &At<'_>, json: &Json) -> Result<i64, AvroError> {
    json.as_i64().ok_or_else(|| type_err(at, "a long", json))
}

/// Writes `json` (Avro's JSON encoding) as the Avro binary encoding of `schema`, straight into
/// `out`: no intermediate Avro value, no per-record schema resolution.
fn write<'s>(
    names: &'s AvroSchema,
    schema: &'s Schema,
    json: &Json,
    at: &At<'_>,
    out: &mut Vec<u8>,
) -> Result<(), AvroError> {
    let schema = names.resolve(schema)?;
    match schema {
        Schema::Null => {
            if !json.is_null() {
                return Err(type_err(at, "null", json));
            }
        }
        Schema::Boolean => out.push(u8::from(
            json.as_bool()
                .ok_or_else(|| type_err(at, "a boolean", json))?,
        )),
        s if is_int(s) => put_long(out, i64::from(int(at, json)?)),
        s if is_long(s) => put_long(out, long(at, json)?),
        Schema::Float => {
            let f = json.as_f64().ok_or_else(|| type_err(at, "a float", json))? as f32;
            out.extend_from_slice(&f.to_le_bytes());
        }
        Schema::Double => {
            let f = json
                .as_f64()
                .ok_or_else(|| type_err(at, "a double", json))?;
            out.extend_from_slice(&f.to_le_bytes());
        }
        Schema::String => put_bytes(
            out,
            json.as_str()
                .ok_or_else(|| type_err(at, "a string", json))?
                .as_bytes(),
        ),
        Schema::Uuid => {
            let s = json
                .as_str()
                .ok_or_else(|| type_err(at, "a uuid string", json))?;
            uuid::Uuid::parse_str(s).map_err(|e| value_err(at, e))?;
            put_bytes(out, s.as_bytes());
        }
        Schema::Bytes => {
            let s = json
                .as_str()
                .ok_or_else(|| type_err(at, "a bytes string", json))?;
            // One byte per character (any other is refused), so the length is known up front.
            put_long(out, s.chars().count() as i64);
            put_latin1(out, at, s)?;
        }
        Schema::Decimal(d) => {
            let s = json
                .as_str()
                .ok_or_else(|| type_err(at, "a decimal bytes string", json))?;
            let mut bytes = Vec::with_capacity(s.len());
            put_latin1(&mut bytes, at, s)?;
            match names.resolve(&d.inner)? {
                Schema::Fixed(f) if bytes.len() != f.size => {
                    return Err(value_err(
                        at,
                        format!(
                            "decimal fixed {} needs {} bytes, got {}",
                            f.name.name,
                            f.size,
                            bytes.len()
                        ),
                    ))
                }
                Schema::Fixed(_) => out.extend_from_slice(&bytes),
                _ => put_bytes(out, &bytes),
            }
        }
        Schema::Fixed(f) => {
            let s = json
                .as_str()
                .ok_or_else(|| type_err(at, "a fixed string", json))?;
            let start = out.len();
            put_latin1(out, at, s)?;
            if out.len() - start != f.size {
                return Err(value_err(
                    at,
                    format!(
                        "fixed {} needs {} bytes, got {}",
                        f.name.name,
                        f.size,
                        out.len() - start
                    ),
                ));
            }
        }
        Schema::Enum(e) => {
            let symbol = json
                .as_str()
                .ok_or_else(|| type_err(at, "an enum symbol", json))?;
            let index = e.symbols.iter().position(|s| s == symbol).ok_or_else(|| {
                value_err(at, format!("{symbol:?} is not a symbol of {}", e.name.name))
            })?;
            put_long(out, index as i64);
        }
        Schema::Array(a) => {
            let items = json
                .as_array()
                .ok_or_else(|| type_err(at, "an array", json))?;
            if !items.is_empty() {
                put_long(out, items.len() as i64);
                for (i, item) in items.iter().enumerate() {
                    write(names, &a.items, item, &At::Index(at, i), out)?;
                }
            }
            out.push(0);
        }
        Schema::Map(m) => {
            let obj = json
                .as_object()
                .ok_or_else(|| type_err(at, "a map object", json))?;
            if !obj.is_empty() {
                put_long(out, obj.len() as i64);
                for (k, v) in obj {
                    put_bytes(out, k.as_bytes());
                    write(names, &m.types, v, &At::Field(at, k), out)?;
                }
            }
            out.push(0);
        }
        Schema::Record(r) => write_record(names, r, json, at, out)?,
        Schema::Union(u) => write_union(names, u, json, at, out)?,
        _ => return Err(value_err(at, "this logical type is not supported")),
    }
    Ok(())
}

fn write_record<'s>(
    names: &'s AvroSchema,
    r: &'s RecordSchema,
    json: &Json,
    at: &At<'_>,
    out: &mut Vec<u8>,
) -> Result<(), AvroError> {
    let obj = json
        .as_object()
        .ok_or_else(|| type_err(at, &format!("a {} record object", r.name.name), json))?;
    if let Some(unknown) = obj.keys().find(|k| !r.lookup.contains_key(*k)) {
        return Err(value_err(
            at,
            format!("{} has no field {unknown:?}", r.name.name),
        ));
    }
    for f in &r.fields {
        let here = At::Field(at, &f.name);
        match obj.get(&f.name) {
            Some(v) => write(names, &f.schema, v, &here, out)?,
            None => write_default(names, f, &here, out)?,
        }
    }
    Ok(())
}

/// Writes the default of a record field the data leaves out (a union's default is a value of
/// its first branch, unwrapped), or refuses a missing field that has none.
pub(super) fn write_default<'s>(
    names: &'s AvroSchema,
    f: &'s RecordField,
    here: &At<'_>,
    out: &mut Vec<u8>,
) -> Result<(), AvroError> {
    let Some(default) = &f.default else {
        return Err(value_err(here, "missing field with no default"));
    };
    match names.resolve(&f.schema)? {
        Schema::Union(u) => {
            let first = u
                .variants()
                .first()
                .ok_or_else(|| value_err(here, "empty union"))?;
            put_long(out, 0);
            write(names, first, default, here, out)
        }
        other => write(names, other, default, here, out),
    }
}

/// The name a union branch is wrapped in: a primitive's type name, a named type's full name.
fn branch_name(schema: &Schema) -> String {
    match named(schema) {
        Some(name) => name.fullname(None),
        None => primitive_name(schema).into(),
    }
}

/// The name of a named type (record, enum, fixed, or a reference to one).
fn named(schema: &Schema) -> Option<&Name> {
    match schema {
        Schema::Record(r) => Some(&r.name),
        Schema::Enum(e) => Some(&e.name),
        Schema::Fixed(f) => Some(&f.name),
        Schema::Ref { name } => Some(name),
        _ => None,
    }
}

/// The type name of an unnamed type.
fn primitive_name(schema: &Schema) -> &'static str {
    match schema {
        Schema::Array(_) => "array",
        Schema::Map(_) => "map",
        Schema::Null => "null",
        Schema::Boolean => "boolean",
        s if is_int(s) => "int",
        s if is_long(s) => "long",
        Schema::Float => "float",
        Schema::Double => "double",
        Schema::Bytes | Schema::Decimal(_) | Schema::BigDecimal => "bytes",
        Schema::String | Schema::Uuid => "string",
        Schema::Duration | Schema::Fixed(_) => "fixed",
        Schema::Union(_) => "union",
        Schema::Record(_) => "record",
        Schema::Enum(_) => "enum",
        // Refs; ints and longs were taken above.
        _ => "ref",
    }
}

/// Avro's int and the logical types written as one.
pub(super) fn is_int(schema: &Schema) -> bool {
    matches!(schema, Schema::Int | Schema::Date | Schema::TimeMillis)
}

/// Avro's long and the logical types written as one.
pub(super) fn is_long(schema: &Schema) -> bool {
    matches!(
        schema,
        Schema::Long
            | Schema::TimeMicros
            | Schema::TimestampMillis
            | Schema::TimestampMicros
            | Schema::TimestampNanos
            | Schema::LocalTimestampMillis
            | Schema::LocalTimestampMicros
            | Schema::LocalTimestampNanos
    )
}

/// Whether `key` wraps a value of the union branch `schema` (`{"<key>": value}`): the branch's
/// full name or its short name, compared without building either.
pub(super) fn wraps(schema: &Schema, key: &str) -> bool {
    let Some(name) = named(schema) else {
        return primitive_name(schema) == key;
    };
    // The short name is what follows the full name's last dot, which lies in `name.name`.
    if short(&name.name) == key {
        return true;
    }
    // The full name, by apache-avro's `Name::fullname(None)`.
    match name.namespace.as_deref() {
        Some(ns) if !ns.is_empty() && !name.name.contains('.') => {
            key.len() == ns.len() + 1 + name.name.len()
                && key.starts_with(ns)
                && key.as_bytes()[ns.len()] == b'.'
                && key.ends_with(name.name.as_str())
        }
        _ => name.name == key,
    }
}

fn short(name: &str) -> &str {
    name.rsplit('.').next().unwrap_or(name)
}

fn write_union<'s>(
    names: &'s AvroSchema,
    u: &'s UnionSchema,
    json: &Json,
    at: &At<'_>,
    out: &mut Vec<u8>,
) -> Result<(), AvroError> {
    let variants = u.variants();
    if json.is_null() {
        let i = variants
            .iter()
            .position(|v| matches!(v, Schema::Null))
            .ok_or_else(|| value_err(at, "null is not a branch of this union"))?;
        put_long(out, i as i64);
        return Ok(());
    }
    // Wrapped: {"<branch>": value}, by full or short name.
    if let Some((key, inner)) = json
        .as_object()
        .filter(|o| o.len() == 1)
        .and_then(|o| o.iter().next())
    {
        let found = variants.iter().enumerate().find(|(_, v)| wraps(v, key));
        if let Some((i, v)) = found {
            put_long(out, i as i64);
            return write(names, v, inner, at, out);
        }
    }
    // Unwrapped (extension): exactly one non-null branch must take it.
    let mut taker: Option<(usize, Vec<u8>)> = None;
    let mut takers = 0;
    for (i, v) in variants.iter().enumerate() {
        if matches!(v, Schema::Null) {
            continue;
        }
        let mut bytes = Vec::new();
        if write(names, v, json, at, &mut bytes).is_ok() {
            takers += 1;
            taker.get_or_insert((i, bytes));
        }
    }
    match (takers, taker) {
        (1, Some((i, bytes))) => {
            put_long(out, i as i64);
            out.extend_from_slice(&bytes);
            Ok(())
        }
        (0, _) => Err(value_err(
            at,
            format!(
                "{json} matches no branch of the union {:?}",
                variants.iter().map(branch_name).collect::<Vec<_>>()
            ),
        )),
        _ => Err(value_err(
            at,
            format!(
                "{json} is ambiguous for the union {:?}; wrap it as {{\"<type>\": value}}",
                variants.iter().map(branch_name).collect::<Vec<_>>()
            ),
        )),
    }
}

/// Converts an Avro value of `schema` to Avro's JSON encoding.
pub fn to_json(schema: &AvroSchema, value: &Avro) -> Result<Json, AvroError> {
    json_of(schema, &schema.schema, value)
}

fn latin1_string(bytes: &[u8]) -> Json {
    Json::String(bytes.iter().map(|&b| char::from(b)).collect())
}

fn float(f: f64) -> Json {
    Number::from_f64(f).map_or(Json::Null, Json::Number)
}

fn json_of<'s>(names: &'s AvroSchema, schema: &'s Schema, value: &Avro) -> Result<Json, AvroError> {
    let schema = names.resolve(schema)?;
    Ok(match (schema, value) {
        (_, Avro::Null) => Json::Null,
        (_, Avro::Boolean(b)) => Json::Bool(*b),
        (_, Avro::Int(n)) | (_, Avro::Date(n)) | (_, Avro::TimeMillis(n)) => Json::from(*n),
        (_, Avro::Long(n))
        | (_, Avro::TimeMicros(n))
        | (_, Avro::TimestampMillis(n))
        | (_, Avro::TimestampMicros(n))
        | (_, Avro::TimestampNanos(n))
        | (_, Avro::LocalTimestampMillis(n))
        | (_, Avro::LocalTimestampMicros(n))
        | (_, Avro::LocalTimestampNanos(n)) => Json::from(*n),
        (_, Avro::Float(f)) => float(f64::from(*f)),
        (_, Avro::Double(f)) => float(*f),
        (_, Avro::String(s)) => Json::String(s.clone()),
        (_, Avro::Bytes(b)) | (_, Avro::Fixed(_, b)) => latin1_string(b),
        (_, Avro::Enum(_, s)) => Json::String(s.clone()),
        (_, Avro::Uuid(u)) => Json::String(u.to_string()),
        (_, Avro::Decimal(d)) => {
            let bytes: Vec<u8> = d
                .try_into()
                .map_err(|e: apache_avro::Error| AvroError::Decode(e.to_string()))?;
            latin1_string(&bytes)
        }
        (Schema::Array(a), Avro::Array(items)) => Json::Array(
            items
                .iter()
                .map(|i| json_of(names, &a.items, i))
                .collect::<Result<_, _>>()?,
        ),
        (Schema::Map(m), Avro::Map(entries)) => {
            let mut keys: Vec<&String> = entries.keys().collect();
            keys.sort();
            let mut out = Map::new();
            for k in keys {
                out.insert(k.clone(), json_of(names, &m.types, &entries[k])?);
            }
            Json::Object(out)
        }
        (Schema::Record(r), Avro::Record(fields)) => {
            let mut out = Map::new();
            for ((name, v), f) in fields.iter().zip(&r.fields) {
                out.insert(name.clone(), json_of(names, &f.schema, v)?);
            }
            Json::Object(out)
        }
        (Schema::Union(u), Avro::Union(i, inner)) => {
            let branch = u
                .variants()
                .get(*i as usize)
                .ok_or_else(|| AvroError::Decode(format!("union branch {i} out of range")))?;
            match **inner {
                Avro::Null => Json::Null,
                _ => {
                    let mut out = Map::new();
                    out.insert(branch_name(branch), json_of(names, branch, inner)?);
                    Json::Object(out)
                }
            }
        }
        (s, v) => {
            return Err(AvroError::Decode(format!(
                "value {v:?} does not match schema {}",
                branch_name(s)
            )))
        }
    })
}

/// Confluent's framing: magic byte 0, then the schema id, big-endian.
pub fn frame(id: i32, payload: &[u8], out: &mut Vec<u8>) {
    out.push(0);
    out.extend_from_slice(&id.to_be_bytes());
    out.extend_from_slice(payload);
}

/// Splits a framed record into its schema id and payload.
pub fn unframe(data: &[u8]) -> Result<(i32, &[u8]), AvroError> {
    let framing = |why: String| Err(AvroError::Framing(why));
    match data {
        [0, a, b, c, d, rest @ ..] => Ok((i32::from_be_bytes([*a, *b, *c, *d]), rest)),
        [] => framing("empty record (no schema framing)".into()),
        [m, ..] if *m != 0 => framing(format!("unknown magic byte {m}")),
        _ => framing("record shorter than its framing".into()),
    }
}

/// Encodes one JSON value (Avro's JSON encoding) as a framed Avro record of `schema` (id `id`).
pub fn encode(schema: &AvroSchema, id: i32, json: &Json) -> Result<Vec<u8>, AvroError> {
    let mut out = Vec::with_capacity(64);
    frame(id, &[], &mut out);
    write_value(schema, json, &mut out)?;
    Ok(out)
}

/// Appends the Avro binary encoding of `json` (Avro's JSON encoding) with `schema`, unframed.
/// On an error, `out` may hold part of the value.
pub fn write_value(schema: &AvroSchema, json: &Json, out: &mut Vec<u8>) -> Result<(), AvroError> {
    write(schema, &schema.schema, json, &At::Root, out)
}

/// Decodes an Avro payload (after the framing) written with `schema` to Avro's JSON encoding.
pub fn decode(schema: &AvroSchema, payload: &[u8]) -> Result<Json, AvroError> {
    let mut reader = payload;
    let value = if schema.referenced.is_empty() {
        apache_avro::from_avro_datum(&schema.schema, &mut reader, None)
    } else {
        apache_avro::from_avro_datum_schemata(
            &schema.schema,
            schema.referenced.iter().collect(),
            &mut reader,
            None,
        )
    }
    .map_err(|e| AvroError::Decode(e.to_string()))?;
    to_json(schema, &value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const USER: &str = r#"{"type":"record","name":"User","namespace":"io.seed","fields":[
        {"name":"name","type":"string"},
        {"name":"age","type":["null","int"],"default":null},
        {"name":"tags","type":{"type":"array","items":"string"},"default":[]},
        {"name":"kind","type":{"type":"enum","name":"Kind","symbols":["A","B"]},"default":"A"},
        {"name":"raw","type":"bytes","default":""},
        {"name":"friend","type":["null","User"],"default":null}]}"#;

    fn user() -> AvroSchema {
        AvroSchema::parse(USER, &[]).unwrap()
    }

    #[test]
    fn round_trips_with_wrapped_unions() {
        let s = user();
        let input = json!({"name": "ann", "age": {"int": 31}, "tags": ["x"], "kind": "B",
            "raw": "\u{00ff}\u{0000}", "friend": {"io.seed.User": {"name": "bob", "age": null,
            "tags": [], "kind": "A", "raw": "", "friend": null}}});
        let framed = encode(&s, 7, &input).unwrap();
        let (id, payload) = unframe(&framed).unwrap();
        assert_eq!(id, 7);
        assert_eq!(decode(&s, payload).unwrap(), input);
    }

    /// The direct encoder agrees with apache_avro's reader on every type it writes.
    #[test]
    fn every_type_round_trips() {
        let s = AvroSchema::parse(
            r#"{"type":"record","name":"All","fields":[
            {"name":"b","type":"boolean"},{"name":"i","type":"int"},{"name":"l","type":"long"},
            {"name":"f","type":"float"},{"name":"d","type":"double"},
            {"name":"m","type":{"type":"map","values":"long"}},
            {"name":"empty","type":{"type":"map","values":"int"}},
            {"name":"x","type":{"type":"fixed","name":"Four","size":4}},
            {"name":"u","type":{"type":"string","logicalType":"uuid"}},
            {"name":"ts","type":{"type":"long","logicalType":"timestamp-millis"}},
            {"name":"dec","type":{"type":"bytes","logicalType":"decimal","precision":5,"scale":2}},
            {"name":"nested","type":{"type":"array","items":{"type":"array","items":"int"}}}]}"#,
            &[],
        )
        .unwrap();
        let input = json!({"b": true, "i": -7, "l": 1_i64 << 40, "f": 1.5, "d": -2.25,
            "m": {"a": 1, "b": -300}, "empty": {}, "x": "ab\u{00ff}d",
            "u": "6ba7b810-9dad-11d1-80b4-00c04fd430c8", "ts": 1_700_000_000_000_i64,
            "dec": "\u{0001}\u{00e2}", "nested": [[1, 2], [], [3]]});
        let framed = encode(&s, 9, &input).unwrap();
        assert_eq!(decode(&s, &framed[5..]).unwrap(), input);
        let bad_fixed = json!({"x": "abc"});
        assert!(encode(&s, 9, &bad_fixed).is_err());
    }

    #[test]
    fn defaults_unwrapped_unions_and_errors() {
        let s = user();
        // The seed's shape: missing fields take defaults; an unwrapped int is unambiguous.
        let framed = encode(&s, 1, &json!({"name": "ann", "age": 31})).unwrap();
        let back = decode(&s, &framed[5..]).unwrap();
        assert_eq!(back["age"], json!({"int": 31}));
        assert_eq!(back["friend"], Json::Null);
        assert_eq!(back["kind"], "A");
        for (bad, why) in [
            (json!({"age": 3}), "missing field"),
            (json!({"name": 5}), "expected a string"),
            (json!({"name": "a", "kind": "C"}), "not a symbol"),
            (json!({"name": "a", "nope": 1}), "no field"),
            (json!({"name": "a", "age": "x"}), "matches no branch"),
            (json!({"name": "a", "raw": "\u{0100}"}), "ISO-8859-1"),
        ] {
            let err = encode(&s, 1, &bad).unwrap_err().to_string();
            assert!(err.contains(why), "{bad}: {err}");
        }
        let ambiguous = AvroSchema::parse(r#"["null","int","long"]"#, &[]).unwrap();
        assert!(encode(&ambiguous, 1, &json!(5))
            .unwrap_err()
            .to_string()
            .contains("ambiguous"));
        let framed = encode(&ambiguous, 1, &json!({"long": 5})).unwrap();
        assert_eq!(
            decode(&ambiguous, &framed[5..]).unwrap(),
            json!({"long": 5})
        );
        assert!(unframe(&[1, 0, 0, 0, 1]).is_err());
        assert!(unframe(&[0, 0]).is_err());
    }
}
