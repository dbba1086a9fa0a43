//! `POST /v3/clusters/{cluster_id}/topics/{topic}/records`: streaming produce. The body is JSON
//! records one after another (any whitespace between); they are read as they arrive, and one
//! delivery report per record is written back, in input order, each followed by `\r\n`, while
//! the client is still sending (HTTP/1.1 chunked both ways).
//!
//! Records that arrive together are produced together: each read of the body becomes one
//! produce call (one Kafka batch per partition through the batch engine), not one Produce
//! request per record. Up to [`IN_FLIGHT`] such groups are in flight while later ones are read;
//! beyond that the body is not read (backpressure to the client). A record that does not parse
//! or convert gets its own error report and the stream goes on; malformed JSON (no way to find
//! the next record) gets one and ends the stream.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::Extension;
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::error::V3Result;
use super::produce_record::{self, Data, Record};
use super::schema_data::{Resolver, SchemaUsed};
use crate::http::error::{ApiError, RecordErrors};
use crate::http::principal::KafkaCredentials;
use crate::kafka::producer::{Outcome, ProduceError, Producer};
use crate::record::RecordsBuilder;
use crate::rest::{ApiPath, App};

/// Groups of records produced but not yet reported, per stream.
const IN_FLIGHT: usize = 16;

/// What a record's report needs once Kafka has answered.
pub(super) enum Slot {
    /// Refused before Kafka: its error report.
    Refused(ApiError),
    /// The `i`th record of its group's produce call.
    Sent {
        i: usize,
        timestamp: i64,
        key: Option<DataReport>,
        value: Option<DataReport>,
    },
}

/// A delivered key's or value's report: its type, its size (-1 for a null given with its
/// type, as Kafka counts it), and its schema when schema-based.
pub(super) struct DataReport {
    kind: &'static str,
    size: i64,
    schema: Option<Arc<SchemaUsed>>,
}

/// Bytes of a key or value (0 when absent or null).
fn data_len(d: &Option<Data>) -> usize {
    d.as_ref()
        .and_then(|d| d.bytes.as_ref())
        .map_or(0, Vec::len)
}

/// One group: its records' slots and the produce call's outcome.
pub(super) struct Group {
    pub(super) slots: Vec<Slot>,
    pub(super) produced: Option<JoinHandle<Vec<Outcome>>>,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// A timestamp as Java's `Instant.toString()` writes it: milliseconds when there are any
/// (`2023-03-09T14:07:23.592Z`), none on a whole second (`2023-11-14T22:13:20Z`).
fn iso(ms: i64) -> String {
    let at = UNIX_EPOCH + Duration::from_millis(ms.max(0) as u64);
    if ms % 1000 == 0 {
        humantime::format_rfc3339_seconds(at).to_string()
    } else {
        humantime::format_rfc3339_millis(at).to_string()
    }
}

/// Writes delivery reports (the streams' one per record, and `records:batch`'s entries) as
/// text directly: the part every delivered report shares is escaped once, and a timestamp's
/// text is reused while records share it.
pub(super) struct Reports {
    /// `"cluster_id":"..","topic_name":"..","partition_id":`
    prefix: String,
    last_ms: i64,
    last_iso: String,
    num: itoa::Buffer,
}

impl Reports {
    pub(super) fn new(cluster_id: &str, topic: &str) -> Reports {
        Reports {
            prefix: format!(
                "\"cluster_id\":{},\"topic_name\":{},\"partition_id\":",
                serde_json::Value::from(cluster_id),
                serde_json::Value::from(topic)
            ),
            last_ms: i64::MIN,
            last_iso: String::new(),
            num: itoa::Buffer::new(),
        }
    }

    /// Where a record ended: its partition and offset, or the error its report carries.
    pub(super) fn outcome(slot: &Slot, outcomes: &[Outcome]) -> Result<(i32, i64), ApiError> {
        match slot {
            Slot::Refused(e) => Err(e.clone()),
            Slot::Sent { i, .. } => match outcomes.get(*i) {
                Some(Ok(delivered)) => Ok(*delivered),
                Some(Err(e)) => Err(failure(e)),
                // The produce task ended without an outcome for it.
                None => Err(ApiError::internal()),
            },
        }
    }

