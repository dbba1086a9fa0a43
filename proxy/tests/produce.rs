//! POST /topics/{t} and /topics/{t}/partitions/{p} against a real broker.

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use common::*;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::ClientConfig;
use serde_json::json;

#[tokio::test]
async fn binary_seed_records_get_offsets_in_request_order() {
    let proxy = Proxy::start().await;
    let topic = unique("rest-binary");
    create_topic(&topic, 1).await;
    let body = json!({"records": [
        {"key": "a2V5", "value": "aGVsbG8gd29ybGQhISE="},
        {"value": "XCJyYW5kb206JSQh", "partition": 0},
        {"value": "bm8gcGFydGl0aW9ucw=="}
    ]});
    let r = post(&format!("{}/topics/{topic}", proxy.url), BINARY, &body).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.content_type.as_deref(), Some(V2));
    assert_eq!(
        r.json(),
        json!({"offsets": [
            {"partition": 0, "offset": 0, "error_code": null, "error": null},
            {"partition": 0, "offset": 1, "error_code": null, "error": null},
            {"partition": 0, "offset": 2, "error_code": null, "error": null}
        ], "key_schema_id": null, "value_schema_id": null})
    );
    let got = read_all(&topic, 1, 3, Duration::from_secs(10));
    let values: Vec<_> = got
        .iter()
        .map(|r| (r.key.clone(), r.value.clone()))
        .collect();
    assert_eq!(
        values,
        vec![
            (Some(b"key".to_vec()), Some(b"hello world!!!".to_vec())),
            (None, Some(b"\\\"random:%$!".to_vec())),
            (None, Some(b"no partitions".to_vec())),
        ]
    );
    proxy.stop().await;
}

