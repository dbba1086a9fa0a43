//! When rounds stop.

use crate::interval::enough_rounds;
use crate::scenario::Workload;

/// Whether the rounds can stop: the interval settled (or the budget is spent), after an even
/// number of rounds so that each driver went first equally often.
pub(super) fn stop_rounds(ratios: &[f64], w: &Workload) -> bool {
    let (n, max) = (ratios.len(), w.max_rounds() as usize);
    n >= max || (n % 2 == 0 && enough_rounds(ratios, w.rounds as usize, max, w.ci_half_width))
}
