//! Gate verdicts: each of the scenario's gates against the run's figures (ratios on their
//! intervals' lower bounds, CPU ratios as upper bounds, regressions against a baseline), and
//! the failures printed for CI.

use crate::interval::Interval;
use crate::summary::{GateResult, Summary};

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
    gate(
        "rest_produce_proxy_cpu_max_us",
        g.rest_produce_proxy_cpu_max_us,
        s.phase("rest", "produce")
            .and_then(|p| p.cpu.as_ref()?.proxy_us())
            .map(|us| (us, "proxy CPU µs per REST-produced record".to_string())),
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
        "v3_vs_v2_min",
        g.v3_vs_v2_min,
        s.v3_vs_v2
            .as_ref()
            .map(|c| ratio_basis(c.ratio, c.interval.as_ref())),
        true,
    );
    gate(
        "format_vs_binary_min",
        g.format_vs_binary_min,
        s.format_vs_binary
            .as_ref()
            .map(|c| ratio_basis(c.ratio, c.interval.as_ref())),
        true,
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
            let (value, basis) = ratio_basis(c.ratio, c.interval.as_ref());
            let rates = format!(
                "driver {:.0} / wrk {:.0} requests/s",
                c.driver_requests_per_s, c.wrk_requests_per_s
            );
            (value, format!("{basis}; {rates}"))
        }),
        true,
    );
    gate(
        "long_poll_wake_within_1ms_min",
        g.long_poll_wake_within_1ms_min,
        s.long_poll_wake.as_ref().and_then(|w| {
            w.fraction_within_1ms().map(|f| {
                (
                    f,
                    format!(
                        "fraction of the proxy's {} woken long polls answered within 1 ms of \
                         their records' arrival",
                        w.count
                    ),
                )
            })
        }),
        true,
    );
    // What REST adds end to end, and with cross readers, on each side.
    let added = s.added_latency.as_ref();
    let sides = [
        ("", "", added.map(|a| (a.p50_us, a.p99_us))),
        (
            " (produce side)",
            ", native readers",
            added.and_then(|a| a.produce_side.map(|s| (s.p50_us, s.p99_us))),
        ),
        (
            " (consume side)",
            ", native producer",
            added.and_then(|a| a.consume_side.map(|s| (s.p50_us, s.p99_us))),
        ),
    ];
    for (i, (name, basis, figures)) in sides.into_iter().enumerate() {
        if i > 0 && figures.is_none() {
            continue;
        }
        for (gate_name, bound, at) in [
            ("added_p99_max_us", g.added_p99_max_us, "p99"),
            ("added_p50_max_us", g.added_p50_max_us, "p50"),
        ] {
            let value = figures.map(|(p50, p99)| if at == "p99" { p99 } else { p50 });
            gate(
                &format!("{gate_name}{name}"),
                bound,
                value.map(|v| (v, format!("end-to-end {at}, REST minus native{basis}, µs"))),
                false,
            );
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::Scenario;

    fn summary(gates: &str) -> Summary {
        let scenario: Scenario = toml::from_str(&format!("name = 'g'\n[gates]\n{gates}")).unwrap();
        Summary::empty(scenario)
    }

    #[test]
    fn ratio_gates_compare_the_intervals_lower_bound_and_say_so() {
        let mut s = summary("produce_ratio_min = 0.9");
        s.produce_round_ratios = vec![0.8, 1.0, 1.0, 1.1, 1.0, 1.0];
        s.produce_interval = Interval::of(&s.produce_round_ratios);
        s.produce_ratio = 1.0;
        let g = &evaluate_gates(&s, None)[0];
        assert_eq!(g.value, 0.8, "the lower bound, not the median");
        assert!(!g.passed);
        assert!(g.basis.contains("lower bound"), "{}", g.basis);
        // One round: the ratio itself, said so.
        s.produce_interval = Interval::of(&[1.0]);
        let g = &evaluate_gates(&s, None)[0];
        assert!(g.passed && g.basis.contains("single round"), "{g:?}");
    }

    #[test]
    fn a_gate_on_something_not_measured_fails() {
        let s = summary(
            "consume_ratio_min = 0.2\nproduce_cpu_ratio_max = 2.0\nadded_p99_max_us = 1000.0",
        );
        let gates = evaluate_gates(&s, None);
        assert_eq!(gates.len(), 3);
        assert!(
            gates
                .iter()
                .all(|g| !g.passed && g.basis.contains("not measured")),
            "{gates:?}"
        );
    }

    #[test]
    fn cpu_gates_are_upper_bounds() {
        let mut s = summary("produce_cpu_ratio_max = 1.0\nconsume_cpu_ratio_max = 1.0");
        s.cpu_ratios = crate::summary::CpuRatios {
            produce: Some(0.5),
            consume: Some(1.5),
        };
        let gates = evaluate_gates(&s, None);
        assert!(gates[0].passed);
        assert!(!gates[1].passed);
    }
}
