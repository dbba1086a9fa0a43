//! JSON Schema and Protobuf compatibility verdicts, table-driven, against the built-in registry
//! over real HTTP (issue 15). Each row is a schema, an update and whether BACKWARD lets the
//! update follow it. The verdicts are Confluent's: JSON Schema by `json/diff/SchemaDiff`'s strict
//! set of compatible changes (json-schema-provider's diff-schema-examples and
//! diff-combined-schema-examples, JsonSchemaTest's strict-policy cases), Protobuf by
//! `protobuf/diff/SchemaDiff`'s compatible changes (protobuf-provider's diff-schema-examples).
//! The rows are written here from those rules; each names the rule it exercises.

mod common;

use common::*;
use serde_json::json;

/// (rule, original, update, compatible)
const JSON_CASES: &[(&str, &str, &str, bool)] = &[
    (
        "anything may become the empty schema",
        r#"{"type":"object","properties":{"a":{"type":"string"}}}"#,
        r#"{}"#,
        true,
    ),
    (
        "title, description and $id changes are compatible",
        r#"{"title":"a","description":"x","type":"string"}"#,
        r#"{"title":"b","description":"y","type":"string"}"#,
        true,
    ),
    (
        "a changed type",
        r#"{"type":"string"}"#,
        r#"{"type":"number"}"#,
        false,
    ),
    (
        "integer widened to number",
        r#"{"type":"integer"}"#,
        r#"{"type":"number"}"#,
        true,
    ),
    (
        "number narrowed to integer",
        r#"{"type":"number"}"#,
        r#"{"type":"integer"}"#,
        false,
    ),
    (
        "type list extended",
        r#"{"type":["string"]}"#,
        r#"{"type":["string","null"]}"#,
        true,
    ),
    (
        "type list narrowed",
        r#"{"type":["string","null"]}"#,
        r#"{"type":"string"}"#,
        false,
    ),
    (
        "minLength increased",
        r#"{"type":"string","minLength":1}"#,
        r#"{"type":"string","minLength":2}"#,
        false,
    ),
    (
        "minLength decreased",
        r#"{"type":"string","minLength":2}"#,
        r#"{"type":"string","minLength":1}"#,
        true,
    ),
    (
        "maxLength increased",
        r#"{"type":"string","maxLength":5}"#,
        r#"{"type":"string","maxLength":6}"#,
        true,
    ),
    (
        "maxLength added",
        r#"{"type":"string"}"#,
        r#"{"type":"string","maxLength":6}"#,
        false,
    ),
    (
        "pattern removed",
        r#"{"type":"string","pattern":"^a"}"#,
        r#"{"type":"string"}"#,
        true,
    ),
    (
        "pattern changed",
        r#"{"type":"string","pattern":"^a"}"#,
        r#"{"type":"string","pattern":"^b"}"#,
        false,
    ),
    (
        "maximum increased",
        r#"{"type":"number","maximum":5}"#,
        r#"{"type":"number","maximum":6}"#,
        true,
    ),
    (
        "maximum decreased",
        r#"{"type":"number","maximum":5}"#,
        r#"{"type":"number","maximum":4}"#,
        false,
    ),
    (
        "minimum removed",
        r#"{"type":"number","minimum":5}"#,
        r#"{"type":"number"}"#,
        true,
    ),
    (
        "minimum increased",
        r#"{"type":"number","minimum":5}"#,
        r#"{"type":"number","minimum":6}"#,
        false,
    ),
    (
        "exclusiveMaximum increased",
        r#"{"type":"number","exclusiveMaximum":5}"#,
        r#"{"type":"number","exclusiveMaximum":7}"#,
        true,
    ),
    (
        "multipleOf reduced to a divisor",
        r#"{"type":"number","multipleOf":10}"#,
        r#"{"type":"number","multipleOf":5}"#,
        true,
    ),
    (
        "multipleOf changed to a non-divisor",
        r#"{"type":"number","multipleOf":10}"#,
        r#"{"type":"number","multipleOf":3}"#,
        false,
    ),
    (
        "enum extended",
        r#"{"enum":["a","b"]}"#,
        r#"{"enum":["a","b","c"]}"#,
        true,
    ),
    (
        "enum narrowed",
        r#"{"enum":["a","b"]}"#,
        r#"{"enum":["a"]}"#,
        false,
    ),
    (
        "enum removed",
        r#"{"type":"string","enum":["a"]}"#,
        r#"{"type":"string"}"#,
        true,
    ),
    (
        "not narrowed",
        r#"{"not":{"type":["string","number"]}}"#,
        r#"{"not":{"type":"string"}}"#,
        true,
    ),
    (
        "not widened",
        r#"{"not":{"type":"string"}}"#,
        r#"{"not":{"type":["string","number"]}}"#,
        false,
    ),
    (
        "required property removed",
        r#"{"type":"object","properties":{"a":{"type":"string"}},"required":["a"]}"#,
        r#"{"type":"object","properties":{"a":{"type":"string"}}}"#,
        true,
    ),
    (
        "required property added",
        r#"{"type":"object","properties":{"a":{"type":"string"}}}"#,
        r#"{"type":"object","properties":{"a":{"type":"string"}},"required":["a"]}"#,
        false,
    ),
    (
        "property type changed",
        r#"{"type":"object","properties":{"a":{"type":"string"}}}"#,
        r#"{"type":"object","properties":{"a":{"type":"integer"}}}"#,
        false,
    ),
    (
        "optional property added to an open content model",
        r#"{"type":"object","properties":{"a":{"type":"string"}}}"#,
        r#"{"type":"object","properties":{"a":{"type":"string"},"b":{"type":"string"}}}"#,
        false,
    ),
    (
        "property removed from an open content model",
        r#"{"type":"object","properties":{"a":{"type":"string"},"b":{"type":"string"}}}"#,
        r#"{"type":"object","properties":{"a":{"type":"string"}}}"#,
        true,
    ),
    (
        "optional property added to a closed content model",
        r#"{"type":"object","properties":{"a":{"type":"string"}},"additionalProperties":false}"#,
        r#"{"type":"object","properties":{"a":{"type":"string"},"b":{"type":"string"}},"additionalProperties":false}"#,
        true,
    ),
    (
        "property removed from a closed content model",
        r#"{"type":"object","properties":{"a":{"type":"string"},"b":{"type":"string"}},"additionalProperties":false}"#,
        r#"{"type":"object","properties":{"a":{"type":"string"}},"additionalProperties":false}"#,
        false,
    ),
    (
        "required property with a default added to a closed model",
        r#"{"type":"object","properties":{"a":{"type":"string"}},"additionalProperties":false}"#,
        r#"{"type":"object","properties":{"a":{"type":"string"},"b":{"type":"string","default":"x"}},"required":["b"],"additionalProperties":false}"#,
        true,
    ),
    (
        "required property without a default added to a closed model",
        r#"{"type":"object","properties":{"a":{"type":"string"}},"additionalProperties":false}"#,
        r#"{"type":"object","properties":{"a":{"type":"string"},"b":{"type":"string"}},"required":["b"],"additionalProperties":false}"#,
        false,
    ),
    (
        "property added that the partially open model covers",
        r#"{"type":"object","properties":{"a":{"type":"string"}},"additionalProperties":{"type":"string"}}"#,
        r#"{"type":"object","properties":{"a":{"type":"string"},"b":{"type":"string"}},"additionalProperties":{"type":"string"}}"#,
        true,
    ),
    (
        "property added that the partially open model does not cover",
        r#"{"type":"object","properties":{"a":{"type":"string"}},"additionalProperties":{"type":"string"}}"#,
        r#"{"type":"object","properties":{"a":{"type":"string"},"b":{"type":"integer"}},"additionalProperties":{"type":"string"}}"#,
        false,
    ),
    (
        "additionalProperties false added",
        r#"{"type":"object","properties":{"a":{"type":"string"}}}"#,
        r#"{"type":"object","properties":{"a":{"type":"string"}},"additionalProperties":false}"#,
        false,
    ),
    (
        "additionalProperties false removed",
        r#"{"type":"object","properties":{"a":{"type":"string"}},"additionalProperties":false}"#,
        r#"{"type":"object","properties":{"a":{"type":"string"}}}"#,
        true,
    ),
    (
        "additionalProperties schema narrowed",
        r#"{"type":"object","additionalProperties":{"type":["string","integer"]}}"#,
        r#"{"type":"object","additionalProperties":{"type":"string"}}"#,
        false,
    ),
    (
        "maxProperties decreased",
        r#"{"type":"object","maxProperties":5}"#,
        r#"{"type":"object","maxProperties":4}"#,
        false,
    ),
    (
        "minProperties decreased",
        r#"{"type":"object","minProperties":5}"#,
        r#"{"type":"object","minProperties":4}"#,
        true,
    ),
    (
        "dependency array added",
        r#"{"type":"object","properties":{"a":{"type":"string"},"b":{"type":"string"}}}"#,
        r#"{"type":"object","properties":{"a":{"type":"string"},"b":{"type":"string"}},"dependencies":{"a":["b"]}}"#,
        false,
    ),
    (
        "dependency array removed",
        r#"{"type":"object","properties":{"a":{"type":"string"},"b":{"type":"string"}},"dependencies":{"a":["b"]}}"#,
        r#"{"type":"object","properties":{"a":{"type":"string"},"b":{"type":"string"}}}"#,
        true,
    ),
    (
        "items schema changed",
        r#"{"type":"array","items":{"type":"string"}}"#,
        r#"{"type":"array","items":{"type":"integer"}}"#,
        false,
    ),
    (
        "items schema widened",
        r#"{"type":"array","items":{"type":"integer"}}"#,
        r#"{"type":"array","items":{"type":"number"}}"#,
        true,
    ),
    (
        "tuple item added to a closed list",
        r#"{"type":"array","items":[{"type":"string"}],"additionalItems":false}"#,
        r#"{"type":"array","items":[{"type":"string"},{"type":"integer"}],"additionalItems":false}"#,
        true,
    ),
    (
        "tuple item removed from an open list",
        r#"{"type":"array","items":[{"type":"string"},{"type":"integer"}]}"#,
        r#"{"type":"array","items":[{"type":"string"}]}"#,
        true,
    ),
    (
        "tuple item changed",
        r#"{"type":"array","items":[{"type":"string"}]}"#,
        r#"{"type":"array","items":[{"type":"integer"}]}"#,
        false,
    ),
    (
        "additionalItems false added",
        r#"{"type":"array","items":[{"type":"string"}]}"#,
        r#"{"type":"array","items":[{"type":"string"}],"additionalItems":false}"#,
        false,
    ),
    (
        "maxItems decreased",
        r#"{"type":"array","maxItems":5}"#,
        r#"{"type":"array","maxItems":4}"#,
        false,
    ),
    (
        "minItems decreased",
        r#"{"type":"array","minItems":5}"#,
        r#"{"type":"array","minItems":4}"#,
        true,
    ),
    (
        "uniqueItems removed",
        r#"{"type":"array","uniqueItems":true}"#,
        r#"{"type":"array"}"#,
        true,
    ),
    (
        "uniqueItems added",
        r#"{"type":"array"}"#,
        r#"{"type":"array","uniqueItems":true}"#,
        false,
    ),
    (
        "oneOf extended",
        r#"{"oneOf":[{"type":"string"},{"type":"integer"}]}"#,
        r#"{"oneOf":[{"type":"string"},{"type":"integer"},{"type":"boolean"}]}"#,
        true,
    ),
    (
        "oneOf narrowed",
        r#"{"oneOf":[{"type":"string"},{"type":"integer"}]}"#,
        r#"{"oneOf":[{"type":"string"}]}"#,
        false,
    ),
    (
        "allOf narrowed (fewer constraints)",
        r#"{"allOf":[{"type":"string"},{"maxLength":5}]}"#,
        r#"{"allOf":[{"type":"string"}]}"#,
        true,
    ),
    (
        "allOf extended (more constraints)",
        r#"{"allOf":[{"type":"string"}]}"#,
        r#"{"allOf":[{"type":"string"},{"maxLength":5}]}"#,
        false,
    ),
    (
        "oneOf to anyOf",
        r#"{"oneOf":[{"type":"string"},{"type":"integer"}]}"#,
        r#"{"anyOf":[{"type":"string"},{"type":"integer"}]}"#,
        true,
    ),
    (
        "anyOf to allOf",
        r#"{"anyOf":[{"type":"string"},{"type":"integer"}]}"#,
        r#"{"allOf":[{"type":"string"},{"type":"integer"}]}"#,
        false,
    ),
    (
        "a type becomes one branch of a oneOf",
        r#"{"type":"string"}"#,
        r#"{"oneOf":[{"type":"string"},{"type":"integer"}]}"#,
        true,
    ),
    (
        "local $ref with the same target",
        r##"{"type":"object","properties":{"a":{"type":"string"}}}"##,
        r##"{"definitions":{"s":{"type":"string"}},"type":"object","properties":{"a":{"$ref":"#/definitions/s"}}}"##,
        true,
    ),
    (
        "local $ref target changed",
        r##"{"definitions":{"s":{"type":"string"}},"type":"object","properties":{"a":{"$ref":"#/definitions/s"}}}"##,
        r##"{"definitions":{"s":{"type":"integer"}},"type":"object","properties":{"a":{"$ref":"#/definitions/s"}}}"##,
        false,
    ),
    (
        "2020-12 prefixItems item added to a closed list",
        r#"{"$schema":"https://json-schema.org/draft/2020-12/schema","type":"array","prefixItems":[{"type":"string"}],"items":false}"#,
        r#"{"$schema":"https://json-schema.org/draft/2020-12/schema","type":"array","prefixItems":[{"type":"string"},{"type":"integer"}],"items":false}"#,
        true,
    ),
    (
        "2020-12 items false added after prefixItems",
        r#"{"$schema":"https://json-schema.org/draft/2020-12/schema","type":"array","prefixItems":[{"type":"string"}]}"#,
        r#"{"$schema":"https://json-schema.org/draft/2020-12/schema","type":"array","prefixItems":[{"type":"string"}],"items":false}"#,
        false,
    ),
    (
        "2020-12 dependentRequired added",
        r#"{"$schema":"https://json-schema.org/draft/2020-12/schema","type":"object"}"#,
        r#"{"$schema":"https://json-schema.org/draft/2020-12/schema","type":"object","dependentRequired":{"a":["b"]}}"#,
        false,
    ),
];

