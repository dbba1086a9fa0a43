//! The REST driver: HTTP clients POSTing batches to a Confluent-v2-compatible proxy, and consumer
//! instances reading with GET records. Binary format, so the bytes are exactly the native ones.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::Deserialize;
use serde_json::json;

use super::schedule::Schedule;
use super::{deal, split};
use crate::measure::{make_value, value_checksum, PhaseResult, Progress, Recorder};
use crate::scenario::Workload;

const BINARY: &str = "application/vnd.kafka.binary.v2+json";
const V2: &str = "application/vnd.kafka.v2+json";

#[derive(Deserialize)]
struct ProduceReply {
    offsets: Vec<OffsetReply>,
}

#[derive(Deserialize)]
struct OffsetReply {
    error_code: Option<u32>,
}

fn client(pool: usize) -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .pool_max_idle_per_host(pool)
        .timeout(Duration::from_secs(60))
        .tcp_nodelay(true)
        .build()?)
}

/// Produces `w.records` records with `w.concurrency` clients, `w.records_per_request` per
/// request; latency is per request. One request per client to `warmup_topic` first opens the
/// connections and warms the proxy, outside the measured window.
pub async fn produce(
    driver: &str,
    proxy: &str,
    topic: &str,
    warmup_topic: &str,
    w: &Workload,
    progress: Arc<Progress>,
) -> anyhow::Result<PhaseResult> {
    let http = client(w.concurrency)?;
    let warmup = format!("{proxy}/topics/{warmup_topic}");
    let warmups = (0..w.concurrency).map(|_| {
        http.post(&warmup)
            .header("content-type", BINARY)
            .body(r#"{"records":[{"value":"d2FybS11cA=="}]}"#)
            .send()
    });
    for r in futures_util::future::join_all(warmups).await {
        let r = r?;
        anyhow::ensure!(r.status() == 200, "REST warm-up: {}", r.text().await?);
    }
    let url = format!("{proxy}/topics/{topic}");
    // Bodies are built before the clock starts: the run measures the proxy, not JSON building.
    let mut work = Vec::new();
    for ids in split(w.records, w.concurrency) {
        let ids: Vec<u64> = ids.collect();
        let (mut checksum, mut bytes) = (0u64, 0u64);
        let bodies: Vec<(bytes::Bytes, u64)> = ids
            .chunks(w.records_per_request)
            .map(|chunk| {
                let (body, c, b) = produce_body(chunk, w);
                checksum = checksum.wrapping_add(c);
                bytes += b;
                (body, chunk.len() as u64)
            })
            .collect();
        work.push((bodies, checksum, bytes));
    }
    progress.start();
    let start = Instant::now();
    let deadline = start + Duration::from_secs(w.phase_timeout_s);
    let mut tasks = Vec::new();
    let streams = work.len();
    let request_rate = w
        .rate_records_per_s
        .map(|r| r / w.records_per_request as f64);
    for (j, (bodies, checksum, bytes)) in work.into_iter().enumerate() {
        let (http, url, progress) = (http.clone(), url.clone(), progress.clone());
        let schedule = match request_rate {
            Some(rate) => Schedule::open(start, rate, j, streams),
            None => Schedule::closed(start),
        };
        tasks.push(tokio::spawn(async move {
            let mut rec = Recorder::default();
            let mut lag = Recorder::default();
            let (mut errors, mut requests) = (0u64, 0u64);
            for (k, (body, records)) in bodies.into_iter().enumerate() {
                anyhow::ensure!(
                    Instant::now() < deadline,
                    "REST produce exceeded phase_timeout_s"
                );
                // Latency counts from the intended send time (the actual one in a closed loop).
                let sent = schedule.wait(k as u64).await;
                lag.record(sent.elapsed());
                let resp = http
                    .post(&url)
                    .header("content-type", BINARY)
                    .body(body)
                    .send()
                    .await?;
                let status = resp.status();
                let text = resp.bytes().await?;
                rec.record(sent.elapsed());
                requests += 1;
                if status != 200 {
                    anyhow::bail!(
                        "produce answered {status}: {}",
                        String::from_utf8_lossy(&text)
                    );
                }
                let reply: ProduceReply = serde_json::from_slice(&text)?;
                let failed = reply
                    .offsets
                    .iter()
                    .filter(|o| o.error_code.is_some())
                    .count() as u64;
                errors += failed;
                progress.add(records - failed);
            }
            Ok((rec, lag, checksum, errors, requests, bytes))
        }));
    }
    let mut rec = Recorder::default();
    let mut lag = Recorder::default();
    let (mut checksum, mut errors, mut requests, mut bytes) = (0u64, 0u64, 0u64, 0u64);
    for t in tasks {
        let (r, l, c, e, n, b) = t.await??;
        rec.merge(&r);
        lag.merge(&l);
        checksum = checksum.wrapping_add(c);
        errors += e;
        requests += n;
        bytes += b;
    }
    let elapsed = start.elapsed();
    let open = w.rate_records_per_s.is_some();
    let latency_of = if open {
        "request, from its intended send time"
    } else {
        "request"
    };
    let mut result = PhaseResult::new(
        driver,
        "produce",
        w.records - errors,
        bytes,
        requests,
        errors,
        elapsed,
        latency_of,
        &rec,
        checksum,
    );
    result.schedule_lag = open.then(|| lag.summary());
    Ok(result)
}

/// One binary-format produce body for `ids`: (body, checksum of values, key+value bytes).
fn produce_body(ids: &[u64], w: &Workload) -> (bytes::Bytes, u64, u64) {
    let (mut checksum, mut bytes) = (0u64, 0u64);
    let mut body = String::with_capacity(ids.len() * (w.value_bytes * 4 / 3 + 48) + 16);
    body.push_str("{\"records\":[");
    for (i, id) in ids.iter().enumerate() {
        let value = make_value(*id, w.value_bytes);
        checksum = checksum.wrapping_add(value_checksum(&value));
        bytes += value.len() as u64;
        if i > 0 {
            body.push(',');
        }
        body.push('{');
        if w.keys {
            let key = id.to_string();
            bytes += key.len() as u64;
            body.push_str("\"key\":\"");
            STANDARD.encode_string(key, &mut body);
            body.push_str("\",");
        }
        body.push_str("\"value\":\"");
        STANDARD.encode_string(&value, &mut body);
        body.push_str("\"}");
    }
    body.push_str("]}");
    (body.into(), checksum, bytes)
}

#[derive(Deserialize)]
struct RecordReply<'a> {
    #[serde(borrow)]
    key: Option<&'a str>,
    #[serde(borrow)]
    value: Option<&'a str>,
}

