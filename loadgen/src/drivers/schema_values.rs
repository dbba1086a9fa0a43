//! The values of a schema workload (`format = "avro"`, `"jsonschema"` or `"protobuf"`): one
//! fixed record `{id: long, payload: string}` per format, record `id`'s value at a chosen encoded
//! size, its JSON (what REST clients send) and its Confluent framing (what native clients send and
//! what ends up in Kafka either way: magic byte 0, the 4-byte big-endian schema id, then the Avro
//! binary datum, the compact JSON text, or Protobuf's message-index list and binary message), and
//! registering the schema.
//!
//! The framed values are written by hand, as a tuned serializer for a known record would: the
//! native baseline pays the least a real producer can pay, so the REST/native ratio is not
//! flattered by a slow native encoder. Unit tests check the bytes against `apache_avro` and
//! against the proxy's own encoders, and every REST round checks them against what the proxy
//! stored (the checksums of what the proxy stored and of what this module encodes must agree).

use std::time::Duration;

use serde::Deserialize;

use crate::format::Format;
use crate::payload::make_value;

const AVRO: &str = r#"{"type":"record","name":"LoadRecord","namespace":"loadgen","fields":[{"name":"id","type":"long"},{"name":"payload","type":"string"}]}"#;
const JSON_SCHEMA: &str = r#"{"type":"object","title":"LoadRecord","properties":{"id":{"type":"integer"},"payload":{"type":"string"}},"required":["id","payload"],"additionalProperties":false}"#;
const PROTOBUF: &str = "syntax = \"proto3\";\npackage loadgen;\n\nmessage LoadRecord {\n  int64 id = 1;\n  string payload = 2;\n}\n";
/// Key schemas (`workload.keys`): the record's id in decimal as a string, binary keys' text, in a
/// message of one string field for Protobuf.
const AVRO_KEY: &str = r#""string""#;
const JSON_SCHEMA_KEY: &str = r#"{"type":"string"}"#;
const PROTOBUF_KEY: &str =
    "syntax = \"proto3\";\npackage loadgen;\n\nmessage LoadKey {\n  string id = 1;\n}\n";

/// The record schema of a schema workload's `format`.
pub fn schema(format: Format) -> &'static str {
    match format {
        Format::Avro => AVRO,
        Format::JsonSchema => JSON_SCHEMA,
        Format::Protobuf => PROTOBUF,
        Format::Binary => unreachable!("the binary format has no schema"),
    }
}

/// The key schema of a schema workload's `format` (`workload.keys`).
pub fn key_schema(format: Format) -> &'static str {
    match format {
        Format::Avro => AVRO_KEY,
        Format::JsonSchema => JSON_SCHEMA_KEY,
        Format::Protobuf => PROTOBUF_KEY,
        Format::Binary => unreachable!("the binary format has no schema"),
    }
}

/// The registry's `schemaType` of the format (Avro is the registry's default, left out).
fn schema_type(format: Format) -> Option<&'static str> {
    match format {
        Format::JsonSchema => Some("JSON"),
        Format::Protobuf => Some("PROTOBUF"),
        _ => None,
    }
}

/// Content type of a produce request in the format's embedded format (Confluent REST Proxy v2).
pub fn content_type(format: Format) -> &'static str {
    match format {
        Format::Avro => "application/vnd.kafka.avro.v2+json",
        Format::JsonSchema => "application/vnd.kafka.jsonschema.v2+json",
        Format::Protobuf => "application/vnd.kafka.protobuf.v2+json",
        Format::Binary => unreachable!("the binary format has its own driver path"),
    }
}

/// Bytes of the Confluent framing before the datum: magic byte and schema id.
const FRAME_HEADER: usize = 5;
/// Size of record `id`'s framed value with a payload of `len` bytes.
pub fn framed_len(format: Format, id: u64, len: usize) -> usize {
    FRAME_HEADER
        + match format {
            Format::Avro => varint_len(zigzag(id as i64)) + varint_len(zigzag(len as i64)) + len,
            // `{"id":` ID `,"payload":"` PAYLOAD `"}`
            Format::JsonSchema => 6 + decimal_len(id) + 12 + len + 2,
            // Message indexes [0] (one byte); fields left out at their proto3 defaults.
            Format::Protobuf => {
                1 + if id == 0 { 0 } else { 1 + varint_len(id) }
                    + if len == 0 {
                        0
                    } else {
                        1 + varint_len(len as u64) + len
                    }
            }
            Format::Binary => unreachable!("the binary format has no framing"),
        }
}

/// The `payload` string of record `id`, sized so that its framed value is `size` bytes (one less
/// where a length prefix would grow by a byte). ASCII letters only, so the JSON form needs no
/// escaping. `size` is at least [`Format::min_value_bytes`].
pub fn payload(format: Format, id: u64, size: usize) -> Vec<u8> {
    let mut len = size.saturating_sub(framed_len(format, id, 0));
    while len > 0 && framed_len(format, id, len) > size {
        len -= 1;
    }
    let mut v = make_value(id, 8 + len);
    v.drain(..8);
    v
}

