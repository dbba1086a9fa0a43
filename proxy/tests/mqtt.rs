//! MQTT ingestion against the real broker, with Debian's `mosquitto_pub` as the client: the
//! seed's `KAFKA_MQTT_TOPIC_REGEX_LIST` mapping, QoS 0, 1 and 2 each producing exactly one record
//! over 3.1.1 and 5 (key = MQTT topic, value = payload), unmatched topics refused (3.1.1: the
//! connection closed; 5: reason 0x90) or sent to the default topic.

mod common;

use std::time::Duration;

use common::mqtt::*;
use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_mapping_at_every_qos() {
    let _serial = SERIAL.lock().await;
    let (proxy, port) = start_mqtt(&[]).await;
    // The seed's rules write to `temperature` and `brightness`; this broker is shared by the
    // tests, so count this test's records by their unique MQTT topics.
    ensure_topic("temperature", 1).await;
    ensure_topic("brightness", 1).await;
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
async fn unmatched_topics_are_refused_or_defaulted() {
    let _serial = SERIAL.lock().await;
    let (proxy, port) = start_mqtt(&[]).await;
    // No rule and no default topic. 3.1.1: the connection is closed, so QoS 1 is never
    // acknowledged; MQTT 5: PUBACK with reason 0x90 (Topic Name invalid).
    let (ok, _) = mosquitto_pub(
        port,
        &[
            "-V",
            "mqttv311",
            "-q",
            "1",
            "-t",
            &unique("nowhere"),
            "-m",
            "x",
        ],
    )
    .await;
    assert!(
        !ok,
        "an unmatched 3.1.1 QoS 1 publish must not be acknowledged"
    );
    // (mosquitto_pub reports the reason and still exits 0.)
    let (_, err) = mosquitto_pub(
        port,
        &[
            "-V",
            "mqttv5",
            "-q",
            "1",
            "-t",
            &unique("nowhere"),
            "-m",
            "x",
        ],
    )
    .await;
    assert!(
        err.contains("Publish 1 failed: Topic Name invalid"),
        "MQTT 5 answers 0x90: {err}"
    );
    proxy.stop().await;

    // With a default topic, unmatched publishes go there.
    let default = unique("mqtt-default");
    create_topic(&default, 1).await;
    let (proxy, port) = start_mqtt(&[("mqtt.default.topic", default.as_str())]).await;
    let (ok, err) = mosquitto_pub(
        port,
        &[
            "-V",
            "mqttv5",
            "-q",
            "2",
            "-t",
            "plant/7/pressure",
            "-m",
            "3bar",
        ],
    )
    .await;
    assert!(ok, "{err}");
    let got = read_all(&default, 1, 1, Duration::from_secs(10));
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].key.as_deref(), Some(&b"plant/7/pressure"[..]));
    assert_eq!(got[0].value.as_deref(), Some(&b"3bar"[..]));
    // The MQTT topic and QoS travel as headers.
    assert_eq!(
        got[0].headers,
        vec![
            ("mqtt.topic".to_string(), b"plant/7/pressure".to_vec()),
            ("mqtt.qos".to_string(), b"2".to_vec()),
        ]
    );
    proxy.stop().await;
}

/// MQTT 5 properties become headers after `mqtt.topic` and `mqtt.qos`: every user property
/// (name and value as sent, repeats kept, in order), then `mqtt.content.type` and
/// `mqtt.correlation.data`; a 3.1.1 publish has none.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mqtt5_properties_become_headers() {
    let _serial = SERIAL.lock().await;
    let (proxy, port) = start_mqtt(&[]).await;
    ensure_topic("temperature", 1).await;
    let device = unique("props");
    let topic = format!("{device}/temperature");
    let (ok, err) = mosquitto_pub(
        port,
        &[
            "-V",
            "mqttv5",
            "-q",
            "1",
            "-t",
            &topic,
            "-m",
            "v5",
            "-D",
            "publish",
            "user-property",
            "unit",
            "celsius",
            "-D",
            "publish",
            "user-property",
            "unit",
            "kelvin",
            "-D",
            "publish",
            "user-property",
            "site",
            "depot-7",
            "-D",
            "publish",
            "content-type",
            "text/plain",
            "-D",
            "publish",
            "correlation-data",
            "req-42",
        ],
    )
    .await;
    assert!(ok, "{err}");
    let (ok, err) = mosquitto_pub(
        port,
        &["-V", "mqttv311", "-q", "1", "-t", &topic, "-m", "v311"],
    )
    .await;
    assert!(ok, "{err}");
    let mine: Vec<NativeRecord> = read_all("temperature", 1, 2, Duration::from_secs(10))
        .into_iter()
        .filter(|r| r.key.as_deref() == Some(topic.as_bytes()))
        .collect();
    assert_eq!(mine.len(), 2);
    let headers = |r: &NativeRecord| -> Vec<(String, String)> {
        r.headers
            .iter()
            .map(|(k, v)| (k.clone(), String::from_utf8(v.clone()).unwrap()))
            .collect()
    };
    let pair = |k: &str, v: &str| (k.to_string(), v.to_string());
    assert_eq!(
        headers(&mine[0]),
        [
            pair("mqtt.topic", &topic),
            pair("mqtt.qos", "1"),
            pair("unit", "celsius"),
            pair("unit", "kelvin"),
            pair("site", "depot-7"),
            pair("mqtt.content.type", "text/plain"),
            pair("mqtt.correlation.data", "req-42"),
        ]
    );
    assert_eq!(
        headers(&mine[1]),
        [pair("mqtt.topic", &topic), pair("mqtt.qos", "1")]
    );
    proxy.stop().await;
}
