//! `mqtt`: devices publishing to the proxy's MQTT listener (MQTT 5 over TCP), one connection per
//! client, each with its own MQTT topic (the record key), at one QoS level.
//!
//! The client is lean on purpose, so the run measures the proxy rather than the client: every
//! PUBLISH is encoded before the clock starts, publishes are pipelined up to the Receive
//! Maximum the proxy's CONNACK grants, and a run of them goes out in one write.
//!
//! - QoS 1 and 2: a publish counts when its PUBACK (QoS 1) or PUBCOMP (QoS 2) arrives; latency is
//!   from its write to that answer. The proxy acknowledges in PUBLISH order [MQTT-4.6.0-2], which
//!   the client checks. Any reason code other than success fails the phase.
//! - QoS 0 has no answer to wait for, so each client's last record goes at QoS 1: the proxy
//!   writes one MQTT topic's publishes in order, so that PUBACK means every earlier publish of
//!   the client is in Kafka. The window ends there; latency is that fence's. Progress counts
//!   QoS 0 publishes as the proxy reads them (it stops reading while its queues are full).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;

use super::arrivals::SendTimes;
use super::split;
use crate::histogram::Recorder;
use crate::measure::PhaseResult;
use crate::payload::{make_value, value_checksum};
use crate::progress::Progress;
use crate::scenario::Workload;

