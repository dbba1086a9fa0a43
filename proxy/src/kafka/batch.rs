//! The batch produce engine: a produce request's records become one v2 record batch per
//! partition, written straight from the request into a Produce request and sent to the
//! partition's leader over a small pool of pipelined connections. The HTTP request already is
//! the batch, so there is no per-record queueing, allocation, or delivery report, which is where
//! librdkafka spends most of its CPU (README, "Performance").
//!
//! Delivery semantics: a record is reported written only on the leader's acknowledgement (with
//! `acks`), so nothing acknowledged is lost. Failures the broker guarantees wrote nothing
//! (leader moved, unknown partition during a leader election, not enough replicas) and requests
//! that never left this process are retried against fresh metadata until the delivery timeout.
//! A request whose outcome is unknown (connection lost after sending, or no answer within the
//! request timeout) is not retried: its records are reported failed (50003) and may have been
//! written, as with any non-idempotent producer. Later batches of the same partition in the
//! same HTTP request are then not sent, so a request never has a gap followed by written records.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use tokio::sync::{mpsc, oneshot, OwnedSemaphorePermit, Semaphore};

use super::connection::{OnAnswer, Pool, SendError};
use super::error::BatchFailure;
pub use super::wire::Compression;
use super::wire::{self, PartitionBatch};
use crate::gather::{Gather, Limits};
use crate::record::EncodedRecords;

/// Settings of the batch engine, from the `producer.*`/`client.*` properties it honours.
#[derive(Debug, Clone)]
pub struct BatchSettings {
    pub client_id: String,
    /// `acks`: -1 (all), 0 or 1.
    pub acks: i16,
    /// `request.timeout.ms`: how long one Produce request may wait for its answer.
    pub request_timeout: Duration,
    /// `message.timeout.ms` / `delivery.timeout.ms`: how long retries may go on.
    pub delivery_timeout: Duration,
    /// `retry.backoff.ms`.
    pub retry_backoff: Duration,
    /// `message.max.bytes`: the largest record batch sent.
    pub max_batch_bytes: usize,
    /// `produce.connections.per.broker`.
    pub connections_per_broker: usize,
    /// `produce.max.in.flight.per.broker`: Produce requests outstanding per broker; requests
    /// arriving meanwhile are merged into the next one.
    pub max_in_flight: usize,
    /// `security.protocol=SSL` or `SASL_SSL`: TLS to the brokers.
    pub tls: Option<super::tls_client::KafkaTls>,
    /// `security.protocol=SASL_PLAINTEXT` or `SASL_SSL`: PLAIN or SCRAM on every connection.
    pub sasl: Option<super::sasl_client::KafkaSasl>,
    /// `compression.type` gzip, lz4 or zstd (snappy is librdkafka's).
    pub compression: Compression,
}

/// A leader's address and the partitions' leaders of one topic.
pub trait Routes: Send + Sync {
    /// The leader address (`host:port`) of every partition of `topic`, refreshed when `refresh`.
    fn leaders(
        &self,
        topic: &str,
        refresh: bool,
    ) -> impl std::future::Future<Output = Result<Arc<Vec<Option<String>>>, super::error::Error>> + Send;
}

/// One partition's records from one HTTP request, waiting for a Produce request to a leader.
struct Job {
    topic: Arc<str>,
    partition: i32,
    /// Key-less records still free to go anywhere: the partitions of `topic` this lane's broker
    /// leads, one of which the lane picks when it closes the Produce request carrying the job
    /// (`partition` is set then).
    choices: Option<Arc<[i32]>>,
    timestamp: i64,
    records: Arc<EncodedRecords>,
    indexes: Vec<usize>,
    /// Estimated bytes in a batch.
    bytes: usize,
    /// The partition and offset of the job's first record, or why the job failed.
    reply: oneshot::Sender<Result<(i32, i64), Retry>>,
}

/// The path to one broker: jobs queue here while the broker has `max_in_flight` Produce requests
/// outstanding, and the next request carries everything queued meanwhile (up to
/// `max_batch_bytes`), jobs for the same partition merged into one batch. There is no linger:
/// a job that finds a free slot is sent at once.
struct Lane {
    jobs: mpsc::UnboundedSender<Job>,
}