/// Reads `expected` records of `topic` from the beginning with `w.consumers` instances, each
/// manually assigned its share of partitions; latency is per GET records.
pub async fn consume(
    driver: &str,
    proxy: &str,
    topic: &str,
    w: &Workload,
    expected: u64,
    progress: Arc<Progress>,
) -> anyhow::Result<PhaseResult> {
    let http = client(w.consumers)?;
    let group = format!("loadgen-{driver}-{}-{}", std::process::id(), topic);
    let mut instances = Vec::new();
    for (i, partitions) in deal(w.partitions, w.consumers).into_iter().enumerate() {
        let create =
            json!({"name": format!("c{i}"), "format": "binary", "auto.commit.enable": "false"});
        let r = http
            .post(format!("{proxy}/consumers/{group}"))
            .header("content-type", V2)
            .body(create.to_string())
            .send()
            .await?;
        anyhow::ensure!(
            r.status() == 200,
            "creating a consumer instance: {}",
            r.text().await?
        );
        let base: serde_json::Value = r.json().await?;
        let base = base["base_uri"].as_str().unwrap_or_default().to_string();
        let tps: Vec<_> = partitions
            .iter()
            .map(|p| json!({"topic": topic, "partition": p}))
            .collect();
        let body = json!({"partitions": tps}).to_string();
        for path in ["assignments", "positions/beginning"] {
            let r = http
                .post(format!("{base}/{path}"))
                .header("content-type", V2)
                .body(body.clone())
                .send()
                .await?;
            anyhow::ensure!(r.status() == 204, "{path}: {}", r.text().await?);
        }
        instances.push(base);
    }
    let total = Arc::new(AtomicU64::new(0));
    progress.start();
    let start = Instant::now();
    let deadline = start + Duration::from_secs(w.phase_timeout_s);
    let mut tasks = Vec::new();
    for base in &instances {
        let progress = progress.clone();
        let (http, url, total) = (
            http.clone(),
            format!("{base}/records?max_bytes={}", w.max_bytes),
            total.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut rec = Recorder::default();
            let (mut records, mut bytes, mut checksum, mut requests) = (0u64, 0u64, 0u64, 0u64);
            let mut value = Vec::new();
            while total.load(Ordering::Relaxed) < expected {
                anyhow::ensure!(
                    Instant::now() < deadline,
                    "REST consume exceeded phase_timeout_s"
                );
                let sent = Instant::now();
                let resp = http.get(&url).header("accept", BINARY).send().await?;
                let status = resp.status();
                let text = resp.bytes().await?;
                rec.record(sent.elapsed());
                requests += 1;
                anyhow::ensure!(
                    status == 200,
                    "GET records answered {status}: {}",
                    String::from_utf8_lossy(&text)
                );
                let batch: Vec<RecordReply> = serde_json::from_slice(&text)?;
                for r in &batch {
                    value.clear();
                    STANDARD.decode_vec(r.value.unwrap_or_default(), &mut value)?;
                    checksum = checksum.wrapping_add(value_checksum(&value));
                    bytes += (value.len() + r.key.map_or(0, |k| k.len() * 3 / 4)) as u64;
                }
                records += batch.len() as u64;
                total.fetch_add(batch.len() as u64, Ordering::Relaxed);
                progress.add(batch.len() as u64);
            }
            Ok((rec, records, bytes, checksum, requests))
        }));
    }
    let mut rec = Recorder::default();
    let (mut records, mut bytes, mut checksum, mut requests) = (0u64, 0u64, 0u64, 0u64);
    for t in tasks {
        let (r, n, b, c, q) = t.await??;
        rec.merge(&r);
        records += n;
        bytes += b;
        checksum = checksum.wrapping_add(c);
        requests += q;
    }
    let elapsed = start.elapsed();
    for base in instances {
        let _ = http.delete(base).send().await;
    }
    Ok(PhaseResult::new(
        driver, "consume", records, bytes, requests, 0, elapsed, "request", &rec, checksum,
    ))
}
