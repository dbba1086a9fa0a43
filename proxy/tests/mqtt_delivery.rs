//! MQTT delivery against the real broker: floods from a third-party Rust client (`rumqttc`,
//! MQTT 5) with every acknowledgement awaited and every record checked in Kafka, MQTT 5 reason
//! codes for unmapped and failed publishes, and the broker paused mid-flood: no publish is
//! acknowledged unless its record is in Kafka.

mod common;

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::mqtt::*;
use common::*;
use rumqttc::v5::mqttbytes::v5::{Packet, PubAckReason, PubRecReason};
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::{AsyncClient, Event, MqttOptions};

/// A 100-byte payload naming its client and sequence number.
fn payload(client: usize, seq: usize) -> Vec<u8> {
    let mut p = format!("c{client}-{seq:08}-").into_bytes();
    p.resize(100, b'.');
    p
}

/// What one client's acknowledgements said.
#[derive(Debug, Default)]
struct Acks {
    puback: BTreeMap<String, usize>,
    pubrec: BTreeMap<String, usize>,
    pubcomp: usize,
    receive_max: Option<u16>,
}

/// Drives `eventloop` until `done` says the acks are all in (or 60 s pass).
async fn drive(mut eventloop: rumqttc::v5::EventLoop, done: impl Fn(&Acks) -> bool) -> Acks {
    let mut acks = Acks::default();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done(&acks) {
        assert!(
            Instant::now() < deadline,
            "acks missing after 60 s: {acks:?}"
        );
        match tokio::time::timeout(Duration::from_secs(20), eventloop.poll()).await {
            Ok(Ok(Event::Incoming(Packet::ConnAck(c)))) => {
                acks.receive_max = c.properties.and_then(|p| p.receive_max)
            }
            Ok(Ok(Event::Incoming(Packet::PubAck(a)))) => {
                *acks.puback.entry(format!("{:?}", a.reason)).or_default() += 1
            }
            Ok(Ok(Event::Incoming(Packet::PubRec(r)))) => {
                *acks.pubrec.entry(format!("{:?}", r.reason)).or_default() += 1
            }
            Ok(Ok(Event::Incoming(Packet::PubComp(_)))) => acks.pubcomp += 1,
            Ok(Ok(_)) => {}
            Ok(Err(e)) => panic!("MQTT client: {e} after {acks:?}"),
            Err(_) => panic!("no MQTT event for 20 s after {acks:?}"),
        }
    }
    acks
}

