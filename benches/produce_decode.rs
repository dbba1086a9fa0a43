//! Produce-body decoding: JSON parse with borrowed raw values, then conversion of every record
//! into the bytes handed to the producer (one arena for binary, the body itself for json). Avro:
//! the proxy's path (the one-pass encoder, `formats/avro_stream.rs`) against the value-tree
//! encoder it replaced on the hot path (serde_json `Value`, then Avro binary from the tree).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use kafka_proxy::formats::{
    encode_records, encode_schema_records, encode_value, EmbeddedFormat, ResolvedSchema,
};
use kafka_proxy::rest::produce_request::ProduceRequest;
use kafka_proxy::schema::kinds::{AvroSchema, Parsed};
use proxy_benches::{avro_body, produce_body, AVRO_SCHEMA};

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
        }
    }
    group.finish();
}

fn avro(c: &mut Criterion) {
    let schema = ResolvedSchema {
        id: 1,
        schema: Parsed::Avro(
            AvroSchema::parse(AVRO_SCHEMA, &[])
                .expect("valid schema")
                .into(),
        ),
    };
    let mut group = c.benchmark_group("produce_decode_avro");
    for n in [1usize, 100, 1000] {
        let body = avro_body(n, 100);
        group.throughput(Throughput::Elements(n as u64));
        group.bench_with_input(BenchmarkId::new("one_pass", n), &body, |b, body| {
            b.iter(|| {
                let req = ProduceRequest::parse(body, usize::MAX).expect("valid body");
                let encoded =
                    encode_schema_records(EmbeddedFormat::Avro, &req.records, None, Some(&schema))
                        .expect("valid records");
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
                        let json = serde_json::from_str(raw).expect("valid JSON");
                        encode_value(&schema, json).expect("valid record")
                    })
                    .collect();
                assert_eq!(encoded.len(), n);
                encoded
            })
        });
    }
    group.finish();
}

criterion_group!(benches, decode, avro);
criterion_main!(benches);
