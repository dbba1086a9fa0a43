//! The built-in registry against Confluent Schema Registry's behaviour (issue 15), over real HTTP
//! with the registry's state in a real broker: error codes, media types, schema identity and
//! text, defaults, drafts, Protobuf imports and text, and the endpoints clients call (modes,
//! `GET /schemas`, `normalize`, contexts). Each test names the Confluent source that decided it.

mod common;

use common::*;
use serde_json::{json, Value};

async fn registry() -> (Proxy, String) {
    let proxy = Proxy::start_with_registry(&[("schema.registry.topic", &unique("schemas"))]).await;
    let url = proxy.registry_url.clone().unwrap();
    wait_for(&format!("{url}/subjects")).await;
    (proxy, url)
}

async fn register(sr: &str, subject: &str, body: Value) -> i64 {
    let r = sr_post(&format!("{sr}/subjects/{subject}/versions"), body).await;
    assert_eq!(r.status, 200, "{r:?}");
    r.json()["id"].as_i64().unwrap()
}

const STRING_RECORD: &str =
    r#"{"type":"record","name":"R","fields":[{"name":"f","type":"string"}]}"#;

/// Errors.java / RestApiTest: 40406 for a second soft delete, 40402 for a missing version in a
/// compatibility check whatever the subject, `latest` of a missing subject is compatible
/// (testCompatibilityNonExistentSubject), a non-numeric id is Jersey's plain 404, an unknown id
/// is "Schema N not found".
#[tokio::test]
async fn error_codes_match_confluent() {
    let (proxy, sr) = registry().await;
    sr_put(&format!("{sr}/config"), json!({"compatibility": "NONE"})).await;
    register(&sr, "e-value", json!({"schema": STRING_RECORD})).await;
    register(
        &sr,
        "e-value",
        json!({"schema": "\"string\"", "schemaType": "AVRO"}),
    )
    .await;
    let r = sr_delete(&format!("{sr}/subjects/e-value/versions/1")).await;
    assert_eq!(r.json(), json!(1), "{r:?}");
    let msg = sr_delete(&format!("{sr}/subjects/e-value/versions/1"))
        .await
        .assert_error(404, 40406);
    assert_eq!(
        msg,
        "Subject 'e-value' Version 1 was soft deleted.Set permanent=true to delete permanently"
    );
    // Permanent delete of a live version: 40407; of a missing one: 40402.
    sr_delete(&format!("{sr}/subjects/e-value/versions/2?permanent=true"))
        .await
        .assert_error(404, 40407);
    sr_delete(&format!("{sr}/subjects/e-value/versions/9"))
        .await
        .assert_error(404, 40402);

    let check = |subject: &str, version: &str| {
        format!("{sr}/compatibility/subjects/{subject}/versions/{version}")
    };
    sr_post(&check("no-such-subject", "3"), json!({"schema": "\"int\""}))
        .await
        .assert_error(404, 40402);
    sr_post(&check("e-value", "7"), json!({"schema": "\"int\""}))
        .await
        .assert_error(404, 40402);
    let r = sr_post(
        &check("no-such-subject", "latest"),
        json!({"schema": "\"int\""}),
    )
    .await;
    assert_eq!(r.json(), json!({"is_compatible": true}), "{r:?}");
    sr_post(&check("e-value", "earliest"), json!({"schema": "\"int\""}))
        .await
        .assert_error(422, 42202);

    let msg = sr_get(&format!("{sr}/schemas/ids/invalid"))
        .await
        .assert_error(404, 404);
    assert_eq!(msg, "HTTP 404 Not Found");
    let msg = sr_get(&format!("{sr}/schemas/ids/9999"))
        .await
        .assert_error(404, 40403);
    assert_eq!(msg, "Schema 9999 not found");
    sr_get(&format!("{sr}/schemas/ids/9999/versions"))
        .await
        .assert_error(404, 40403);
    // DELETE /config/{s} without a subject level: 40401 (ConfigResource.deleteSubjectConfig).
    sr_delete(&format!("{sr}/config/e-value"))
        .await
        .assert_error(404, 40401);
    proxy.stop().await;
}