async fn run_lane(
    pool: Arc<Pool>,
    settings: Arc<BatchSettings>,
    jobs: mpsc::UnboundedReceiver<Job>,
    closed: Arc<AtomicUsize>,
) {
    let slots = Arc::new(Semaphore::new(settings.max_in_flight.max(1)));
    let limits = Limits {
        max_count: usize::MAX,
        max_bytes: settings.max_batch_bytes,
        weigh: |job: &Job| (1, job.bytes),
    };
    let mut jobs = Gather::new(jobs, limits);
    loop {
        let Ok(permit) = slots.clone().acquire_owned().await else {
            return;
        };
        let Some(mut batch) = jobs.next().await else {
            return;
        };
        // The Produce request is closed: its free key-less jobs all take this turn's partition,
        // and those gathered from now on the next one.
        let turn = closed.fetch_add(1, Ordering::Relaxed);
        for job in &mut batch {
            if let Some(choices) = &job.choices {
                job.partition = choices[turn % choices.len()];
            }
        }
        dispatch(&pool, &settings, batch, permit).await;
    }
}

/// A partition and the jobs (by index) merged into its batch.
type Members = (i32, Vec<usize>);

/// Encodes `jobs` as one Produce request; returns it, each job's first record's position in its
/// merged batch, and the number of record batches (partitions) it carries.
fn build_request(s: &BatchSettings, version: i16, jobs: &[Job]) -> (BytesMut, Vec<i64>, usize) {
    // Group by topic, then partition, keeping arrival order.
    let mut layout: Vec<(Arc<str>, Vec<Members>)> = Vec::new();
    for (j, job) in jobs.iter().enumerate() {
        let t = match layout.iter().position(|(t, _)| *t == job.topic) {
            Some(t) => t,
            None => {
                layout.push((job.topic.clone(), Vec::new()));
                layout.len() - 1
            }
        };
        match layout[t].1.iter_mut().find(|(p, _)| *p == job.partition) {
            Some((_, members)) => members.push(j),
            None => layout[t].1.push((job.partition, vec![j])),
        }
    }
    let mut starts = vec![0i64; jobs.len()];
    let topics: Vec<(&str, Vec<PartitionBatch<'_>>)> = layout
        .iter()
        .map(|(topic, partitions)| {
            let batches = partitions
                .iter()
                .map(|(partition, members)| {
                    let n = members.iter().map(|&j| jobs[j].indexes.len()).sum();
                    let mut records = Vec::with_capacity(n);
                    for &j in members {
                        starts[j] = records.len() as i64;
                        let job = &jobs[j];
                        records.extend(job.indexes.iter().map(|&i| {
                            let r = job.records.get(i);
                            (r.timestamp.unwrap_or(job.timestamp), r)
                        }));
                    }
                    PartitionBatch {
                        partition: *partition,
                        records,
                    }
                })
                .collect();
            (&**topic, batches)
        })
        .collect();
    let frame = wire::produce_request(
        &s.client_id,
        version,
        s.acks,
        s.request_timeout.as_millis().min(i32::MAX as u128) as i32,
        &topics,
        jobs.iter().map(|j| j.bytes).sum(),
        s.compression,
    );
    let batches = layout.iter().map(|(_, partitions)| partitions.len()).sum();
    (frame, starts, batches)
}

/// Sends `jobs` as one Produce request; the answer is handled on the connection's reader, which
/// also frees the in-flight `permit`.
async fn dispatch(
    pool: &Pool,
    settings: &BatchSettings,
    jobs: Vec<Job>,
    permit: OwnedSemaphorePermit,
) {
    let addr = pool.addr.clone();
    let conn = match pool
        .connection(
            &settings.client_id,
            settings.request_timeout,
            settings.tls.as_ref(),
            settings.sasl.as_ref(),
        )
        .await
    {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(%addr, error = %e, "broker connection failed");
            let failure = match e.refusal() {
                Some(code) => Retry::Final(BatchFailure::Broker(code)),
                None => Retry::Again(BatchFailure::NotSent),
            };
            for job in jobs {
                let _ = job.reply.send(Err(failure.clone()));
            }
            return;
        }
    };
    let version = conn.produce_version;
    let (frame, starts, batches) = build_request(settings, version, &jobs);
    metrics::counter!(crate::telemetry::BATCH_REQUESTS).increment(1);
    metrics::counter!(crate::telemetry::BATCH_PARTITIONS).increment(batches as u64);
    let records = jobs.iter().map(|j| j.indexes.len() as u64).sum();
    metrics::counter!(crate::telemetry::BATCH_RECORDS).increment(records);
    let in_flight = metrics::gauge!(crate::telemetry::BATCH_IN_FLIGHT);
    in_flight.increment(1.0);
    if settings.acks == 0 {
        let written = conn.send(frame, None).await;
        in_flight.decrement(1.0);
        drop(permit);
        for job in jobs {
            let _ = job.reply.send(match &written {
                Ok(()) => Ok((job.partition, -1)),
                Err(_) => Err(Retry::Again(BatchFailure::NotSent)),
            });
        }
        return;
    }
    let on_answer: OnAnswer = Box::new(move |answer| {
        answer_jobs(&addr, version, jobs, &starts, answer);
        in_flight.decrement(1.0);
        // Freed last, so that the lane is the task woken last: tokio runs that one next (its
        // LIFO slot), and the next Produce request leaves before the answered HTTP requests
        // write their responses, instead of the broker waiting for them.
        drop(permit);
    });
    // Failures reach `on_answer`.
    let _ = conn.send(frame, Some(on_answer)).await;
}

