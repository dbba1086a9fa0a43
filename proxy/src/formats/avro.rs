//! Avro's JSON encoding, both ways, as Confluent's REST Proxy speaks it: a non-null union branch
//! is wrapped (`{"string": "x"}`), bytes and fixed are ISO-8859-1 strings, enums are symbols,
//! logical types travel as their underlying type. On produce, an unwrapped union value is also
//! accepted when exactly one branch takes it (an extension; Confluent answers 400).

use apache_avro::schema::{RecordSchema, Schema, UnionSchema};
use apache_avro::types::Value as Avro;
use serde_json::{Map, Number, Value as Json};

use crate::schema::kinds::AvroSchema;

/// Converts a JSON value in Avro's JSON encoding to an Avro value of `schema`.
pub fn from_json(schema: &AvroSchema, json: &Json) -> Result<Avro, String> {
    convert_in(schema, &schema.schema, json, "")
}

fn type_err(path: &str, expected: &str, json: &Json) -> String {
    let at = if path.is_empty() { "value" } else { path };
    format!("{at}: expected {expected}, got {json}")
}

fn latin1(path: &str, s: &str) -> Result<Vec<u8>, String> {
    s.chars()
        .map(|c| {
            u8::try_from(u32::from(c))
                .map_err(|_| format!("{path}: bytes must be ISO-8859-1 characters, got {c:?}"))
        })
        .collect()
}

fn int(path: &str, json: &Json) -> Result<i32, String> {
    json.as_i64()
        .and_then(|n| i32::try_from(n).ok())
        .ok_or_else(|| type_err(path, "an int", json))
}

fn long(path: &str, json: &Json) -> Result<i64, String> {
    json.as_i64().ok_or_else(|| type_err(path, "a long", json))
}

fn convert_in<'s>(
    names: &'s AvroSchema,
    schema: &'s Schema,
    json: &Json,
    path: &str,
) -> Result<Avro, String> {
    let schema = names.resolve(schema)?;
    Ok(match schema {
        Schema::Null => match json {
            Json::Null => Avro::Null,
            _ => return Err(type_err(path, "null", json)),
        },
        Schema::Boolean => Avro::Boolean(
            json.as_bool()
                .ok_or_else(|| type_err(path, "a boolean", json))?,
        ),
        Schema::Int => Avro::Int(int(path, json)?),
        Schema::Long => Avro::Long(long(path, json)?),
        Schema::Float => Avro::Float(
            json.as_f64()
                .ok_or_else(|| type_err(path, "a float", json))? as f32,
        ),
        Schema::Double => Avro::Double(
            json.as_f64()
                .ok_or_else(|| type_err(path, "a double", json))?,
        ),
        Schema::String => Avro::String(
            json.as_str()
                .ok_or_else(|| type_err(path, "a string", json))?
                .to_string(),
        ),
        Schema::Bytes => Avro::Bytes(latin1(
            path,
            json.as_str()
                .ok_or_else(|| type_err(path, "a bytes string", json))?,
        )?),
        Schema::Fixed(f) => {
            let bytes = latin1(
                path,
                json.as_str()
                    .ok_or_else(|| type_err(path, "a fixed string", json))?,
            )?;
            if bytes.len() != f.size {
                return Err(format!(
                    "{path}: fixed {} needs {} bytes, got {}",
                    f.name.name,
                    f.size,
                    bytes.len()
                ));
            }
            Avro::Fixed(f.size, bytes)
        }
        Schema::Enum(e) => {
            let symbol = json
                .as_str()
                .ok_or_else(|| type_err(path, "an enum symbol", json))?;
            let index =
                e.symbols.iter().position(|s| s == symbol).ok_or_else(|| {
                    format!("{path}: {symbol:?} is not a symbol of {}", e.name.name)
                })?;
            Avro::Enum(index as u32, symbol.to_string())
        }
        Schema::Array(a) => {
            let items = json
                .as_array()
                .ok_or_else(|| type_err(path, "an array", json))?;
            Avro::Array(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| convert_in(names, &a.items, item, &format!("{path}[{i}]")))
                    .collect::<Result<_, _>>()?,
            )
        }
        Schema::Map(m) => {
            let obj = json
                .as_object()
                .ok_or_else(|| type_err(path, "a map object", json))?;
            Avro::Map(
                obj.iter()
                    .map(|(k, v)| {
                        Ok((
                            k.clone(),
                            convert_in(names, &m.types, v, &format!("{path}.{k}"))?,
                        ))
                    })
                    .collect::<Result<_, String>>()?,
            )
        }
        Schema::Record(r) => record_from(names, r, json, path)?,
        Schema::Union(u) => union_from(names, u, json, path)?,
        Schema::Date => Avro::Date(int(path, json)?),
        Schema::TimeMillis => Avro::TimeMillis(int(path, json)?),
        Schema::TimeMicros => Avro::TimeMicros(long(path, json)?),
        Schema::TimestampMillis => Avro::TimestampMillis(long(path, json)?),
        Schema::TimestampMicros => Avro::TimestampMicros(long(path, json)?),
        Schema::TimestampNanos => Avro::TimestampNanos(long(path, json)?),
        Schema::LocalTimestampMillis => Avro::LocalTimestampMillis(long(path, json)?),
        Schema::LocalTimestampMicros => Avro::LocalTimestampMicros(long(path, json)?),
        Schema::LocalTimestampNanos => Avro::LocalTimestampNanos(long(path, json)?),
        Schema::Uuid => {
            let s = json
                .as_str()
                .ok_or_else(|| type_err(path, "a uuid string", json))?;
            Avro::Uuid(s.parse().map_err(|e| format!("{path}: {e}"))?)
        }
        Schema::Decimal(_) => Avro::Decimal(apache_avro::Decimal::from(latin1(
            path,
            json.as_str()
                .ok_or_else(|| type_err(path, "a decimal bytes string", json))?,
        )?)),
        Schema::BigDecimal | Schema::Duration | Schema::Ref { .. } => {
            return Err(format!("{path}: this logical type is not supported"))
        }
    })
}

