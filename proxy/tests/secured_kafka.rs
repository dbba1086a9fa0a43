//! Secured Kafka (issue 16, item 1): librdkafka is built with TLS (OpenSSL), SASL (PLAIN,
//! SCRAM-SHA-256/512, OAUTHBEARER) and every compression codec. TLS is tested end to end through
//! a real TLS terminator (stunnel) in front of the local broker; SASL PLAIN and SCRAM through the
//! local broker's SASL front (`local_broker::sasl`, Tansu 0.6.0 cannot be given a first SCRAM
//! user), alone and behind stunnel (SASL_SSL); compression against the local broker.
//! OAUTHBEARER and GSSAPI have no local server: their test shows only that the clients take them.

mod common;

use std::time::{Duration, Instant};

use common::*;
use local_broker::sasl::{SaslTansu as SaslKafka, TEST_USER as SASL_USER};
use local_broker::tls::TlsTansu as TlsKafka;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::BaseProducer;
use rdkafka::ClientConfig;
use serde_json::{json, Value};

fn tls_config(kafka: &TlsKafka, ca: &std::path::Path) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", kafka.bootstrap())
        .set("security.protocol", "SSL")
        .set("ssl.ca.location", ca.to_str().unwrap());
    c
}

/// The JSON values of `topic`'s first `partitions` partitions from the beginning, read natively
/// with `config` until `expected` arrived (20 s at most), and one more poll: anything beyond
/// `expected` would be a duplicate.
fn read_json(
    mut config: ClientConfig,
    topic: &str,
    partitions: i32,
    expected: usize,
) -> Vec<Value> {
    let consumer: BaseConsumer = config
        .set("group.id", unique("secured-reader"))
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let mut tpl = rdkafka::TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition_offset(topic, p, rdkafka::Offset::Beginning)
            .unwrap();
    }
    consumer.assign(&tpl).unwrap();
    let mut read = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while read.len() < expected && Instant::now() < deadline {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(200)) {
            read.push(serde_json::from_slice::<Value>(m.payload().unwrap()).unwrap());
        }
    }
    if let Some(Ok(m)) = consumer.poll(Duration::from_millis(500)) {
        read.push(serde_json::from_slice::<Value>(m.payload().unwrap()).unwrap());
    }
    read
}

async fn create_tls_topic(kafka: &TlsKafka, name: &str) {
    let admin: AdminClient<DefaultClientContext> = tls_config(kafka, kafka.ca()).create().unwrap();
    let topic = NewTopic::new(name, 1, TopicReplication::Fixed(1));
    for r in admin
        .create_topics([&topic], &AdminOptions::new())
        .await
        .unwrap()
    {
        r.unwrap_or_else(|(t, e)| panic!("create topic {t} over TLS: {e}"));
    }
}

/// Produce and consume through the proxy, whose every Kafka connection is TLS: the records are
/// in Kafka (read back natively over TLS) and come back through a REST consumer.
#[tokio::test]
async fn rest_over_a_tls_kafka_cluster() {
    let kafka = TlsKafka::start().unwrap();
    let topic = unique("tls");
    create_tls_topic(&kafka, &topic).await;
    let ca = kafka.ca().to_str().unwrap().to_string();
    let proxy = Proxy::start_on(
        kafka.bootstrap(),
        &[
            ("client.security.protocol", "SSL"),
            ("client.ssl.ca.location", &ca),
        ],
    )
    .await;
    let values: Vec<Value> = (0..20).map(|i| json!({"n": i})).collect();
    let records: Vec<Value> = values.iter().map(|v| json!({"value": v})).collect();
    let r = post(
        &format!("{}/topics/{topic}", proxy.url),
        JSON,
        &json!({"records": records}),
    )
    .await;
    assert_eq!(r.status, 200, "{r:?}");

    // In Kafka, read over TLS by a native consumer.
    let native = read_json(tls_config(&kafka, kafka.ca()), &topic, 1, values.len());
    assert_eq!(native, values);

    // Back through a REST consumer instance (its own TLS connections).
    let base = create_consumer(
        &proxy,
        &unique("tls-group"),
        json!({"format": "json", "auto.offset.reset": "earliest"}),
    )
    .await;
    subscribe(&base, &[&topic]).await;
    let read = read_records(&base, JSON, values.len(), Duration::from_secs(30)).await;
    let read: Vec<Value> = read.iter().map(|r| r["value"].clone()).collect();
    assert_eq!(read, values);
    proxy.stop().await;
}