/// Answers every job of one Produce request from the broker's answer.
fn answer_jobs(
    addr: &str,
    version: i16,
    jobs: Vec<Job>,
    starts: &[i64],
    answer: Result<Bytes, SendError>,
) {
    let parts = match answer {
        Ok(body) => wire::parse_produce_response(body, version).map_err(|e| {
            tracing::error!(%addr, error = %e, "bad produce response");
            Retry::Final(BatchFailure::BadAnswer)
        }),
        Err(SendError::NotSent(why)) => {
            tracing::warn!(%addr, %why, "produce request not sent; retrying");
            Err(Retry::Again(BatchFailure::NotSent))
        }
        Err(SendError::Unknown(why)) => {
            tracing::warn!(%addr, %why, "produce outcome unknown");
            Err(Retry::Final(BatchFailure::OutcomeUnknown))
        }
    };
    for (j, job) in jobs.into_iter().enumerate() {
        let result = match &parts {
            Err(e) => Err(e.clone()),
            Ok(parts) => match parts
                .iter()
                .find(|p| p.partition == job.partition && *p.topic == *job.topic)
            {
                None => Err(Retry::Final(BatchFailure::NotAnswered)),
                Some(p) if p.error_code == 0 => Ok((p.partition, p.base_offset + starts[j])),
                Some(p) if BatchFailure::unwritten(p.error_code) => {
                    Err(Retry::Again(BatchFailure::Broker(p.error_code)))
                }
                Some(p) => {
                    if let Some(msg) = &p.error_message {
                        tracing::warn!(topic = %job.topic, partition = p.partition,
                            code = p.error_code, %msg, "produce rejected");
                    }
                    Err(Retry::Final(BatchFailure::Broker(p.error_code)))
                }
            },
        };
        let _ = job.reply.send(result);
    }
}

/// The engine: settings and one lane per broker address.
pub struct BatchEngine {
    settings: Arc<BatchSettings>,
    lanes: Mutex<HashMap<String, Arc<Lane>>>,
    /// Produce requests closed (gathered for sending) so far, on every lane: the turn of the
    /// sticky partition of key-less records ([`BatchEngine::sticky_turn`]).
    closed: Arc<AtomicUsize>,
}

/// Records of one partition still to be sent, as indexes into the request, in request order.
struct Outgoing {
    /// `None` for key-less records whose partition the lane picks (then the partition of the
    /// request's later batches too).
    partition: Option<i32>,
    indexes: Vec<usize>,
    bytes: usize,
}