fn record_from<'s>(
    names: &'s AvroSchema,
    r: &'s RecordSchema,
    json: &Json,
    path: &str,
) -> Result<Avro, String> {
    let obj = json
        .as_object()
        .ok_or_else(|| type_err(path, &format!("a {} record object", r.name.name), json))?;
    if let Some(unknown) = obj.keys().find(|k| !r.fields.iter().any(|f| &f.name == *k)) {
        return Err(format!("{path}: {} has no field {unknown:?}", r.name.name));
    }
    let mut fields = Vec::with_capacity(r.fields.len());
    for f in &r.fields {
        let at = if path.is_empty() {
            f.name.clone()
        } else {
            format!("{path}.{}", f.name)
        };
        let value = match (obj.get(&f.name), &f.default) {
            (Some(v), _) => convert_in(names, &f.schema, v, &at)?,
            // A default of a union field is a value of its first branch, unwrapped.
            (None, Some(default)) => match names.resolve(&f.schema)? {
                Schema::Union(u) => {
                    let first = u
                        .variants()
                        .first()
                        .ok_or_else(|| format!("{at}: empty union"))?;
                    Avro::Union(0, Box::new(convert_in(names, first, default, &at)?))
                }
                other => convert_in(names, other, default, &at)?,
            },
            (None, None) => return Err(format!("{at}: missing field with no default")),
        };
        fields.push((f.name.clone(), value));
    }
    Ok(Avro::Record(fields))
}

/// The name a union branch is wrapped in: a primitive's type name, a named type's full name.
fn branch_name(schema: &Schema) -> String {
    match schema {
        Schema::Record(r) => r.name.fullname(None),
        Schema::Enum(e) => e.name.fullname(None),
        Schema::Fixed(f) => f.name.fullname(None),
        Schema::Ref { name } => name.fullname(None),
        Schema::Array(_) => "array".into(),
        Schema::Map(_) => "map".into(),
        Schema::Null => "null".into(),
        Schema::Boolean => "boolean".into(),
        Schema::Int | Schema::Date | Schema::TimeMillis => "int".into(),
        Schema::Long
        | Schema::TimeMicros
        | Schema::TimestampMillis
        | Schema::TimestampMicros
        | Schema::TimestampNanos
        | Schema::LocalTimestampMillis
        | Schema::LocalTimestampMicros
        | Schema::LocalTimestampNanos => "long".into(),
        Schema::Float => "float".into(),
        Schema::Double => "double".into(),
        Schema::Bytes | Schema::Decimal(_) | Schema::BigDecimal => "bytes".into(),
        Schema::String | Schema::Uuid => "string".into(),
        Schema::Duration => "fixed".into(),
        Schema::Union(_) => "union".into(),
    }
}

fn short(name: &str) -> &str {
    name.rsplit('.').next().unwrap_or(name)
}

