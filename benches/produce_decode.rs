//! Produce-body decoding: JSON parse with borrowed raw values, then conversion of every record
//! into the bytes handed to the producer (one arena for binary, the body itself for json).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use kafka_proxy::formats::{encode_records, EmbeddedFormat};
use kafka_proxy::rest::produce_request::ProduceRequest;
use proxy_benches::produce_body;

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

criterion_group!(benches, decode);
criterion_main!(benches);
