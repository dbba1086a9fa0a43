//! v3 streaming produce (issue 17, item 6): `POST /v3/clusters/{c}/topics/{t}/records` read as
//! the records arrive, one delivery report per record written back in input order while the
//! client is still sending. The streaming test is a raw HTTP/1.1 client that sends chunks
//! slowly and reads each report before sending the next record.

mod common;

use std::time::Duration;

use common::*;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn cluster_id(proxy: &Proxy) -> String {
    let r = get(&format!("{}/v3/clusters", proxy.url), "application/json").await;
    r.json()["data"][0]["cluster_id"]
        .as_str()
        .unwrap()
        .to_string()
}

/// A raw HTTP/1.1 exchange with a chunked request body and a chunked response.
struct Raw {
    stream: TcpStream,
    /// Response bytes read and not yet decoded.
    pending: Vec<u8>,
    headers_done: bool,
    /// Decoded response body not yet returned as lines.
    body: Vec<u8>,
    finished: bool,
}

impl Raw {
    async fn start(proxy: &Proxy, path: &str) -> Raw {
        let addr = proxy.url.trim_start_matches("http://");
        let mut stream = TcpStream::connect(addr).await.unwrap();
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        Raw {
            stream,
            pending: Vec::new(),
            headers_done: false,
            body: Vec::new(),
            finished: false,
        }
    }

    async fn send(&mut self, data: &str) {
        let chunk = format!("{:x}\r\n{data}\r\n", data.len());
        self.stream.write_all(chunk.as_bytes()).await.unwrap();
    }

    async fn end(&mut self) {
        self.stream.write_all(b"0\r\n\r\n").await.unwrap();
    }

    /// Decodes what was read: the status line and headers once, then chunks.
    fn decode(&mut self) {
        if !self.headers_done {
            let Some(at) = find(&self.pending, b"\r\n\r\n") else {
                return;
            };
            let head = String::from_utf8_lossy(&self.pending[..at]).to_string();
            assert!(head.starts_with("HTTP/1.1 200"), "{head}");
            assert!(
                head.to_ascii_lowercase()
                    .contains("transfer-encoding: chunked"),
                "{head}"
            );
            self.pending.drain(..at + 4);
            self.headers_done = true;
        }
        while let Some(at) = find(&self.pending, b"\r\n") {
            let size =
                usize::from_str_radix(String::from_utf8_lossy(&self.pending[..at]).trim(), 16)
                    .unwrap();
            if size == 0 {
                self.finished = true;
                self.pending.clear();
                return;
            }
            if self.pending.len() < at + 2 + size + 2 {
                return;
            }
            self.body
                .extend_from_slice(&self.pending[at + 2..at + 2 + size]);
            self.pending.drain(..at + 2 + size + 2);
        }
    }

    /// The next report (a line ending in `\r\n`), waiting at most 20 s; None at the end.
    async fn report(&mut self) -> Option<Value> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(at) = find(&self.body, b"\r\n") {
                let line: Vec<u8> = self.body.drain(..at + 2).collect();
                return Some(serde_json::from_slice(&line[..at]).unwrap());
            }
            if self.finished {
                return None;
            }
            let mut buf = [0u8; 4096];
            let n = tokio::time::timeout_at(deadline, self.stream.read(&mut buf))
                .await
                .expect("no report within 20 s")
                .unwrap();
            if n == 0 {
                return None;
            }
            self.pending.extend_from_slice(&buf[..n]);
            self.decode();
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Records sent one at a time over one chunked request: each report comes back before the next
/// record is sent; a bad record gets its own report and the stream goes on; the records are in
/// Kafka with their keys, headers and timestamps.
#[tokio::test]
async fn streaming_reports_arrive_while_the_client_sends() {
    let proxy = Proxy::start_with(&[]).await;
    let cid = cluster_id(&proxy).await;
    let topic = unique("v3-stream");
    create_topic(&topic, 2).await;
    let mut raw = Raw::start(
        &proxy,
        &format!("/v3/clusters/{cid}/topics/{topic}/records"),
    )
    .await;

    raw.send(
        r#"{"partition_id":1,"key":{"type":"STRING","data":"k1"},"value":{"type":"JSON","data":{"n":1}},
            "headers":[{"name":"h","value":"AQI="},{"name":"h","value":"Aw=="}],
            "timestamp":"2024-01-02T03:04:05.678Z"}"#,
    )
    .await;
    let first = raw.report().await.unwrap();
    assert_eq!(first["error_code"], 200, "{first}");
    assert_eq!(
        (
            &first["cluster_id"],
            &first["topic_name"],
            &first["partition_id"],
            &first["offset"]
        ),
        (&json!(cid), &json!(topic), &json!(1), &json!(0))
    );
    assert_eq!(first["timestamp"], "2024-01-02T03:04:05.678Z");
    assert_eq!(first["key"], json!({"type": "STRING", "size": 2}));
    assert_eq!(first["value"], json!({"type": "JSON", "size": 7}));

