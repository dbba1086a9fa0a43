//! Prometheus metrics (`GET /metrics`): the process-wide recorder of the `metrics` facade, its
//! rendering, and the names the proxy records under. Recording is a counter or histogram update
//! per request (not per record), so the hot paths pay well under a microsecond per request.
//!
//! Histograms are in microseconds (`*_us`) with fixed buckets from 50 µs to 60 s; the exporter
//! drains them on each scrape and every 10 s.

use std::sync::OnceLock;
use std::time::Duration;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

/// HTTP requests, by `api` (rest, registry), `method`, `route` (the route's pattern) and
/// `status`.
pub const HTTP_REQUESTS: &str = "kafka_proxy_http_requests_total";
/// Time to each answer's headers, µs, by `api` and `route`.
pub const HTTP_DURATION: &str = "kafka_proxy_http_request_duration_us";
/// Records and body bytes of REST produce requests answered, by `format`.
pub const PRODUCE_RECORDS: &str = "kafka_proxy_produce_records_total";
pub const PRODUCE_BYTES: &str = "kafka_proxy_produce_request_bytes_total";
/// Records Kafka refused or did not acknowledge, by `format`.
pub const PRODUCE_FAILED_RECORDS: &str = "kafka_proxy_produce_failed_records_total";
/// From handing a request's records to the producer to the last acknowledgement, µs: Kafka's
/// part of a produce request, apart from the HTTP time.
pub const PRODUCE_KAFKA_DURATION: &str = "kafka_proxy_produce_kafka_duration_us";
/// Consumer instances open.
pub const CONSUMER_INSTANCES: &str = "kafka_proxy_consumer_instances";
/// Records not yet read by a consumer instance, by `group` and `instance`: the partitions' high
/// watermarks (as the instance's last fetch saw them) less its next offsets, after each read.
pub const CONSUMER_LAG: &str = "kafka_proxy_consumer_lag";
/// Records consumer instances took from librdkafka, by `queue`: `partition` (a partition's own
/// queue, many per call) or `consumer` (the consumer queue, one per poll: a partition's records
/// before its queue is detached).
pub const CONSUMER_RECORDS: &str = "kafka_proxy_consumer_records_total";
/// A GET records that waited with nothing to answer and woke when records reached one of its
/// partitions' queues in the proxy: from their arrival to the answer being ready, µs.
pub const CONSUMER_WAKE: &str = "kafka_proxy_consumer_wake_us";
/// The batch engine's Produce requests awaiting their broker's answer, and batches it sent
/// again after a failure the broker reported as unwritten.
pub const BATCH_IN_FLIGHT: &str = "kafka_proxy_batch_in_flight_requests";
pub const BATCH_RETRIES: &str = "kafka_proxy_batch_retries_total";
/// Produce requests the batch engine sent, and the records they carried (REST, v3 and MQTT
/// alike): the records per request, as each request costs the broker a fixed amount on top of
/// its records.
pub const BATCH_REQUESTS: &str = "kafka_proxy_batch_requests_total";
pub const BATCH_RECORDS: &str = "kafka_proxy_batch_records_total";
/// Record batches (one per partition) in those Produce requests: key-less records of requests
/// merged into one Produce request share a partition, so this stays near the request count
/// unless records are keyed or given partitions.
pub const BATCH_PARTITIONS: &str = "kafka_proxy_batch_partitions_total";
/// Principals holding a producer of their own (`confluent.rest.auth.propagate.method`).
pub const PRINCIPAL_PRODUCERS: &str = "kafka_proxy_principal_producers";
/// MQTT connections open, and PUBLISH packets taken, by `qos`.
pub const MQTT_CONNECTIONS: &str = "kafka_proxy_mqtt_connections";
pub const MQTT_PUBLISHES: &str = "kafka_proxy_mqtt_publishes_total";
/// From a batch's oldest PUBLISH arriving to Kafka's acknowledgement of the batch, µs (at
/// millisecond resolution): what an MQTT client waits for its PUBACK, less the write.
pub const MQTT_ACK_DURATION: &str = "kafka_proxy_mqtt_ack_duration_us";

const BUCKETS_US: [f64; 16] = [
    50.0,
    100.0,
    250.0,
    500.0,
    1_000.0,
    2_500.0,
    5_000.0,
    10_000.0,
    25_000.0,
    50_000.0,
    100_000.0,
    250_000.0,
    500_000.0,
    1_000_000.0,
    5_000_000.0,
    60_000_000.0,
];

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the recorder once per process (several in-process proxies, as in the tests, share
/// it) and starts its upkeep. None when another recorder was installed first.
pub fn install() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets(&BUCKETS_US)
                .expect("fixed, non-empty buckets");
            match builder.install_recorder() {
                Ok(handle) => {
                    let upkeep = handle.clone();
                    if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                        runtime.spawn(async move {
                            let mut tick = tokio::time::interval(Duration::from_secs(10));
                            loop {
                                tick.tick().await;
                                upkeep.run_upkeep();
                            }
                        });
                    }
                    Some(handle)
                }
                Err(err) => {
                    tracing::warn!(error = %err, "metrics recorder not installed: /metrics stays empty");
                    None
                }
            }
        })
        .as_ref()
}

/// The text exposition of every metric.
pub fn render() -> String {
    match HANDLE.get().and_then(Option::as_ref) {
        Some(handle) => {
            handle.run_upkeep();
            handle.render()
        }
        None => String::new(),
    }
}
