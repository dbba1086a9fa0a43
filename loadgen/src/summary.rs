//! The run's summary, `summary.json`: everything a run measured, the ratios with their
//! intervals, the environment, the checks and the gates' verdicts. Fields added after a summary
//! was written default when it is read back (`loadgen report`, `loadgen gate`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::interval::Interval;
use crate::measure::PhaseResult;
use crate::scenario::Scenario;

/// The seed's reference ratios, drawn on every ratio chart.
pub const PRODUCE_REFERENCE: f64 = 0.66;
pub const CONSUME_REFERENCE: f64 = 0.20;

/// A delivery or consistency check.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Check {
    pub name: String,
    pub passed: bool,
    pub detail: String,
}

/// One point of a capacity sweep (REST produce).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SweepPoint {
    pub value_bytes: usize,
    pub records_per_request: usize,
    pub concurrency: usize,
    pub records_per_s: f64,
    pub requests_per_s: f64,
    pub p50_us: u64,
    pub p99_us: u64,
    /// REST/native for this value size.
    pub ratio: f64,
    /// Every acknowledged record of the point is in Kafka exactly once.
    pub verified: bool,
    /// The highest rate with p99 under the bound, for its value size.
    pub capacity: bool,
}

/// A ratio of two endpoints measured in the same rounds: its median and interval.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PairedRatio {
    pub ratio: f64,
    pub interval: Option<Interval>,
    pub round_ratios: Vec<f64>,
}

impl PairedRatio {
    /// The rounds' ratios, their median and its interval.
    pub fn of(round_ratios: Vec<f64>) -> PairedRatio {
        PairedRatio {
            ratio: crate::measure::median(&round_ratios).unwrap_or(0.0),
            interval: Interval::of(&round_ratios),
            round_ratios,
        }
    }
}

/// How many measured turns had no steady rate (a window under twice `warmup_ms`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ShortTurns {
    pub turns: u64,
    pub short: u64,
    /// The drivers whose turns were short, each once.
    pub drivers: Vec<String>,
}

impl ShortTurns {
    /// The turns of `results` without a steady rate; None when every turn had one.
    pub fn of<'a>(results: impl Iterator<Item = &'a PhaseResult>) -> Option<ShortTurns> {
        let mut out = ShortTurns {
            turns: 0,
            short: 0,
            drivers: Vec::new(),
        };
        for r in results {
            out.turns += 1;
            if r.steady_records_per_s.is_none() {
                out.short += 1;
                if !out.drivers.contains(&r.driver) {
                    out.drivers.push(r.driver.clone());
                }
            }
        }
        (out.short > 0).then_some(out)
    }
}

/// A peer proxy's throughput ratios to native.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PeerRatio {
    pub name: String,
    pub produce: f64,
    pub consume: Option<f64>,
}

/// A gate's verdict.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GateResult {
    pub name: String,
    pub value: f64,
    pub bound: f64,
    pub passed: bool,
    /// What `value` is: e.g. "lower bound of the 95% interval of the median".
    #[serde(default)]
    pub basis: String,
}

/// Proxy CPU µs per record over the native client's CPU µs per record.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct CpuRatios {
    pub produce: Option<f64>,
    pub consume: Option<f64>,
}

impl CpuRatios {
    /// The ratios of `headline`'s phases (its proxy's CPU) to native's (its client's CPU).
    pub fn of(phases: &[PhaseResult], headline: &str) -> CpuRatios {
        let cpu = |driver: &str, phase: &str| {
            phases
                .iter()
                .find(|p| p.driver == driver && p.phase == phase)
                .and_then(|p| p.cpu)
        };
        let ratio = |phase: &str| {
            let proxy = cpu(headline, phase)?.proxy_us()?;
            let native = cpu("native", phase)?.client_us()?;
            (native > 0.0).then(|| proxy / native)
        };
        CpuRatios {
            produce: ratio("produce"),
            consume: ratio("consume"),
        }
    }
}

/// Summaries written before ceilings had kinds had nginx's only.
fn http_kind() -> String {
    "HTTP".into()
}