/// A cluster whose certificate the configured CA did not sign is refused: the produce request
/// fails within its bounds and writes nothing.
#[tokio::test]
async fn an_untrusted_broker_certificate_is_refused() {
    let kafka = TlsKafka::start().unwrap();
    let topic = unique("tls-untrusted");
    create_tls_topic(&kafka, &topic).await;
    let other = kafka.other_ca().to_str().unwrap().to_string();
    let proxy = Proxy::start_on(
        kafka.bootstrap(),
        &[
            ("client.security.protocol", "SSL"),
            ("client.ssl.ca.location", &other),
            ("produce.metadata.timeout.ms", "2000"),
        ],
    )
    .await;
    let started = Instant::now();
    let r = post(
        &format!("{}/topics/{topic}", proxy.url),
        JSON,
        &json!({"records": [{"value": 1}]}),
    )
    .await;
    assert!(r.status >= 400, "{r:?}");
    assert!(r.json()["error_code"].is_u64(), "{r:?}");
    assert!(started.elapsed() < Duration::from_secs(60), "{r:?}");
    proxy.stop().await;
}

/// The clients take every SASL mechanism and compression codec Kafka has (a librdkafka built
/// without OpenSSL or zstd refuses these at creation: "OpenSSL not available at build time").
#[test]
fn clients_take_every_sasl_mechanism_and_codec() {
    for mechanism in ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER"] {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", "127.0.0.1:1")
            .set("security.protocol", "SASL_SSL")
            .set("sasl.mechanism", mechanism)
            .set("sasl.username", "u")
            .set("sasl.password", "p");
        if mechanism == "OAUTHBEARER" {
            c.set(
                "sasl.oauthbearer.config",
                "principal=admin scope=requiredScope",
            )
            .set("enable.sasl.oauthbearer.unsecure.jwt", "true");
        }
        let created: Result<BaseProducer, _> = c.create();
        assert!(created.is_ok(), "{mechanism}: {:?}", created.err());
    }
    for codec in ["gzip", "snappy", "lz4", "zstd"] {
        let created: Result<BaseProducer, _> = ClientConfig::new()
            .set("bootstrap.servers", "127.0.0.1:1")
            .set("compression.type", codec)
            .create();
        assert!(created.is_ok(), "{codec}: {:?}", created.err());
    }
}

/// Produce with each codec and read the records back natively: gzip, lz4 and zstd are written
/// by the batch engine itself (`produce.engine=batch`), snappy by librdkafka's producer.
#[tokio::test]
async fn compressed_produce_round_trips() {
    for codec in ["gzip", "snappy", "lz4", "zstd"] {
        let topic = unique(&format!("codec-{codec}"));
        create_topic(&topic, 1).await;
        let engine = if codec == "snappy" {
            "librdkafka"
        } else {
            "batch"
        };
        let proxy = Proxy::start_with(&[
            ("producer.compression.type", codec),
            ("produce.engine", engine),
        ])
        .await;
        let values: Vec<Value> = (0..50)
            .map(|i| json!({"codec": codec, "n": i, "pad": "x".repeat(200)}))
            .collect();
        let records: Vec<Value> = values.iter().map(|v| json!({"value": v})).collect();
        let r = post(
            &format!("{}/topics/{topic}", proxy.url),
            JSON,
            &json!({"records": records}),
        )
        .await;
        assert_eq!(r.status, 200, "{codec}: {r:?}");
        let stored = read_all(&topic, 1, values.len(), Duration::from_secs(10));
        let read: Vec<Value> = stored
            .iter()
            .map(|r| serde_json::from_slice(r.value.as_ref().unwrap()).unwrap())
            .collect();
        assert_eq!(read, values, "{codec}");
        proxy.stop().await;
    }
}

