//! The avro embedded format through the built-in Schema Registry, against a real broker: the
//! seed's Avro flow, schema id reuse, Confluent framing, consume, errors that write nothing, and
//! a third-party reader (Python confluent-kafka's AvroDeserializer) decoding what we wrote.

mod common;

use std::time::Duration;

use common::*;
use serde_json::{json, Value};

const AVRO: &str = "application/vnd.kafka.avro.v2+json";

/// The seed's request, byte for byte (a `User` with a nullable `age`).
const SEED_BODY: &str = r#"{
  "value_schema": "{ \"type\": \"record\", \"name\": \"User\", \"fields\": [{ \"name\": \"name\", \"type\": \"string\" }, { \"name\": \"age\", \"type\": [ \"null\", \"int\" ] } ] }",
  "records": [
    { "value": { "name": "testuser", "age": null } },
    { "value": { "name": "testuser", "age": { "int": 25 } }, "partition": 0 }
  ]
}"#;

async fn post_raw(url: &str, body: &str) -> Reply {
    send(
        http()
            .post(url)
            .header("content-type", AVRO)
            .header("accept", V2)
            .body(body.to_string()),
    )
    .await
}

/// Registers a schema for another topic through `proxy`, and checks that producing to `url` with
/// that id is refused (42207: not registered under this topic's subject). Returns the id.
async fn foreign_id_is_refused(proxy: &Proxy, url: &str) -> Value {
    let other = unique("other");
    create_topic(&other, 1).await;
    let r = post(
        &format!("{}/topics/{other}", proxy.url),
        AVRO,
        &json!({"value_schema": "\"string\"", "records": [{"value": "s"}]}),
    )
    .await;
    let other_id = r.json()["value_schema_id"].clone();
    assert!(other_id.is_i64(), "{r:?}");
    post(
        url,
        AVRO,
        &json!({"value_schema_id": other_id, "records": [{"value": "s"}]}),
    )
    .await
    .assert_error(422, 42207);
    other_id
}

async fn start() -> Proxy {
    Proxy::start_with_registry(&[("schema.registry.topic", &unique("schemas"))]).await
}

#[tokio::test]
async fn seed_avro_flow_with_id_reuse_and_consume() {
    let proxy = start().await;
    let topic = unique("rest-avro");
    create_topic(&topic, 1).await;
    let url = format!("{}/topics/{topic}", proxy.url);
    let r = post_raw(&url, SEED_BODY).await;
    assert_eq!(r.status, 200, "{r:?}");
    let body = r.json();
    let id = body["value_schema_id"].as_i64().expect("value_schema_id");
    assert_eq!(body["key_schema_id"], Value::Null);
    assert_eq!(body["offsets"][0]["offset"], 0);
    assert_eq!(body["offsets"][1]["offset"], 1);

    // The schema is registered under <topic>-value.
    let sr = proxy.registry_url.clone().unwrap();
    let latest = get(
        &format!("{sr}/subjects/{topic}-value/versions/latest"),
        "*/*",
    )
    .await;
    assert_eq!(latest.json()["id"], id);

    // Later requests send only the id; an unwrapped union value is accepted (extension).
    let reuse = json!({"value_schema_id": id, "records": [
        {"value": {"name": "again", "age": {"int": 3}}},
        {"value": {"name": "plain", "age": 4}}
    ]});
    let r = post(&url, AVRO, &reuse).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.json()["value_schema_id"], id);

    // Kafka holds Confluent-framed Avro: magic 0, the id, then the binary datum.
    let stored = read_all(&topic, 1, 4, Duration::from_secs(10));
    assert_eq!(stored.len(), 4);
    for rec in &stored {
        let v = rec.value.as_ref().unwrap();
        assert_eq!(v[0], 0);
        assert_eq!(i32::from_be_bytes(v[1..5].try_into().unwrap()) as i64, id);
    }
    // "testuser" with a null age: string length 8 (zigzag 16), the bytes, union branch 0.
    let mut datum = vec![16u8];
    datum.extend_from_slice(b"testuser");
    datum.push(0);
    assert_eq!(&stored[0].value.as_ref().unwrap()[5..], &datum[..]);

    // An avro consumer reads Avro's JSON encoding back.
    let base = create_consumer(
        &proxy,
        &unique("avro-group"),
        json!({"format": "avro", "auto.offset.reset": "earliest"}),
    )
    .await;
    subscribe(&base, &[&topic]).await;
    let got = read_records(&base, AVRO, 4, Duration::from_secs(20)).await;
    let values: Vec<Value> = got.iter().map(|r| r["value"].clone()).collect();
    assert_eq!(
        values,
        vec![
            json!({"name": "testuser", "age": null}),
            json!({"name": "testuser", "age": {"int": 25}}),
            json!({"name": "again", "age": {"int": 3}}),
            json!({"name": "plain", "age": {"int": 4}}),
        ]
    );
    assert_eq!(got[0]["key"], Value::Null);
    proxy.stop().await;
}

