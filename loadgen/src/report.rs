//! Rendering: the terminal table, the self-contained HTML report, and gate verdicts.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::interval::Interval;
use crate::measure::{GateResult, Summary};

/// The seed's reference ratios, drawn on every ratio chart.
pub const PRODUCE_REFERENCE: f64 = 0.66;
pub const CONSUME_REFERENCE: f64 = 0.20;

/// What a ratio gate compares: the lower bound of the median's interval when there are rounds
/// to have one, else the single ratio; and the words the report uses for it.
fn ratio_basis(ratio: f64, interval: Option<&Interval>) -> (f64, String) {
    match interval {
        Some(i) if i.rounds >= 2 => (
            i.low,
            format!(
                "lower bound of the median's {:.0}% interval over {} rounds (median {:.3})",
                (i.confidence * 100.0).floor(),
                i.rounds,
                i.median
            ),
        ),
        _ => (ratio, "the single round's ratio (no interval)".to_string()),
    }
}

/// Evaluates the scenario's gates; regression gates need a `baseline` summary. A gate whose
/// figure the run did not measure fails, saying so.
pub fn evaluate_gates(s: &Summary, baseline: Option<&Summary>) -> Vec<GateResult> {
    let g = &s.scenario.gates;
    let mut out = Vec::new();
    let mut gate = |name: &str, bound: Option<f64>, measured: Option<(f64, String)>, min: bool| {
        let Some(bound) = bound else { return };
        out.push(match measured {
            Some((value, basis)) => GateResult {
                name: name.to_string(),
                value,
                bound,
                passed: if min { value >= bound } else { value <= bound },
                basis,
            },
            None => GateResult {
                name: name.to_string(),
                value: 0.0,
                bound,
                passed: false,
                basis: "not measured by this run".to_string(),
            },
        });
    };
    gate(
        "produce_ratio_min",
        g.produce_ratio_min,
        Some(ratio_basis(s.produce_ratio, s.produce_interval.as_ref())),
        true,
    );
    gate(
        "consume_ratio_min",
        g.consume_ratio_min,
        s.consume_ratio
            .map(|r| ratio_basis(r, s.consume_interval.as_ref())),
        true,
    );
    let steady = |driver: &str, phase: &str| {
        s.phase(driver, phase)
            .map(|p| (p.rate(), "steady records/s, rounds' median".to_string()))
    };
    gate(
        "rest_produce_min_records_per_s",
        g.rest_produce_min_records_per_s,
        steady("rest", "produce"),
        true,
    );
    gate(
        "rest_consume_min_records_per_s",
        g.rest_consume_min_records_per_s,
        steady("rest", "consume"),
        true,
    );
    let p99 = |phase: &str| {
        s.phase("rest", phase)
            .filter(|p| p.latency_measured())
            .map(|p| (p.latency.p99_us as f64, "p99 µs per request".to_string()))
    };
    gate(
        "rest_produce_p99_max_us",
        g.rest_produce_p99_max_us.map(|b| b as f64),
        p99("produce"),
        false,
    );
    gate(
        "rest_consume_p99_max_us",
        g.rest_consume_p99_max_us.map(|b| b as f64),
        p99("consume"),
        false,
    );
    let cpu = |r: Option<f64>| {
        r.map(|r| {
            (
                r,
                "proxy CPU µs per record / native client CPU µs per record".to_string(),
            )
        })
    };
    gate(
        "produce_cpu_ratio_max",
        g.produce_cpu_ratio_max,
        cpu(s.cpu_ratios.produce),
        false,
    );
    gate(
        "consume_cpu_ratio_max",
        g.consume_cpu_ratio_max,
        cpu(s.cpu_ratios.consume),
        false,
    );
    gate(
        "ceiling_fraction_min",
        g.ceiling_fraction_min,
        s.ceiling
            .as_ref()
            .map(|c| ratio_basis(c.fraction, c.interval.as_ref())),
        true,
    );
    gate(
        "driver_vs_wrk_min",
        g.driver_vs_wrk_min,
        s.crosscheck.as_ref().map(|c| {
            (
                c.ratio,
                format!(
                    "driver {:.0} / wrk {:.0} requests/s",
                    c.driver_requests_per_s, c.wrk_requests_per_s
                ),
            )
        }),
        true,
    );
    gate(
        "added_p99_max_us",
        g.added_p99_max_us,
        s.added_latency.as_ref().map(|a| {
            (
                a.p99_us,
                "end-to-end p99, REST minus native, µs".to_string(),
            )
        }),
        false,
    );
    if let (Some(max), Some(base)) = (g.max_regression, baseline) {
        for p in &s.phases {
            if let Some(before) = base.phase(&p.driver, &p.phase) {
                let name = format!("max_regression {} {}", p.driver, p.phase);
                gate(
                    &name,
                    Some(before.rate() * (1.0 - max)),
                    Some((
                        p.rate(),
                        format!(
                            "steady records/s against the baseline's {:.0} less {:.0}%",
                            before.rate(),
                            max * 100.0
                        ),
                    )),
                    true,
                );
            }
        }
    }
    out
}