/// The batch engine speaks TLS itself (`produce.engine=batch`, no librdkafka): records are
/// written over TLS and read back natively; an untrusted broker certificate fails the request;
/// OAUTHBEARER is not the batch engine's, and `produce.engine=batch` with it stops start-up.
#[tokio::test]
async fn the_batch_engine_over_tls() {
    let kafka = TlsKafka::start().unwrap();
    let topic = unique("tls-batch");
    create_tls_topic(&kafka, &topic).await;
    let ca = kafka.ca().to_str().unwrap().to_string();
    let proxy = Proxy::start_on(
        kafka.bootstrap(),
        &[
            ("client.security.protocol", "SSL"),
            ("client.ssl.ca.location", &ca),
            ("produce.engine", "batch"),
        ],
    )
    .await;
    let values: Vec<Value> = (0..200).map(|i| json!({"batch": i})).collect();
    let records: Vec<Value> = values.iter().map(|v| json!({"value": v})).collect();
    let r = post(
        &format!("{}/topics/{topic}", proxy.url),
        JSON,
        &json!({"records": records}),
    )
    .await;
    assert_eq!(r.status, 200, "{r:?}");
    let native = read_json(tls_config(&kafka, kafka.ca()), &topic, 1, values.len());
    assert_eq!(native, values);
    proxy.stop().await;

    // A certificate from another CA: the batch engine's handshake fails, nothing is written.
    let other = kafka.other_ca().to_str().unwrap().to_string();
    let proxy = Proxy::start_on(
        kafka.bootstrap(),
        &[
            ("client.security.protocol", "SSL"),
            ("client.ssl.ca.location", &other),
            ("produce.engine", "batch"),
            ("produce.metadata.timeout.ms", "2000"),
        ],
    )
    .await;
    let r = post(
        &format!("{}/topics/{topic}", proxy.url),
        JSON,
        &json!({"records": [{"value": "refused"}]}),
    )
    .await;
    assert!(r.status >= 400, "{r:?}");
    proxy.stop().await;

    // OAUTHBEARER is librdkafka's: with produce.engine=batch the configuration is refused.
    let mut props = std::collections::BTreeMap::new();
    props.insert(
        "bootstrap.servers".to_string(),
        kafka.bootstrap().to_string(),
    );
    props.insert("listeners".to_string(), "http://127.0.0.1:0".to_string());
    props.insert("schema.registry.listeners".to_string(), String::new());
    props.insert("produce.engine".to_string(), "batch".to_string());
    props.insert(
        "client.security.protocol".to_string(),
        "SASL_SSL".to_string(),
    );
    props.insert(
        "client.sasl.mechanism".to_string(),
        "OAUTHBEARER".to_string(),
    );
    let (config, _) = kafka_proxy::Config::from_properties(&props).unwrap();
    let err = kafka_proxy::serve_all(config, Vec::new(), Vec::new(), async {})
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("sasl.mechanism OAUTHBEARER is not one the batch engine speaks"),
        "{err}"
    );
}

fn sasl_config(kafka: &SaslKafka, password: &str) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", kafka.bootstrap());
    for (k, v) in kafka.client_settings() {
        c.set(k, v);
    }
    c.set("sasl.password", password);
    c
}

async fn create_sasl_topic(kafka: &SaslKafka, name: &str) {
    let admin: AdminClient<DefaultClientContext> =
        sasl_config(kafka, SASL_USER.1).create().unwrap();
    let topic = NewTopic::new(name, 2, TopicReplication::Fixed(1));
    for r in admin
        .create_topics([&topic], &AdminOptions::new())
        .await
        .unwrap()
    {
        r.unwrap_or_else(|(t, e)| panic!("create topic {t} over SASL: {e}"));
    }
}

/// Every record of `topic` (2 partitions), read natively over SASL, as JSON values.
fn read_sasl(kafka: &SaslKafka, topic: &str, expected: usize) -> Vec<Value> {
    let mut read = read_json(sasl_config(kafka, SASL_USER.1), topic, 2, expected);
    read.sort_by_key(|v| v["n"].as_i64());
    read
}