/// Versions.java: resources produce v1+json (qs 1), vnd.schemaregistry+json (0.9) and
/// application/json (0.5); an `Accept: application/json` client gets application/json.
#[tokio::test]
async fn answers_in_the_media_type_accept_prefers() {
    let (proxy, sr) = registry().await;
    for (accept, expected) in [
        (Some("application/json"), "application/json"),
        (
            Some("application/vnd.schemaregistry+json"),
            "application/vnd.schemaregistry+json",
        ),
        (Some("*/*"), SR),
        (None, SR),
    ] {
        let mut req = http().get(format!("{sr}/subjects"));
        if let Some(a) = accept {
            req = req.header("accept", a);
        }
        let r = send(req).await;
        assert_eq!(
            r.content_type.as_deref(),
            Some(expected),
            "{accept:?}: {r:?}"
        );
        // Errors too.
        let mut req = http().get(format!("{sr}/subjects/none/versions"));
        if let Some(a) = accept {
            req = req.header("accept", a);
        }
        let r = send(req).await;
        assert_eq!(r.status, 404);
        assert_eq!(
            r.content_type.as_deref(),
            Some(expected),
            "{accept:?}: {r:?}"
        );
    }
    proxy.stop().await;
}

/// AvroSchema.canonicalString() is Avro Java's Schema.toString(): compact, fixed key order,
/// doc and custom properties kept; AvroSchemaTest.testMetaInequalities: schemas differing only
/// in doc or properties are different schemas.
#[tokio::test]
async fn avro_text_and_identity_are_confluents() {
    let (proxy, sr) = registry().await;
    let posted = r#"{
        "fields": [ { "type": "string", "name": "f" } ],
        "name": "R", "namespace": "com.example", "type": "record"
    }"#;
    let id = register(&sr, "a-value", json!({"schema": posted})).await;
    let r = sr_get(&format!("{sr}/schemas/ids/{id}")).await;
    assert_eq!(
        r.json()["schema"],
        r#"{"type":"record","name":"R","namespace":"com.example","fields":[{"name":"f","type":"string"}]}"#
    );
    let raw = sr_get(&format!("{sr}/subjects/a-value/versions/1/schema")).await;
    assert_eq!(
        raw.text,
        r#"{"type":"record","name":"R","namespace":"com.example","fields":[{"name":"f","type":"string"}]}"#
    );

    let with_doc = r#"{"type":"record","name":"R","namespace":"com.example","doc":"a record","fields":[{"name":"f","type":"string"}]}"#;
    let with_prop = r#"{"type":"record","name":"R","namespace":"com.example","fields":[{"name":"f","type":"string","owner":"team-a"}]}"#;
    let doc_id = register(&sr, "a-value", json!({"schema": with_doc})).await;
    let prop_id = register(&sr, "a-value", json!({"schema": with_prop})).await;
    assert!(
        doc_id != id && prop_id != id && doc_id != prop_id,
        "{id} {doc_id} {prop_id}"
    );
    assert_eq!(
        sr_get(&format!("{sr}/subjects/a-value/versions"))
            .await
            .json(),
        json!([1, 2, 3])
    );
    assert_eq!(
        sr_get(&format!("{sr}/schemas/ids/{doc_id}")).await.json()["schema"],
        with_doc
    );
    assert_eq!(
        sr_get(&format!("{sr}/schemas/ids/{prop_id}")).await.json()["schema"],
        with_prop
    );
    // Lookup finds each by its own text.
    let r = sr_post(
        &format!("{sr}/subjects/a-value"),
        json!({"schema": with_prop}),
    )
    .await;
    assert_eq!(r.json()["version"], 3, "{r:?}");
    proxy.stop().await;
}

/// Avro 1.12 (Confluent 8.2+): a union default may match any branch, so `"null"` (a string) is
/// a valid default of `["null","string"]`; one that matches no branch stays invalid for a
/// new registration (validateNewSchemas, RestApiTest.testRegisterSchemaWithInvalidDefault).
#[tokio::test]
async fn union_defaults_as_confluent_takes_them() {
    let (proxy, sr) = registry().await;
    let schema = r#"{"type":"record","name":"R","fields":[{"name":"f","type":["null","string"],"default":"null"}]}"#;
    let id = register(&sr, "u-value", json!({"schema": schema})).await;
    assert_eq!(
        sr_get(&format!("{sr}/schemas/ids/{id}")).await.json()["schema"],
        schema
    );
    let bad = r#"{"type":"record","name":"R2","fields":[{"name":"f","type":["null","int"],"default":"x"}]}"#;
    sr_post(
        &format!("{sr}/subjects/u2-value/versions"),
        json!({"schema": bad}),
    )
    .await
    .assert_error(422, 42201);
    proxy.stop().await;
}

