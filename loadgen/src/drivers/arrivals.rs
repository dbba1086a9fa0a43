//! Records arriving at the far end of a relay (an MQTT broker, and the proxy's MQTT source
//! behind it): which ids came, how many came twice, the checksum of the distinct values, and
//! per record the time from its publish's write to its arrival.
//!
//! A relay acknowledges the publisher long before the record is where it is going, so the
//! publisher's acknowledgements cannot end the measured window; the arrivals do.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::histogram::Recorder;
use crate::payload::value_checksum;
use crate::progress::Progress;

/// When each record id's publish was written, shared by the publishers (who stamp) and the
/// reader at the far end (who measures from it).
pub struct SendTimes {
    base: Instant,
    /// Nanoseconds after `base` plus one (0: not sent yet), by record id.
    ns: Vec<AtomicU64>,
}

impl SendTimes {
    pub fn new(records: u64) -> Arc<SendTimes> {
        Arc::new(SendTimes {
            base: Instant::now(),
            ns: (0..records).map(|_| AtomicU64::new(0)).collect(),
        })
    }

    /// Records `ids` were written at `at`.
    pub fn stamp(&self, ids: std::ops::Range<u64>, at: Instant) {
        let ns = at.saturating_duration_since(self.base).as_nanos() as u64 + 1;
        for id in ids {
            if let Some(t) = self.ns.get(id as usize) {
                t.store(ns, Ordering::Relaxed);
            }
        }
    }

    /// When record `id` was written, once it was.
    pub fn get(&self, id: u64) -> Option<Instant> {
        match self.ns.get(id as usize)?.load(Ordering::Relaxed) {
            0 => None,
            ns => Some(self.base + Duration::from_nanos(ns - 1)),
        }
    }
}

/// What arrived, as it arrives.
pub struct Arrivals {
    expected: u64,
    /// One bit per record id.
    seen: Vec<u64>,
    pub distinct: u64,
    pub duplicates: u64,
    /// Values whose first eight bytes are not an id of the phase.
    pub strangers: u64,
    /// [`value_checksum`] summed over the distinct values.
    pub checksum: u64,
    pub bytes: u64,
    pub latency: Recorder,
    /// The last distinct record's arrival.
    pub last: Option<Instant>,
    /// The last arrival of anything.
    last_any: Option<Instant>,
    sent: Arc<SendTimes>,
    progress: Arc<Progress>,
}

impl Arrivals {
    pub fn new(expected: u64, sent: Arc<SendTimes>, progress: Arc<Progress>) -> Arrivals {
        Arrivals {
            expected,
            seen: vec![0; (expected as usize).div_ceil(64)],
            distinct: 0,
            duplicates: 0,
            strangers: 0,
            checksum: 0,
            bytes: 0,
            latency: Recorder::default(),
            last: None,
            last_any: None,
            sent,
            progress,
        }
    }

    /// One arrival of `value` at `now`.
    pub fn take(&mut self, value: &[u8], now: Instant) {
        self.last_any = Some(now);
        let Some(id) = value
            .get(..8)
            .map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")))
            .filter(|&id| id < self.expected)
        else {
            self.strangers += 1;
            return;
        };
        let (word, bit) = ((id / 64) as usize, 1u64 << (id % 64));
        if self.seen[word] & bit != 0 {
            self.duplicates += 1;
            return;
        }
        self.seen[word] |= bit;
        self.distinct += 1;
        self.checksum = self.checksum.wrapping_add(value_checksum(value));
        self.bytes += value.len() as u64;
        self.last = Some(now);
        self.progress.add(1);
        if let Some(at) = self.sent.get(id) {
            let took = now.saturating_duration_since(at);
            self.latency.record(took);
            if id.is_multiple_of(8) {
                self.progress.latency(took);
            }
        }
    }

    /// Every record arrived.
    pub fn complete(&self) -> bool {
        self.distinct >= self.expected
    }

    pub fn missing(&self) -> u64 {
        self.expected - self.distinct
    }
}

/// When a reader at the far end stops: every record arrived, or the publishers are done and
/// nothing has come for `patience` (a loss: the rest is not coming), or the deadline.
pub struct Until {
    /// Set once every publisher is done.
    pub published: Arc<std::sync::atomic::AtomicBool>,
    pub patience: Duration,
    /// The window's start (the idle time's origin until something arrives).
    pub since: Instant,
    pub deadline: Instant,
}

impl Until {
    pub fn reached(&self, arrivals: &Arrivals) -> bool {
        let idle = arrivals.last_any.unwrap_or(self.since).elapsed();
        arrivals.complete()
            || Instant::now() >= self.deadline
            || (self.published.load(Ordering::Acquire) && idle >= self.patience)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::payload::make_value;

    #[test]
    fn counts_distinct_duplicates_and_strangers_and_sums_distinct_values() {
        let sent = SendTimes::new(4);
        let t0 = Instant::now();
        sent.stamp(0..2, t0);
        let mut a = Arrivals::new(4, sent.clone(), Arc::new(Progress::default()));
        let later = t0 + Duration::from_millis(3);
        for id in [0, 1, 1, 3] {
            a.take(&make_value(id, 32), later);
        }
        a.take(&make_value(9, 32), later);
        a.take(b"short", later);
        assert_eq!((a.distinct, a.duplicates, a.strangers), (3, 1, 2));
        assert_eq!(a.missing(), 1);
        assert!(!a.complete());
        let want = [0, 1, 3].iter().fold(0u64, |s, &id| {
            s.wrapping_add(value_checksum(&make_value(id, 32)))
        });
        assert_eq!(a.checksum, want);
        // Latency only for ids whose send was stamped: 0 and 1, 3 ms each.
        let l = a.latency.summary();
        assert_eq!(l.count, 2);
        assert!((2900..=3100).contains(&l.p50_us), "{l:?}");
        a.take(&make_value(2, 32), later);
        assert!(a.complete());
        assert!(sent.get(3).is_none());
    }
}
