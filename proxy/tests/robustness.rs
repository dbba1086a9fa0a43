//! The crash suite: what a client or the cluster does must not kill the proxy, exhaust it, or
//! corrupt the registry. Each test runs the `kafka-proxy` binary as a child process, reproduces
//! one way it used to die or grow without bound, and asserts it is alive and answering after.

mod common;

use std::time::{Duration, Instant};

use common::process::{signal, ProxyProcess};
use common::*;
use rdkafka::admin::{AdminClient, AdminOptions};
use rdkafka::client::DefaultClientContext;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::ClientConfig;
use serde_json::{json, Value};

async fn new_consumer(p: &ProxyProcess, group: &str, body: Value) -> String {
    let r = post(&format!("{}/consumers/{group}", p.url), V2, &body).await;
    assert_eq!(r.status, 200, "{r:?}");
    r.json()["base_uri"].as_str().unwrap().to_string()
}

async fn delete_topic(bootstrap: &str, topic: &str) {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .unwrap();
    for r in admin
        .delete_topics(&[topic], &AdminOptions::new())
        .await
        .unwrap()
    {
        r.unwrap_or_else(|(t, e)| panic!("delete {t}: {e}"));
    }
}

fn native_producer(bootstrap: &str) -> BaseProducer {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .unwrap()
}