/// JsonSchema.rawSchema(): draft-07 without `$schema`; SpecificationVersion: the drafts named
/// by `$schema`. canonicalString(): compact JSON in the document's key order.
#[tokio::test]
async fn json_schema_drafts_and_text() {
    let (proxy, sr) = registry().await;
    let tuple = r#"{"type": "array", "items": [{"type": "string"}, {"type": "integer"}]}"#;
    let id = register(
        &sr,
        "j-value",
        json!({"schemaType": "JSON", "schema": tuple}),
    )
    .await;
    assert_eq!(
        sr_get(&format!("{sr}/schemas/ids/{id}")).await.json()["schema"],
        r#"{"type":"array","items":[{"type":"string"},{"type":"integer"}]}"#
    );
    // Draft-04's boolean exclusiveMaximum: valid under the draft `$schema` names, not draft-07.
    let draft4 = r#"{"$schema":"http://json-schema.org/draft-04/schema#","type":"number","maximum":5,"exclusiveMaximum":true}"#;
    register(
        &sr,
        "j4-value",
        json!({"schemaType": "JSON", "schema": draft4}),
    )
    .await;
    let no_draft = r#"{"type":"number","maximum":5,"exclusiveMaximum":true}"#;
    sr_post(
        &format!("{sr}/subjects/j7-value/versions"),
        json!({"schemaType": "JSON", "schema": no_draft}),
    )
    .await
    .assert_error(422, 42201);
    let draft2020 = r#"{"$schema":"https://json-schema.org/draft/2020-12/schema","type":"array","prefixItems":[{"type":"string"}],"items":false}"#;
    register(
        &sr,
        "j2020-value",
        json!({"schemaType": "JSON", "schema": draft2020}),
    )
    .await;
    proxy.stop().await;
}

/// ProtobufSchema KNOWN_DEPENDENCIES: confluent/meta.proto, google/type/*, the well-known
/// types need no reference, and `(confluent.field_meta)` options resolve through them.
#[tokio::test]
async fn protobuf_builtin_imports_and_custom_options() {
    let (proxy, sr) = registry().await;
    let schema = r#"syntax = "proto3";
package shop;
import "confluent/meta.proto";
import "google/type/money.proto";
import "google/type/date.proto";
import "google/protobuf/timestamp.proto";
message Order {
  option (confluent.message_meta) = { doc: "an order" };
  string id = 1 [(confluent.field_meta) = { doc: "order id", params: [{key: "k", value: "v"}] }];
  google.type.Money total = 2;
  google.type.Date day = 3;
  google.protobuf.Timestamp at = 4;
}
"#;
    let id = register(
        &sr,
        "p-value",
        json!({"schemaType": "PROTOBUF", "schema": schema}),
    )
    .await;
    let got = sr_get(&format!("{sr}/schemas/ids/{id}")).await.json();
    assert_eq!(got["schemaType"], "PROTOBUF");
    assert!(got["references"].is_null(), "no references needed: {got}");
    // `/schema` returns the .proto text itself, not a JSON string.
    let raw = sr_get(&format!("{sr}/subjects/p-value/versions/1/schema")).await;
    assert!(raw.text.starts_with("syntax = \"proto3\";"), "{raw:?}");
    // An option of an unknown extension is still refused.
    let bad = schema.replace("confluent.message_meta", "confluent.no_such_option");
    sr_post(
        &format!("{sr}/subjects/p2-value/versions"),
        json!({"schemaType": "PROTOBUF", "schema": bad}),
    )
    .await
    .assert_error(422, 42201);
    proxy.stop().await;
}

