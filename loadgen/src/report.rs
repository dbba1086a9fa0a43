//! Rendering: the terminal table and the self-contained HTML report. Gate verdicts are in
//! [`crate::gates`].

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::interval::Interval;
use crate::measure::PhaseResult;
use crate::summary::Summary;

pub use crate::summary::{CONSUME_REFERENCE, PRODUCE_REFERENCE};

/// Writes `summary.json` and `index.html` into `<root>/<scenario>-<UTC time>/`.
pub fn write(s: &Summary, root: &Path) -> anyhow::Result<PathBuf> {
    let stamp = s.started_at.replace(':', "-");
    let dir = root.join(format!("{}-{stamp}", s.scenario.name));
    std::fs::create_dir_all(&dir)?;
    write_into(s, &dir)?;
    Ok(dir)
}

pub fn write_into(s: &Summary, dir: &Path) -> anyhow::Result<()> {
    std::fs::write(dir.join("summary.json"), serde_json::to_vec_pretty(s)?)?;
    std::fs::write(dir.join("index.html"), html(s))?;
    Ok(())
}

fn mib(bytes: Option<u64>) -> String {
    bytes.map_or("n/a".into(), |b| format!("{:.1} MiB", b as f64 / 1048576.0))
}

/// A count or rate with thousands separators: `1,234,567`.
pub fn thousands(v: f64) -> String {
    if !v.is_finite() {
        return "n/a".into();
    }
    let digits = format!("{:.0}", v.abs());
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if v < 0.0 && digits != "0" {
        out.insert(0, '-');
    }
    out
}

/// A duration in µs, readable: `850 µs`, `12.3 ms`, `1.20 s`.
pub fn duration_us(us: f64) -> String {
    let sign = if us < 0.0 { "-" } else { "" };
    let a = us.abs();
    match a {
        a if a >= 1e6 => format!("{sign}{:.2} s", a / 1e6),
        a if a >= 1e4 => format!("{sign}{:.1} ms", a / 1e3),
        a if a >= 1e3 => format!("{sign}{:.2} ms", a / 1e3),
        a => format!("{sign}{a:.0} µs"),
    }
}

/// `1.23` or `n/a`.
fn opt(v: Option<f64>, decimals: usize) -> String {
    v.map_or("n/a".into(), |v| format!("{v:.decimals$}"))
}

/// A phase's latency percentile, or `n/a` when the phase measures none.
fn latency_cell(p: &PhaseResult, pick: fn(&crate::histogram::Latency) -> u64) -> String {
    if p.latency_measured() {
        thousands(pick(&p.latency) as f64)
    } else {
        "n/a".into()
    }
}

/// CPU µs per record of (proxy, broker, client), `n/a` for a process not measured.
fn cpu_cells(p: &PhaseResult) -> [String; 3] {
    let c = p.cpu.unwrap_or_default();
    [
        opt(c.proxy_us(), 2),
        opt(c.broker_us(), 2),
        opt(c.client_us(), 2),
    ]
}

