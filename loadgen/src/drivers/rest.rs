//! The REST driver: HTTP clients POSTing batches to a Confluent-v2-compatible proxy, and consumer
//! instances reading with GET records. Binary format, so the bytes are exactly the native ones;
//! or, for a schema workload, the avro, jsonschema or protobuf format with schema id reuse (the
//! schema text on a client's first request, the id the proxy answered with afterwards), so that
//! what the proxy stores is exactly the native driver's Confluent-framed values.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::Deserialize;
use serde_json::json;

use super::http1::{Conn, Endpoint, Response};
use super::link::Link;
use super::schedule::Schedule;
use super::{deal, schema_values, split};
use crate::histogram::Recorder;
use crate::measure::PhaseResult;
use crate::payload::{make_value, value_checksum};
use crate::progress::Progress;
use crate::scenario::{Format, Workload};

/// The binary embedded format's content type.
pub const BINARY: &str = "application/vnd.kafka.binary.v2+json";
const V2: &str = "application/vnd.kafka.v2+json";

/// How many of a binary produce reply's `records` offsets carry an error: every
/// `"error_code"` member whose value is not `ok` (`null` in v2's offsets, `200` in v3's
/// delivery reports). A scan of the bytes, not a JSON parse: the one thing the driver needs
/// from the reply, at `wrk`'s cost (which reads only the status). A reply with a different
/// number of `"error_code"` members than records sent is not a produce reply.
fn failed_records(body: &[u8], records: u64, ok: &[u8]) -> Result<u64, BadReply> {
    const MEMBER: &[u8] = b"\"error_code\"";
    // Built once: building a searcher per reply was 2% of the driver's CPU.
    static FINDER: std::sync::LazyLock<memchr::memmem::Finder<'static>> =
        std::sync::LazyLock::new(|| memchr::memmem::Finder::new(MEMBER));
    let (mut members, mut failed) = (0u64, 0u64);
    for at in FINDER.find_iter(body) {
        let rest = &body[at + MEMBER.len()..];
        let rest = rest.trim_ascii_start();
        let Some(value) = rest.strip_prefix(b":") else {
            continue;
        };
        members += 1;
        if !value.trim_ascii_start().starts_with(ok) {
            failed += 1;
        }
    }
    match members == records {
        true => Ok(failed),
        false => Err(BadReply {
            records,
            members,
            body: String::from_utf8_lossy(body).into_owned(),
        }),
    }
}

/// The members of a schema-format produce body that carry the key and value schemas' ids, and
/// the width of the blank left for an id in the prebuilt requests (JSON allows the spaces that
/// pad it).
const SCHEMA_ID_MEMBER: &str = "\"value_schema_id\":";
const KEY_SCHEMA_ID_MEMBER: &str = "\"key_schema_id\":";
const SCHEMA_ID_WIDTH: usize = 10;

/// The schema ids a schema workload's client sends once the proxy answered them: the key's
/// with `workload.keys`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct SchemaIds {
    key: Option<u32>,
    value: u32,
}

/// Writes `ids` into a prebuilt schema-format request's blanks (in place: the request is sent
/// once).
fn with_schema_ids(request: bytes::Bytes, ids: SchemaIds) -> bytes::Bytes {
    let mut request = request
        .try_into_mut()
        .unwrap_or_else(|shared| bytes::BytesMut::from(&shared[..]));
    let members = [
        (SCHEMA_ID_MEMBER, Some(ids.value)),
        (KEY_SCHEMA_ID_MEMBER, ids.key),
    ];
    for (member, id) in members {
        let head = &request[..request.len().min(1024)];
        if let (Some(at), Some(id)) = (memchr::memmem::find(head, member.as_bytes()), id) {
            let blank = at + member.len();
            let id = format!("{id:>SCHEMA_ID_WIDTH$}");
            request[blank..blank + SCHEMA_ID_WIDTH].copy_from_slice(id.as_bytes());
        }
    }
    request.freeze()
}

/// The id `member` of a produce reply gives, read by a byte scan like [`failed_records`].
fn reply_id(body: &[u8], member: &str) -> Option<u32> {
    let at = memchr::memmem::find(body, member.as_bytes())?;
    let rest = body[at + member.len()..].trim_ascii_start();
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    std::str::from_utf8(&rest[..digits]).ok()?.parse().ok()
}

/// The schema ids of a schema-format produce reply: a value schema id, and a key schema id
/// exactly when the client sends keys. Checked against those `sent` (None: the first request,
/// which sent the schemas).
fn answered_ids(body: &[u8], keys: bool, sent: Option<SchemaIds>) -> Result<SchemaIds, String> {
    let answered = reply_id(body, SCHEMA_ID_MEMBER).map(|value| SchemaIds {
        key: reply_id(body, KEY_SCHEMA_ID_MEMBER),
        value,
    });
    match (answered, sent) {
        (Some(ids), None) if ids.key.is_some() == keys => Ok(ids),
        (Some(ids), Some(sent)) if ids == sent => Ok(ids),
        (answered, sent) => Err(format!("sent schema ids {sent:?}, answered {answered:?}")),
    }
}