/// (rule, original, update, compatible)
const PROTO_CASES: &[(&str, &str, &str, bool)] = &[
    ("field added", "syntax = \"proto3\";\nmessage M {\n  string a = 1;\n}\n", "syntax = \"proto3\";\nmessage M {\n  string a = 1;\n  int32 b = 2;\n}\n", true),
    ("field removed", "syntax = \"proto3\";\nmessage M {\n  string a = 1;\n  int32 b = 2;\n}\n", "syntax = \"proto3\";\nmessage M {\n  string a = 1;\n}\n", true),
    ("field renamed", "syntax = \"proto3\";\nmessage M {\n  string a = 1;\n}\n", "syntax = \"proto3\";\nmessage M {\n  string b = 1;\n}\n", true),
    ("package changed", "syntax = \"proto3\";\npackage a;\nmessage M {\n  string a = 1;\n}\n", "syntax = \"proto3\";\npackage b;\nmessage M {\n  string a = 1;\n}\n", false),
    ("message removed", "syntax = \"proto3\";\nmessage M {\n  string a = 1;\n}\nmessage N {\n  string a = 1;\n}\n", "syntax = \"proto3\";\nmessage M {\n  string a = 1;\n}\n", false),
    ("message added", "syntax = \"proto3\";\nmessage M {\n  string a = 1;\n}\n", "syntax = \"proto3\";\nmessage M {\n  string a = 1;\n}\nmessage N {\n  string a = 1;\n}\n", true),
    ("string to bytes", "syntax = \"proto3\";\nmessage M {\n  string a = 1;\n}\n", "syntax = \"proto3\";\nmessage M {\n  bytes a = 1;\n}\n", true),
    ("int32 to int64", "syntax = \"proto3\";\nmessage M {\n  int32 a = 1;\n}\n", "syntax = \"proto3\";\nmessage M {\n  int64 a = 1;\n}\n", true),
    ("sint32 to sint64", "syntax = \"proto3\";\nmessage M {\n  sint32 a = 1;\n}\n", "syntax = \"proto3\";\nmessage M {\n  sint64 a = 1;\n}\n", true),
    ("fixed32 to sfixed32", "syntax = \"proto3\";\nmessage M {\n  fixed32 a = 1;\n}\n", "syntax = \"proto3\";\nmessage M {\n  sfixed32 a = 1;\n}\n", true),
    ("int32 to string", "syntax = \"proto3\";\nmessage M {\n  int32 a = 1;\n}\n", "syntax = \"proto3\";\nmessage M {\n  string a = 1;\n}\n", false),
    ("int32 to sint32", "syntax = \"proto3\";\nmessage M {\n  int32 a = 1;\n}\n", "syntax = \"proto3\";\nmessage M {\n  sint32 a = 1;\n}\n", false),
    ("scalar to message", "syntax = \"proto3\";\nmessage M {\n  int32 a = 1;\n}\nmessage N {\n  int32 x = 1;\n}\n", "syntax = \"proto3\";\nmessage M {\n  N a = 1;\n}\nmessage N {\n  int32 x = 1;\n}\n", false),
    ("message type changed", "syntax = \"proto3\";\nmessage M {\n  N a = 1;\n}\nmessage N {\n  int32 x = 1;\n}\nmessage O {\n  int32 x = 1;\n}\n", "syntax = \"proto3\";\nmessage M {\n  O a = 1;\n}\nmessage N {\n  int32 x = 1;\n}\nmessage O {\n  int32 x = 1;\n}\n", false),
    ("enum constant added", "syntax = \"proto3\";\nmessage M {\n  E e = 1;\n}\nenum E {\n  A = 0;\n}\n", "syntax = \"proto3\";\nmessage M {\n  E e = 1;\n}\nenum E {\n  A = 0;\n  B = 1;\n}\n", true),
    ("repeated numeric made singular", "syntax = \"proto3\";\nmessage M {\n  repeated int32 a = 1;\n}\n", "syntax = \"proto3\";\nmessage M {\n  int32 a = 1;\n}\n", false),
    ("repeated string made singular", "syntax = \"proto3\";\nmessage M {\n  repeated string a = 1;\n}\n", "syntax = \"proto3\";\nmessage M {\n  string a = 1;\n}\n", true),
    ("field moved into a new oneof", "syntax = \"proto3\";\nmessage M {\n  string a = 1;\n}\n", "syntax = \"proto3\";\nmessage M {\n  oneof o {\n    string a = 1;\n  }\n}\n", true),
    ("fields moved into an existing oneof", "syntax = \"proto3\";\nmessage M {\n  oneof o {\n    string a = 1;\n  }\n  string b = 2;\n}\n", "syntax = \"proto3\";\nmessage M {\n  oneof o {\n    string a = 1;\n    string b = 2;\n  }\n}\n", false),
    ("field removed from a oneof", "syntax = \"proto3\";\nmessage M {\n  oneof o {\n    string a = 1;\n    string b = 2;\n  }\n}\n", "syntax = \"proto3\";\nmessage M {\n  oneof o {\n    string a = 1;\n  }\n}\n", false),
    ("required field added", "syntax = \"proto2\";\nmessage M {\n  optional string a = 1;\n}\n", "syntax = \"proto2\";\nmessage M {\n  optional string a = 1;\n  required string b = 2;\n}\n", false),
    ("required field removed", "syntax = \"proto2\";\nmessage M {\n  required string a = 1;\n  optional string b = 2;\n}\n", "syntax = \"proto2\";\nmessage M {\n  optional string b = 2;\n}\n", false),
    ("messages reordered", "syntax = \"proto3\";\nmessage M {\n  string a = 1;\n}\nmessage N {\n  string a = 1;\n}\n", "syntax = \"proto3\";\nmessage N {\n  string a = 1;\n}\nmessage M {\n  string a = 1;\n}\n", true),
];