#[tokio::test]
async fn seed_key_and_value_schemas() {
    let proxy = start().await;
    let topic = unique("cards");
    create_topic(&topic, 3).await;
    let key_schema = r#"{"type":"record","name":"Key","fields":[{"name":"suit","type":"string"}]}"#;
    let value_schema = r#"{"type":"record","name":"Card","fields":[{"name":"suit","type":"string"},{"name":"denomination","type":"string"}]}"#;
    let body = json!({
        "key_schema": key_schema,
        "value_schema": value_schema,
        "records": [{"key": {"suit": "spades"}, "value": {"suit": "spades", "denomination": "ace"}}]
    });
    let r = post(&format!("{}/topics/{topic}", proxy.url), AVRO, &body).await;
    assert_eq!(r.status, 200, "{r:?}");
    let (k, v) = (
        r.json()["key_schema_id"].clone(),
        r.json()["value_schema_id"].clone(),
    );
    assert!(k.is_i64() && v.is_i64() && k != v, "{r:?}");
    let base = create_consumer(
        &proxy,
        &unique("cards"),
        json!({"format": "avro", "auto.offset.reset": "earliest"}),
    )
    .await;
    subscribe(&base, &[&topic]).await;
    let got = read_records(&base, AVRO, 1, Duration::from_secs(20)).await;
    assert_eq!(got[0]["key"]["suit"], "spades");
    assert_eq!(got[0]["value"]["denomination"], "ace");
    proxy.stop().await;
}

