//! The MQTT listener's protocol edges against the real broker: malformed and oversized packets
//! sent raw, the connection cap, username/password authentication (mosquitto_pub over 3.1.1 and
//! 5, raw CONNECTs), TLS listeners (mosquitto_pub with a CA file), and an MQTT-only proxy.

mod common;

use std::time::Duration;

use common::mqtt::*;
use common::*;

/// MQTT 5 DISCONNECT's first byte.
const DISCONNECT: u8 = 0xE0;

/// The reason code of the DISCONNECT among `packets`.
fn disconnect_reason(packets: &[(u8, Vec<u8>)]) -> Option<u8> {
    packets
        .iter()
        .find(|(first, _)| *first == DISCONNECT)
        .map(|(_, body)| body[0])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_and_oversized_packets_close_with_the_right_reason() {
    let _serial = SERIAL.lock().await;
    let topic = unique("raw");
    create_topic(&topic, 1).await;
    let rules = format!("{topic}:.*");
    let (proxy, port) = start_mqtt(&[
        ("mqtt.topic.regex.list", rules.as_str()),
        ("mqtt.message.max.bytes", "1024"),
    ])
    .await;

    // MQTT 5: PUBLISH with QoS 3 (flags 0b0110) is malformed: DISCONNECT 0x81.
    let (mut raw, code) = Raw::connect(port, V5, None).await;
    assert_eq!(code, 0);
    let mut bad = publish(V5, 1, "a/b", 1, b"x");
    bad[0] = 0x36;
    raw.send(&bad).await;
    assert_eq!(disconnect_reason(&raw.until_closed().await), Some(0x81));

    // MQTT 5: a packet over mqtt.message.max.bytes: DISCONNECT 0x95, before its body is read.
    let (mut raw, _) = Raw::connect(port, V5, None).await;
    raw.send(&publish(V5, 1, "a/b", 1, &[7u8; 2000])).await;
    assert_eq!(disconnect_reason(&raw.until_closed().await), Some(0x95));

    // MQTT 5: a wildcard in a PUBLISH topic: 0x90; RETAIN (not available): 0x9A.
    let (mut raw, _) = Raw::connect(port, V5, None).await;
    raw.send(&publish(V5, 1, "a/+/b", 1, b"x")).await;
    assert_eq!(disconnect_reason(&raw.until_closed().await), Some(0x90));
    let (mut raw, _) = Raw::connect(port, V5, None).await;
    let mut retained = publish(V5, 1, "a/b", 1, b"x");
    retained[0] |= 0x01;
    raw.send(&retained).await;
    assert_eq!(disconnect_reason(&raw.until_closed().await), Some(0x9A));

    // MQTT 5: a second CONNECT is a protocol error (0x82).
    let (mut raw, _) = Raw::connect(port, V5, None).await;
    raw.send(&connect(V5, "again", None)).await;
    assert_eq!(disconnect_reason(&raw.until_closed().await), Some(0x82));

    // 3.1.1 has no DISCONNECT from the server: the connection just closes, with nothing sent.
    for garbage in [
        vec![0xF0, 0x00],                         // reserved packet type 15
        vec![0x30, 0xFF, 0xFF, 0xFF, 0xFF],       // Remaining Length of five bytes
        vec![0x62, 0x02, 0x00, 0x00],             // PUBREL with packet id 0
        publish(V311, 1, "a/b", 1, &[7u8; 2000]), // oversized
    ] {
        let (mut raw, code) = Raw::connect(port, V311, None).await;
        assert_eq!(code, 0);
        raw.send(&garbage).await;
        assert_eq!(raw.until_closed().await, vec![], "{garbage:x?}");
    }

    // Before CONNECT: an unknown protocol level gets CONNACK 1; garbage just a close.
    let mut raw = Raw::open(port).await;
    raw.send(&connect(6, "future", None)).await;
    let answers = raw.until_closed().await;
    assert_eq!(answers, vec![(0x20, vec![0, 1])], "level 6 is refused");
    let mut raw = Raw::open(port).await;
    raw.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert!(raw
        .until_closed()
        .await
        .iter()
        .all(|(first, _)| *first == 0x20));

    // After all that, the listener still works and nothing bad was produced.
    let (mut raw, _) = Raw::connect(port, V5, None).await;
    raw.send(&publish(V5, 1, "a/b", 9, b"good")).await;
    let (first, body) = raw.read().await.expect("PUBACK");
    assert_eq!((first, &body[..2]), (0x40, &[0, 9][..]));
    assert!(body.len() == 2 || body[2] == 0, "success: {body:?}");
    let records = read_all(&topic, 1, 1, Duration::from_secs(5));
    let values: Vec<_> = records.iter().map(|r| r.value.clone().unwrap()).collect();
    assert_eq!(
        values,
        vec![b"good".to_vec()],
        "malformed publishes wrote nothing"
    );
    proxy.stop().await;
}

/// The five spec violations a probe found accepted and written: each closes the connection
/// (with the MQTT 5 reason, or CONNACK 1 for MQTT 3.1) and writes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spec_violations_close_the_connection_and_write_nothing() {
    let _serial = SERIAL.lock().await;
    let topic = unique("spec");
    create_topic(&topic, 1).await;
    let rules = format!("{topic}:.*");
    let (proxy, port) = start_mqtt(&[("mqtt.topic.regex.list", rules.as_str())]).await;

    // MQTT 3.1 ("MQIsdp", level 3): CONNACK 1 (unacceptable protocol level), then the close.
    let mut body = Vec::new();
    body.extend_from_slice(&[0, 6]);
    body.extend_from_slice(b"MQIsdp");
    body.extend_from_slice(&[3, 0x02, 0, 60, 0, 2]);
    body.extend_from_slice(b"v3");
    let mut raw = Raw::open(port).await;
    raw.send(&packet(0x10, &body)).await;
    assert_eq!(raw.until_closed().await, vec![(0x20, vec![0, 1])]);

    // 3.1.1: a password flag without a user name is a malformed CONNECT: closed, no CONNACK.
    let mut body = Vec::new();
    body.extend_from_slice(&[0, 4]);
    body.extend_from_slice(b"MQTT");
    body.extend_from_slice(&[4, 0x42, 0, 60, 0, 1, b'p', 0, 2, b'p', b'w']);
    let mut raw = Raw::open(port).await;
    raw.send(&packet(0x10, &body)).await;
    assert_eq!(raw.until_closed().await, vec![]);

    // A topic name holding U+0000: MQTT 5 closes with 0x90, 3.1.1 just closes.
    let (mut raw, _) = Raw::connect(port, V5, None).await;
    raw.send(&publish(V5, 1, "a\0b", 1, b"x")).await;
    assert_eq!(disconnect_reason(&raw.until_closed().await), Some(0x90));
    let (mut raw, _) = Raw::connect(port, V311, None).await;
    raw.send(&publish(V311, 1, "a\0b", 1, b"x")).await;
    assert_eq!(raw.until_closed().await, vec![]);

    // DUP on a QoS 0 publish is malformed: 0x81, or the close.
    let (mut raw, _) = Raw::connect(port, V5, None).await;
    let mut dup = publish(V5, 0, "a/b", 0, b"x");
    dup[0] |= 0x08;
    raw.send(&dup).await;
    assert_eq!(disconnect_reason(&raw.until_closed().await), Some(0x81));
    let (mut raw, _) = Raw::connect(port, V311, None).await;
    let mut dup = publish(V311, 0, "a/b", 0, b"x");
    dup[0] |= 0x08;
    raw.send(&dup).await;
    assert_eq!(raw.until_closed().await, vec![]);

    // RETAIN over 3.1.1: retained messages are not kept, so the publish is refused (closed)
    // rather than written as an ordinary record.
    let (mut raw, _) = Raw::connect(port, V311, None).await;
    let mut retained = publish(V311, 1, "a/b", 1, b"x");
    retained[0] |= 0x01;
    raw.send(&retained).await;
    assert_eq!(raw.until_closed().await, vec![]);

    let records = read_all(&topic, 1, 0, Duration::from_secs(2));
    assert!(
        records.is_empty(),
        "spec violations were written: {}",
        records.len()
    );
    proxy.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_cap_refuses_in_connack() {
    let _serial = SERIAL.lock().await;
    let (proxy, port) = start_mqtt(&[("mqtt.max.connections", "2")]).await;
    let (first, code) = Raw::connect(port, V311, None).await;
    assert_eq!(code, 0);
    let (_second, code) = Raw::connect(port, V5, None).await;
    assert_eq!(code, 0);
    // Full: 3.1.1 hears 3 (server unavailable), MQTT 5 0x89 (server busy); both are closed.
    let (mut refused, code) = Raw::connect(port, V311, None).await;
    assert_eq!(code, 3);
    assert_eq!(refused.until_closed().await, vec![]);
    let (mut refused, code) = Raw::connect(port, V5, None).await;
    assert_eq!(code, 0x89);
    assert_eq!(refused.until_closed().await, vec![]);
    // A connection that leaves frees its slot.
    drop(first);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (_raw, code) = Raw::connect(port, V311, None).await;
        if code == 0 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the slot was never freed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    proxy.stop().await;
}

/// A scratch directory for files a test hands the proxy.
fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(unique(name));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn username_and_password_from_a_credentials_file() {
    let _serial = SERIAL.lock().await;
    ensure_topic("temperature", 1).await;
    let dir = scratch("creds");
    let file = dir.join("credentials.txt");
    std::fs::write(&file, "# devices\nsensor: s3cret,devices\n").unwrap();
    let file_text = file.display().to_string();
    let (proxy, port) = start_mqtt(&[
        ("mqtt.credentials.file", file_text.as_str()),
        ("mqtt.listeners.security.protocol", "SASL_PLAINTEXT"),
    ])
    .await;
    let device = unique("dev");
    let topic = format!("{device}/temperature");
    for version in ["mqttv311", "mqttv5"] {
        let ok_args = [
            "-V", version, "-q", "1", "-t", &topic, "-m", version, "-u", "sensor", "-P", "s3cret",
        ];
        let (ok, err) = mosquitto_pub(port, &ok_args).await;
        assert!(ok, "{version}: {err}");
        let (ok, err) = mosquitto_pub(
            port,
            &[
                "-V", version, "-q", "1", "-t", &topic, "-m", "no", "-u", "sensor", "-P", "guess",
            ],
        )
        .await;
        assert!(
            !ok && err.to_lowercase().contains("bad user name or password"),
            "{version}: {err}"
        );
        let (ok, err) =
            mosquitto_pub(port, &["-V", version, "-q", "1", "-t", &topic, "-m", "no"]).await;
        assert!(
            !ok && err.to_lowercase().contains("not authori"),
            "{version}: {err}"
        );
    }
    // The codes themselves: 3.1.1 4 and 5; MQTT 5 0x86 and 0x87.
    assert_eq!(
        Raw::connect(port, V311, Some(("sensor", "guess"))).await.1,
        4
    );
    assert_eq!(Raw::connect(port, V311, None).await.1, 5);
    assert_eq!(
        Raw::connect(port, V5, Some(("nobody", "s3cret"))).await.1,
        0x86
    );
    assert_eq!(Raw::connect(port, V5, None).await.1, 0x87);
    // Accounts can change without a restart.
    std::fs::write(&file, "gateway: other\n").unwrap();
    let later = std::time::SystemTime::now() + Duration::from_secs(5);
    std::fs::File::options()
        .write(true)
        .open(&file)
        .unwrap()
        .set_modified(later)
        .unwrap();
    assert_eq!(
        Raw::connect(port, V5, Some(("gateway", "other"))).await.1,
        0
    );
    assert_eq!(
        Raw::connect(port, V5, Some(("sensor", "s3cret"))).await.1,
        0x86
    );

    // Only the accepted publishes reached Kafka.
    let mine: Vec<String> = read_all("temperature", 1, 2, Duration::from_secs(5))
        .into_iter()
        .filter(|r| r.key.as_deref() == Some(topic.as_bytes()))
        .map(|r| String::from_utf8(r.value.unwrap()).unwrap())
        .collect();
    assert_eq!(mine, ["mqttv311", "mqttv5"]);
    proxy.stop().await;
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_listener_with_mosquitto_pub() {
    let _serial = SERIAL.lock().await;
    ensure_topic("temperature", 1).await;
    let dir = scratch("tls");
    let certified = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).unwrap();
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert, certified.cert.pem()).unwrap();
    std::fs::write(&key, certified.signing_key.serialize_pem()).unwrap();
    let (plain, tls) = (free_port(), free_port());
    let listeners = format!("tcp://127.0.0.1:{plain}, ssl://127.0.0.1:{tls}");
    let (cert_text, key_text) = (cert.display().to_string(), key.display().to_string());
    let proxy = Proxy::start_with(&[
        ("mqtt.listeners", listeners.as_str()),
        ("mqtt.topic.regex.list", SEED_RULES),
        (
            "mqtt.listeners.ssl.certificate.location",
            cert_text.as_str(),
        ),
        ("mqtt.listeners.ssl.key.location", key_text.as_str()),
    ])
    .await;
    wait_port(tls).await;
    let device = unique("dev");
    let topic = format!("{device}/temperature");
    for version in ["mqttv311", "mqttv5"] {
        let args = [
            "--cafile", &cert_text, "-V", version, "-q", "1", "-t", &topic, "-m", version,
        ];
        let (ok, err) = mosquitto_pub(tls, &args).await;
        assert!(ok, "{version} over TLS: {err}");
    }
    // Plain MQTT on the TLS port fails; the plain listener beside it still works.
    let (ok, _) = mosquitto_pub(tls, &["-q", "1", "-t", &topic, "-m", "plain-on-tls"]).await;
    assert!(!ok, "plain MQTT must not pass a TLS listener");
    let (ok, err) = mosquitto_pub(plain, &["-q", "1", "-t", &topic, "-m", "plain"]).await;
    assert!(ok, "{err}");
    // A client that does not trust the certificate is not served.
    let other = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).unwrap();
    let untrusted = dir.join("other.pem");
    std::fs::write(&untrusted, other.cert.pem()).unwrap();
    let untrusted_text = untrusted.display().to_string();
    let (ok, _) = mosquitto_pub(
        tls,
        &[
            "--cafile",
            &untrusted_text,
            "-q",
            "1",
            "-t",
            &topic,
            "-m",
            "x",
        ],
    )
    .await;
    assert!(!ok, "an untrusted certificate must fail the handshake");

    let mut mine: Vec<String> = read_all("temperature", 1, 3, Duration::from_secs(5))
        .into_iter()
        .filter(|r| r.key.as_deref() == Some(topic.as_bytes()))
        .map(|r| String::from_utf8(r.value.unwrap()).unwrap())
        .collect();
    mine.sort();
    assert_eq!(mine, ["mqttv311", "mqttv5", "plain"]);
    proxy.stop().await;
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mqtt_only_proxy_serves_no_http() {
    let _serial = SERIAL.lock().await;
    ensure_topic("brightness", 1).await;
    let port = free_port();
    let listener = format!("127.0.0.1:{port}");
    let props: std::collections::BTreeMap<String, String> = [
        ("bootstrap.servers", broker().bootstrap.as_str()),
        ("listeners", ""),
        ("mqtt.listeners", listener.as_str()),
        ("mqtt.topic.regex.list", SEED_RULES),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let (config, _) = kafka_proxy::Config::from_properties(&props).unwrap();
    assert!(config.rest.listeners.is_empty() && config.registry.listeners.is_empty());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(kafka_proxy::serve_all(
        config,
        Vec::new(),
        Vec::new(),
        async {
            let _ = stopped.await;
        },
    ));
    wait_port(port).await;
    let topic = format!("{}/cabin/brightness", unique("car"));
    let (ok, err) = mosquitto_pub(port, &["-q", "2", "-t", &topic, "-m", "dim"]).await;
    assert!(ok, "{err}");
    let got = read_all("brightness", 1, 1, Duration::from_secs(5));
    assert!(got
        .iter()
        .any(|r| r.key.as_deref() == Some(topic.as_bytes())));
    let _ = stop.send(());
    task.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keep_alive_closes_after_one_and_a_half_intervals() {
    let _serial = SERIAL.lock().await;
    let (proxy, port) = start_mqtt(&[]).await;
    // Keep-alive 2 s: PINGREQs every second keep the connection open past 3 s...
    let mut raw = Raw::open(port).await;
    raw.send(&connect_keep_alive(V5, "pinger", None, 2)).await;
    assert_eq!(raw.read().await.expect("CONNACK").0, 0x20);
    for _ in 0..4 {
        tokio::time::sleep(Duration::from_secs(1)).await;
        raw.send(&[0xC0, 0x00]).await;
        assert_eq!(raw.read().await, Some((0xD0, vec![])), "PINGRESP");
    }
    // ...and silence closes it after 1.5 intervals (3 s), with DISCONNECT 0x8D in MQTT 5.
    let silent = std::time::Instant::now();
    let packets = raw.until_closed().await;
    let waited = silent.elapsed();
    assert_eq!(disconnect_reason(&packets), Some(0x8D));
    assert!(
        waited >= Duration::from_millis(2900) && waited < Duration::from_secs(5),
        "closed after {waited:?}"
    );
    // 3.1.1: the connection just closes.
    let mut raw = Raw::open(port).await;
    raw.send(&connect_keep_alive(V311, "quiet", None, 1)).await;
    assert_eq!(raw.read().await.expect("CONNACK").0, 0x20);
    assert_eq!(raw.until_closed().await, vec![]);
    proxy.stop().await;
}
