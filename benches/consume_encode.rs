//! Consume-response encoding: records written into the GET records body (base64 for binary,
//! validated raw JSON for json).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use kafka_proxy::formats::{EmbeddedFormat, RecordWriter};
use rdkafka::message::{OwnedMessage, Timestamp};

fn records(n: usize, json: bool) -> Vec<OwnedMessage> {
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
            OwnedMessage::new(
                Some(value),
                Some(key.into_bytes()),
                "bench-topic".into(),
                Timestamp::NotAvailable,
                0,
                i as i64,
                None,
            )
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
                    for (i, m) in msgs.iter().enumerate() {
                        if i > 0 {
                            out.push(b',');
                        }
                        writer.write(m, &mut out).expect("encodable");
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