/// The proxy's client settings for `mechanism` as the test user, with `password`.
fn sasl_props(kafka: &SaslKafka, mechanism: &str) -> Vec<(String, String)> {
    kafka
        .client_settings()
        .into_iter()
        .map(|(k, v)| {
            let v = if k == "sasl.mechanism" {
                mechanism.to_string()
            } else {
                v
            };
            (format!("client.{k}"), v)
        })
        .collect()
}

async fn produce_values(proxy: &Proxy, topic: &str, values: &[Value]) -> Reply {
    let records: Vec<Value> = values.iter().map(|v| json!({"value": v})).collect();
    post(
        &format!("{}/topics/{topic}", proxy.url),
        JSON,
        &json!({"records": records}),
    )
    .await
}

/// SASL_PLAINTEXT end to end: the batch engine authenticates with PLAIN, SCRAM-SHA-256 and
/// SCRAM-SHA-512 itself, librdkafka's producer with SCRAM-SHA-512; each writes its records once
/// (read back natively over SASL), and a REST consumer reads them over SASL too.
#[tokio::test]
async fn rest_over_a_sasl_kafka_cluster() {
    let kafka = SaslKafka::start(false).unwrap();
    for (engine, mechanism) in [
        ("batch", "PLAIN"),
        ("batch", "SCRAM-SHA-256"),
        ("batch", "SCRAM-SHA-512"),
        ("librdkafka", "SCRAM-SHA-512"),
    ] {
        let topic = unique("sasl");
        create_sasl_topic(&kafka, &topic).await;
        let mut props = sasl_props(&kafka, mechanism);
        props.push(("produce.engine".into(), engine.into()));
        let props: Vec<(&str, &str)> = props.iter().map(|(k, v)| (&k[..], &v[..])).collect();
        let proxy = Proxy::start_on(kafka.bootstrap(), &props).await;
        let values: Vec<Value> = (0..60)
            .map(|i| json!({"n": i, "engine": engine, "mechanism": mechanism}))
            .collect();
        let r = produce_values(&proxy, &topic, &values).await;
        assert_eq!(r.status, 200, "{engine} {mechanism}: {r:?}");
        assert_eq!(
            read_sasl(&kafka, &topic, values.len()),
            values,
            "{engine} {mechanism}"
        );

        if mechanism == "SCRAM-SHA-512" && engine == "batch" {
            let base = create_consumer(
                &proxy,
                &unique("sasl-group"),
                json!({"format": "json", "auto.offset.reset": "earliest"}),
            )
            .await;
            subscribe(&base, &[&topic]).await;
            let read = read_records(&base, JSON, values.len(), Duration::from_secs(30)).await;
            let mut read: Vec<Value> = read.iter().map(|r| r["value"].clone()).collect();
            read.sort_by_key(|v| v["n"].as_i64());
            assert_eq!(read, values);
        }
        proxy.stop().await;
    }
}

