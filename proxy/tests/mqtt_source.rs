//! MQTT sources (issue 18) against a real remote broker: Debian's `mosquitto`, started by each
//! test on a free loopback port with persistence on, and `mosquitto_pub` publishing through it.
//! The records in Kafka are read back natively: topic, key, value, headers, count and order.
//! The runtime has worker threads: the native reads block while the proxy's source runs.

mod common;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

/// A mosquitto process with its own directory (configuration and persistence).
struct Mosquitto {
    port: u16,
    dir: PathBuf,
    child: Option<Child>,
}

impl Mosquitto {
    fn start() -> Mosquitto {
        let dir = std::env::temp_dir().join(unique("mosquitto"));
        std::fs::create_dir_all(&dir).unwrap();
        let mut m = Mosquitto {
            port: free_port(),
            dir,
            child: None,
        };
        m.spawn();
        m
    }

    fn spawn(&mut self) {
        let conf = self.dir.join("mosquitto.conf");
        std::fs::write(
            &conf,
            format!(
                "listener {port} 127.0.0.1\nallow_anonymous true\npersistence true\n\
                 persistence_location {dir}/\nmax_queued_messages 200000\nuser root\n",
                port = self.port,
                dir = self.dir.display()
            ),
        )
        .unwrap();
        let child = Command::new("/usr/sbin/mosquitto")
            .arg("-c")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("mosquitto (scripts/install-deps.sh installs it)");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "mosquitto did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops it cleanly (SIGTERM: it writes its persistence file) and waits.
    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(child.id().to_string())
                .status();
            let _ = child.wait();
        }
    }

    fn uri(&self) -> String {
        format!("tcp://127.0.0.1:{}", self.port)
    }

    /// Publishes each line as a message (`mosquitto_pub -l`), MQTT 3.1.1.
    fn publish(&self, topic: &str, qos: u8, retain: bool, lines: &[String]) {
        let mut args = vec![
            "-h".to_string(),
            "127.0.0.1".into(),
            "-p".into(),
            self.port.to_string(),
            "-t".into(),
            topic.into(),
            "-q".into(),
            qos.to_string(),
            "-l".into(),
        ];
        if retain {
            args.push("-r".into());
        }
        let mut child = Command::new("mosquitto_pub")
            .args(&args)
            .stdin(Stdio::piped())
            .spawn()
            .expect("mosquitto_pub");
        {
            use std::io::Write;
            let stdin = child.stdin.as_mut().unwrap();
            for line in lines {
                writeln!(stdin, "{line}").unwrap();
            }
        }
        let status = child.wait().unwrap();
        assert!(status.success(), "mosquitto_pub {args:?}: {status}");
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn header<'a>(r: &'a NativeRecord, name: &str) -> Option<&'a [u8]> {
    r.headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_slice())
}

/// A proxy whose one source (the connector's keys at the top level) reads `filters` from
/// `servers` into `topic`.
async fn proxy_with_source(servers: &str, filters: &str, topic: &str, client_id: &str) -> Proxy {
    Proxy::start_with(&[
        ("mqtt.server.uri", servers),
        ("mqtt.topics", filters),
        ("kafka.topic", topic),
        ("mqtt.qos", "2"),
        ("mqtt.client.id", client_id),
    ])
    .await
}

/// Waits until `expected` records are in `topic` (the source is connected and forwarding).
fn wait_for_records(topic: &str, expected: usize) -> Vec<NativeRecord> {
    let records = read_all(topic, 1, expected, Duration::from_secs(15));
    assert!(
        records.len() >= expected,
        "{} of {expected} records arrived",
        records.len()
    );
    records
}