pub(super) fn varint(mut n: usize, out: &mut Vec<u8>) {
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

pub(super) fn put_str(s: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(&(s.len() as u16).to_be_bytes());
    out.extend_from_slice(s);
}

/// MQTT 5 PUBLISH (no properties).
pub(super) fn publish(out: &mut Vec<u8>, qos: u8, topic: &[u8], packet_id: u16, payload: &[u8]) {
    let len = 2 + topic.len() + if qos > 0 { 2 } else { 0 } + 1 + payload.len();
    out.push(0x30 | (qos << 1));
    varint(len, out);
    put_str(topic, out);
    if qos > 0 {
        out.extend_from_slice(&packet_id.to_be_bytes());
    }
    out.push(0);
    out.extend_from_slice(payload);
}

/// MQTT 5 CONNECT with a clean start and keep-alive 60 s; the CONNACK's Receive Maximum.
pub(super) async fn connect(stream: &mut TcpStream, client_id: &str) -> anyhow::Result<u16> {
    connect_with(stream, client_id, 60, &[]).await
}

/// MQTT 5 CONNECT with a clean start, this keep-alive (0: none) and these CONNECT
/// properties (encoded); the CONNACK's Receive Maximum.
pub(super) async fn connect_with(
    stream: &mut TcpStream,
    client_id: &str,
    keep_alive_s: u16,
    properties: &[u8],
) -> anyhow::Result<u16> {
    let mut body = Vec::new();
    put_str(b"MQTT", &mut body);
    body.extend_from_slice(&[5, 0x02]);
    body.extend_from_slice(&keep_alive_s.to_be_bytes());
    varint(properties.len(), &mut body);
    body.extend_from_slice(properties);
    put_str(client_id.as_bytes(), &mut body);
    let mut packet = vec![0x10];
    varint(body.len(), &mut packet);
    packet.extend_from_slice(&body);
    stream.write_all(&packet).await?;
    let (first, body) = read_packet(stream).await?;
    anyhow::ensure!(first == 0x20, "expected CONNACK, got packet {first:#x}");
    anyhow::ensure!(
        body.len() >= 3 && body[1] == 0,
        "MQTT CONNECT refused: reason {:#x}",
        body.get(1).copied().unwrap_or(0xff)
    );
    // Properties: find Receive Maximum (0x21); absent means 65535.
    let mut props = &body[2..];
    let mut len = 0usize;
    for shift in 0..4 {
        let b = *props
            .first()
            .ok_or_else(|| anyhow::anyhow!("short CONNACK"))?;
        props = &props[1..];
        len |= usize::from(b & 0x7f) << (7 * shift);
        if b & 0x80 == 0 {
            break;
        }
    }
    let mut props = &props[..len.min(props.len())];
    while let Some((&id, rest)) = props.split_first() {
        let skip = match id {
            0x21 if rest.len() >= 2 => return Ok(u16::from_be_bytes([rest[0], rest[1]])),
            // One-byte, two-byte, four-byte and string/binary properties of CONNACK.
            0x24 | 0x25 | 0x28 | 0x29 | 0x2A => 1,
            0x13 | 0x22 => 2,
            0x11 | 0x27 => 4,
            0x12 | 0x1A | 0x1C | 0x1F | 0x15 | 0x16 if rest.len() >= 2 => {
                2 + usize::from(u16::from_be_bytes([rest[0], rest[1]]))
            }
            _ => break,
        };
        props = rest.get(skip..).unwrap_or(&[]);
    }
    Ok(65535)
}

pub(super) async fn read_packet<R: tokio::io::AsyncRead + Unpin>(
    r: &mut R,
) -> anyhow::Result<(u8, Vec<u8>)> {
    let first = r.read_u8().await?;
    let mut len = 0usize;
    for shift in 0..4 {
        let b = r.read_u8().await?;
        len |= usize::from(b & 0x7f) << (7 * shift);
        if b & 0x80 == 0 {
            break;
        }
    }
    let mut body = vec![0; len];
    r.read_exact(&mut body).await?;
    Ok((first, body))
}

/// One client's share, encoded before the clock starts.
pub(super) struct Work {
    /// The record id of the first PUBLISH; the rest follow in order.
    first: u64,
    /// Every PUBLISH, back to back, and where each ends.
    packets: Vec<u8>,
    ends: Vec<usize>,
    pub(super) checksum: u64,
    pub(super) bytes: u64,
}

pub(super) fn build(ids: std::ops::Range<u64>, topic: &[u8], qos: u8, w: &Workload) -> Work {
    let n = (ids.end - ids.start) as usize;
    let mut work = Work {
        first: ids.start,
        packets: Vec::with_capacity(n * (w.value_bytes + topic.len() + 12)),
        ends: Vec::with_capacity(n),
        checksum: 0,
        bytes: 0,
    };
    for (i, id) in ids.enumerate() {
        let value = make_value(id, w.value_size(id));
        work.checksum = work.checksum.wrapping_add(value_checksum(&value));
        work.bytes += value.len() as u64;
        // QoS 0: the last one is the QoS 1 fence.
        let q = if qos == 0 && i + 1 == n { 1 } else { qos };
        publish(&mut work.packets, q, topic, (i % 65535) as u16 + 1, &value);
        work.ends.push(work.packets.len());
    }
    work
}

/// What one client measured.
#[derive(Default)]
pub(super) struct Outcome {
    rec: Recorder,
    pub(super) finished: Option<Instant>,
}

/// What the answers to a client's publishes mean.
#[derive(Clone)]
pub(super) enum Answers {
    /// The proxy's: a publish is done at its PUBACK / PUBCOMP (counted, its latency recorded).
    Done,
    /// A relay's (an MQTT broker's): they only pace the client. Each publish's write is stamped
    /// here for the reader at the far end, which counts and times it.
    Relayed(Arc<SendTimes>),
}

/// Publishes `w.records` records over `w.concurrency` connections to the MQTT listener at `addr`,
/// on MQTT topics `{prefix}/c{client}` (which the proxy maps to the phase's Kafka topic).
pub async fn produce(
    driver: &str,
    addr: &str,
    prefix: &str,
    qos: u8,
    w: &Workload,
    progress: Arc<Progress>,
) -> anyhow::Result<PhaseResult> {
    anyhow::ensure!(qos <= 2, "MQTT QoS {qos} does not exist");
    let ranges = split(w.records, w.concurrency);
    let mut clients = Vec::new();
    for (c, range) in ranges.into_iter().enumerate() {
        let topic = format!("{prefix}/c{c}");
        let work = build(range, topic.as_bytes(), qos, w);
        let mut stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        let window = connect(&mut stream, &format!("loadgen-{prefix}-{c}")).await?;
        clients.push((stream, work, window));
    }
    let (checksum, bytes) = clients.iter().fold((0u64, 0u64), |(c, b), (_, w, _)| {
        (c.wrapping_add(w.checksum), b + w.bytes)
    });
    let deadline = Duration::from_secs(w.phase_timeout_s);
    progress.start();
    let start = Instant::now();
    let tasks: Vec<_> = clients
        .into_iter()
        .map(|(stream, work, window)| {
            let progress = progress.clone();
            tokio::spawn(async move {
                let run = client(stream, work, window, qos, Answers::Done, progress);
                tokio::time::timeout(deadline, run)
                    .await
                    .map_err(|_| anyhow::anyhow!("MQTT produce exceeded phase_timeout_s"))?
            })
        })
        .collect();
    let mut rec = Recorder::default();
    let mut finished = start;
    for t in tasks {
        let outcome = t.await??;
        rec.merge(&outcome.rec);
        finished = finished.max(outcome.finished.unwrap_or(start));
    }
    progress.stop();
    let latency_of = match qos {
        0 => {
            "each client's last publish (a QoS 1 fence after its QoS 0 publishes), write to PUBACK"
        }
        1 => "publish, write to PUBACK",
        _ => "publish, write to PUBCOMP",
    };
    Ok(PhaseResult::new(
        driver,
        "produce",
        w.records,
        bytes,
        w.records,
        0,
        finished.saturating_duration_since(start),
        latency_of,
        &rec,
        checksum,
    ))
}

/// One connection: writes runs of publishes while the window allows, and reads the answers.
pub(super) async fn client(
    stream: TcpStream,
    work: Work,
    window: u16,
    qos: u8,
    answers: Answers,
    progress: Arc<Progress>,
) -> anyhow::Result<Outcome> {
    let done = matches!(answers, Answers::Done);
    let n = work.ends.len();
    let (read, write) = stream.into_split();
    let write = Arc::new(tokio::sync::Mutex::new(write));
    // QoS 0 needs no window but for the fence; the rest hold one permit per unanswered publish.
    let permits = Arc::new(Semaphore::new(usize::from(window.max(1))));
    let sent: Arc<Mutex<Vec<Option<Instant>>>> = Arc::new(Mutex::new(vec![None; n]));
    let reader = {
        let (write, permits, sent, progress) = (
            write.clone(),
            permits.clone(),
            sent.clone(),
            progress.clone(),
        );
        tokio::spawn(async move {
            let mut read = BufReader::with_capacity(64 * 1024, read);
            let mut outcome = Outcome::default();
            // Publishes answered so far (in order) and, for QoS 0, all but the fence count at once.
            let (mut next, expected) = if qos == 0 { (n - 1, n) } else { (0, n) };
            // PUBRELs to send and window places to free, once per read rather than per packet:
            // a write and a wake-up of the writer per packet cost this client 2.2 µs per QoS 2
            // publish, more than the proxy spent.
            let (mut releases, mut freed) = (Vec::new(), 0usize);
            while next < expected {
                let (first, body) = read_packet(&mut read).await?;
                anyhow::ensure!(body.len() >= 2, "short packet {first:#x}");
                let id = u16::from_be_bytes([body[0], body[1]]);
                let reason = body.get(2).copied().unwrap_or(0);
                anyhow::ensure!(
                    first != 0xE0,
                    "the proxy disconnected: reason {:#x}",
                    body[0]
                );
                anyhow::ensure!(reason < 0x80, "publish refused: reason {reason:#x}");
                match first {
                    // PUBREC: release it; the publish is done at PUBCOMP.
                    0x50 => releases.extend_from_slice(&[0x62, 0x02, body[0], body[1]]),
                    0x40 | 0x70 => {
                        let want = (next % 65535) as u16 + 1;
                        anyhow::ensure!(
                            id == want,
                            "acknowledgement out of order: {id} for {want}"
                        );
                        if done {
                            let at = sent.lock().expect("poisoned")[next];
                            if let Some(took) = at.map(|at| at.elapsed()) {
                                outcome.rec.record(took);
                                // The time series needs a sample, not every publish.
                                if next.is_multiple_of(8) {
                                    progress.latency(took);
                                }
                            }
                            progress.add(1);
                        }
                        next += 1;
                        freed += 1;
                    }
                    other => anyhow::bail!("unexpected packet {other:#x}"),
                }
                if read.buffer().is_empty() {
                    if !releases.is_empty() {
                        write.lock().await.write_all(&releases).await?;
                        releases.clear();
                    }
                    permits.add_permits(std::mem::take(&mut freed));
                }
            }
            outcome.finished = Some(Instant::now());
            Ok::<_, anyhow::Error>(outcome)
        })
    };
    let mut i = 0;
    while i < n {
        let run = if qos == 0 {
            // Everything but the fence in runs of 256 (counted as the proxy takes them: it stops
            // reading when its queues are full); then the fence under a permit.
            if i + 1 < n {
                (n - 1 - i).min(256)
            } else {
                permits.acquire().await?.forget();
                1
            }
        } else {
            permits.acquire().await?.forget();
            let more = permits.available_permits().min(n - i - 1);
            if more > 0 {
                permits.try_acquire_many(more as u32)?.forget();
            }
            1 + more
        };
        let from = if i == 0 { 0 } else { work.ends[i - 1] };
        let to = work.ends[i + run - 1];
        let now = Instant::now();
        {
            let mut s = sent.lock().expect("poisoned");
            s[i..i + run].iter_mut().for_each(|t| *t = Some(now));
        }
        if let Answers::Relayed(times) = &answers {
            let first = work.first + i as u64;
            times.stamp(first..first + run as u64, now);
        }
        write
            .lock()
            .await
            .write_all(&work.packets[from..to])
            .await?;
        if done && qos == 0 && i + run < n {
            progress.add(run as u64);
        }
        i += run;
    }
    let outcome = reader.await??;
    // A clean goodbye: DISCONNECT, normal.
    let _ = write.lock().await.write_all(&[0xE0, 0x00]).await;
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publish_encoding() {
        let mut out = Vec::new();
        publish(&mut out, 1, b"a/b", 7, b"hi");
        assert_eq!(out, [0x32, 10, 0, 3, b'a', b'/', b'b', 0, 7, 0, b'h', b'i']);
        let mut out = Vec::new();
        publish(&mut out, 0, b"t", 1, &[0u8; 200]);
        // Remaining Length 2 + 1 + 1 + 200 = 204: two varint bytes.
        assert_eq!(&out[..3], &[0x30, 0xCC, 0x01]);
    }
}
