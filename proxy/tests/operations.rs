//! Operating the proxy (issue 16, item 3, part): `/healthy` and `/ready` probes (open even with
//! BASIC on), a start-up that waits for Kafka naming its address instead of exiting, and the
//! access log in JSON (`--log-format json`).

mod common;

use std::process::Stdio;
use std::time::{Duration, Instant};

use common::process::BIN;
use common::*;
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

#[tokio::test]
async fn probes_answer_and_ready_follows_kafka() {
    let credentials = std::env::temp_dir().join(unique("ops-users"));
    std::fs::write(&credentials, "ops: secret\n").unwrap();
    let proxy = Proxy::start_with(&[
        ("authentication.method", "BASIC"),
        (
            "authentication.credentials.file",
            credentials.to_str().unwrap(),
        ),
    ])
    .await;
    let r = get(&format!("{}/healthy", proxy.url), "*/*").await;
    assert_eq!(
        (r.status, r.json()),
        (200, json!({"status": "UP"})),
        "{r:?}"
    );
    let r = get(&format!("{}/ready", proxy.url), "*/*").await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.json()["status"], "READY");
    assert!(r.json()["kafka"]["brokers"].as_u64().unwrap() >= 1, "{r:?}");
    // Everything else still needs credentials.
    get(&format!("{}/topics", proxy.url), V2)
        .await
        .assert_error(401, 401);
    proxy.stop().await;

    // Against an address where no broker listens: not ready, naming it.
    let dead = format!("127.0.0.1:{}", free_port());
    let proxy = Proxy::start_on(&dead, &[]).await;
    let r = get(&format!("{}/healthy", proxy.url), "*/*").await;
    assert_eq!(r.status, 200);
    let r = get(&format!("{}/ready", proxy.url), "*/*").await;
    let message = r.assert_error(503, 503);
    assert!(message.contains(&dead), "{message}");
    proxy.stop().await;
    let _ = std::fs::remove_file(credentials);
}

/// With the built-in registry on and Kafka not there yet, the proxy waits (logging where it
/// looks) instead of exiting, and serves once a broker appears at that address.
#[tokio::test]
async fn start_up_waits_for_kafka() {
    let port = free_port();
    let bootstrap = format!("127.0.0.1:{port}");
    let url = format!("http://127.0.0.1:{}", free_port());
    let registry = format!("http://127.0.0.1:{}", free_port());
    let mut child = Command::new(BIN)
        .args([
            "--bootstrap-servers",
            &bootstrap,
            "--listeners",
            &url,
            "--schema-registry-listeners",
            &registry,
            "--log-format",
            "json",
        ])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let deadline = Instant::now() + Duration::from_secs(30);
    let waiting = loop {
        let line = tokio::time::timeout_at(deadline.into(), lines.next_line())
            .await
            .expect("a log line within 30 s")
            .unwrap()
            .expect("the proxy keeps running");
        let event: Value = serde_json::from_str(&line).expect("JSON log lines");
        if event["message"]
            .as_str()
            .is_some_and(|m| m.contains("waiting for Kafka"))
        {
            break event;
        }
    };
    assert_eq!(waiting["bootstrap"], json!(bootstrap), "{waiting}");
    assert_eq!(waiting["level"], "WARN");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(child.try_wait().unwrap().is_none(), "the proxy exited");

    // A broker appears at that address: the registry opens and the proxy serves.
    let _broker = local_broker::LocalBroker::start_on_port(port).unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(r) = http().get(format!("{url}/ready")).send().await {
            if r.status() == 200 {
                break;
            }
        }
        assert!(Instant::now() < deadline, "never became ready");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let r = get(&format!("{registry}/subjects"), "*/*").await;
    assert_eq!(r.status, 200, "{r:?}");
    let _ = child.kill().await;
}

