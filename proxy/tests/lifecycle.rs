//! The `kafka-proxy` binary: configuration errors, and graceful shutdown on SIGTERM.

mod common;

use std::process::Stdio;
use std::time::{Duration, Instant};

use common::*;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::ClientConfig;
use serde_json::{json, Value};
use tokio::process::{Child, Command};

const BIN: &str = env!("CARGO_BIN_EXE_kafka-proxy");

async fn run_to_exit(args: &[&str], env: &[(&str, &str)]) -> (i32, String) {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = tokio::time::timeout(Duration::from_secs(20), cmd.output())
        .await
        .expect("exits")
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

#[tokio::test]
async fn invalid_configuration_exits_2_naming_the_key() {
    let b = "127.0.0.1:1";
    let (code, err) = run_to_exit(&["--bootstrap-servers", b, "--set", "bogus.key=1"], &[]).await;
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("bogus.key"), "{err}");

    let (code, err) = run_to_exit(
        &["--bootstrap-servers", b],
        &[("KAFKA_REST_CONSUMER_REQUEST_TIMEOUT_MS", "soon")],
    )
    .await;
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("consumer.request.timeout.ms"), "{err}");

    let file = std::env::temp_dir().join(format!("{}.properties", unique("cfg")));
    std::fs::write(
        &file,
        format!("bootstrap.servers={b}\nlisteners=http://127.0.0.1:0\nfetch.min.bytes=-7\n"),
    )
    .unwrap();
    let (code, err) = run_to_exit(&["--config", file.to_str().unwrap()], &[]).await;
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("fetch.min.bytes"), "{err}");

    let (code, err) = run_to_exit(&["--listeners", "http://127.0.0.1:0"], &[]).await;
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("bootstrap.servers"), "{err}");

    // librdkafka rejects an unknown pass-through property: also exit 2, naming it.
    let (code, err) = run_to_exit(
        &[
            "--bootstrap-servers",
            b,
            "--listeners",
            "http://127.0.0.1:0",
            "--set",
            "producer.no.such.property=1",
        ],
        &[],
    )
    .await;
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("no.such.property"), "{err}");
    let (code, err) = run_to_exit(
        &[
            "--bootstrap-servers",
            b,
            "--listeners",
            "http://127.0.0.1:0",
            "--set",
            "consumer.bogus.setting=1",
        ],
        &[],
    )
    .await;
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("bogus.setting"), "{err}");
}

struct Running {
    child: Child,
    url: String,
}

async fn start_binary(extra: &[&str]) -> Running {
    let registry = format!("http://127.0.0.1:{}", free_port());
    start_binary_with_registry(&registry, extra).await
}

