//! MQTT sources (issue 18) against a real remote broker: Debian's `mosquitto`, started by each
//! test on a free loopback port with persistence on, and `mosquitto_pub` publishing through it.
//! The records in Kafka are read back natively: topic, key, value, headers, count and order.
//! The runtime has worker threads: the native reads block while the proxy's source runs.

mod common;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::process;
use common::*;

/// A mosquitto process with its own directory (configuration and persistence).
struct Mosquitto {
    port: u16,
    dir: PathBuf,
    child: Option<Child>,
}

impl Mosquitto {
    fn start() -> Mosquitto {
        Self::start_with("allow_anonymous true\n")
    }

    /// Started with `extra` configuration lines, which may name files in [`Mosquitto::dir`]
    /// written by `files` first.
    fn start_with_files(files: impl FnOnce(&std::path::Path) -> String) -> Mosquitto {
        let dir = std::env::temp_dir().join(unique("mosquitto"));
        std::fs::create_dir_all(&dir).unwrap();
        let extra = files(&dir);
        let mut m = Mosquitto {
            port: free_port(),
            dir,
            child: None,
        };
        m.spawn_with(&extra);
        m
    }

    fn start_with(extra: &str) -> Mosquitto {
        Self::start_with_files(|_| extra.to_string())
    }

    fn spawn(&mut self) {
        self.spawn_with("allow_anonymous true\n");
    }

