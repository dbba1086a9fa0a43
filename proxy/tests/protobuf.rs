//! The protobuf embedded format through the built-in Schema Registry: `.proto` schemas by text
//! and by id, Confluent framing with message indexes, proto3 JSON on consume, one bad record
//! writing nothing, imports resolved through references, and Confluent's compatibility rules.

mod common;

use std::time::Duration;

use common::*;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::ClientConfig;
use serde_json::{json, Value};

const PROTOBUF: &str = "application/vnd.kafka.protobuf.v2+json";

const READING: &str = r#"
syntax = "proto3";
package iot;

message Reading {
  string device_id = 1;
  double celsius = 2;
  int64 at_ms = 3;
  repeated string tags = 4;
  Status status = 5;
  message Location { string site = 1; int32 floor = 2; }
  Location location = 6;
}

enum Status { UNKNOWN = 0; OK = 1; FAULT = 2; }

message Alarm { string device_id = 1; bool raised = 2; }
"#;

/// Writes one framed record natively (the message indexes chosen by the test).
fn write_raw(topic: &str, value: Vec<u8>) {
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", &broker().bootstrap)
        .create()
        .unwrap();
    producer
        .send(BaseRecord::<(), _>::to(topic).payload(&value))
        .unwrap();
    producer.flush(Duration::from_secs(10)).unwrap();
}

