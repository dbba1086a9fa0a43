//! The Avro workload's values: one fixed record schema, record `id`'s value at a chosen encoded
//! size, its Avro JSON (what REST clients send) and its Confluent framing (what native clients
//! send and what ends up in Kafka either way: magic byte 0, the 4-byte big-endian schema id, the
//! Avro binary datum), and registering the schema.
//!
//! The datum is written by hand (two zigzag varints and the string's bytes), as a tuned
//! serializer for a known record would: the native baseline pays the least a real Avro producer
//! can pay, so the REST/native ratio is not flattered by a slow native encoder. A unit test checks
//! the bytes against `apache_avro`, and every REST round checks them against the proxy's encoding
//! (the checksums of what the proxy stored and of what this module encodes must agree).

use std::time::Duration;

use serde::Deserialize;

use crate::payload::make_value;

/// The record schema every Avro workload uses.
pub const SCHEMA: &str = r#"{"type":"record","name":"LoadRecord","namespace":"loadgen","fields":[{"name":"id","type":"long"},{"name":"payload","type":"string"}]}"#;

/// Content type of an Avro produce request (Confluent REST Proxy v2).
pub const CONTENT_TYPE: &str = "application/vnd.kafka.avro.v2+json";

/// Bytes of the Confluent framing before the datum: magic byte and schema id.
const FRAME_HEADER: usize = 5;

/// The `payload` string of record `id`, sized so that its framed value is `size` bytes (one less
/// where the length's varint would grow by a byte). ASCII letters only, so the JSON form needs no
/// escaping. `size` is at least 16, which fits the header, the longest id varint and an empty
/// payload.
pub fn payload(id: u64, size: usize) -> Vec<u8> {
    let head = FRAME_HEADER + varint_len(zigzag(id as i64));
    let mut len = size.saturating_sub(head + 1);
    while len > 0 && head + varint_len(zigzag(len as i64)) + len > size {
        len -= 1;
    }
    let mut v = make_value(id, 8 + len);
    v.drain(..8);
    v
}

/// Size of record `id`'s framed value with this payload.
pub fn framed_len(id: u64, payload: &[u8]) -> usize {
    FRAME_HEADER
        + varint_len(zigzag(id as i64))
        + varint_len(zigzag(payload.len() as i64))
        + payload.len()
}

/// Writes record `id`'s Confluent-framed Avro value into `out` (cleared first).
pub fn encode(schema_id: u32, id: u64, payload: &[u8], out: &mut Vec<u8>) {
    out.clear();
    out.push(0);
    out.extend_from_slice(&schema_id.to_be_bytes());
    put_varint(out, zigzag(id as i64));
    put_varint(out, zigzag(payload.len() as i64));
    out.extend_from_slice(payload);
}

/// Appends record `id`'s value in Avro's JSON encoding: `{"id":ID,"payload":"..."}`.
pub fn push_json(id: u64, payload: &[u8], out: &mut String) {
    out.push_str("{\"id\":");
    out.push_str(&id.to_string());
    out.push_str(",\"payload\":\"");
    // Letters from `make_value`: valid UTF-8 that JSON takes as it is.
    out.push_str(std::str::from_utf8(payload).expect("ASCII letters"));
    out.push_str("\"}");
}

/// The `"value_schema":"..."` member of a produce request: the schema as a JSON string.
pub fn value_schema_member() -> String {
    format!(
        "\"value_schema\":{}",
        serde_json::to_string(SCHEMA).expect("a string serializes")
    )
}

#[derive(Deserialize)]
struct Registered {
    id: u32,
}

/// Registers [`SCHEMA`] under `subject` at the Schema Registry `registry` and returns its id.
pub async fn register(registry: &str, subject: &str) -> anyhow::Result<u32> {
    let url = format!(
        "{}/subjects/{subject}/versions",
        registry.trim_end_matches('/')
    );
    let resp = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?
        .post(&url)
        .header("content-type", "application/vnd.schemaregistry.v1+json")
        .body(serde_json::json!({ "schema": SCHEMA }).to_string())
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("registering the Avro schema at {url}: {e}"))?;
    let status = resp.status();
    let text = resp.text().await?;
    anyhow::ensure!(
        status.is_success(),
        "registering the Avro schema at {url} answered {status}: {text}"
    );
    let reply: Registered = serde_json::from_str(&text)
        .map_err(|e| anyhow::anyhow!("registering the Avro schema at {url}: {e} in {text}"))?;
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

    #[test]
    fn framing_matches_apache_avro() {
        let schema = apache_avro::Schema::parse_str(SCHEMA).unwrap();
        let mut out = Vec::new();
        for (id, size) in [
            (0, 16),
            (1, 100),
            (63, 80),
            (64, 81),
            (1_234_567, 100),
            (u64::MAX >> 1, 16),
            (9, 4096),
        ] {
            let p = payload(id, size);
            encode(0x0102_0304, id, &p, &mut out);
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
            assert_eq!(out.len(), framed_len(id, &p));
            assert!(
                out.len() == size || out.len() + 1 == size,
                "id {id}: {} bytes for {size}",
                out.len()
            );
        }
    }

    #[test]
    fn json_form_is_the_record() {
        let p = payload(7, 40);
        let mut json = String::new();
        push_json(7, &p, &mut json);
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["id"], 7);
        assert_eq!(v["payload"].as_str().unwrap().as_bytes(), &p[..]);
        let member: serde_json::Value =
            serde_json::from_str(&format!("{{{}}}", value_schema_member())).unwrap();
        assert_eq!(member["value_schema"], SCHEMA);
    }
}
