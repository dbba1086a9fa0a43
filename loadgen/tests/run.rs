//! `loadgen run`, `report` and `gate` end to end: the real binary against a real Tansu broker and
//! a real kafka-proxy over loopback, with a tiny workload.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use local_broker::LocalBroker;

fn loadgen(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_loadgen"))
        .args(args)
        .output()
        .expect("run loadgen")
}

/// `loadgen run SCENARIO` against the given broker and proxy, writing under `out`.
fn run(scenario: &Path, bootstrap: &str, proxy: &str, out: &Path) -> Output {
    loadgen(&[
        "run",
        scenario.to_str().unwrap(),
        "--bootstrap-servers",
        bootstrap,
        "--proxy-url",
        proxy,
        "--out",
        out.to_str().unwrap(),
    ])
}

/// A workload that needs the proxy loadgen starts fails, saying `why`, when given one.
fn refuses_a_given_proxy(scenario: &Path, bootstrap: &str, tmp: &Path, why: &str) {
    let out = run(
        scenario,
        bootstrap,
        "http://127.0.0.1:9",
        &tmp.join("given"),
    );
    assert!(!out.status.success());
    assert!(text(&out).contains(why), "{}", text(&out));
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The one report directory under `parent`.
fn report_dir(parent: &Path) -> PathBuf {
    let dirs: Vec<PathBuf> = std::fs::read_dir(parent)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    assert_eq!(dirs.len(), 1, "{dirs:?}");
    dirs[0].clone()
}

fn scenario(dir: &Path, name: &str, gates: &str) -> PathBuf {
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(
        &path,
        format!(
            "name = \"{name}\"\n\
             [workload]\npartitions = 2\nrecords = 20000\nvalue_bytes = 100\n\
             records_per_request = 100\nconcurrency = 4\nconsumers = 1\nrounds = 2\n\
             phase_timeout_s = 60\n[gates]\n{gates}\n"
        ),
    )
    .unwrap();
    path
}

/// Writes scenario `name` (`body` after its name) into a fresh temporary directory and runs it
/// with the proxy loadgen starts, against `bootstrap`; asserts it passed. Returns the directory,
/// the report's directory and summary.json.
fn run_started(name: &str, body: &str, bootstrap: &str) -> (PathBuf, PathBuf, serde_json::Value) {
    let tmp = std::env::temp_dir().join(format!("loadgen-{name}-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).unwrap();
    let scenario = tmp.join(format!("{name}.toml"));
    std::fs::write(&scenario, format!("name = \"{name}\"\n{body}")).unwrap();
    let out_dir = tmp.join("out");
    let out = loadgen(&[
        "run",
        scenario.to_str().unwrap(),
        "--bootstrap-servers",
        bootstrap,
        "--out",
        out_dir.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let dir = report_dir(&out_dir);
    let summary =
        serde_json::from_slice(&std::fs::read(dir.join("summary.json")).unwrap()).unwrap();
    (tmp, dir, summary)
}

/// Starts a proxy in-process on a free port; returns its URL. It runs until the runtime ends.
fn start_proxy(rt: &tokio::runtime::Runtime, bootstrap: &str) -> String {
    start_proxy_with(rt, bootstrap, false).0
}

/// [`start_proxy`], with its built-in Schema Registry on another free port when `registry`;
/// returns the proxy's URL and the registry's.
fn start_proxy_with(
    rt: &tokio::runtime::Runtime,
    bootstrap: &str,
    registry: bool,
) -> (String, Option<String>) {
    let bind = || {
        rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap()
    };
    let listener = bind();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let registry_listeners: Vec<_> = registry.then(bind).into_iter().collect();
    let registry_url = registry_listeners
        .first()
        .map(|l| format!("http://{}", l.local_addr().unwrap()));
    let props = [
        ("bootstrap.servers".to_string(), bootstrap.to_string()),
        ("listeners".to_string(), url.clone()),
        ("schema.registry.listeners".to_string(), String::new()),
    ]
    .into_iter()
    .collect();
    let (config, _) = kafka_proxy::Config::from_properties(&props).unwrap();
    rt.spawn(kafka_proxy::serve_all(
        config,
        vec![listener],
        registry_listeners,
        std::future::pending::<()>(),
    ));
    (url, registry_url)
}

#[test]
fn run_report_and_gate_end_to_end() {
    let broker = LocalBroker::start().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let proxy = start_proxy(&rt, broker.bootstrap());
    let tmp = std::env::temp_dir().join(format!("loadgen-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).unwrap();

    // Gates that hold: exit 0, a summary with every driver and phase, verified, and a report.
    let pass = scenario(
        &tmp,
        "tiny",
        "produce_ratio_min = 0.01\nconsume_ratio_min = 0.01\nrest_produce_p99_max_us = 60000000",
    );
    let out_dir = tmp.join("pass");
    let out = run(&pass, broker.bootstrap(), &proxy, &out_dir);
    assert!(out.status.success(), "{}", text(&out));
    let dir = report_dir(&out_dir);
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("summary.json")).unwrap()).unwrap();
    let phases = summary["phases"].as_array().unwrap();
    for (driver, phase) in [
        ("native", "produce"),
        ("rest", "produce"),
        ("native", "consume"),
        ("rest", "consume"),
    ] {
        let p = phases
            .iter()
            .find(|p| p["driver"] == driver && p["phase"] == phase)
            .unwrap_or_else(|| panic!("no {driver} {phase} in {summary}"));
        assert!(p["records_per_s"].as_f64().unwrap() > 0.0, "{p}");
        // The full histogram travels in the summary (merging machines needs it).
        assert!(
            p["latency"]["histogram_v2"].as_str().unwrap().len() > 20,
            "{p}"
        );
        if phase == "produce" {
            assert!(p["latency"]["count"].as_u64().unwrap() > 0, "{p}");
        }
    }
    assert_eq!(summary["produce_round_ratios"].as_array().unwrap().len(), 2);
    let checks = summary["checks"].as_array().unwrap();
    assert!(checks.len() >= 6, "{checks:?}");
    assert!(checks.iter().all(|c| c["passed"] == true), "{checks:?}");
    assert!(summary["gates"]
        .as_array()
        .unwrap()
        .iter()
        .all(|g| g["passed"] == true));
    let html = std::fs::read_to_string(dir.join("index.html")).unwrap();
    assert!(html.matches("<svg").count() >= 3, "charts missing");
    assert!(
        !html.contains("src=\"http"),
        "the report must be self-contained"
    );

    // `gate` re-checks the same summary; `report` re-renders it elsewhere.
    let summary_path = dir.join("summary.json");
    let gate = loadgen(&["gate", summary_path.to_str().unwrap()]);
    assert!(gate.status.success(), "{}", text(&gate));
    let rerendered = tmp.join("rerendered");
    let report = loadgen(&[
        "report",
        summary_path.to_str().unwrap(),
        "--out",
        rerendered.to_str().unwrap(),
    ]);
    assert!(report.status.success(), "{}", text(&report));
    assert!(rerendered.join("index.html").exists());

    // A gate that cannot hold: exit 1 and one line naming it, the value and the bound.
    let fail = scenario(&tmp, "tiny-fail", "produce_ratio_min = 1000.0");
    let out = run(&fail, broker.bootstrap(), &proxy, &tmp.join("fail"));
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let all = text(&out);
    let line = all
        .lines()
        .find(|l| l.starts_with("GATE FAILED produce_ratio_min"))
        .unwrap_or_else(|| panic!("no gate line in {all}"));
    assert!(line.contains("bound 1000"), "{line}");

    // A broken target is an error (exit 2), not a hang.
    let out = run(
        &pass,
        broker.bootstrap(),
        "http://127.0.0.1:9",
        &tmp.join("broken"),
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));

    rt.shutdown_timeout(Duration::from_secs(5));
    let _ = std::fs::remove_dir_all(&tmp);
}

/// The Avro workload (issue 4): REST avro produce with schema id reuse against a native producer
/// writing Confluent-framed Avro, both verified byte for byte through the checksums, and the
/// ratio in summary.json and the report.
#[test]
fn avro_scenario_end_to_end() {
    let broker = LocalBroker::start().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (proxy, registry) = start_proxy_with(&rt, broker.bootstrap(), true);
    let registry = registry.unwrap();
    let tmp = std::env::temp_dir().join(format!("loadgen-avro-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).unwrap();
    let scenario = tmp.join("avro-tiny.toml");
    std::fs::write(
        &scenario,
        "name = \"avro-tiny\"\n\
         [workload]\nformat = \"avro\"\nphases = [\"produce\"]\npartitions = 2\n\
         records = 20000\nvalue_bytes = 100\nrecords_per_request = 100\nconcurrency = 4\n\
         rounds = 2\nphase_timeout_s = 60\n[gates]\nproduce_ratio_min = 0.01\n",
    )
    .unwrap();

    let out_dir = tmp.join("pass");
    let out = loadgen(&[
        "run",
        scenario.to_str().unwrap(),
        "--bootstrap-servers",
        broker.bootstrap(),
        "--proxy-url",
        &proxy,
        "--schema-registry-url",
        &registry,
        "--out",
        out_dir.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let dir = report_dir(&out_dir);
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["scenario"]["workload"]["format"], "avro");
    let ratio = summary["produce_ratio"].as_f64().unwrap();
    assert!(ratio > 0.0 && ratio.is_finite(), "{summary}");
    assert_eq!(summary["produce_round_ratios"].as_array().unwrap().len(), 2);
    let phases = summary["phases"].as_array().unwrap();
    assert_eq!(phases.len(), 2, "produce only: {phases:?}");
    for driver in ["native", "rest"] {
        let p = phases
            .iter()
            .find(|p| p["driver"] == driver && p["phase"] == "produce")
            .unwrap_or_else(|| panic!("no {driver} produce in {summary}"));
        assert_eq!(p["records"], 40000, "two rounds: {p}");
        assert_eq!(p["errors"], 0, "{p}");
    }
    // The REST checks compare what the proxy stored with this harness's own Avro encoding under
    // the schema id the proxy answered with: a wrong encoding or id fails them.
    let checks = summary["checks"].as_array().unwrap();
    assert_eq!(checks.len(), 4, "{checks:?}");
    assert!(checks.iter().all(|c| c["passed"] == true), "{checks:?}");
    // Both drivers registered the schema under their topic's subject, and REST did so through
    // the proxy (its first request carried the schema text).
    let subjects: Vec<String> = rt.block_on(async {
        reqwest::get(format!("{registry}/subjects"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    });
    for driver in ["native", "rest"] {
        assert!(
            subjects
                .iter()
                .any(|s| s.contains(&format!("-{driver}-0")) && s.ends_with("-value")),
            "no {driver} subject in {subjects:?}"
        );
    }
    let html = std::fs::read_to_string(dir.join("index.html")).unwrap();
    assert!(
        html.contains("avro produce"),
        "the ratio is not labelled Avro"
    );

    // Against a given proxy, the registry it uses must be named.
    let out = run(
        &scenario,
        broker.bootstrap(),
        &proxy,
        &tmp.join("no-registry"),
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("--schema-registry-url"),
        "{}",
        text(&out)
    );

    rt.shutdown_timeout(Duration::from_secs(5));
    let _ = std::fs::remove_dir_all(&tmp);
}

/// A stored record's partition, key and headers (name, value), as text.
type Shape = (i32, String, Vec<(String, String)>);

/// Every record of the one topic whose name ends with `suffix`, as its [`Shape`] and how many
/// times each occurs, read with a plain consumer.
fn stored_records(bootstrap: &str, suffix: &str) -> std::collections::BTreeMap<Shape, usize> {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use rdkafka::message::{Headers, Message};
    let consumer: BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", format!("stored-{suffix}"))
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .create()
        .unwrap();
    let metadata = consumer
        .fetch_metadata(None, Duration::from_secs(10))
        .unwrap();
    let topics: Vec<_> = metadata
        .topics()
        .iter()
        .filter(|t| t.name().ends_with(suffix))
        .collect();
    assert_eq!(topics.len(), 1, "one topic ending {suffix}");
    let topic = topics[0];
    let mut assignment = rdkafka::TopicPartitionList::new();
    for p in topic.partitions() {
        assignment
            .add_partition_offset(topic.name(), p.id(), rdkafka::Offset::Beginning)
            .unwrap();
    }
    consumer.assign(&assignment).unwrap();
    let mut out = std::collections::BTreeMap::new();
    let text = |b: Option<&[u8]>| String::from_utf8(b.unwrap_or_default().to_vec()).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let mut idle = 0;
    while idle < 10 && std::time::Instant::now() < deadline {
        let Some(m) = consumer.poll(Duration::from_millis(200)) else {
            idle += 1;
            continue;
        };
        idle = 0;
        let m = m.unwrap();
        let headers = m.headers().map_or_else(Vec::new, |h| {
            h.iter()
                .map(|h| (h.key.to_string(), text(h.value)))
                .collect()
        });
        *out.entry((m.partition(), text(m.key()), headers))
            .or_default() += 1;
    }
    out
}

/// The MQTT workload (issue 5): loadgen starts the proxy with an MQTT listener and per-round
/// topic rules, publishes at QoS 1, 0 and 2 against the native producer, and verifies every
/// record in Kafka; the ratios reach summary.json and the report.
#[test]
fn mqtt_scenario_end_to_end() {
    let broker = LocalBroker::start().unwrap();
    let (tmp, dir, summary) = run_started(
        "mqtt-tiny",
        "[workload]\nmqtt_qos = [1, 0, 2]\nphases = [\"produce\"]\npartitions = 2\n\
         records = 20000\nvalue_bytes = 100\nconcurrency = 4\nrounds = 1\n\
         phase_timeout_s = 60\nkeep_topics = true\nnative_same_records = true\n[gates]\nproduce_ratio_min = 0.01\n",
        broker.bootstrap(),
    );
    let scenario = tmp.join("mqtt-tiny.toml");
    // Native's turn wrote the records the proxy made of the headline endpoint's publishes: the
    // same keys and headers, in the same partitions.
    let native = stored_records(broker.bootstrap(), "-native-0");
    let proxy = stored_records(broker.bootstrap(), "-mqtt-qos1-0");
    assert_eq!(native.values().sum::<usize>(), 20000);
    assert_eq!(native, proxy);
    let (_, key, headers) = native.keys().next().unwrap();
    assert_eq!(
        headers,
        &[
            ("mqtt.topic".to_string(), key.clone()),
            ("mqtt.qos".to_string(), "1".to_string())
        ]
    );
    assert!(key.starts_with("lg/mqtt-qos1-0/c"), "{key}");
    let ratio = summary["produce_ratio"].as_f64().unwrap();
    assert!(ratio > 0.0 && ratio.is_finite(), "{summary}");
    let peers: Vec<&str> = summary["peers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(peers, ["mqtt-qos0", "mqtt-qos2"]);
    let phases = summary["phases"].as_array().unwrap();
    for driver in ["native", "mqtt-qos1", "mqtt-qos0", "mqtt-qos2"] {
        let p = phases
            .iter()
            .find(|p| p["driver"] == driver)
            .unwrap_or_else(|| panic!("no {driver} in {summary}"));
        assert_eq!(p["records"], 20000, "{p}");
    }
    // Every MQTT record is in its Kafka topic exactly once, with the values published.
    let checks = summary["checks"].as_array().unwrap();
    assert_eq!(checks.len(), 4, "{checks:?}");
    assert!(checks.iter().all(|c| c["passed"] == true), "{checks:?}");
    let html = std::fs::read_to_string(dir.join("index.html")).unwrap();
    assert!(
        html.contains("mqtt qos1 produce"),
        "the ratio is not labelled MQTT"
    );
    // MQTT needs the proxy loadgen starts: a given proxy is refused with a clear error.
    let out = run(
        &scenario,
        broker.bootstrap(),
        "http://127.0.0.1:9",
        &tmp.join("given"),
    );
    assert!(!out.status.success());
    assert!(
        text(&out).contains("MQTT workload needs the proxy loadgen starts"),
        "{}",
        text(&out)
    );
    std::fs::remove_dir_all(&tmp).unwrap();
}

/// TLS on the HTTP edge (issue 19, target 7): the proxy loadgen starts serves only `https://`,
/// the REST drivers reach it through a stunnel client, every record is still produced and read
/// back, and the report says so; a given proxy is refused with a clear error.
#[test]
fn edge_tls_scenario_end_to_end() {
    let broker = LocalBroker::start().unwrap();
    let (tmp, _dir, summary) = run_started(
        "edge-tls-tiny",
        "[workload]\nedge_tls = true\npartitions = 2\nrecords = 20000\nvalue_bytes = 100\n\
         records_per_request = 100\nconcurrency = 4\nrounds = 1\nphase_timeout_s = 60\n\
         [gates]\nproduce_ratio_min = 0.01\nconsume_ratio_min = 0.01\n",
        broker.bootstrap(),
    );
    let driver = summary["environment"]["rest_driver"].as_str().unwrap();
    assert!(driver.contains("HTTPS from it to the proxy"), "{driver}");
    let checks = summary["checks"].as_array().unwrap();
    assert!(checks.len() >= 4, "{checks:?}");
    assert!(checks.iter().all(|c| c["passed"] == true), "{checks:?}");
    for phase in ["produce", "consume"] {
        assert!(
            summary["phases"]
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p["driver"] == "rest" && p["phase"] == phase && p["records"] == 20000),
            "no complete rest {phase} in {summary}"
        );
    }
    refuses_a_given_proxy(
        &tmp.join("edge-tls-tiny.toml"),
        broker.bootstrap(),
        &tmp,
        "edge_tls serves HTTPS from the proxy loadgen starts",
    );
    std::fs::remove_dir_all(&tmp).unwrap();
}

/// The MQTT source workload (issue 18): loadgen starts mosquitto and a proxy whose MQTT source
/// subscribes to it, publishes at QoS 1 and 0, ends each phase when a native consumer has read
/// every record from Kafka, and measures mosquitto's own delivery to a subscriber of its own in
/// the same rounds; the delivery checks, the ceilings and the end-to-end latency reach
/// summary.json and the report.
#[test]
fn mqtt_source_scenario_end_to_end() {
    let broker = LocalBroker::start().unwrap();
    let (tmp, dir, summary) = run_started(
        "mqtt-source-tiny",
        "[workload]\nmqtt_qos = [1, 0]\nmqtt_source = true\nphases = [\"produce\"]\n\
         partitions = 2\nrecords = 20000\nvalue_bytes = 100\nconcurrency = 4\nrounds = 1\n\
         phase_timeout_s = 60\n[gates]\nceiling_fraction_min = 0.01\n",
        broker.bootstrap(),
    );
    let phases = summary["phases"].as_array().unwrap();
    for driver in [
        "mqtt-source-qos1",
        "mqtt-source-qos0",
        "mosquitto-qos1",
        "mosquitto-qos0",
    ] {
        let p = phases
            .iter()
            .find(|p| p["driver"] == driver)
            .unwrap_or_else(|| panic!("no {driver} in {summary}"));
        // Every record arrived once, and its latency was measured from its publish.
        assert_eq!(p["records"], 20000, "{p}");
        assert_eq!(p["delivery"]["missing"], 0, "{p}");
        assert_eq!(p["delivery"]["published"], 20000, "{p}");
        assert_eq!(p["checksum"], p["delivery"]["published_checksum"], "{p}");
        assert_eq!(p["latency"]["count"], 20000, "{p}");
    }
    // Each QoS level against mosquitto's own delivery at that level.
    assert_eq!(summary["ceiling"]["name"], "mosquitto-qos1", "{summary}");
    assert_eq!(summary["ceiling"]["endpoint"], "mqtt-source-qos1");
    let other = &summary["other_ceilings"][0];
    assert_eq!(
        (&other["name"], &other["endpoint"]),
        (&"mosquitto-qos0".into(), &"mqtt-source-qos0".into())
    );
    let fraction = summary["ceiling"]["fraction"].as_f64().unwrap();
    assert!(fraction > 0.0 && fraction.is_finite(), "{summary}");
    let checks = summary["checks"].as_array().unwrap();
    assert_eq!(checks.len(), 5, "{checks:?}");
    assert!(checks.iter().all(|c| c["passed"] == true), "{checks:?}");
    let html = std::fs::read_to_string(dir.join("index.html")).unwrap();
    assert!(
        html.contains("mqtt source qos1 produce"),
        "the ratio is not labelled"
    );
    assert!(html.contains("of mosquitto-qos1"), "no ceiling line");
    std::fs::remove_dir_all(&tmp).unwrap();
}

/// Issue 13's measurements end to end, on the mock broker loadgen starts in a process of its
/// own and the kafka-proxy it starts: CPU time per record lands on the right process, ratios
/// come with intervals over a round budget, the HTTP ceiling (nginx) and the wrk cross-check
/// are measured, gates say what they compared, and `gate --baseline` needs a bound.
#[test]
fn cpu_intervals_ceiling_and_crosscheck_end_to_end() {
    let tmp = std::env::temp_dir().join(format!("loadgen-measure-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).unwrap();
    let scenario = tmp.join("measure.toml");
    std::fs::write(
        &scenario,
        "name = \"measure\"\nbroker = \"mock\"\n\
         [workload]\npartitions = 4\nrecords = 3000\nvalue_bytes = 100\nrecords_per_request = 1\n\
         concurrency = 8\nconsumers = 1\nrounds = 6\nmax_rounds = 6\nconsume_records = 3000\n\
         warmup_ms = 50\nbucket_ms = 100\nphase_timeout_s = 60\nhttp_ceiling = true\n\
         wrk_crosscheck = true\ncrosscheck_s = 1\n\
         [gates]\nproduce_ratio_min = 0.0001\nconsume_ratio_min = 0.0001\n\
         produce_cpu_ratio_max = 100000.0\ndriver_vs_wrk_min = 0.0001\nceiling_fraction_min = 0.0001\n",
    )
    .unwrap();
    let out_dir = tmp.join("out");
    let out = loadgen(&[
        "run",
        scenario.to_str().unwrap(),
        "--topic-prefix",
        "lgtest-",
        "--out",
        out_dir.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let dir = report_dir(&out_dir);
    let summary_path = dir.join("summary.json");
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&summary_path).unwrap()).unwrap();
    let phase = |driver: &str, phase: &str| {
        summary["phases"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["driver"] == driver && p["phase"] == phase)
            .unwrap_or_else(|| panic!("no {driver} {phase} in {summary}"))
            .clone()
    };
    let per_record = |p: &serde_json::Value, who: &str| {
        let cpu = &p["cpu"];
        cpu[format!("{who}_s")]
            .as_f64()
            .unwrap_or_else(|| panic!("{who} CPU missing: {p}"))
            * 1e6
            / cpu["records"].as_f64().unwrap()
    };
    // Every process is accounted; the proxy's CPU goes to the phases that go through it.
    for (d, ph) in [
        ("native", "produce"),
        ("rest", "produce"),
        ("nginx", "produce"),
        ("native", "consume"),
        ("rest", "consume"),
    ] {
        let p = phase(d, ph);
        assert!(per_record(&p, "client") > 0.0, "{p}");
        let _ = per_record(&p, "broker");
        let _ = per_record(&p, "proxy");
    }
    let (rest, native) = (phase("rest", "produce"), phase("native", "produce"));
    assert!(
        per_record(&rest, "proxy") > 10.0 * per_record(&native, "proxy").max(0.01),
        "REST produce must cost the proxy more than native produce does: {rest} {native}"
    );
    assert!(per_record(&rest, "proxy") > 1.0, "{rest}");
    // Six rounds: a 95% interval of the median, every round reported.
    let interval = &summary["produce_interval"];
    assert_eq!(interval["rounds"], 6, "{summary}");
    assert!(
        interval["confidence"].as_f64().unwrap() >= 0.95,
        "{interval}"
    );
    assert!(interval["low"].as_f64().unwrap() <= interval["median"].as_f64().unwrap());
    assert_eq!(summary["produce_round_ratios"].as_array().unwrap().len(), 6);
    assert_eq!(summary["consume_round_ratios"].as_array().unwrap().len(), 6);
    assert!(summary["cpu_ratios"]["produce"].as_f64().unwrap() > 0.0);
    // The ceiling and the cross-check, measured in the same run.
    let ceiling = &summary["ceiling"];
    assert!(
        ceiling["requests_per_s"].as_f64().unwrap() > 0.0,
        "{ceiling}"
    );
    assert!(ceiling["fraction"].as_f64().unwrap() > 0.0, "{ceiling}");
    // nginx's own CPU (its workers') in its turns, in the proxy's place, beside the proxy's.
    let nginx = phase("nginx", "produce");
    assert!(per_record(&nginx, "proxy") > 1.0, "{nginx}");
    let cpu = &ceiling["cpu_us"];
    assert!(cpu["ceiling"].as_f64().unwrap() > 1.0, "{ceiling}");
    let proxy = cpu["proxy"].as_f64().unwrap();
    assert!(
        (proxy - per_record(&rest, "proxy")).abs() < 1e-6,
        "{ceiling}"
    );
    let cross = &summary["crosscheck"];
    assert!(
        cross["wrk_requests_per_s"].as_f64().unwrap() > 0.0,
        "{cross}"
    );
    assert!(
        cross["driver_requests_per_s"].as_f64().unwrap() > 0.0,
        "{cross}"
    );
    assert_eq!(cross["connections"], 8);
    // wrk ran in every produce round, paired with the driver's turn; and answered 2xx.
    let paired = cross["round_ratios"].as_array().unwrap();
    assert_eq!(paired.len(), 6, "{cross}");
    assert!(paired.iter().all(|r| r.as_f64().unwrap() > 0.0), "{cross}");
    assert_eq!(cross["interval"]["rounds"], 6, "{cross}");
    assert_eq!(cross["wrk_errors"], 0, "{cross}");
    // The environment is named; gates say what they compared.
    assert!(
        summary["environment"]["broker"]
            .as_str()
            .unwrap()
            .contains("mock"),
        "{summary}"
    );
    assert_eq!(summary["environment"]["broker_local"], true);
    let gates = summary["gates"].as_array().unwrap();
    assert_eq!(gates.len(), 5, "{gates:?}");
    let ratio_gate = gates
        .iter()
        .find(|g| g["name"] == "produce_ratio_min")
        .unwrap();
    assert!(
        ratio_gate["basis"]
            .as_str()
            .unwrap()
            .contains("lower bound"),
        "{ratio_gate}"
    );
    assert_eq!(ratio_gate["value"], interval["low"]);
    // The report: latency over time, n/a for the native consumer's unmeasured latency, the
    // environment and the answers.
    let html = std::fs::read_to_string(dir.join("index.html")).unwrap();
    for needle in [
        "Latency over time",
        "n/a",
        "Environment",
        "HTTP ceiling",
        "wrk",
    ] {
        assert!(html.contains(needle), "{needle} missing from the report");
    }
    // `gate --baseline` without a regression bound is an error (exit 2), not a silent pass.
    let gate = loadgen(&[
        "gate",
        summary_path.to_str().unwrap(),
        "--baseline",
        summary_path.to_str().unwrap(),
    ]);
    assert_eq!(gate.status.code(), Some(2), "{}", text(&gate));
    assert!(text(&gate).contains("max_regression"), "{}", text(&gate));
    std::fs::remove_dir_all(&tmp).unwrap();
}

/// An open loop with readers of both kinds (`rate_of_max`, `cross_readers`): the calibration
/// sets the rate, every record produced reaches both end-to-end readers (the REST one with its
/// two pipelined GETs and its decoding thread), and the report has what REST adds on each side
/// and the proxy's woken long polls.
#[test]
fn open_loop_scenario_end_to_end() {
    let broker = LocalBroker::start().unwrap();
    let (tmp, _dir, summary) = run_started(
        "open-loop-tiny",
        "[workload]\npartitions = 2\nrecords = 20000\nvalue_bytes = 100\n\
         records_per_request = 100\nconcurrency = 4\nconsumers = 1\nphases = [\"produce\"]\n\
         rate_of_max = 0.5\ncross_readers = true\nwarmup_ms = 100\nrounds = 1\n\
         phase_timeout_s = 60\n\
         [clients]\nnative_consumer = { \"fetch.wait.max.ms\" = \"5\" }\n\
         proxy = { \"consumer.fetch.wait.max.ms\" = \"5\" }\n",
        broker.bootstrap(),
    );
    let rate = summary["scenario"]["workload"]["rate_records_per_s"]
        .as_f64()
        .unwrap_or(0.0);
    assert!(rate > 0.0, "no calibrated rate: {summary}");
    let phases = summary["phases"].as_array().unwrap();
    for driver in ["native", "rest"] {
        let p = phases
            .iter()
            .find(|p| p["driver"] == driver && p["phase"] == "produce")
            .unwrap_or_else(|| panic!("no {driver} produce in {summary}"));
        for reader in ["end_to_end", "end_to_end_cross"] {
            assert_eq!(p[reader]["count"], 20000, "{driver} {reader}: {p}");
        }
    }
    let added = &summary["added_latency"];
    for side in ["produce_side", "consume_side"] {
        assert!(added[side]["p50_us"].is_number(), "{side}: {added}");
    }
    assert!(
        summary["long_poll_wake"]["count"].as_u64().unwrap_or(0) > 0,
        "no woken long poll counted: {}",
        summary["long_poll_wake"]
    );
    std::fs::remove_dir_all(&tmp).unwrap();
}