/// A ceiling: nginx answering a fixed produce reply, driven like the proxy (the HTTP ceiling),
/// or the MQTT broker's own delivery to a subscriber (the MQTT source's).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Ceiling {
    /// `HTTP` (nginx) or `MQTT broker` (mosquitto).
    #[serde(default = "http_kind")]
    pub kind: String,
    pub name: String,
    /// The endpoint measured against it (`rest`, `mqtt-source-qos1`, ...).
    #[serde(default)]
    pub endpoint: String,
    /// The ceiling's steady rate in `unit` (median over rounds).
    pub requests_per_s: f64,
    /// What `requests_per_s` counts.
    #[serde(default)]
    pub unit: String,
    /// The endpoint's rate as a fraction of the ceiling's: the median of the rounds' paired
    /// fractions.
    pub fraction: f64,
    pub interval: Option<Interval>,
    pub round_fractions: Vec<f64>,
    /// CPU µs per request of the ceiling's own processes (nginx's master and workers) and of
    /// the proxy for the endpoint, in their turns; None where the ceiling's server is not
    /// measured (mosquitto).
    #[serde(default)]
    pub cpu_us: Option<CeilingCpu>,
}

/// The CPU a ceiling and the endpoint it bounds spent per request (see [`Ceiling::cpu_us`]).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CeilingCpu {
    pub ceiling: f64,
    pub proxy: f64,
}

/// The REST driver against `wrk` on the same proxy with the same request and connections, `wrk`
/// taking a turn of its own in every produce round (next to the driver's).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Crosscheck {
    pub tool: String,
    pub connections: usize,
    pub duration_s: u64,
    /// wrk's requests/s (median over rounds).
    pub wrk_requests_per_s: f64,
    /// Non-2xx answers and socket errors, over all of wrk's turns.
    pub wrk_errors: u64,
    /// The driver's steady requests/s (median over rounds).
    pub driver_requests_per_s: f64,
    /// driver / wrk: the median of the rounds' paired ratios.
    pub ratio: f64,
    #[serde(default)]
    pub interval: Option<Interval>,
    /// Each round's driver / wrk.
    #[serde(default)]
    pub round_ratios: Vec<f64>,
}

/// The proxy's long polls woken by records reaching it (`kafka_proxy_consumer_wake_us`, scraped
/// from its `/metrics` at the end of the run, less what an open loop's closed-loop calibration
/// added, see [`LongPollWake::since`]): how many, and how many were answered within 1 ms of the
/// records' arrival (issue 19's target), with the histogram's cumulative buckets.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LongPollWake {
    pub count: u64,
    pub within_1ms: u64,
    /// (upper bound µs, cumulative count), as the proxy exports them, but for `+Inf` (which is
    /// `count`, and which JSON cannot hold).
    pub buckets: Vec<(f64, u64)>,
}

impl LongPollWake {
    /// Parses the histogram out of a Prometheus text exposition; None without one.
    pub fn parse(metrics: &str) -> Option<LongPollWake> {
        const NAME: &str = "kafka_proxy_consumer_wake_us";
        let mut buckets = Vec::new();
        let mut count = None;
        for line in metrics.lines() {
            let Some(rest) = line.strip_prefix(NAME) else {
                continue;
            };
            let value = |text: &str| text.trim().parse::<f64>().ok();
            if let Some(rest) = rest.strip_prefix("_bucket{le=\"") {
                let (le, n) = rest.split_once("\"}")?;
                if le != "+Inf" {
                    buckets.push((le.parse().ok()?, value(n)? as u64));
                }
            } else if let Some(n) = rest.strip_prefix("_count ") {
                count = Some(value(n)? as u64);
            }
        }
        let count = count?;
        let within_1ms = buckets
            .iter()
            .find(|(le, _)| *le == 1000.0)
            .map_or(0, |(_, n)| *n);
        Some(LongPollWake {
            count,
            within_1ms,
            buckets,
        })
    }