/// QoS 0, 1 and 2 through the remote broker: every message in Kafka once, key = MQTT topic,
/// value = payload, the `mqtt.*` headers, in publish order per MQTT topic; a retained message
/// published before the proxy subscribed arrives marked retained.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwards_every_qos_in_order() {
    let broker = Mosquitto::start();
    let topic = unique("mqtt-source");
    create_topic(&topic, 1).await;
    broker.publish("vp/boot", 1, true, &["hello".to_string()]);
    let proxy = proxy_with_source(&broker.uri(), "vp/#", &topic, &unique("src")).await;
    let first = wait_for_records(&topic, 1);
    assert_eq!(first[0].key.as_deref(), Some(&b"vp/boot"[..]));
    assert_eq!(header(&first[0], "mqtt.retained"), Some(&b"true"[..]));

    let lines =
        |prefix: &str| -> Vec<String> { (0..50).map(|i| format!("{prefix}-{i}")).collect() };
    for qos in 0..=2u8 {
        for t in ["vp/a", "vp/b"] {
            broker.publish(t, qos, false, &lines(&format!("{t}-q{qos}")));
        }
    }
    let records = wait_for_records(&topic, 301);
    assert_eq!(records.len(), 301, "each message exactly once");
    for qos in 0..=2u8 {
        for t in ["vp/a", "vp/b"] {
            let values: Vec<String> = records
                .iter()
                .filter(|r| {
                    r.key.as_deref() == Some(t.as_bytes())
                        && header(r, "mqtt.qos") == Some(qos.to_string().as_bytes())
                })
                .map(|r| String::from_utf8(r.value.clone().unwrap()).unwrap())
                .collect();
            assert_eq!(values, lines(&format!("{t}-q{qos}")), "{t} at QoS {qos}");
        }
    }
    let r = records
        .iter()
        .find(|r| r.key.as_deref() == Some(&b"vp/a"[..]))
        .unwrap();
    assert_eq!(header(r, "mqtt.topic"), Some(&b"vp/a"[..]));
    assert_eq!(header(r, "mqtt.retained"), Some(&b"false"[..]));
    proxy.stop().await;
}

/// The session is persistent: QoS 1 messages published while the proxy is down are delivered
/// when it returns (same client id), and none is lost or duplicated by a clean stop.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_published_while_away_arrive_on_return() {
    let broker = Mosquitto::start();
    let topic = unique("mqtt-away");
    create_topic(&topic, 1).await;
    let client_id = unique("away");
    broker.publish("dev/boot", 1, true, &["up".to_string()]);
    let proxy = proxy_with_source(&broker.uri(), "dev/#", &topic, &client_id).await;
    wait_for_records(&topic, 1);
    proxy.stop().await;

    let away: Vec<String> = (0..200).map(|i| format!("away-{i}")).collect();
    broker.publish("dev/x", 1, false, &away);
    let proxy = proxy_with_source(&broker.uri(), "dev/#", &topic, &client_id).await;
    let records = wait_for_records(&topic, 201);
    let values: Vec<String> = records
        .iter()
        .filter(|r| r.key.as_deref() == Some(&b"dev/x"[..]))
        .map(|r| String::from_utf8(r.value.clone().unwrap()).unwrap())
        .collect();
    assert_eq!(values, away);
    proxy.stop().await;
}

/// Fail-over and reconnection: the first server URI is dead, so the source uses the second;
/// the broker restarts mid-way and the source reconnects and resubscribes, and QoS 1
/// messages published after the restart arrive.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fails_over_and_reconnects_after_a_broker_restart() {
    let mut broker = Mosquitto::start();
    let topic = unique("mqtt-restart");
    create_topic(&topic, 1).await;
    let dead = format!("tcp://127.0.0.1:{}", free_port());
    broker.publish("s/boot", 1, true, &["up".to_string()]);
    let proxy = proxy_with_source(
        &format!("{dead},{}", broker.uri()),
        "s/#",
        &topic,
        &unique("fo"),
    )
    .await;
    wait_for_records(&topic, 1);
    broker.stop();
    std::thread::sleep(Duration::from_millis(500));
    broker.spawn();
    // The retained message is delivered again on the new subscription (once more), then the
    // new messages.
    let after: Vec<String> = (0..100).map(|i| format!("after-{i}")).collect();
    broker.publish("s/x", 1, false, &after);
    let records = read_all(&topic, 1, 102, Duration::from_secs(20));
    let values: Vec<String> = records
        .iter()
        .filter(|r| r.key.as_deref() == Some(&b"s/x"[..]))
        .map(|r| String::from_utf8(r.value.clone().unwrap()).unwrap())
        .collect();
    assert_eq!(values, after);
    proxy.stop().await;
}
