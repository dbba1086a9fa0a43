//! `v3-stream`: v3 streaming produce (`POST /v3/clusters/{c}/topics/{t}/records` with
//! `Transfer-Encoding: chunked`), one long-lived request per client. Each HTTP chunk carries
//! `records_per_request` records (JSON lines, BINARY values); the proxy answers one delivery
//! report per record on the same connection while the client goes on sending.
//!
//! The client is lean so that the run measures the proxy: every chunk is encoded before the
//! clock starts, up to [`WINDOW`] chunks are in flight per connection, and reports are counted
//! by scanning for their `\r\n` and checking each is `"error_code":200` (any other report fails
//! the phase). A chunk's latency runs from its write to its last record's report.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;

use super::split;
use crate::histogram::Recorder;
use crate::measure::PhaseResult;
use crate::payload::{make_value, value_checksum};
use crate::progress::Progress;
use crate::scenario::Workload;

/// Chunks (of `records_per_request` records) a connection keeps unanswered.
const WINDOW: usize = 4;

/// One client's share, encoded before the clock starts: HTTP chunks back to back, where each
/// ends, and how many records each holds.
struct Work {
    chunks: Vec<u8>,
    ends: Vec<usize>,
    records: Vec<usize>,
    checksum: u64,
    bytes: u64,
}