    /// What was added after `before` (an earlier scrape of the same proxy): the measured rounds'
    /// long polls without the calibration's, which runs the machine flat out.
    pub fn since(&self, before: &LongPollWake) -> LongPollWake {
        let earlier = |le: f64| {
            before
                .buckets
                .iter()
                .find(|(b, _)| *b == le)
                .map_or(0, |(_, n)| *n)
        };
        LongPollWake {
            count: self.count.saturating_sub(before.count),
            within_1ms: self.within_1ms.saturating_sub(before.within_1ms),
            buckets: self
                .buckets
                .iter()
                .map(|&(le, n)| (le, n.saturating_sub(earlier(le))))
                .collect(),
        }
    }

    /// The fraction answered within 1 ms; None when no long poll was woken.
    pub fn fraction_within_1ms(&self) -> Option<f64> {
        (self.count > 0).then(|| self.within_1ms as f64 / self.count as f64)
    }
}

/// The proxy's Produce requests to Kafka over the whole run, the records they carried and their
/// record batches (`kafka_proxy_batch_requests_total`, `kafka_proxy_batch_records_total`,
/// `kafka_proxy_batch_partitions_total`, scraped from its `/metrics` at the end): the broker's
/// cost is largely per request and per batch, so this explains much of its CPU per record.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct ProduceRequests {
    pub requests: u64,
    pub records: u64,
    /// None from a proxy without the counter (before 2026-12-07).
    #[serde(default)]
    pub batches: Option<u64>,
}

impl ProduceRequests {
    /// Parses both counters out of a Prometheus text exposition; None unless the proxy sent at
    /// least one Produce request.
    pub fn parse(metrics: &str) -> Option<ProduceRequests> {
        let counter = |name: &str| {
            metrics.lines().find_map(|line| {
                let value = line.strip_prefix(name)?.strip_prefix(' ')?;
                value.trim().parse::<f64>().ok().map(|v| v as u64)
            })
        };
        let requests = counter("kafka_proxy_batch_requests_total")?;
        let records = counter("kafka_proxy_batch_records_total")?;
        let batches = counter("kafka_proxy_batch_partitions_total");
        (requests > 0).then_some(ProduceRequests {
            requests,
            records,
            batches,
        })
    }

    pub fn records_per_request(&self) -> f64 {
        self.records as f64 / self.requests.max(1) as f64
    }

    /// Record batches (partitions) per Produce request, when the proxy counts them.
    pub fn batches_per_request(&self) -> Option<f64> {
        self.batches.map(|b| b as f64 / self.requests.max(1) as f64)
    }
}

/// End-to-end latency the headline transport adds over native, per record, in an open-loop run
/// (negative: faster than native).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AddedLatency {
    pub rate_records_per_s: f64,
    pub p50_us: f64,
    pub p99_us: f64,
    pub p999_us: f64,
    /// With `cross_readers`: what REST adds on the produce side (native readers, REST against
    /// native producer) and on the consume side (the native producer's records, REST reader
    /// against native reader).
    #[serde(default)]
    pub produce_side: Option<Added>,
    #[serde(default)]
    pub consume_side: Option<Added>,
}

/// Latency one path adds over another, µs (negative: it is faster).
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq)]
pub struct Added {
    pub p50_us: f64,
    pub p99_us: f64,
    pub p999_us: f64,
}

/// Where and how the run measured, for whoever reads the report.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Environment {
    /// `tansu 0.6.0`, `librdkafka 2.12.1 mock cluster`, or `external`.
    pub broker: String,
    /// The broker is a process on this machine (its CPU is accounted).
    pub broker_local: bool,
    /// `kafka-proxy 0.1.0`, or `external`.
    pub proxy: String,
    pub proxy_local: bool,
    /// The proxy's `produce.engine`.
    pub produce_engine: String,
    /// Other `--set` properties of the started proxy.
    pub proxy_settings: BTreeMap<String, String>,
    pub native_producer: BTreeMap<String, String>,
    pub native_consumer: BTreeMap<String, String>,
    pub rest_driver: String,
    /// Who shares the machine's cores.
    pub sharing: String,
}

/// Facts about the machine the run happened on.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Machine {
    pub cores: usize,
    pub memory_bytes: Option<u64>,
    pub os: String,
}