/// Per-record margin over a lone batch's size when batches are merged (larger offset and
/// timestamp deltas).
const MERGE_MARGIN_BYTES: usize = 8;

impl BatchEngine {
    pub fn new(settings: BatchSettings) -> Self {
        BatchEngine {
            settings: Arc::new(settings),
            lanes: Mutex::new(HashMap::new()),
            closed: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// Which partition key-less records go to, as a count to take modulo the partition count:
    /// it moves on each time a lane closes a Produce request, so the key-less records of every
    /// HTTP request that arrives while one is in flight share a partition and travel as one
    /// batch (the Java client's sticky partitioner, KIP-480, and librdkafka's
    /// `sticky.partitioning.linger.ms` do the same, switching when a batch is sent). When requests
    /// come one at a time, each gets the next partition.
    ///
    /// A request of key-less records only leaves the choice to the lane, which makes it when it
    /// closes the Produce request (`run_lane`), so the rule holds exactly on any number of
    /// threads. A request mixing keyed and key-less records takes this turn when it is decoded,
    /// so that a partition's records keep the request's order; if a lane closes a Produce
    /// request meanwhile, it joins the next one as a second batch, which is harmless.
    pub fn sticky_turn(&self) -> usize {
        self.closed.load(Ordering::Relaxed)
    }

    pub fn settings(&self) -> &BatchSettings {
        &self.settings
    }

    fn lane(&self, addr: &str) -> Arc<Lane> {
        let mut lanes = self.lanes.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(lane) = lanes.get(addr).filter(|l| !l.jobs.is_closed()) {
            return lane.clone();
        }
        let pool = Arc::new(Pool::new(addr, self.settings.connections_per_broker));
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(run_lane(
            pool,
            self.settings.clone(),
            rx,
            self.closed.clone(),
        ));
        let lane = Arc::new(Lane { jobs: tx });
        lanes.insert(addr.to_string(), lane.clone());
        lane
    }

    /// Produces `records` to `topic` with one CreateTime, and returns each record's
    /// `(partition, offset)` or error, in request order. Records without a partition are
    /// key-less records left to the lane: they all go to the partition of the Produce request
    /// that carries the first of them (see [`BatchEngine::sticky_turn`]).
    pub async fn produce(
        &self,
        routes: &impl Routes,
        topic: &str,
        timestamp: i64,
        records: Arc<EncodedRecords>,
    ) -> Vec<Result<(i32, i64), BatchFailure>> {
        let mut queues = self.plan(&records);

        let topic: Arc<str> = Arc::from(topic);
        let mut outcomes: Vec<Option<Result<(i32, i64), BatchFailure>>> =
            (0..records.len()).map(|_| None).collect();
        let deadline = Instant::now() + self.settings.delivery_timeout;
        let mut refresh = false;
        // Each round sends the next batch of every partition; a retriable failure keeps a
        // partition's batch at the head of its queue for the next round.
        while queues.iter().any(|q| !q.is_empty()) {
            let heads: Vec<&Outgoing> = queues.iter().filter_map(|q| q.front()).collect();
            let results = self
                .send_round(routes, &topic, timestamp, &records, &heads, refresh)
                .await;
            refresh = false;
            let mut retry = false;
            for (q, result) in queues.iter_mut().filter(|q| !q.is_empty()).zip(results) {
                let batch = q.front().expect("non-empty");
                match result {
                    Ok((partition, base)) => {
                        for (delta, &i) in batch.indexes.iter().enumerate() {
                            let offset = if base < 0 { -1 } else { base + delta as i64 };
                            outcomes[i] = Some(Ok((partition, offset)));
                        }
                        q.pop_front();
                        // Key-less records of one request stay on one partition, in order.
                        for later in q.iter_mut() {
                            later.partition = Some(partition);
                        }
                    }
                    Err(Retry::Again(_)) if Instant::now() < deadline => {
                        metrics::counter!(crate::telemetry::BATCH_RETRIES).increment(1);
                        retry = true
                    }
                    Err(Retry::Again(err) | Retry::Final(err)) => {
                        // This batch failed: so do the partition's later batches, unsent.
                        for batch in q.drain(..) {
                            for &i in &batch.indexes {
                                outcomes[i] = Some(Err(err.clone()));
                            }
                        }
                    }
                }
            }
            if retry {
                refresh = true;
                tokio::time::sleep(self.settings.retry_backoff).await;
            }
        }
        outcomes
            .into_iter()
            .map(|o| o.unwrap_or(Err(BatchFailure::Canceled)))
            .collect()
    }

    /// The batches of one request: by partition, keeping request order, then by size.
    fn plan(&self, records: &EncodedRecords) -> Vec<VecDeque<Outgoing>> {
        let mut by_partition: Vec<(Option<i32>, Vec<usize>)> = Vec::new();
        for (i, p) in records.partitions().enumerate() {
            match by_partition.iter_mut().find(|(q, _)| *q == p) {
                Some((_, v)) => v.push(i),
                None => by_partition.push((p, vec![i])),
            }
        }
        by_partition
            .into_iter()
            .map(|(partition, indexes)| self.split(partition, &indexes, records))
            .collect()
    }

    /// The Produce request `records` (partitions assigned) make when they travel alone: what
    /// [`BatchEngine::produce`] and a lane do to them, without the network. For the benches
    /// (`benches/produce_path.rs`).
    pub fn request_alone(&self, topic: &str, timestamp: i64, records: EncodedRecords) -> BytesMut {
        let topic: Arc<str> = Arc::from(topic);
        let records = Arc::new(records);
        let jobs: Vec<Job> = self
            .plan(&records)
            .into_iter()
            .flatten()
            .map(|batch| Job {
                topic: topic.clone(),
                partition: batch.partition.unwrap_or(0),
                choices: None,
                timestamp,
                records: records.clone(),
                indexes: batch.indexes,
                bytes: batch.bytes,
                reply: oneshot::channel().0,
            })
            .collect();
        build_request(&self.settings, *wire::PRODUCE_VERSIONS.end(), &jobs).0
    }

    /// Splits one partition's records into batches of at most `max_batch_bytes` (a record larger
    /// than that on its own still gets its own batch; the size check happens before).
    fn split(
        &self,
        partition: Option<i32>,
        indexes: &[usize],
        records: &EncodedRecords,
    ) -> VecDeque<Outgoing> {
        let mut out = VecDeque::new();
        let empty = || Outgoing {
            partition,
            indexes: Vec::new(),
            bytes: wire::BATCH_HEADER_BYTES,
        };
        let mut current = empty();
        for &i in indexes {
            let size = wire::record_size(0, 0, records.fields(i)) + MERGE_MARGIN_BYTES;
            if !current.indexes.is_empty() && current.bytes + size > self.settings.max_batch_bytes {
                out.push_back(std::mem::replace(&mut current, empty()));
            }
            current.bytes += size;
            current.indexes.push(i);
        }
        out.push_back(current);
        out
    }

    /// Hands one batch per partition in `heads` to its leader's lane and waits for all answers.
    async fn send_round(
        &self,
        routes: &impl Routes,
        topic: &Arc<str>,
        timestamp: i64,
        records: &Arc<EncodedRecords>,
        heads: &[&Outgoing],
        refresh: bool,
    ) -> Vec<Result<(i32, i64), Retry>> {
        let leaders = match routes.leaders(topic, refresh).await {
            Ok(l) => l,
            Err(e) => {
                let err = BatchFailure::lookup(&e);
                return heads
                    .iter()
                    .map(|_| Err(Retry::Again(err.clone())))
                    .collect();
            }
        };
        let replies = heads.iter().map(|batch| {
            let (partition, choices) = match batch.partition {
                Some(p) => (p, None),
                None => match free_choices(&leaders, self.sticky_turn()) {
                    Some(choices) => (choices[0], Some(choices)),
                    None => (-1, None),
                },
            };
            let leader = usize::try_from(partition)
                .ok()
                .and_then(|p| leaders.get(p))
                .and_then(|l| l.as_deref());
            let (tx, rx) = oneshot::channel();
            let sent = leader.is_some_and(|addr| {
                self.lane(addr)
                    .jobs
                    .send(Job {
                        topic: topic.clone(),
                        partition,
                        choices,
                        timestamp,
                        records: records.clone(),
                        indexes: batch.indexes.clone(),
                        bytes: batch.bytes,
                        reply: tx,
                    })
                    .is_ok()
            });
            async move {
                if !sent {
                    return Err(Retry::Again(BatchFailure::NoLeader));
                }
                rx.await.unwrap_or(Err(Retry::Again(BatchFailure::NotSent)))
            }
        });
        futures_util::future::join_all(replies).await
    }
}

/// The partitions a free key-less job may take: those led by the broker that leads the
/// partition of `turn` (or, while that one has no leader, by the first partition's that has).
fn free_choices(leaders: &[Option<String>], turn: usize) -> Option<Arc<[i32]>> {
    let n = leaders.len();
    let addr = (0..n)
        .map(|k| (turn + k) % n)
        .find_map(|p| leaders[p].as_deref())?;
    Some(
        (0..n)
            .filter(|&p| leaders[p].as_deref() == Some(addr))
            .map(|p| p as i32)
            .collect(),
    )
}

/// A failed batch: worth sending again, or final.
#[derive(Debug, Clone)]
enum Retry {
    Again(BatchFailure),
    Final(BatchFailure),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn engine(max_batch_bytes: usize) -> BatchEngine {
        BatchEngine::new(BatchSettings {
            client_id: "t".into(),
            acks: -1,
            request_timeout: Duration::from_secs(1),
            delivery_timeout: Duration::from_secs(1),
            retry_backoff: Duration::from_millis(10),
            max_batch_bytes,
            connections_per_broker: 1,
            max_in_flight: 1,
            tls: None,
            sasl: None,
            compression: wire::Compression::None,
        })
    }

    #[test]
    fn split_respects_the_batch_size_and_request_order() {
        // Fifty JSON string values of 100 characters, as a json produce request gives them.
        let value = format!("\"{}\"", "v".repeat(100));
        let mut builder = crate::record::RecordsBuilder::with_capacity(50, 50 * value.len(), 0);
        for _ in 0..50 {
            builder.push(None, Some(value.as_bytes()), None, [], None);
        }
        let records = builder.finish();
        let indexes: Vec<usize> = (0..50).collect();
        let batches = engine(1000).split(Some(0), &indexes, &records);
        assert!(batches.len() >= 5, "{} batches", batches.len());
        let mut next = 0;
        for b in &batches {
            let timed: Vec<_> = b.indexes.iter().map(|&i| (7, records.get(i))).collect();
            assert!(wire::batch_size(&timed) <= 1000);
            assert!(b.bytes <= 1000);
            for &i in &b.indexes {
                assert_eq!(i, next);
                next += 1;
            }
        }
        assert_eq!(next, 50);
        // A record above the limit still travels, alone.
        assert_eq!(engine(100).split(Some(0), &[0], &records).len(), 1);
    }

    #[test]
    fn free_key_less_jobs_choose_among_the_partitions_of_one_leader() {
        let leaders: Vec<Option<String>> = ["a", "b", "a", "b"]
            .iter()
            .map(|s| Some(s.to_string()))
            .collect();
        // The turn's partition names the broker; its partitions are the choices.
        assert_eq!(&*free_choices(&leaders, 0).unwrap(), &[0, 2]);
        assert_eq!(&*free_choices(&leaders, 5).unwrap(), &[1, 3]);
        // A partition without a leader passes the turn on to the next one that has one.
        let mut electing = leaders.clone();
        electing[1] = None;
        assert_eq!(&*free_choices(&electing, 1).unwrap(), &[0, 2]);
        assert_eq!(&*free_choices(&electing, 3).unwrap(), &[3]);
        assert!(free_choices(&[None, None], 0).is_none());
        assert!(free_choices(&[], 0).is_none());
    }
}