fn build(ids: std::ops::Range<u64>, w: &Workload) -> Work {
    let n = (ids.end - ids.start) as usize;
    let mut work = Work {
        chunks: Vec::with_capacity(n * (w.value_bytes * 4 / 3 + 48)),
        ends: Vec::new(),
        records: Vec::new(),
        checksum: 0,
        bytes: 0,
    };
    let ids: Vec<u64> = ids.collect();
    for group in ids.chunks(w.records_per_request.max(1)) {
        let mut data = Vec::with_capacity(group.len() * (w.value_bytes * 4 / 3 + 40));
        for &id in group {
            let value = make_value(id, w.value_size(id));
            work.checksum = work.checksum.wrapping_add(value_checksum(&value));
            work.bytes += value.len() as u64;
            data.extend_from_slice(br#"{"value":{"type":"BINARY","data":""#);
            data.extend_from_slice(
                base64::engine::general_purpose::STANDARD
                    .encode(&value)
                    .as_bytes(),
            );
            data.extend_from_slice(b"\"}}\n");
        }
        work.chunks
            .extend_from_slice(format!("{:x}\r\n", data.len()).as_bytes());
        work.chunks.extend_from_slice(&data);
        work.chunks.extend_from_slice(b"\r\n");
        work.ends.push(work.chunks.len());
        work.records.push(group.len());
    }
    work
}

/// The cluster id the proxy serves (`GET /v3/clusters`).
pub(crate) async fn cluster_id(base: &str) -> anyhow::Result<String> {
    let reply: serde_json::Value = reqwest::get(format!("{base}/v3/clusters"))
        .await?
        .error_for_status()?
        .json()
        .await?;
    reply["data"][0]["cluster_id"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| anyhow::anyhow!("no cluster id in {reply}"))
}

/// Produces `w.records` records to `topic` over `w.concurrency` streaming requests to the proxy
/// at `base` (`http://HOST:PORT`).
pub async fn produce(
    driver: &str,
    base: &str,
    topic: &str,
    w: &Workload,
    progress: Arc<Progress>,
) -> anyhow::Result<PhaseResult> {
    let cluster = cluster_id(base).await?;
    let addr = base
        .strip_prefix("http://")
        .ok_or_else(|| anyhow::anyhow!("v3 streaming needs an http:// proxy URL, not {base}"))?
        .trim_end_matches('/')
        .to_string();
    let head = format!(
        "POST /v3/clusters/{cluster}/topics/{topic}/records HTTP/1.1\r\nHost: {addr}\r\n\
         Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    );
    let mut clients = Vec::new();
    for range in split(w.records, w.concurrency) {
        let work = build(range, w);
        let stream = TcpStream::connect(&addr).await?;
        stream.set_nodelay(true)?;
        clients.push((stream, work));
    }
    let (checksum, bytes, chunks) = clients
        .iter()
        .fold((0u64, 0u64, 0u64), |(c, b, n), (_, w)| {
            (
                c.wrapping_add(w.checksum),
                b + w.bytes,
                n + w.ends.len() as u64,
            )
        });
    let deadline = Duration::from_secs(w.phase_timeout_s);
    progress.start();
    let start = Instant::now();
    let tasks: Vec<_> = clients
        .into_iter()
        .map(|(stream, work)| {
            let (progress, head) = (progress.clone(), head.clone());
            tokio::spawn(async move {
                tokio::time::timeout(deadline, client(stream, head, work, progress))
                    .await
                    .map_err(|_| anyhow::anyhow!("a v3 stream did not finish in time"))?
            })
        })
        .collect();
    let mut rec = Recorder::default();
    let mut finished = start;
    for t in tasks {
        let (r, done) = t.await??;
        rec.merge(&r);
        finished = finished.max(done);
    }
    progress.stop();
    Ok(PhaseResult::new(
        driver,
        "produce",
        w.records,
        bytes,
        chunks,
        0,
        finished.saturating_duration_since(start),
        "chunk of records, write to its last record's delivery report",
        &rec,
        checksum,
    ))
}

/// One streaming request: writes chunks while the window allows, and counts the reports.
async fn client(
    stream: TcpStream,
    head: String,
    work: Work,
    progress: Arc<Progress>,
) -> anyhow::Result<(Recorder, Instant)> {
    let (mut read, mut write) = stream.into_split();
    write.write_all(head.as_bytes()).await?;
    let permits = Arc::new(Semaphore::new(WINDOW));
    let sent: Arc<Mutex<Vec<Option<Instant>>>> = Arc::new(Mutex::new(vec![None; work.ends.len()]));
    let expected: Vec<usize> = work.records.clone();
    let reader = {
        let (permits, sent, progress) = (permits.clone(), sent.clone(), progress.clone());
        tokio::spawn(async move {
            let mut rec = Recorder::default();
            let mut buf = Vec::with_capacity(64 * 1024);
            let mut chunk = [0u8; 64 * 1024];
            let (mut group, mut in_group) = (0usize, 0usize);
            let mut headers_done = false;
            let mut scanned = 0usize;
            while group < expected.len() {
                let n = read.read(&mut chunk).await?;
                anyhow::ensure!(n > 0, "the proxy closed the stream after {group} chunks");
                buf.extend_from_slice(&chunk[..n]);
                if !headers_done {
                    let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
                        continue;
                    };
                    let head = String::from_utf8_lossy(&buf[..at]).to_string();
                    anyhow::ensure!(head.starts_with("HTTP/1.1 200"), "v3 produce: {head}");
                    buf.drain(..at + 4);
                    headers_done = true;
                }
                // Reports end in "\r\n"; the response's chunk framing lines are short hex sizes
                // (also ending in "\r\n"), told apart by their first byte.
                while let Some(at) = buf[scanned..].windows(2).position(|w| w == b"\r\n") {
                    let line = &buf[scanned..scanned + at];
                    scanned += at + 2;
                    if line.first() != Some(&b'{') {
                        continue;
                    }
                    anyhow::ensure!(
                        line.starts_with(br#"{"error_code":200,"#),
                        "v3 produce report: {}",
                        String::from_utf8_lossy(line)
                    );
                    in_group += 1;
                    if in_group == expected[group] {
                        if let Some(at) = sent.lock().expect("poisoned")[group] {
                            let took = at.elapsed();
                            rec.record(took);
                            progress.latency(took);
                        }
                        progress.add(expected[group] as u64);
                        permits.add_permits(1);
                        group += 1;
                        in_group = 0;
                        if group == expected.len() {
                            break;
                        }
                    }
                }
                buf.drain(..scanned);
                scanned = 0;
            }
            Ok::<_, anyhow::Error>((rec, Instant::now()))
        })
    };
    for i in 0..work.ends.len() {
        permits.acquire().await?.forget();
        let from = if i == 0 { 0 } else { work.ends[i - 1] };
        sent.lock().expect("poisoned")[i] = Some(Instant::now());
        write.write_all(&work.chunks[from..work.ends[i]]).await?;
    }
    let outcome = reader.await??;
    // The end of the request body.
    let _ = write.write_all(b"0\r\n\r\n").await;
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_hold_json_lines() {
        let w = Workload {
            records_per_request: 2,
            value_bytes: 3,
            ..Workload::default()
        };
        let work = build(0..3, &w);
        assert_eq!(work.records, vec![2, 1]);
        assert_eq!(work.ends.len(), 2);
        let first = String::from_utf8_lossy(&work.chunks[..work.ends[0]]).to_string();
        let (size, rest) = first.split_once("\r\n").unwrap();
        let data = rest.strip_suffix("\r\n").unwrap();
        assert_eq!(usize::from_str_radix(size, 16).unwrap(), data.len());
        assert_eq!(data.lines().count(), 2);
        for line in data.lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            assert_eq!(v["value"]["type"], "BINARY");
        }
    }
}