impl Machine {
    pub fn current() -> Machine {
        let memory_bytes = std::fs::read_to_string("/proc/meminfo").ok().and_then(|m| {
            let line = m.lines().find(|l| l.starts_with("MemTotal:"))?;
            let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
            Some(kb * 1024)
        });
        Machine {
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            memory_bytes,
            os: std::env::consts::OS.to_string(),
        }
    }
}

/// Everything a run measured: `summary.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Summary {
    pub scenario: Scenario,
    pub started_at: String,
    pub git_commit: Option<String>,
    pub machine: Machine,
    pub bootstrap_servers: String,
    pub proxy_url: String,
    pub proxy_rss_idle_bytes: Option<u64>,
    pub phases: Vec<PhaseResult>,
    /// REST/native records-per-second ratio of produce: the median of the rounds' ratios.
    pub produce_ratio: f64,
    /// Each produce round's REST/native ratio, in run order.
    #[serde(default)]
    pub produce_round_ratios: Vec<f64>,
    /// Other REST proxies measured in the same run (`--peer`), against the same native baseline.
    #[serde(default)]
    pub peers: Vec<PeerRatio>,
    /// Capacity sweep points, when the scenario has a `[sweep]`.
    #[serde(default)]
    pub sweep: Vec<SweepPoint>,
    /// None when the run had no consume phase.
    pub consume_ratio: Option<f64>,
    pub checks: Vec<Check>,
    pub gates: Vec<GateResult>,
    #[serde(default)]
    pub environment: Environment,
    /// The produce ratio's median with its confidence interval over rounds.
    #[serde(default)]
    pub produce_interval: Option<Interval>,
    #[serde(default)]
    pub consume_interval: Option<Interval>,
    /// Each consume round's REST/native ratio, in run order.
    #[serde(default)]
    pub consume_round_ratios: Vec<f64>,
    /// Proxy CPU per record over the native client's.
    #[serde(default)]
    pub cpu_ratios: CpuRatios,
    /// The headline endpoint's ceiling.
    #[serde(default)]
    pub ceiling: Option<Ceiling>,
    /// Other endpoints' ceilings (the MQTT source's at its other QoS levels).
    #[serde(default)]
    pub other_ceilings: Vec<Ceiling>,
    /// With `workload.also_v2`: the v3 endpoint's produce rate over the same proxy's v2 rate,
    /// paired by round.
    #[serde(default)]
    pub v3_vs_v2: Option<PairedRatio>,
    /// With `workload.also_binary`: the schema format's REST/native produce ratio over binary's
    /// (`rest-binary` against `native-binary`), paired by round.
    #[serde(default)]
    pub format_vs_binary: Option<PairedRatio>,
    /// Turns (one driver's run in one round) too short for a steady rate: their rounds' ratios
    /// compare whole windows, start-up and drain included.
    #[serde(default)]
    pub short_turns: Option<ShortTurns>,
    #[serde(default)]
    pub crosscheck: Option<Crosscheck>,
    #[serde(default)]
    pub added_latency: Option<AddedLatency>,
    #[serde(default)]
    pub long_poll_wake: Option<LongPollWake>,
    #[serde(default)]
    pub produce_requests: Option<ProduceRequests>,
}

impl Summary {
    /// A summary of `scenario` with nothing measured yet.
    pub fn empty(scenario: Scenario) -> Summary {
        Summary {
            scenario,
            started_at: String::new(),
            git_commit: None,
            machine: Machine::current(),
            bootstrap_servers: String::new(),
            proxy_url: String::new(),
            proxy_rss_idle_bytes: None,
            phases: Vec::new(),
            produce_ratio: 0.0,
            produce_round_ratios: Vec::new(),
            peers: Vec::new(),
            sweep: Vec::new(),
            consume_ratio: None,
            checks: Vec::new(),
            gates: Vec::new(),
            environment: Environment::default(),
            produce_interval: None,
            consume_interval: None,
            consume_round_ratios: Vec::new(),
            cpu_ratios: CpuRatios::default(),
            ceiling: None,
            other_ceilings: Vec::new(),
            v3_vs_v2: None,
            format_vs_binary: None,
            short_turns: None,
            crosscheck: None,
            added_latency: None,
            long_poll_wake: None,
            produce_requests: None,
        }
    }

