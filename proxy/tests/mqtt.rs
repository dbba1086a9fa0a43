//! MQTT ingestion against the real broker, with Debian's `mosquitto_pub` as the client: the
//! seed's `KAFKA_MQTT_TOPIC_REGEX_LIST` mapping, QoS 0, 1 and 2 each producing exactly one record
//! (key = MQTT topic, value = payload), unmatched topics refused, MQTT 5 refused with CONNACK 1.

mod common;

use std::time::Duration;

use common::*;
use tokio::process::Command;

/// The seed's mapping, as written there.
const SEED_RULES: &str = "temperature:.*temperature, brightness:.*brightness";

async fn start(mqtt_port: u16) -> Proxy {
    let listener = format!("tcp://127.0.0.1:{mqtt_port}");
    Proxy::start_with(&[
        ("mqtt.listeners", listener.as_str()),
        ("mqtt.topic.regex.list", SEED_RULES),
    ])
    .await
}

/// Runs `mosquitto_pub` (bounded to 20 s); its exit status and stderr.
async fn mosquitto_pub(port: u16, args: &[&str]) -> (bool, String) {
    let out = tokio::time::timeout(
        Duration::from_secs(20),
        Command::new("mosquitto_pub")
            .args(["-h", "127.0.0.1", "-p", &port.to_string()])
            .args(args)
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("mosquitto_pub finished within 20 s")
    .expect("mosquitto_pub runs (scripts/install-deps.sh installs mosquitto-clients)");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_mapping_at_every_qos() {
    let port = free_port();
    let proxy = start(port).await;
    // The seed's rules write to `temperature` and `brightness`; this broker is shared by the
    // tests, so count this test's records by their unique MQTT topics.
    create_topic("temperature", 1).await;
    create_topic("brightness", 1).await;
    let device = unique("car");
    let temp_topic = format!("{device}/engine/temperature");
    for qos in ["0", "1", "2"] {
        let (ok, err) = mosquitto_pub(
            port,
            &[
                "-V",
                "mqttv311",
                "-q",
                qos,
                "-t",
                &temp_topic,
                "-m",
                &format!("190F-q{qos}"),
            ],
        )
        .await;
        assert!(ok, "QoS {qos}: {err}");
    }
    let light_topic = format!("{device}/cabin/brightness");
    let (ok, err) = mosquitto_pub(port, &["-q", "1", "-t", &light_topic, "-m", "dim"]).await;
    assert!(ok, "{err}");

    let mine = |topic: &str, expected: usize| {
        read_all(topic, 1, expected, Duration::from_secs(10))
            .into_iter()
            .map(|r| {
                let text = |b: Option<Vec<u8>>| String::from_utf8(b.unwrap_or_default()).unwrap();
                (text(r.key), text(r.value))
            })
            .filter(|(key, _)| key.starts_with(&device))
            .collect::<Vec<_>>()
    };
    let temps = mine("temperature", 3);
    let mut values: Vec<&str> = temps.iter().map(|(_, v)| v.as_str()).collect();
    values.sort_unstable();
    assert_eq!(
        values,
        ["190F-q0", "190F-q1", "190F-q2"],
        "one record per QoS level"
    );
    assert!(
        temps.iter().all(|(k, _)| k == &temp_topic),
        "key = MQTT topic"
    );
    assert_eq!(
        mine("brightness", 1),
        vec![(light_topic.clone(), "dim".to_string())]
    );
    proxy.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unmatched_topics_and_mqtt5_are_refused() {
    let port = free_port();
    let proxy = start(port).await;
    // No rule and no default topic: the connection is closed, so QoS 1 is never acknowledged.
    let (ok, _) = mosquitto_pub(port, &["-q", "1", "-t", &unique("nowhere"), "-m", "x"]).await;
    assert!(!ok, "an unmatched QoS 1 publish must not be acknowledged");
    // MQTT 5 is not served yet: CONNACK return code 1 (unacceptable protocol version).
    let (ok, err) = mosquitto_pub(
        port,
        &["-V", "mqttv5", "-q", "1", "-t", "a/temperature", "-m", "x"],
    )
    .await;
    assert!(!ok, "MQTT 5 must be refused: {err}");
    proxy.stop().await;
}