fn options(port: u16, id: &str) -> MqttOptions {
    let mut o = MqttOptions::new(id, "127.0.0.1", port);
    o.set_keep_alive(Duration::from_secs(30));
    o.set_clean_start(true);
    o
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rumqttc_floods_at_qos_1_and_2_with_acks_awaited() {
    let _serial = SERIAL.lock().await;
    let topic = unique("flood");
    create_topic(&topic, 3).await;
    let rules = format!("{topic}:flood/.*");
    // A small Receive Maximum: the client must honour it (the proxy disconnects one that does not).
    let (proxy, port) = start_mqtt(&[
        ("mqtt.topic.regex.list", rules.as_str()),
        ("mqtt.receive.maximum", "32"),
    ])
    .await;
    const CLIENTS: usize = 4;
    const QOS1: usize = 5000;
    const QOS2: usize = 1000;
    let mut tasks = Vec::new();
    for c in 0..CLIENTS {
        let (client, eventloop) = AsyncClient::new(options(port, &unique("flooder")), 256);
        let acks = tokio::spawn(drive(eventloop, |a| {
            a.puback.values().sum::<usize>() == QOS1 && a.pubcomp == QOS2
        }));
        tasks.push(tokio::spawn(async move {
            for seq in 0..QOS1 + QOS2 {
                let qos = if seq < QOS1 {
                    QoS::AtLeastOnce
                } else {
                    QoS::ExactlyOnce
                };
                client
                    .publish(format!("flood/c{c}"), qos, false, payload(c, seq))
                    .await
                    .unwrap();
            }
            // The event loop has ended with the last ack; the connection closes with it.
            acks.await.unwrap()
        }));
    }
    for t in tasks {
        let acks = tokio::time::timeout(Duration::from_secs(90), t)
            .await
            .expect("flood finished in 90 s")
            .unwrap();
        assert_eq!(acks.receive_max, Some(32));
        assert_eq!(acks.puback.get("Success"), Some(&QOS1), "{acks:?}");
        assert_eq!(acks.pubrec.get("Success"), Some(&QOS2), "{acks:?}");
    }
    // Every publish is in Kafka exactly once, each client's in PUBLISH order (one key, so one
    // partition), with its QoS in the header.
    let records = read_all(&topic, 3, CLIENTS * (QOS1 + QOS2), Duration::from_secs(10));
    assert_eq!(records.len(), CLIENTS * (QOS1 + QOS2));
    for c in 0..CLIENTS {
        let key = format!("flood/c{c}");
        let mine: Vec<_> = records
            .iter()
            .filter(|r| r.key.as_deref() == Some(key.as_bytes()))
            .collect();
        let values: Vec<Vec<u8>> = mine.iter().map(|r| r.value.clone().unwrap()).collect();
        let expected: Vec<Vec<u8>> = (0..QOS1 + QOS2).map(|seq| payload(c, seq)).collect();
        if values != expected {
            let have: HashSet<&Vec<u8>> = values.iter().collect();
            let missing = expected.iter().filter(|e| !have.contains(e)).count();
            let first_off = values.iter().zip(&expected).position(|(a, b)| a != b);
            panic!(
                "client {c}: {} records for {} publishes, {missing} missing, first out of place at {first_off:?}",
                values.len(),
                expected.len()
            );
        }
        let qos2 = mine
            .iter()
            .filter(|r| r.headers.iter().any(|(k, v)| k == "mqtt.qos" && v == b"2"))
            .count();
        assert_eq!(qos2, QOS2);
    }
    proxy.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reason_codes_for_unmapped_and_failed_publishes() {
    let _serial = SERIAL.lock().await;
    // `absent` is never created: Kafka refuses its records.
    let absent = unique("absent");
    let rules = format!("{absent}:gone/.*");
    let (proxy, port) = start_mqtt(&[("mqtt.topic.regex.list", rules.as_str())]).await;
    let (client, eventloop) = AsyncClient::new(options(port, &unique("reasons")), 16);
    let acks = tokio::spawn(drive(eventloop, |a| {
        a.puback.values().sum::<usize>() == 2 && a.pubrec.values().sum::<usize>() == 1
    }));
    client
        .publish("nowhere/1", QoS::AtLeastOnce, false, "x")
        .await
        .unwrap();
    client
        .publish("nowhere/2", QoS::ExactlyOnce, false, "x")
        .await
        .unwrap();
    client
        .publish("gone/1", QoS::AtLeastOnce, false, "x")
        .await
        .unwrap();
    let acks = acks.await.unwrap();
    assert_eq!(
        acks.puback
            .get(&format!("{:?}", PubAckReason::TopicNameInvalid)),
        Some(&1)
    );
    assert_eq!(
        acks.pubrec
            .get(&format!("{:?}", PubRecReason::TopicNameInvalid)),
        Some(&1)
    );
    assert_eq!(
        acks.puback
            .get(&format!("{:?}", PubAckReason::UnspecifiedError)),
        Some(&1)
    );

    // 3.1.1 has no reason codes: a publish Kafka refuses closes the connection, unacknowledged.
    let (mut raw, code) = Raw::connect(port, V311, None).await;
    assert_eq!(code, 0);
    raw.send(&publish(V311, 1, "gone/2", 7, b"x")).await;
    assert_eq!(raw.until_closed().await, vec![]);
    proxy.stop().await;
}

/// MQTT 5 QoS 2 when Kafka fails a record: the PUBREC says 0x80, and so does the answer to a
/// repeat of that packet id sent while the first was waiting (it must not claim SUCCESS). The id
/// is then free: the client's next PUBLISH with it is a new message, produced and acknowledged,
/// not taken for a repeat and acknowledged without a record.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qos2_packet_id_reused_after_kafka_refused_it() {
    let _serial = SERIAL.lock().await;
    let absent = unique("absent");
    let here = unique("here");
    ensure_topic(&here, 1).await;
    let rules = format!("{absent}:gone/.*, {here}:here/.*");
    let (proxy, port) = start_mqtt(&[("mqtt.topic.regex.list", rules.as_str())]).await;
    let (mut raw, code) = Raw::connect(port, V5, None).await;
    assert_eq!(code, 0);
    let reason = |body: &[u8]| body.get(2).copied().unwrap_or(0);
    // The first PUBLISH and its repeat in one write: the repeat is read while the first waits.
    let mut both = publish(V5, 2, "gone/1", 7, b"refused");
    both.extend(publish(V5, 2, "gone/1", 7, b"refused"));
    raw.send(&both).await;
    for which in ["first", "repeat"] {
        let (first, body) = raw.read().await.expect("PUBREC");
        assert_eq!(first, 0x50, "{which}: PUBREC expected, got {first:#x}");
        assert_eq!(&body[..2], &[0, 7], "{which}");
        assert_eq!(reason(&body), 0x80, "{which}: not produced, so not SUCCESS");
    }
    let mqtt_topic = format!("here/{}", unique("dev"));
    raw.send(&publish(V5, 2, &mqtt_topic, 7, b"after-refusal"))
        .await;
    let (first, body) = raw.read().await.expect("PUBREC");
    assert_eq!((first, &body[..2], reason(&body)), (0x50, &[0u8, 7][..], 0));
    raw.send(&packet(0x62, &[0, 7])).await;
    let (first, body) = raw.read().await.expect("PUBCOMP");
    assert_eq!((first, &body[..2]), (0x70, &[0u8, 7][..]));
    let records = read_all(&here, 1, 1, Duration::from_secs(10));
    let values: Vec<_> = records
        .iter()
        .filter(|r| r.key.as_deref() == Some(mqtt_topic.as_bytes()))
        .map(|r| r.value.clone().unwrap_or_default())
        .collect();
    assert_eq!(
        values,
        [b"after-refusal".to_vec()],
        "acknowledged, so in Kafka once"
    );
    proxy.stop().await;
}

/// Publishes `payload(level, seq)` for seq in `0..total` at QoS 1 over one raw connection, with up
/// to `window` unacknowledged; returns the sequence numbers acknowledged as delivered and those
/// refused (MQTT 5 reason >= 0x80). Stops early when the proxy closes the connection (3.1.1's
/// answer to a failed publish) or after 60 s. `acked` counts successes as they come.
async fn raw_flood(
    port: u16,
    level: u8,
    total: usize,
    acked: Arc<AtomicUsize>,
) -> (Vec<usize>, Vec<usize>) {
    let (mut raw, code) = Raw::connect(port, level, None).await;
    assert_eq!(code, 0);
    let window = 32;
    let deadline = Instant::now() + Duration::from_secs(60);
    let (mut ok, mut refused) = (Vec::new(), Vec::new());
    let mut in_flight: BTreeMap<u16, usize> = BTreeMap::new();
    let mut next = 0;
    while (next < total || !in_flight.is_empty()) && Instant::now() < deadline {
        if next < total && in_flight.len() < window {
            let id = (next % 65535) as u16 + 1;
            raw.send(&publish(
                level,
                1,
                "dev/1",
                id,
                &payload(level.into(), next),
            ))
            .await;
            in_flight.insert(id, next);
            next += 1;
            continue;
        }
        let Some((first, body)) = raw.read().await else {
            break;
        };
        if first != 0x40 {
            break; // DISCONNECT
        }
        let id = u16::from_be_bytes([body[0], body[1]]);
        let seq = in_flight
            .remove(&id)
            .expect("PUBACK for a publish in flight");
        if body.len() == 2 || body[2] < 0x80 {
            ok.push(seq);
            acked.fetch_add(1, Ordering::Relaxed);
        } else {
            refused.push(seq);
        }
    }
    (ok, refused)
}

fn signal(pid: u32, sig: &str) {
    let status = std::process::Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success(), "kill {sig} {pid}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_paused_mid_flood_nothing_acknowledged_is_lost() {
    let _serial = SERIAL.lock().await;
    // A broker of its own, paused with SIGSTOP: Tansu keeps records in memory, so a killed broker
    // would lose them and the check below would prove nothing.
    let broker = local_broker::LocalBroker::start().unwrap();
    let bootstrap = broker.bootstrap().to_string();
    let topic = unique("paused");
    create_topic_on(&bootstrap, &topic, 1).await;
    let rules = format!("{topic}:.*");
    let (proxy, port) = start_mqtt_on(
        Some(&bootstrap),
        &[
            ("mqtt.topic.regex.list", rules.as_str()),
            ("producer.request.timeout.ms", "1000"),
            ("producer.message.timeout.ms", "2000"),
        ],
    )
    .await;
    for (level, total) in [(V5, 20_000), (V311, 20_000)] {
        let acked = Arc::new(AtomicUsize::new(0));
        let flood = tokio::spawn(raw_flood(port, level, total, acked.clone()));
        // Pause the broker once the flood is under way, long enough for requests to time out.
        let started = Instant::now();
        while acked.load(Ordering::Relaxed) < 1000 {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "the flood never got going"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        signal(broker.pid(), "-STOP");
        tokio::time::sleep(Duration::from_secs(3)).await;
        signal(broker.pid(), "-CONT");
        let (ok, refused) = flood.await.unwrap();
        let written: HashSet<Vec<u8>> =
            read_all_on(&bootstrap, &topic, 1, usize::MAX, Duration::from_secs(5))
                .into_iter()
                .map(|r| r.value.unwrap())
                .filter(|v| v.starts_with(format!("c{level}-").as_bytes()))
                .collect();
        let lost: Vec<usize> = ok
            .iter()
            .copied()
            .filter(|&s| !written.contains(&payload(level.into(), s)))
            .collect();
        assert!(
            lost.is_empty(),
            "level {level}: {} acknowledged publishes are not in Kafka, e.g. {:?}",
            lost.len(),
            &lost[..lost.len().min(5)]
        );
        assert!(ok.len() >= 1000, "level {level}: {} acknowledged", ok.len());
        if level == V5 {
            // The pause was felt: MQTT 5 publishes were refused (0x80), not acknowledged.
            assert!(
                !refused.is_empty(),
                "no publish was refused while the broker was paused"
            );
        } else {
            // 3.1.1 has no refusal: the proxy closed the connection before the flood ended.
            assert!(
                ok.len() < total,
                "3.1.1: every publish acknowledged through a paused broker"
            );
        }
        eprintln!(
            "level {level}: {} acknowledged (all in Kafka), {} refused, {} of its records in the topic",
            ok.len(),
            refused.len(),
            written.len()
        );
    }
    proxy.stop().await;
}
