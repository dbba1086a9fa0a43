//! Test fixtures: a real Tansu broker on a free loopback port (one per test binary), an in-process
//! proxy per test, native rdkafka helpers, and an HTTP client.
#![allow(dead_code)]

pub mod mqtt;
pub mod process;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Headers;
use rdkafka::message::Message;
use rdkafka::ClientConfig;
use serde_json::{json, Value};
use tokio::sync::oneshot;

pub const V2: &str = "application/vnd.kafka.v2+json";
pub const BINARY: &str = "application/vnd.kafka.binary.v2+json";
pub const JSON: &str = "application/vnd.kafka.json.v2+json";

/// The broker every test of this binary shares.
pub struct Broker {
    pub bootstrap: String,
}

static BROKER: OnceLock<Broker> = OnceLock::new();

/// The shared broker, started on first use: Tansu, or Apache Kafka in Docker with
/// `KAFKA_TEST_BROKER=docker`. `KAFKA_TEST_BOOTSTRAP` points the tests at an already running
/// broker instead.
pub fn broker() -> &'static Broker {
    BROKER.get_or_init(|| {
        if let Ok(bootstrap) = std::env::var("KAFKA_TEST_BOOTSTRAP") {
            return Broker { bootstrap };
        }
        let kind = local_broker::BrokerKind::from_env().unwrap_or_else(|e| panic!("{e}"));
        let bootstrap = local_broker::Broker::start(kind)
            .unwrap_or_else(|e| panic!("starting the test broker: {e}"))
            .keep_for_process();
        wait_for_broker(&bootstrap);
        Broker { bootstrap }
    })
}

pub fn free_port() -> u16 {
    local_broker::free_port().unwrap()
}

fn wait_for_broker(bootstrap: &str) {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if consumer
            .fetch_metadata(None, Duration::from_secs(1))
            .is_ok()
        {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "broker at {bootstrap} did not come up"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A name unique in this test run.
pub fn unique(prefix: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// Creates a topic through the admin API and waits until metadata shows it.
pub async fn create_topic(name: &str, partitions: i32) {
    create_topic_on(&broker().bootstrap, name, partitions).await
}

/// Creates `name` unless it exists (for fixed names several tests share, as the seed's).
pub async fn ensure_topic(name: &str, partitions: i32) {
    static CREATED: tokio::sync::Mutex<Vec<String>> = tokio::sync::Mutex::const_new(Vec::new());
    let mut created = CREATED.lock().await;
    if !created.iter().any(|t| t == name) {
        create_topic(name, partitions).await;
        created.push(name.to_string());
    }
}

/// [`create_topic`] on a given broker.
pub async fn create_topic_on(bootstrap: &str, name: &str, partitions: i32) {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .unwrap();
    let topic = NewTopic::new(name, partitions, TopicReplication::Fixed(1));
    let res = admin
        .create_topics([&topic], &AdminOptions::new())
        .await
        .unwrap();
    for r in res {
        r.unwrap_or_else(|(t, e)| panic!("create topic {t}: {e}"));
    }
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let md = consumer
            .fetch_metadata(Some(name), Duration::from_secs(2))
            .unwrap();
        if md.topics().iter().any(|t| {
            t.name() == name && t.error().is_none() && t.partitions().len() == partitions as usize
        }) {
            return;
        }
        assert!(Instant::now() < deadline, "topic {name} never appeared");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A native consumer (no group unless given).
pub fn native_consumer(group: Option<&str>) -> BaseConsumer {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", &broker().bootstrap)
        .set("enable.partition.eof", "false");
    if let Some(g) = group {
        c.set("group.id", g).set("auto.offset.reset", "earliest");
    }
    c.create().unwrap()
}

/// One record read natively.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NativeRecord {
    pub partition: i32,
    pub offset: i64,
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
    pub headers: Vec<(String, Vec<u8>)>,
    /// CreateTime (or LogAppendTime) in ms.
    pub timestamp: Option<i64>,
}

/// Reads every record of `topic` from the beginning with a native client, until `expected`
/// records arrived or `quiet` passes without a new one.
pub fn read_all(
    topic: &str,
    partitions: i32,
    expected: usize,
    quiet: Duration,
) -> Vec<NativeRecord> {
    read_all_on(&broker().bootstrap, topic, partitions, expected, quiet)
}

/// [`read_all`] on a given broker.
pub fn read_all_on(
    bootstrap: &str,
    topic: &str,
    partitions: i32,
    expected: usize,
    quiet: Duration,
) -> Vec<NativeRecord> {
    // librdkafka wants a group even for a manual assignment; nothing is committed.
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", unique("reader"))
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "false")
        .create()
        .unwrap();
    let mut tpl = rdkafka::TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition_offset(topic, p, rdkafka::Offset::Beginning)
            .unwrap();
    }
    consumer.assign(&tpl).unwrap();
    let mut out = Vec::new();
    let mut last = Instant::now();
    while out.len() < expected || last.elapsed() < Duration::from_millis(300) {
        if last.elapsed() > quiet {
            break;
        }
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => {
                out.push(NativeRecord {
                    partition: m.partition(),
                    offset: m.offset(),
                    key: m.key().map(<[u8]>::to_vec),
                    value: m.payload().map(<[u8]>::to_vec),
                    headers: m
                        .headers()
                        .map(|h| {
                            h.iter()
                                .map(|h| (h.key.to_string(), h.value.unwrap_or_default().to_vec()))
                                .collect()
                        })
                        .unwrap_or_default(),
                    timestamp: m.timestamp().to_millis(),
                });
                last = Instant::now();
            }
            Some(Err(e)) => panic!("native consume of {topic}: {e}"),
            None => {}
        }
    }
    out
}