/// The headline lines: ratios with intervals and rounds, CPU ratios, ceiling, cross-check,
/// added latency. Shared by the terminal and the report.
pub fn headlines(s: &Summary) -> Vec<String> {
    let w = &s.scenario.workload;
    let mut out = Vec::new();
    let rounds = |r: &[f64]| {
        r.iter()
            .map(|x| format!("{x:.2}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let interval = |i: Option<&Interval>, ratio: f64| match i {
        Some(i) if i.rounds >= 2 => i.describe(),
        _ => format!("{ratio:.2} (one round, no interval)"),
    };
    out.push(format!(
        "{}/native {}: {} (reference {PRODUCE_REFERENCE}); rounds: {}",
        w.transport(),
        w.produce_label(),
        interval(s.produce_interval.as_ref(), s.produce_ratio),
        rounds(&s.produce_round_ratios)
    ));
    if let Some(c) = s.consume_ratio {
        out.push(format!(
            "{}/native consume: {} (reference {CONSUME_REFERENCE}); rounds: {}",
            w.transport(),
            interval(s.consume_interval.as_ref(), c),
            rounds(&s.consume_round_ratios)
        ));
    }
    if s.cpu_ratios.produce.is_some() || s.cpu_ratios.consume.is_some() {
        out.push(format!(
            "CPU per record, proxy / native client: produce {}, consume {} (lower is cheaper)",
            opt(s.cpu_ratios.produce, 2),
            opt(s.cpu_ratios.consume, 2)
        ));
    }
    for peer in &s.peers {
        out.push(format!(
            "peer {}/native: produce {:.2}, consume {}",
            peer.name,
            peer.produce,
            opt(peer.consume, 2)
        ));
    }
    if let Some(c) = &s.v3_vs_v2 {
        out.push(format!(
            "v3/v2 produce (same proxy, same rounds): {}",
            interval(c.interval.as_ref(), c.ratio)
        ));
    }
    if let Some(t) = &s.short_turns {
        out.push(format!(
            "WARNING: {} of {} turns ({}) were too short for a steady rate (a window under twice \
             warmup_ms, {} ms): their rounds compare whole windows, start-up and drain included, \
             which favours whichever driver starts and drains faster; raise workload.records",
            t.short,
            t.turns,
            t.drivers.join(", "),
            2 * w.warmup_ms
        ));
    }
    if let Some(c) = &s.format_vs_binary {
        out.push(format!(
            "{} produce ratio / binary's (same proxy, same rounds): {}",
            s.scenario.workload.format.name(),
            interval(c.interval.as_ref(), c.ratio)
        ));
    }
    for c in s.ceiling.iter().chain(&s.other_ceilings) {
        // Summaries written before ceilings named their endpoint and unit were nginx's.
        let endpoint = if c.endpoint.is_empty() {
            "the proxy"
        } else {
            &c.endpoint
        };
        let unit = if c.unit.is_empty() {
            "requests/s answering a fixed reply"
        } else {
            &c.unit
        };
        let cpu = c.cpu_us.map_or(String::new(), |cpu| {
            format!(
                "; CPU per request: {} {:.1} µs, the proxy {:.1} µs",
                c.name, cpu.ceiling, cpu.proxy
            )
        });
        out.push(format!(
            "{} ceiling: {endpoint} reaches {} of {} ({} {unit}){cpu}",
            c.kind,
            interval(c.interval.as_ref(), c.fraction),
            c.name,
            thousands(c.requests_per_s)
        ));
    }
    if let Some(c) = &s.crosscheck {
        out.push(format!(
            "REST driver vs {} ({} connections, a {} s turn of every round): {} vs {} requests/s = {}; rounds: {}{}",
            c.tool,
            c.connections,
            c.duration_s,
            thousands(c.driver_requests_per_s),
            thousands(c.wrk_requests_per_s),
            interval(c.interval.as_ref(), c.ratio),
            rounds(&c.round_ratios),
            if c.wrk_errors > 0 {
                format!(" ({} wrk errors)", c.wrk_errors)
            } else {
                String::new()
            }
        ));
    }
    if let Some(w) = &s.long_poll_wake {
        if let Some(f) = w.fraction_within_1ms() {
            out.push(format!(
                "long polls the proxy woke when records reached it: {}, {:.1}% answered within 1 ms \
                 of the records' arrival",
                thousands(w.count as f64),
                f * 100.0
            ));
        }
    }
    if let Some(p) = &s.produce_requests {
        let batches = p
            .batches_per_request()
            .map(|b| format!(" in {b:.2} record batches (partitions)"))
            .unwrap_or_default();
        out.push(format!(
            "the proxy's Produce requests to Kafka over the run: {}, {:.0} records each on average{batches}",
            thousands(p.requests as f64),
            p.records_per_request()
        ));
    }
    if let Some(a) = &s.added_latency {
        out.push(format!(
            "end-to-end latency {} adds over native at {} records/s: p50 {}, p99 {}, p99.9 {}",
            w.transport(),
            thousands(a.rate_records_per_s),
            duration_us(a.p50_us),
            duration_us(a.p99_us),
            duration_us(a.p999_us)
        ));
        for (side, added) in [
            ("produce side (native readers)", a.produce_side),
            ("consume side (native producer)", a.consume_side),
        ] {
            if let Some(added) = added {
                out.push(format!(
                    "  of which the {side}: p50 {}, p99 {}, p99.9 {}",
                    duration_us(added.p50_us),
                    duration_us(added.p99_us),
                    duration_us(added.p999_us)
                ));
            }
        }
    }
    let rss_load = s.phases.iter().filter_map(|p| p.proxy_rss_max_bytes).max();
    out.push(format!(
        "proxy RSS: idle {}, under load {}",
        mib(s.proxy_rss_idle_bytes),
        mib(rss_load)
    ));
    out
}

/// The environment in one line per fact.
pub fn environment_lines(s: &Summary) -> Vec<String> {
    let e = &s.environment;
    let map = |m: &std::collections::BTreeMap<String, String>| {
        if m.is_empty() {
            "librdkafka defaults".to_string()
        } else {
            m.iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(", ")
        }
    };
    vec![
        format!(
            "broker: {} at {} ({})",
            e.broker,
            s.bootstrap_servers,
            if e.broker_local {
                "a process on this machine"
            } else {
                "not on this machine: its CPU is not accounted"
            }
        ),
        format!(
            "proxy: {} at {} ({}); produce.engine {}; settings: {}",
            e.proxy,
            s.proxy_url,
            if e.proxy_local {
                "started here"
            } else {
                "given: its CPU is not accounted"
            },
            e.produce_engine,
            if e.proxy_settings.is_empty() {
                "defaults".to_string()
            } else {
                map(&e.proxy_settings)
            }
        ),
        format!("native producer: {}", map(&e.native_producer)),
        format!("native consumer: {}", map(&e.native_consumer)),
        format!("REST driver: {}", e.rest_driver),
        format!(
            "machine: {} cores, {}; {}",
            s.machine.cores,
            mib(s.machine.memory_bytes),
            e.sharing
        ),
    ]
}

/// A fixed-width table of every phase, the ratios and the verdicts.
pub fn terminal(s: &Summary) -> String {
    let mut t = String::new();
    let _ = writeln!(
        t,
        "{:<10} {:<8} {:>12} {:>11} {:>8} {:>9} {:>10} {:>10} {:>10} {:>6} | {:>7} {:>7} {:>7}",
        "driver",
        "phase",
        "steady rec/s",
        "records/s",
        "MiB/s",
        "req/s",
        "p50 µs",
        "p99 µs",
        "p99.9 µs",
        "errors",
        "proxy",
        "broker",
        "client"
    );
    for p in &s.phases {
        let [proxy, broker, client] = cpu_cells(p);
        let _ = writeln!(
            t,
            "{:<10} {:<8} {:>12} {:>11} {:>8.2} {:>9} {:>10} {:>10} {:>10} {:>6} | {:>7} {:>7} {:>7}",
            p.driver,
            p.phase,
            p.steady_records_per_s.map_or("n/a".into(), thousands),
            thousands(p.records_per_s),
            p.mib_per_s,
            thousands(p.requests_per_s),
            latency_cell(p, |l| l.p50_us),
            latency_cell(p, |l| l.p99_us),
            latency_cell(p, |l| l.p999_us),
            p.errors,
            proxy,
            broker,
            client
        );
    }
    let _ = writeln!(
        t,
        "(latency: per REST request, per native record send-to-ack; n/a: not measured. CPU: µs per record, user+system, in the measured windows)"
    );
    for p in &s.phases {
        let lines = [
            ("schedule lag", &p.schedule_lag),
            (
                "end to end (per record, from its intended send time)",
                &p.end_to_end,
            ),
        ];
        for (what, l) in lines.iter().filter_map(|(w, l)| l.as_ref().map(|l| (w, l))) {
            let _ = writeln!(
                t,
                "{} {} {what}: p50 {}, p99 {}, p99.9 {}, max {}",
                p.driver,
                p.phase,
                duration_us(l.p50_us as f64),
                duration_us(l.p99_us as f64),
                duration_us(l.p999_us as f64),
                duration_us(l.max_us as f64)
            );
        }
    }
    for p in &s.sweep {
        let _ = writeln!(
            t,
            "sweep {:>6} B {:>5}/req {:>4} clients: {:>10} records/s p99 {:>8} µs ratio {:.2}{}",
            p.value_bytes,
            p.records_per_request,
            p.concurrency,
            thousands(p.records_per_s),
            thousands(p.p99_us as f64),
            p.ratio,
            if p.capacity { "  <- capacity" } else { "" }
        );
    }
    for line in headlines(s).iter().chain(environment_lines(s).iter()) {
        let _ = writeln!(t, "{line}");
    }
    for c in &s.checks {
        let _ = writeln!(t, "{} {}", if c.passed { "ok  " } else { "FAIL" }, c.name);
    }
    for g in &s.gates {
        let _ = writeln!(
            t,
            "{} gate {} = {:.3} (bound {:.3}; {})",
            if g.passed { "ok  " } else { "FAIL" },
            g.name,
            g.value,
            g.bound,
            g.basis
        );
    }
    t
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The capacity-sweep section: charts per value size and a table of every point.
fn sweep_html(s: &Summary) -> String {
    if s.sweep.is_empty() {
        return String::new();
    }
    let mut sizes: Vec<usize> = s.sweep.iter().map(|p| p.value_bytes).collect();
    sizes.dedup();
    let mut h = String::from("<h2>Capacity sweep</h2>");
    let bound = s.scenario.sweep.as_ref().map_or(0, |sw| sw.p99_bound_us);
    for size in sizes {
        if let Some(c) = s.sweep.iter().find(|p| p.value_bytes == size && p.capacity) {
            let _ = write!(
                h,
                "<p><b>Capacity for {size}-byte values: {:.0} records/s</b> at {} records/request and {} clients, p99 {} µs (bound {bound} µs).</p>",
                c.records_per_s, c.records_per_request, c.concurrency, c.p99_us
            );
        } else {
            let _ = write!(
                h,
                "<p><b>No point with {size}-byte values met the p99 bound of {bound} µs.</b></p>"
            );
        }
        let _ = write!(
            h,
            "<figure>{}</figure><figure>{}</figure>",
            chart(crate::charts::sweep(s, size, false)),
            chart(crate::charts::sweep(s, size, true))
        );
    }
    h.push_str("<table><tr><th>value B</th><th>records/request</th><th>clients</th><th>records/s</th><th>requests/s</th><th>p50 µs</th><th>p99 µs</th><th>REST/native</th><th>verified</th><th>capacity</th></tr>");
    for p in &s.sweep {
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{:.0}</td><td>{:.0}</td><td>{}</td><td>{}</td><td>{:.2}</td><td>{}</td><td>{}</td></tr>",
            p.value_bytes, p.records_per_request, p.concurrency, p.records_per_s, p.requests_per_s, p.p50_us, p.p99_us, p.ratio,
            if p.verified { "yes" } else { "NO" }, if p.capacity { "◀" } else { "" }
        );
    }
    h.push_str("</table>");
    h
}

/// A chart, or a visible note when it could not be drawn.
fn chart(drawn: Result<String, crate::charts::ChartError>) -> String {
    drawn.unwrap_or_else(|e| format!("<p>chart unavailable: {}</p>", esc(&e.to_string())))
}

/// The self-contained HTML report.
pub fn html(s: &Summary) -> String {
    let verdict = if s.passed() {
        ("PASS", "#2e7d32")
    } else {
        ("FAIL", "#c62828")
    };
    let li = |lines: Vec<String>| {
        lines
            .iter()
            .map(|l| format!("<li>{}</li>", esc(l)))
            .collect::<String>()
    };
    let mut h = format!(
        r#"<!doctype html><html><head><meta charset="utf-8"><title>loadgen: {name}</title>
<style>body{{font-family:system-ui,sans-serif;margin:2em;max-width:1200px;font-size:16px}}table{{border-collapse:collapse;margin:1em 0}}
td,th{{border:1px solid #ccc;padding:4px 8px;text-align:right}}th{{background:#f3f3f3}}td:first-child,td:nth-child(2){{text-align:left}}
.verdict{{color:#fff;padding:2px 10px;border-radius:4px}}pre{{background:#f7f7f7;padding:1em;overflow:auto}}li{{margin:.2em 0}}</style></head><body>
<h1>{name} <span class="verdict" style="background:{color}">{v}</span></h1>
<p>Started {started} · commit {commit} · {format} values</p>
<h2>Answers</h2><ul>{headlines}</ul>
<h2>Environment</h2><ul>{environment}</ul>
<h2>REST / native throughput</h2><figure>{ratios}</figure>
<h2>Throughput over time</h2><figure>{series}</figure>
<h2>Latency over time</h2><figure>{latency_time}</figure>
<h2>Latency by percentile</h2><figure>{latency}</figure>
{sweep}<h2>Phases</h2><p>Rates are steady state (the first {warmup} ms of each round left out), medians over rounds; CPU is µs per record, user + system, of each process in the measured windows (in nginx's rows, the proxy's column is nginx's own: its master and workers); n/a: not measured.</p>
<table><tr><th>driver</th><th>phase</th><th>steady records/s</th><th>records/s</th><th>MiB/s</th><th>requests/s</th><th>latency of</th><th>p50 µs</th><th>p90 µs</th><th>p99 µs</th><th>p99.9 µs</th><th>max µs</th><th>errors</th><th>proxy CPU µs/rec</th><th>broker CPU µs/rec</th><th>client CPU µs/rec</th><th>proxy RSS max</th></tr>"#,
        name = esc(&s.scenario.name),
        color = verdict.1,
        v = verdict.0,
        started = esc(&s.started_at),
        commit = esc(s.git_commit.as_deref().unwrap_or("n/a")),
        format = s.scenario.workload.format.name(),
        headlines = li(headlines(s)),
        environment = li(environment_lines(s)),
        ratios = chart(crate::charts::ratios(s)),
        series = chart(crate::charts::throughput(s)),
        latency_time = chart(crate::charts::latency_over_time(s)),
        latency = chart(crate::charts::latency(s)),
        sweep = sweep_html(s),
        warmup = s.scenario.workload.warmup_ms,
    );
    for p in &s.phases {
        let [proxy, broker, client] = cpu_cells(p);
        let latency_of = if p.latency_measured() {
            p.latency_of.as_str()
        } else {
            "n/a (not measured)"
        };
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.2}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{proxy}</td><td>{broker}</td><td>{client}</td><td>{}</td></tr>",
            esc(&p.driver), esc(&p.phase), p.steady_records_per_s.map_or("n/a".into(), thousands),
            thousands(p.records_per_s), p.mib_per_s, thousands(p.requests_per_s), esc(latency_of),
            latency_cell(p, |l| l.p50_us), latency_cell(p, |l| l.p90_us), latency_cell(p, |l| l.p99_us),
            latency_cell(p, |l| l.p999_us), latency_cell(p, |l| l.max_us), p.errors, mib(p.proxy_rss_max_bytes)
        );
    }
    let lags: String = s
        .phases
        .iter()
        .flat_map(|p| {
            let lag = p.schedule_lag.as_ref().map(|l| {
                format!(
                    "<li>{} {} schedule lag (open loop): p50 {}, p99 {}, max {}</li>",
                    esc(&p.driver), esc(&p.phase), duration_us(l.p50_us as f64), duration_us(l.p99_us as f64), duration_us(l.max_us as f64)
                )
            });
            let e2e = p.end_to_end.as_ref().map(|l| {
                format!(
                    "<li>{} {} end-to-end latency per record, from its intended send time to a concurrent consumer of the same kind: p50 {}, p99 {}, p99.9 {}, max {}</li>",
                    esc(&p.driver), esc(&p.phase), duration_us(l.p50_us as f64), duration_us(l.p99_us as f64), duration_us(l.p999_us as f64), duration_us(l.max_us as f64)
                )
            });
            lag.into_iter().chain(e2e)
        })
        .collect();
    let _ = write!(
        h,
        "</table><ul>{lags}</ul><h2>Checks and gates</h2>\
         <table><tr><th>name</th><th>result</th><th>detail</th></tr>"
    );
    for c in &s.checks {
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&c.name),
            if c.passed { "pass" } else { "FAIL" },
            esc(&c.detail)
        );
    }
    for g in &s.gates {
        let _ = write!(
            h,
            "<tr><td>gate {}</td><td>{}</td><td>measured {:.3} ({}), bound {:.3}</td></tr>",
            esc(&g.name),
            if g.passed { "pass" } else { "FAIL" },
            g.value,
            esc(&g.basis),
            g.bound
        );
    }
    let config = toml::to_string_pretty(&s.scenario).unwrap_or_default();
    let _ = write!(h, "</table><h2>Scenario</h2><pre>{}</pre><p>Every figure comes from <code>summary.json</code> beside this page.</p></body></html>", esc(&config));
    h
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::Scenario;

    fn summary(gates: &str) -> Summary {
        let scenario: Scenario = toml::from_str(&format!("name = 'g'\n[gates]\n{gates}")).unwrap();
        Summary::empty(scenario)
    }

    #[test]
    fn numbers_are_readable() {
        assert_eq!(thousands(1234567.4), "1,234,567");
        assert_eq!(thousands(999.0), "999");
        assert_eq!(thousands(-1234.0), "-1,234");
        assert_eq!(thousands(f64::NAN), "n/a");
        assert_eq!(duration_us(850.0), "850 µs");
        assert_eq!(duration_us(2300.0), "2.30 ms");
        assert_eq!(duration_us(37100.0), "37.1 ms");
        assert_eq!(duration_us(-1_200_000.0), "-1.20 s");
    }

    #[test]
    fn unmeasured_latency_reads_n_a() {
        let mut s = summary("");
        let rec = crate::histogram::Recorder::default();
        s.phases.push(PhaseResult::new(
            "native",
            "consume",
            10,
            1000,
            10,
            0,
            std::time::Duration::from_secs(1),
            "n/a",
            &rec,
            0,
        ));
        let t = terminal(&s);
        let row = t.lines().find(|l| l.starts_with("native")).unwrap();
        assert!(row.contains("n/a"), "{row}");
        assert!(!html(&s).contains("<td>0</td><td>0</td><td>0</td>"));
    }

    #[test]
    fn short_turns_are_counted_and_warned_about() {
        let rec = crate::histogram::Recorder::default();
        let turn = |driver: &str, steady: Option<f64>| {
            let mut p = PhaseResult::new(
                driver,
                "produce",
                10,
                1000,
                10,
                0,
                std::time::Duration::from_millis(300),
                "request",
                &rec,
                0,
            );
            p.steady_records_per_s = steady;
            p
        };
        let long = [turn("native", Some(5.0)), turn("rest", Some(4.0))];
        assert!(crate::summary::ShortTurns::of(long.iter()).is_none());
        let mixed = [
            turn("native", None),
            turn("rest", Some(4.0)),
            turn("native", None),
        ];
        let short = crate::summary::ShortTurns::of(mixed.iter()).unwrap();
        assert_eq!((short.turns, short.short), (3, 2));
        assert_eq!(short.drivers, ["native"]);
        let mut s = summary("");
        s.short_turns = Some(short);
        let t = terminal(&s);
        assert!(
            t.contains("WARNING: 2 of 3 turns (native) were too short"),
            "{t}"
        );
    }
}
