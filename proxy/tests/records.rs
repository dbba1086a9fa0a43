//! GET records: long-poll timing, max_bytes, formats and Accept negotiation, read errors.

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::json;

#[tokio::test]
async fn first_get_after_subscribe_returns_records() {
    let proxy = Proxy::start_with(&[("consumer.request.timeout.ms", "15000")]).await;
    let topic = unique("first-get");
    create_topic(&topic, 1).await;
    produce_json(&proxy, &topic, 0, &[json!("a"), json!("b")]).await;
    let base = create_consumer(
        &proxy,
        &unique("g"),
        json!({"format": "json", "auto.offset.reset": "earliest"}),
    )
    .await;
    let r = post(
        &format!("{base}/subscription"),
        V2,
        &json!({"topics": [topic]}),
    )
    .await;
    assert_eq!(r.status, 204, "{r:?}");
    let r = get(&format!("{base}/subscription"), V2).await;
    assert_eq!(r.json(), json!({"topics": [topic]}));

    let start = Instant::now();
    let r = get(&format!("{base}/records?timeout=15000"), JSON).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.content_type.as_deref(), Some(JSON));
    assert_eq!(
        r.json(),
        json!([{"topic": topic, "key": null, "value": "a", "partition": 0, "offset": 0},
               {"topic": topic, "key": null, "value": "b", "partition": 0, "offset": 1}])
    );
    // It returned as soon as data was there, not after the timeout.
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "{:?}",
        start.elapsed()
    );
    proxy.stop().await;
}