    /// `"error_code":N,"message":"..."`. A 422xx constraint violation is reported as
    /// Confluent's streaming mapper writes it: code 422, message `Error: 422xx : ...`; every
    /// message is cut at its first line break, as there.
    pub(super) fn error(&mut self, out: &mut String, e: &ApiError) {
        let first_line = e.message.lines().next().unwrap_or("");
        out.push_str("\"error_code\":");
        let message = if (42200..42300).contains(&e.error_code) {
            out.push_str("422");
            format!("Error: {} : {first_line}", e.error_code)
        } else {
            out.push_str(self.num.format(e.error_code));
            first_line.to_string()
        };
        out.push_str(",\"message\":");
        out.push_str(&serde_json::Value::from(message).to_string());
    }

    /// A delivered record's members: cluster, topic, partition, offset, timestamp, then key and
    /// value when present (an absent one is left out, as Confluent's NON_ABSENT fields are).
    pub(super) fn delivered(
        &mut self,
        out: &mut String,
        slot: &Slot,
        (partition, offset): (i32, i64),
    ) {
        out.push_str(&self.prefix);
        out.push_str(self.num.format(partition));
        out.push_str(",\"offset\":");
        out.push_str(self.num.format(offset));
        let Slot::Sent {
            timestamp,
            key,
            value,
            ..
        } = slot
        else {
            return;
        };
        if *timestamp != self.last_ms {
            self.last_ms = *timestamp;
            self.last_iso = iso(*timestamp);
        }
        out.push_str(",\"timestamp\":\"");
        out.push_str(&self.last_iso);
        out.push('"');
        for (name, data) in [("key", key), ("value", value)] {
            if let Some(d) = data {
                out.push_str(",\"");
                out.push_str(name);
                out.push_str("\":{\"type\":\"");
                out.push_str(d.kind);
                out.push('"');
                if let Some(s) = &d.schema {
                    out.push_str(",\"subject\":");
                    out.push_str(&serde_json::Value::from(s.subject.as_str()).to_string());
                    out.push_str(",\"schema_id\":");
                    out.push_str(self.num.format(s.id));
                    out.push_str(",\"schema_version\":");
                    out.push_str(self.num.format(s.version));
                }
                out.push_str(",\"size\":");
                out.push_str(self.num.format(d.size));
                out.push('}');
            }
        }
    }