#[tokio::test]
async fn protobuf_round_trip_indexes_and_errors() {
    let proxy = Proxy::start_with_registry(&[("schema.registry.topic", &unique("schemas"))]).await;
    let topic = unique("pb");
    create_topic(&topic, 1).await;
    let url = format!("{}/topics/{topic}", proxy.url);

    // A schema that does not compile: 400, Confluent's message.
    let broken = json!({"value_schema": "message X { strin a = 1; }", "records": [{"value": {}}]});
    let msg = post(&url, PROTOBUF, &broken).await.assert_error(400, 400);
    assert!(
        msg.contains("Error parsing schema with format = PROTOBUF"),
        "{msg}"
    );
    // One record with an unknown field, one with a wrong type: 400 naming it, nothing written.
    for bad in [json!({"no_such": 1}), json!({"celsius": "warm"})] {
        let body = json!({"value_schema": READING, "records": [
            {"value": {"device_id": "ok"}}, {"value": bad}
        ]});
        let msg = post(&url, PROTOBUF, &body).await.assert_error(400, 400);
        assert!(msg.contains("record 1"), "{msg}");
    }

    // A .proto without a message type gives nothing to write: 42205 (invalid schema), as does an
    // id of another schema type.
    let enum_only = json!({"value_schema": "syntax = \"proto3\"; enum E { A = 0; }",
                           "records": [{"value": {}}]});
    // (Each case on a topic of its own, so the subjects these register under stay apart.)
    let enum_url = format!("{}/topics/{}", proxy.url, unique("pb-enum"));
    post(&enum_url, PROTOBUF, &enum_only)
        .await
        .assert_error(422, 42205);
    let other = unique("pb-avro");
    create_topic(&other, 1).await;
    let other_url = format!("{}/topics/{other}", proxy.url);
    let avro = post(
        &other_url,
        "application/vnd.kafka.avro.v2+json",
        &json!({"value_schema": "\"string\"", "records": [{"value": "s"}]}),
    )
    .await;
    let avro_id = avro.json()["value_schema_id"].clone();
    assert!(avro_id.is_i64(), "{avro:?}");
    let wrong = json!({"value_schema_id": avro_id, "records": [{"value": {}}]});
    let msg = post(&other_url, PROTOBUF, &wrong)
        .await
        .assert_error(422, 42205);
    assert!(msg.contains("AVRO"), "{msg}");

    // Keys with their own schema; values by text, then by id (as Confluent's clients reuse ids).
    let key_schema = r#"syntax = "proto3"; message DeviceKey { string id = 1; }"#;
    let first = json!({"key_schema": key_schema, "value_schema": READING, "records": [
        {"key": {"id": "d1"}, "value": {"device_id": "d1", "celsius": 21.5, "at_ms": "1700000000000",
            "tags": ["roof"], "status": "OK", "location": {"site": "north", "floor": 3}}},
        {"key": {"id": "d2"}, "value": {"deviceId": "d2", "status": 2}}
    ]});
    let r = post(&url, PROTOBUF, &first).await;
    assert_eq!(r.status, 200, "{r:?}");
    let key_id = r.json()["key_schema_id"].as_i64().unwrap();
    let value_id = r.json()["value_schema_id"].as_i64().unwrap();
    assert_ne!(key_id, value_id);
    let again = json!({"value_schema_id": value_id, "records": [{"value": {"device_id": "d3"}}]});
    let r = post(&url, PROTOBUF, &again).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.json()["value_schema_id"].as_i64(), Some(value_id));

    // Confluent framing: magic, id, message index [0] as one zero byte, then the message.
    let stored = read_all(&topic, 1, 3, Duration::from_secs(10));
    assert_eq!(stored.len(), 3, "the invalid requests wrote nothing");
    let v = stored[0].value.as_ref().unwrap();
    assert_eq!(v[0], 0);
    assert_eq!(
        i64::from(i32::from_be_bytes(v[1..5].try_into().unwrap())),
        value_id
    );
    assert_eq!(v[5], 0, "message index [0]");
    assert_eq!(&v[6..10], b"\x0a\x02d1", "field 1 (device_id) first");
    let k = stored[0].key.as_ref().unwrap();
    assert_eq!(
        i64::from(i32::from_be_bytes(k[1..5].try_into().unwrap())),
        key_id
    );

    // Records of other message types in the schema, written by another producer: Alarm is
    // index [1] (count 1, index 1: zig-zag 0x02 0x02); Reading.Location is [0, 0].
    let mut alarm = vec![0];
    alarm.extend_from_slice(&(value_id as i32).to_be_bytes());
    alarm.extend_from_slice(&[0x02, 0x02, 0x0a, 0x02, b'd', b'9', 0x10, 0x01]);
    write_raw(&topic, alarm);
    let mut location = vec![0];
    location.extend_from_slice(&(value_id as i32).to_be_bytes());
    location.extend_from_slice(&[0x04, 0x00, 0x00, 0x0a, 0x01, b's', 0x10, 0x07]);
    write_raw(&topic, location);

    let base = create_consumer(
        &proxy,
        &unique("pb"),
        json!({"format": "protobuf", "auto.offset.reset": "earliest"}),
    )
    .await;
    subscribe(&base, &[&topic]).await;
    let got = read_records(&base, PROTOBUF, 5, Duration::from_secs(20)).await;
    let values: Vec<Value> = got.iter().map(|r| r["value"].clone()).collect();
    // proto3 JSON: lowerCamel names, defaults included (unset message fields left out, as
    // Java's printer does), 64-bit integers as strings, enum names.
    assert_eq!(
        values,
        vec![
            json!({"deviceId": "d1", "celsius": 21.5, "atMs": "1700000000000", "tags": ["roof"],
                   "status": "OK", "location": {"site": "north", "floor": 3}}),
            json!({"deviceId": "d2", "celsius": 0.0, "atMs": "0", "tags": [], "status": "FAULT"}),
            json!({"deviceId": "d3", "celsius": 0.0, "atMs": "0", "tags": [], "status": "UNKNOWN"}),
            json!({"deviceId": "d9", "raised": true}),
            json!({"site": "s", "floor": 7}),
        ]
    );
    assert_eq!(got[0]["key"], json!({"id": "d1"}));
    assert_eq!(got[2]["key"], Value::Null);
    proxy.stop().await;
}

