//! From decoded records to the bytes of a Produce request, as the batch engine builds it
//! (`kafka/batch.rs`, `kafka/wire.rs`): MQTT publishes copied from their packets into their
//! connections' chunks (`mqtt::chunk::Publishes::push`), the chunks joined into one batch's
//! records (`mqtt::chunk::records`), partitioned by key, planned into batches and written; and
//! the same for a binary REST request's records. Everything a record costs on its way to the
//! broker except the network and the packet's decoding.

use std::time::Duration;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use kafka_proxy::formats::{binary_request, EncodedRecords};
use kafka_proxy::kafka::batch::{BatchEngine, BatchSettings, Compression};
use kafka_proxy::kafka::partitioner::partition_for_key;
use kafka_proxy::mqtt::chunk::{records, Publish, Publishes};
use proxy_benches::produce_body;
use rmqtt_codec::types::QoS;

/// The proxy's allocator (`proxy/src/main.rs`), so that the figures are the binary's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const PARTITIONS: u32 = 4;

fn engine() -> BatchEngine {
    BatchEngine::new(BatchSettings {
        client_id: "bench".into(),
        acks: -1,
        request_timeout: Duration::from_secs(30),
        delivery_timeout: Duration::from_secs(120),
        retry_backoff: Duration::from_millis(100),
        max_batch_bytes: 1_000_000,
        connections_per_broker: 1,
        max_in_flight: 1,
        tls: None,
        sasl: None,
        compression: Compression::None,
    })
}

/// Keyed records to partitions, as the producer assigns them.
fn partitioned(mut r: EncodedRecords) -> EncodedRecords {
    for i in 0..r.len() {
        let key = r.get(i).key.expect("keyed");
        let p = partition_for_key(key, PARTITIONS);
        r.set_partition(i, p);
    }
    r
}

/// `n` QoS 2 publishes of 100-byte payloads from 16 devices, one connection each, made a
/// writer's batch: each device's publishes copied into its chunk, the chunks joined.
fn mqtt_batch(topics: &[Bytes], payloads: &[Vec<u8>]) -> EncodedRecords {
    let mut chunks: Vec<Publishes> = (0..topics.len())
        .map(|_| Publishes::with_capacity(payloads.len() / topics.len() + 1, 4096))
        .collect();
    for (i, payload) in payloads.iter().enumerate() {
        chunks[i % topics.len()].push(Publish {
            mqtt_topic: &topics[i % topics.len()],
            payload,
            qos: QoS::ExactlyOnce,
            arrived: 1_765_000_000_000 + (i / 100) as i64,
            seq: Some(i as u64),
            extra: Vec::new(),
        });
    }
    records(chunks.iter())
}

fn produce_path(c: &mut Criterion) {
    let engine = engine();
    let mut group = c.benchmark_group("produce_path");
    for n in [100usize, 1024] {
        let topics: Vec<Bytes> = (0..16)
            .map(|d| Bytes::from(format!("devices/{d:04}/temperature")))
            .collect();
        let payloads: Vec<Vec<u8>> = (0..n).map(|i| vec![b'a' + (i % 26) as u8; 100]).collect();
        group.throughput(Throughput::Elements(n as u64));
        group.bench_function(BenchmarkId::new("mqtt", n), |b| {
            b.iter(|| {
                let r = partitioned(mqtt_batch(&topics, &payloads));
                engine.request_alone("iot", 0, r)
            })
        });
        let body = produce_body(n, 100, true);
        group.bench_with_input(BenchmarkId::new("rest_binary", n), &body, |b, body| {
            b.iter(|| {
                let r = binary_request::encode(body, usize::MAX, None).expect("the common shape");
                engine.request_alone("t", 1_765_000_000_000, partitioned(r))
            })
        });
    }
    group.finish();
}

criterion_group!(benches, produce_path);
criterion_main!(benches);
