//! Inputs shared by the benches: produce bodies as clients send them.

use base64::Engine;

/// A produce body of `n` records with `value_bytes`-byte values, in the binary or json format.
pub fn produce_body(n: usize, value_bytes: usize, binary: bool) -> bytes::Bytes {
    let mut body = String::from("{\"records\":[");
    for i in 0..n {
        if i > 0 {
            body.push(',');
        }
        let value: String = (0..value_bytes)
            .map(|j| (b'a' + ((i + j) % 26) as u8) as char)
            .collect();
        if binary {
            let b64 = base64::engine::general_purpose::STANDARD.encode(value.as_bytes());
            body.push_str(&format!(
                "{{\"key\":\"{}\",\"value\":\"{b64}\"}}",
                base64::engine::general_purpose::STANDARD.encode(format!("k{i}"))
            ));
        } else {
            // A JSON object of about the same size as the binary value.
            body.push_str(&format!(
                "{{\"key\":\"k{i}\",\"value\":{{\"id\":{i},\"v\":\"{}\"}}}}",
                &value[..value_bytes.saturating_sub(16)]
            ));
        }
    }
    body.push_str("]}");
    body.into()
}

/// The Avro schema of the Avro bodies: loadgen's `LoadRecord`.
pub const AVRO_SCHEMA: &str = r#"{"type":"record","name":"LoadRecord","namespace":"loadgen","fields":[{"name":"id","type":"long"},{"name":"payload","type":"string"}]}"#;

/// loadgen's record as a JSON Schema and as a Protobuf message (`drivers::schema_values`).
pub const JSON_SCHEMA: &str = r#"{"type":"object","title":"LoadRecord","properties":{"id":{"type":"integer"},"payload":{"type":"string"}},"required":["id","payload"],"additionalProperties":false}"#;
pub const PROTOBUF_SCHEMA: &str =
    "syntax = \"proto3\";\npackage loadgen;\nmessage LoadRecord {\n  int64 id = 1;\n  string payload = 2;\n}\n";

/// A schema-format produce body of `n` records as loadgen's REST driver sends it (schema id
/// first, `{"id","payload"}` values of about `value_bytes` bytes once encoded).
pub fn schema_body(n: usize, value_bytes: usize) -> bytes::Bytes {
    keyed_schema_body(n, value_bytes, None)
}

/// [`schema_body`] with a `key_schema_id` of 2 and record `i`'s key `key(i)` (JSON text).
pub fn keyed_schema_body(
    n: usize,
    value_bytes: usize,
    key: Option<&dyn Fn(usize) -> String>,
) -> bytes::Bytes {
    let mut body = String::from(match key {
        Some(_) => "{\"key_schema_id\":2,\"value_schema_id\":1,\"records\":[",
        None => "{\"value_schema_id\":1,\"records\":[",
    });
    for i in 0..n {
        if i > 0 {
            body.push(',');
        }
        let payload: String = (0..value_bytes.saturating_sub(10))
            .map(|j| (b'a' + ((i + j) % 26) as u8) as char)
            .collect();
        if let Some(key) = key {
            body.push_str(&format!("{{\"key\":{},", key(i)));
        } else {
            body.push('{');
        }
        body.push_str(&format!(
            "\"value\":{{\"id\":{i},\"payload\":\"{payload}\"}}}}"
        ));
    }
    body.push_str("]}");
    body.into()
}
