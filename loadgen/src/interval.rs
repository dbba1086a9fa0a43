//! Confidence intervals for the median of a run's round ratios, and the rule that ends the
//! rounds: repeat until the median's 95% interval is within ±`half_width` of it, or the round
//! budget is spent.
//!
//! The interval is distribution-free: for n rounds sorted, [x(k), x(n+1-k)] holds the true
//! median with probability 1 - 2·P(Binomial(n, ½) < k), and k is the largest rank for which that
//! is at least 95%. Nothing is assumed about how ratios scatter (a noisy machine gives skewed,
//! heavy-tailed ratios). Fewer than 6 rounds cannot reach 95%: the interval is then the whole
//! range, with the confidence it does have.

use serde::{Deserialize, Serialize};

/// The confidence every interval aims for.
pub const CONFIDENCE: f64 = 0.95;

/// A median and its confidence interval over rounds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Interval {
    pub median: f64,
    pub low: f64,
    pub high: f64,
    /// The probability that [low, high] holds the true median (at least 0.95 from 6 rounds).
    pub confidence: f64,
    pub rounds: usize,
}

impl Interval {
    /// The interval of `values`' median; None without values.
    pub fn of(values: &[f64]) -> Option<Interval> {
        let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
        if v.is_empty() {
            return None;
        }
        v.sort_by(f64::total_cmp);
        let n = v.len();
        let median = if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        };
        // Largest k (1-based) with coverage 1 - 2·P(B < k) >= 95%; k = 1 (the range) otherwise.
        let mut k = 1;
        let mut coverage = coverage_at(n, 1);
        for candidate in 2..=n.div_ceil(2) {
            let c = coverage_at(n, candidate);
            if c >= CONFIDENCE {
                k = candidate;
                coverage = c;
            } else {
                break;
            }
        }
        Some(Interval {
            median,
            low: v[k - 1],
            high: v[n - k],
            confidence: coverage,
            rounds: n,
        })
    }

    /// The larger distance from the median to a bound, relative to the median.
    pub fn relative_half_width(&self) -> f64 {
        if self.median == 0.0 {
            return f64::INFINITY;
        }
        (self.median - self.low).max(self.high - self.median) / self.median.abs()
    }

    /// Whether the interval is a 95% one within ±`half_width` of the median.
    pub fn settled(&self, half_width: f64) -> bool {
        self.confidence >= CONFIDENCE && self.relative_half_width() <= half_width
    }

    /// `1.02 [0.98, 1.05] 95%, 8 rounds`.
    pub fn describe(&self) -> String {
        format!(
            "{:.2} [{:.2}, {:.2}] {:.0}%, {} round{}",
            self.median,
            self.low,
            self.high,
            (self.confidence * 100.0).floor(),
            self.rounds,
            if self.rounds == 1 { "" } else { "s" }
        )
    }
}

/// The coverage of [x(k), x(n+1-k)]: 1 - 2·P(Binomial(n, ½) <= k - 1) (0 for one value).
fn coverage_at(n: usize, k: usize) -> f64 {
    let mut below = 0.0;
    let mut term = 0.5f64.powi(n as i32); // P(B = 0)
    for i in 0..k {
        below += term;
        term *= (n - i) as f64 / (i + 1) as f64;
    }
    (1.0 - 2.0 * below).max(0.0)
}

/// Whether rounds should stop: at least `min` rounds and either the interval settled or `max`
/// rounds done.
pub fn enough_rounds(values: &[f64], min: usize, max: usize, half_width: f64) -> bool {
    let n = values.len();
    n >= max || (n >= min && Interval::of(values).is_some_and(|i| i.settled(half_width)))
}

/// The coefficient of variation (standard deviation over mean) of several runs' figures.
pub fn coefficient_of_variation(values: &[f64]) -> Option<f64> {
    let n = values.len();
    if n < 2 {
        return None;
    }
    let mean = values.iter().sum::<f64>() / n as f64;
    let var = values.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
    Some(var.sqrt() / mean)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_statistic_coverages_match_the_binomial_tables() {
        // n = 6: [x1, x6] covers 1 - 2/64 = 96.9%; n = 5 only 93.75%.
        assert!((coverage_at(6, 1) - 0.96875).abs() < 1e-12);
        assert!((coverage_at(5, 1) - 0.9375).abs() < 1e-12);
        // n = 9: [x2, x8] covers 1 - 2·10/512 = 96.1%; [x3, x7] only 82%.
        assert!((coverage_at(9, 2) - (1.0 - 20.0 / 512.0)).abs() < 1e-12);
        let i = Interval::of(&[9.0, 1.0, 8.0, 2.0, 7.0, 3.0, 6.0, 4.0, 5.0]).unwrap();
        assert_eq!((i.low, i.median, i.high), (2.0, 5.0, 8.0));
        assert!(i.confidence >= CONFIDENCE);
        // n = 17: k = 5 (coverage 95.1%).
        let v: Vec<f64> = (1..=17).map(f64::from).collect();
        let i = Interval::of(&v).unwrap();
        assert_eq!((i.low, i.high), (5.0, 13.0));
    }

    #[test]
    fn too_few_rounds_never_settle_however_close() {
        let i = Interval::of(&[1.0, 1.0, 1.0]).unwrap();
        assert_eq!((i.low, i.high), (1.0, 1.0));
        assert!((i.confidence - 0.75).abs() < 1e-12);
        assert!(!i.settled(0.05));
        assert!(Interval::of(&[1.0]).unwrap().confidence == 0.0);
        assert!(Interval::of(&[]).is_none());
        assert!(Interval::of(&[f64::NAN]).is_none());
    }

    #[test]
    fn rounds_stop_when_settled_or_at_the_budget() {
        let tight = [1.00, 1.01, 0.99, 1.02, 0.98, 1.00];
        assert!(enough_rounds(&tight, 6, 12, 0.05));
        assert!(
            !enough_rounds(&tight[..5], 3, 12, 0.05),
            "5 rounds reach 94% only"
        );
        let wide = [0.64, 0.75, 0.90, 0.70, 0.85, 0.60];
        assert!(!enough_rounds(&wide, 6, 12, 0.05));
        assert!(enough_rounds(&wide, 6, 6, 0.05), "the budget is spent");
        let i = Interval::of(&wide).unwrap();
        assert!(i.relative_half_width() > 0.05);
        assert!(
            i.describe().ends_with("[0.60, 0.90] 96%, 6 rounds"),
            "{}",
            i.describe()
        );
    }

    #[test]
    fn coefficient_of_variation_of_runs() {
        assert_eq!(coefficient_of_variation(&[1.0]), None);
        let cv = coefficient_of_variation(&[1.0, 1.1, 0.9]).unwrap();
        assert!((cv - 0.1).abs() < 1e-9, "{cv}");
    }
}
