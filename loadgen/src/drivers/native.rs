//! The native baseline: rdkafka producers and consumers over Kafka's own protocol, configured
//! like the proxy's shared producer (acks=all, idempotent, linger 5 ms).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use std::sync::Mutex;

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{DeliveryResult, Header, Message, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer, ProducerContext};
use rdkafka::{ClientConfig, ClientContext, Offset, TopicPartitionList};

use super::arrivals::{Arrivals, Until};
use super::{deal, schema_values, split};
use crate::histogram::Recorder;
use crate::measure::PhaseResult;
use crate::payload::{make_value, value_checksum};
use crate::progress::Progress;
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

/// A phase's records, packed back to back: ids 0.., each with its key (the id in decimal) and
/// its data. Two allocations instead of two per record, read in order from contiguous memory,
/// as the REST driver reads its pre-built bodies; 1.2M records kept as separate `Vec`s and
/// `String`s cost the send loop cache and TLB misses that varied from round to round.
struct Packed {
    data: Vec<u8>,
    data_ends: Vec<usize>,
    keys: String,
    key_ends: Vec<usize>,
}

impl Packed {
    fn build(records: u64, data: impl Fn(u64) -> Vec<u8>) -> Packed {
        let mut p = Packed {
            data: Vec::new(),
            data_ends: Vec::with_capacity(records as usize),
            keys: String::new(),
            key_ends: Vec::with_capacity(records as usize),
        };
        for id in 0..records {
            p.data.extend_from_slice(&data(id));
            p.data_ends.push(p.data.len());
            p.keys.push_str(&id.to_string());
            p.key_ends.push(p.keys.len());
        }
        p
    }

    /// (id, key, data) in id order.
    fn iter(&self) -> impl Iterator<Item = (u64, &str, &[u8])> {
        let starts = |ends: &[usize], i: usize| if i == 0 { 0 } else { ends[i - 1] };
        (0..self.data_ends.len()).map(move |i| {
            (
                i as u64,
                &self.keys[starts(&self.key_ends, i)..self.key_ends[i]],
                &self.data[starts(&self.data_ends, i)..self.data_ends[i]],
            )
        })
    }
}

/// Where a native producer writes, and the shape of its records.
#[derive(Debug, Clone, Copy)]
pub struct To<'a> {
    pub topic: &'a str,
    /// One record goes here first, outside the measured window.
    pub warmup_topic: &'a str,
    /// Write the records an MQTT endpoint's publishes become instead of plain ones.
    pub mqtt: Option<&'a MqttRecords>,
}

impl<'a> To<'a> {
    /// Plain records: the workload's values, keyed by id when `keys` is on.
    pub fn plain(topic: &'a str, warmup_topic: &'a str) -> To<'a> {
        To {
            topic,
            warmup_topic,
            mqtt: None,
        }
    }
}

/// The Kafka records the proxy makes of an MQTT endpoint's publishes (README, "MQTT"): key and
/// `mqtt.topic` header the client's MQTT topic, `mqtt.qos` header, and from the MQTT source also
/// `mqtt.retained`. The records are split among `clients` clients on MQTT topics
/// `{topic_prefix}/c{client}`, as the MQTT drivers split and name them.
///
/// A native turn compared with an MQTT endpoint writes these, partitioned by murmur2 of the key
/// as the proxy partitions them: the same records in the same partitions, so that the broker's
/// work per record is the same on both sides and the ratio measures the proxy. Plain 100-byte
/// values cost Tansu 0.10–0.13 µs per record where the MQTT listener's records (a 17-byte key
/// and two headers) cost it 0.15–0.20 µs.
#[derive(Debug, Clone)]
pub struct MqttRecords {
    pub topic_prefix: String,
    /// The QoS of the endpoint's publishes; at 0, each client's last one is a QoS 1 fence (as
    /// the MQTT drivers send it).
    pub qos: u8,
    /// The highest QoS a record arrives with: 2 through the listener, the subscription's
    /// through the MQTT source (a message is delivered at the lower of the two).
    pub max_qos: u8,
    /// The MQTT source's records: `mqtt.retained` too.
    pub retained_header: bool,
    pub clients: usize,
}