/// The front checks credentials (a wrong password gets a native client nowhere), and a proxy
/// whose password the cluster refuses answers 401/40101 naming the refusal, within its metadata
/// timeout, and writes nothing. (The batch engine's own refusal, which fails a request at once
/// instead of retrying, is `kafka::connection::tests::sasl_on_open`.)
#[tokio::test]
async fn refused_sasl_credentials() {
    let kafka = SaslKafka::start(false).unwrap();
    let topic = unique("sasl-refused");
    create_sasl_topic(&kafka, &topic).await;
    for mechanism in ["PLAIN", "SCRAM-SHA-512"] {
        let consumer: BaseConsumer = sasl_config(&kafka, "not-the-password")
            .set("sasl.mechanism", mechanism)
            .create()
            .unwrap();
        let metadata = consumer.fetch_metadata(Some(&topic), Duration::from_secs(3));
        assert!(
            metadata.is_err(),
            "{mechanism}: a wrong password was let in"
        );
    }

    for engine in ["batch", "librdkafka"] {
        let mut props = sasl_props(&kafka, "SCRAM-SHA-256");
        props.push(("produce.engine".into(), engine.into()));
        props.push(("client.sasl.password".into(), "not-the-password".into()));
        props.push(("produce.metadata.timeout.ms".into(), "3000".into()));
        let props: Vec<(&str, &str)> = props.iter().map(|(k, v)| (&k[..], &v[..])).collect();
        let proxy = Proxy::start_on(kafka.bootstrap(), &props).await;
        let started = Instant::now();
        let r = produce_values(&proxy, &topic, &[json!({"n": 0})]).await;
        assert!(started.elapsed() < Duration::from_secs(20), "{r:?}");
        assert_eq!(r.status, 401, "{engine}: {r:?}");
        assert_eq!(r.json()["error_code"], 40101, "{engine}: {r:?}");
        assert!(
            r.json()["message"]
                .as_str()
                .unwrap()
                .contains("Kafka refused the proxy's credentials"),
            "{engine}: {r:?}"
        );
        proxy.stop().await;
    }
    assert_eq!(read_sasl(&kafka, &topic, 0), Vec::<Value>::new());
}

/// SASL_SSL: SCRAM over TLS through stunnel, by the batch engine and by librdkafka.
#[tokio::test]
async fn rest_over_a_sasl_ssl_kafka_cluster() {
    let kafka = SaslKafka::start(true).unwrap();
    for engine in ["batch", "librdkafka"] {
        let topic = unique("sasl-ssl");
        create_sasl_topic(&kafka, &topic).await;
        let mut props = sasl_props(&kafka, "SCRAM-SHA-512");
        props.push(("produce.engine".into(), engine.into()));
        let props: Vec<(&str, &str)> = props.iter().map(|(k, v)| (&k[..], &v[..])).collect();
        let proxy = Proxy::start_on(kafka.bootstrap(), &props).await;
        let values: Vec<Value> = (0..40).map(|i| json!({"n": i, "engine": engine})).collect();
        let r = produce_values(&proxy, &topic, &values).await;
        assert_eq!(r.status, 200, "{engine}: {r:?}");
        assert_eq!(read_sasl(&kafka, &topic, values.len()), values, "{engine}");
        proxy.stop().await;
    }
}

