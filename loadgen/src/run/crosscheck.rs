//! The REST driver against `wrk`, paired by round.

use crate::interval::Interval;
use crate::measure;
use crate::scenario::Workload;
use crate::summary::Crosscheck;

use super::produce::Round;

/// The REST driver's requests/s over `wrk`'s (the mean of its turns around the driver's)
/// against the same proxy, paired by round.
pub(super) fn crosscheck(w: &Workload, rounds: &[Round]) -> Option<Crosscheck> {
    let (mut driver, mut wrk, mut ratios, mut errors) = (Vec::new(), Vec::new(), Vec::new(), 0);
    for r in rounds {
        let Some((d, t)) = r.driver_and_wrk(w) else {
            continue;
        };
        driver.push(d);
        wrk.push(t);
        ratios.push(d / t.max(1e-9));
        errors += r.wrk.iter().map(|t| t.errors).sum::<u64>();
    }
    Some(Crosscheck {
        tool: crate::wrk::tool(w.http2_shape(), w.concurrency),
        connections: w.concurrency,
        duration_s: w.crosscheck_s,
        wrk_requests_per_s: measure::median(&wrk)?,
        wrk_errors: errors,
        driver_requests_per_s: measure::median(&driver)?,
        ratio: measure::median(&ratios)?,
        interval: Interval::of(&ratios),
        round_ratios: ratios,
    })
}