    /// Starts it with `extra` configuration lines (TLS, a password file...).
    fn spawn_with(&mut self, extra: &str) {
        let conf = self.dir.join("mosquitto.conf");
        std::fs::write(
            &conf,
            format!(
                "listener {port} 127.0.0.1\npersistence true\n\
                 persistence_location {dir}/\nmax_queued_messages 200000\nmax_inflight_messages 1000\nuser root\n{extra}",
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
/// the broker restarts mid-way (`/ready` says the source is disconnected and why), the source
/// reconnects and resubscribes, and QoS 1 messages published after the restart arrive.
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
    let source = |proxy_url: String| async move {
        let r = get(&format!("{proxy_url}/ready"), "application/json").await;
        assert_eq!(r.status, 200, "{r:?}");
        r.json()["mqtt_sources"]["default"].clone()
    };
    let state = source(proxy.url.clone()).await;
    assert_eq!(state["connected"], true, "{state}");
    assert_eq!(state["subscribed"], true, "{state}");
    assert_eq!(state["server"], broker.uri(), "{state}");
    broker.stop();
    // /ready says the source is disconnected, and why.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let state = source(proxy.url.clone()).await;
        if state["connected"] == false && state["subscribed"] == false && state["error"].is_string()
        {
            break;
        }
        assert!(Instant::now() < deadline, "{state}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
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

/// Publishes `count` QoS 1 messages `flood-0`.. on `topic` (1000 in flight, 10,000 per second
/// at most); returns once the broker has acknowledged every one. (rumqttc, not
/// `mosquitto_pub -l`: mosquitto_pub 2.0.11 exits at the end of its input with messages still
/// unsent, 34,467 of 100,000 reaching the broker here.)
async fn flood(port: u16, topic: &str, count: usize) {
    flood_at(port, topic, count, 10_000.0).await
}

/// [`flood`] at up to `rate` messages per second.
async fn flood_at(port: u16, topic: &str, count: usize, rate: f64) {
    use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
    let mut options = MqttOptions::new(unique("flooder"), "127.0.0.1", port);
    options
        .set_inflight(1000)
        .set_keep_alive(Duration::from_secs(30));
    let (client, mut events) = AsyncClient::new(options, 1000);
    let topic = topic.to_string();
    let sender = tokio::spawn(async move {
        let started = Instant::now();
        for i in 0..count {
            // At most `rate` per second, so that a proxy outage of a few seconds queues fewer
            // than 65,535 messages for its session: beyond that mosquitto's packet ids for it
            // wrap and it delivers whole runs again (README, "MQTT sources").
            if i % 1000 == 0 {
                let due = started + Duration::from_secs_f64(i as f64 / rate);
                tokio::time::sleep_until(due.into()).await;
            }
            client
                .publish(&topic, QoS::AtLeastOnce, false, format!("flood-{i}"))
                .await
                .unwrap();
        }
        client
    });
    let mut acked = 0;
    while acked < count {
        match events.poll().await {
            Ok(Event::Incoming(Packet::PubAck(_))) => acked += 1,
            Ok(_) => {}
            Err(e) => panic!("flood: {e}"),
        }
    }
    let client = sender.await.unwrap();
    let _ = client.disconnect().await;
}

/// Publishes `count` QoS 1 messages `flood-<i>` to `topic` at `rate` per second, through
/// broker restarts: a persistent session, and the event loop polled again after each
/// failure (rumqttc reconnects and sends again what was not acknowledged). The task runs until
/// aborted, so nothing unacknowledged is cut off by a disconnect.
fn flood_through_restarts(
    port: u16,
    topic: &str,
    count: usize,
    rate: f64,
) -> tokio::task::JoinHandle<()> {
    use rumqttc::{AsyncClient, MqttOptions, QoS};
    let mut options = MqttOptions::new(unique("flooder"), "127.0.0.1", port);
    options
        .set_inflight(1000)
        .set_clean_session(false)
        .set_keep_alive(Duration::from_secs(30));
    let (client, mut events) = AsyncClient::new(options, 1000);
    let topic = topic.to_string();
    tokio::spawn(async move {
        let started = Instant::now();
        for i in 0..count {
            if i % 1000 == 0 {
                let due = started + Duration::from_secs_f64(i as f64 / rate);
                tokio::time::sleep_until(due.into()).await;
            }
            // Ends when the event loop below is aborted with the test's flood.
            if client
                .publish(&topic, QoS::AtLeastOnce, false, format!("flood-{i}"))
                .await
                .is_err()
            {
                return;
            }
        }
    });
    tokio::spawn(async move {
        loop {
            if events.poll().await.is_err() {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    })
}

/// How a flood of `count` messages ended up in Kafka: (missing, duplicates), each stored record
/// counted once by offset (a reader may see a batch twice).
fn flood_outcome(records: &[NativeRecord], count: usize) -> (usize, usize) {
    let stored: std::collections::BTreeMap<i64, &[u8]> = records
        .iter()
        .filter_map(|r| Some((r.offset, r.value.as_deref()?)))
        .filter(|(_, v)| v.starts_with(b"flood-"))
        .collect();
    let distinct: std::collections::HashSet<&[u8]> = stored.values().copied().collect();
    (count - distinct.len(), stored.len() - distinct.len())
}

/// At least once across a crash: 100,000 QoS 1 messages, the proxy killed with SIGKILL
/// mid-flood and started again. Every message is in Kafka; duplicates (messages Kafka had
/// taken but whose acknowledgement died with the proxy) are counted and reported.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_message_is_lost_when_the_proxy_is_killed_mid_flood() {
    const COUNT: usize = 100_000;
    let mosquitto = Mosquitto::start();
    let topic = unique("mqtt-kill");
    create_topic(&topic, 1).await;
    mosquitto.publish("k/boot", 1, true, &["up".to_string()]);
    let uri = mosquitto.uri();
    let client_id = unique("kill");
    let settings = [
        ("mqtt.server.uri", uri.as_str()),
        ("mqtt.topics", "k/#"),
        ("kafka.topic", topic.as_str()),
        ("mqtt.qos", "1"),
        ("mqtt.client.id", client_id.as_str()),
    ];
    let mut proxy = process::ProxyProcess::start(&broker().bootstrap, false, &settings).await;
    let ready = topic.clone();
    tokio::task::spawn_blocking(move || wait_for_records(&ready, 1))
        .await
        .unwrap();

    let publisher = tokio::spawn(flood(mosquitto.port, "k/flood", COUNT));
    // Kill it two seconds into the flood (about a fifth of it published).
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        !publisher.is_finished(),
        "the proxy is killed mid-flood, while messages are still being published"
    );
    proxy.child.start_kill().unwrap();
    let _ = proxy.child.wait().await;
    proxy = process::ProxyProcess::start(&broker().bootstrap, false, &settings).await;
    publisher.await.unwrap();

    let t = topic.clone();
    let records = tokio::task::spawn_blocking(move || {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let records = read_all(&t, 1, COUNT + 1, Duration::from_secs(5));
            let distinct: std::collections::HashSet<&[u8]> = records
                .iter()
                .filter_map(|r| r.value.as_deref())
                .filter(|v| v.starts_with(b"flood-"))
                .collect();
            if distinct.len() >= COUNT || Instant::now() > deadline {
                return records;
            }
        }
    })
    .await
    .unwrap();
    let (missing, duplicates) = flood_outcome(&records, COUNT);
    eprintln!(
        "proxy killed mid-flood: {COUNT} published, {missing} missing, {duplicates} duplicates"
    );
    assert_eq!(missing, 0, "every acknowledged message is in Kafka");
    proxy.assert_healthy("after the flood").await;
}

/// Log lines of the in-process proxies, for the tests that check what the logs say.
#[derive(Clone, Default)]
struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

/// TLS to the remote broker with a test certificate (`mqtt.ssl.ca.location`) and a password:
/// wrong credentials are logged and retried (the proxy keeps serving, nothing is forwarded);
/// the right ones forward.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_and_credentials() {
    let captured = Captured::default();
    let writer = captured.clone();
    let _ = tracing_subscriber::fmt()
        .with_env_filter("warn,kafka_proxy::mqtt_source=info")
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .try_init();
    let certified = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).unwrap();
    let mut ca = PathBuf::new();
    let broker = Mosquitto::start_with_files(|dir| {
        let (cert, key, passwords) = (dir.join("cert.pem"), dir.join("key.pem"), dir.join("pw"));
        std::fs::write(&cert, certified.cert.pem()).unwrap();
        std::fs::write(&key, certified.signing_key.serialize_pem()).unwrap();
        let status = Command::new("mosquitto_passwd")
            .args(["-b", "-c"])
            .arg(&passwords)
            .args(["device", "s3cret"])
            .status()
            .expect("mosquitto_passwd");
        assert!(status.success());
        ca = cert.clone();
        format!(
            "certfile {}\nkeyfile {}\npassword_file {}\nallow_anonymous false\n",
            cert.display(),
            key.display(),
            passwords.display()
        )
    });
    let ca = ca.display().to_string();
    let uri = format!("ssl://127.0.0.1:{}", broker.port);
    let topic = unique("mqtt-tls");
    create_topic(&topic, 1).await;
    let start = |password: &'static str| {
        let (uri, ca, topic) = (uri.clone(), ca.clone(), topic.clone());
        async move {
            Proxy::start_with(&[
                ("mqtt.server.uri", uri.as_str()),
                ("mqtt.topics", "t/#"),
                ("kafka.topic", topic.as_str()),
                ("mqtt.client.id", &unique("tls")),
                ("mqtt.username", "device"),
                ("mqtt.password", password),
                ("mqtt.ssl.ca.location", ca.as_str()),
            ])
            .await
        }
    };
    let refused = start("wrong").await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while !captured.text().contains("NotAuthorized") {
        assert!(
            Instant::now() < deadline,
            "no log line for the refusal: {}",
            captured.text()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let line = captured
        .text()
        .lines()
        .find(|l| l.contains("NotAuthorized"))
        .unwrap()
        .to_string();
    assert!(
        line.contains("MQTT source disconnected") && line.contains(&uri),
        "{line}"
    );
    let r = get(&format!("{}/", refused.url), "application/json").await;
    assert_eq!(r.status, 200, "the proxy keeps serving: {r:?}");
    refused.stop().await;

    let proxy = start("s3cret").await;
    let publish = Command::new("mosquitto_pub")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &broker.port.to_string(),
            "--cafile",
            &ca,
        ])
        .args([
            "-u", "device", "-P", "s3cret", "-t", "t/boot", "-q", "1", "-r", "-m", "secure",
        ])
        .status()
        .unwrap();
    assert!(publish.success());
    let t = topic.clone();
    let records = tokio::task::spawn_blocking(move || wait_for_records(&t, 1))
        .await
        .unwrap();
    assert_eq!(records[0].value.as_deref(), Some(&b"secure"[..]));
    proxy.stop().await;
}

/// At least once while Kafka stops answering: a dedicated Tansu is paused (SIGSTOP) for three
/// seconds, two seconds into a flood of 100,000 QoS 1 messages, then resumed. Nothing is acknowledged to the
/// remote broker meanwhile, so every message is in Kafka afterwards; duplicates are counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_message_is_lost_while_kafka_is_paused() {
    const COUNT: usize = 100_000;
    let kafka = local_broker::LocalBroker::start().unwrap();
    let bootstrap = kafka.bootstrap().to_string();
    let topic = unique("mqtt-pause");
    create_topic_on(&bootstrap, &topic, 1).await;
    let mosquitto = Mosquitto::start();
    mosquitto.publish("p/boot", 1, true, &["up".to_string()]);
    let uri = mosquitto.uri();
    let client_id = unique("pause");
    let proxy = Proxy::start_on(
        &bootstrap,
        &[
            ("mqtt.server.uri", uri.as_str()),
            ("mqtt.topics", "p/#"),
            ("kafka.topic", topic.as_str()),
            ("mqtt.client.id", client_id.as_str()),
        ],
    )
    .await;
    let (b, t) = (bootstrap.clone(), topic.clone());
    tokio::task::spawn_blocking(move || {
        assert_eq!(read_all_on(&b, &t, 1, 1, Duration::from_secs(15)).len(), 1)
    })
    .await
    .unwrap();