/// Writes one record natively (what another client of the cluster may write).
fn write_native(bootstrap: &str, topic: &str, key: &[u8], value: &[u8]) {
    let producer = native_producer(bootstrap);
    producer
        .send(BaseRecord::to(topic).key(key).payload(value).partition(0))
        .map_err(|(e, _)| e)
        .unwrap();
    producer.flush(Duration::from_secs(10)).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_librdkafka_refuses_are_client_errors() {
    let mut p = ProxyProcess::start(&broker().bootstrap, false, &[]).await;
    let base = new_consumer(&p, "g", json!({"name": "c", "format": "binary"})).await;
    // 513 characters used to crash the process (SIGSEGV inside librdkafka's assign); 250 is
    // already more than Kafka allows.
    for len in [250, 512, 513, 600, 5000] {
        let topic = "z".repeat(len);
        let assign = json!({"partitions": [{"topic": topic, "partition": 0}]});
        post(&format!("{base}/assignments"), V2, &assign)
            .await
            .assert_error(400, 40002);
        post(
            &format!("{base}/subscription"),
            V2,
            &json!({"topics": [topic]}),
        )
        .await
        .assert_error(400, 40002);
        let seek = json!({"offsets": [{"topic": topic, "partition": 0, "offset": 0}]});
        post(&format!("{base}/positions"), V2, &seek)
            .await
            .assert_error(400, 40002);
        post(&format!("{base}/offsets"), V2, &seek)
            .await
            .assert_error(400, 40002);
        // Metadata lookups of such a name used to leak a panic message in a 500.
        for path in ["", "/partitions", "/partitions/0", "/partitions/0/offsets"] {
            let r = get(&format!("{}/topics/{topic}{path}", p.url), V2).await;
            let message = r.assert_error(404, 40403);
            assert!(!message.contains("unwrap"), "{message}");
        }
        post(
            &format!("{}/topics/{topic}", p.url),
            BINARY,
            &json!({"records": [{"value": "AA=="}]}),
        )
        .await
        .assert_error(404, 40401);
    }
    // A client's subscription mistakes are 400, not 500.
    post(
        &format!("{base}/subscription"),
        V2,
        &json!({"topics": [""]}),
    )
    .await
    .assert_error(400, 40002);
    post(
        &format!("{base}/subscription"),
        V2,
        &json!({"topic_pattern": "("}),
    )
    .await
    .assert_error(400, 40002);
    // A pattern nested deep enough to exhaust a thread's stack while compiling is refused.
    let deep = "(".repeat(5000) + "a" + &")".repeat(5000);
    post(
        &format!("{base}/subscription"),
        V2,
        &json!({ "topic_pattern": deep }),
    )
    .await
    .assert_error(400, 40002);
    p.assert_healthy("after names librdkafka refuses").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_instance_and_host_names_are_checked() {
    let mut p = ProxyProcess::start(&broker().bootstrap, false, &[]).await;
    for bad in [
        "..",
        ".",
        "a?b#c",
        "a\r\nb",
        "a b",
        "x".repeat(250).as_str(),
    ] {
        let r = post(
            &format!("{}/consumers/g", p.url),
            V2,
            &json!({"name": bad, "format": "binary"}),
        )
        .await;
        r.assert_error(422, 422);
    }
    let r = post(&format!("{}/consumers/a%20b", p.url), V2, &json!({})).await;
    r.assert_error(422, 422);
    // The Host header is copied into base_uri only when it is a plain host[:port].
    let r = send(
        http()
            .post(format!("{}/consumers/g", p.url))
            .header("content-type", V2)
            .header("host", "evil.example/x?y=")
            .body(json!({"name": "h"}).to_string()),
    )
    .await;
    r.assert_error(400, 400);
    let r = send(
        http()
            .post(format!("{}/consumers/g", p.url))
            .header("content-type", V2)
            .header("host", "proxy.example:8082")
            .body(json!({"name": "h"}).to_string()),
    )
    .await;
    assert_eq!(
        r.json()["base_uri"],
        "http://proxy.example:8082/consumers/g/instances/h"
    );
    p.assert_healthy("after bad names").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_topics_under_readers() {
    let cluster = local_broker::LocalBroker::start().unwrap();
    let bootstrap = cluster.bootstrap().to_string();
    let mut p = ProxyProcess::start(&bootstrap, false, &[]).await;
    let subscribed = unique("deleted-sub");
    let assigned = unique("deleted-asg");
    create_topic_on(&bootstrap, &subscribed, 2).await;
    create_topic_on(&bootstrap, &assigned, 1).await;
    for topic in [&subscribed, &assigned] {
        let r = post(
            &format!("{}/topics/{topic}", p.url),
            BINARY,
            &json!({"records": [{"value": "AA=="}, {"value": "AQ=="}]}),
        )
        .await;
        assert_eq!(r.status, 200, "{r:?}");
    }
    let sub = new_consumer(
        &p,
        &unique("g"),
        json!({"format": "binary", "auto.offset.reset": "earliest"}),
    )
    .await;
    let asg = new_consumer(
        &p,
        &unique("g"),
        json!({"format": "binary", "auto.offset.reset": "earliest"}),
    )
    .await;
    post(
        &format!("{sub}/subscription"),
        V2,
        &json!({"topics": [subscribed]}),
    )
    .await;
    post(
        &format!("{asg}/assignments"),
        V2,
        &json!({"partitions": [{"topic": assigned, "partition": 0}]}),
    )
    .await;
    for base in [&sub, &asg] {
        let got = read_records(base, BINARY, 2, Duration::from_secs(20)).await;
        assert_eq!(got.len(), 2);
    }
    delete_topic(&bootstrap, &subscribed).await;
    delete_topic(&bootstrap, &assigned).await;
    // The process used to die 0.6-1.0 s after the deletion. Keep reading for 5 s: every answer
    // is JSON, whatever it says.
    let until = Instant::now() + Duration::from_secs(5);
    while Instant::now() < until {
        for base in [&sub, &asg] {
            let r = get(&format!("{base}/records?timeout=200"), BINARY).await;
            assert!(r.status == 200 || r.status >= 400, "{r:?}");
            r.json();
        }
        assert!(
            p.alive(),
            "the proxy died after a topic under readers was deleted"
        );
    }
    // It recovers by itself: the topic created again is read again.
    create_topic_on(&bootstrap, &assigned, 1).await;
    let r = post(
        &format!("{}/topics/{assigned}", p.url),
        BINARY,
        &json!({"records": [{"value": "Ag=="}]}),
    )
    .await;
    assert_eq!(r.status, 200, "{r:?}");
    let fresh = new_consumer(
        &p,
        &unique("g"),
        json!({"format": "binary", "auto.offset.reset": "earliest"}),
    )
    .await;
    post(
        &format!("{fresh}/subscription"),
        V2,
        &json!({"topics": [assigned]}),
    )
    .await;
    let got = read_records(&fresh, BINARY, 1, Duration::from_secs(20)).await;
    assert_eq!(got.len(), 1, "{got:?}");
    p.assert_healthy("after topic deletion under readers").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registry_survives_losing_its_topic_and_its_broker() {
    let cluster = local_broker::LocalBroker::start().unwrap();
    let port = cluster.port();
    let bootstrap = cluster.bootstrap().to_string();
    let mut p = ProxyProcess::start(&bootstrap, true, &[]).await;
    let sr = p.registry_url.clone().unwrap();
    let schema = json!({"schema": "{\"type\":\"record\",\"name\":\"A\",\"fields\":[{\"name\":\"f\",\"type\":\"int\"}]}"});
    let r = sr_post(&format!("{sr}/subjects/s-value/versions"), schema.clone()).await;
    assert_eq!(r.status, 200, "{r:?}");

    // `_schemas` deleted under the registry's reader.
    delete_topic(&bootstrap, "_schemas").await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    p.assert_healthy("after _schemas was deleted").await;

    // The broker killed and started again on the same port, empty (Tansu keeps nothing).
    drop(cluster);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let _again = local_broker::LocalBroker::start_on_port(port).unwrap();
    let until = Instant::now() + Duration::from_secs(8);
    while Instant::now() < until {
        let r = sr_get(&format!("{sr}/subjects")).await;
        assert!(r.status == 200 || r.status >= 500, "{r:?}");
        r.json();
        assert!(p.alive(), "the proxy died after its broker restarted");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    p.assert_healthy("after the broker restarted").await;
    // It recovers by itself: `_schemas` is created again at the next write and registrations
    // work again, with what the registry knew kept.
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let r = sr_post(&format!("{sr}/subjects/t-value/versions"), schema.clone()).await;
        if r.status == 200 {
            break;
        }
        r.assert_error(500, 50001);
        assert!(
            Instant::now() < deadline,
            "registrations never worked again: {r:?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let subjects = sr_get(&format!("{sr}/subjects")).await.json();
    assert_eq!(subjects, json!(["s-value", "t-value"]));
    p.assert_healthy("after the registry recovered").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unparsable_schema_record_is_skipped_and_registration_goes_on() {
    let cluster = local_broker::LocalBroker::start().unwrap();
    let bootstrap = cluster.bootstrap().to_string();
    let mut p = ProxyProcess::start(&bootstrap, true, &[]).await;
    let sr = p.registry_url.clone().unwrap();
    let bad = r#"{"type":"record","name":"test-schema","fields":[{"name":"f","type":"int"}]}"#;
    // Over HTTP: an ordinary invalid-schema answer (it used to close the connection unanswered).
    let r = sr_post(
        &format!("{sr}/subjects/bad-value/versions"),
        json!({"schema": bad}),
    )
    .await;
    let message = r.assert_error(422, 42201);
    assert!(message.contains("test-schema"), "{message}");
    // Written into _schemas by another client: skipped with a warning, not the end of the reader.
    let key = br#"{"keytype":"SCHEMA","subject":"bad-value","version":1,"magic":1}"#;
    let value =
        json!({"subject": "bad-value", "version": 1, "id": 7, "schema": bad, "deleted": false});
    write_native(&bootstrap, "_schemas", key, value.to_string().as_bytes());
    let good = json!({"schema": "\"string\""});
    let r = sr_post(&format!("{sr}/subjects/good-value/versions"), good).await;
    assert_eq!(r.status, 200, "{r:?}");
    // An id at the top of the range: the next registration is a clear error, never an id that
    // wrapped to -2147483648.
    let key = br#"{"keytype":"SCHEMA","subject":"max-value","version":1,"magic":1}"#;
    let value = json!({"subject": "max-value", "version": 1, "id": i32::MAX, "schema": "\"int\"", "deleted": false});
    write_native(&bootstrap, "_schemas", key, value.to_string().as_bytes());
    let deadline = Instant::now() + Duration::from_secs(10);
    while sr_get(&format!("{sr}/schemas/ids/{}", i32::MAX))
        .await
        .status
        != 200
    {
        assert!(
            Instant::now() < deadline,
            "the forged record was never read"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let r = sr_post(
        &format!("{sr}/subjects/next-value/versions"),
        json!({"schema": "\"long\""}),
    )
    .await;
    let message = r.assert_error(500, 50001);
    assert!(message.contains("no schema id is left"), "{message}");
    // Ids below 1 are not taken from the log either.
    let key = br#"{"keytype":"SCHEMA","subject":"neg-value","version":1,"magic":1}"#;
    let value = json!({"subject": "neg-value", "version": 1, "id": -5, "schema": "\"float\"", "deleted": false});
    write_native(&bootstrap, "_schemas", key, value.to_string().as_bytes());
    tokio::time::sleep(Duration::from_millis(500)).await;
    sr_get(&format!("{sr}/subjects/neg-value/versions"))
        .await
        .assert_error(404, 40401);
    p.assert_healthy("after unparsable and out-of-range schema records")
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rest_clients_cannot_touch_internal_topics() {
    let mut p = ProxyProcess::start(&broker().bootstrap, true, &[]).await;
    let sr = p.registry_url.clone().unwrap();
    let forged_key = base64(br#"{"keytype":"SCHEMA","subject":"forged","version":1,"magic":1}"#);
    let forged_value = base64(
        br#"{"subject":"forged","version":1,"id":4242,"schema":"\"string\"","deleted":false}"#,
    );
    let body = json!({"records": [{"key": forged_key, "value": forged_value}]});
    for topic in ["_schemas", "__consumer_offsets", "__transaction_state"] {
        let message = post(&format!("{}/topics/{topic}", p.url), BINARY, &body)
            .await
            .assert_error(403, 40301);
        assert!(message.contains("protected"), "{message}");
        post(
            &format!("{}/topics/{topic}/partitions/0", p.url),
            BINARY,
            &body,
        )
        .await
        .assert_error(403, 40301);
    }
    sr_get(&format!("{sr}/subjects/forged/versions"))
        .await
        .assert_error(404, 40401);
    let base = new_consumer(&p, &unique("g"), json!({"format": "binary"})).await;
    post(
        &format!("{base}/subscription"),
        V2,
        &json!({"topics": ["_schemas"]}),
    )
    .await
    .assert_error(403, 40301);
    post(
        &format!("{base}/assignments"),
        V2,
        &json!({"partitions": [{"topic": "__consumer_offsets", "partition": 0}]}),
    )
    .await
    .assert_error(403, 40301);
    p.assert_healthy("after internal-topic access").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protected_topics_are_configurable() {
    let topic = unique("opened");
    create_topic(&topic, 1).await;
    let p = ProxyProcess::start(
        &broker().bootstrap,
        false,
        &[("protected.topics", &format!("{topic},other-*"))],
    )
    .await;
    post(
        &format!("{}/topics/{topic}", p.url),
        BINARY,
        &json!({"records": [{"value": "AA=="}]}),
    )
    .await
    .assert_error(403, 40301);
    post(
        &format!("{}/topics/other-x", p.url),
        BINARY,
        &json!({"records": [{"value": "AA=="}]}),
    )
    .await
    .assert_error(403, 40301);
    // Not protected any more: `_schemas` is only an ordinary missing topic here.
    let p = ProxyProcess::start(&broker().bootstrap, false, &[("protected.topics", "")]).await;
    let r = post(
        &format!("{}/topics/{topic}", p.url),
        BINARY,
        &json!({"records": [{"value": "AA=="}]}),
    )
    .await;
    assert_eq!(r.status, 200, "{r:?}");
}

fn base64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_ends_within_its_grace_period_when_kafka_is_gone() {
    let cluster = local_broker::LocalBroker::start().unwrap();
    let bootstrap = cluster.bootstrap().to_string();
    let topic = unique("gone");
    create_topic_on(&bootstrap, &topic, 1).await;
    let p = ProxyProcess::start(&bootstrap, false, &[("shutdown.graceful.ms", "3000")]).await;
    for i in 0..20 {
        let base = new_consumer(&p, &unique("g"), json!({"name": format!("c{i}")})).await;
        post(
            &format!("{base}/subscription"),
            V2,
            &json!({"topics": [topic]}),
        )
        .await;
        get(&format!("{base}/records?timeout=100"), BINARY).await;
    }
    drop(cluster);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (code, took) = p.terminate(Duration::from_secs(10)).await;
    assert!(took < Duration::from_secs(5), "shutdown took {took:?}");
    assert_eq!(code, Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumer_instances_are_capped() {
    let mut p = ProxyProcess::start(
        &broker().bootstrap,
        false,
        &[
            ("consumer.instances.max", "5"),
            ("consumer.instances.max.per.group", "3"),
        ],
    )
    .await;
    let g = unique("capped");
    for i in 0..3 {
        new_consumer(&p, &g, json!({"name": format!("c{i}")})).await;
    }
    let message = post(
        &format!("{}/consumers/{g}", p.url),
        V2,
        &json!({"name": "c3"}),
    )
    .await
    .assert_error(429, 429);
    assert!(
        message.contains("consumer.instances.max.per.group"),
        "{message}"
    );
    let other = unique("capped");
    new_consumer(&p, &other, json!({"name": "a"})).await;
    new_consumer(&p, &other, json!({"name": "b"})).await;
    let message = post(
        &format!("{}/consumers/{other}", p.url),
        V2,
        &json!({"name": "c"}),
    )
    .await
    .assert_error(429, 429);
    assert!(message.contains("(consumer.instances.max)"), "{message}");
    // A deleted instance frees its slot.
    let r = send(http().delete(format!("{}/consumers/{g}/instances/c0", p.url))).await;
    assert_eq!(r.status, 204, "{r:?}");
    new_consumer(&p, &other, json!({"name": "c"})).await;
    // A long-poll timeout beyond the cap is refused at creation.
    post(
        &format!("{}/consumers/{}", p.url, unique("g")),
        V2,
        &json!({"consumer.request.timeout.ms": 9223372036854775807i64}),
    )
    .await
    .assert_error(422, 42204);
    p.assert_healthy("at the instance caps").await;
}

/// Consumer instances that filled their buffers and expired give their memory back, though
/// glibc keeps what librdkafka's threads freed in their arenas until `malloc_trim` (`memory.rs`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_instances_give_their_memory_back() {
    let topic = unique("expiring");
    create_topic(&topic, 4).await;
    // Each instance's first GET waits for its first fetch and answers with all of it (not only
    // `consumer.wake.max.bytes`): megabytes of answer per instance, on top of its buffers.
    let p = ProxyProcess::start(
        &broker().bootstrap,
        false,
        &[
            ("consumer.instance.timeout.ms", "1000"),
            ("consumer.wake.max.bytes", "67108864"),
        ],
    )
    .await;
    use base64::Engine;
    let value = base64::engine::general_purpose::STANDARD.encode([b'x'; 100]);
    let records: Vec<Value> = (0..500).map(|_| json!({ "value": value })).collect();
    for _ in 0..40 {
        let r = post(
            &format!("{}/topics/{topic}", p.url),
            BINARY,
            &json!({ "records": records }),
        )
        .await;
        assert_eq!(r.status, 200, "{r:?}");
    }
    let before = p.rss_kib();
    let threads = p.threads();
    p.reset_peak_rss();
    // Twenty instances at once, each fetching the topic's 20,000 records into its buffers: all
    // alive together at the peak, whatever the machine's pace.
    let reads = (0..20).map(|i| {
        let (p, topic) = (&p, &topic);
        async move {
            let body = json!({"name": format!("c{i}"), "format": "binary", "auto.offset.reset": "earliest"});
            let base = new_consumer(p, &unique("expiring"), body).await;
            subscribe(&base, &[topic.as_str()]).await;
            // Twenty group joins at once, beside the rest of the suite, can take a while.
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                let r = get(&format!("{base}/records?timeout=3000"), BINARY).await;
                assert_eq!(r.status, 200, "{r:?}");
                if !r.json().as_array().unwrap().is_empty() {
                    break;
                }
                assert!(Instant::now() < deadline, "no records in 30 s: {r:?}");
            }
        }
    });
    futures_util::future::join_all(reads).await;
    let grown = p.peak_rss_kib().saturating_sub(before);
    assert!(
        grown > 64 * 1024,
        "the instances took only {grown} KiB: nothing to give back"
    );
    // They expire a second after their last request, and the sweeper closes them (their
    // librdkafka threads end) and trims the heap.
    let deadline = Instant::now() + Duration::from_secs(30);
    while p.threads() > threads + 2 {
        assert!(
            Instant::now() < deadline,
            "{} threads 30 s after the reads, {threads} before",
            p.threads()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    // What stays must be a small part of what they took: about 4% here, 24% without the trim.
    let left = p.rss_kib().saturating_sub(before);
    eprintln!("RSS {before} KiB before, peak +{grown} KiB, +{left} KiB once the instances closed");
    assert!(
        left <= grown / 8,
        "RSS still {left} KiB over the {before} KiB before the instances once they closed (peak +{grown} KiB)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tiny_records_cannot_amplify_memory() {
    let topic = unique("amplify");
    create_topic(&topic, 1).await;
    let mut p = ProxyProcess::start(&broker().bootstrap, false, &[]).await;
    // The peak, not what is resident afterwards: the allocator (mimalloc) keeps freed pages for
    // reuse a while, glibc gave large blocks back at once, and neither says what the request
    // needed at its height.
    p.reset_peak_rss();
    let before = p.rss_kib();
    // 1 MiB of empty records: 349,525 of them.
    let mut body = String::from("{\"records\":[");
    while body.len() < (1 << 20) - 4 {
        body.push_str("{},");
    }
    body.pop();
    body.push_str("]}");
    let started = Instant::now();
    let r = send(
        http()
            .post(format!("{}/topics/{topic}", p.url))
            .header("content-type", JSON)
            .body(body),
    )
    .await;
    let message = r.assert_error(422, 422);
    assert!(message.contains("produce.max.records"), "{message}");
    assert!(started.elapsed() < Duration::from_secs(5));
    let grown = p.peak_rss_kib().saturating_sub(before);
    eprintln!("peak RSS grew {grown} KiB for a 1 MiB body");
    assert!(
        grown < 8 * 1024,
        "peak RSS grew {grown} KiB for a 1 MiB body"
    );
    // Nothing was written.
    let r = get(
        &format!("{}/topics/{topic}/partitions/0/offsets", p.url),
        V2,
    )
    .await;
    assert_eq!(r.json()["end_offset"], 0, "{r:?}");
    p.assert_healthy("after 1 MiB of empty records").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_that_other_parsers_refuse_is_neither_written_nor_served() {
    let topic = unique("poison");
    create_topic(&topic, 1).await;
    let mut p = ProxyProcess::start(&broker().bootstrap, false, &[]).await;
    let deep = "[".repeat(100_000) + &"]".repeat(100_000);
    for value in [
        deep.as_str(),
        "1e999999",
        r#""\ud800""#,
        r#"{"a":"\udc00"}"#,
        "-1e400",
    ] {
        let body = format!("{{\"records\":[{{\"value\":1}},{{\"value\":{value}}}]}}");
        let r = send(
            http()
                .post(format!("{}/topics/{topic}", p.url))
                .header("content-type", JSON)
                .body(body),
        )
        .await;
        r.assert_error(400, 400);
    }
    let r = get(
        &format!("{}/topics/{topic}/partitions/0/offsets", p.url),
        V2,
    )
    .await;
    assert_eq!(
        r.json()["end_offset"],
        0,
        "a refused request wrote something: {r:?}"
    );
    // Written by another client: the read stops at it with 40801 naming its offset, and a seek
    // past it goes on.
    write_native(&broker().bootstrap, &topic, b"\"k\"", br#""\ud800""#);
    write_native(&broker().bootstrap, &topic, b"\"k\"", br#"{"ok":true}"#);
    let base = new_consumer(
        &p,
        &unique("g"),
        json!({"format": "json", "auto.offset.reset": "earliest"}),
    )
    .await;
    post(
        &format!("{base}/assignments"),
        V2,
        &json!({"partitions": [{"topic": topic, "partition": 0}]}),
    )
    .await;
    let deadline = Instant::now() + Duration::from_secs(20);
    let message = loop {
        let r = get(&format!("{base}/records?timeout=500"), JSON).await;
        if r.status == 408 {
            break r.assert_error(408, 40801);
        }
        assert_eq!((r.status, r.text.as_str()), (200, "[]"), "{r:?}");
        assert!(Instant::now() < deadline, "the poisoned record never came");
    };
    assert!(
        message.contains("offset 0") && message.contains("surrogate"),
        "{message}"
    );
    let seek = json!({"offsets": [{"topic": topic, "partition": 0, "offset": 1}]});
    let r = post(&format!("{base}/positions"), V2, &seek).await;
    assert_eq!(r.status, 204, "{r:?}");
    let got = read_records(&base, JSON, 1, Duration::from_secs(20)).await;
    assert_eq!(got[0]["value"], json!({"ok": true}), "{got:?}");
    p.assert_healthy("after poisoned JSON").await;
}

/// Opens a TCP connection and writes `bytes` without finishing the request.
async fn half_request(url: &str, bytes: &[u8]) -> tokio::net::TcpStream {
    use tokio::io::AsyncWriteExt;
    let addr = url.trim_start_matches("http://");
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(bytes).await.unwrap();
    s
}

/// True when the server closed `s` (a read returns EOF, or the connection was reset) in time.
async fn closed_within(s: &mut tokio::net::TcpStream, within: Duration) -> bool {
    use tokio::io::AsyncReadExt;
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, s.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue, // an error answer before the close
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_and_idle_connections_are_closed_on_both_ports() {
    let mut p = ProxyProcess::start(
        &broker().bootstrap,
        true,
        &[
            ("http.header.read.timeout.ms", "1000"),
            ("http.request.body.timeout.ms", "1000"),
        ],
    )
    .await;
    for url in [p.url.clone(), p.registry_url.clone().unwrap()] {
        // Slowloris: headers that never end.
        let mut slow = Vec::new();
        for _ in 0..50 {
            slow.push(half_request(&url, b"GET / HTTP/1.1\r\nHost: x\r\nX-a: ").await);
        }
        // Idle: a connection that sends nothing, and one that starts HTTP/2's preface and stops.
        let mut idle = half_request(&url, b"").await;
        let mut partial_preface = half_request(&url, b"PRI * HTTP/2.0\r\n").await;
        for s in slow.iter_mut() {
            assert!(
                closed_within(s, Duration::from_secs(5)).await,
                "{url}: slow headers held"
            );
        }
        assert!(
            closed_within(&mut idle, Duration::from_secs(5)).await,
            "{url}: idle held"
        );
        assert!(
            closed_within(&mut partial_preface, Duration::from_secs(5)).await,
            "{url}: a partial HTTP/2 preface held"
        );
        // A body that never arrives: 408 in JSON, then the close.
        let mut s = half_request(
            &url,
            format!(
                "POST {} HTTP/1.1\r\nHost: x\r\nContent-Type: {V2}\r\nContent-Length: 100\r\n\r\n{{",
                if url == p.url { "/consumers/g" } else { "/subjects/s/versions" }
            )
            .as_bytes(),
        )
        .await;
        use tokio::io::AsyncReadExt;
        let mut answer = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut answer)).await;
        let answer = String::from_utf8_lossy(&answer);
        assert!(answer.starts_with("HTTP/1.1 408"), "{url}: {answer}");
        assert!(answer.contains("\"error_code\":408"), "{url}: {answer}");
    }
    // The registry refuses an announced 1 GB body before reading it, in JSON.
    let sr = p.registry_url.clone().unwrap();
    let mut s = half_request(
        &sr,
        b"POST /subjects/s/versions HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000000\r\n\r\n",
    )
    .await;
    use tokio::io::AsyncReadExt;
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf))
        .await
        .expect("answered at once")
        .unwrap();
    let answer = String::from_utf8_lossy(&buf[..n]);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("\"error_code\":413"), "{answer}");
    p.assert_healthy("after slow and idle connections").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_and_requests_in_progress_are_capped() {
    let topic = unique("capped-conn");
    create_topic(&topic, 1).await;
    let mut p = ProxyProcess::start(
        &broker().bootstrap,
        false,
        &[
            ("http.max.connections", "4"),
            ("http.max.concurrent.requests", "2"),
            ("consumer.request.timeout.ms", "3000"),
        ],
    )
    .await;
    // Two long-polls hold both request slots: a third request is refused at once, in JSON.
    let base = new_consumer(&p, &unique("g"), json!({"name": "a"})).await;
    let base2 = new_consumer(&p, &unique("g"), json!({"name": "b"})).await;
    for b in [&base, &base2] {
        post(
            &format!("{b}/subscription"),
            V2,
            &json!({"topics": [topic]}),
        )
        .await;
    }
    let polls: Vec<_> = [base.clone(), base2.clone()]
        .into_iter()
        .map(|b| tokio::spawn(async move { get(&format!("{b}/records"), BINARY).await }))
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let r = get(&format!("{}/topics", p.url), V2).await;
    r.assert_error(429, 429);
    for poll in polls {
        assert_eq!(poll.await.unwrap().status, 200);
    }
    // Four idle connections hold every connection slot: a fifth is not served until one closes.
    let mut held = Vec::new();
    for _ in 0..4 {
        held.push(half_request(&p.url, b"").await);
    }
    let fifth = tokio::spawn({
        let url = format!("{}/topics", p.url);
        async move {
            let started = Instant::now();
            let r = http().get(url).send().await;
            (started.elapsed(), r.map(|r| r.status().as_u16()))
        }
    });
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert!(
        !fifth.is_finished(),
        "a fifth connection was served beyond http.max.connections"
    );
    drop(held);
    let (waited, status) = fifth.await.unwrap();
    assert_eq!(status.unwrap(), 200);
    assert!(waited >= Duration::from_millis(900), "{waited:?}");
    p.assert_healthy("at the connection caps").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_broker_is_survived() {
    let cluster = local_broker::LocalBroker::start().unwrap();
    let bootstrap = cluster.bootstrap().to_string();
    let topic = unique("paused");
    create_topic_on(&bootstrap, &topic, 1).await;
    let mut p = ProxyProcess::start(
        &bootstrap,
        false,
        &[("producer.message.timeout.ms", "2000")],
    )
    .await;
    signal(cluster.pid(), "STOP");
    let r = post(
        &format!("{}/topics/{topic}", p.url),
        BINARY,
        &json!({"records": [{"value": "AA=="}]}),
    )
    .await;
    // Answered while the broker cannot serve: an error in JSON, or a late success.
    r.json();
    signal(cluster.pid(), "CONT");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let r = post(
            &format!("{}/topics/{topic}", p.url),
            BINARY,
            &json!({"records": [{"value": "AQ=="}]}),
        )
        .await;
        if r.status == 200 && r.json()["offsets"][0]["error_code"].is_null() {
            break;
        }
        assert!(Instant::now() < deadline, "never recovered: {r:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    p.assert_healthy("after the broker was paused").await;
}