/// Starts the binary with its built-in Schema Registry on `registry`.
async fn start_binary_with_registry(registry: &str, extra: &[&str]) -> Running {
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let mut args = vec![
        "--bootstrap-servers".to_string(),
        broker().bootstrap.clone(),
        "--listeners".into(),
        url.clone(),
        "--schema-registry-listeners".into(),
        registry.to_string(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    let child = Command::new(BIN)
        .args(&args)
        .kill_on_drop(true)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while http().get(format!("{url}/")).send().await.is_err() {
        assert!(Instant::now() < deadline, "proxy did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Running { child, url }
}

async fn sigterm(child: &Child) {
    let pid = child.id().unwrap().to_string();
    let status = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .await
        .unwrap();
    assert!(status.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_finishes_in_flight_requests_and_closes_instances() {
    // A member that vanished without leaving would hold its partitions for 30 s.
    let mut proxy = start_binary(&["--set", "consumer.session.timeout.ms=30000"]).await;
    let topic = unique("shutdown");
    create_topic(&topic, 2).await;
    let group = unique("g");
    let r = post(
        &format!("{}/consumers/{group}", proxy.url),
        V2,
        &json!({"name": "c", "format": "json"}),
    )
    .await;
    let base = r.json()["base_uri"].as_str().unwrap().to_string();
    subscribe(&base, &[&topic]).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        get(&format!("{base}/records"), JSON).await;
        let a = get(&format!("{base}/assignments"), V2).await.json();
        if a["partitions"].as_array().unwrap().len() == 2 {
            break;
        }
        assert!(Instant::now() < deadline, "never assigned: {a}");
    }

    // A long-poll in flight when SIGTERM arrives still gets its answer.
    let in_flight = tokio::spawn({
        let url = format!("{base}/records?timeout=3000");
        async move { get(&url, JSON).await }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    sigterm(&proxy.child).await;
    let r = in_flight.await.unwrap();
    assert_eq!((r.status, r.text.as_str()), (200, "[]"));
    let status = tokio::time::timeout(Duration::from_secs(20), proxy.child.wait())
        .await
        .expect("exits")
        .unwrap();
    assert_eq!(status.code(), Some(0));
    // New connections are refused.
    assert!(http().get(format!("{}/", proxy.url)).send().await.is_err());

    // The instance left the group: a new member gets both partitions well before 30 s.
    let start = Instant::now();
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &broker().bootstrap)
        .set("group.id", &group)
        .set("session.timeout.ms", "30000")
        .create()
        .unwrap();
    consumer.subscribe(&[&topic]).unwrap();
    while consumer.assignment().unwrap().count() < 2 {
        consumer.poll(Duration::from_millis(100));
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "old member still in the group"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_flushes_acknowledged_produce_requests() {
    let mut proxy = start_binary(&["--set", "producer.linger.ms=200"]).await;
    let topic = unique("flush");
    create_topic(&topic, 1).await;
    let url = format!("{}/topics/{topic}", proxy.url);
    let req = tokio::spawn(async move {
        post(&url, JSON, &json!({"records": [{"value": "last words"}]})).await
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    sigterm(&proxy.child).await;
    let r = req.await.unwrap();
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(proxy.child.wait().await.unwrap().code(), Some(0));
    let got = read_all(&topic, 1, 1, Duration::from_secs(10));
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].value.as_deref(), Some(&b"\"last words\""[..]));
}

/// The binary's built-in registry keeps its ids over a restart (state read back from its topic),
/// and new ids continue after the highest one.
#[tokio::test]
async fn binary_restart_keeps_registry_ids() {
    let registry = format!("http://127.0.0.1:{}", free_port());
    let topic = format!("schema.registry.topic={}", unique("schemas"));
    let user = r#"{"type":"record","name":"User","fields":[{"name":"name","type":"string"}]}"#;
    let reading = r#"syntax = "proto3"; message Reading { double celsius = 1; }"#;
    let register = |subject: &'static str, body: Value| {
        let url = format!("{registry}/subjects/{subject}/versions");
        async move {
            let r = sr_post(&url, body).await;
            assert_eq!(r.status, 200, "{r:?}");
            r.json()["id"].as_i64().unwrap()
        }
    };
    let mut proxy = start_binary_with_registry(&registry, &["--set", &topic]).await;
    wait_for(&format!("{registry}/subjects")).await;
    let user_id = register("users-value", json!({"schema": user})).await;
    let reading_id = register(
        "readings-value",
        json!({"schema": reading, "schemaType": "PROTOBUF"}),
    )
    .await;
    sigterm(&proxy.child).await;
    let status = tokio::time::timeout(Duration::from_secs(20), proxy.child.wait())
        .await
        .expect("exits after SIGTERM")
        .unwrap();
    assert!(status.success(), "{status}");

    let _proxy = start_binary_with_registry(&registry, &["--set", &topic]).await;
    wait_for(&format!("{registry}/subjects")).await;
    let r = sr_get(&format!("{registry}/schemas/ids/{reading_id}")).await;
    assert_eq!(r.json()["schemaType"], "PROTOBUF", "{r:?}");
    assert_eq!(
        sr_get(&format!("{registry}/subjects")).await.json(),
        json!(["readings-value", "users-value"])
    );
    assert_eq!(
        register("users-value", json!({"schema": user})).await,
        user_id
    );
    let next = register(
        "other-value",
        json!({"schema": r#"{"type":"enum","name":"E","symbols":["A"]}"#}),
    )
    .await;
    assert!(next > user_id.max(reading_id), "ids continue: {next}");
}
