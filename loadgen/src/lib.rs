//! `loadgen`: measures Kafka through the REST proxy against native Kafka clients, on the same
//! broker with the same workload in the same run, and checks the ratios against gates.
//!
//! [`scenario`] reads the TOML workload ([`format`]: its value format); [`targets`] starts (or points at) the broker and proxy;
//! [`run`] runs the rounds, [`phase`] one phase of a driver; [`drivers`] run the workload natively and over REST or MQTT;
//! [`measure`] holds the phase results, [`histogram`] the µs histograms, [`series`] the time
//! series and steady rates, [`progress`] a running phase's shared counters, [`payload`] the
//! records' values and checksums, [`cpu`] the CPU time per process,
//! [`interval`] the medians' confidence intervals, [`summary`] the `summary.json` types;
//! [`ceiling`] (nginx) and [`wrk`] are the HTTP ceiling and the driver's cross-check;
//! [`mosquitto`] is the MQTT broker the proxy's MQTT source subscribes to in `mqtt_source` runs;
//! [`gates`] gives the verdicts; [`report`] and [`charts`] render the terminal table and the
//! HTML report.

pub mod ceiling;
pub mod charts;
pub mod cpu;
pub mod drivers;
pub mod format;
pub mod gates;
pub mod histogram;
pub mod interval;
pub mod measure;
pub mod merge;
pub mod mosquitto;
pub mod payload;
pub mod phase;
pub mod progress;
pub mod progress_bar;
pub mod report;
pub mod run;
pub mod scenario;
pub mod series;
pub mod summary;
pub mod sweep;
pub mod targets;
pub mod wrk;

pub use run::run;

/// Another endpoint measured with the same workload: a REST proxy (e.g. Confluent's, Karapace),
/// an MQTT listener, an MQTT broker with the proxy's MQTT source behind it, or a ceiling (nginx
/// for HTTP, the MQTT broker's own delivery for the source).
#[derive(Debug, Clone)]
pub struct Peer {
    pub name: String,
    /// A REST base URL, or for MQTT the listener's `HOST:PORT`.
    pub url: String,
    /// Publishes over MQTT at this QoS instead of REST.
    pub mqtt_qos: Option<u8>,
    /// A ceiling (nginx, or the MQTT broker's own delivery): measured for the fraction, stores
    /// nothing in Kafka.
    pub ceiling: bool,
    /// Which REST API produces (v2 requests by default).
    pub api: RestApi,
    /// MQTT publishes go into an MQTT broker (at `url`) and this carries them on.
    pub relay: Option<Relay>,
    /// Sends values of this format instead of the workload's (the `rest-binary` endpoint of a
    /// schema workload with `also_binary`).
    pub format: Option<format::Format>,
    /// The process serving a ceiling the run started (nginx's master): its turns account its
    /// CPU, workers included, in the proxy's place.
    pub server_pid: Option<u32>,
}

/// What carries an MQTT endpoint's publishes on from the MQTT broker they go into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Relay {
    /// The proxy's MQTT source, subscribed to the broker, writes them to Kafka.
    Source,
    /// A subscriber of loadgen's own takes them straight from the broker: the source's ceiling.
    Subscriber,
}

/// How a REST endpoint is driven to produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestApi {
    /// v2: `POST /topics/{t}`, `records_per_request` records per request.
    V2,
    /// v3 streaming: one chunked `POST /v3/.../records` per client (`workload.v3_stream`).
    V3Stream,
    /// v3 requests: `POST /v3/.../records` with a whole body of `records_per_request` JSON
    /// records each (`workload.v3_records`).
    V3,
}

/// The cluster a run measures: one given by address, or one started for the run.
#[derive(Debug, Clone)]
pub enum BrokerTarget {
    Existing(String),
    Start(local_broker::BrokerKind),
}