    /// Appends one record's stream report and its `\r\n`.
    fn report(&mut self, out: &mut String, slot: &Slot, outcomes: &[Outcome]) {
        out.push('{');
        match Self::outcome(slot, outcomes) {
            Ok(delivered) => {
                out.push_str("\"error_code\":200,");
                self.delivered(out, slot, delivered);
            }
            Err(e) => self.error(out, &e),
        }
        out.push_str("}\r\n");
    }
}

/// A record Kafka did not take, as its report's error.
pub(super) fn failure(e: &crate::kafka::RecordError) -> ApiError {
    let code = RecordErrors::default().code(e.class);
    ApiError::record_error(code, e.to_string())
}

/// Produces a group's valid records as one call; a failure of the whole call (a record too
/// large, the topic gone) is settled record by record, so each gets its own outcome.
async fn produce_group(
    producer: Arc<Producer>,
    topic: String,
    records: Vec<Record>,
) -> Vec<Outcome> {
    let build = |records: &[Record]| {
        let bytes: usize = records
            .iter()
            .map(|r| data_len(&r.key) + data_len(&r.value))
            .sum();
        let headers = records.iter().map(|r| r.headers.len()).sum();
        let mut b = RecordsBuilder::with_capacity(records.len(), bytes, headers);
        for r in records {
            b.push(
                r.key.as_ref().and_then(|d| d.bytes.as_deref()),
                r.value.as_ref().and_then(|d| d.bytes.as_deref()),
                r.partition,
                r.headers.iter().cloned(),
                r.timestamp,
            );
        }
        b.finish()
    };
    match producer.produce(&topic, build(&records)).await {
        Ok(outcomes) => outcomes,
        Err(_) if records.len() > 1 => {
            let mut outcomes = Vec::with_capacity(records.len());
            for r in records {
                let one = std::slice::from_ref(&r);
                outcomes.push(match producer.produce(&topic, build(one)).await {
                    Ok(mut o) => o.remove(0),
                    Err(e) => Err(settle(e)),
                });
            }
            outcomes
        }
        Err(e) => vec![Err(settle(e))],
    }
}

/// A whole call's failure as one record's error.
fn settle(e: ProduceError) -> crate::kafka::RecordError {
    match e {
        ProduceError::Kafka(e) => crate::kafka::RecordError {
            class: e.class(),
            message: e.to_string(),
        },
        too_large @ ProduceError::RecordTooLarge { .. } => crate::kafka::RecordError {
            class: crate::kafka::ErrorClass::Invalid,
            message: too_large.to_string(),
        },
    }
}

/// The cluster id (checked), the topic (404 when missing) and the producer of a v3 produce:
/// the request's user's own with principal propagation, else the shared one. Both checks use
/// cached metadata (the kept cluster id, the producer's route cache), so a request costs the
/// cluster nothing beyond its records.
pub(super) async fn target(
    app: &Arc<App>,
    cluster_id: &str,
    topic: &str,
    credentials: Option<Extension<KafkaCredentials>>,
) -> Result<(String, Arc<Producer>), super::error::V3Error> {
    let id = app.kafka.admin.cluster_id().await?;
    if id != cluster_id {
        return Err(ApiError::cluster_not_found(cluster_id).into());
    }
    app.kafka.metadata.partition_count(topic).await?;
    let producer = match (&app.kafka.principals, credentials) {
        (Some(principals), Some(Extension(c))) => principals.producer(&c.user, &c.password)?,
        _ => app.kafka.producer.clone(),
    };
    Ok((id, producer))
}

/// POST /v3/clusters/{cluster_id}/topics/{topic}/records
pub async fn produce(
    State(app): State<Arc<App>>,
    ApiPath((cluster_id, topic)): ApiPath<(String, String)>,
    credentials: Option<Extension<KafkaCredentials>>,
    headers: HeaderMap,
    body: Body,
) -> V3Result {
    super::envelope::require_json(&headers)?;
    crate::rest::guard::topic_allowed(&app.config, &topic)?;
    let (c, producer) = target(&app, &cluster_id, &topic, credentials).await?;
    // Up to the first record's first byte: an empty body is 422, not an empty stream.
    let mut stream = body.into_data_stream();
    let mut buf = BytesMut::new();
    loop {
        if buf.iter().any(|b| !b.is_ascii_whitespace()) {
            break;
        }
        match stream.next().await {
            Some(Ok(chunk)) => buf.extend_from_slice(&chunk),
            Some(Err(e)) => return Err(ApiError::bad_request(e).into()),
            None => return Err(ApiError::payload_empty("Data is required.").into()),
        }
    }
    let (reports, rx) = mpsc::channel::<Bytes>(IN_FLIGHT * 4);
    let limit = Limit {
        until: tokio::time::Instant::now()
            + Duration::from_millis(app.config.rest.v3_stream_max_duration_ms),
        grace: Duration::from_millis(app.config.rest.v3_stream_grace_ms),
    };
    tokio::spawn(run(app, producer, c, topic, buf, stream, reports, limit));
    let body = Body::from_stream(tokio_stream_from(rx).map(Ok::<Bytes, std::convert::Infallible>));
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response())
}