/// A 200 answer that is not the produce reply for what was sent.
#[derive(Debug, PartialEq, thiserror::Error)]
#[error("bad produce reply ({records} records sent, {members} offsets): {body}")]
struct BadReply {
    records: u64,
    members: u64,
    body: String,
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
/// connections and warms the proxy, outside the measured window. Schema workloads send the schema
/// text on each client's first measured request and the answered schema id on the rest, as
/// Confluent's REST clients do.
///
/// The clients run on a single-threaded runtime of their own, one event loop as `wrk -t1` has:
/// no wakeup crosses threads, and the harness's other work (sampling, end-to-end readers) stays
/// on the main runtime.
pub async fn produce(
    driver: &str,
    proxy: &str,
    topic: &str,
    warmup_topic: &str,
    w: &Workload,
    progress: Arc<Progress>,
) -> anyhow::Result<PhaseResult> {
    let args = (
        driver.to_string(),
        proxy.to_string(),
        topic.to_string(),
        warmup_topic.to_string(),
        w.clone(),
    );
    on_own_thread(move || async move {
        let (driver, proxy, topic, warmup_topic, w) = args;
        produce_here(&driver, &proxy, &topic, &warmup_topic, &w, progress).await
    })
    .await
}

/// Runs `f()`'s future to completion on a new thread's current-thread runtime.
async fn on_own_thread<F, Fut, T>(f: F) -> anyhow::Result<T>
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = anyhow::Result<T>>,
    T: Send + 'static,
{
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("rest-driver".into())
        .spawn(move || {
            let result = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(anyhow::Error::from)
                .and_then(|rt| rt.block_on(f()));
            let _ = tx.send(result);
        })?;
    rx.await
        .map_err(|_| anyhow::anyhow!("the REST driver's thread ended without a result"))?
}

async fn produce_here(
    driver: &str,
    proxy: &str,
    topic: &str,
    warmup_topic: &str,
    w: &Workload,
    progress: Arc<Progress>,
) -> anyhow::Result<PhaseResult> {
    let endpoint = Endpoint::parse(proxy)?;
    let (content_type, warmup_body) = match w.format {
        Format::Binary => (
            BINARY,
            r#"{"records":[{"value":"d2FybS11cA=="}]}"#.to_string(),
        ),
        format => {
            let mut body = format!(
                "{{{},\"records\":[{{\"value\":",
                schema_values::value_schema_member(format)
            );
            schema_values::push_json(0, b"warmup", &mut body);
            body.push_str("}]}");
            (schema_values::content_type(format), body)
        }
    };
    // One connection per client, opened and used once on the warm-up topic before the clock.
    let warmup = endpoint.request(
        "POST",
        &format!("/topics/{warmup_topic}"),
        &[("Content-Type", content_type)],
        warmup_body.as_bytes(),
    );
    let mut conns = Link::open_all(&endpoint, w.concurrency, w.http2_shape()).await?;
    futures_util::future::try_join_all(conns.iter_mut().map(|conn| async {
        let r = conn.send(&warmup).await?;
        anyhow::ensure!(
            r.status == 200,
            "REST warm-up: {} {}",
            r.status,
            String::from_utf8_lossy(&r.body)
        );
        Ok(())
    }))
    .await?;
    // Requests are built before the clock starts: the run measures the proxy, not JSON building.
    let (path, content_type, ok) = if w.v3_records {
        let cluster = super::v3stream::cluster_id(proxy).await?;
        (
            format!("/v3/clusters/{cluster}/topics/{topic}/records"),
            "application/json",
            &b"200"[..],
        )
    } else {
        (format!("/topics/{topic}"), BINARY, &b"null"[..])
    };
    let mut work = Vec::new();
    for range in split(w.records, w.concurrency) {
        let ids: Vec<u64> = range.clone().collect();
        let (mut checksum, mut bytes) = (0u64, 0u64);
        let requests: Vec<(bytes::Bytes, u64)> = ids
            .chunks(w.records_per_request)
            .enumerate()
            .map(|(k, chunk)| {
                let (body, c, b) = produce_body(chunk, w);
                checksum = checksum.wrapping_add(c);
                bytes += b;
                let request = match (w.format, k) {
                    (Format::Binary, _) => {
                        endpoint.request("POST", &path, &[("Content-Type", content_type)], &body)
                    }
                    // A client's first request carries the schema, the others the id the
                    // proxy answers with, written into their blank when they are sent.
                    (format, _) => {
                        let head = match (k, w.keys) {
                            (0, false) => {
                                format!("{{{},", schema_values::value_schema_member(format))
                            }
                            (0, true) => format!(
                                "{{{},{},",
                                schema_values::key_schema_member(format),
                                schema_values::value_schema_member(format)
                            ),
                            (_, false) => format!("{{{SCHEMA_ID_MEMBER}{:SCHEMA_ID_WIDTH$},", ""),
                            (_, true) => format!(
                                "{{{KEY_SCHEMA_ID_MEMBER}{:SCHEMA_ID_WIDTH$},\
                                 {SCHEMA_ID_MEMBER}{:SCHEMA_ID_WIDTH$},",
                                "", ""
                            ),
                        };
                        let body = [head.as_bytes(), &body].concat();
                        let ct = [("Content-Type", schema_values::content_type(format))];
                        endpoint.request("POST", &path, &ct, &body)
                    }
                };
                (request, chunk.len() as u64)
            })
            .collect();
        work.push((requests, checksum, bytes, range));
    }
    let users: Vec<std::sync::Mutex<UserWork>> = work
        .into_iter()
        .zip(conns)
        .map(|((requests, checksum, bytes, ids), conn)| {
            std::sync::Mutex::new(UserWork {
                requests,
                checksum,
                bytes,
                ids,
                conn: Some(conn),
                ..UserWork::default()
            })
        })
        .collect();
    let iterations = users
        .iter()
        .map(|u| u.lock().expect("fresh").requests.len())
        .max()
        .unwrap_or(0);
    let streams = users.len();
    let request_rate = w
        .rate_records_per_s
        .map(|r| r / w.records_per_request as f64);
    let ranges = split(w.records, w.concurrency);
    let start = progress.start();
    let schedules: Vec<Schedule> = (0..streams)
        .map(|j| match request_rate {
            Some(rate) => Schedule::open(start, rate, j, streams),
            None => Schedule::closed(start),
        })
        .collect();
    if request_rate.is_some() {
        // Each record's intended time, for the end-to-end reader: its request's.
        let (schedules, rpr) = (schedules.clone(), w.records_per_request as u64);
        progress.set_due(Box::new(move |id| {
            let j = ranges.iter().position(|r| r.contains(&id))?;
            Some(schedules[j].intended((id - ranges[j].start) / rpr))
        }));
    }
    let deadline = start + Duration::from_secs(w.phase_timeout_s);
    let shared = Arc::new(GooseShared {
        ok,
        format: w.format,
        keys: w.keys,
        deadline,
        schedules,
        running: std::sync::atomic::AtomicUsize::new(users.len()),
        users,
        progress: progress.clone(),
    });
    // One timer for the whole phase, not one per request (that was 3% of the driver's CPU): a
    // proxy that stops answering fails the run (exit 2), and this runtime, dropped with the
    // error, drops every user and its connection.
    tokio::time::timeout_at(
        deadline.into(),
        run_goose(proxy, streams, iterations, shared.clone()),
    )
    .await
    .map_err(|_| {
        anyhow::anyhow!(
            "REST produce: not every request was answered before the phase's deadline \
             (phase_timeout_s = {})",
            w.phase_timeout_s
        )
    })??;
    // The window ends with the last answer: goose's teardown after it is not the proxy's time.
    let finished = shared
        .users
        .iter()
        .filter_map(|u| u.lock().expect("goose users are done").finished)
        .max()
        .unwrap_or_else(Instant::now);
    let elapsed = finished.saturating_duration_since(start);

    let mut rec = Recorder::default();
    let mut lag = Recorder::default();
    let (mut checksum, mut errors, mut requests, mut bytes) = (0u64, 0u64, 0u64, 0u64);
    for (j, user) in shared.users.iter().enumerate() {
        let u = user.lock().expect("goose users are done");
        if let Some(failure) = &u.failure {
            anyhow::bail!("REST produce, user {j}: {failure}");
        }
        anyhow::ensure!(
            u.next == u.requests.len(),
            "REST produce, user {j}: sent {} of {} requests",
            u.next,
            u.requests.len()
        );
        rec.merge(&u.rec);
        lag.merge(&u.lag);
        checksum = checksum.wrapping_add(match w.format {
            Format::Binary => u.checksum,
            _ => {
                let ids = u.schema_ids.ok_or_else(|| {
                    anyhow::anyhow!("REST produce, user {j}: no value_schema_id in the replies")
                })?;
                schema_checksum(ids.value, u.ids.clone(), w)
            }
        });
        errors += u.errors;
        requests += u.requests_sent;
        bytes += u.bytes;
    }
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

/// One goose user's share of a produce phase, and what it measured.
#[derive(Default)]
struct UserWork {
    /// Whole requests (a schema-format request after the first with a blank for the schema id), and
    /// their record counts.
    requests: Vec<(bytes::Bytes, u64)>,
    /// The record ids of `bodies`.
    ids: std::ops::Range<u64>,
    /// Schema formats: the schema ids the proxy answered with, sent instead of the schemas from
    /// then on.
    schema_ids: Option<SchemaIds>,
    /// This user's connection, taken out while a request is in flight (only this user sends on
    /// it, so it is always here when the user's next transaction starts).
    conn: Option<Link>,
    next: usize,
    checksum: u64,
    bytes: u64,
    rec: Recorder,
    lag: Recorder,
    errors: u64,
    requests_sent: u64,
    failure: Option<String>,
    /// When this user's last answer arrived.
    finished: Option<Instant>,
}

/// What every goose user of a produce phase shares.
struct GooseShared {
    /// An `"error_code"` value that means written (`null` in v2, `200` in v3).
    ok: &'static [u8],
    format: Format,
    /// `workload.keys`: schema-format replies carry a key schema id too.
    keys: bool,
    deadline: Instant,
    schedules: Vec<Schedule>,
    users: Vec<std::sync::Mutex<UserWork>>,
    /// Users with requests still to answer.
    running: std::sync::atomic::AtomicUsize,
    progress: Arc<Progress>,
}

/// Runs one goose attack: `users` users, each running the produce transaction `iterations`
/// times (one request each). goose's own metrics are whole milliseconds and off; latency is
/// recorded here in µs.
async fn run_goose(
    host: &str,
    users: usize,
    iterations: usize,
    shared: Arc<GooseShared>,
) -> anyhow::Result<()> {
    use goose::prelude::*;
    if users == 0 || iterations == 0 {
        return Ok(());
    }
    let mut config = goose::config::GooseConfiguration::default();
    config.host = Some(host.to_string());
    config.users = Some(users);
    // Every user starts at once: the phase measures the proxy, not a ramp.
    config.increase_rate = Some("1000000".into());
    config.iterations = Some(iterations);
    config.timeout = Some("60".into());
    config.quiet = 1;
    config.no_metrics = true;
    config.no_print_metrics = true;
    config.no_error_summary = true;
    config.no_telnet = true;
    let transaction = Transaction::new(Arc::new(move |user: &mut GooseUser| {
        let shared = shared.clone();
        Box::pin(async move { goose_produce(&shared, user).await })
    }))
    .set_name("produce");
    // The users send on their own connections, not through goose's reqwest client: one client,
    // shared, instead of one per user, each loading the system's root certificates (that was
    // 13% of the driver's CPU).
    GooseAttack::initialize_with_config(config)?
        .set_client_builder_without_cookies(
            goose::client::GooseClientBuilder::new().without_cookies(),
        )?
        .register_scenario(scenario!("rest-produce").register_transaction(transaction))
        .execute()
        .await?;
    Ok(())
}

/// The goose transaction: this user's next request, sent once on the user's own connection,
/// timed in µs from its intended send time. Failures are kept for the phase to report (goose
/// would only log them).
async fn goose_produce(
    shared: &GooseShared,
    user: &mut goose::goose::GooseUser,
) -> goose::goose::TransactionResult {
    let j = user.weighted_users_index;
    let slot = &shared.users[j];
    let (request, records, k, schema_ids, mut conn) = {
        let mut u = slot.lock().expect("poisoned");
        if u.failure.is_some() || u.next >= u.requests.len() {
            return Ok(());
        }
        let Some(conn) = u.conn.take() else {
            u.failure = Some("the user's connection is in use by another transaction".into());
            return Ok(());
        };
        let k = u.next;
        u.next += 1;
        // Each request is sent once: moved out, not shared.
        let request = std::mem::take(&mut u.requests[k].0);
        (request, u.requests[k].1, k, u.schema_ids, conn)
    };
    let schedule = &shared.schedules[j];
    let sent = schedule.wait(k as u64).await;
    // Closed loop: sent now, no lag (and one clock read fewer per request).
    let lag = schedule.is_open().then(|| sent.elapsed());
    if sent > shared.deadline {
        slot.lock().expect("poisoned").failure =
            Some("REST produce exceeded phase_timeout_s".into());
        return Ok(());
    }
    let request = match (shared.format, k, schema_ids) {
        (Format::Binary, _, _) | (_, 0, _) => request,
        (_, _, Some(ids)) => with_schema_ids(request, ids),
        (_, _, None) => {
            slot.lock().expect("poisoned").failure =
                Some("REST produce: no value_schema_id in the first reply".into());
            return Ok(());
        }
    };
    let answer = conn.send(&request).await;
    let outcome = match answer {
        Ok(r) if r.status == 200 && shared.format == Format::Binary => {
            failed_records(&r.body, records, shared.ok)
                .map(|failed| (failed, None))
                .map_err(|e| e.to_string())
        }
        Ok(r) if r.status == 200 => failed_records(&r.body, records, shared.ok)
            .map_err(|e| e.to_string())
            .and_then(|failed| {
                answered_ids(&r.body, shared.keys, schema_ids)
                    .map(|ids| (failed, Some(ids)))
                    .map_err(|e| format!("{} produce: {e}", shared.format.name()))
            }),
        Ok(r) => Err(format!(
            "produce answered {}: {}",
            r.status,
            String::from_utf8_lossy(&r.body)
        )),
        Err(e) => Err(format!("produce request failed: {e:#}")),
    };
    let done = Instant::now();
    let latency = done.saturating_duration_since(sent);
    shared.progress.latency(latency);
    let mut u = slot.lock().expect("poisoned");
    u.conn = Some(conn);
    u.finished = Some(done);
    if u.next == u.requests.len() && shared.running.fetch_sub(1, Ordering::AcqRel) == 1 {
        // The last answer of the last user: the window (and its CPU) ends before goose's teardown.
        shared.progress.stop();
    }
    if let Some(lag) = lag {
        u.lag.record(lag);
    }
    u.rec.record(latency);
    u.requests_sent += 1;
    match outcome {
        Ok((failed, schema_ids)) => {
            if schema_ids.is_some() {
                u.schema_ids = schema_ids;
            }
            u.errors += failed;
            shared.progress.add(records - failed);
        }
        Err(e) => u.failure = Some(e),
    }
    Ok(())
}

/// One produce body for `ids`: (body, checksum of values, key+value bytes). For a schema
/// format, the body
/// starts at `"records"` (the schema or its id goes first when sent), the bytes are those of the
/// framed values the proxy will store, and the checksum is left to [`schema_checksum`] (it needs
/// the schema id).
fn produce_body(ids: &[u64], w: &Workload) -> (bytes::Bytes, u64, u64) {
    if w.format.has_schema() {
        let mut body = String::with_capacity(ids.len() * (w.value_bytes + 48) + 16);
        let mut bytes = 0u64;
        body.push_str("\"records\":[");
        let mut key = itoa::Buffer::new();
        for (i, id) in ids.iter().enumerate() {
            let payload = schema_values::payload(w.format, *id, w.value_size(*id));
            bytes += schema_values::framed_len(w.format, *id, payload.len()) as u64;
            if i > 0 {
                body.push(',');
            }
            body.push('{');
            if w.keys {
                // The record's id in decimal, the native driver's key.
                let key = key.format(*id);
                bytes += schema_values::framed_key_len(w.format, key.len()) as u64;
                body.push_str("\"key\":");
                schema_values::push_key_json(w.format, key, &mut body);
                body.push(',');
            }
            body.push_str("\"value\":");
            schema_values::push_json(*id, &payload, &mut body);
            body.push('}');
        }
        body.push_str("]}");
        return (body.into(), 0, bytes);
    }
    let (body, checksum, bytes) = match w.v3_records {
        true => v3_lines(ids, w),
        false => binary(ids, w),
    };
    (body.into(), checksum, bytes)
}

/// The JSON syntax of a binary body: v2's records array, or v3's JSON lines.
struct Syntax {
    open: &'static str,
    between: &'static str,
    key: (&'static str, &'static str),
    value: (&'static str, &'static str),
    close: &'static str,
}

const V2_SYNTAX: Syntax = Syntax {
    open: "{\"records\":[",
    between: ",",
    key: ("{\"key\":\"", "\","),
    value: ("\"value\":\"", "\"}"),
    close: "]}",
};

const V3_SYNTAX: Syntax = Syntax {
    open: "",
    between: "\n",
    key: ("{\"key\":{\"type\":\"BINARY\",\"data\":\"", "\"},"),
    value: ("\"value\":{\"type\":\"BINARY\",\"data\":\"", "\"}}"),
    close: "\n",
};

/// (body, checksum of values, key+value bytes) of a v3 produce request: one JSON record per
/// line, BINARY key and value, as `POST /v3/.../records` takes them.
fn v3_lines(ids: &[u64], w: &Workload) -> (String, u64, u64) {
    encode_body(ids, w, &V3_SYNTAX)
}

/// A binary produce body for `ids`, as every REST request of a binary workload is built (the
/// `wrk` cross-check sends the same).
pub fn binary_body(ids: &[u64], w: &Workload) -> String {
    binary(ids, w).0
}

/// (body, checksum of values, key+value bytes) of a binary produce request.
fn binary(ids: &[u64], w: &Workload) -> (String, u64, u64) {
    encode_body(ids, w, &V2_SYNTAX)
}

/// The records of `ids` (base64 keys and values) in `syntax`, with their values' checksum and
/// key+value bytes.
fn encode_body(ids: &[u64], w: &Workload, syntax: &Syntax) -> (String, u64, u64) {
    let (mut checksum, mut bytes) = (0u64, 0u64);
    let mut body = String::with_capacity(ids.len() * (w.value_bytes * 4 / 3 + 72) + 16);
    body.push_str(syntax.open);
    for (i, id) in ids.iter().enumerate() {
        let value = make_value(*id, w.value_size(*id));
        checksum = checksum.wrapping_add(value_checksum(&value));
        bytes += value.len() as u64;
        if i > 0 {
            body.push_str(syntax.between);
        }
        if w.keys {
            let key = id.to_string();
            bytes += key.len() as u64;
            body.push_str(syntax.key.0);
            STANDARD.encode_string(key, &mut body);
            body.push_str(syntax.key.1);
        } else {
            body.push('{');
        }
        body.push_str(syntax.value.0);
        STANDARD.encode_string(&value, &mut body);
        body.push_str(syntax.value.1);
    }
    body.push_str(syntax.close);
    (body, checksum, bytes)
}

/// The checksum of the framed values of `ids` under `schema_id`: what the proxy should have
/// stored. Computed after the clock stops.
fn schema_checksum(schema_id: u32, ids: std::ops::Range<u64>, w: &Workload) -> u64 {
    let mut value = Vec::new();
    ids.fold(0u64, |sum, id| {
        schema_values::encode(
            w.format,
            schema_id,
            id,
            &schema_values::payload(w.format, id, w.value_size(id)),
            &mut value,
        );
        sum.wrapping_add(value_checksum(&value))
    })
}

#[derive(Deserialize)]
struct RecordReply<'a> {
    #[serde(borrow)]
    key: Option<&'a str>,
    #[serde(borrow)]
    value: Option<&'a str>,
}

/// Creates a consumer instance in `group` (binary, no auto commit), assigns it `partitions` of
/// `topic` from the beginning, and returns its base URI.
async fn open_instance(
    http: &reqwest::Client,
    proxy: &str,
    group: &str,
    name: &str,
    topic: &str,
    partitions: &[i32],
) -> anyhow::Result<String> {
    let create = json!({"name": name, "format": "binary", "auto.commit.enable": "false"});
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
    Ok(base)
}

/// How long the end-to-end reader's first GET waits on the empty topic (ms).
const READY_GET_MS: u64 = 500;

/// One GET records on an instance's connection: the decoded values, handed to `each` with the
/// time the whole answer had arrived (when the proxy delivered them, before this client's own
/// parsing).
async fn fetch(
    conn: &mut Conn,
    request: &[u8],
    deadline: Instant,
    value: &mut Vec<u8>,
    each: impl FnMut(&[u8], usize, Instant),
) -> anyhow::Result<usize> {
    let r = conn.send_by(request, deadline).await?;
    decode(r, Instant::now(), value, each)
}

/// An answer to GET records: its records' decoded values, handed to `each` with `arrived`.
fn decode(
    r: Response,
    arrived: Instant,
    value: &mut Vec<u8>,
    mut each: impl FnMut(&[u8], usize, Instant),
) -> anyhow::Result<usize> {
    anyhow::ensure!(
        r.status == 200,
        "GET records answered {}: {}",
        r.status,
        String::from_utf8_lossy(&r.body)
    );
    let batch: Vec<RecordReply> = serde_json::from_slice(&r.body)?;
    for rec in &batch {
        value.clear();
        STANDARD.decode_vec(rec.value.unwrap_or_default(), value)?;
        each(value, rec.key.map_or(0, |k| k.len() * 3 / 4), arrived);
    }
    Ok(batch.len())
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
        instances
            .push(open_instance(&http, proxy, &group, &format!("c{i}"), topic, &partitions).await?);
    }
    let mut conns = Vec::new();
    for base in &instances {
        let e = Endpoint::parse(base)?;
        let get = e.request(
            "GET",
            &format!("/records?max_bytes={}", w.max_bytes),
            &[("Accept", BINARY)],
            b"",
        );
        conns.push((Conn::connect(&e).await?, get));
    }
    let total = Arc::new(AtomicU64::new(0));
    let start = progress.start();
    let deadline = start + Duration::from_secs(w.phase_timeout_s);
    let mut tasks = Vec::new();
    for (mut conn, get) in conns {
        let (progress, total) = (progress.clone(), total.clone());
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
                let n = fetch(&mut conn, &get, deadline, &mut value, |v, key_len, _| {
                    checksum = checksum.wrapping_add(value_checksum(v));
                    bytes += (v.len() + key_len) as u64;
                })
                .await?;
                let took = sent.elapsed();
                rec.record(took);
                progress.latency(took);
                requests += 1;
                records += n as u64;
                total.fetch_add(n as u64, Ordering::Relaxed);
                progress.add(n as u64);
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
    // The window (and its CPU) ends here: deleting the instances is teardown.
    progress.stop();
    for base in instances {
        let _ = http.delete(base).send().await;
    }
    Ok(PhaseResult::new(
        driver, "consume", records, bytes, requests, 0, elapsed, "request", &rec, checksum,
    ))
}

/// Reads `topic` over REST while it is produced (open loop) and records, per record, the time
/// from its intended send time (`progress.due`, by the id its value starts with) to its arrival
/// here. Ends after `expected` records, or `patience` after `stop` is raised.
#[allow(clippy::too_many_arguments)]
pub async fn end_to_end(
    proxy: &str,
    topic: &str,
    partitions: i32,
    expected: u64,
    max_bytes: u64,
    stop: Arc<std::sync::atomic::AtomicBool>,
    patience: Duration,
    progress: Arc<Progress>,
    ready: tokio::sync::oneshot::Sender<()>,
) -> anyhow::Result<Recorder> {
    let http = client(1)?;
    let group = format!("loadgen-e2e-{}-{topic}", std::process::id());
    let all: Vec<i32> = (0..partitions).collect();
    let base = open_instance(&http, proxy, &group, "e2e", topic, &all).await?;
    let e = Endpoint::parse(&base)?;
    let get = e.request(
        "GET",
        &format!("/records?max_bytes={max_bytes}"),
        &[("Accept", BINARY)],
        b"",
    );
    let mut conn = Conn::connect(&e).await?;
    let mut value = Vec::new();
    // One short GET of the still empty topic first: the proxy's consumer has then resolved its
    // positions and is fetching, so the latency measured is the steady state's, not the
    // instance's start-up.
    let first = e.request(
        "GET",
        &format!("/records?timeout={READY_GET_MS}&max_bytes={max_bytes}"),
        &[("Accept", BINARY)],
        b"",
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    let already = fetch(&mut conn, &first, deadline, &mut value, |_, _, _| {}).await? as u64;
    let _ = ready.send(());
    // This task only reads answers and notes when each had arrived; a thread of its own decodes
    // them, as librdkafka's broker thread reads a native reader's fetches while the application
    // polls. Decoding here held up the reading of the next answer, which then counted this
    // client's decoding as the proxy's time.
    let seen = Arc::new(AtomicU64::new(already));
    let done = Arc::new(tokio::sync::Notify::new());
    let (answers, arrivals) = std::sync::mpsc::channel::<(Instant, Response)>();
    let decoder = std::thread::spawn({
        let (seen, done) = (seen.clone(), done.clone());
        move || -> anyhow::Result<Recorder> {
            let mut rec = Recorder::default();
            let mut value = Vec::new();
            for (arrived, r) in arrivals {
                let n = decode(r, arrived, &mut value, |v, _, arrived| {
                    if let Some(due) = v.get(..8).and_then(|b| {
                        progress.due(u64::from_le_bytes(b.try_into().expect("8 bytes")))
                    }) {
                        rec.record(arrived.saturating_duration_since(due));
                    }
                });
                let n = match n {
                    Ok(n) => n,
                    Err(err) => {
                        done.notify_one();
                        return Err(err);
                    }
                };
                if seen.fetch_add(n as u64, Ordering::Relaxed) + n as u64 >= expected {
                    done.notify_one();
                }
            }
            Ok(rec)
        }
    });
    // Two GETs are always outstanding, pipelined on the connection (the proxy answers them in
    // order), and the next goes out as soon as an answer has arrived: records reaching the proxy
    // while it writes an answer are taken by a GET already waiting there, as a native reader's
    // records by a fetch already under way. The last two GETs are still waiting when the
    // instance is deleted.
    conn.write(&get).await?;
    conn.write(&get).await?;
    let mut stopped_at = None::<Instant>;
    while seen.load(Ordering::Relaxed) < expected {
        if stop.load(Ordering::Relaxed) {
            let at = *stopped_at.get_or_insert_with(Instant::now);
            if at.elapsed() > patience {
                break;
            }
        }
        // A GET long-polls for at most the proxy's request timeout; a minute is far past it.
        let deadline = Instant::now() + Duration::from_secs(60);
        let r = tokio::select! {
            r = tokio::time::timeout_at(deadline.into(), conn.answer()) => {
                r.map_err(|_| anyhow::anyhow!("GET records: no answer within a minute"))??
            }
            // Every record decoded, or the decoder failed.
            _ = done.notified() => break,
        };
        let arrived = Instant::now();
        conn.write(&get).await?;
        if answers.send((arrived, r)).is_err() {
            break; // the decoder failed: its error below
        }
    }
    drop(answers);
    let rec = decoder
        .join()
        .map_err(|_| anyhow::anyhow!("the end-to-end decoder panicked"))??;
    let _ = http.delete(base).send().await;
    Ok(rec)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A proxy that answers each connection's first request (the warm-up) and then goes silent:
    /// the phase fails with an error naming the phase's timeout, in about that time, and does not
    /// hang.
    #[tokio::test]
    async fn a_proxy_that_stops_answering_fails_the_phase_at_its_deadline() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            loop {
                let (mut s, _) = listener.accept().await.unwrap();
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 4096];
                    let _ = s.read(&mut buf).await.unwrap();
                    let body = r#"{"offsets":[{"partition":0,"offset":0,"error_code":null,"error":null}]}"#;
                    let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len());
                    s.write_all(head.as_bytes()).await.unwrap();
                    s.write_all(body.as_bytes()).await.unwrap();
                    // Read what comes next and never answer it.
                    while s.read(&mut buf).await.is_ok_and(|n| n > 0) {}
                });
            }
        });
        let w = Workload {
            records: 40,
            records_per_request: 1,
            concurrency: 4,
            phase_timeout_s: 1,
            ..Workload::default()
        };
        let progress = Arc::new(Progress::new(crate::cpu::Processes::this_run(None, None)));
        let phase = produce("rest", &url, "t", "t-warmup", &w, progress);
        let err = tokio::time::timeout(Duration::from_secs(10), phase)
            .await
            .expect("the phase ends within 10 s of its 1 s timeout, not never")
            .expect_err("a silent proxy fails the phase");
        assert!(
            format!("{err:#}").contains("phase_timeout_s"),
            "the error names the timeout: {err:#}"
        );
    }

    /// Both ids go into their blanks once answered, and every reply must echo what was sent.
    #[test]
    fn schema_ids_fill_the_blanks_and_replies_are_checked() {
        let blank = format!(
            "{{{KEY_SCHEMA_ID_MEMBER}{:SCHEMA_ID_WIDTH$},{SCHEMA_ID_MEMBER}{:SCHEMA_ID_WIDTH$},\"records\":[]}}",
            "", ""
        );
        let ids = SchemaIds {
            key: Some(12),
            value: 345,
        };
        let sent = with_schema_ids(bytes::Bytes::from(blank), ids);
        let v: serde_json::Value = serde_json::from_slice(&sent).unwrap();
        assert_eq!(
            (v["key_schema_id"].as_u64(), v["value_schema_id"].as_u64()),
            (Some(12), Some(345))
        );
        let reply = br#"{"offsets":[],"key_schema_id":12,"value_schema_id":345}"#;
        assert_eq!(answered_ids(reply, true, None), Ok(ids));
        assert_eq!(answered_ids(reply, true, Some(ids)), Ok(ids));
        assert!(answered_ids(reply, false, None).is_err());
        let other = SchemaIds {
            key: Some(13),
            ..ids
        };
        assert!(answered_ids(reply, true, Some(other)).is_err());
        let unkeyed = br#"{"offsets":[],"key_schema_id":null,"value_schema_id":345}"#;
        let value_only = SchemaIds {
            key: None,
            value: 345,
        };
        assert_eq!(answered_ids(unkeyed, false, None), Ok(value_only));
        assert!(answered_ids(unkeyed, true, None).is_err());
    }

    #[test]
    fn bodies_are_the_apis_json() {
        for keys in [false, true] {
            let w = Workload {
                keys,
                value_bytes: 20,
                ..Workload::default()
            };
            let (v2, c2, b2) = binary(&[1, 2, 3], &w);
            let v2: serde_json::Value = serde_json::from_str(&v2).unwrap();
            assert_eq!(v2["records"].as_array().unwrap().len(), 3);
            assert_eq!(v2["records"][0].get("key").is_some(), keys);
            let (v3, c3, b3) = v3_lines(&[1, 2, 3], &w);
            let lines: Vec<serde_json::Value> = v3
                .lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect();
            assert_eq!(lines.len(), 3);
            assert_eq!(lines[2]["value"]["type"], "BINARY");
            assert_eq!(lines[2]["value"]["data"], v2["records"][2]["value"]);
            assert_eq!(lines[0].get("key").is_some(), keys);
            assert_eq!((c2, b2), (c3, b3));
        }
    }

    #[test]
    fn binary_replies_count_their_failed_offsets() {
        let ok = br#"{"offsets":[{"partition":0,"offset":7,"error_code":null,"error":null}],"key_schema_id":null,"value_schema_id":null}"#;
        assert_eq!(failed_records(ok, 1, b"null"), Ok(0));
        // Spaced JSON (Python's json.dumps, as some peers write it), one record failed.
        let mixed = br#"{"offsets": [{"partition": 0, "offset": 1, "error_code": null}, {"partition": null, "offset": null, "error_code": 40403, "error": "no topic"}]}"#;
        assert_eq!(failed_records(mixed, 2, b"null"), Ok(1));
        // Not a produce reply for what was sent: an error, never a silent success.
        assert!(failed_records(ok, 2, b"null").is_err());
        assert!(failed_records(b"<html>ok</html>", 1, b"null").is_err());
        // A cut reply: its record is not counted as written.
        assert_eq!(failed_records(br#"{"error_code":"#, 1, b"null"), Ok(1));
        // v3 reports: 200 is written, anything else is not.
        let v3 = b"{\"error_code\":200,\"cluster_id\":\"c\",\"offset\":1}\r\n{\"error_code\":400,\"message\":\"no\"}\r\n";
        assert_eq!(failed_records(v3, 2, b"200"), Ok(1));
        assert!(failed_records(v3, 3, b"200").is_err());
    }
}