/// Reference resolution (protobuf diff/Context): a nested message of a referenced schema is
/// found by its full name; `references: null` is an empty list (the Schema entity).
#[tokio::test]
async fn protobuf_nested_references_and_null_references() {
    let (proxy, sr) = registry().await;
    let other = "syntax = \"proto3\";\npackage other.pkg;\nmessage Outer {\n  message Inner {\n    int32 x = 1;\n  }\n  Inner inner = 1;\n}\n";
    register(
        &sr,
        "other",
        json!({"schemaType": "PROTOBUF", "schema": other, "references": null}),
    )
    .await;
    let user = "syntax = \"proto3\";\npackage app;\nimport \"other.proto\";\nmessage A {\n  other.pkg.Outer.Inner f = 1;\n  .other.pkg.Outer g = 2;\n}\n";
    let refs = json!([{"name": "other.proto", "subject": "other", "version": 1}]);
    let topic = unique("nested");
    create_topic(&topic, 1).await;
    let id = register(
        &sr,
        &format!("{topic}-value"),
        json!({"schemaType": "PROTOBUF", "schema": user, "references": refs}),
    )
    .await;
    assert_eq!(
        sr_get(&format!("{sr}/schemas/ids/{id}")).await.json()["references"],
        refs
    );
    // The proxy produces with it: the nested type's field is written.
    let r = post(
        &format!("{}/topics/{topic}", proxy.url),
        "application/vnd.kafka.protobuf.v2+json",
        &json!({"value_schema_id": id, "records": [{"value": {"f": {"x": 7}, "g": {"inner": {"x": 8}}}}]}),
    )
    .await;
    assert_eq!(r.status, 200, "{r:?}");
    proxy.stop().await;
}