#[tokio::test]
async fn json_values_are_the_exact_request_bytes() {
    let proxy = Proxy::start().await;
    let topic = unique("rest-json");
    create_topic(&topic, 1).await;
    // Hand-written body: spacing and number formatting must survive byte for byte.
    let body = r#"{"records":[{"key":"somekey","value":{"foo": "bar"}},{"value":[ "foo", "bar" ],"partition":0},{"value":53.5},{"value":1.0e3},{"key":null,"value":null}]}"#;
    let r = send(
        http()
            .post(format!("{}/topics/{topic}", proxy.url))
            .header("content-type", JSON)
            .body(body),
    )
    .await;
    assert_eq!(r.status, 200, "{r:?}");
    let got = read_all(&topic, 1, 5, Duration::from_secs(10));
    let values: Vec<_> = got
        .iter()
        .map(|r| (r.key.clone(), r.value.clone()))
        .collect();
    assert_eq!(
        values,
        vec![
            (
                Some(b"\"somekey\"".to_vec()),
                Some(br#"{"foo": "bar"}"#.to_vec())
            ),
            (None, Some(br#"[ "foo", "bar" ]"#.to_vec())),
            (None, Some(b"53.5".to_vec())),
            (None, Some(b"1.0e3".to_vec())),
            (None, None),
        ]
    );
    proxy.stop().await;
}

#[tokio::test]
async fn keyed_records_land_where_the_java_partitioner_puts_them() {
    for engine in ["batch", "librdkafka"] {
        keyed_records_case(engine).await;
    }
}

async fn keyed_records_case(engine: &str) {
    let proxy = Proxy::start_with(&[("produce.engine", engine)]).await;
    let topic = unique("keyed");
    create_topic(&topic, 6).await;
    // librdkafka's `murmur2` partitioner is documented as Java-compatible: use it as the reference.
    let native: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", &broker().bootstrap)
        .set("partitioner", "murmur2")
        .create()
        .unwrap();
    let keys: Vec<String> = (0..40).map(|i| format!("device-{i}")).collect();
    for k in &keys {
        native
            .send(BaseRecord::to(&topic).key(k.as_bytes()).payload("native"))
            .unwrap();
    }
    native.flush(Duration::from_secs(10)).unwrap();
    let records: Vec<_> = keys
        .iter()
        .map(|k| json!({"key": base64(k.as_bytes()), "value": base64(b"rest")}))
        .collect();
    let r = post(
        &format!("{}/topics/{topic}", proxy.url),
        BINARY,
        &json!({"records": records}),
    )
    .await;
    assert_eq!(r.status, 200, "{r:?}");
    let all = read_all(&topic, 6, 80, Duration::from_secs(10));
    assert_eq!(all.len(), 80);
    let mut by_source: HashMap<(Vec<u8>, Vec<u8>), i32> = HashMap::new();
    for rec in &all {
        by_source.insert(
            (rec.key.clone().unwrap(), rec.value.clone().unwrap()),
            rec.partition,
        );
    }
    let used: std::collections::HashSet<i32> = by_source.values().copied().collect();
    assert!(
        used.len() > 3,
        "keys should spread over partitions: {used:?}"
    );
    for k in &keys {
        let native_p = by_source[&(k.as_bytes().to_vec(), b"native".to_vec())];
        let rest_p = by_source[&(k.as_bytes().to_vec(), b"rest".to_vec())];
        assert_eq!(native_p, rest_p, "key {k}");
    }
    proxy.stop().await;
}

#[tokio::test]
async fn produce_to_partition_and_record_partition_override() {
    let proxy = Proxy::start().await;
    let topic = unique("to-partition");
    create_topic(&topic, 3).await;
    let body = json!({"records": [{"value": "YQ=="}, {"value": "Yg==", "partition": 0}]});
    let r = post(
        &format!("{}/topics/{topic}/partitions/2", proxy.url),
        BINARY,
        &body,
    )
    .await;
    assert_eq!(r.status, 200, "{r:?}");
    let offsets = r.json()["offsets"].clone();
    assert_eq!(offsets[0]["partition"], 2);
    assert_eq!(offsets[1]["partition"], 0);
    let got = read_all(&topic, 3, 2, Duration::from_secs(10));
    let mut placed: Vec<_> = got
        .iter()
        .map(|r| (r.partition, r.value.clone().unwrap()))
        .collect();
    placed.sort();
    assert_eq!(placed, vec![(0, b"b".to_vec()), (2, b"a".to_vec())]);
    proxy.stop().await;
}

#[tokio::test]
async fn missing_topic_answers_404_within_about_a_second() {
    let proxy = Proxy::start().await;
    let start = Instant::now();
    let r = post(
        &format!("{}/topics/{}", proxy.url, unique("absent")),
        BINARY,
        &json!({"records": [{"value": "YQ=="}]}),
    )
    .await;
    r.assert_error(404, 40401);
    assert!(
        start.elapsed() < Duration::from_millis(2500),
        "took {:?}",
        start.elapsed()
    );
    let r = post(
        &format!("{}/topics/bad%20name", proxy.url),
        JSON,
        &json!({"records": [{"value": 1}]}),
    )
    .await;
    r.assert_error(404, 40401);
    proxy.stop().await;
}

#[tokio::test]
async fn bad_requests_get_confluent_errors_and_produce_nothing() {
    let proxy = Proxy::start_with(&[("request.body.max.bytes", "4096")]).await;
    let topic = unique("bad-input");
    create_topic(&topic, 2).await;
    let url = format!("{}/topics/{topic}", proxy.url);

    // One invalid base64 value among valid ones: 400 and nothing written.
    let body = json!({"records": [{"value": "YQ=="}, {"value": "not base64!"}, {"value": "Yg=="}]});
    let msg = post(&url, BINARY, &body).await.assert_error(400, 400);
    assert!(
        msg.contains("not base64!") && msg.contains("base64"),
        "{msg}"
    );
    // A non-string binary value is invalid too.
    post(&url, BINARY, &json!({"records": [{"value": 5}]}))
        .await
        .assert_error(400, 400);
    // Malformed JSON.
    let r = send(
        http()
            .post(&url)
            .header("content-type", JSON)
            .body("{\"records\": ["),
    )
    .await;
    r.assert_error(400, 400);
    assert_eq!(r.content_type.as_deref(), Some(V2));
    // Empty records, empty body, unknown fields.
    post(&url, JSON, &json!({"records": []}))
        .await
        .assert_error(422, 422);
    post(&url, JSON, &json!({})).await.assert_error(422, 422);
    send(http().post(&url).header("content-type", JSON))
        .await
        .assert_error(422, 422);
    let msg = post(&url, JSON, &json!({"records": [{"value": 1}], "bogus": 1}))
        .await
        .assert_error(422, 422);
    assert_eq!(msg, "Unrecognized field: bogus");
    let msg = post(
        &url,
        JSON,
        &json!({"records": [{"value": 1, "headers": []}]}),
    )
    .await
    .assert_error(422, 422);
    assert_eq!(msg, "Unrecognized field: headers");
    // Wrong content types.
    for ct in [
        "application/json",
        V2,
        "application/octet-stream",
        "text/plain",
    ] {
        post(&url, ct, &json!({"records": [{"value": 1}]}))
            .await
            .assert_error(415, 415);
    }
    // Body over the limit.
    let big = "x".repeat(5000);
    post(&url, JSON, &json!({"records": [{"value": big}]}))
        .await
        .assert_error(413, 413);
    // Partition out of range (path and record).
    post(
        &format!("{url}/partitions/7"),
        JSON,
        &json!({"records": [{"value": 1}]}),
    )
    .await
    .assert_error(404, 40402);
    post(
        &url,
        JSON,
        &json!({"records": [{"value": 1}, {"value": 2, "partition": 9}]}),
    )
    .await
    .assert_error(404, 40402);
    // Non-integer partition segment.
    post(
        &format!("{url}/partitions/x"),
        JSON,
        &json!({"records": [{"value": 1}]}),
    )
    .await
    .assert_error(404, 404);

    // Nothing of the above reached Kafka; a valid request afterwards starts at offset 0.
    let r = post(
        &format!("{url}/partitions/0"),
        JSON,
        &json!({"records": [{"value": "ok"}]}),
    )
    .await;
    assert_eq!(r.json()["offsets"][0]["offset"], 0, "{r:?}");
    let got = read_all(&topic, 2, 1, Duration::from_secs(5));
    assert_eq!(got.len(), 1, "{got:?}");
    proxy.stop().await;
}

#[tokio::test]
async fn record_above_message_max_bytes_fails_the_whole_request() {
    let proxy = Proxy::start_with(&[("producer.message.max.bytes", "2000")]).await;
    let topic = unique("too-large");
    create_topic(&topic, 1).await;
    let body = json!({"records": [{"value": "small"}, {"value": "y".repeat(3000)}]});
    let msg = post(&format!("{}/topics/{topic}", proxy.url), JSON, &body)
        .await
        .assert_error(413, 413);
    assert!(msg.contains("record 1"), "{msg}");
    assert!(read_all(&topic, 1, 0, Duration::from_secs(2)).is_empty());
    proxy.stop().await;
}

/// A request larger than `message.max.bytes` goes out as several batches per partition, in
/// request order, with contiguous offsets.
#[tokio::test]
async fn large_request_is_split_into_ordered_batches() {
    let proxy = Proxy::start_with(&[("producer.message.max.bytes", "2000")]).await;
    let topic = unique("split");
    create_topic(&topic, 2).await;
    let records: Vec<_> = (0..120)
        .map(|i| json!({"value": format!("{i:0>100}"), "partition": i % 2}))
        .collect();
    let r = post(
        &format!("{}/topics/{topic}", proxy.url),
        JSON,
        &json!({"records": records}),
    )
    .await;
    assert_eq!(r.status, 200, "{r:?}");
    let offsets = r.json()["offsets"].as_array().unwrap().clone();
    for (i, o) in offsets.iter().enumerate() {
        assert_eq!(o["partition"], i % 2, "{o}");
        assert_eq!(o["offset"], i / 2, "{o}");
    }
    let got = read_all(&topic, 2, 120, Duration::from_secs(10));
    assert_eq!(got.len(), 120);
    for rec in &got {
        let v: String = serde_json::from_slice(rec.value.as_ref().unwrap()).unwrap();
        let i: i64 = v.parse().unwrap();
        assert_eq!((i % 2) as i32, rec.partition);
        assert_eq!(i / 2, rec.offset, "record {i} at offset {}", rec.offset);
    }
    proxy.stop().await;
}

/// With the broker gone, a produce answers per-record errors within the delivery timeout, and
/// nothing is reported written.
#[tokio::test]
async fn broker_gone_fails_records_within_the_delivery_timeout() {
    let broker = local_broker::LocalBroker::start().unwrap();
    let topic = unique("gone");
    create_topic_on(broker.bootstrap(), &topic, 1).await;
    for engine in ["batch", "librdkafka"] {
        let proxy = Proxy::start_on(
            broker.bootstrap(),
            &[
                ("produce.engine", engine),
                ("producer.message.timeout.ms", "3000"),
            ],
        )
        .await;
        let url = format!("{}/topics/{topic}", proxy.url);
        let ok = post(&url, JSON, &json!({"records": [{"value": 1}]})).await;
        assert_eq!(ok.status, 200, "{engine}: {ok:?}");
        proxy.stop().await;
    }
    // Routes and connections are cached now; the broker goes away under them.
    let proxies = [
        Proxy::start_on(
            broker.bootstrap(),
            &[
                ("produce.engine", "batch"),
                ("producer.message.timeout.ms", "3000"),
            ],
        )
        .await,
        Proxy::start_on(
            broker.bootstrap(),
            &[
                ("produce.engine", "librdkafka"),
                ("producer.message.timeout.ms", "3000"),
            ],
        )
        .await,
    ];
    for p in &proxies {
        let url = format!("{}/topics/{topic}", p.url);
        assert_eq!(
            post(&url, JSON, &json!({"records": [{"value": 2}]}))
                .await
                .status,
            200
        );
    }
    drop(broker);
    for p in proxies {
        let url = format!("{}/topics/{topic}", p.url);
        let started = Instant::now();
        let r = post(
            &url,
            JSON,
            &json!({"records": [{"value": 3}, {"value": 4}]}),
        )
        .await;
        assert!(started.elapsed() < Duration::from_secs(15), "{r:?}");
        let body = r.json();
        for o in body["offsets"].as_array().unwrap() {
            assert_eq!(o["offset"], serde_json::Value::Null, "{body}");
            assert!(
                [50002, 50003].contains(&o["error_code"].as_u64().unwrap()),
                "{body}"
            );
        }
        p.stop().await;
    }
}

/// 32 clients produce concurrently: every acknowledged record is in Kafka exactly once, and each
/// request's records keep their order within their partition.
/// Run with each produce engine.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_clients_every_ack_is_in_kafka_exactly_once_in_order_batch_engine() {
    concurrent_clients_case("batch", "2").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_clients_every_ack_is_in_kafka_exactly_once_in_order_librdkafka_engine() {
    concurrent_clients_case("librdkafka", "2").await;
}

/// One connection per broker: every request is pipelined on it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_clients_on_one_pipelined_connection() {
    concurrent_clients_case("batch", "1").await;
}

async fn concurrent_clients_case(engine: &str, connections: &str) {
    const CLIENTS: usize = 32;
    const REQUESTS: usize = 10;
    const PER_REQUEST: usize = 25;
    let proxy = Proxy::start_with(&[
        ("produce.engine", engine),
        ("produce.connections.per.broker", connections),
    ])
    .await;
    let topic = unique("concurrent");
    create_topic(&topic, 4).await;
    let url = format!("{}/topics/{topic}", proxy.url);
    let mut tasks = Vec::new();
    for c in 0..CLIENTS {
        let url = url.clone();
        tasks.push(tokio::spawn(async move {
            let client = http();
            let mut acked = Vec::new();
            for r in 0..REQUESTS {
                let records: Vec<_> = (0..PER_REQUEST)
                    .map(|i| {
                        // Half the clients use keys (spread over partitions), half do not.
                        let value = json!({"c": c, "r": r, "i": i});
                        if c % 2 == 0 {
                            json!({"key": format!("k{c}-{i}"), "value": value})
                        } else {
                            json!({"value": value})
                        }
                    })
                    .collect();
                let resp = client
                    .post(&url)
                    .header("content-type", JSON)
                    .body(json!({"records": records}).to_string())
                    .send()
                    .await
                    .unwrap();
                assert_eq!(resp.status(), 200);
                let body: serde_json::Value = resp.json().await.unwrap();
                for (i, o) in body["offsets"].as_array().unwrap().iter().enumerate() {
                    assert!(o["error_code"].is_null(), "{o}");
                    acked.push((
                        c,
                        r,
                        i,
                        o["partition"].as_i64().unwrap() as i32,
                        o["offset"].as_i64().unwrap(),
                    ));
                }
            }
            acked
        }));
    }
    let mut acked = Vec::new();
    for t in tasks {
        acked.extend(t.await.unwrap());
    }
    let total = CLIENTS * REQUESTS * PER_REQUEST;
    assert_eq!(acked.len(), total);
    let stored = read_all(&topic, 4, total, Duration::from_secs(20));
    assert_eq!(stored.len(), total, "records in Kafka");
    let mut at: HashMap<(i32, i64), (usize, usize, usize)> = HashMap::new();
    for rec in &stored {
        let v: serde_json::Value = serde_json::from_slice(rec.value.as_ref().unwrap()).unwrap();
        let id = (
            v["c"].as_u64().unwrap() as usize,
            v["r"].as_u64().unwrap() as usize,
            v["i"].as_u64().unwrap() as usize,
        );
        assert!(at.insert((rec.partition, rec.offset), id).is_none());
    }
    let mut seen = std::collections::HashSet::new();
    for (c, r, i, p, o) in &acked {
        assert_eq!(
            at.get(&(*p, *o)),
            Some(&(*c, *r, *i)),
            "ack ({p},{o}) points at another record"
        );
        assert!(seen.insert((c, r, i)), "duplicate");
    }
    // Within a request, records sharing a partition have increasing offsets in request order.
    let mut last: HashMap<(usize, usize, i32), i64> = HashMap::new();
    for (c, r, _, p, o) in &acked {
        if let Some(prev) = last.insert((*c, *r, *p), *o) {
            assert!(*o > prev, "order broken in request {c}/{r} partition {p}");
        }
    }
    proxy.stop().await;
}

fn base64(data: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(data)
}