#[tokio::test]
async fn protobuf_imports_by_reference_and_compatibility() {
    let proxy = Proxy::start_with_registry(&[("schema.registry.topic", &unique("schemas"))]).await;
    let sr = proxy.registry_url.clone().unwrap();
    let topic = unique("pbref");
    create_topic(&topic, 1).await;

    let common = r#"syntax = "proto3"; package shared; message Money { string currency = 1; int64 units = 2; }"#;
    let r = sr_post(
        &format!("{sr}/subjects/shared-money/versions"),
        json!({"schemaType": "PROTOBUF", "schema": common}),
    )
    .await;
    assert_eq!(r.status, 200, "{r:?}");
    let order = r#"syntax = "proto3"; import "shared/money.proto";
        message Order { string id = 1; shared.Money total = 2; }"#;
    // Without the reference the import cannot be resolved: 422/42201.
    sr_post(
        &format!("{sr}/subjects/{topic}-value/versions"),
        json!({"schemaType": "PROTOBUF", "schema": order}),
    )
    .await
    .assert_error(422, 42201);
    let refs = json!([{"name": "shared/money.proto", "subject": "shared-money", "version": 1}]);
    let r = sr_post(
        &format!("{sr}/subjects/{topic}-value/versions"),
        json!({"schemaType": "PROTOBUF", "schema": order, "references": refs}),
    )
    .await;
    assert_eq!(r.status, 200, "{r:?}");
    let id = r.json()["id"].as_i64().unwrap();
    let v = sr_get(&format!("{sr}/subjects/{topic}-value/versions/1"))
        .await
        .json();
    assert_eq!(v["references"], refs);
    assert_eq!(
        sr_get(&format!(
            "{sr}/subjects/shared-money/versions/1/referencedby"
        ))
        .await
        .json(),
        json!([id])
    );
    // A referenced version cannot be deleted (42206).
    sr_delete(&format!("{sr}/subjects/shared-money/versions/1"))
        .await
        .assert_error(422, 42206);

    // Produce and consume by id, the imported type included.
    let url = format!("{}/topics/{topic}", proxy.url);
    let body = json!({"value_schema_id": id, "records": [
        {"value": {"id": "o1", "total": {"currency": "EUR", "units": "12"}}}
    ]});
    let r = post(&url, PROTOBUF, &body).await;
    assert_eq!(r.status, 200, "{r:?}");
    let base = create_consumer(
        &proxy,
        &unique("pbref"),
        json!({"format": "protobuf", "auto.offset.reset": "earliest"}),
    )
    .await;
    subscribe(&base, &[&topic]).await;
    let got = read_records(&base, PROTOBUF, 1, Duration::from_secs(20)).await;
    assert_eq!(
        got[0]["value"],
        json!({"id": "o1", "total": {"currency": "EUR", "units": "12"}})
    );

    // Compatibility (BACKWARD by default) with Confluent's Protobuf rules: adding a field and
    // widening int32-family types pass; changing a field's type group does not.
    let subject = format!("{sr}/subjects/{}-evolve/versions", topic);
    let v1 = r#"syntax = "proto3"; message M { string a = 1; int32 n = 2; }"#;
    let v2 = r#"syntax = "proto3"; message M { string a = 1; int64 n = 2; bool extra = 3; }"#;
    let bad = r#"syntax = "proto3"; message M { string a = 1; string n = 2; }"#;
    for (schema, status) in [(v1, 200), (v2, 200), (bad, 409)] {
        let r = sr_post(
            &subject,
            json!({"schemaType": "PROTOBUF", "schema": schema}),
        )
        .await;
        assert_eq!(r.status, status, "{schema}: {r:?}");
        if status == 409 {
            assert_eq!(r.json()["error_code"], 409);
            let m = r.json()["message"].as_str().unwrap().to_string();
            assert!(m.contains("FIELD_SCALAR_KIND_CHANGED"), "{m}");
        }
    }
    let check = sr_post(
        &format!("{sr}/compatibility/subjects/{topic}-evolve/versions/latest?verbose=true"),
        json!({"schemaType": "PROTOBUF", "schema": bad}),
    )
    .await
    .json();
    assert_eq!(check["is_compatible"], false);
    proxy.stop().await;
}
