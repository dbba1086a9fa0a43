//! `mqtt-source`: devices publish into an MQTT broker (the mosquitto the run starts) and what
//! is subscribed to it carries the records on, measured where they arrive:
//! - [`Sink::Kafka`]: the proxy's MQTT source writes them to a Kafka topic, which a native
//!   consumer here reads from the start.
//! - [`Sink::Subscriber`]: a lean MQTT 5 subscriber here takes them straight from the broker:
//!   what the broker itself delivers, the source's ceiling.
//!
//! The publishers are the `mqtt` driver's clients (encoded before the clock, pipelined up to
//! the broker's Receive Maximum). The broker acknowledges a publish once it holds it, long
//! before the record is in Kafka, so its answers only pace the publishers: the measured window
//! runs from the first write to the last distinct record's arrival, and each record's latency
//! from its publish's write to its arrival (end to end). Arrivals are checked by id: missing,
//! duplicated and foreign records are counted, and the distinct values' checksum is kept.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use super::arrivals::{Arrivals, SendTimes, Until};
use super::mqtt::{self, Answers};
use super::split;
use crate::measure::{Delivery, PhaseResult};
use crate::progress::Progress;
use crate::scenario::{Clients, Workload};

/// How long the far end waits for more once the publishers are done and nothing new came.
const PATIENCE: Duration = Duration::from_secs(3);

/// Where the records are read at the far end.
pub enum Sink {
    /// The topic the proxy's MQTT source writes them to.
    Kafka {
        bootstrap: String,
        topic: String,
        partitions: i32,
        clients: Clients,
    },
    /// A subscriber on `filter` at `qos`, granting the broker `receive_maximum` unanswered
    /// QoS 1/2 messages (as the proxy's source does).
    Subscriber {
        filter: String,
        qos: u8,
        receive_maximum: u16,
    },
}

/// Publishes `w.records` records over `w.concurrency` connections to the broker at `addr`, on
/// MQTT topics `{prefix}/c{client}` at `qos`, and reads them at `sink`.
pub async fn produce(
    driver: &str,
    addr: &str,
    prefix: &str,
    qos: u8,
    sink: Sink,
    w: &Workload,
    progress: Arc<Progress>,
) -> anyhow::Result<PhaseResult> {
    anyhow::ensure!(qos <= 2, "MQTT QoS {qos} does not exist");
    let sent = SendTimes::new(w.records);
    let mut publishers = Vec::new();
    for (c, range) in split(w.records, w.concurrency).into_iter().enumerate() {
        let topic = format!("{prefix}/c{c}");
        let work = mqtt::build(range, topic.as_bytes(), qos, w);
        let mut stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        let window = mqtt::connect(&mut stream, &format!("loadgen-{driver}-{c}")).await?;
        publishers.push((stream, work, window));
    }
    let (published_checksum, bytes) = publishers.iter().fold((0u64, 0u64), |(c, b), p| {
        (c.wrapping_add(p.1.checksum), b + p.1.bytes)
    });
    let arrivals = Arrivals::new(w.records, sent.clone(), progress.clone());
    // The subscriber is subscribed before the first publish: the broker keeps nothing for a
    // subscription that does not exist yet.
    let subscriber = match &sink {
        Sink::Subscriber {
            filter,
            qos,
            receive_maximum,
        } => Some(
            subscribe(
                addr,
                &format!("loadgen-{driver}-sub"),
                filter,
                *qos,
                *receive_maximum,
            )
            .await?,
        ),
        Sink::Kafka { .. } => None,
    };
    let published = Arc::new(AtomicBool::new(false));
    let start = progress.start();
    let until = Until {
        published: published.clone(),
        patience: PATIENCE,
        since: start,
        deadline: start + Duration::from_secs(w.phase_timeout_s),
    };
    let reader = match sink {
        Sink::Kafka {
            bootstrap,
            topic,
            partitions,
            clients,
        } => {
            let progress = progress.clone();
            tokio::task::spawn_blocking(move || {
                let read = super::native::read_arrivals(
                    &bootstrap, &topic, partitions, &clients, arrivals, &until,
                );
                progress.stop();
                read
            })
        }
        Sink::Subscriber { .. } => {
            let stream = subscriber.expect("subscribed above");
            let progress = progress.clone();
            tokio::spawn(async move {
                let read = receive(stream, arrivals, &until).await;
                progress.stop();
                read
            })
        }
    };
    let timeout = Duration::from_secs(w.phase_timeout_s);
    let tasks: Vec<_> = publishers
        .into_iter()
        .map(|(stream, work, window)| {
            let (answers, progress) = (Answers::Relayed(sent.clone()), progress.clone());
            tokio::spawn(async move {
                let run = mqtt::client(stream, work, window, qos, answers, progress);
                tokio::time::timeout(timeout, run)
                    .await
                    .map_err(|_| anyhow::anyhow!("MQTT publishing exceeded phase_timeout_s"))?
            })
        })
        .collect();
    let mut publish_error = None;
    let mut published_at = start;
    for t in tasks {
        match t.await? {
            Ok(outcome) => published_at = published_at.max(outcome.finished.unwrap_or(start)),
            Err(e) => publish_error = publish_error.or(Some(e)),
        }
    }
    published.store(true, Ordering::Release);
    let arrivals = reader.await??;
    if let Some(e) = publish_error {
        return Err(e.context(format!("{driver}: publishing to {addr}")));
    }
    let end = arrivals.last.unwrap_or(start);
    let mut result = PhaseResult::new(
        driver,
        "produce",
        arrivals.distinct,
        arrivals.bytes,
        w.records,
        0,
        end.saturating_duration_since(start),
        "record, end to end: its publish's write to its arrival at the far end",
        &arrivals.latency,
        arrivals.checksum,
    );
    result.delivery = Some(Delivery {
        published: w.records,
        published_checksum,
        published_bytes: bytes,
        missing: arrivals.missing(),
        duplicates: arrivals.duplicates,
        strangers: arrivals.strangers,
        publishing_s: published_at.saturating_duration_since(start).as_secs_f64(),
    });
    Ok(result)
}