fn union_from<'s>(
    names: &'s AvroSchema,
    u: &'s UnionSchema,
    json: &Json,
    path: &str,
) -> Result<Avro, String> {
    let variants = u.variants();
    if json.is_null() {
        let i = variants
            .iter()
            .position(|v| matches!(v, Schema::Null))
            .ok_or_else(|| format!("{path}: null is not a branch of this union"))?;
        return Ok(Avro::Union(i as u32, Box::new(Avro::Null)));
    }
    // Wrapped: {"<branch>": value}, by full or short name.
    if let Some((key, inner)) = json
        .as_object()
        .filter(|o| o.len() == 1)
        .and_then(|o| o.iter().next())
    {
        let found = variants.iter().enumerate().find(|(_, v)| {
            let name = branch_name(v);
            name == *key || short(&name) == key
        });
        if let Some((i, v)) = found {
            return Ok(Avro::Union(
                i as u32,
                Box::new(convert_in(names, v, inner, path)?),
            ));
        }
    }
    // Unwrapped (extension): exactly one non-null branch must take it.
    let takers: Vec<(usize, Avro)> = variants
        .iter()
        .enumerate()
        .filter(|(_, v)| !matches!(v, Schema::Null))
        .filter_map(|(i, v)| convert_in(names, v, json, path).ok().map(|a| (i, a)))
        .collect();
    match takers.len() {
        1 => {
            let (i, a) = takers.into_iter().next().expect("one");
            Ok(Avro::Union(i as u32, Box::new(a)))
        }
        0 => Err(format!(
            "{path}: {json} matches no branch of the union {:?}",
            variants.iter().map(branch_name).collect::<Vec<_>>()
        )),
        _ => Err(format!(
            "{path}: {json} is ambiguous for the union {:?}; wrap it as {{\"<type>\": value}}",
            variants.iter().map(branch_name).collect::<Vec<_>>()
        )),
    }
}

/// Converts an Avro value of `schema` to Avro's JSON encoding.
pub fn to_json(schema: &AvroSchema, value: &Avro) -> Result<Json, String> {
    json_of(schema, &schema.schema, value)
}

fn latin1_string(bytes: &[u8]) -> Json {
    Json::String(bytes.iter().map(|&b| char::from(b)).collect())
}

fn float(f: f64) -> Json {
    Number::from_f64(f).map_or(Json::Null, Json::Number)
}

fn json_of<'s>(names: &'s AvroSchema, schema: &'s Schema, value: &Avro) -> Result<Json, String> {
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
                .map_err(|e: apache_avro::Error| e.to_string())?;
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
                .ok_or_else(|| format!("union branch {i} out of range"))?;
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
            return Err(format!(
                "value {v:?} does not match schema {}",
                branch_name(s)
            ))
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
pub fn unframe(data: &[u8]) -> Result<(i32, &[u8]), String> {
    match data {
        [0, a, b, c, d, rest @ ..] => Ok((i32::from_be_bytes([*a, *b, *c, *d]), rest)),
        [] => Err("empty record (no schema framing)".into()),
        [m, ..] if *m != 0 => Err(format!("unknown magic byte {m}")),
        _ => Err("record shorter than its framing".into()),
    }
}

/// Encodes one JSON value as a framed Avro record of `schema` (id `id`).
pub fn encode(schema: &AvroSchema, id: i32, json: &Json) -> Result<Vec<u8>, String> {
    let value = from_json(schema, json)?;
    let datum = if schema.referenced.is_empty() {
        apache_avro::to_avro_datum(&schema.schema, value)
    } else {
        apache_avro::to_avro_datum_schemata(
            &schema.schema,
            schema.referenced.iter().collect(),
            value,
        )
    }
    .map_err(|e| e.to_string())?;
    let mut out = Vec::with_capacity(datum.len() + 5);
    frame(id, &datum, &mut out);
    Ok(out)
}

/// Decodes an Avro payload (after the framing) written with `schema` to Avro's JSON encoding.
pub fn decode(schema: &AvroSchema, payload: &[u8]) -> Result<Json, String> {
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
    .map_err(|e| e.to_string())?;
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

    #[test]
    fn defaults_unwrapped_unions_and_errors() {
        let s = user();
        // The seed's shape: missing fields take defaults; an unwrapped int is unambiguous.
        let out = from_json(&s, &json!({"name": "ann", "age": 31})).unwrap();
        let back = to_json(&s, &out).unwrap();
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
            let err = from_json(&s, &bad).unwrap_err();
            assert!(err.contains(why), "{bad}: {err}");
        }
        let ambiguous = AvroSchema::parse(r#"["null","int","long"]"#, &[]).unwrap();
        assert!(from_json(&ambiguous, &json!(5))
            .unwrap_err()
            .contains("ambiguous"));
        assert_eq!(
            to_json(
                &ambiguous,
                &from_json(&ambiguous, &json!({"long": 5})).unwrap()
            )
            .unwrap(),
            json!({"long": 5})
        );
        assert!(unframe(&[1, 0, 0, 0, 1]).is_err());
        assert!(unframe(&[0, 0]).is_err());
    }
}
