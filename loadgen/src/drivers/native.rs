//! The native baseline: rdkafka producers and consumers over Kafka's own protocol, configured
//! like the proxy's shared producer (acks=all, idempotent, linger 5 ms).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use std::sync::Mutex;

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{DeliveryResult, Message};
use rdkafka::producer::{BaseRecord, Producer, ProducerContext, ThreadedProducer};
use rdkafka::{ClientConfig, ClientContext, Offset, TopicPartitionList};

use super::{avro, deal};
use crate::measure::{make_value, value_checksum, PhaseResult, Progress, Recorder};
use crate::scenario::{Clients, Format, Workload};

/// Collects delivery reports: acknowledgements, errors and send-to-ack latency.
struct Deliveries {
    progress: Arc<Progress>,
    epoch: Instant,
    latency: Mutex<Recorder>,
    errors: AtomicU64,
    sampled: AtomicU64,
}

impl ClientContext for Deliveries {}

impl ProducerContext for Deliveries {
    /// Nanoseconds from `epoch` to the send: no allocation per record.
    type DeliveryOpaque = usize;

    fn delivery(&self, result: &DeliveryResult<'_>, sent_ns: usize) {
        match result {
            Ok(_) => {
                self.progress.add(1);
                let waited = self
                    .epoch
                    .elapsed()
                    .saturating_sub(Duration::from_nanos(sent_ns as u64));
                self.latency.lock().expect("poisoned").record(waited);
                // The time series needs a sample, not every record (this is the client's CPU).
                if self
                    .sampled
                    .fetch_add(1, Ordering::Relaxed)
                    .is_multiple_of(8)
                {
                    self.progress.latency(waited);
                }
            }
            Err(_) => {
                self.errors.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// Produces `w.records` records to `topic` the way a plain rdkafka producer loop does: send as
/// fast as the queue allows, delivery reports on librdkafka's thread. Latency is per record, send
/// to acknowledgement. One record to `warmup_topic` first connects the producer and initialises
/// idempotence, outside the measured window.
///
/// With `w.format = avro`, the schema is first registered once at `registry` under
/// `<topic>-value` (outside the window), and each record is encoded to Confluent-framed Avro in
/// the send loop, as a native Avro producer's serializer does.
pub async fn produce(
    bootstrap: &str,
    registry: Option<&str>,
    topic: &str,
    warmup_topic: &str,
    w: &Workload,
    clients: &Clients,
    progress: Arc<Progress>,
) -> anyhow::Result<PhaseResult> {
    let schema_id = match w.format {
        Format::Binary => None,
        Format::Avro => {
            let registry = registry.ok_or_else(|| {
                anyhow::anyhow!("an Avro workload needs a Schema Registry (--schema-registry-url)")
            })?;
            Some(avro::register(registry, &format!("{topic}-value")).await?)
        }
    };
    let context = Deliveries {
        progress: progress.clone(),
        epoch: Instant::now(),
        latency: Mutex::new(Recorder::default()),
        errors: AtomicU64::new(0),
        sampled: AtomicU64::new(0),
    };
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", bootstrap);
    for (k, v) in clients.native_producer() {
        config.set(k, v);
    }
    let producer: Arc<ThreadedProducer<Deliveries>> =
        Arc::new(config.create_with_context(context)?);
    producer
        .send(BaseRecord::<(), [u8], usize>::with_opaque_to(warmup_topic, 0).payload(b"warm-up"))
        .map_err(|(e, _)| anyhow::anyhow!("native warm-up: {e}"))?;
    producer.flush(Duration::from_secs(30))?;
    *producer.context().latency.lock().expect("poisoned") = Recorder::default();
    // Records are built before the clock starts, as the REST driver's bodies are: binary values
    // as they are sent, Avro ones as the record's payload (the application's data), encoded to
    // Avro in the loop. One send loop: librdkafka pipelines internally, and more sender threads
    // than cores only slow it down.
    let work: Vec<Vec<(u64, String, Vec<u8>)>> = vec![(0..w.records)
        .map(|id| {
            let size = w.value_size(id);
            let data = match w.format {
                Format::Binary => make_value(id, size),
                Format::Avro => avro::payload(id, size),
            };
            (id, id.to_string(), data)
        })
        .collect()];
    let start = progress.start();
    if let Some(rate) = w.rate_records_per_s {
        // One send loop in id order: record `id` is due at start + id / rate.
        let records = w.records;
        progress.set_due(Box::new(move |id| {
            (id < records).then(|| start + Duration::from_secs_f64(id as f64 / rate))
        }));
    }
    let deadline = start + Duration::from_secs(w.phase_timeout_s);
    let mut senders = Vec::new();
    for records in work {
        let (producer, topic, keys) = (producer.clone(), topic.to_string(), w.keys);
        let rate = w.rate_records_per_s;
        senders.push(tokio::task::spawn_blocking(
            move || -> anyhow::Result<(u64, u64, u64, Recorder)> {
                let (mut checksum, mut bytes, mut failed) = (0u64, 0u64, 0u64);
                let mut lag = Recorder::default();
                let epoch = producer.context().epoch;
                let mut encoded = Vec::new();
                for (i, (id, key, data)) in records.iter().enumerate() {
                    // Open loop: record i is due at start + i / rate, and its latency counts from then.
                    let intended = match rate {
                        Some(rate) => {
                            let due = start + Duration::from_secs_f64(i as f64 / rate);
                            let now = Instant::now();
                            if due > now {
                                std::thread::sleep(due - now);
                            }
                            lag.record(due.elapsed());
                            due
                        }
                        None => Instant::now(),
                    };
                    let value: &[u8] = match schema_id {
                        Some(schema_id) => {
                            avro::encode(schema_id, *id, data, &mut encoded);
                            &encoded
                        }
                        None => data,
                    };
                    checksum = checksum.wrapping_add(value_checksum(value));
                    bytes += (value.len() + if keys { key.len() } else { 0 }) as u64;
                    loop {
                        anyhow::ensure!(
                            Instant::now() < deadline,
                            "native produce exceeded phase_timeout_s"
                        );
                        let sent_ns = intended.saturating_duration_since(epoch).as_nanos() as usize;
                        let mut record =
                            BaseRecord::<str, [u8], usize>::with_opaque_to(&topic, sent_ns)
                                .payload(value);
                        if keys {
                            record = record.key(key);
                        }
                        match producer.send(record) {
                            Ok(()) => break,
                            Err((
                                KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull),
                                _,
                            )) => {
                                std::thread::sleep(Duration::from_micros(200));
                            }
                            Err(_) => {
                                failed += 1;
                                break;
                            }
                        }
                    }
                }
                Ok((checksum, bytes, failed, lag))
            },
        ));
    }
    let (mut checksum, mut bytes, mut failed) = (0u64, 0u64, 0u64);
    let mut lag = Recorder::default();
    for s in senders {
        let (c, b, f, l) = s.await??;
        checksum = checksum.wrapping_add(c);
        bytes += b;
        failed += f;
        lag.merge(&l);
    }
    let remaining = deadline.saturating_duration_since(Instant::now());
    let flusher = producer.clone();
    tokio::task::spawn_blocking(move || flusher.flush(remaining)).await??;
    let elapsed = start.elapsed();
    progress.stop();
    let errors = failed + producer.context().errors.load(Ordering::Relaxed);
    let latency = std::mem::take(&mut *producer.context().latency.lock().expect("poisoned"));
    let open = w.rate_records_per_s.is_some();
    let latency_of = if open {
        "record, from its intended send time"
    } else {
        "record"
    };
    let mut result = PhaseResult::new(
        "native",
        "produce",
        w.records - errors,
        bytes,
        w.records,
        errors,
        elapsed,
        latency_of,
        &latency,
        checksum,
    );
    result.schedule_lag = open.then(|| lag.summary());
    Ok(result)
}

/// A native consumer with the scenario's settings, in its own group, no auto commit.
fn consumer(bootstrap: &str, group: &str, clients: &Clients) -> anyhow::Result<BaseConsumer> {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", bootstrap)
        .set("group.id", group)
        .set("enable.auto.commit", "false");
    for (k, v) in &clients.native_consumer {
        config.set(k, v);
    }
    Ok(config.create()?)
}

/// Reads `expected` records of `topic` from the beginning with `w.consumers` consumers.
/// No latency is recorded (a poll returns a record librdkafka already holds, so there is no
/// request to time); the report says "n/a", and open-loop runs measure consume latency end to
/// end.
pub async fn consume(
    bootstrap: &str,
    topic: &str,
    w: &Workload,
    clients: &Clients,
    expected: u64,
    progress: Arc<Progress>,
) -> anyhow::Result<PhaseResult> {
    let total = Arc::new(AtomicU64::new(0));
    let mut consumers = Vec::new();
    for (i, partitions) in deal(w.partitions, w.consumers).into_iter().enumerate() {
        let group = format!("loadgen-native-{}-{topic}-{i}", std::process::id());
        let c = consumer(bootstrap, &group, clients)?;
        let mut tpl = TopicPartitionList::new();
        for p in partitions {
            tpl.add_partition_offset(topic, p, Offset::Beginning)?;
        }
        c.assign(&tpl)?;
        consumers.push(c);
    }
    let start = progress.start();
    let deadline = start + Duration::from_secs(w.phase_timeout_s);
    let mut tasks = Vec::new();
    for c in consumers {
        let (total, progress) = (total.clone(), progress.clone());
        tasks.push(tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
            let rec = Recorder::default();
            let (mut records, mut bytes, mut checksum) = (0u64, 0u64, 0u64);
            while total.load(Ordering::Relaxed) < expected {
                anyhow::ensure!(
                    Instant::now() < deadline,
                    "native consume exceeded phase_timeout_s"
                );
                match c.poll(Duration::from_millis(100)) {
                    Some(Ok(m)) => {
                        let value = m.payload().unwrap_or_default();
                        checksum = checksum.wrapping_add(value_checksum(value));
                        bytes += (value.len() + m.key().map_or(0, <[u8]>::len)) as u64;
                        records += 1;
                        total.fetch_add(1, Ordering::Relaxed);
                        progress.add(1);
                    }
                    Some(Err(e)) => anyhow::bail!("native consume: {e}"),
                    None => {}
                }
            }
            Ok((rec, records, bytes, checksum))
        }));
    }
    let mut rec = Recorder::default();
    let (mut records, mut bytes, mut checksum) = (0u64, 0u64, 0u64);
    for t in tasks {
        let (r, n, b, c) = t.await??;
        rec.merge(&r);
        records += n;
        bytes += b;
        checksum = checksum.wrapping_add(c);
    }
    let elapsed = start.elapsed();
    progress.stop();
    Ok(PhaseResult::new(
        "native", "consume", records, bytes, records, 0, elapsed, "n/a", &rec, checksum,
    ))
}

/// Reads all of a topic, untimed, for delivery verification: (records, checksum). Keeps reading
/// for a quiet second after `expected` records so that duplicates are counted too.
pub async fn verify(
    bootstrap: &str,
    topic: &str,
    partitions: i32,
    expected: u64,
    clients: &Clients,
) -> anyhow::Result<(u64, u64)> {
    let (bootstrap, topic, clients) = (bootstrap.to_string(), topic.to_string(), clients.clone());
    tokio::task::spawn_blocking(move || {
        let c = consumer(
            &bootstrap,
            &format!("loadgen-verify-{}", std::process::id()),
            &clients,
        )?;
        let mut tpl = TopicPartitionList::new();
        for p in 0..partitions {
            tpl.add_partition_offset(&topic, p, Offset::Beginning)?;
        }
        c.assign(&tpl)?;
        let deadline = Instant::now() + Duration::from_secs(120);
        let (mut records, mut checksum) = (0u64, 0u64);
        let mut last = Instant::now();
        while records < expected || last.elapsed() < Duration::from_secs(1) {
            anyhow::ensure!(
                Instant::now() < deadline,
                "verification read of {topic} timed out at {records}/{expected}"
            );
            if let Some(m) = c.poll(Duration::from_millis(100)) {
                let m = m?;
                checksum = checksum.wrapping_add(value_checksum(m.payload().unwrap_or_default()));
                records += 1;
                last = Instant::now();
            }
        }
        Ok((records, checksum))
    })
    .await?
}

/// Reads `topic` natively while it is produced (open loop) and records, per record, the time
/// from its intended send time (`progress.due`, by the id its value starts with) to its arrival
/// here, in µs. Ends after `expected` records, or `patience` after `stop` is raised. Blocking.
#[allow(clippy::too_many_arguments)]
pub fn end_to_end(
    bootstrap: &str,
    topic: &str,
    partitions: i32,
    expected: u64,
    clients: &Clients,
    stop: &std::sync::atomic::AtomicBool,
    patience: Duration,
    progress: &Progress,
) -> anyhow::Result<Recorder> {
    let c = consumer(
        bootstrap,
        &format!("loadgen-e2e-{}", std::process::id()),
        clients,
    )?;
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition_offset(topic, p, Offset::Beginning)?;
    }
    c.assign(&tpl)?;
    let mut rec = Recorder::default();
    let (mut seen, mut stopped_at) = (0u64, None::<Instant>);
    while seen < expected {
        if stop.load(Ordering::Relaxed) {
            let at = *stopped_at.get_or_insert_with(Instant::now);
            if at.elapsed() > patience {
                break;
            }
        }
        if let Some(m) = c.poll(Duration::from_millis(50)) {
            let m = m?;
            let now = Instant::now();
            if let Some(due) = m
                .payload()
                .and_then(|v| v.get(..8))
                .and_then(|b| progress.due(u64::from_le_bytes(b.try_into().expect("8 bytes"))))
            {
                rec.record(now.saturating_duration_since(due));
            }
            seen += 1;
        }
    }
    Ok(rec)
}
