//! The jsonschema embedded format through the built-in Schema Registry: records validated
//! against their JSON Schema (one invalid record writes nothing), Confluent framing, consume.

mod common;

use std::time::Duration;

use common::*;
use serde_json::{json, Value};

const JSONSCHEMA: &str = "application/vnd.kafka.jsonschema.v2+json";

#[tokio::test]
async fn jsonschema_round_trip_and_validation() {
    let proxy = Proxy::start_with_registry(&[("schema.registry.topic", &unique("schemas"))]).await;
    let topic = unique("js");
    create_topic(&topic, 1).await;
    let url = format!("{}/topics/{topic}", proxy.url);
    let schema = json!({
        "type": "object",
        "properties": {"name": {"type": "string"}, "age": {"type": "integer", "minimum": 0}},
        "required": ["name"],
        "additionalProperties": false
    })
    .to_string();
    // One record breaks the schema: 400, nothing written.
    let bad = json!({"value_schema": schema, "records": [
        {"value": {"name": "ok"}}, {"value": {"name": "x", "age": -1}}
    ]});
    let msg = post(&url, JSONSCHEMA, &bad).await.assert_error(400, 400);
    assert!(msg.contains("record 1"), "{msg}");
    let good = json!({"value_schema": schema, "records": [
        {"value": {"name": "ann", "age": 3}}, {"value": {"name": "bob"}}
    ]});
    let r = post(&url, JSONSCHEMA, &good).await;
    assert_eq!(r.status, 200, "{r:?}");
    let id = r.json()["value_schema_id"].as_i64().unwrap();
    // By id; and an Avro id is refused for this format.
    let again = json!({"value_schema_id": id, "records": [{"value": {"name": "cy"}}]});
    assert_eq!(post(&url, JSONSCHEMA, &again).await.status, 200);
    let stored = read_all(&topic, 1, 3, Duration::from_secs(10));
    assert_eq!(stored.len(), 3, "the invalid request wrote nothing");
    let v = stored[0].value.as_ref().unwrap();
    assert_eq!(v[0], 0);
    assert_eq!(i32::from_be_bytes(v[1..5].try_into().unwrap()) as i64, id);
    let payload: Value = serde_json::from_slice(&v[5..]).unwrap();
    assert_eq!(payload, json!({"name": "ann", "age": 3}));
    // The registry holds it as a JSON schema.
    let sr = proxy.registry_url.clone().unwrap();
    let s = get(&format!("{sr}/schemas/ids/{id}"), "*/*").await.json();
    assert_eq!(s["schemaType"], "JSON");

    let base = create_consumer(
        &proxy,
        &unique("js"),
        json!({"format": "jsonschema", "auto.offset.reset": "earliest"}),
    )
    .await;
    subscribe(&base, &[&topic]).await;
    let got = read_records(&base, JSONSCHEMA, 3, Duration::from_secs(20)).await;
    let values: Vec<Value> = got.iter().map(|r| r["value"].clone()).collect();
    assert_eq!(
        values,
        vec![
            json!({"name": "ann", "age": 3}),
            json!({"name": "bob"}),
            json!({"name": "cy"})
        ]
    );
    proxy.stop().await;
}

/// `$ref`s to documents registered under other subjects (`references`), and Confluent's JSON
/// Schema compatibility rules enforced on registration (BACKWARD by default).
#[tokio::test]
async fn jsonschema_references_and_compatibility() {
    let proxy = Proxy::start_with_registry(&[("schema.registry.topic", &unique("schemas"))]).await;
    let sr = proxy.registry_url.clone().unwrap();
    let topic = unique("jsref");
    create_topic(&topic, 1).await;
    let address = json!({"type": "object", "properties": {"city": {"type": "string"}},
                         "required": ["city"]});
    let r = sr_post(
        &format!("{sr}/subjects/{topic}-address/versions"),
        json!({"schemaType": "JSON", "schema": address.to_string()}),
    )
    .await;
    assert_eq!(r.status, 200, "{r:?}");
    let customer = json!({"type": "object", "properties": {
        "name": {"type": "string"}, "home": {"$ref": "address.json"}}});
    let refs =
        json!([{"name": "address.json", "subject": format!("{topic}-address"), "version": 1}]);
    sr_post(
        &format!("{sr}/subjects/{topic}-value/versions"),
        json!({"schemaType": "JSON", "schema": customer.to_string()}),
    )
    .await
    .assert_error(422, 42201);
    let r = sr_post(
        &format!("{sr}/subjects/{topic}-value/versions"),
        json!({"schemaType": "JSON", "schema": customer.to_string(), "references": refs}),
    )
    .await;
    assert_eq!(r.status, 200, "{r:?}");
    let id = r.json()["id"].clone();
    let url = format!("{}/topics/{topic}", proxy.url);
    let ok = json!({"value_schema_id": id, "records": [{"value": {"name": "a", "home": {"city": "Oslo"}}}]});
    assert_eq!(post(&url, JSONSCHEMA, &ok).await.status, 200);
    // The referenced schema is enforced: `city` is required there.
    let bad = json!({"value_schema_id": id, "records": [{"value": {"name": "b", "home": {}}}]});
    post(&url, JSONSCHEMA, &bad).await.assert_error(400, 400);

    // Compatibility: a closed model may gain an optional property, not a required one, and may
    // not lose one; the verbose check names Confluent's difference.
    let subject = format!("{sr}/subjects/{topic}-evolve/versions");
    let v1 = json!({"type": "object", "properties": {"a": {"type": "string"}},
                    "additionalProperties": false});
    let v2 = json!({"type": "object", "properties": {"a": {"type": "string"}, "b": {"type": "integer"}},
                    "additionalProperties": false});
    let required = json!({"type": "object", "properties": {"a": {"type": "string"}, "b": {"type": "integer"},
                          "c": {"type": "string"}}, "required": ["c"], "additionalProperties": false});
    for (schema, status) in [(&v1, 200), (&v2, 200), (&required, 409)] {
        let r = sr_post(
            &subject,
            json!({"schemaType": "JSON", "schema": schema.to_string()}),
        )
        .await;
        assert_eq!(r.status, status, "{schema}: {r:?}");
    }
    let check = sr_post(
        &format!("{sr}/compatibility/subjects/{topic}-evolve/versions/latest?verbose=true"),
        json!({"schemaType": "JSON", "schema": required.to_string()}),
    )
    .await
    .json();
    assert_eq!(check["is_compatible"], false);
    let why = check["messages"].to_string();
    assert!(
        why.contains("REQUIRED_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL"),
        "{why}"
    );
    proxy.stop().await;
}