/// `--log-format json`: one JSON object per line; the access log has a line per request with
/// its method, path, status, bytes and µs.
#[tokio::test]
async fn json_access_log() {
    let url = format!("http://127.0.0.1:{}", free_port());
    let mut child = Command::new(BIN)
        .args([
            "--bootstrap-servers",
            &broker().bootstrap,
            "--listeners",
            &url,
            "--schema-registry-listeners",
            "",
            "--log-format",
            "json",
        ])
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    wait_for(&format!("{url}/healthy")).await;
    let r = get(&format!("{url}/topics/no-such-topic-here"), V2).await;
    assert_eq!(r.status, 404);
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let deadline = Instant::now() + Duration::from_secs(20);
    let access = loop {
        let line = tokio::time::timeout_at(deadline.into(), lines.next_line())
            .await
            .expect("an access line within 20 s")
            .unwrap()
            .expect("the proxy keeps running");
        let event: Value = serde_json::from_str(&line).expect("JSON log lines");
        if event["target"] == "access" && event["path"] == "/topics/no-such-topic-here" {
            break event;
        }
    };
    assert_eq!(access["method"], "GET", "{access}");
    assert_eq!(access["status"], 404, "{access}");
    assert_eq!(access["api"], "rest", "{access}");
    assert!(access["us"].as_u64().is_some(), "{access}");
    assert!(access["bytes"].as_u64().unwrap() > 0, "{access}");
    let _ = child.kill().await;
}

/// `GET /metrics`: requests by route and status with µs latency histograms, produce records,
/// bytes and Kafka's part of the time, consumer instances, in Prometheus' text format.
#[tokio::test]
async fn prometheus_metrics() {
    let proxy = Proxy::start().await;
    let topic = unique("metrics");
    create_topic(&topic, 1).await;
    produce_json(&proxy, &topic, 0, &[json!(1), json!(2), json!(3)]).await;
    get(&format!("{}/topics/{topic}", proxy.url), V2).await;
    let base = create_consumer(&proxy, &unique("metrics-group"), json!({"format": "json"})).await;
    // Methods a client makes up are counted, under one label value.
    for method in ["BREW", "WHEN"] {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let r = reqwest::Client::new()
            .request(method, format!("{}/topics", proxy.url))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 405);
    }
    let r = get(&format!("{}/metrics", proxy.url), "*/*").await;
    assert_eq!(r.status, 200);
    assert!(
        r.content_type.as_deref().unwrap().starts_with("text/plain"),
        "{r:?}"
    );
    let text = r.text;
    let produced = sample(
        &text,
        "kafka_proxy_http_requests_total",
        &[
            "api=\"rest\"",
            "method=\"POST\"",
            "route=\"/topics/{topic}/partitions/{partition}\"",
            "status=\"200\"",
        ],
    );
    assert!(produced.is_some_and(|n| n >= 1.0), "{text}");
    assert!(
        sample(
            &text,
            "kafka_proxy_http_requests_total",
            &["method=\"other\"", "status=\"405\""]
        )
        .is_some_and(|n| n >= 2.0),
        "{text}"
    );
    assert!(!text.contains("BREW") && !text.contains("WHEN"), "{text}");
    assert!(
        sample(
            &text,
            "kafka_proxy_produce_records_total",
            &["format=\"json\""]
        )
        .is_some_and(|n| n >= 3.0),
        "{text}"
    );
    assert!(
        sample(
            &text,
            "kafka_proxy_produce_kafka_duration_us_count",
            &["format=\"json\""]
        )
        .is_some_and(|n| n >= 1.0),
        "{text}"
    );
    assert!(
        sample(
            &text,
            "kafka_proxy_http_request_duration_us_bucket",
            &["route=\"/topics/{topic}\"", "le=\"+Inf\""]
        )
        .is_some_and(|n| n >= 1.0),
        "{text}"
    );
    assert!(
        sample(&text, "kafka_proxy_consumer_instances", &[]).is_some_and(|n| n >= 1.0),
        "{text}"
    );
    // The batch engine answered the produce request: nothing left in flight.
    assert_eq!(
        sample(&text, "kafka_proxy_batch_in_flight_requests", &[]),
        Some(0.0),
        "{text}"
    );
    // ...in at least one Produce request, counted with its records.
    assert!(
        sample(&text, "kafka_proxy_batch_requests_total", &[]).is_some_and(|n| n >= 1.0),
        "{text}"
    );
    assert!(
        sample(&text, "kafka_proxy_batch_records_total", &[]).is_some_and(|n| n >= 1.0),
        "{text}"
    );
    // A path with names is one series per route, not per name.
    assert!(!text.contains(&topic), "topic names do not become labels");
    send(http().delete(&base)).await;

    // Consumer lag: an instance that read 1 of 10 records lags by 9.
    let lagging = unique("lag");
    create_topic(&lagging, 1).await;
    let values: Vec<Value> = (0..10).map(|i| json!(i)).collect();
    produce_json(&proxy, &lagging, 0, &values).await;
    let group = unique("lag-group");
    let base = create_consumer(
        &proxy,
        &group,
        json!({"name": "slow", "format": "json", "auto.offset.reset": "earliest"}),
    )
    .await;
    assign(&base, &lagging, &[0]).await;
    let mut read = Vec::new();
    for _ in 0..20 {
        let r = get(
            &format!("{base}/records?timeout=1000&max_bytes=1"),
            "application/vnd.kafka.json.v2+json",
        )
        .await;
        read.extend(r.json().as_array().unwrap().clone());
        if !read.is_empty() {
            break;
        }
    }
    assert_eq!(read.len(), 1, "{read:?}");
    let text = get(&format!("{}/metrics", proxy.url), "*/*").await.text;
    let lag = sample(
        &text,
        "kafka_proxy_consumer_lag",
        &[&format!("group=\"{group}\""), "instance=\"slow\""],
    );
    assert_eq!(lag, Some(9.0), "{text}");
    send(http().delete(&base)).await;
    proxy.stop().await;
}