/// Writes record `id`'s Confluent-framed value into `out` (cleared first).
pub fn encode(format: Format, schema_id: u32, id: u64, payload: &[u8], out: &mut Vec<u8>) {
    out.clear();
    out.push(0);
    out.extend_from_slice(&schema_id.to_be_bytes());
    match format {
        Format::Avro => {
            put_varint(out, zigzag(id as i64));
            put_varint(out, zigzag(payload.len() as i64));
            out.extend_from_slice(payload);
        }
        Format::JsonSchema => {
            out.extend_from_slice(b"{\"id\":");
            out.extend_from_slice(itoa::Buffer::new().format(id).as_bytes());
            out.extend_from_slice(b",\"payload\":\"");
            out.extend_from_slice(payload);
            out.extend_from_slice(b"\"}");
        }
        Format::Protobuf => {
            out.push(0);
            if id != 0 {
                out.push(0x08);
                put_varint(out, id);
            }
            if !payload.is_empty() {
                out.push(0x12);
                put_varint(out, payload.len() as u64);
                out.extend_from_slice(payload);
            }
        }
        Format::Binary => unreachable!("the binary format has no framing"),
    }
}

/// Size of a framed key whose text is `len` bytes.
pub fn framed_key_len(format: Format, len: usize) -> usize {
    FRAME_HEADER
        + match format {
            Format::Avro => varint_len(zigzag(len as i64)) + len,
            Format::JsonSchema => len + 2,
            Format::Protobuf => {
                1 + if len == 0 {
                    0
                } else {
                    1 + varint_len(len as u64) + len
                }
            }
            Format::Binary => unreachable!("the binary format has no framing"),
        }
}

/// Writes the Confluent-framed key whose text is `key` into `out` (cleared first).
pub fn encode_key(format: Format, schema_id: u32, key: &str, out: &mut Vec<u8>) {
    out.clear();
    out.push(0);
    out.extend_from_slice(&schema_id.to_be_bytes());
    match format {
        Format::Avro => {
            put_varint(out, zigzag(key.len() as i64));
            out.extend_from_slice(key.as_bytes());
        }
        Format::JsonSchema => {
            // Decimal digits: nothing to escape.
            out.push(b'"');
            out.extend_from_slice(key.as_bytes());
            out.push(b'"');
        }
        Format::Protobuf => {
            out.push(0);
            if !key.is_empty() {
                out.push(0x0a);
                put_varint(out, key.len() as u64);
                out.extend_from_slice(key.as_bytes());
            }
        }
        Format::Binary => unreachable!("the binary format has no framing"),
    }
}

/// Appends the key whose text is `key` as JSON: a string, or `{"id":"..."}` for Protobuf.
pub fn push_key_json(format: Format, key: &str, out: &mut String) {
    if format == Format::Protobuf {
        out.push_str("{\"id\":\"");
        out.push_str(key);
        out.push_str("\"}");
    } else {
        out.push('"');
        out.push_str(key);
        out.push('"');
    }
}

/// Appends record `id`'s value as JSON, which every format's embedded format takes:
/// `{"id":ID,"payload":"..."}`.
pub fn push_json(id: u64, payload: &[u8], out: &mut String) {
    out.push_str("{\"id\":");
    out.push_str(itoa::Buffer::new().format(id));
    out.push_str(",\"payload\":\"");
    // Letters from `make_value`: valid UTF-8 that JSON takes as it is.
    out.push_str(std::str::from_utf8(payload).expect("ASCII letters"));
    out.push_str("\"}");
}

/// The `"value_schema":"..."` member of a produce request: the schema as a JSON string.
pub fn value_schema_member(format: Format) -> String {
    format!(
        "\"value_schema\":{}",
        serde_json::to_string(schema(format)).expect("a string serializes")
    )
}

/// The `"key_schema":"..."` member of a produce request (`workload.keys`).
pub fn key_schema_member(format: Format) -> String {
    format!(
        "\"key_schema\":{}",
        serde_json::to_string(key_schema(format)).expect("a string serializes")
    )
}

#[derive(Deserialize)]
struct Registered {
    id: u32,
}

/// Registers the format's schema (or, with `key`, its key schema) under `subject` at the Schema
/// Registry `registry` and returns its id.
pub async fn register(
    format: Format,
    key: bool,
    registry: &str,
    subject: &str,
) -> anyhow::Result<u32> {
    let url = format!(
        "{}/subjects/{subject}/versions",
        registry.trim_end_matches('/')
    );
    let text = if key {
        key_schema(format)
    } else {
        schema(format)
    };
    let mut body = serde_json::json!({ "schema": text });
    if let Some(kind) = schema_type(format) {
        body["schemaType"] = kind.into();
    }
    let what = format.name();
    let resp = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?
        .post(&url)
        .header("content-type", "application/vnd.schemaregistry.v1+json")
        .body(body.to_string())
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("registering the {what} schema at {url}: {e}"))?;
    let status = resp.status();
    let text = resp.text().await?;
    anyhow::ensure!(
        status.is_success(),
        "registering the {what} schema at {url} answered {status}: {text}"
    );
    let reply: Registered = serde_json::from_str(&text)
        .map_err(|e| anyhow::anyhow!("registering the {what} schema at {url}: {e} in {text}"))?;
    Ok(reply.id)
}

