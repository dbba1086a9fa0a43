//! Produce-body decoding: JSON parse with borrowed raw values, then conversion of every record
//! into the bytes handed to the producer (one arena for binary, the body itself for json). Avro,
//! JSON Schema and Protobuf: the proxy's paths (`formats/avro_stream.rs`,
//! `formats/jsonschema_stream.rs`, `formats/protobuf_stream.rs`) against the value-tree paths
//! they replaced (serde_json `Value`, then the tree encoder or validator), and, for Avro and
//! Protobuf, the whole request in one pass (`formats/one_pass_request.rs`); binary's whole
//! request read by hand (`formats/binary_request.rs`).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use kafka_proxy::formats::{
    avro, binary_request, encode_records, encode_schema_records, one_pass_request, protobuf,
    EmbeddedFormat, ResolvedSchema,
};
use kafka_proxy::rest::produce_request::ProduceRequest;
use kafka_proxy::schema::kinds::{parse, Parsed, SchemaType};
use proxy_benches::{
    keyed_schema_body, produce_body, schema_body, AVRO_SCHEMA, JSON_SCHEMA, PROTOBUF_SCHEMA,
};

fn decode(c: &mut Criterion) {
    let mut group = c.benchmark_group("produce_decode");
    for (name, format) in [
        ("binary", EmbeddedFormat::Binary),
        ("json", EmbeddedFormat::Json),
    ] {
        for n in [1usize, 100, 1000] {
            let body = produce_body(n, 100, format == EmbeddedFormat::Binary);
            group.throughput(Throughput::Elements(n as u64));
            group.bench_with_input(BenchmarkId::new(name, n), &body, |b, body| {
                b.iter(|| {
                    let req = ProduceRequest::parse(body, usize::MAX).expect("valid body");
                    let encoded =
                        encode_records(format, body, &req.records, 1000).expect("valid records");
                    assert_eq!(encoded.len(), n);
                    encoded
                })
            });
            // The whole binary request read by hand (`formats/binary_request.rs`).
            if format == EmbeddedFormat::Binary {
                let id = BenchmarkId::new("binary_request", n);
                group.bench_with_input(id, &body, |b, body| {
                    b.iter(|| {
                        let encoded = binary_request::encode(body, usize::MAX, None)
                            .expect("the common shape");
                        assert_eq!(encoded.len(), n);
                        encoded
                    })
                });
            }
        }
    }
    group.finish();
}

/// The schema formats at 100-byte records: the proxy's path (one-pass encoders and checker)
/// against the value-tree path each replaced (serde_json `Value`, then the tree encoder or the
/// `jsonschema` validator and re-serialization).
fn schema_formats(c: &mut Criterion) {
    let formats = [
        (EmbeddedFormat::Avro, SchemaType::Avro, AVRO_SCHEMA),
        (EmbeddedFormat::JsonSchema, SchemaType::Json, JSON_SCHEMA),
        (
            EmbeddedFormat::Protobuf,
            SchemaType::Protobuf,
            PROTOBUF_SCHEMA,
        ),
    ];
    for (format, kind, text) in formats {
        let schema = ResolvedSchema {
            id: 1,
            schema: parse(kind, text).expect("valid schema"),
        };
        let mut group = c.benchmark_group(format!("produce_decode_{}", kind.name().to_lowercase()));
        for n in [1usize, 100, 1000] {
            let body = schema_body(n, 100);
            group.throughput(Throughput::Elements(n as u64));
            group.bench_with_input(BenchmarkId::new("one_pass", n), &body, |b, body| {
                b.iter(|| {
                    let req = ProduceRequest::parse(body, usize::MAX).expect("valid body");
                    let encoded = encode_schema_records(format, &req.records, None, Some(&schema))
                        .expect("valid records");
                    assert_eq!(encoded.len(), n);
                    encoded
                })
            });
            // The whole request in one go (`formats/one_pass_request.rs`).
            group.bench_with_input(BenchmarkId::new("one_pass_request", n), &body, |b, body| {
                b.iter(|| {
                    let encoded = one_pass_request::encode(body, None, &schema, usize::MAX, None)
                        .expect("the common shape");
                    assert_eq!(encoded.len(), n);
                    encoded
                })
            });
            group.bench_with_input(BenchmarkId::new("value_tree", n), &body, |b, body| {
                b.iter(|| {
                    let req = ProduceRequest::parse(body, usize::MAX).expect("valid body");
                    let encoded: Vec<Vec<u8>> = req
                        .records
                        .iter()
                        .map(|r| {
                            let raw = r.value.expect("a value").get();
                            let json: serde_json::Value =
                                serde_json::from_str(raw).expect("valid JSON");
                            tree_encode(&schema, json)
                        })
                        .collect();
                    assert_eq!(encoded.len(), n);
                    encoded
                })
            });
        }
        group.finish();
    }
}