/// Keyed requests by schema id, in the shape the proxy encodes in one pass (ids first, records
/// last): the same bytes, partitions and answer as the same records through the usual path
/// (schemas given as text), and bad keys or ids refused with nothing written.
#[tokio::test]
async fn keyed_requests_by_id_write_what_the_usual_path_writes() {
    let proxy = start().await;
    let topic = unique("avro-keyed");
    create_topic(&topic, 3).await;
    let url = format!("{}/topics/{topic}", proxy.url);
    let value_schema = r#"{"type":"record","name":"Reading","fields":[{"name":"id","type":"long"},{"name":"at","type":["null","string"],"default":null}]}"#;
    let records = json!([
        {"key": "device-1", "value": {"id": 1, "at": null}},
        {"key": "device-2", "value": {"id": 2, "at": {"string": "here"}}},
        {"value": {"id": 3, "at": null}},
        {"key": "device-1", "value": {"id": 4, "at": null}, "partition": 2}
    ]);
    // The usual path: schemas as text, registered on the way.
    let usual = post(
        &url,
        AVRO,
        &json!({"key_schema": "\"string\"", "value_schema": value_schema, "records": records}),
    )
    .await;
    assert_eq!(usual.status, 200, "{usual:?}");
    let (k, v) = (
        usual.json()["key_schema_id"].clone(),
        usual.json()["value_schema_id"].clone(),
    );
    assert!(k.is_i64() && v.is_i64() && k != v, "{usual:?}");
    // The same records by id, the key's id before or after the value's.
    let offsets = |reply: &Reply| -> Vec<(i64, i64)> {
        reply.json()["offsets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| {
                (
                    o["partition"].as_i64().unwrap(),
                    o["offset"].as_i64().unwrap(),
                )
            })
            .collect()
    };
    let usual_offsets = offsets(&usual);
    for body in [
        format!(r#"{{"key_schema_id":{k},"value_schema_id":{v},"records":{records}}}"#),
        format!(r#"{{ "value_schema_id" : {v} , "key_schema_id" : {k} , "records" : {records} }}"#),
    ] {
        let r = post_raw(&url, &body).await;
        assert_eq!(r.status, 200, "{r:?}");
        assert_eq!(
            (
                r.json()["key_schema_id"].clone(),
                r.json()["value_schema_id"].clone()
            ),
            (k.clone(), v.clone()),
            "{r:?}"
        );
        // Keyed records go where the usual path put them (key-less ones wherever).
        for (i, ((p, _), (q, _))) in offsets(&r).iter().zip(&usual_offsets).enumerate() {
            if i != 2 {
                assert_eq!(p, q, "record {i}: {r:?}");
            }
        }
    }
    // A key schema id and no keys: the id is echoed.
    let r = post_raw(
        &url,
        &format!(
            r#"{{"key_schema_id":{k},"value_schema_id":{v},"records":[{{"value":{{"id":5}}}}]}}"#
        ),
    )
    .await;
    assert_eq!(r.json()["key_schema_id"], k, "{r:?}");
    // A key its schema does not take, a key schema id registered under the value's subject, a
    // key without a key schema id: refused, nothing written.
    let bad_key = format!(
        r#"{{"key_schema_id":{k},"value_schema_id":{v},"records":[{{"key":"ok","value":{{"id":6}}}},{{"key":6,"value":{{"id":7}}}}]}}"#
    );
    post_raw(&url, &bad_key).await.assert_error(400, 400);
    let value_id_as_key = format!(
        r#"{{"key_schema_id":{v},"value_schema_id":{v},"records":[{{"key":{{"id":1}},"value":{{"id":8}}}}]}}"#
    );
    post_raw(&url, &value_id_as_key)
        .await
        .assert_error(422, 42207);
    let no_key_schema = format!(
        r#"{{"value_schema_id":{v},"records":[{{"value":{{"id":9}}}},{{"key":"k","value":{{"id":9}}}}]}}"#
    );
    post_raw(&url, &no_key_schema)
        .await
        .assert_error(422, 42201);

    // In Kafka: three copies of the four records and the one without a key, byte for byte.
    let stored = read_all(&topic, 3, 13, Duration::from_secs(10));
    assert_eq!(stored.len(), 13);
    let mut by_value: std::collections::BTreeMap<Vec<u8>, Vec<Option<Vec<u8>>>> =
        Default::default();
    for r in &stored {
        by_value
            .entry(r.value.clone().unwrap())
            .or_default()
            .push(r.key.clone());
    }
    assert_eq!(by_value.len(), 5);
    for keys in by_value.values() {
        assert!(keys.iter().all(|key| *key == keys[0]), "{keys:?}");
    }
    let key = by_value.values().find_map(|keys| keys[0].clone()).unwrap();
    assert_eq!(key[0], 0, "Confluent's magic byte");
    assert_eq!(
        i64::from(u32::from_be_bytes(key[1..5].try_into().unwrap())),
        k.as_i64().unwrap()
    );
    proxy.stop().await;
}

#[tokio::test]
async fn bad_requests_write_nothing() {
    let proxy = start().await;
    let topic = unique("avro-bad");
    create_topic(&topic, 1).await;
    let url = format!("{}/topics/{topic}", proxy.url);
    let schema = r#"{"type":"record","name":"User","fields":[{"name":"name","type":"string"}]}"#;
    // Values without a value schema, keys without a key schema.
    post(&url, AVRO, &json!({"records": [{"value": {"name": "x"}}]}))
        .await
        .assert_error(422, 42202);
    post(
        &url,
        AVRO,
        &json!({"value_schema": schema, "records": [{"key": "k", "value": {"name": "x"}}]}),
    )
    .await
    .assert_error(422, 42201);
    // One bad record among good ones: 400, and nothing is written.
    let msg = post(
        &url,
        AVRO,
        &json!({"value_schema": schema, "records": [
            {"value": {"name": "ok"}}, {"value": {"name": 5}}
        ]}),
    )
    .await
    .assert_error(400, 400);
    assert!(msg.contains("record 1"), "{msg}");
    // A schema that does not parse.
    post(
        &url,
        AVRO,
        &json!({"value_schema": "{\"type\": \"nope\"}", "records": [{"value": 1}]}),
    )
    .await
    .assert_error(400, 400);
    // An id that does not exist, or is not registered under this topic's subject.
    post(
        &url,
        AVRO,
        &json!({"value_schema_id": 987654, "records": [{"value": {"name": "x"}}]}),
    )
    .await
    .assert_error(422, 42207);
    let other_id = foreign_id_is_refused(&proxy, &url).await;
    // Both an id and a schema.
    post(&url, AVRO, &json!({"value_schema_id": other_id, "value_schema": schema, "records": [{"value": {"name": "x"}}]}))
        .await
        .assert_error(400, 400);
    // An incompatible evolution is refused by the registry (BACKWARD): 42207.
    let ok = post(
        &url,
        AVRO,
        &json!({"value_schema": schema, "records": [{"value": {"name": "x"}}]}),
    )
    .await;
    assert_eq!(ok.status, 200, "{ok:?}");
    let incompatible = r#"{"type":"record","name":"User","fields":[{"name":"name","type":"string"},{"name":"email","type":"string"}]}"#;
    let msg = post(
        &url,
        AVRO,
        &json!({"value_schema": incompatible, "records": [{"value": {"name": "x", "email": "e"}}]}),
    )
    .await
    .assert_error(422, 42207);
    assert!(msg.contains("incompatible"), "{msg}");
    // Only the one good request reached Kafka.
    assert_eq!(read_all(&topic, 1, 1, Duration::from_secs(3)).len(), 1);
    proxy.stop().await;
}

/// Python confluent-kafka's AvroDeserializer, fetching the writer schema from the built-in
/// registry over HTTP, decodes the bytes the proxy wrote.
#[tokio::test]
async fn confluent_kafka_avro_deserializer_reads_our_records() {
    let proxy = start().await;
    let topic = unique("avro-py");
    create_topic(&topic, 1).await;
    let r = post_raw(&format!("{}/topics/{topic}", proxy.url), SEED_BODY).await;
    assert_eq!(r.status, 200, "{r:?}");
    let stored = read_all(&topic, 1, 2, Duration::from_secs(10));
    let hex: Vec<String> = stored
        .iter()
        .map(|r| {
            r.value
                .as_ref()
                .unwrap()
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect()
        })
        .collect();
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/seed/avro_deserialize.py"
    );
    let out = tokio::process::Command::new("python3")
        .arg(script)
        .arg(proxy.registry_url.clone().unwrap())
        .arg(&topic)
        .args(&hex)
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let decoded: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        decoded,
        vec![
            json!({"name": "testuser", "age": null}),
            json!({"name": "testuser", "age": 25}),
        ]
    );
    proxy.stop().await;
}

