//! The seed's flows, run with the seed's own clients: its Python `requests` scripts and its curl
//! calls, against the proxy on the real broker. Only the host name is changed.

mod common;

use std::time::Duration;

use common::*;
use serde_json::{json, Value};
use tokio::process::Command;

/// Runs a seed script with `restproxy:8082` pointed at `proxy`; returns stdout.
async fn run_python(script: &str, proxy: &Proxy) -> String {
    let path = format!("{}/tests/seed/{script}", env!("CARGO_MANIFEST_DIR"));
    let source = std::fs::read_to_string(&path).unwrap();
    let host = proxy.url.trim_start_matches("http://");
    let patched = std::env::temp_dir().join(format!("{}-{script}", unique("seed")));
    std::fs::write(&patched, source.replace("restproxy:8082", host)).unwrap();
    let out = Command::new("python3")
        .arg(&patched)
        .output()
        .await
        .expect("python3");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{script} failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// POSTs `data` as `vnd.kafka.v2+json` with curl; returns (HTTP status, body).
async fn curl_post_v2(data: &str, url: &str) -> (u16, String) {
    curl(&[
        "-X",
        "POST",
        "-H",
        "Content-Type: application/vnd.kafka.v2+json",
        "--data",
        data,
        url,
    ])
    .await
}

/// Runs curl with the given arguments; returns (HTTP status, body).
async fn curl(args: &[&str]) -> (u16, String) {
    let out = Command::new("curl")
        .args(["-s", "-w", "\n%{http_code}"])
        .args(args)
        .output()
        .await
        .expect("curl");
    let text = String::from_utf8(out.stdout).unwrap();
    let (body, status) = text.rsplit_once('\n').unwrap();
    (status.parse().unwrap(), body.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_producer_script() {
    let proxy = Proxy::start().await;
    create_topic("my_topic", 1).await;
    let out = run_python("producer.py", &proxy).await;
    assert_eq!(out, "", "the script prints only on failure");
    let got = read_all("my_topic", 1, 1, Duration::from_secs(10));
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].key.as_deref(), Some(&b"\"firstkey\""[..]));
    assert_eq!(got[0].value.as_deref(), Some(&b"\"firstvalue\""[..]));
    proxy.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_consumer_script() {
    // The lab's proxy is configured to read topics from the start (the script sets no reset).
    let proxy = Proxy::start_with(&[("consumer.auto.offset.reset", "earliest")]).await;
    create_topic("hello_world_topic", 1).await;
    let body =
        json!({"records": [{"key": "k1", "value": "hello"}, {"key": "k2", "value": "world"}]});
    assert_eq!(
        post(
            &format!("{}/topics/hello_world_topic", proxy.url),
            JSON,
            &body
        )
        .await
        .status,
        200
    );
    let out = run_python("consumer.py", &proxy).await;
    assert_eq!(
        out,
        "Message Key:k1\nMessage Value:hello\nMessage Key:k2\nMessage Value:world\n"
    );
    // The script deleted its instance.
    let r = get(
        &format!(
            "{}/consumers/group1/instances/my_consumer/subscription",
            proxy.url
        ),
        V2,
    )
    .await;
    r.assert_error(404, 40403);
    proxy.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_manual_commit_script() {
    let proxy = Proxy::start_with(&[("consumer.auto.offset.reset", "earliest")]).await;
    create_topic("manual_topic", 1).await;
    let body = json!({"records": [{"value": "YQ=="}, {"value": "Yg=="}]});
    assert_eq!(
        post(&format!("{}/topics/manual_topic", proxy.url), BINARY, &body)
            .await
            .status,
        200
    );
    let out = run_python("manual_commit.py", &proxy).await;
    assert_eq!(out, "Read 2\nCommitted\n");
    // The body-less commit stored "next offset to read" = 2 for the group.
    use rdkafka::consumer::Consumer;
    let c = native_consumer(Some("manual_group"));
    let mut tpl = rdkafka::TopicPartitionList::new();
    tpl.add_partition("manual_topic", 0);
    let committed = c.committed_offsets(tpl, Duration::from_secs(10)).unwrap();
    assert_eq!(committed.elements()[0].offset(), rdkafka::Offset::Offset(2));
    proxy.stop().await;
}

/// The seed's binary flow (screenshots 1-4), with curl, byte for byte.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curl_binary_flow() {
    let proxy = Proxy::start().await;
    create_topic("rest-binary", 1).await;
    let url = &proxy.url;
    let (status, body) = curl(&[
        "-X", "POST",
        "-H", "Content-Type: application/vnd.kafka.binary.v2+json",
        "-H", "Accept: application/vnd.kafka.v2+json",
        "--data", r#"{"records":[{"key":"a2V5","value":"aGVsbG8gd29ybGQhISE="},{"value":"XCJyYW5kb206JSQh","partition":0},{"value":"bm8gcGFydGl0aW9ucw=="}]}"#,
        &format!("{url}/topics/rest-binary"),
    ])
    .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = curl_post_v2(r#"{"name": "my_consumer_binary", "format": "binary", "auto.offset.reset": "earliest", "auto.commit.enable": "false"}"#, &format!("{url}/consumers/my-consumer-group")).await;
    assert_eq!(status, 200, "{body}");
    let base = format!("{url}/consumers/my-consumer-group/instances/my_consumer_binary");
    let (status, _) = curl_post_v2(
        r#"{"topics": ["rest-binary"]}"#,
        &format!("{base}/subscription"),
    )
    .await;
    assert_eq!(status, 204);
    let records_url = format!("{base}/records?timeout=3000&max_bytes=300000");
    let mut body = String::new();
    for _ in 0..10 {
        let (status, b) = curl(&[
            "-H",
            "Accept: application/vnd.kafka.binary.v2+json",
            &records_url,
        ])
        .await;
        assert_eq!(status, 200, "{b}");
        body = b;
        if body != "[]" {
            break;
        }
    }
    assert_eq!(
        body,
        r#"[{"topic":"rest-binary","key":"a2V5","value":"aGVsbG8gd29ybGQhISE=","partition":0,"offset":0},{"topic":"rest-binary","key":null,"value":"XCJyYW5kb206JSQh","partition":0,"offset":1},{"topic":"rest-binary","key":null,"value":"bm8gcGFydGl0aW9ucw==","partition":0,"offset":2}]"#
    );
    let (status, body) = curl_post_v2(
        r#"{"offsets": [{"topic": "rest-binary", "partition": 0, "offset": 2}]}"#,
        &format!("{base}/offsets"),
    )
    .await;
    assert_eq!((status, body.as_str()), (200, "[]"));
    let (status, _) = curl(&["-X", "DELETE", &base]).await;
    assert_eq!(status, 204);
    proxy.stop().await;
}

/// The seed's JSON flow: produce the three JSON records, consume them back unchanged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curl_json_flow() {
    let proxy = Proxy::start().await;
    create_topic("rest-json", 1).await;
    let url = &proxy.url;
    let produce = r#"{"records":[{"key":"somekey","value":{"foo":"bar"}},{"value":["foo","bar"],"partition":0},{"value":53.5}]}"#;
    let (status, body) = curl(&[
        "-X",
        "POST",
        "-H",
        "Content-Type: application/vnd.kafka.json.v2+json",
        "--data",
        produce,
        &format!("{url}/topics/rest-json"),
    ])
    .await;
    assert_eq!(status, 200, "{body}");
    let base = create_consumer(&proxy, "json-group", json!({"name": "my_consumer_json", "format": "json", "auto.offset.reset": "earliest", "auto.commit.enable": "false"})).await;
    let (status, _) = curl_post_v2(
        r#"{"topics":["rest-json"]}"#,
        &format!("{base}/subscription"),
    )
    .await;
    assert_eq!(status, 204);
    let mut body = String::new();
    for _ in 0..10 {
        let (status, b) = curl(&[
            "-H",
            "Accept: application/vnd.kafka.json.v2+json",
            &format!("{base}/records"),
        ])
        .await;
        assert_eq!(status, 200, "{b}");
        body = b;
        if body != "[]" {
            break;
        }
    }
    assert_eq!(
        body,
        r#"[{"topic":"rest-json","key":"somekey","value":{"foo":"bar"},"partition":0,"offset":0},{"topic":"rest-json","key":null,"value":["foo","bar"],"partition":0,"offset":1},{"topic":"rest-json","key":null,"value":53.5,"partition":0,"offset":2}]"#
    );
    let parsed: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(parsed.as_array().unwrap().len(), 3);
    let (status, _) = curl(&["-X", "DELETE", &base]).await;
    assert_eq!(status, 204);
    proxy.stop().await;
}