/// The receiver as a stream of chunks.
fn tokio_stream_from(mut rx: mpsc::Receiver<Bytes>) -> impl futures_util::Stream<Item = Bytes> {
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

/// `streaming.connection.max.duration.ms` of one stream and its grace period.
struct Limit {
    until: tokio::time::Instant,
    grace: Duration,
}

/// Reads records as they arrive and hands each group to Kafka; a writer sends the reports in
/// order as the groups settle. Records read after the stream's time is up are not produced:
/// each gets 408, and reading stops after the grace period.
#[allow(clippy::too_many_arguments)]
async fn run(
    app: Arc<App>,
    producer: Arc<Producer>,
    cluster_id: String,
    topic: String,
    mut buf: BytesMut,
    mut stream: axum::body::BodyDataStream,
    reports: mpsc::Sender<Bytes>,
    limit: Limit,
) {
    let mut close_at: Option<tokio::time::Instant> = None;
    let mut resolver = Resolver::new(app.schemas.as_ref(), &topic);
    let (groups, mut pending) = mpsc::channel::<Group>(IN_FLIGHT);
    let mut writer_state = Reports::new(&cluster_id, &topic);
    let writer = tokio::spawn(async move {
        while let Some(group) = pending.recv().await {
            let outcomes = match group.produced {
                Some(handle) => handle.await.unwrap_or_default(),
                None => Vec::new(),
            };
            // One chunk per group: its reports, each ending in "\r\n".
            let mut text = String::with_capacity(group.slots.len() * 200);
            for slot in &group.slots {
                writer_state.report(&mut text, slot, &outcomes);
            }
            if reports.send(Bytes::from(text)).await.is_err() {
                return; // The client went away.
            }
        }
    });
    let mut ended = false;
    while !ended {
        // Every complete record in the buffer.
        let mut slots = Vec::new();
        let mut records = Vec::new();
        let mut consumed = 0;
        {
            let mut it = serde_json::Deserializer::from_slice(&buf)
                .into_iter::<&serde_json::value::RawValue>();
            loop {
                match it.next() {
                    None => {
                        consumed = it.byte_offset();
                        break;
                    }
                    Some(Ok(raw)) => {
                        consumed = it.byte_offset();
                        let now = tokio::time::Instant::now();
                        if now >= limit.until {
                            close_at.get_or_insert(now + limit.grace);
                            slots.push((
                                records.len(),
                                Some(ApiError::record_error(
                                    408,
                                    "Streaming connection open for longer than allowed: \
                                     Connection will be closed.",
                                )),
                            ));
                            continue;
                        }
                        match produce_record::parse(raw.get().as_bytes()) {
                            Ok(r) => records.push(r),
                            Err(e) => slots.push((records.len(), Some(e))),
                        }
                    }
                    Some(Err(e)) if e.is_eof() => break,
                    Some(Err(e)) => {
                        // Malformed JSON: the next record cannot be found.
                        slots.push((records.len(), Some(ApiError::bad_request(e))));
                        ended = true;
                        break;
                    }
                }
            }
        }
        let _ = buf.split_to(consumed);
        if !records.is_empty() || !slots.is_empty() {
            let group = group_of(&app, &producer, &topic, &mut resolver, records, slots).await;
            if groups.send(group).await.is_err() {
                break;
            }
        }
        if ended {
            break;
        }
        let next = match close_at {
            Some(at) => match tokio::time::timeout_at(at, stream.next()).await {
                Ok(next) => next,
                // The grace period is over: stop reading.
                Err(_) => break,
            },
            None => stream.next().await,
        };
        match next {
            Some(Ok(chunk)) => buf.extend_from_slice(&chunk),
            Some(Err(_)) | None => {
                if buf.iter().any(|b| !b.is_ascii_whitespace()) {
                    // The body ended inside a record.
                    let e = ApiError::bad_request("the request body ended inside a record");
                    let _ = groups
                        .send(Group {
                            slots: vec![Slot::Refused(e)],
                            produced: None,
                        })
                        .await;
                }
                ended = true;
            }
        }
    }
    drop(groups);
    let _ = writer.await;
}

/// A group's slots in input order (`refused`: (records before it, its error)), with its valid
/// records handed to Kafka.
pub(super) async fn group_of(
    app: &App,
    producer: &Arc<Producer>,
    topic: &str,
    resolver: &mut Resolver<'_>,
    records: Vec<Record>,
    refused: Vec<(usize, Option<ApiError>)>,
) -> Group {
    let partitions = app.kafka.metadata.partition_count(topic).await.unwrap_or(0);
    let now = now_ms();
    let mut slots = Vec::with_capacity(records.len() + refused.len());
    let mut refused = refused.into_iter().peekable();
    let mut valid = Vec::with_capacity(records.len());
    for (n, mut r) in records.into_iter().enumerate() {
        while let Some((_, e)) = refused.next_if(|(before, _)| *before == n) {
            slots.push(Slot::Refused(e.unwrap_or_else(ApiError::internal)));
        }
        if r.partition.is_some_and(|p| p as u32 >= partitions) {
            slots.push(Slot::Refused(ApiError::partition_not_found()));
            continue;
        }
        if let Err(e) = r.resolve(resolver).await {
            slots.push(Slot::Refused(e));
            continue;
        }
        let size = data_len(&r.key) + data_len(&r.value);
        if size > producer.max_record_bytes() {
            slots.push(Slot::Refused(ApiError::record_too_large(format!(
                "the record has {size} bytes of key and value, above the producer's limit of {} \
                 (message.max.bytes)",
                producer.max_record_bytes()
            ))));
            continue;
        }
        let timestamp = *r.timestamp.get_or_insert(now);
        let size = |d: &Option<Data>| {
            d.as_ref().map(|d| DataReport {
                kind: d.kind,
                size: d.bytes.as_ref().map_or(-1, |b| b.len() as i64),
                schema: d.schema.clone(),
            })
        };
        slots.push(Slot::Sent {
            i: valid.len(),
            timestamp,
            key: size(&r.key),
            value: size(&r.value),
        });
        valid.push(r);
    }
    for (_, e) in refused {
        slots.push(Slot::Refused(e.unwrap_or_else(ApiError::internal)));
    }
    let produced = (!valid.is_empty())
        .then(|| tokio::spawn(produce_group(producer.clone(), topic.to_string(), valid)));
    Group { slots, produced }
}
