//! Partitioning keyed records as the Java client does (murmur2 of the serialized key).

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use kafka_proxy::kafka::partitioner::partition_for_key;

fn partitioning(c: &mut Criterion) {
    let keys: Vec<Vec<u8>> = (0..1000)
        .map(|i| format!("device-{i:08}").into_bytes())
        .collect();
    let mut group = c.benchmark_group("partitioning");
    group.throughput(Throughput::Elements(keys.len() as u64));
    group.bench_function("murmur2_16_byte_keys_x1000", |b| {
        b.iter(|| {
            keys.iter()
                .map(|k| partition_for_key(k, 12) as i64)
                .sum::<i64>()
        })
    });
    group.finish();
}

criterion_group!(benches, partitioning);
criterion_main!(benches);