    // An invalid record: its own report; the stream goes on.
    raw.send(r#" {"value":{"type":"BINARY","data":"not base64!"}}"#)
        .await;
    let second = raw.report().await.unwrap();
    assert_eq!(second["error_code"], 400, "{second}");
    assert_eq!(
        second["message"],
        "Bad Request: data=not base64! is not a base64 string."
    );

    // Two records in one chunk, the second split over two chunks.
    raw.send(
        r#"{"partition_id":1,"value":{"type":"BINARY","data":"aGk="}} {"partition_id":1,"value":"#,
    )
    .await;
    let third = raw.report().await.unwrap();
    assert_eq!(
        (&third["error_code"], &third["offset"]),
        (&json!(200), &json!(1)),
        "{third}"
    );
    raw.send(r#"{"type":"STRING","data":"last"}}"#).await;
    let fourth = raw.report().await.unwrap();
    assert_eq!(
        (&fourth["error_code"], &fourth["offset"]),
        (&json!(200), &json!(2)),
        "{fourth}"
    );
    // An absent key is left out of the report, as Confluent leaves it out.
    assert!(!fourth.as_object().unwrap().contains_key("key"), "{fourth}");
    raw.end().await;
    assert_eq!(
        raw.report().await,
        None,
        "the stream ends after the last report"
    );

    let stored = read_all(&topic, 2, 3, Duration::from_secs(10));
    assert_eq!(stored.len(), 3);
    let values: Vec<&[u8]> = stored.iter().map(|r| r.value.as_deref().unwrap()).collect();
    assert_eq!(values, vec![&b"{\"n\":1}"[..], b"hi", b"last"]);
    assert_eq!(stored[0].key.as_deref(), Some(&b"k1"[..]));
    assert_eq!(stored[0].timestamp, Some(1_704_164_645_678));
    assert_eq!(
        stored[0].headers,
        vec![
            ("h".to_string(), vec![1u8, 2]),
            ("h".to_string(), vec![3u8])
        ]
    );
    proxy.stop().await;
}

/// A whole body of records (not chunked): one report per record in order, offsets in order per
/// partition; malformed JSON ends the stream with a report; refusals before the stream.
#[tokio::test]
async fn bodies_reports_and_refusals() {
    let proxy = Proxy::start_with(&[]).await;
    let cid = cluster_id(&proxy).await;
    let topic = unique("v3-body");
    create_topic(&topic, 1).await;
    let url = format!("{}/v3/clusters/{cid}/topics/{topic}/records", proxy.url);
    let body: String = (0..500)
        .map(|i| json!({"value": {"type": "JSON", "data": i}}).to_string())
        .collect::<Vec<_>>()
        .join("\n");
    let r = send(
        http()
            .post(&url)
            .header("content-type", "application/json")
            .body(body),
    )
    .await;
    assert_eq!(r.status, 200, "{r:?}");
    let reports: Vec<Value> = r
        .text
        .split("\r\n")
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(reports.len(), 500);
    for (i, report) in reports.iter().enumerate() {
        assert_eq!(
            (&report["error_code"], &report["offset"]),
            (&json!(200), &json!(i)),
            "{report}"
        );
    }
    assert_eq!(read_all(&topic, 1, 500, Duration::from_secs(10)).len(), 500);

    // Malformed JSON: one report, then the stream ends; nothing after it is produced.
    let r = send(
        http()
            .post(&url)
            .header("content-type", "application/json")
            .body(r#"{"value":{"type":"JSON","data":1}} {"value": ]] {"value":{"type":"JSON","data":2}}"#),
    )
    .await;
    let lines: Vec<Value> = r
        .text
        .split("\r\n")
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2, "{r:?}");
    assert_eq!(lines[0]["error_code"], 200);
    assert_eq!(lines[1]["error_code"], 400);
    // A body that ends inside a record.
    let r = send(
        http()
            .post(&url)
            .header("content-type", "application/json")
            .body(r#"{"value":{"type":"JSON","data":3}} {"value":"#),
    )
    .await;
    let lines: Vec<&str> = r.text.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert_eq!(lines.len(), 2, "{r:?}");
    assert!(lines[1].contains("ended inside a record"), "{r:?}");
    assert_eq!(read_all(&topic, 1, 502, Duration::from_secs(10)).len(), 502);

    // Refused before any stream: empty body, unknown topic, wrong cluster, wrong media type,
    // a partition the topic does not have (its report).
    let r = send(http().post(&url).header("content-type", "application/json")).await;
    assert_eq!(r.status, 422, "{r:?}");
    assert_eq!(
        r.json(),
        json!({"error_code": 42206, "message": "Payload error. Request body is empty. Data is required."})
    );
    let r = send(
        http()
            .post(format!(
                "{}/v3/clusters/{cid}/topics/no-such-v3-topic/records",
                proxy.url
            ))
            .header("content-type", "application/json")
            .body("{}"),
    )
    .await;
    assert_eq!(
        (r.status, r.json()["error_code"].clone()),
        (404, json!(40403)),
        "{r:?}"
    );
    let r = send(
        http()
            .post(format!(
                "{}/v3/clusters/nope/topics/{topic}/records",
                proxy.url
            ))
            .header("content-type", "application/json")
            .body("{}"),
    )
    .await;
    assert_eq!(r.status, 404, "{r:?}");
    let r = send(
        http()
            .post(&url)
            .header("content-type", "text/plain")
            .body("{}"),
    )
    .await;
    assert_eq!(r.status, 415, "{r:?}");
    let r = send(
        http()
            .post(&url)
            .header("content-type", "application/json")
            .body(r#"{"partition_id":5,"value":{"type":"JSON","data":1}}"#),
    )
    .await;
    assert_eq!(r.status, 200, "{r:?}");
    let line: Value = serde_json::from_str(r.text.trim_end()).unwrap();
    assert_eq!(
        line,
        json!({"error_code": 40402, "message": "Partition not found."})
    );
    assert_eq!(read_all(&topic, 1, 502, Duration::from_secs(5)).len(), 502);
    proxy.stop().await;
}

/// Beyond Confluent (issue 17, item 7): a v2 consumer instance created with `record.headers`
/// and `record.timestamps` gets each record's headers (base64, null kept) and timestamp; an
/// instance without them gets Confluent's record objects unchanged.
#[tokio::test]
async fn v2_consumers_may_ask_for_headers_and_timestamps() {
    let proxy = Proxy::start_with(&[]).await;
    let cid = cluster_id(&proxy).await;
    let topic = unique("v3-meta");
    create_topic(&topic, 1).await;
    let r = send(
        http()
            .post(format!(
                "{}/v3/clusters/{cid}/topics/{topic}/records",
                proxy.url
            ))
            .header("content-type", "application/json")
            .body(
                json!({"value": {"type": "BINARY", "data": "aGk="},
                       "headers": [{"name": "h", "value": "AQI="}, {"name": "n", "value": null}],
                       "timestamp": "2024-01-02T03:04:05.678Z"})
                .to_string(),
            ),
    )
    .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert!(r.text.contains("\"error_code\":200"), "{r:?}");
    const BINARY: &str = "application/vnd.kafka.binary.v2+json";

    let with = create_consumer(
        &proxy,
        &unique("meta-group"),
        json!({"format": "binary", "auto.offset.reset": "earliest",
               "record.headers": true, "record.timestamps": "true"}),
    )
    .await;
    subscribe(&with, &[&topic]).await;
    let read = read_records(&with, BINARY, 1, Duration::from_secs(30)).await;
    assert_eq!(
        read[0],
        json!({"topic": topic, "key": null, "value": "aGk=", "partition": 0, "offset": 0,
               "timestamp": 1_704_164_645_678i64,
               "headers": [{"name": "h", "value": "AQI="}, {"name": "n", "value": null}]})
    );

    let without = create_consumer(
        &proxy,
        &unique("plain-group"),
        json!({"format": "binary", "auto.offset.reset": "earliest"}),
    )
    .await;
    subscribe(&without, &[&topic]).await;
    let read = read_records(&without, BINARY, 1, Duration::from_secs(30)).await;
    assert_eq!(
        read[0],
        json!({"topic": topic, "key": null, "value": "aGk=", "partition": 0, "offset": 0})
    );

    let r = post(
        &format!("{}/consumers/{}", proxy.url, unique("bad-meta")),
        V2,
        &json!({"format": "binary", "record.headers": "maybe"}),
    )
    .await;
    assert_eq!(
        (r.status, r.json()["error_code"].clone()),
        (422, json!(42204)),
        "{r:?}"
    );
    for base in [with, without] {
        assert_eq!(send(http().delete(&base)).await.status, 204);
    }
    proxy.stop().await;
}

/// `records:batch`: 207 with successes and failures in request order (a bad entry does not stop
/// the others), and Confluent's 42208 for a batch that breaks a rule (nothing produced).
#[tokio::test]
async fn batches_of_records() {
    let proxy = Proxy::start_with(&[("api.v3.produce.batch.maximum.entries", "3")]).await;
    let cid = cluster_id(&proxy).await;
    let topic = unique("v3-batch");
    create_topic(&topic, 1).await;
    let url = format!(
        "{}/v3/clusters/{cid}/topics/{topic}/records:batch",
        proxy.url
    );
    let post_batch = |body: Value| {
        let url = url.clone();
        async move {
            send(
                http()
                    .post(&url)
                    .header("content-type", "application/json")
                    .body(body.to_string()),
            )
            .await
        }
    };
    let r = post_batch(json!({"entries": [
        {"id": "a-1", "value": {"type": "JSON", "data": 1}},
        {"id": "b_2", "value": {"type": "BINARY", "data": "%%"}},
        {"id": "3", "key": {"type": "STRING", "data": "k"}, "value": {"type": "STRING", "data": "v"}}
    ]}))
    .await;
    assert_eq!(r.status, 207, "{r:?}");
    let body = r.json();
    let successes = body["successes"].as_array().unwrap();
    assert_eq!(successes.len(), 2, "{body}");
    assert!(
        r.text
            .starts_with("{\"successes\":[{\"id\":\"a-1\",\"cluster_id\":"),
        "{}",
        r.text
    );
    assert_eq!(
        (
            &successes[0]["offset"],
            &successes[1]["id"],
            &successes[1]["offset"]
        ),
        (&json!(0), &json!("3"), &json!(1))
    );
    assert_eq!(successes[1]["key"], json!({"type": "STRING", "size": 1}));
    assert!(!successes[0].as_object().unwrap().contains_key("error_code"));
    assert_eq!(
        body["failures"],
        json!([{"id": "b_2", "error_code": 400, "message": "Bad Request: data=%% is not a base64 string."}])
    );
    assert_eq!(read_all(&topic, 1, 2, Duration::from_secs(10)).len(), 2);

    for (body, message) in [
        (
            json!({"entries": [{"id": "x", "value": null}, {"id": "x"}]}),
            "Batch entry IDs are not distinct.",
        ),
        (json!({"entries": []}), "Empty batch."),
        (json!({}), "Empty batch."),
        (
            json!({"entries": [{"id": "1"}, {"id": "2"}, {"id": "3"}, {"id": "4"}]}),
            "Too many entries in batch.",
        ),
        (
            json!({"entries": [{"id": "a.b"}]}),
            "Batch entry identifier is not a valid string.",
        ),
        (
            json!({"entries": [{"id": 7}]}),
            "Batch entry identifier is not a valid string.",
        ),
        (
            json!({"entries": [{"value": {"type": "JSON", "data": 1}}]}),
            "Batch entry identifier is not a valid string.",
        ),
        (
            json!({"entries": [{"id": "x".repeat(81)}]}),
            "Batch entry identifier is not a valid string.",
        ),
    ] {
        let r = post_batch(body.clone()).await;
        assert_eq!(
            (r.status, r.json()),
            (422, json!({"error_code": 42208, "message": message})),
            "{body}"
        );
    }
    let r = post_batch(json!({"records": []})).await;
    assert_eq!(
        (r.status, r.json()),
        (
            422,
            json!({"error_code": 422, "message": "Unrecognized field: records"})
        )
    );
    let r = send(http().post(&url).header("content-type", "application/json")).await;
    assert_eq!(r.json()["error_code"], 42208, "{r:?}");
    assert_eq!(
        read_all(&topic, 1, 2, Duration::from_secs(3)).len(),
        2,
        "a refused batch wrote"
    );
    proxy.stop().await;
}

/// `streaming.connection.max.duration.ms`: records read after it are not produced, each gets
/// 408, and the stream ends after the grace period although the client still sends.
#[tokio::test]
async fn streams_end_after_their_maximum_duration() {
    let proxy = Proxy::start_with(&[
        ("streaming.connection.max.duration.ms", "1000"),
        ("streaming.connection.max.duration.grace.period.ms", "300"),
    ])
    .await;
    let cid = cluster_id(&proxy).await;
    let topic = unique("v3-duration");
    create_topic(&topic, 1).await;
    let mut raw = Raw::start(
        &proxy,
        &format!("/v3/clusters/{cid}/topics/{topic}/records"),
    )
    .await;
    raw.send(r#"{"value":{"type":"JSON","data":1}}"#).await;
    assert_eq!(raw.report().await.unwrap()["error_code"], 200);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    raw.send(r#"{"value":{"type":"JSON","data":2}}"#).await;
    assert_eq!(
        raw.report().await.unwrap(),
        json!({"error_code": 408, "message": "Streaming connection open for longer than allowed: Connection will be closed."})
    );
    // The client goes on sending; after the grace period the answer ends anyway.
    tokio::time::sleep(Duration::from_millis(500)).await;
    raw.send(r#"{"value":{"type":"JSON","data":3}}"#).await;
    assert_eq!(raw.report().await, None);
    assert_eq!(read_all(&topic, 1, 1, Duration::from_secs(3)).len(), 1);
    proxy.stop().await;
}

/// Posts a whole stream body and returns its reports.
async fn stream_reports(url: &str, records: &[Value]) -> Vec<Value> {
    let body: String = records
        .iter()
        .map(Value::to_string)
        .collect::<Vec<_>>()
        .join("\n");
    let r = send(
        http()
            .post(url)
            .header("content-type", "application/json")
            .body(body),
    )
    .await;
    assert_eq!(r.status, 200, "{r:?}");
    r.text
        .split("\r\n")
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Schema-based data (item 6): AVRO, JSONSCHEMA and PROTOBUF by raw schema (registered under
/// the strategy's subject), by `schema_id`, by `schema_version` and by the subject's latest
/// version, key and value in different formats; reports name subject, id and version; the
/// bytes in Kafka are Confluent's framing; records that do not fit get their own report and
/// are not written.
#[tokio::test]
async fn schema_based_records() {
    let proxy = Proxy::start_with_registry(&[]).await;
    let cid = cluster_id(&proxy).await;
    let topic = unique("v3-schema");
    create_topic(&topic, 1).await;
    let url = format!("{}/v3/clusters/{cid}/topics/{topic}/records", proxy.url);
    let avro = r#"{"type":"record","name":"Pos","namespace":"hfp","fields":[{"name":"lat","type":"double"}]}"#;
    let first = stream_reports(
        &url,
        &[json!({"key": {"type": "STRING", "data": "k"},
                 "value": {"type": "AVRO", "schema": avro, "data": {"lat": 60.5}}})],
    )
    .await;
    assert_eq!(first[0]["error_code"], 200, "{first:?}");
    let id = first[0]["value"]["schema_id"].as_i64().unwrap();
    assert_eq!(
        first[0]["value"],
        json!({"type": "AVRO", "subject": format!("{topic}-value"), "schema_id": id,
               "schema_version": 1, "size": 13})
    );
    assert_eq!(first[0]["key"], json!({"type": "STRING", "size": 1}));

    let proto = "syntax = \"proto3\"; message M { string s = 1; }";
    let json_schema = r#"{"type":"object","properties":{"n":{"type":"integer"}},"required":["n"]}"#;
    let reports = stream_reports(
        &url,
        &[
            json!({"value": {"schema_version": 1, "data": {"lat": 1.5}}}),
            json!({"value": {"data": {"lat": 2.5}}}),
            json!({"value": {"schema_id": id, "data": {"lat": 3.5}}}),
            json!({"value": {"data": {"lat": "north"}}}),
            json!({"value": {"schema_id": 99999, "data": {"lat": 1.0}}}),
            json!({"value": {"schema_version": 7, "data": {"lat": 1.0}}}),
            json!({"key": {"type": "JSONSCHEMA", "schema": json_schema, "data": {"n": 1}},
                   "value": {"type": "PROTOBUF", "schema": proto, "subject": format!("{topic}-proto"),
                             "data": {"s": "x"}}}),
            json!({"key": {"type": "JSONSCHEMA", "schema": json_schema, "data": {"n": "one"}}}),
            json!({"value": {"type": "AVRO", "schema": avro, "subject_name_strategy": "RECORD_NAME",
                             "data": {"lat": 4.5}}}),
            json!({"value": {"type": "AVRO", "schema": "{\"type\":", "data": 1}}),
        ],
    )
    .await;
    let codes: Vec<i64> = reports
        .iter()
        .map(|r| r["error_code"].as_i64().unwrap())
        .collect();
    assert_eq!(
        codes,
        [200, 200, 200, 400, 422, 400, 200, 400, 200, 422],
        "{reports:#?}"
    );
    for r in &reports[..3] {
        assert_eq!(r["value"]["schema_id"], id, "{r}");
        assert_eq!(r["value"]["schema_version"], 1, "{r}");
    }
    let (key, value) = (&reports[6]["key"], &reports[6]["value"]);
    assert_eq!(key["type"], "JSONSCHEMA", "{key}");
    assert_eq!(key["subject"], format!("{topic}-key"), "{key}");
    assert_eq!(value["type"], "PROTOBUF", "{value}");
    assert_eq!(value["subject"], format!("{topic}-proto"), "{value}");
    assert_eq!(value["schema_version"], 1, "{value}");
    assert_eq!(
        reports[8]["value"]["subject"], "hfp.Pos",
        "{:?}",
        reports[8]
    );
    assert!(
        reports[9]["message"].as_str().unwrap().starts_with(
            "Error: 42205 : Invalid schema: Error when parsing raw schema. format = AVRO"
        ),
        "{:?}",
        reports[9]
    );

    // Exactly the accepted records are in Kafka, in Confluent's framing.
    let records = read_all(&topic, 1, 6, Duration::from_secs(10));
    assert_eq!(records.len(), 6);
    let framed = |schema: i64, payload: &[u8]| {
        let mut out = vec![0u8];
        out.extend_from_slice(&(schema as i32).to_be_bytes());
        out.extend_from_slice(payload);
        out
    };
    for (record, lat) in records[..4].iter().zip([60.5f64, 1.5, 2.5, 3.5]) {
        assert_eq!(
            record.value.as_deref(),
            Some(&framed(id, &lat.to_le_bytes())[..])
        );
    }
    assert_eq!(records[0].key.as_deref(), Some(&b"k"[..]));
    let key_id = key["schema_id"].as_i64().unwrap();
    assert_eq!(
        records[4].key.as_deref(),
        Some(&framed(key_id, br#"{"n":1}"#)[..])
    );
    let proto_id = value["schema_id"].as_i64().unwrap();
    assert_eq!(
        records[4].value.as_deref(),
        Some(&framed(proto_id, &[0, 0x0a, 1, b'x'])[..])
    );

    // The same references through an external registry (the first proxy's, over HTTP).
    let remote = Proxy::start_with(&[(
        "schema.registry.url",
        proxy.registry_url.as_deref().unwrap(),
    )])
    .await;
    let reports = stream_reports(
        &format!("{}/v3/clusters/{cid}/topics/{topic}/records", remote.url),
        &[
            json!({"value": {"schema_version": 1, "data": {"lat": 5.5}}}),
            json!({"value": {"data": {"lat": 6.5}}}),
            json!({"value": {"schema_id": id, "data": {"lat": 7.5}}}),
            json!({"value": {"schema_id": proto_id, "data": {"lat": 1.0}}}),
            json!({"value": {"schema_version": 9, "data": {"lat": 1.0}}}),
        ],
    )
    .await;
    let codes: Vec<i64> = reports
        .iter()
        .map(|r| r["error_code"].as_i64().unwrap())
        .collect();
    assert_eq!(codes, [200, 200, 200, 422, 400], "{reports:#?}");
    assert!(
        reports[3]["message"].as_str().unwrap().starts_with(
            "Error: 42207 : Error serializing message. Error when fetching schema version."
        ),
        "{:?}",
        reports[3]
    );
    assert_eq!(
        reports[4]["message"],
        format!("Bad Request: Schema does not exist for subject: {topic}-value, version: 9")
    );
    for r in &reports[..3] {
        assert_eq!(
            (&r["value"]["schema_id"], &r["value"]["schema_version"]),
            (&json!(id), &json!(1)),
            "{r}"
        );
    }
    remote.stop().await;
    assert_eq!(read_all(&topic, 1, 9, Duration::from_secs(10)).len(), 9);

    // A proxy without a registry refuses schema-based data, record by record.
    let bare = Proxy::start_with(&[]).await;
    let reports = stream_reports(
        &format!("{}/v3/clusters/{cid}/topics/{topic}/records", bare.url),
        &[
            json!({"value": {"schema_id": id, "data": {"lat": 1.0}}}),
            json!({"value": {"type": "JSON", "data": 1}}),
        ],
    )
    .await;
    assert_eq!(
        reports[0],
        json!({"error_code": 422, "message":
            "Error: 42206 : Payload error. Schema Registry must be configured when using schemas."}),
    );
    assert_eq!(reports[1]["error_code"], 200, "{reports:?}");
    bare.stop().await;
    proxy.stop().await;
}