/// A second proxy uses the first one's built-in registry through `schema.registry.url`: the
/// proxy's registry client against the built-in registry's HTTP API.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_against_the_built_in_registry() {
    let owner = start().await;
    let sr = owner.registry_url.clone().unwrap();
    let client = Proxy::start_with(&[("schema.registry.url", &sr)]).await;
    let topic = unique("remote-avro");
    create_topic(&topic, 1).await;
    let url = format!("{}/topics/{topic}", client.url);
    let r = post_raw(&url, SEED_BODY).await;
    assert_eq!(r.status, 200, "{r:?}");
    let id = r.json()["value_schema_id"].as_i64().unwrap();
    let latest = get(
        &format!("{sr}/subjects/{topic}-value/versions/latest"),
        "*/*",
    )
    .await;
    assert_eq!(
        latest.json()["id"],
        id,
        "registered in the owner's registry"
    );
    let reuse = json!({"value_schema_id": id, "records": [{"value": {"name": "z", "age": null}}]});
    assert_eq!(post(&url, AVRO, &reuse).await.status, 200);
    // An id from another subject is refused through the client too.
    foreign_id_is_refused(&client, &url).await;
    // Consume through the client proxy: schemas fetched by id from the owner.
    let base = create_consumer(
        &client,
        &unique("remote"),
        json!({"format": "avro", "auto.offset.reset": "earliest"}),
    )
    .await;
    subscribe(&base, &[&topic]).await;
    let got = read_records(&base, AVRO, 3, Duration::from_secs(20)).await;
    assert_eq!(got[2]["value"], json!({"name": "z", "age": null}));
    client.stop().await;
    owner.stop().await;
}

