//! Consume-response encoding: records written into the GET records body (base64 for binary,
//! validated raw JSON for json).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use kafka_proxy::formats::{ConsumedRecord, EmbeddedFormat, RecordWriter};

/// (key, value, offset) of `n` records.
fn records(n: usize, json: bool) -> Vec<(Vec<u8>, Vec<u8>, i64)> {
    (0..n)
        .map(|i| {
            let value = if json {
                format!("{{\"id\":{i},\"v\":\"{}\"}}", "x".repeat(84)).into_bytes()
            } else {
                (0..100).map(|j| ((i + j) % 251) as u8).collect()
            };
            // A json consumer's keys are JSON too (a quoted string), as the json producer writes them.
            let key = if json {
                format!("\"k{i}\"")
            } else {
                format!("k{i}")
            };
            (key.into_bytes(), value, i as i64)
        })
        .collect()
}

fn encode(c: &mut Criterion) {
    let mut group = c.benchmark_group("consume_encode");
    for (name, format) in [
        ("binary", EmbeddedFormat::Binary),
        ("json", EmbeddedFormat::Json),
    ] {
        for n in [1usize, 100, 1000] {
            let msgs = records(n, format == EmbeddedFormat::Json);
            group.throughput(Throughput::Elements(n as u64));
            group.bench_with_input(BenchmarkId::new(name, n), &msgs, |b, msgs| {
                b.iter(|| {
                    let mut writer = RecordWriter::new(format, None);
                    let mut out = Vec::with_capacity(msgs.len() * 200);
                    out.push(b'[');
                    for (i, (key, value, offset)) in msgs.iter().enumerate() {
                        if i > 0 {
                            out.push(b',');
                        }
                        let record = ConsumedRecord {
                            topic: "bench-topic",
                            key: Some(key),
                            value: Some(value),
                            partition: 0,
                            offset: *offset,
                            headers: &[],
                            timestamp: None,
                        };
                        writer.write(&record, &mut out).expect("encodable");
                    }
                    out.push(b']');
                    out
                })
            });
        }
    }
    group.finish();
}

criterion_group!(benches, encode);
criterion_main!(benches);