/// With the broker down, librdkafka reports every failed attempt of every client; the log keeps
/// one line per kind of failure per 30 s (it had about 150 lines in 15 s), still naming the
/// address.
#[tokio::test]
async fn librdkafka_lines_are_summarised() {
    let dead = format!("127.0.0.1:{}", free_port());
    let url = format!("http://127.0.0.1:{}", free_port());
    let mut child = Command::new(BIN)
        .args([
            "--bootstrap-servers",
            &dead,
            "--listeners",
            &url,
            "--schema-registry-listeners",
            "",
            "--log-format",
            "json",
        ])
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    wait_for(&format!("{url}/healthy")).await;
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let until = Instant::now() + Duration::from_secs(12);
    let mut kafka_lines = Vec::new();
    let mut probes = tokio::time::interval(Duration::from_millis(500));
    loop {
        tokio::select! {
            _ = tokio::time::sleep_until(until.into()) => break,
            _ = probes.tick() => {
                // Keep the clients trying: every probe asks Kafka for metadata.
                let _ = http().get(format!("{url}/ready")).send().await;
            }
            line = lines.next_line() => {
                let Some(line) = line.unwrap() else { break };
                let event: Value = serde_json::from_str(&line).expect("JSON log lines");
                if event["target"] == "librdkafka" {
                    kafka_lines.push(event);
                }
            }
        }
    }
    assert!(!kafka_lines.is_empty(), "the failure is logged");
    assert!(
        kafka_lines.len() <= 20,
        "{} librdkafka lines in 12 s: {kafka_lines:#?}",
        kafka_lines.len()
    );
    assert!(
        kafka_lines.iter().any(|e| e.to_string().contains(&dead)),
        "the address is named: {kafka_lines:#?}"
    );
    let _ = child.kill().await;
}

/// MQTT in `/metrics`: publishes by QoS and the acknowledgement latency histogram.
#[tokio::test]
async fn mqtt_metrics() {
    let (proxy, port) = common::mqtt::start_mqtt(&[]).await;
    ensure_topic("temperature", 1).await;
    let topic = format!("{}/engine/temperature", unique("metrics-car"));
    let (ok, err) =
        common::mqtt::mosquitto_pub(port, &["-q", "1", "-t", &topic, "-m", "190F"]).await;
    assert!(ok, "{err}");
    let text = get(&format!("{}/metrics", proxy.url), "*/*").await.text;
    assert!(
        sample(&text, "kafka_proxy_mqtt_publishes_total", &["qos=\"1\""]).is_some_and(|n| n >= 1.0),
        "{text}"
    );
    assert!(
        sample(&text, "kafka_proxy_mqtt_ack_duration_us_count", &[]).is_some_and(|n| n >= 1.0),
        "{text}"
    );
    assert!(
        sample(&text, "kafka_proxy_mqtt_connections", &[]).is_some(),
        "{text}"
    );
    proxy.stop().await;
}