/// A proxy running in-process on a free loopback port.
pub struct Proxy {
    pub url: String,
    /// The built-in Schema Registry, when started with it.
    pub registry_url: Option<String>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

impl Proxy {
    pub async fn start() -> Proxy {
        Self::start_with(&[]).await
    }

    /// Starts a proxy with extra `key=value` configuration.
    pub async fn start_with(extra: &[(&str, &str)]) -> Proxy {
        Self::start_on(&broker().bootstrap, extra).await
    }

    /// Starts a proxy against a given broker (without the built-in Schema Registry).
    pub async fn start_on(bootstrap: &str, extra: &[(&str, &str)]) -> Proxy {
        Self::launch(bootstrap, extra, false).await
    }

    /// Starts a proxy with its built-in Schema Registry on a free port (`registry_url`).
    pub async fn start_with_registry(extra: &[(&str, &str)]) -> Proxy {
        Self::launch(&broker().bootstrap, extra, true).await
    }

    async fn launch(bootstrap: &str, extra: &[(&str, &str)], registry: bool) -> Proxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut props: BTreeMap<String, String> = BTreeMap::new();
        props.insert("bootstrap.servers".into(), bootstrap.to_string());
        props.insert("listeners".into(), format!("http://{addr}"));
        let mut registry_listeners = Vec::new();
        let mut registry_url = None;
        if registry {
            let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let url = format!("http://{}", l.local_addr().unwrap());
            props.insert("schema.registry.listeners".into(), url.clone());
            registry_url = Some(url);
            registry_listeners.push(l);
        } else {
            props.insert("schema.registry.listeners".into(), String::new());
        }
        for (k, v) in extra {
            props.insert(k.to_string(), v.to_string());
        }
        let (config, _) = kafka_proxy::Config::from_properties(&props).unwrap();
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(kafka_proxy::serve_all(
            config,
            vec![listener],
            registry_listeners,
            async {
                let _ = rx.await;
            },
        ));
        Proxy {
            url: format!("http://{addr}"),
            registry_url,
            stop: Some(tx),
            task: Some(task),
        }
    }

    /// Graceful shutdown; returns when the proxy has closed everything.
    pub async fn stop(mut self) {
        self.stop.take().map(|s| s.send(()));
        if let Some(task) = self.task.take() {
            task.await.unwrap().unwrap();
        }
    }
}

pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}

/// A response reduced to what tests assert on.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub content_type: Option<String>,
    pub text: String,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.text))
    }

    /// Asserts an error in Confluent's shape and returns its message.
    pub fn assert_error(&self, status: u16, code: u64) -> String {
        assert_eq!(self.status, status, "{self:?}");
        let body = self.json();
        assert_eq!(body["error_code"].as_u64(), Some(code), "{self:?}");
        assert_eq!(
            body.as_object().unwrap().len(),
            2,
            "only error_code and message: {self:?}"
        );
        body["message"]
            .as_str()
            .expect("message is a string")
            .to_string()
    }
}

pub async fn send(req: reqwest::RequestBuilder) -> Reply {
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let content_type = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string());
    Reply {
        status,
        content_type,
        text: resp.text().await.unwrap(),
    }
}