/// Prints one line per failed gate or check; true when everything passed.
pub fn print_failures(s: &Summary) -> bool {
    for g in s.gates.iter().filter(|g| !g.passed) {
        eprintln!(
            "GATE FAILED {}: measured {:.3}, bound {:.3}",
            g.name, g.value, g.bound
        );
    }
    for c in s.checks.iter().filter(|c| !c.passed) {
        eprintln!("CHECK FAILED {}: {}", c.name, c.detail);
    }
    s.passed()
}

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
    bytes.map_or("-".into(), |b| format!("{:.1} MiB", b as f64 / 1048576.0))
}

/// A fixed-width table of every phase, the ratios and the verdicts.
pub fn terminal(s: &Summary) -> String {
    let mut t = String::new();
    let _ = writeln!(
        t,
        "{:<8} {:<8} {:>12} {:>12} {:>9} {:>10} {:>10} {:>10} {:>10} {:>7}",
        "driver",
        "phase",
        "steady rec/s",
        "records/s",
        "MiB/s",
        "req/s",
        "p50 µs",
        "p99 µs",
        "p99.9 µs",
        "errors"
    );
    for p in &s.phases {
        let _ = writeln!(
            t,
            "{:<8} {:<8} {:>12} {:>12.0} {:>9.2} {:>10.0} {:>10} {:>10} {:>10} {:>7}",
            p.driver,
            p.phase,
            p.steady_records_per_s
                .map_or("-".into(), |r| format!("{r:.0}")),
            p.records_per_s,
            p.mib_per_s,
            p.requests_per_s,
            p.latency.p50_us,
            p.latency.p99_us,
            p.latency.p999_us,
            p.errors
        );
    }
    let consume = s
        .consume_ratio
        .map_or("-".to_string(), |r| format!("{r:.2}"));
    for p in &s.phases {
        let lines = [
            ("schedule lag", &p.schedule_lag),
            ("end to end", &p.end_to_end),
        ];
        for (what, l) in lines.iter().filter_map(|(w, l)| l.as_ref().map(|l| (w, l))) {
            let _ = writeln!(
                t,
                "{} {} {what}: p50 {} µs, p99 {} µs, max {} µs",
                p.driver, p.phase, l.p50_us, l.p99_us, l.max_us
            );
        }
    }
    for p in &s.sweep {
        let _ =
            writeln!(
            t,
            "sweep {:>6} B {:>5}/req {:>4} clients: {:>10.0} records/s p99 {:>8} µs ratio {:.2}{}",
            p.value_bytes, p.records_per_request, p.concurrency, p.records_per_s, p.p99_us, p.ratio,
            if p.capacity { "  <- capacity" } else { "" }
        );
    }
    for peer in &s.peers {
        let consume = peer.consume.map_or("-".to_string(), |r| format!("{r:.2}"));
        let _ = writeln!(
            t,
            "peer {}/native: produce {:.2}, consume {consume}",
            peer.name, peer.produce
        );
    }
    if s.produce_round_ratios.len() > 1 {
        let rounds: Vec<String> = s
            .produce_round_ratios
            .iter()
            .map(|r| format!("{r:.2}"))
            .collect();
        let _ = writeln!(
            t,
            "produce ratio by round: {} (median used)",
            rounds.join(", ")
        );
    }
    let _ = writeln!(
        t,
        "{}/native: {} {:.2} (reference {PRODUCE_REFERENCE}), consume {consume} (reference {CONSUME_REFERENCE})",
        s.scenario.workload.transport(),
        s.scenario.workload.produce_label(),
        s.produce_ratio
    );
    let rss_load = s.phases.iter().filter_map(|p| p.proxy_rss_max_bytes).max();
    let _ = writeln!(
        t,
        "proxy RSS: idle {}, under load {}",
        mib(s.proxy_rss_idle_bytes),
        mib(rss_load)
    );
    for c in &s.checks {
        let _ = writeln!(t, "{} {}", if c.passed { "ok  " } else { "FAIL" }, c.name);
    }
    for g in &s.gates {
        let _ = writeln!(
            t,
            "{} gate {} = {:.3} (bound {:.3})",
            if g.passed { "ok  " } else { "FAIL" },
            g.name,
            g.value,
            g.bound
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
fn chart(drawn: Result<String, String>) -> String {
    drawn.unwrap_or_else(|e| format!("<p>chart unavailable: {}</p>", esc(&e)))
}

/// The self-contained HTML report.
pub fn html(s: &Summary) -> String {
    let verdict = if s.passed() {
        ("PASS", "#2e7d32")
    } else {
        ("FAIL", "#c62828")
    };
    let mut h = format!(
        r#"<!doctype html><html><head><meta charset="utf-8"><title>loadgen: {name}</title>
<style>body{{font-family:system-ui,sans-serif;margin:2em;max-width:1100px}}table{{border-collapse:collapse;margin:1em 0}}
td,th{{border:1px solid #ccc;padding:4px 8px;text-align:right}}th{{background:#f3f3f3}}td:first-child,td:nth-child(2){{text-align:left}}
.verdict{{color:#fff;padding:2px 10px;border-radius:4px}}pre{{background:#f7f7f7;padding:1em;overflow:auto}}</style></head><body>
<h1>{name} <span class="verdict" style="background:{color}">{v}</span></h1>
<p>Started {started} · commit {commit} · {cores} cores · {mem} · broker {broker} · proxy {proxy} · {format} values</p>
<h2>REST / native throughput</h2><figure>{ratios}</figure>
<h2>Throughput over time</h2><figure>{series}</figure>
<h2>Latency</h2><figure>{latency}</figure>
{sweep}<h2>Phases</h2><table><tr><th>driver</th><th>phase</th><th>steady records/s</th><th>records/s</th><th>MiB/s</th><th>requests/s</th><th>latency of</th><th>p50 µs</th><th>p90 µs</th><th>p99 µs</th><th>p99.9 µs</th><th>max µs</th><th>errors</th><th>proxy RSS max</th></tr>"#,
        name = esc(&s.scenario.name),
        color = verdict.1,
        v = verdict.0,
        started = esc(&s.started_at),
        commit = esc(s.git_commit.as_deref().unwrap_or("-")),
        cores = s.machine.cores,
        mem = mib(s.machine.memory_bytes),
        broker = esc(&s.bootstrap_servers),
        proxy = esc(&s.proxy_url),
        format = s.scenario.workload.format.name(),
        ratios = chart(crate::charts::ratios(s)),
        series = chart(crate::charts::throughput(s)),
        latency = chart(crate::charts::latency(s)),
        sweep = sweep_html(s),
    );
    for p in &s.phases {
        let l = &p.latency;
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{:.0}</td><td>{:.2}</td><td>{:.0}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            p.driver, p.phase, p.steady_records_per_s.map_or("-".into(), |r| format!("{r:.0}")),
            p.records_per_s, p.mib_per_s, p.requests_per_s, esc(&p.latency_of),
            l.p50_us, l.p90_us, l.p99_us, l.p999_us, l.max_us, p.errors, mib(p.proxy_rss_max_bytes)
        );
    }
    let lags: String = s
        .phases
        .iter()
        .flat_map(|p| {
            let lag = p.schedule_lag.as_ref().map(|l| {
                format!(
                    "<p>{} {} schedule lag (open loop): p50 {} µs, p99 {} µs, max {} µs</p>",
                    p.driver, p.phase, l.p50_us, l.p99_us, l.max_us
                )
            });
            let e2e = p.end_to_end.as_ref().map(|l| {
                format!(
                    "<p>{} {} end-to-end latency, record timestamp to a concurrent consumer: p50 {} µs, p99 {} µs, max {} µs</p>",
                    p.driver, p.phase, l.p50_us, l.p99_us, l.max_us
                )
            });
            lag.into_iter().chain(e2e)
        })
        .collect();
    let rounds: Vec<String> = s
        .produce_round_ratios
        .iter()
        .map(|r| format!("{r:.3}"))
        .collect();
    let _ = write!(
        h,
        "</table>{lags}<p>Produce ratio by round (alternating drivers; the median is used): {}</p>\
         <p>Proxy resident memory when idle: {}</p><h2>Checks and gates</h2>\
         <table><tr><th>name</th><th>result</th><th>detail</th></tr>",
        rounds.join(", "),
        mib(s.proxy_rss_idle_bytes)
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
            "<tr><td>gate {}</td><td>{}</td><td>measured {:.3}, bound {:.3}</td></tr>",
            esc(&g.name),
            if g.passed { "pass" } else { "FAIL" },
            g.value,
            g.bound
        );
    }
    let config = toml::to_string_pretty(&s.scenario).unwrap_or_default();
    let _ = write!(h, "</table><h2>Scenario</h2><pre>{}</pre><p>Every figure comes from <code>summary.json</code> beside this page.</p></body></html>", esc(&config));
    h
}
