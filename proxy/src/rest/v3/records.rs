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
use serde_json::json;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::envelope::{cluster, Json};
use super::error::V3Result;
use super::produce_record::{self, Data, Record};
use crate::http::error::{ApiError, RecordErrors};
use crate::http::principal::KafkaCredentials;
use crate::kafka::producer::{Outcome, ProduceError, Producer};
use crate::record::RecordsBuilder;
use crate::rest::{ApiPath, App};

/// Groups of records produced but not yet reported, per stream.
const IN_FLIGHT: usize = 16;

/// What a record's report needs once Kafka has answered.
enum Slot {
    /// Refused before Kafka: its error report.
    Refused(ApiError),
    /// The `i`th record of its group's produce call.
    Sent {
        i: usize,
        timestamp: i64,
        key: Option<(&'static str, usize)>,
        value: Option<(&'static str, usize)>,
    },
}

/// One group: its records' slots and the produce call's outcome.
struct Group {
    slots: Vec<Slot>,
    produced: Option<JoinHandle<Vec<Outcome>>>,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn iso(ms: i64) -> String {
    humantime::format_rfc3339_millis(UNIX_EPOCH + Duration::from_millis(ms.max(0) as u64))
        .to_string()
}

fn error_report(e: &ApiError) -> Bytes {
    let mut text = Json::Object(vec![
        ("error_code", json!(e.error_code).into()),
        ("message", json!(e.message).into()),
    ])
    .text();
    text.push_str("\r\n");
    Bytes::from(text)
}

fn size_json(d: Option<(&'static str, usize)>) -> Json {
    match d {
        None => Json::Plain(serde_json::Value::Null),
        Some((kind, size)) => Json::Object(vec![
            ("type", json!(kind).into()),
            ("size", json!(size).into()),
        ]),
    }
}

/// The report of one record.
fn report(cluster_id: &str, topic: &str, slot: &Slot, outcomes: &[Outcome]) -> Bytes {
    match slot {
        Slot::Refused(e) => error_report(e),
        Slot::Sent {
            i,
            timestamp,
            key,
            value,
        } => match &outcomes[*i] {
            Ok((partition, offset)) => {
                let mut text = Json::Object(vec![
                    ("error_code", json!(200).into()),
                    ("cluster_id", json!(cluster_id).into()),
                    ("topic_name", json!(topic).into()),
                    ("partition_id", json!(partition).into()),
                    ("offset", json!(offset).into()),
                    ("timestamp", json!(iso(*timestamp)).into()),
                    ("key", size_json(*key)),
                    ("value", size_json(*value)),
                ])
                .text();
                text.push_str("\r\n");
                Bytes::from(text)
            }
            Err(e) => {
                let code = RecordErrors::default().code(e.class);
                error_report(&ApiError::record_error(code, e.to_string()))
            }
        },
    }
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
            .map(|r| {
                r.key.as_ref().map_or(0, |d| d.bytes.len())
                    + r.value.as_ref().map_or(0, |d| d.bytes.len())
            })
            .sum();
        let mut b = RecordsBuilder::with_capacity(records.len(), bytes);
        for r in records {
            b.push(
                r.key.as_ref().map(|d| &d.bytes[..]),
                r.value.as_ref().map(|d| &d.bytes[..]),
                r.partition,
                r.headers.clone(),
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

/// POST /v3/clusters/{cluster_id}/topics/{topic}/records
pub async fn produce(
    State(app): State<Arc<App>>,
    ApiPath((cluster_id, topic)): ApiPath<(String, String)>,
    credentials: Option<Extension<KafkaCredentials>>,
    headers: HeaderMap,
    body: Body,
) -> V3Result {
    if let Some(ct) = headers.get(header::CONTENT_TYPE) {
        let ct = ct.to_str().unwrap_or("").to_ascii_lowercase();
        if ct.split(';').next().unwrap_or("").trim() != "application/json" {
            return Err(ApiError::unsupported_media_type().into());
        }
    }
    crate::rest::guard::topic_allowed(&app.config, &topic)?;
    let c = cluster(&app, &cluster_id).await?;
    app.kafka.admin.topic(&topic).await?;
    let producer = match (&app.kafka.principals, credentials) {
        (Some(principals), Some(Extension(c))) => principals.producer(&c.user, &c.password)?,
        _ => app.kafka.producer.clone(),
    };
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
    tokio::spawn(run(app, producer, c.id, topic, buf, stream, reports));
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

/// Reads records as they arrive and hands each group to Kafka; a writer sends the reports in
/// order as the groups settle.
async fn run(
    app: Arc<App>,
    producer: Arc<Producer>,
    cluster_id: String,
    topic: String,
    mut buf: BytesMut,
    mut stream: axum::body::BodyDataStream,
    reports: mpsc::Sender<Bytes>,
) {
    let (groups, mut pending) = mpsc::channel::<Group>(IN_FLIGHT);
    let (cid, name) = (cluster_id.clone(), topic.clone());
    let writer = tokio::spawn(async move {
        while let Some(group) = pending.recv().await {
            let outcomes = match group.produced {
                Some(handle) => handle.await.unwrap_or_default(),
                None => Vec::new(),
            };
            for slot in &group.slots {
                let sent = matches!(slot, Slot::Sent { i, .. } if *i >= outcomes.len());
                let text = if sent {
                    error_report(&ApiError::internal())
                } else {
                    report(&cid, &name, slot, &outcomes)
                };
                if reports.send(text).await.is_err() {
                    return; // The client went away.
                }
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
            let group = group_of(&app, &producer, &topic, records, slots).await;
            if groups.send(group).await.is_err() {
                break;
            }
        }
        if ended {
            break;
        }
        match stream.next().await {
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
async fn group_of(
    app: &App,
    producer: &Arc<Producer>,
    topic: &str,
    records: Vec<Record>,
    refused: Vec<(usize, Option<ApiError>)>,
) -> Group {
    let partitions = app.kafka.metadata.partition_count(topic).await.unwrap_or(0);
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
        let size = r.key.as_ref().map_or(0, |d| d.bytes.len())
            + r.value.as_ref().map_or(0, |d| d.bytes.len());
        if size > producer.max_record_bytes() {
            slots.push(Slot::Refused(ApiError::record_too_large(format!(
                "the record has {size} bytes of key and value, above the producer's limit of {} \
                 (message.max.bytes)",
                producer.max_record_bytes()
            ))));
            continue;
        }
        let timestamp = *r.timestamp.get_or_insert_with(now_ms);
        let size = |d: &Option<Data>| d.as_ref().map(|d| (d.kind, d.bytes.len()));
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