/// A subscriber's connection: MQTT 5, clean start, no keep-alive (the phase is shorter than
/// any), subscribed to `filter` at `qos` (SUBACK checked).
async fn subscribe(
    addr: &str,
    client_id: &str,
    filter: &str,
    qos: u8,
    receive_maximum: u16,
) -> anyhow::Result<TcpStream> {
    let mut stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    // Receive Maximum (0x21).
    let mut properties = vec![0x21];
    properties.extend_from_slice(&receive_maximum.max(1).to_be_bytes());
    mqtt::connect_with(&mut stream, client_id, 0, &properties).await?;
    let mut body = 1u16.to_be_bytes().to_vec();
    body.push(0); // no properties
    mqtt::put_str(filter.as_bytes(), &mut body);
    body.push(qos);
    let mut packet = vec![0x82];
    mqtt::varint(body.len(), &mut packet);
    packet.extend_from_slice(&body);
    stream.write_all(&packet).await?;
    let (first, body) = mqtt::read_packet(&mut stream).await?;
    anyhow::ensure!(first == 0x90, "expected SUBACK, got packet {first:#x}");
    let reason = suback_reason(&body)?;
    anyhow::ensure!(
        reason < 0x80,
        "the broker refused the subscription to {filter}: reason {reason:#x}"
    );
    Ok(stream)
}

/// The first reason code of an MQTT 5 SUBACK's body.
fn suback_reason(body: &[u8]) -> anyhow::Result<u8> {
    let rest = body.get(2..).unwrap_or(&[]);
    let (len, used) = varint_at(rest).ok_or_else(|| anyhow::anyhow!("short SUBACK"))?;
    rest.get(used + len)
        .copied()
        .ok_or_else(|| anyhow::anyhow!("SUBACK without a reason code"))
}

/// A variable byte integer at the start of `b`: (value, bytes used).
fn varint_at(b: &[u8]) -> Option<(usize, usize)> {
    let mut n = 0usize;
    for (i, &byte) in b.iter().take(4).enumerate() {
        n |= usize::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Some((n, i + 1));
        }
    }
    None
}