async fn check_table(kind: &str, cases: &[(&str, &str, &str, bool)]) {
    let proxy = Proxy::start_with_registry(&[("schema.registry.topic", &unique("schemas"))]).await;
    let sr = proxy.registry_url.clone().unwrap();
    wait_for(&format!("{sr}/subjects")).await;
    let mut wrong = Vec::new();
    for (i, (rule, original, update, compatible)) in cases.iter().enumerate() {
        let subject = format!("{}-{i}", kind.to_lowercase());
        let r = sr_post(
            &format!("{sr}/subjects/{subject}/versions"),
            json!({"schemaType": kind, "schema": original}),
        )
        .await;
        assert_eq!(r.status, 200, "{rule}: the original registers: {r:?}");
        let r = sr_post(
            &format!("{sr}/compatibility/subjects/{subject}/versions/latest?verbose=true"),
            json!({"schemaType": kind, "schema": update}),
        )
        .await;
        assert_eq!(r.status, 200, "{rule}: {r:?}");
        let verdict = r.json()["is_compatible"].as_bool().unwrap();
        if verdict != *compatible {
            wrong.push(format!(
                "{rule}: expected {compatible}, got {verdict} {}",
                r.json()["messages"]
            ));
        }
        // The verdict is what registration does.
        let r = sr_post(
            &format!("{sr}/subjects/{subject}/versions"),
            json!({"schemaType": kind, "schema": update}),
        )
        .await;
        let registered = r.status == 200;
        if registered != verdict {
            wrong.push(format!(
                "{rule}: check said {verdict}, registration answered {r:?}"
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {} {kind} verdicts differ:\n{}",
        wrong.len(),
        cases.len(),
        wrong.join("\n")
    );
    proxy.stop().await;
}

#[tokio::test]
async fn json_schema_verdicts_are_confluents() {
    check_table("JSON", JSON_CASES).await;
}

#[tokio::test]
async fn protobuf_verdicts_are_confluents() {
    check_table("PROTOBUF", PROTO_CASES).await;
}