    let publisher = tokio::spawn(flood(mosquitto.port, "p/flood", COUNT));
    tokio::time::sleep(Duration::from_secs(2)).await;
    let signal = |sig: &str| {
        let status = Command::new("kill")
            .arg(sig)
            .arg(kafka.pid().to_string())
            .status()
            .unwrap();
        assert!(status.success());
    };
    assert!(!publisher.is_finished(), "Kafka is paused mid-flood");
    signal("-STOP");
    tokio::time::sleep(Duration::from_secs(3)).await;
    signal("-CONT");
    publisher.await.unwrap();

    let (b, t) = (bootstrap.clone(), topic.clone());
    let records = tokio::task::spawn_blocking(move || {
        read_all_on(&b, &t, 1, COUNT + 1, Duration::from_secs(10))
    })
    .await
    .unwrap();
    let (missing, duplicates) = flood_outcome(&records, COUNT);
    eprintln!(
        "Kafka paused 3 s mid-flood: {COUNT} published, {missing} missing, {duplicates} duplicates"
    );
    assert_eq!(missing, 0, "every message is in Kafka");
    proxy.stop().await;
}

/// An MQTT 5 source (`mqtt.version=5`): user properties (repeats kept, in order), content type
/// and correlation data arrive as headers after `mqtt.topic`, `mqtt.qos` and `mqtt.retained`;
/// and its session outlives the connection (session expiry), so messages published while the
/// proxy is away arrive when it returns.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mqtt5_source_maps_properties_and_keeps_its_session() {
    let broker = Mosquitto::start();
    let topic = unique("mqtt5-source");
    create_topic(&topic, 1).await;
    let client_id = unique("v5");
    let uri = broker.uri();
    let settings = [
        ("mqtt.server.uri", uri.as_str()),
        ("mqtt.topics", "v5/#"),
        ("kafka.topic", topic.as_str()),
        ("mqtt.version", "5"),
        ("mqtt.client.id", client_id.as_str()),
    ];
    broker.publish("v5/boot", 1, true, &["up".to_string()]);
    let proxy = Proxy::start_with(&settings).await;
    wait_for_records(&topic, 1);
    let status = Command::new("mosquitto_pub")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &broker.port.to_string(),
            "-V",
            "mqttv5",
        ])
        .args(["-q", "1", "-t", "v5/x", "-m", "with-properties"])
        .args(["-D", "publish", "user-property", "unit", "celsius"])
        .args(["-D", "publish", "user-property", "unit", "kelvin"])
        .args(["-D", "publish", "content-type", "text/plain"])
        .args(["-D", "publish", "correlation-data", "req-42"])
        .status()
        .unwrap();
    assert!(status.success());
    let records = wait_for_records(&topic, 2);
    let headers: Vec<(String, String)> = records[1]
        .headers
        .iter()
        .map(|(k, v)| (k.clone(), String::from_utf8(v.clone()).unwrap()))
        .collect();
    let pair = |k: &str, v: &str| (k.to_string(), v.to_string());
    assert_eq!(
        headers,
        [
            pair("mqtt.topic", "v5/x"),
            pair("mqtt.qos", "1"),
            pair("mqtt.retained", "false"),
            pair("unit", "celsius"),
            pair("unit", "kelvin"),
            pair("mqtt.content.type", "text/plain"),
            pair("mqtt.correlation.data", "req-42"),
        ]
    );
    proxy.stop().await;
    let away: Vec<String> = (0..50).map(|i| format!("away-{i}")).collect();
    broker.publish("v5/y", 1, false, &away);
    let proxy = Proxy::start_with(&settings).await;
    let records = wait_for_records(&topic, 52);
    let values: Vec<String> = records
        .iter()
        .filter(|r| r.key.as_deref() == Some(&b"v5/y"[..]))
        .map(|r| String::from_utf8(r.value.clone().unwrap()).unwrap())
        .collect();
    assert_eq!(values, away);
    proxy.stop().await;
}