impl MqttRecords {
    /// Each client's records and MQTT topic.
    fn topics(&self, records: u64) -> Vec<(std::ops::Range<u64>, String)> {
        split(records, self.clients)
            .into_iter()
            .enumerate()
            .map(|(c, range)| (range, format!("{}/c{c}", self.topic_prefix)))
            .collect()
    }

    /// The headers of one record on MQTT topic `topic`, as the proxy writes them; `last`: the
    /// client's last record.
    fn headers(&self, topic: &str, last: bool) -> OwnedHeaders {
        const QOS: [&str; 3] = ["0", "1", "2"];
        let published = if self.qos == 0 && last { 1 } else { self.qos };
        let headers = OwnedHeaders::new_with_capacity(3)
            .insert(Header {
                key: "mqtt.topic",
                value: Some(topic),
            })
            .insert(Header {
                key: "mqtt.qos",
                value: Some(QOS[usize::from(published.min(self.max_qos).min(2))]),
            });
        match self.retained_header {
            true => headers.insert(Header {
                key: "mqtt.retained",
                value: Some("false"),
            }),
            false => headers,
        }
    }
}

/// Produces `w.records` records to `to.topic` the way a plain rdkafka producer loop does: send
/// as fast as the queue allows, serving delivery reports between sends on the same thread.
/// Latency is per record, send to acknowledgement. One record to `to.warmup_topic` first
/// connects the producer and initialises idempotence, outside the measured window. With
/// `to.mqtt`, the records are an MQTT endpoint's ([`MqttRecords`]).
///
/// With a schema format (`avro`, `jsonschema`, `protobuf`), the schema is first registered once
/// at `registry` under `<topic>-value` (and, with keys, the key schema under `<topic>-key`;
/// outside the window), and each record is encoded to its Confluent-framed value (and key) in the
/// send loop, as a native producer's serializers do.
pub async fn produce(
    bootstrap: &str,
    registry: Option<&str>,
    to: To<'_>,
    w: &Workload,
    clients: &Clients,
    progress: Arc<Progress>,
) -> anyhow::Result<PhaseResult> {
    let (topic, warmup_topic) = (to.topic, to.warmup_topic);
    let schema_id = match w.format {
        Format::Binary => None,
        format => {
            let registry = registry.ok_or_else(|| {
                anyhow::anyhow!(
                    "a {} workload needs a Schema Registry (--schema-registry-url)",
                    format.name()
                )
            })?;
            Some(schema_values::register(format, false, registry, &format!("{topic}-value")).await?)
        }
    };
    // Keys of a schema workload are framed with a key schema too, as a keyed application's
    // key serializer writes them.
    let key_schema_id = match (schema_id, registry) {
        (Some(_), Some(registry)) if w.keys => {
            Some(schema_values::register(w.format, true, registry, &format!("{topic}-key")).await?)
        }
        _ => None,
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
    if to.mqtt.is_some() {
        // The proxy places keyed records as Java's client does (murmur2); the scenario's
        // own `partitioner`, if any, still wins.
        config.set("partitioner", "murmur2_random");
    }
    for (k, v) in clients.native_producer() {
        config.set(k, v);
    }
    let producer: BaseProducer<Deliveries> = config.create_with_context(context)?;
    producer
        .send(BaseRecord::<(), [u8], usize>::with_opaque_to(warmup_topic, 0).payload(b"warm-up"))
        .map_err(|(e, _)| anyhow::anyhow!("native warm-up: {e}"))?;
    producer.flush(Duration::from_secs(30))?;
    *producer.context().latency.lock().expect("poisoned") = Recorder::default();
    // Records are built before the clock starts, as the REST driver's bodies are: binary values
    // as they are sent, schema ones as the record's payload (the application's data), encoded
    // in the loop. The harness's own bookkeeping (checksum and bytes of what is sent) is
    // done here too, so the measured loop is what an application's loop is.
    let records = Packed::build(w.records, |id| {
        let size = w.value_size(id);
        match w.format {
            Format::Binary => make_value(id, size),
            format => schema_values::payload(format, id, size),
        }
    });
    // Bytes are the values' (and id keys'), as the MQTT drivers count theirs.
    let (mut checksum, mut bytes) = (0u64, 0u64);
    // An MQTT endpoint's records, and each client's ids and MQTT topic.
    let mqtt = to.mqtt.map(|m| (m.clone(), m.topics(w.records)));
    let mut encoded = Vec::new();
    for (id, key, data) in records.iter() {
        let value: &[u8] = match schema_id {
            Some(schema_id) => {
                schema_values::encode(w.format, schema_id, id, data, &mut encoded);
                &encoded
            }
            None => data,
        };
        checksum = checksum.wrapping_add(value_checksum(value));
        let key_len = match key_schema_id {
            Some(_) => schema_values::framed_key_len(w.format, key.len()),
            None => key.len(),
        };
        bytes += (value.len() + if w.keys && mqtt.is_none() { key_len } else { 0 }) as u64;
    }
    let start = progress.start();
    if let Some(rate) = w.rate_records_per_s {
        // One send loop in id order: record `id` is due at start + id / rate.
        let records = w.records;
        progress.set_due(Box::new(move |id| {
            (id < records).then(|| start + Duration::from_secs_f64(id as f64 / rate))
        }));
    }
    let deadline = start + Duration::from_secs(w.phase_timeout_s);
    let (topic, keys, rate, format) = (topic.to_string(), w.keys, w.rate_records_per_s, w.format);
    // librdkafka's own pattern (rdkafka_performance): one thread sends and serves the delivery
    // reports between sends (`poll`), so the client runs no thread beyond librdkafka's. The
    // loop reads the clock once per record (its send time, for latency); the deadline is
    // checked every `CHECK_EVERY` records and while the queue is full.
    const CHECK_EVERY: usize = 1024;
    const POLL_EVERY: usize = 16;
    let (producer, failed, lag) = tokio::task::spawn_blocking(
        move || -> anyhow::Result<(BaseProducer<Deliveries>, u64, Recorder)> {
            let mut failed = 0u64;
            let mut lag = Recorder::default();
            let epoch = producer.context().epoch;
            let mut encoded = Vec::new();
            let mut encoded_key = Vec::new();
            // An MQTT endpoint's records: the client whose range holds the id.
            let mut client = 0;
            for (i, (id, key, data)) in records.iter().enumerate() {
                // Open loop: record i is due at start + i / rate, and its latency counts from
                // then. A wait of a millisecond or more serves delivery reports meanwhile;
                // librdkafka's poll counts whole milliseconds, so a shorter one would spin and
                // is slept instead.
                let intended = match rate {
                    Some(rate) => {
                        let due = start + Duration::from_secs_f64(i as f64 / rate);
                        while let Some(wait) = due.checked_duration_since(Instant::now()) {
                            if wait >= Duration::from_millis(1) {
                                producer.poll(wait);
                            } else {
                                std::thread::sleep(wait);
                            }
                        }
                        lag.record(due.elapsed());
                        due
                    }
                    None => Instant::now(),
                };
                if i % CHECK_EVERY == 0 {
                    anyhow::ensure!(
                        intended < deadline,
                        "native produce exceeded phase_timeout_s"
                    );
                }
                let value: &[u8] = match schema_id {
                    Some(schema_id) => {
                        schema_values::encode(format, schema_id, id, data, &mut encoded);
                        &encoded
                    }
                    None => data,
                };
                let key: &[u8] = match key_schema_id {
                    Some(key_schema_id) => {
                        schema_values::encode_key(format, key_schema_id, key, &mut encoded_key);
                        &encoded_key
                    }
                    None => key.as_bytes(),
                };
                let sent_ns = intended.saturating_duration_since(epoch).as_nanos() as usize;
                let mqtt_record = mqtt.as_ref().map(|(mqtt, topics)| {
                    while topics[client].0.end <= id {
                        client += 1;
                    }
                    let (ids, mqtt_topic) = &topics[client];
                    (mqtt, mqtt_topic.as_str(), ids.end == id + 1)
                });
                loop {
                    let mut record =
                        BaseRecord::<[u8], [u8], usize>::with_opaque_to(&topic, sent_ns)
                            .payload(value);
                    if let Some((mqtt, mqtt_topic, last)) = mqtt_record {
                        // Headers are the message's: built for each attempt to send it.
                        record = record
                            .key(mqtt_topic.as_bytes())
                            .headers(mqtt.headers(mqtt_topic, last));
                    } else if keys {
                        record = record.key(key);
                    }
                    match producer.send(record) {
                        Ok(()) => break,
                        Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                            anyhow::ensure!(
                                Instant::now() < deadline,
                                "native produce exceeded phase_timeout_s"
                            );
                            // Full: wait for delivery reports, which free the queue.
                            producer.poll(Duration::from_millis(1));
                        }
                        Err(_) => {
                            failed += 1;
                            break;
                        }
                    }
                }
                // Open loop polls after every send, so that no report waits for the next 16.
                if rate.is_some() || i % POLL_EVERY == 0 {
                    producer.poll(Duration::ZERO);
                }
            }
            producer.flush(deadline.saturating_duration_since(Instant::now()))?;
            Ok((producer, failed, lag))
        },
    )
    .await??;
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

/// Assigns every partition of `topic` to `c`, from the beginning.
fn assign_from_start(c: &BaseConsumer, topic: &str, partitions: i32) -> anyhow::Result<()> {
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition_offset(topic, p, Offset::Beginning)?;
    }
    Ok(c.assign(&tpl)?)
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
                    Some(Err(e)) if transient(&e) => {
                        crate::phase::say(&format!("native consume: {e}; reconnecting"));
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

/// Reads back every record stored in `topic` (all `partitions`): (records, summed checksum).
pub async fn verify(
    bootstrap: &str,
    topic: &str,
    partitions: i32,
    clients: &Clients,
) -> anyhow::Result<(u64, u64)> {
    let all = verify_all(bootstrap, &[topic.to_string()], partitions, clients).await?;
    Ok(all[0])
}

/// Reads back every record stored in each of `topics` (all `partitions` of each): per topic,
/// (records, summed checksum). Each reader reads to every partition's high watermark (taken
/// once producing is over), then on until its partitions are quiet for a second, so duplicates
/// and records a broker left above its watermark (Tansu quirk 7) count too. The partitions are
/// shared out among `VERIFY_READERS` consumers reading at once: Tansu serves each fetch slowly
/// but not busily (quirk 6), so parallel readers finish sooner than one.
pub async fn verify_all(
    bootstrap: &str,
    topics: &[String],
    partitions: i32,
    clients: &Clients,
) -> anyhow::Result<Vec<(u64, u64)>> {
    const VERIFY_READERS: usize = 4;
    let pairs: Vec<(usize, i32)> = (0..topics.len())
        .flat_map(|t| (0..partitions).map(move |p| (t, p)))
        .collect();
    let mut readers = Vec::new();
    for k in 0..VERIFY_READERS.min(pairs.len()) {
        let mine: Vec<(usize, String, i32)> = pairs
            .iter()
            .skip(k)
            .step_by(VERIFY_READERS)
            .map(|&(t, p)| (t, topics[t].clone(), p))
            .collect();
        let (bootstrap, clients) = (bootstrap.to_string(), clients.clone());
        readers.push(tokio::task::spawn_blocking(move || {
            read_back(&bootstrap, &mine, &clients, k)
        }));
    }
    let mut out = vec![(0u64, 0u64); topics.len()];
    for r in readers {
        for (t, (records, checksum)) in r.await?? {
            out[t].0 += records;
            out[t].1 = out[t].1.wrapping_add(checksum);
        }
    }
    Ok(out)
}

/// True for the errors a consumer's poll reports while it reconnects on its own: every broker
/// connection down at once, or one connection failing. librdkafka retries after both, so a
/// read goes on, still bounded by its deadline. (Tansu dropped every connection of loadgen's
/// verification reader once in a test run; the reader then failed where it would have
/// reconnected.)
fn transient(err: &KafkaError) -> bool {
    matches!(
        err.rdkafka_error_code(),
        Some(RDKafkaErrorCode::AllBrokersDown | RDKafkaErrorCode::BrokerTransportFailure)
    )
}

/// One reader of [`verify_all`]: its partitions as (topic index, topic, partition); returns
/// (topic index, (records, checksum)) per partition read.
fn read_back(
    bootstrap: &str,
    partitions: &[(usize, String, i32)],
    clients: &Clients,
    reader: usize,
) -> anyhow::Result<Vec<(usize, (u64, u64))>> {
    let c = consumer(
        bootstrap,
        &format!("loadgen-verify-{}-{reader}", std::process::id()),
        clients,
    )?;
    let index: std::collections::HashMap<(&str, i32), usize> = partitions
        .iter()
        .enumerate()
        .map(|(j, (_, t, p))| ((t.as_str(), *p), j))
        .collect();
    // Per partition read: the high watermark still to reach.
    let mut ends = std::collections::HashMap::new();
    let mut tpl = TopicPartitionList::new();
    let mut stored = 0u64;
    for (j, (_, topic, p)) in partitions.iter().enumerate() {
        let (low, high) = c.fetch_watermarks(topic, *p, Duration::from_secs(30))?;
        if high > low {
            ends.insert(j, high);
            stored += (high - low) as u64;
        }
        tpl.add_partition_offset(topic, *p, Offset::Offset(low))?;
    }
    c.assign(&tpl)?;
    let deadline = Instant::now() + Duration::from_secs(120 + stored / 20_000);
    let mut out = vec![(0u64, 0u64); partitions.len()];
    let mut last = Instant::now();
    while !ends.is_empty() || last.elapsed() < Duration::from_secs(1) {
        anyhow::ensure!(
            Instant::now() < deadline,
            "verification read timed out with {} partitions short of their end",
            ends.len()
        );
        let m = match c.poll(Duration::from_millis(100)) {
            None => continue,
            Some(Err(e)) if transient(&e) => {
                crate::phase::say(&format!("verification read: {e}; reconnecting"));
                continue;
            }
            Some(m) => m?,
        };
        let Some(&j) = index.get(&(m.topic(), m.partition())) else {
            continue;
        };
        last = Instant::now();
        let (records, checksum) = &mut out[j];
        *records += 1;
        *checksum = checksum.wrapping_add(value_checksum(m.payload().unwrap_or_default()));
        if ends.get(&j).is_some_and(|&high| m.offset() + 1 >= high) {
            ends.remove(&j);
        }
    }
    Ok(partitions.iter().map(|(t, _, _)| *t).zip(out).collect())
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
    ready: tokio::sync::oneshot::Sender<()>,
) -> anyhow::Result<Recorder> {
    let c = consumer(
        bootstrap,
        &format!("loadgen-e2e-{}", std::process::id()),
        clients,
    )?;
    assign_from_start(&c, topic, partitions)?;
    // As the REST reader: one poll of the still empty topic lets the consumer resolve its
    // positions and start fetching before the producer starts.
    if let Some(m) = c.poll(READY_POLL) {
        m?;
        anyhow::bail!("the end-to-end reader's topic {topic} was not empty");
    }
    let _ = ready.send(());
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

/// How long the end-to-end reader's first poll waits on the empty topic.
const READY_POLL: Duration = Duration::from_millis(500);

/// The relay scenario's far end: reads `topic` from the beginning (every partition) into
/// `arrivals` until `until`.
pub fn read_arrivals(
    bootstrap: &str,
    topic: &str,
    partitions: i32,
    clients: &Clients,
    mut arrivals: Arrivals,
    until: &Until,
) -> anyhow::Result<Arrivals> {
    let c = consumer(
        bootstrap,
        &format!("loadgen-relay-{}", std::process::id()),
        clients,
    )?;
    assign_from_start(&c, topic, partitions)?;
    while !until.reached(&arrivals) {
        if let Some(m) = c.poll(Duration::from_millis(5)) {
            let m = m?;
            arrivals.take(m.payload().unwrap_or_default(), Instant::now());
        }
    }
    Ok(arrivals)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_go_on_through_reconnections_only() {
        let consumption = KafkaError::MessageConsumption;
        assert!(transient(&consumption(RDKafkaErrorCode::AllBrokersDown)));
        assert!(transient(&consumption(
            RDKafkaErrorCode::BrokerTransportFailure
        )));
        assert!(!transient(&consumption(
            RDKafkaErrorCode::UnknownTopicOrPartition
        )));
        assert!(!transient(&consumption(RDKafkaErrorCode::OffsetOutOfRange)));
    }

    #[test]
    fn mqtt_records_are_named_and_headed_as_the_proxy_writes_them() {
        use rdkafka::message::Headers;
        let text = |h: &OwnedHeaders| -> Vec<(String, String)> {
            h.iter()
                .map(|h| {
                    let value = String::from_utf8(h.value.unwrap().to_vec()).unwrap();
                    (h.key.to_string(), value)
                })
                .collect()
        };
        let listener = MqttRecords {
            topic_prefix: "lg/mqtt-qos0-3".into(),
            qos: 0,
            max_qos: 2,
            retained_header: false,
            clients: 4,
        };
        let topics = listener.topics(10);
        assert_eq!(topics[0], (0..2, "lg/mqtt-qos0-3/c0".to_string()));
        assert_eq!(topics[3], (7..10, "lg/mqtt-qos0-3/c3".to_string()));
        let pair = |k: &str, v: &str| (k.to_string(), v.to_string());
        assert_eq!(
            text(&listener.headers("lg/x/c0", false)),
            [pair("mqtt.topic", "lg/x/c0"), pair("mqtt.qos", "0")]
        );
        // A QoS 0 client's last publish is its QoS 1 fence.
        assert_eq!(
            text(&listener.headers("lg/x/c0", true))[1],
            pair("mqtt.qos", "1")
        );
        // Through the source, delivered at most at the subscription's QoS, and not retained.
        let source = MqttRecords {
            max_qos: 0,
            retained_header: true,
            ..listener.clone()
        };
        assert_eq!(
            text(&source.headers("src/x/c0", true)),
            [
                pair("mqtt.topic", "src/x/c0"),
                pair("mqtt.qos", "0"),
                pair("mqtt.retained", "false")
            ]
        );
    }

    #[test]
    fn packed_records_come_back_whole_and_in_order() {
        let data = |id: u64| make_value(id, 16 + (id as usize % 5) * 7);
        let packed = Packed::build(1003, data);
        let mut n = 0;
        for (id, key, value) in packed.iter() {
            assert_eq!(id, n);
            assert_eq!(key, id.to_string());
            assert_eq!(value, data(id).as_slice());
            n += 1;
        }
        assert_eq!(n, 1003);
        assert_eq!(Packed::build(0, data).iter().count(), 0);
    }
}