#[tokio::test]
async fn long_poll_waits_for_data_and_honours_the_timeout() {
    let proxy = Proxy::start_with(&[("consumer.request.timeout.ms", "5000")]).await;
    let topic = unique("long-poll");
    create_topic(&topic, 1).await;
    let base = create_consumer(&proxy, &unique("g"), json!({"format": "json"})).await;
    let r = post(
        &format!("{base}/assignments"),
        V2,
        &json!({"partitions": [{"topic": topic, "partition": 0}]}),
    )
    .await;
    assert_eq!(r.status, 204, "{r:?}");
    assert_eq!(
        get(&format!("{base}/assignments"), V2).await.json(),
        json!({"partitions": [{"topic": topic, "partition": 0}]})
    );
    // Nothing to read: the request's own timeout (shorter than the server's) applies.
    let start = Instant::now();
    let r = get(&format!("{base}/records?timeout=700"), JSON).await;
    assert_eq!(r.json(), json!([]));
    let took = start.elapsed();
    assert!(
        took >= Duration::from_millis(650) && took < Duration::from_millis(3000),
        "{took:?}"
    );
    // A longer `timeout` than the server's is capped by consumer.request.timeout.ms.
    let start = Instant::now();
    get(&format!("{base}/records?timeout=60000"), JSON).await;
    let took = start.elapsed();
    assert!(
        took >= Duration::from_millis(4900) && took < Duration::from_millis(8000),
        "{took:?}"
    );
    // Data arriving mid-poll ends the poll early, and the wake-up is measured (from the
    // records reaching the partition's queue in the proxy to the answer).
    let woken_before = wake_count(&proxy).await;
    let poll = tokio::spawn({
        let base = base.clone();
        async move {
            let start = Instant::now();
            let r = get(&format!("{base}/records?timeout=5000"), JSON).await;
            (r.json(), start.elapsed())
        }
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    produce_json(&proxy, &topic, 0, &[json!({"late": true})]).await;
    let (records, took) = poll.await.unwrap();
    assert_eq!(records[0]["value"], json!({"late": true}));
    assert!(took < Duration::from_millis(4000), "{took:?}");
    assert!(
        wake_count(&proxy).await > woken_before,
        "the woken long poll is not in kafka_proxy_consumer_wake_us"
    );
    proxy.stop().await;
}

/// How many woken long polls `GET /metrics` has measured (all in-process proxies share one
/// recorder, so other tests may add to it: only an increase is meaningful).
async fn wake_count(proxy: &Proxy) -> f64 {
    let text = get(&format!("{}/metrics", proxy.url), "*/*").await.text;
    sample(&text, "kafka_proxy_consumer_wake_us_count", &[]).unwrap_or(0.0)
}

#[tokio::test]
async fn max_bytes_limits_responses_but_an_oversized_record_still_comes_back() {
    let proxy = Proxy::start().await;
    let topic = unique("max-bytes");
    create_topic(&topic, 1).await;
    // Values of 10, 10, 500, 10 bytes.
    let values = [
        json!("12345678"),
        json!("abcdefgh"),
        json!("x".repeat(498)),
        json!("ABCDEFGH"),
    ];
    produce_json(&proxy, &topic, 0, &values).await;
    let base = create_consumer(&proxy, &unique("g"), json!({"format": "json"})).await;
    assign(&base, &topic, &[0]).await;
    post(
        &format!("{base}/positions/beginning"),
        V2,
        &json!({"partitions": [{"topic": topic, "partition": 0}]}),
    )
    .await;
    let mut seen = Vec::new();
    let end = Instant::now() + Duration::from_secs(15);
    while seen.len() < 4 && Instant::now() < end {
        let r = get(&format!("{base}/records?max_bytes=25"), JSON).await;
        let batch = r.json().as_array().unwrap().clone();
        let bytes: usize = batch.iter().map(|r| r["value"].to_string().len()).sum();
        assert!(batch.len() <= 1 || bytes < 25, "over max_bytes: {batch:?}");
        seen.extend(batch);
    }
    assert_eq!(
        offsets_of(&seen),
        vec![0, 1, 2, 3],
        "the 500-byte record is returned alone: {seen:?}"
    );
    proxy.stop().await;
}

/// Records fetched but not yet returned stay in librdkafka's own messages, which must all be gone
/// before their consumer is destroyed (librdkafka waits for them forever otherwise). An instance
/// deleted, and a proxy stopped, with records still buffered must close promptly.
#[tokio::test]
async fn instances_close_promptly_with_records_still_buffered() {
    let proxy = Proxy::start().await;
    let topic = unique("buffered");
    create_topic(&topic, 1).await;
    let values: Vec<_> = (0..200).map(|i| json!(i)).collect();
    produce_json(&proxy, &topic, 0, &values).await;
    let group = unique("g");
    let config =
        json!({"format": "json", "auto.offset.reset": "earliest", "auto.commit.enable": "false"});
    let mut bases = Vec::new();
    for _ in 0..2 {
        let base = create_consumer(&proxy, &group, config.clone()).await;
        assign(&base, &topic, &[0]).await;
        let mut first = Vec::new();
        let end = Instant::now() + Duration::from_secs(15);
        while first.is_empty() && Instant::now() < end {
            let r = get(&format!("{base}/records?max_bytes=1"), JSON).await;
            first = r.json().as_array().unwrap().clone();
        }
        // One record per answer: the rest of what was fetched waits in the instance.
        assert_eq!(offsets_of(&first), vec![0], "{first:?}");
        bases.push(base);
    }
    let started = Instant::now();
    let r = send(http().delete(&bases[0])).await;
    assert_eq!(r.status, 204, "{r:?}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "deleting took {:?}",
        started.elapsed()
    );
    let started = Instant::now();
    tokio::time::timeout(Duration::from_secs(30), proxy.stop())
        .await
        .expect("the proxy stops with an instance's records still buffered");
    assert!(started.elapsed() < Duration::from_secs(15));
}

/// Records reach a reader from each partition's own queue, many per call, and from the consumer
/// queue (kafka/partition_queues.rs): each partition's records come exactly once and in order,
/// with small answers (`max_bytes`) that leave records waiting between reads, for a group
/// subscription and for a manual assignment moved to the beginning.
#[tokio::test]
async fn every_partition_reads_in_order_in_small_answers() {
    let proxy = Proxy::start().await;
    let topic = unique("order");
    create_topic(&topic, 3).await;
    const PER_PARTITION: i64 = 600;
    for partition in 0..3 {
        // Several requests, so each partition holds several record batches.
        for chunk in 0..6 {
            let values: Vec<_> = (0..PER_PARTITION / 6)
                .map(|i| json!(format!("p{partition}-{}", chunk * 100 + i)))
                .collect();
            produce_json(&proxy, &topic, partition, &values).await;
        }
    }
    let config = json!({"format": "json", "auto.offset.reset": "earliest"});
    let subscribed = create_consumer(&proxy, &unique("g"), config.clone()).await;
    subscribe(&subscribed, &[&topic]).await;
    let assigned = create_consumer(&proxy, &unique("g"), config).await;
    assign(&assigned, &topic, &[0, 1, 2]).await;
    let r = post(
        &format!("{assigned}/positions/beginning"),
        V2,
        &json!({"partitions": (0..3).map(|p| json!({"topic": topic, "partition": p})).collect::<Vec<_>>()}),
    )
    .await;
    assert_eq!(r.status, 204, "{r:?}");
    for base in [&subscribed, &assigned] {
        let mut next = [0i64; 3];
        let end = Instant::now() + Duration::from_secs(60);
        while next.iter().sum::<i64>() < 3 * PER_PARTITION && Instant::now() < end {
            let r = get(&format!("{base}/records?max_bytes=3000"), JSON).await;
            assert_eq!(r.status, 200, "{r:?}");
            for record in r.json().as_array().unwrap() {
                let p = record["partition"].as_i64().unwrap() as usize;
                assert_eq!(record["offset"], json!(next[p]), "partition {p}: {record}");
                assert_eq!(record["value"], json!(format!("p{p}-{}", next[p])));
                next[p] += 1;
            }
        }
        assert_eq!(next, [PER_PARTITION; 3], "{base}");
    }
    // They came through the partitions' own queues (the counter is process-wide: other tests
    // only add to it).
    let text = get(&format!("{}/metrics", proxy.url), "*/*").await.text;
    let batched = sample(
        &text,
        "kafka_proxy_consumer_records_total",
        &["queue=\"partition\""],
    );
    assert!(
        batched.is_some_and(|n| n >= (6 * PER_PARTITION) as f64),
        "{text}"
    );
    proxy.stop().await;
}

#[tokio::test]
async fn binary_records_and_accept_negotiation() {
    let proxy = Proxy::start().await;
    let topic = unique("accept");
    create_topic(&topic, 1).await;
    let r = post(
        &format!("{}/topics/{topic}", proxy.url),
        BINARY,
        &json!({"records": [{"key": "a2V5", "value": "aGVsbG8gd29ybGQhISE="}]}),
    )
    .await;
    assert_eq!(r.status, 200);
    let base = create_consumer(
        &proxy,
        &unique("g"),
        json!({"format": "binary", "auto.offset.reset": "earliest"}),
    )
    .await;
    subscribe(&base, &[&topic]).await;
    get(&format!("{base}/records"), JSON)
        .await
        .assert_error(406, 40601);
    let r = get(&format!("{base}/records"), "text/plain").await;
    assert_eq!((r.status, r.text.as_str()), (406, ""));
    let recs = read_records(&base, BINARY, 1, Duration::from_secs(15)).await;
    assert_eq!(
        recs,
        vec![
            json!({"topic": topic, "key": "a2V5", "value": "aGVsbG8gd29ybGQhISE=", "partition": 0, "offset": 0})
        ]
    );
    proxy.stop().await;
}

#[tokio::test]
async fn json_consumer_reports_undecodable_record_and_can_seek_past_it() {
    let proxy = Proxy::start().await;
    let topic = unique("bad-json");
    create_topic(&topic, 1).await;
    // Binary lets us write bytes that are not JSON: "ok" JSON, then "not json", then JSON.
    let records =
        json!({"records": [{"value": "Im9rIg=="}, {"value": "bm90IGpzb24="}, {"value": "MQ=="}]});
    post(&format!("{}/topics/{topic}", proxy.url), BINARY, &records).await;
    let base = create_consumer(&proxy, &unique("g"), json!({"format": "json"})).await;
    let tp = json!({"partitions": [{"topic": topic, "partition": 0}]});
    post(&format!("{base}/assignments"), V2, &tp).await;
    post(&format!("{base}/positions/beginning"), V2, &tp).await;
    let first = read_records(&base, JSON, 1, Duration::from_secs(10)).await;
    assert_eq!(offsets_of(&first), vec![0]);
    let msg = get(&format!("{base}/records"), JSON)
        .await
        .assert_error(408, 40801);
    assert!(msg.contains("offset 1"), "{msg}");
    let r = post(
        &format!("{base}/positions"),
        V2,
        &json!({"offsets": [{"topic": topic, "partition": 0, "offset": 2}]}),
    )
    .await;
    assert_eq!(r.status, 204, "{r:?}");
    let rest = read_records(&base, JSON, 1, Duration::from_secs(10)).await;
    assert_eq!(rest[0]["value"], json!(1));
    proxy.stop().await;
}

#[tokio::test]
async fn reset_none_without_a_commit_is_an_error_not_an_empty_answer() {
    let proxy = Proxy::start_with(&[("consumer.request.timeout.ms", "8000")]).await;
    let topic = unique("reset-none");
    create_topic(&topic, 1).await;
    produce_json(&proxy, &topic, 0, &[json!(1)]).await;
    let base = create_consumer(
        &proxy,
        &unique("g"),
        json!({"format": "json", "auto.offset.reset": "none"}),
    )
    .await;
    assign(&base, &topic, &[0]).await;
    let start = Instant::now();
    let r = get(&format!("{base}/records"), JSON).await;
    r.assert_error(500, 50002);
    assert!(
        start.elapsed() < Duration::from_secs(6),
        "answered only after {:?}",
        start.elapsed()
    );
    proxy.stop().await;
}

/// A long poll woken by a burst answers with at most `consumer.wake.max.bytes` of it, at once;
/// the rest stays buffered, and a GET already waiting behind it on the same connection (HTTP/1.1
/// pipelining, answered in order) takes it without waiting. Nothing is lost or reordered.
#[tokio::test]
async fn a_woken_long_poll_answers_part_of_a_burst_and_the_next_get_the_rest() {
    use base64::Engine;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let proxy = Proxy::start_with(&[
        ("consumer.request.timeout.ms", "10000"),
        ("consumer.wake.max.bytes", "4096"),
    ])
    .await;
    let topic = unique("woken-burst");
    create_topic(&topic, 1).await;
    let base = create_consumer(&proxy, &unique("g"), json!({"format": "binary"})).await;
    assign(&base, &topic, &[0]).await;
    // The instance is fetching (its first GET of the empty topic answered) before the burst.
    let r = get(&format!("{base}/records?timeout=300"), BINARY).await;
    assert_eq!(r.json(), json!([]));

    // Two GETs pipelined on one connection; the first waits for records.
    let path = base.split_once("//").unwrap().1.split_once('/').unwrap().1;
    let host = proxy.url.trim_start_matches("http://");
    let request = format!(
        "GET /{path}/records?timeout=10000 HTTP/1.1\r\nhost: {host}\r\naccept: {BINARY}\r\n\r\n"
    );
    let mut conn = tokio::net::TcpStream::connect(host).await.unwrap();
    conn.write_all(format!("{request}{request}").as_bytes())
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;

    // One produce request of 200 records of 100 bytes: one record batch, one burst.
    let records: Vec<_> = (0..200u8)
        .map(|i| json!({"value": base64::engine::general_purpose::STANDARD.encode([i; 100])}))
        .collect();
    let r = post(
        &format!("{}/topics/{topic}/partitions/0", proxy.url),
        BINARY,
        &json!({ "records": records }),
    )
    .await;
    assert_eq!(r.status, 200, "{r:?}");

    let mut buf = Vec::new();
    let first = read_answer(&mut conn, &mut buf).await;
    let second = read_answer(&mut conn, &mut buf).await;
    assert!(
        !first.is_empty() && first.len() * 100 < 4096,
        "the woken GET answers with at most consumer.wake.max.bytes: {} records",
        first.len()
    );
    assert!(
        !second.is_empty(),
        "the pipelined GET takes the buffered rest at once"
    );
    let mut all = first;
    all.extend(second);
    let left = 200 - all.len();
    all.extend(read_records(&base, BINARY, left, Duration::from_secs(20)).await);
    assert_eq!(offsets_of(&all), (0..200).collect::<Vec<i64>>());
    proxy.stop().await;

    /// Reads one HTTP/1.1 answer (Content-Length framed) off `conn`: its JSON array.
    async fn read_answer(
        conn: &mut tokio::net::TcpStream,
        buf: &mut Vec<u8>,
    ) -> Vec<serde_json::Value> {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
                assert!(head.starts_with("http/1.1 200"), "{head}");
                let length: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .expect("a Content-Length")
                    .trim()
                    .parse()
                    .unwrap();
                if buf.len() >= end + 4 + length {
                    let body: Vec<u8> = buf.drain(..end + 4 + length).skip(end + 4).collect();
                    let value: serde_json::Value = serde_json::from_slice(&body).unwrap();
                    return value.as_array().unwrap().clone();
                }
            }
            let mut chunk = [0u8; 65536];
            let n = tokio::time::timeout_at(deadline.into(), conn.read(&mut chunk))
                .await
                .expect("an answer within 15 s")
                .unwrap();
            assert!(n > 0, "the proxy closed the connection");
            buf.extend_from_slice(&chunk[..n]);
        }
    }
}
