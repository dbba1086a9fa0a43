//! Conveniences every Confluent client takes for granted (issue 15, REST), against a real broker
//! over real HTTP: a trailing slash on any path, and integer fields sent as strings.

mod common;

use std::time::Duration;

use common::*;
use serde_json::json;

const AVRO: &str = "application/vnd.kafka.avro.v2+json";

/// Confluent's REST Proxy (Jersey) routes `/topics/` as `/topics`, and so on for every path,
/// consumer paths included.
#[tokio::test]
async fn a_trailing_slash_reaches_the_same_resource() {
    let proxy = Proxy::start().await;
    let topic = unique("slash");
    create_topic(&topic, 1).await;

    let r = get(&format!("{}/topics/", proxy.url), V2).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert!(
        r.json().as_array().unwrap().contains(&json!(topic)),
        "{r:?}"
    );
    let r = get(&format!("{}/topics/{topic}/", proxy.url), V2).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.json()["name"], json!(topic));

    let r = post(
        &format!("{}/topics/{topic}/", proxy.url),
        JSON,
        &json!({"records": [{"value": {"n": 1}}, {"value": {"n": 2}}]}),
    )
    .await;
    assert_eq!(r.status, 200, "{r:?}");

    let group = unique("slash-group");
    let r = post(
        &format!("{}/consumers/{group}/", proxy.url),
        V2,
        &json!({"name": "c1", "format": "json", "auto.offset.reset": "earliest"}),
    )
    .await;
    assert_eq!(r.status, 200, "{r:?}");
    let base = r.json()["base_uri"].as_str().unwrap().to_string();
    let r = post(
        &format!("{base}/subscription/"),
        V2,
        &json!({"topics": [topic]}),
    )
    .await;
    assert_eq!(r.status, 204, "{r:?}");
    let r = get(&format!("{base}/subscription/"), V2).await;
    assert_eq!(r.json()["topics"], json!([topic]), "{r:?}");
    let mut values = Vec::new();
    for _ in 0..30 {
        let r = get(
            &format!("{base}/records/?timeout=1000"),
            "application/vnd.kafka.json.v2+json",
        )
        .await;
        assert_eq!(r.status, 200, "{r:?}");
        values.extend(
            r.json()
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["value"].clone()),
        );
        if values.len() >= 2 {
            break;
        }
    }
    assert_eq!(values, vec![json!({"n": 1}), json!({"n": 2})]);
    let r = post(&format!("{base}/offsets/"), V2, &json!({})).await;
    assert_eq!(r.status, 200, "{r:?}");
    let r = send(http().delete(format!("{base}/")).header("content-type", V2)).await;
    assert_eq!(r.status, 204, "{r:?}");
    // The instance is gone: the same path, with or without the slash, is now 404/40403.
    get(&format!("{base}/subscription"), V2)
        .await
        .assert_error(404, 40403);

    // A path that does not exist stays a JSON 404, slash or not; `/` itself is untouched.
    get(&format!("{}/nothing/here/", proxy.url), V2)
        .await
        .assert_error(404, 404);
    proxy.stop().await;
}

/// The built-in registry's paths take a trailing slash too.
#[tokio::test]
async fn the_registry_takes_a_trailing_slash() {
    let proxy = Proxy::start_with_registry(&[("schema.registry.topic", &unique("schemas"))]).await;
    let sr = proxy.registry_url.clone().unwrap();
    wait_for(&format!("{sr}/subjects")).await;
    let r = sr_post(
        &format!("{sr}/subjects/slash-value/versions/"),
        json!({"schema": "\"string\""}),
    )
    .await;
    assert_eq!(r.status, 200, "{r:?}");
    let r = sr_get(&format!("{sr}/subjects/")).await;
    assert_eq!(r.json(), json!(["slash-value"]), "{r:?}");
    proxy.stop().await;
}