/// The remote broker restarted mid-flood: 50,000 QoS 1 messages are being published (10,000 a
/// second) when
/// mosquitto is stopped (SIGTERM: it saves the sessions, their in-flight and queued messages)
/// and started again. The publisher (a persistent session) and the source both reconnect and
/// resume; nothing is missing in Kafka, and duplicates are counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_message_is_lost_when_the_broker_restarts_mid_stream() {
    const COUNT: usize = 50_000;
    let mut mosquitto = Mosquitto::start();
    let topic = unique("mqtt-bounce");
    create_topic(&topic, 1).await;
    mosquitto.publish("b/boot", 1, true, &["up".to_string()]);
    let proxy = proxy_with_source(&mosquitto.uri(), "b/#", &topic, &unique("bounce")).await;
    wait_for_records(&topic, 1);
    // 10,000 a second: the source forwards as fast as they come, so the flood lasts 5 s, and
    // the restart 1.5 s in comes mid-stream (checked below by the records' CreateTime).
    let flood = flood_through_restarts(mosquitto.port, "b/flood", COUNT, 10_000.0);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let restart_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    mosquitto.stop();
    mosquitto.spawn();
    let t = topic.clone();
    let records = tokio::task::spawn_blocking(move || {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let records = read_all(&t, 1, COUNT + 2, Duration::from_secs(5));
            if flood_outcome(&records, COUNT).0 == 0 || Instant::now() > deadline {
                return records;
            }
        }
    })
    .await
    .unwrap();
    flood.abort();
    let (missing, duplicates) = flood_outcome(&records, COUNT);
    let after = records
        .iter()
        .filter(|r| r.value.as_deref().is_some_and(|v| v.starts_with(b"flood-")))
        .filter(|r| r.timestamp.is_some_and(|t| t >= restart_ms))
        .count();
    let before = records
        .iter()
        .filter(|r| r.value.as_deref().is_some_and(|v| v.starts_with(b"flood-")))
        .count()
        - after;
    eprintln!(
        "broker restarted mid-stream: {before} records forwarded before it, {after} after; \
         {missing} missing, {duplicates} duplicates"
    );
    assert!(after > 0, "the restart came mid-stream");
    assert_eq!(missing, 0, "every message is in Kafka");
    proxy.stop().await;
}