    pub fn phase(&self, driver: &str, phase: &str) -> Option<&PhaseResult> {
        self.phases
            .iter()
            .find(|p| p.driver == driver && p.phase == phase)
    }

    pub fn passed(&self) -> bool {
        self.checks.iter().all(|c| c.passed) && self.gates.iter().all(|g| g.passed)
    }
}

#[cfg(test)]
mod produce_requests_tests {
    use super::ProduceRequests;

    #[test]
    fn counters_give_the_records_per_request() {
        let text = "# TYPE kafka_proxy_batch_requests_total counter\n\
            kafka_proxy_batch_requests_total 40\n\
            kafka_proxy_batch_requests_total_other 7\n\
            # TYPE kafka_proxy_batch_records_total counter\n\
            kafka_proxy_batch_records_total 3000\n\
            kafka_proxy_batch_partitions_total 50\n";
        let p = ProduceRequests::parse(text).unwrap();
        assert_eq!(
            p,
            ProduceRequests {
                requests: 40,
                records: 3000,
                batches: Some(50),
            }
        );
        assert_eq!(p.records_per_request(), 75.0);
        assert_eq!(p.batches_per_request(), Some(1.25));
        // An older proxy: no batch count.
        let old = ProduceRequests::parse(
            "kafka_proxy_batch_requests_total 4\nkafka_proxy_batch_records_total 8\n",
        )
        .unwrap();
        assert_eq!(old.batches_per_request(), None);
        // No Produce request (a native-only run, or a proxy without the counters): nothing.
        assert_eq!(
            ProduceRequests::parse(
                "kafka_proxy_batch_requests_total 0\nkafka_proxy_batch_records_total 0\n"
            ),
            None
        );
        assert_eq!(
            ProduceRequests::parse("kafka_proxy_batch_requests_total 3\n"),
            None
        );
    }
}

#[cfg(test)]
mod long_poll_wake_tests {
    use super::LongPollWake;

    /// The histogram is read from the exposition as the proxy's exporter writes it; other
    /// metrics, and a run with no woken long poll, are told apart.
    #[test]
    fn parses_the_wake_histogram() {
        let text = "# TYPE kafka_proxy_consumer_wake_us histogram\n\
            kafka_proxy_consumer_wake_us_bucket{le=\"500\"} 90\n\
            kafka_proxy_consumer_wake_us_bucket{le=\"1000\"} 97\n\
            kafka_proxy_consumer_wake_us_bucket{le=\"+Inf\"} 100\n\
            kafka_proxy_consumer_wake_us_sum 41234\n\
            kafka_proxy_consumer_wake_us_count 100\n\
            kafka_proxy_consumer_lag{group=\"g\"} 3\n";
        let w = LongPollWake::parse(text).unwrap();
        assert_eq!((w.count, w.within_1ms), (100, 97));
        assert_eq!(w.buckets, [(500.0, 90), (1000.0, 97)]);
        // It goes through summary.json and back.
        let json = serde_json::to_string(&w).unwrap();
        let back: LongPollWake = serde_json::from_str(&json).unwrap();
        assert_eq!(back.buckets, w.buckets);
        assert_eq!(w.fraction_within_1ms(), Some(0.97));
        assert!(LongPollWake::parse("kafka_proxy_consumer_lag 3\n").is_none());
        let none = LongPollWake::parse("kafka_proxy_consumer_wake_us_count 0\n").unwrap();
        assert_eq!(none.fraction_within_1ms(), None);
    }

    /// The calibration's long polls come off the run's.
    #[test]
    fn the_calibrations_long_polls_are_taken_off() {
        let at = |within: u64, count: u64| LongPollWake {
            count,
            within_1ms: within,
            buckets: vec![(500.0, within / 2), (1000.0, within)],
        };
        let rounds = at(97, 110).since(&at(7, 10));
        assert_eq!((rounds.count, rounds.within_1ms), (100, 90));
        assert_eq!(rounds.buckets, [(500.0, 45), (1000.0, 90)]);
        assert_eq!(rounds.fraction_within_1ms(), Some(0.9));
    }
}