/// Jackson coerces a string holding an integer; so do we, for the schema ids, partitions and
/// offsets clients send. Anything else is still refused and writes nothing.
#[tokio::test]
async fn integer_fields_sent_as_strings() {
    let proxy = Proxy::start_with_registry(&[("schema.registry.topic", &unique("schemas"))]).await;
    let topic = unique("int-strings");
    create_topic(&topic, 2).await;
    let url = format!("{}/topics/{topic}", proxy.url);

    // Register through a first request, then send the ids as strings.
    let r = post(
        &url,
        AVRO,
        &json!({"key_schema": "\"string\"", "value_schema": "\"long\"",
                "records": [{"key": "k0", "value": 0, "partition": 1}]}),
    )
    .await;
    assert_eq!(r.status, 200, "{r:?}");
    let key_id = r.json()["key_schema_id"].as_i64().unwrap();
    let value_id = r.json()["value_schema_id"].as_i64().unwrap();
    let r = post(
        &url,
        AVRO,
        &json!({"key_schema_id": key_id.to_string(), "value_schema_id": value_id.to_string(),
                "records": [{"key": "k1", "value": 1, "partition": "1"}]}),
    )
    .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.json()["value_schema_id"], json!(value_id));
    assert_eq!(r.json()["key_schema_id"], json!(key_id));
    assert_eq!(r.json()["offsets"][0]["partition"], 1, "{r:?}");
    assert_eq!(r.json()["offsets"][0]["offset"], 1, "{r:?}");

    // A fraction, a padded string, a word: 400/422, and nothing is written.
    for bad in [
        json!({"value_schema_id": "5.0", "records": [{"value": 2}]}),
        json!({"value_schema_id": value_id, "records": [{"value": 2, "partition": " 1"}]}),
        json!({"value_schema_id": value_id, "records": [{"value": 2}, {"value": 3, "partition": "one"}]}),
        json!({"value_schema_id": value_id, "records": [{"value": 2, "partition": 1.5}]}),
    ] {
        let r = post(&url, AVRO, &bad).await;
        assert!(r.status == 400 || r.status == 422, "{bad} -> {r:?}");
        assert!(r.json()["error_code"].is_u64(), "{r:?}");
    }
    let stored = read_all(&topic, 2, 2, Duration::from_secs(10));
    assert_eq!(stored.len(), 2, "the refused requests wrote nothing");

    // Consumer bodies: assignment, seek and commit with string partitions and offsets.
    let group = unique("int-strings-group");
    let base = create_consumer(&proxy, &group, json!({"format": "binary"})).await;
    let r = post(
        &format!("{base}/assignments"),
        V2,
        &json!({"partitions": [{"topic": topic, "partition": "1"}]}),
    )
    .await;
    assert_eq!(r.status, 204, "{r:?}");
    let r = post(
        &format!("{base}/positions"),
        V2,
        &json!({"offsets": [{"topic": topic, "partition": "1", "offset": "1"}]}),
    )
    .await;
    assert_eq!(r.status, 204, "{r:?}");
    let records = read_records(&base, BINARY, 1, Duration::from_secs(20)).await;
    assert_eq!(
        offsets_of(&records),
        vec![1],
        "the seek to offset \"1\" took effect"
    );
    let r = post(
        &format!("{base}/offsets"),
        V2,
        &json!({"offsets": [{"topic": topic, "partition": "1", "offset": "2"}]}),
    )
    .await;
    assert_eq!(r.status, 200, "{r:?}");
    let r = send(
        http()
            .get(format!("{base}/offsets"))
            .header("content-type", V2)
            .header("accept", V2)
            .body(json!({"partitions": [{"topic": topic, "partition": "1"}]}).to_string()),
    )
    .await;
    assert_eq!(r.status, 200, "{r:?}");
    // The body names the last record consumed; Kafka holds the next offset to read.
    assert_eq!(r.json()["offsets"][0]["offset"], 3, "{r:?}");
    let r = post(
        &format!("{base}/positions"),
        V2,
        &json!({"offsets": [{"topic": topic, "partition": 1, "offset": "2.5"}]}),
    )
    .await;
    assert!(r.status == 400 || r.status == 422, "{r:?}");
    proxy.stop().await;
}