/// ProtobufSchema.toProtoFile: a base64 FileDescriptorProto is shown as `.proto` text.
#[tokio::test]
async fn protobuf_descriptor_is_shown_as_proto_text() {
    use base64::Engine;
    use prost::Message;
    let (proxy, sr) = registry().await;
    let descriptor = prost_types::FileDescriptorProto {
        name: Some("d.proto".into()),
        package: Some("d".into()),
        syntax: Some("proto3".into()),
        message_type: vec![prost_types::DescriptorProto {
            name: Some("M".into()),
            field: vec![prost_types::FieldDescriptorProto {
                name: Some("n".into()),
                number: Some(1),
                r#type: Some(prost_types::field_descriptor_proto::Type::Int64 as i32),
                label: Some(prost_types::field_descriptor_proto::Label::Optional as i32),
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    };
    let encoded = base64::engine::general_purpose::STANDARD.encode(descriptor.encode_to_vec());
    let id = register(
        &sr,
        "d-value",
        json!({"schemaType": "PROTOBUF", "schema": encoded}),
    )
    .await;
    let text = sr_get(&format!("{sr}/schemas/ids/{id}")).await.json()["schema"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        text,
        "syntax = \"proto3\";\npackage d;\n\nmessage M {\n  int64 n = 1;\n}\n"
    );
    // The text and the descriptor are one schema.
    let again = register(
        &sr,
        "d-value",
        json!({"schemaType": "PROTOBUF", "schema": text}),
    )
    .await;
    assert_eq!(again, id);
    proxy.stop().await;
}

/// normalize=true (AbstractSchemaRegistry.maybeValidateAndNormalizeSchema; RestApiTest
/// testSchemaNormalization): the normalized form is registered and found.
#[tokio::test]
async fn normalize_on_register_and_lookup() {
    let (proxy, sr) = registry().await;
    // Avro: custom properties in another order are the same schema once normalized.
    let a = r#"{"type":"record","name":"N","fields":[{"name":"f","type":"int"}],"extraMetadata":{"a":1,"b":2}}"#;
    let b = r#"{"type":"record","name":"N","fields":[{"name":"f","type":{"type":"int"}}],"extraMetadata":{"b":2,"a":1}}"#;
    let r = sr_post(
        &format!("{sr}/subjects/n-value/versions?normalize=true"),
        json!({"schema": a}),
    )
    .await;
    let id = r.json()["id"].as_i64().unwrap();
    let r = sr_post(
        &format!("{sr}/subjects/n-value?normalize=true"),
        json!({"schema": b}),
    )
    .await;
    assert_eq!(r.json()["id"], id, "{r:?}");
    // Without normalize, Avro lookup still finds it (Confluent's fallback to equivalence).
    let r = sr_post(&format!("{sr}/subjects/n-value"), json!({"schema": b})).await;
    assert_eq!(r.json()["version"], 1, "{r:?}");

    // JSON Schema: keys sorted; a lookup without normalize of the other order is not found.
    let j1 = r#"{"type":"object","properties":{"b":{"type":"string"},"a":{"type":"integer"}}}"#;
    let j2 = r#"{"properties":{"a":{"type":"integer"},"b":{"type":"string"}},"type":"object"}"#;
    let id =
        register_normalized(&sr, "nj-value", json!({"schemaType": "JSON", "schema": j1})).await;
    assert_eq!(
        sr_get(&format!("{sr}/schemas/ids/{id}")).await.json()["schema"],
        r#"{"properties":{"a":{"type":"integer"},"b":{"type":"string"}},"type":"object"}"#
    );
    let r = sr_post(
        &format!("{sr}/subjects/nj-value?normalize=true"),
        json!({"schemaType": "JSON", "schema": j2}),
    )
    .await;
    assert_eq!(r.json()["id"], id, "{r:?}");
    sr_post(
        &format!("{sr}/subjects/nj-value"),
        json!({"schemaType": "JSON", "schema": j1}),
    )
    .await
    .assert_error(404, 40403);

    // Protobuf: fields by number, types fully qualified.
    let p = "syntax = \"proto3\";\npackage n;\nmessage M {\n  string b = 2;\n  Sub a = 1;\n  message Sub {\n    int32 x = 1;\n  }\n}\n";
    let id = register_normalized(
        &sr,
        "np-value",
        json!({"schemaType": "PROTOBUF", "schema": p}),
    )
    .await;
    assert_eq!(
        sr_get(&format!("{sr}/schemas/ids/{id}")).await.json()["schema"],
        "syntax = \"proto3\";\npackage n;\n\nmessage M {\n  .n.M.Sub a = 1;\n  string b = 2;\n\n  message Sub {\n    int32 x = 1;\n  }\n}\n"
    );
    proxy.stop().await;
}

async fn register_normalized(sr: &str, subject: &str, body: Value) -> i64 {
    let r = sr_post(
        &format!("{sr}/subjects/{subject}/versions?normalize=true"),
        body,
    )
    .await;
    assert_eq!(r.status, 200, "{r:?}");
    r.json()["id"].as_i64().unwrap()
}

/// SchemasResource.getSchemas, getSubjects/getVersions by id, ContextsResource, SubjectsResource
/// (subjectPrefix, deletedOnly), ConfigResource (DELETE /config, optional fields).
#[tokio::test]
async fn listing_endpoints() {
    let (proxy, sr) = registry().await;
    sr_put(&format!("{sr}/config"), json!({"compatibility": "NONE"})).await;
    register(&sr, "l-a", json!({"schema": "\"string\""})).await;
    register(
        &sr,
        "l-a",
        json!({"schema": "\"string\"", "schemaType": "AVRO", "references": []}),
    )
    .await;
    let id2 = register(&sr, "l-a", json!({"schema": STRING_RECORD})).await;
    register(&sr, "l-b", json!({"schema": STRING_RECORD})).await;
    register(&sr, "m-c", json!({"schema": "\"int\""})).await;
    sr_delete(&format!("{sr}/subjects/m-c")).await;

    let all = sr_get(&format!("{sr}/schemas")).await.json();
    let pairs: Vec<(String, i64)> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["subject"].as_str().unwrap().to_string(),
                v["version"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        pairs,
        [("l-a".into(), 1), ("l-a".into(), 2), ("l-b".into(), 1)]
    );
    assert_eq!(all[1]["schema"], STRING_RECORD);
    assert_eq!(all[1]["id"], id2);
    let latest = sr_get(&format!("{sr}/schemas?subjectPrefix=l-&latestOnly=true"))
        .await
        .json();
    assert_eq!(latest.as_array().unwrap().len(), 2);
    assert_eq!(latest[0]["version"], 2);
    let deleted = sr_get(&format!("{sr}/schemas?subjectPrefix=m-&deleted=true"))
        .await
        .json();
    assert_eq!(deleted[0]["subject"], "m-c");
    let paged = sr_get(&format!("{sr}/schemas?offset=1&limit=1"))
        .await
        .json();
    assert_eq!(paged.as_array().unwrap().len(), 1);
    assert_eq!(paged[0]["version"], 2);

    let subjects = sr_get(&format!("{sr}/schemas/ids/{id2}/subjects"))
        .await
        .json();
    assert_eq!(subjects, json!(["l-a", "l-b"]));
    let versions = sr_get(&format!("{sr}/schemas/ids/{id2}/versions"))
        .await
        .json();
    assert_eq!(
        versions,
        json!([{"subject": "l-a", "version": 2}, {"subject": "l-b", "version": 1}])
    );
    assert_eq!(
        sr_get(&format!("{sr}/subjects?subjectPrefix=l-"))
            .await
            .json(),
        json!(["l-a", "l-b"])
    );
    assert_eq!(
        sr_get(&format!("{sr}/subjects?deletedOnly=true"))
            .await
            .json(),
        json!(["m-c"])
    );
    assert_eq!(sr_get(&format!("{sr}/contexts")).await.json(), json!(["."]));

    // Config: a body without `compatibility` keeps the level; DELETE /config restores BACKWARD.
    let r = sr_put(&format!("{sr}/config"), json!({"compatibility": "FULL"})).await;
    assert_eq!(r.json(), json!({"compatibility": "FULL"}));
    let r = sr_put(&format!("{sr}/config"), json!({"normalize": true})).await;
    assert_eq!(r.json(), json!({"compatibility": "FULL"}), "{r:?}");
    let r = sr_delete(&format!("{sr}/config")).await;
    assert_eq!(r.json(), json!({"compatibilityLevel": "FULL"}));
    assert_eq!(
        sr_get(&format!("{sr}/config")).await.json(),
        json!({"compatibilityLevel": "BACKWARD"})
    );
    sr_put(
        &format!("{sr}/config"),
        json!({"compatibility": "SIDEWAYS"}),
    )
    .await
    .assert_error(422, 42203);
    proxy.stop().await;
}

/// ModeResource / RestApiModeTest: READONLY refuses new schemas, deletes and configuration
/// (42205) but answers a schema already there; IMPORT takes ids and versions and refuses a
/// registry with live subjects unless forced; a global READONLY_OVERRIDE wins over subjects.
#[tokio::test]
async fn modes_are_enforced() {
    let (proxy, sr) = registry().await;
    assert_eq!(
        sr_get(&format!("{sr}/mode")).await.json(),
        json!({"mode": "READWRITE"})
    );
    let id = register(&sr, "m-value", json!({"schema": "\"string\""})).await;

    let r = sr_put(&format!("{sr}/mode/m-value"), json!({"mode": "readonly"})).await;
    assert_eq!(r.json(), json!({"mode": "readonly"}), "echoes the body");
    assert_eq!(
        sr_get(&format!("{sr}/mode/m-value")).await.json(),
        json!({"mode": "READONLY"})
    );
    // The schema already there is still answered (serializers that auto-register keep working).
    assert_eq!(
        register(&sr, "m-value", json!({"schema": "\"string\""})).await,
        id
    );
    let msg = sr_post(
        &format!("{sr}/subjects/m-value/versions"),
        json!({"schema": STRING_RECORD}),
    )
    .await
    .assert_error(422, 42205);
    assert_eq!(msg, "Subject m-value is in read-only mode");
    sr_delete(&format!("{sr}/subjects/m-value"))
        .await
        .assert_error(422, 42205);
    sr_delete(&format!("{sr}/subjects/m-value/versions/1"))
        .await
        .assert_error(422, 42205);
    sr_put(
        &format!("{sr}/config/m-value"),
        json!({"compatibility": "NONE"}),
    )
    .await
    .assert_error(422, 42205);
    // Reads, lookups and compatibility checks still work; other subjects are writable.
    assert_eq!(
        sr_get(&format!("{sr}/subjects/m-value/versions"))
            .await
            .json(),
        json!([1])
    );
    register(&sr, "other-value", json!({"schema": "\"int\""})).await;
    let r = sr_delete(&format!("{sr}/mode/m-value")).await;
    assert_eq!(r.json(), json!({"mode": "READONLY"}));
    sr_get(&format!("{sr}/mode/m-value"))
        .await
        .assert_error(404, 40409);
    assert_eq!(
        sr_get(&format!("{sr}/mode/m-value?defaultToGlobal=true"))
            .await
            .json(),
        json!({"mode": "READWRITE"})
    );
    sr_delete(&format!("{sr}/mode/m-value"))
        .await
        .assert_error(404, 40401);
    sr_put(&format!("{sr}/mode"), json!({"mode": "SOMETIMES"}))
        .await
        .assert_error(422, 42204);

    // Global READONLY_OVERRIDE wins over a subject's READWRITE.
    sr_put(&format!("{sr}/mode/m-value"), json!({"mode": "READWRITE"})).await;
    sr_put(&format!("{sr}/mode"), json!({"mode": "READONLY_OVERRIDE"})).await;
    sr_post(
        &format!("{sr}/subjects/m-value/versions"),
        json!({"schema": STRING_RECORD}),
    )
    .await
    .assert_error(422, 42205);
    sr_put(&format!("{sr}/mode"), json!({"mode": "READWRITE"})).await;

    // An id outside IMPORT mode: 42205 "not in import mode".
    let msg = sr_post(
        &format!("{sr}/subjects/i-value/versions"),
        json!({"schema": "\"long\"", "id": 100, "version": 1}),
    )
    .await
    .assert_error(422, 42205);
    assert_eq!(msg, "Subject i-value is not in import mode");
    // IMPORT on a registry with live subjects: refused unless forced.
    let msg = sr_put(&format!("{sr}/mode"), json!({"mode": "IMPORT"}))
        .await
        .assert_error(422, 42205);
    assert_eq!(msg, "Cannot import since found existing subjects");
    let r = sr_put(&format!("{sr}/mode?force=true"), json!({"mode": "IMPORT"})).await;
    assert_eq!(r.status, 200, "{r:?}");
    let r = sr_post(
        &format!("{sr}/subjects/i-value/versions"),
        json!({"schema": "\"long\"", "id": 100, "version": 5}),
    )
    .await;
    assert_eq!(r.json(), json!({"id": 100}), "{r:?}");
    let v = sr_get(&format!("{sr}/subjects/i-value/versions/5"))
        .await
        .json();
    assert_eq!(
        (v["id"].as_i64(), v["version"].as_i64()),
        (Some(100), Some(5))
    );
    // No compatibility check in IMPORT; an id bound to another schema is refused.
    let r = sr_post(
        &format!("{sr}/subjects/i-value/versions"),
        json!({"schema": STRING_RECORD, "id": 101, "version": 6}),
    )
    .await;
    assert_eq!(r.json(), json!({"id": 101}), "{r:?}");
    let msg = sr_post(
        &format!("{sr}/subjects/i-value/versions"),
        json!({"schema": "\"bytes\"", "id": 100}),
    )
    .await
    .assert_error(422, 42205);
    assert_eq!(msg, "Overwrite new schema with id 100 is not permitted.");
    // A new schema without an id in IMPORT: "not in read-write mode".
    sr_post(
        &format!("{sr}/subjects/i-value/versions"),
        json!({"schema": "\"float\""}),
    )
    .await
    .assert_error(422, 42205);
    sr_put(&format!("{sr}/mode"), json!({"mode": "READWRITE"})).await;
    // Ids continue after the imported ones.
    let next = register(&sr, "after-value", json!({"schema": "\"double\""})).await;
    assert!(next > 101, "{next}");
    proxy.stop().await;
}

/// RestReferenceExistsException: 42206 naming the referenced schema's key.
#[tokio::test]
async fn references_exist_message() {
    let (proxy, sr) = registry().await;
    let base = r#"{"type":"record","name":"Base","fields":[{"name":"x","type":"int"}]}"#;
    register(&sr, "base", json!({"schema": base})).await;
    let user = r#"{"type":"record","name":"User","fields":[{"name":"b","type":"Base"}]}"#;
    register(
        &sr,
        "user-value",
        json!({"schema": user, "references": [{"name": "Base", "subject": "base", "version": 1}]}),
    )
    .await;
    let msg = sr_delete(&format!("{sr}/subjects/base/versions/1"))
        .await
        .assert_error(422, 42206);
    assert_eq!(
        msg,
        "One or more references exist to the schema {magic=1,keytype=SCHEMA,subject=base,version=1}."
    );
    // Once the referrer is soft deleted, a soft delete goes through; a permanent one does not.
    sr_delete(&format!("{sr}/subjects/user-value")).await;
    let r = sr_delete(&format!("{sr}/subjects/base/versions/1")).await;
    assert_eq!(r.json(), json!(1), "{r:?}");
    sr_delete(&format!("{sr}/subjects/base/versions/1?permanent=true"))
        .await
        .assert_error(422, 42206);
    proxy.stop().await;
}