fn zigzag(n: i64) -> u64 {
    ((n << 1) ^ (n >> 63)) as u64
}

fn varint_len(mut v: u64) -> usize {
    let mut n = 1;
    while v >= 0x80 {
        v >>= 7;
        n += 1;
    }
    n
}

fn decimal_len(v: u64) -> usize {
    v.checked_ilog10().map_or(1, |d| d as usize + 1)
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_proxy::formats::{encode_value, ResolvedSchema};
    use kafka_proxy::schema::kinds::{parse, SchemaType};

    const SCHEMAS: [Format; 3] = [Format::Avro, Format::JsonSchema, Format::Protobuf];
    const CASES: [(u64, usize); 8] = [
        (0, 48),
        (1, 100),
        (63, 80),
        (64, 81),
        (127, 128),
        (1_234_567, 100),
        (i64::MAX as u64, 48),
        (9, 4096),
    ];

    #[test]
    fn avro_matches_apache_avro() {
        let schema = apache_avro::Schema::parse_str(AVRO).unwrap();
        let mut out = Vec::new();
        for (id, size) in CASES {
            let p = payload(Format::Avro, id, size);
            encode(Format::Avro, 0x0102_0304, id, &p, &mut out);
            let datum = apache_avro::to_avro_datum(
                &schema,
                apache_avro::types::Value::Record(vec![
                    ("id".into(), apache_avro::types::Value::Long(id as i64)),
                    (
                        "payload".into(),
                        apache_avro::types::Value::String(String::from_utf8(p.clone()).unwrap()),
                    ),
                ]),
            )
            .unwrap();
            assert_eq!(out[..5], [0, 1, 2, 3, 4]);
            assert_eq!(out[5..], datum[..], "id {id}");
        }
    }

    /// `text`, a schema of `format`, parsed by the proxy as schema `id`.
    fn proxys(format: Format, id: i32, text: &str) -> ResolvedSchema {
        let kind = match format {
            Format::Avro => SchemaType::Avro,
            Format::JsonSchema => SchemaType::Json,
            _ => SchemaType::Protobuf,
        };
        ResolvedSchema {
            id,
            schema: parse(kind, text).unwrap(),
        }
    }

    /// What the native driver sends is byte for byte what the proxy stores for the JSON a REST
    /// client sends, and has the size asked for.
    #[test]
    fn every_format_matches_the_proxys_encoding() {
        for format in SCHEMAS {
            let resolved = proxys(format, 0x0102_0304, schema(format));
            let mut out = Vec::new();
            for (id, size) in CASES {
                let p = payload(format, id, size);
                encode(format, 0x0102_0304, id, &p, &mut out);
                let mut json = String::new();
                push_json(id, &p, &mut json);
                let proxy = encode_value(&resolved, &json).unwrap();
                assert_eq!(out, proxy, "{format:?} id {id} size {size}");
                assert_eq!(
                    out.len(),
                    framed_len(format, id, p.len()),
                    "{format:?} {id}"
                );
                assert!(
                    out.len() == size || out.len() + 1 == size,
                    "{format:?} id {id}: {} bytes for {size}",
                    out.len()
                );
            }
        }
    }

    /// Keys too: what the native driver sends is what the proxy stores for the REST key.
    #[test]
    fn every_format_encodes_keys_as_the_proxy() {
        for format in SCHEMAS {
            let resolved = proxys(format, 0x0506_0708, key_schema(format));
            let mut out = Vec::new();
            for key in ["0", "7", "18446744073709551615"] {
                encode_key(format, 0x0506_0708, key, &mut out);
                let mut json = String::new();
                push_key_json(format, key, &mut json);
                assert_eq!(
                    out,
                    encode_value(&resolved, &json).unwrap(),
                    "{format:?} {key}"
                );
                assert_eq!(
                    out.len(),
                    framed_key_len(format, key.len()),
                    "{format:?} {key}"
                );
            }
        }
    }

    /// The smallest value size scenarios accept is the framing of the longest id.
    #[test]
    fn min_value_bytes_fit_the_framing() {
        for format in SCHEMAS {
            assert_eq!(
                format.min_value_bytes(),
                framed_len(format, i64::MAX as u64, 0),
                "{format:?}"
            );
        }
    }

    #[test]
    fn json_form_is_the_record() {
        let p = payload(Format::Avro, 7, 60);
        let mut json = String::new();
        push_json(7, &p, &mut json);
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["id"], 7);
        assert_eq!(v["payload"].as_str().unwrap().as_bytes(), &p[..]);
        for format in SCHEMAS {
            let member: serde_json::Value =
                serde_json::from_str(&format!("{{{}}}", value_schema_member(format))).unwrap();
            assert_eq!(member["value_schema"], schema(format));
        }
    }
}