/// One PUBLISH's body: (QoS, packet id, payload).
fn parse_publish(first: u8, body: &[u8]) -> anyhow::Result<(u8, [u8; 2], &[u8])> {
    let qos = (first >> 1) & 3;
    let short = || anyhow::anyhow!("short PUBLISH");
    let topic_len = usize::from(u16::from_be_bytes([
        *body.first().ok_or_else(short)?,
        *body.get(1).ok_or_else(short)?,
    ]));
    let mut at = 2 + topic_len;
    let mut id = [0u8; 2];
    if qos > 0 {
        id.copy_from_slice(body.get(at..at + 2).ok_or_else(short)?);
        at += 2;
    }
    let (props, used) = varint_at(body.get(at..).ok_or_else(short)?).ok_or_else(short)?;
    at += used + props;
    Ok((qos, id, body.get(at..).ok_or_else(short)?))
}

/// Reads publishes into `arrivals` until `until`.
async fn receive(stream: TcpStream, arrivals: Arrivals, until: &Until) -> anyhow::Result<Arrivals> {
    let arrivals = Arc::new(Mutex::new(arrivals));
    let reading = tokio::spawn(read_publishes(stream, arrivals.clone()));
    loop {
        if reading.is_finished() {
            break;
        }
        if until.reached(&arrivals.lock().expect("poisoned")) {
            reading.abort();
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    match reading.await {
        Ok(Err(e)) => return Err(e),
        Err(e) if e.is_panic() => anyhow::bail!("the subscriber panicked"),
        _ => {}
    }
    Ok(Arc::try_unwrap(arrivals)
        .map_err(|_| anyhow::anyhow!("the subscriber is still running"))?
        .into_inner()
        .expect("poisoned"))
}

/// Takes publishes into `arrivals`, answering each as MQTT asks (PUBACK; PUBREC, then PUBCOMP
/// at PUBREL), the answers to a read's worth of packets in one write. Runs until stopped or
/// the connection fails.
async fn read_publishes(stream: TcpStream, arrivals: Arc<Mutex<Arrivals>>) -> anyhow::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut read = BufReader::with_capacity(256 * 1024, read);
    let mut answers = Vec::with_capacity(64 * 1024);
    loop {
        let (first, body) = mqtt::read_packet(&mut read).await?;
        match first >> 4 {
            3 => {
                let (q, id, payload) = parse_publish(first, &body)?;
                arrivals
                    .lock()
                    .expect("poisoned")
                    .take(payload, Instant::now());
                match q {
                    1 => answers.extend_from_slice(&[0x40, 2, id[0], id[1]]),
                    2 => answers.extend_from_slice(&[0x50, 2, id[0], id[1]]),
                    _ => {}
                }
            }
            // PUBREL: the QoS 2 exchange ends with PUBCOMP.
            6 if body.len() >= 2 => answers.extend_from_slice(&[0x70, 2, body[0], body[1]]),
            14 => anyhow::bail!(
                "the broker disconnected the subscriber: reason {:#x}",
                body.first().copied().unwrap_or(0)
            ),
            _ => {}
        }
        if read.buffer().is_empty() && !answers.is_empty() {
            write.write_all(&answers).await?;
            answers.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_publishes_and_subacks() {
        let mut out = Vec::new();
        // The driver's own encoder (MQTT 5, no properties).
        mqtt::publish(&mut out, 1, b"a/b", 7, b"hi");
        let (qos, id, payload) = parse_publish(out[0], &out[2..]).unwrap();
        assert_eq!((qos, id, payload), (1, [0, 7], &b"hi"[..]));
        // QoS 0 with a property (content type "x"): no packet id, properties skipped.
        let body = [0, 1, b't', 4, 0x03, 0, 1, b'x', b'v'];
        assert_eq!(parse_publish(0x30, &body).unwrap(), (0, [0, 0], &b"v"[..]));
        assert!(parse_publish(0x32, &[0, 5, b'a']).is_err());
        assert_eq!(suback_reason(&[0, 1, 0, 1]).unwrap(), 1);
        assert_eq!(suback_reason(&[0, 1, 2, 0x1F, 0, 0x87]).unwrap(), 0x87);
        assert!(suback_reason(&[0, 1, 3, 0x1F, 0]).is_err());
        assert_eq!(suback_reason(&[0, 1, 0, 0x87]).unwrap(), 0x87);
    }
}