/// The value-tree encoders, as the proxy ran them before the one-pass paths.
fn tree_encode(schema: &ResolvedSchema, json: serde_json::Value) -> Vec<u8> {
    match &schema.schema {
        Parsed::Avro(s) => avro::encode(s, schema.id, &json).expect("valid record"),
        Parsed::Protobuf(s) => protobuf::encode(s, schema.id, json).expect("valid record"),
        Parsed::Json(s) => {
            assert!(s.validator.iter_errors(&json).next().is_none());
            let text = serde_json::to_vec(&json).expect("re-serializing");
            let mut out = Vec::with_capacity(text.len() + 5);
            avro::frame(schema.id, &text, &mut out);
            out
        }
    }
}

/// Record `i`'s key as JSON text.
type KeyText = dyn Fn(usize) -> String;

/// Keyed schema requests at 100 records, keys of the usual shape (a string for Avro and JSON
/// Schema, a message of one string for Protobuf): the usual path (parse, then the encoders)
/// against the whole request in one pass.
fn keyed_schema_formats(c: &mut Criterion) {
    let string_key = |i: usize| format!("\"device-{i}\"");
    let message_key = |i: usize| format!("{{\"name\":\"device-{i}\"}}");
    let formats: [(EmbeddedFormat, SchemaType, &str, &str, &KeyText); 3] = [
        (
            EmbeddedFormat::Avro,
            SchemaType::Avro,
            AVRO_SCHEMA,
            r#""string""#,
            &string_key,
        ),
        (
            EmbeddedFormat::JsonSchema,
            SchemaType::Json,
            JSON_SCHEMA,
            r#"{"type":"string"}"#,
            &string_key,
        ),
        (
            EmbeddedFormat::Protobuf,
            SchemaType::Protobuf,
            PROTOBUF_SCHEMA,
            "syntax = \"proto3\"; message Key { string name = 1; }",
            &message_key,
        ),
    ];
    let mut group = c.benchmark_group("produce_decode_keyed");
    for (format, kind, value_text, key_text, key) in formats {
        let value = ResolvedSchema {
            id: 1,
            schema: parse(kind, value_text).expect("valid schema"),
        };
        let key_schema = ResolvedSchema {
            id: 2,
            schema: parse(kind, key_text).expect("valid schema"),
        };
        let n = 100;
        let body = keyed_schema_body(n, 100, Some(key));
        let name = kind.name().to_lowercase();
        group.throughput(Throughput::Elements(n as u64));
        group.bench_with_input(BenchmarkId::new(&name, "usual"), &body, |b, body| {
            b.iter(|| {
                let req = ProduceRequest::parse(body, usize::MAX).expect("valid body");
                let encoded =
                    encode_schema_records(format, &req.records, Some(&key_schema), Some(&value))
                        .expect("valid records");
                assert_eq!(encoded.len(), n);
                encoded
            })
        });
        group.bench_with_input(
            BenchmarkId::new(&name, "one_pass_request"),
            &body,
            |b, body| {
                b.iter(|| {
                    let encoded =
                        one_pass_request::encode(body, Some(&key_schema), &value, usize::MAX, None)
                            .expect("the common shape");
                    assert_eq!(encoded.len(), n);
                    encoded
                })
            },
        );
    }
    group.finish();
}

criterion_group!(benches, decode, schema_formats, keyed_schema_formats);
criterion_main!(benches);