/// With the external registry down, a produce answers 500/50003 naming it, at once.
#[tokio::test]
async fn registry_down_is_a_clear_500() {
    let proxy = Proxy::start_with(&[("schema.registry.url", "http://127.0.0.1:9")]).await;
    let topic = unique("down");
    create_topic(&topic, 1).await;
    let started = std::time::Instant::now();
    let msg = post_raw(&format!("{}/topics/{topic}", proxy.url), SEED_BODY)
        .await
        .assert_error(500, 50003);
    assert!(msg.contains("127.0.0.1:9"), "{msg}");
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(read_all(&topic, 1, 0, Duration::from_secs(2)).is_empty());
    proxy.stop().await;
}

/// Basic auth: the client sends `schema.registry.basic.auth.user.info`; a registry that
/// refuses it gets its 401 passed on.
#[tokio::test]
async fn basic_auth_reaches_the_registry() {
    use axum::http::{HeaderMap, StatusCode};
    use axum::routing::post as post_route;
    let app = axum::Router::new().route(
        "/subjects/{subject}/versions",
        post_route(|headers: HeaderMap| async move {
            // "user:secret" in base64.
            if headers.get("authorization").and_then(|v| v.to_str().ok())
                == Some("Basic dXNlcjpzZWNyZXQ=")
            {
                (StatusCode::OK, r#"{"id":4242}"#)
            } else {
                (
                    StatusCode::UNAUTHORIZED,
                    r#"{"error_code":40101,"message":"Unauthorized"}"#,
                )
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let topic = unique("auth");
    create_topic(&topic, 1).await;
    let body = json!({"value_schema": "\"string\"", "records": [{"value": "v"}]});
    for (info, status) in [("user:secret", 200), ("user:wrong", 401)] {
        let proxy = Proxy::start_with(&[
            ("schema.registry.url", &url),
            ("schema.registry.basic.auth.user.info", info),
        ])
        .await;
        let r = post(&format!("{}/topics/{topic}", proxy.url), AVRO, &body).await;
        assert_eq!(r.status, status, "{info}: {r:?}");
        if status == 200 {
            assert_eq!(r.json()["value_schema_id"], 4242);
        } else {
            assert_eq!(r.json()["error_code"], 40101, "{r:?}");
        }
        proxy.stop().await;
    }
}

/// A record an avro consumer cannot decode (no Confluent framing; an unknown schema id) answers
/// 408/40801 naming its offset, after the records before it; seeking past it continues.
#[tokio::test]
async fn undecodable_records_are_40801_with_their_offset() {
    let proxy = start().await;
    let topic = unique("avro-undecodable");
    create_topic(&topic, 1).await;
    let url = format!("{}/topics/{topic}", proxy.url);
    assert_eq!(post_raw(&url, SEED_BODY).await.status, 200);
    // Offset 2: plain bytes; offset 3: framing with an id no registry has.
    let garbage = json!({"records": [{"value": "bm90IGF2cm8="}, {"value": "AAAPQkAA"}]});
    assert_eq!(
        post(&url, BINARY, &garbage).await.status,
        200,
        "binary records into the same topic"
    );
    let base = create_consumer(&proxy, &unique("g"), json!({"format": "avro"})).await;
    let tp = json!({"partitions": [{"topic": topic, "partition": 0}]});
    post(&format!("{base}/assignments"), V2, &tp).await;
    post(&format!("{base}/positions/beginning"), V2, &tp).await;
    let first = read_records(&base, AVRO, 2, Duration::from_secs(10)).await;
    assert_eq!(first.len(), 2);
    let msg = get(&format!("{base}/records"), AVRO)
        .await
        .assert_error(408, 40801);
    assert!(msg.contains("offset 2"), "{msg}");
    let seek = json!({"offsets": [{"topic": topic, "partition": 0, "offset": 3}]});
    assert_eq!(
        post(&format!("{base}/positions"), V2, &seek).await.status,
        204
    );
    let msg = get(&format!("{base}/records"), AVRO)
        .await
        .assert_error(408, 40801);
    assert!(msg.contains("offset 3") && msg.contains("1000000"), "{msg}");
    proxy.stop().await;
}

/// A record type defined in another subject, used through `references`: registered, produced by
/// id and consumed, both through the built-in registry and by a second proxy using it as a client
/// (which fetches the referenced subject version).
#[tokio::test]
async fn referenced_named_types() {
    let proxy = start().await;
    let sr = proxy.registry_url.clone().unwrap();
    let topic = unique("avref");
    create_topic(&topic, 1).await;
    let address = r#"{"type":"record","name":"Address","namespace":"demo","fields":[{"name":"city","type":"string"}]}"#;
    let customer = r#"{"type":"record","name":"Customer","namespace":"demo","fields":[{"name":"name","type":"string"},{"name":"home","type":"demo.Address"}]}"#;
    let r = sr_post(
        &format!("{sr}/subjects/{topic}-address/versions"),
        json!({ "schema": address }),
    )
    .await;
    assert_eq!(r.status, 200, "{r:?}");
    // The named type is unknown without its reference.
    sr_post(
        &format!("{sr}/subjects/{topic}-value/versions"),
        json!({ "schema": customer }),
    )
    .await
    .assert_error(422, 42201);
    let refs =
        json!([{"name": "demo.Address", "subject": format!("{topic}-address"), "version": 1}]);
    let r = sr_post(
        &format!("{sr}/subjects/{topic}-value/versions"),
        json!({ "schema": customer, "references": refs }),
    )
    .await;
    assert_eq!(r.status, 200, "{r:?}");
    let id = r.json()["id"].clone();
    let url = format!("{}/topics/{topic}", proxy.url);
    let value = json!({"name": "ann", "home": {"city": "Oslo"}});
    let r = post(
        &url,
        AVRO,
        &json!({"value_schema_id": id, "records": [{"value": value}]}),
    )
    .await;
    assert_eq!(r.status, 200, "{r:?}");
    post(
        &url,
        AVRO,
        &json!({"value_schema_id": id, "records": [{"value": {"name": "bob", "home": {}}}]}),
    )
    .await
    .assert_error(400, 400);

    let client = Proxy::start_with(&[("schema.registry.url", &sr)]).await;
    for p in [&proxy, &client] {
        let base = create_consumer(
            p,
            &unique("avref"),
            json!({"format": "avro", "auto.offset.reset": "earliest"}),
        )
        .await;
        subscribe(&base, &[&topic]).await;
        let got = read_records(&base, AVRO, 1, Duration::from_secs(20)).await;
        assert_eq!(got[0]["value"], value);
    }
    client.stop().await;
    proxy.stop().await;
}
