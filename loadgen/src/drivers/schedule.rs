//! Open-loop pacing. In an open-loop run every send has an intended time on a fixed-rate
//! schedule, and latency is measured from that time, not from when the send actually happened: a
//! stalled system cannot hide its stall by slowing the load down (coordinated omission). How late
//! sends actually were is reported as the schedule lag.

use std::time::{Duration, Instant};

/// The send times of one stream of requests.
#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    start: Instant,
    /// None: closed loop (send as soon as the previous request completed).
    every: Option<Duration>,
    offset: Duration,
}

impl Schedule {
    /// A closed-loop stream.
    pub fn closed(start: Instant) -> Self {
        Schedule {
            start,
            every: None,
            offset: Duration::ZERO,
        }
    }

    /// Stream `index` of `streams` sharing `per_second` sends per second, staggered evenly.
    pub fn open(start: Instant, per_second: f64, index: usize, streams: usize) -> Self {
        let total_gap = Duration::from_secs_f64(1.0 / per_second);
        Schedule {
            start,
            every: Some(total_gap * streams as u32),
            offset: total_gap * index as u32,
        }
    }

    pub fn is_open(&self) -> bool {
        self.every.is_some()
    }

    /// The intended time of send `k` of this stream (now, for a closed loop).
    pub fn intended(&self, k: u64) -> Instant {
        match self.every {
            Some(every) => self.start + self.offset + every.mul_f64(k as f64),
            None => Instant::now(),
        }
    }

    /// Waits until send `k` is due and returns its intended time.
    pub async fn wait(&self, k: u64) -> Instant {
        let at = self.intended(k);
        if self.is_open() {
            tokio::time::sleep_until(at.into()).await;
        }
        at
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_interleave_at_the_total_rate() {
        let t0 = Instant::now();
        // 1000 sends/s over 4 streams: each stream every 4 ms, offset by 1 ms.
        let s: Vec<Schedule> = (0..4).map(|i| Schedule::open(t0, 1000.0, i, 4)).collect();
        let mut times: Vec<Duration> = (0..3)
            .flat_map(|k| s.iter().map(move |x| x.intended(k) - t0))
            .collect();
        times.sort();
        let ms: Vec<u128> = times.iter().map(|d| d.as_micros()).collect();
        assert_eq!(ms, (0..12).map(|i| i * 1000).collect::<Vec<u128>>());
        assert!(!Schedule::closed(t0).is_open());
    }
}