/// POST a JSON body with the given Content-Type.
pub async fn post(url: &str, content_type: &str, body: &Value) -> Reply {
    send(
        http()
            .post(url)
            .header("content-type", content_type)
            .body(body.to_string()),
    )
    .await
}

pub async fn get(url: &str, accept: &str) -> Reply {
    send(http().get(url).header("accept", accept)).await
}

/// Creates a consumer instance and returns its base URI.
pub async fn create_consumer(proxy: &Proxy, group: &str, body: Value) -> String {
    let r = post(&format!("{}/consumers/{group}", proxy.url), V2, &body).await;
    assert_eq!(r.status, 200, "{r:?}");
    r.json()["base_uri"].as_str().unwrap().to_string()
}

/// GETs records until `n` arrived (or `deadline` passes), returning them all.
pub async fn read_records(
    base_uri: &str,
    accept: &str,
    n: usize,
    deadline: Duration,
) -> Vec<Value> {
    let end = Instant::now() + deadline;
    let mut out = Vec::new();
    while out.len() < n && Instant::now() < end {
        let r = get(&format!("{base_uri}/records?timeout=1000"), accept).await;
        assert_eq!(r.status, 200, "{r:?}");
        out.extend(r.json().as_array().unwrap().iter().cloned());
    }
    out
}

/// Subscribes an instance to `topics`, asserting 204.
pub async fn subscribe(base_uri: &str, topics: &[&str]) {
    let r = post(
        &format!("{base_uri}/subscription"),
        V2,
        &serde_json::json!({ "topics": topics }),
    )
    .await;
    assert_eq!(r.status, 204, "{r:?}");
}

/// Manually assigns partitions of `topic` to an instance, asserting 204.
pub async fn assign(base_uri: &str, topic: &str, partitions: &[i32]) {
    let list: Vec<Value> = partitions
        .iter()
        .map(|p| serde_json::json!({ "topic": topic, "partition": p }))
        .collect();
    let r = post(
        &format!("{base_uri}/assignments"),
        V2,
        &serde_json::json!({ "partitions": list }),
    )
    .await;
    assert_eq!(r.status, 204, "{r:?}");
}

/// Produces JSON values to one partition, asserting 200.
pub async fn produce_json(proxy: &Proxy, topic: &str, partition: i32, values: &[Value]) {
    let records: Vec<_> = values.iter().map(|v| json!({"value": v})).collect();
    let r = post(
        &format!("{}/topics/{topic}/partitions/{partition}", proxy.url),
        JSON,
        &json!({"records": records}),
    )
    .await;
    assert_eq!(r.status, 200, "{r:?}");
}

/// The value of the first sample of `metric` whose labels include every one of `labels`.
pub fn sample(text: &str, metric: &str, labels: &[&str]) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find(|l| {
            l.starts_with(metric)
                && l[metric.len()..].starts_with(['{', ' '])
                && labels.iter().all(|label| l.contains(label))
        })
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

/// The offsets of consumed records.
pub fn offsets_of(records: &[Value]) -> Vec<i64> {
    records
        .iter()
        .map(|r| r["offset"].as_i64().unwrap())
        .collect()
}

/// Schema Registry's media type.
pub const SR: &str = "application/vnd.schemaregistry.v1+json";

/// A Schema Registry API call.
pub async fn call(method: reqwest::Method, url: &str, body: Option<Value>) -> Reply {
    let mut req = http().request(method, url).header("accept", SR);
    if let Some(b) = body {
        req = req.header("content-type", SR).body(b.to_string());
    }
    send(req).await
}

pub async fn sr_post(url: &str, body: Value) -> Reply {
    call(reqwest::Method::POST, url, Some(body)).await
}

pub async fn sr_get(url: &str) -> Reply {
    call(reqwest::Method::GET, url, None).await
}

pub async fn sr_delete(url: &str) -> Reply {
    call(reqwest::Method::DELETE, url, None).await
}

pub async fn sr_put(url: &str, body: Value) -> Reply {
    call(reqwest::Method::PUT, url, Some(body)).await
}

/// Waits until `url` answers 200 (a registry has read its topic), for at most 30 s.
pub async fn wait_for(url: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(r) = http().get(url).send().await {
            if r.status() == 200 {
                return;
            }
        }
        assert!(Instant::now() < deadline, "{url} never answered");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
