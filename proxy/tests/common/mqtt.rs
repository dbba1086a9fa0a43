//! MQTT test fixtures: a proxy with MQTT listeners, Debian's `mosquitto_pub`, and a raw-packet
//! client (hand-encoded bytes, so malformed input and exact packet ids are possible).

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::process::Command;

use super::{free_port, Proxy};

/// The tests of a binary run one at a time: each reserves MQTT ports with `free_port` before
/// its proxy binds them (asynchronously, after it has connected to Kafka), and a parallel
/// test's port-0 binds could take them in between.
pub static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The seed's mapping, as written there.
pub const SEED_RULES: &str = "temperature:.*temperature, brightness:.*brightness";

/// Waits until `port` accepts connections (the proxy binds MQTT after connecting to Kafka).
pub async fn wait_port(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(("127.0.0.1", port)).await.is_err() {
        assert!(Instant::now() < deadline, "MQTT listener never came up");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A proxy (on `bootstrap`, else the shared broker) with one plain MQTT listener on a free port,
/// the seed's rules unless `extra` sets others, and `extra`; returns it and the port.
pub async fn start_mqtt_on(bootstrap: Option<&str>, extra: &[(&str, &str)]) -> (Proxy, u16) {
    let port = free_port();
    let listener = format!("tcp://127.0.0.1:{port}");
    let mut props = vec![
        ("mqtt.listeners", listener.as_str()),
        ("mqtt.topic.regex.list", SEED_RULES),
    ];
    props.extend_from_slice(extra);
    let proxy = match bootstrap {
        Some(b) => Proxy::start_on(b, &props).await,
        None => Proxy::start_with(&props).await,
    };
    wait_port(port).await;
    (proxy, port)
}

pub async fn start_mqtt(extra: &[(&str, &str)]) -> (Proxy, u16) {
    start_mqtt_on(None, extra).await
}

/// Runs `mosquitto_pub` (bounded to 20 s); its exit status and stderr.
pub async fn mosquitto_pub(port: u16, args: &[&str]) -> (bool, String) {
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

/// MQTT's protocol levels.
pub const V311: u8 = 4;
pub const V5: u8 = 5;

fn remaining_length(mut n: usize, out: &mut Vec<u8>) {
    loop {
        let mut byte = (n % 128) as u8;
        n /= 128;
        if n > 0 {
            byte |= 0x80;
        }
        out.push(byte);
        if n == 0 {
            return;
        }
    }
}

fn string(s: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(&(s.len() as u16).to_be_bytes());
    out.extend_from_slice(s);
}

/// A packet: first byte, Remaining Length, body.
pub fn packet(first: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![first];
    remaining_length(body.len(), &mut out);
    out.extend_from_slice(body);
    out
}

/// CONNECT with a clean session, keep-alive 60 s, and optional username and password.
pub fn connect(level: u8, client_id: &str, login: Option<(&str, &str)>) -> Vec<u8> {
    connect_keep_alive(level, client_id, login, 60)
}

/// [`connect`] with a keep-alive of `keep_alive` seconds.
pub fn connect_keep_alive(
    level: u8,
    client_id: &str,
    login: Option<(&str, &str)>,
    keep_alive: u16,
) -> Vec<u8> {
    let mut body = Vec::new();
    string(b"MQTT", &mut body);
    body.push(level);
    body.push(0x02 | if login.is_some() { 0xC0 } else { 0 });
    body.extend_from_slice(&keep_alive.to_be_bytes());
    if level == V5 {
        body.push(0); // no properties
    }
    string(client_id.as_bytes(), &mut body);
    if let Some((user, password)) = login {
        string(user.as_bytes(), &mut body);
        string(password.as_bytes(), &mut body);
    }
    packet(0x10, &body)
}

/// PUBLISH at `qos` (packet id used for QoS 1 and 2).
pub fn publish(level: u8, qos: u8, topic: &str, packet_id: u16, payload: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    string(topic.as_bytes(), &mut body);
    if qos > 0 {
        body.extend_from_slice(&packet_id.to_be_bytes());
    }
    if level == V5 {
        body.push(0);
    }
    body.extend_from_slice(payload);
    packet(0x30 | (qos << 1), &body)
}

/// A raw connection to the proxy's MQTT port.
pub struct Raw {
    pub stream: TcpStream,
}

impl Raw {
    pub async fn open(port: u16) -> Raw {
        let stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        stream.set_nodelay(true).unwrap();
        Raw { stream }
    }

    /// Opens, sends CONNECT and returns the CONNACK's return/reason code.
    pub async fn connect(port: u16, level: u8, login: Option<(&str, &str)>) -> (Raw, u8) {
        let mut raw = Raw::open(port).await;
        raw.send(&connect(level, &super::unique("raw"), login))
            .await;
        let (first, body) = raw.read().await.expect("CONNACK");
        assert_eq!(first, 0x20, "CONNACK expected, got {first:#x}");
        (raw, body[1])
    }

    pub async fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.unwrap();
    }

    /// The next packet (first byte, body), or `None` when the proxy closed the connection.
    /// Panics after 15 s without either.
    pub async fn read(&mut self) -> Option<(u8, Vec<u8>)> {
        tokio::time::timeout(Duration::from_secs(15), self.read_packet())
            .await
            .expect("the proxy answers or closes within 15 s")
    }

    async fn read_packet(&mut self) -> Option<(u8, Vec<u8>)> {
        let first = self.stream.read_u8().await.ok()?;
        let mut len = 0usize;
        for shift in 0..4 {
            let byte = self.stream.read_u8().await.ok()?;
            len |= usize::from(byte & 0x7f) << (7 * shift);
            if byte & 0x80 == 0 {
                break;
            }
        }
        let mut body = vec![0; len];
        self.stream.read_exact(&mut body).await.ok()?;
        Some((first, body))
    }

    /// Reads until the proxy closes; the packets it sent meanwhile.
    pub async fn until_closed(&mut self) -> Vec<(u8, Vec<u8>)> {
        let mut seen = Vec::new();
        while let Some(p) = self.read().await {
            seen.push(p);
        }
        seen
    }
}