/// Principal propagation (`confluent.rest.auth.propagate.method=JETTY_AUTH`): each BASIC user
/// produces and consumes with its own credentials. alice and carol are Kafka users and get in
/// (with room for one producer, each request of one evicts the other's); bob passes the HTTP
/// edge but is no Kafka user, so Kafka refuses him (401/40101) although the proxy's own
/// credentials are good, and nothing of his is written. Propagation without BASIC, or without a
/// SASL mechanism that takes a password, stops start-up.
#[tokio::test]
async fn basic_users_reach_kafka_as_themselves() {
    let kafka = SaslKafka::start_with_users(false, &[("alice", "alice-pw"), ("carol", "carol-pw")])
        .unwrap();
    let topic = unique("propagated");
    create_sasl_topic(&kafka, &topic).await;
    let dir = std::env::temp_dir().join(unique("propagation"));
    std::fs::create_dir_all(&dir).unwrap();
    let credentials = dir.join("users.properties");
    std::fs::write(
        &credentials,
        "alice: alice-pw\nbob: bob-pw\ncarol: carol-pw\n",
    )
    .unwrap();
    let credentials = credentials.to_str().unwrap().to_string();
    let mut props = sasl_props(&kafka, "SCRAM-SHA-256");
    for (k, v) in [
        ("authentication.method", "BASIC"),
        ("authentication.credentials.file", credentials.as_str()),
        ("confluent.rest.auth.propagate.method", "JETTY_AUTH"),
        ("kafka.principal.clients.max", "1"),
        ("produce.metadata.timeout.ms", "3000"),
    ] {
        props.push((k.to_string(), v.to_string()));
    }
    let props: Vec<(&str, &str)> = props.iter().map(|(k, v)| (&k[..], &v[..])).collect();
    let proxy = Proxy::start_on(kafka.bootstrap(), &props).await;
    let url = format!("{}/topics/{topic}", proxy.url);
    let produce_as = |user: &'static str, password: &'static str, n: i64| {
        let url = url.clone();
        async move {
            send(
                http()
                    .post(&url)
                    .basic_auth(user, Some(password))
                    .header("content-type", JSON)
                    .body(json!({"records": [{"value": {"n": n, "user": user}}]}).to_string()),
            )
            .await
        }
    };
    let mut written = Vec::new();
    for (i, (user, password)) in [
        ("alice", "alice-pw"),
        ("carol", "carol-pw"),
        ("alice", "alice-pw"),
        ("carol", "carol-pw"),
    ]
    .into_iter()
    .enumerate()
    {
        let r = produce_as(user, password, i as i64).await;
        assert_eq!(r.status, 200, "{user}: {r:?}");
        written.push(json!({"n": i, "user": user}));
    }
    // The topic's leaders are cached from alice's requests, so bob's producer goes straight to
    // the broker, whose refusal is the record's error (Confluent's shape: 401, per-record 40101).
    let r = produce_as("bob", "bob-pw", 99).await;
    assert_eq!(r.status, 401, "bob: {r:?}");
    assert_eq!(r.json()["offsets"][0]["error_code"], 40101, "bob: {r:?}");
    assert!(
        r.json()["offsets"][0]["error"]
            .as_str()
            .unwrap()
            .contains("SASL Authentication failed"),
        "bob: {r:?}"
    );
    assert_eq!(read_sasl(&kafka, &topic, written.len()), written);

    // alice's consumer instance reads with alice's credentials.
    let c = http();
    let r = send(
        c.post(format!("{}/consumers/{}", proxy.url, unique("alice-group")))
            .basic_auth("alice", Some("alice-pw"))
            .header("content-type", V2_JSON_CT)
            .body(json!({"format": "json", "auto.offset.reset": "earliest"}).to_string()),
    )
    .await;
    assert_eq!(r.status, 200, "{r:?}");
    let base = r.json()["base_uri"].as_str().unwrap().to_string();
    let r = send(
        c.post(format!("{base}/subscription"))
            .basic_auth("alice", Some("alice-pw"))
            .header("content-type", V2_JSON_CT)
            .body(json!({"topics": [topic]}).to_string()),
    )
    .await;
    assert_eq!(r.status, 204, "{r:?}");
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut read = Vec::new();
    while read.len() < written.len() && Instant::now() < deadline {
        let r = send(
            c.get(format!("{base}/records"))
                .basic_auth("alice", Some("alice-pw"))
                .header("accept", "application/vnd.kafka.json.v2+json"),
        )
        .await;
        assert_eq!(r.status, 200, "{r:?}");
        for record in r.json().as_array().unwrap() {
            read.push(record["value"].clone());
        }
    }
    read.sort_by_key(|v| v["n"].as_i64());
    assert_eq!(read, written);
    proxy.stop().await;

    // Start-up checks.
    for (extra, expected) in [
        (
            vec![("client.security.protocol", "PLAINTEXT")],
            "needs client.security.protocol SASL_PLAINTEXT or SASL_SSL",
        ),
        (
            vec![("authentication.method", "NONE")],
            "needs authentication.method=BASIC",
        ),
    ] {
        let mut all: std::collections::BTreeMap<String, String> = props
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        all.insert("bootstrap.servers".into(), kafka.bootstrap().into());
        all.insert("listeners".into(), "http://127.0.0.1:0".into());
        all.insert("schema.registry.listeners".into(), String::new());
        for (k, v) in extra {
            all.insert(k.into(), v.into());
        }
        let err = match kafka_proxy::Config::from_properties(&all) {
            Err(e) => e.to_string(),
            Ok((config, _)) => kafka_proxy::serve_all(config, Vec::new(), Vec::new(), async {})
                .await
                .unwrap_err()
                .to_string(),
        };
        assert!(err.contains(expected), "{err}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

const V2_JSON_CT: &str = "application/vnd.kafka.v2+json";
