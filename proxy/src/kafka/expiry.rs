//! Deadlines for things that are used often and expire rarely (consumer instances).
//!
//! A min-heap holds one entry per item. Using an item only bumps its own last-used time, never
//! the heap, so a use is O(1). A sweep pops only the entries that are due and re-queues those used
//! since at their new deadline, so its cost scales with what is due, not with how many items exist.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// What a sweep learns about a due entry.
pub enum Due {
    /// The item is gone (or replaced): drop the entry.
    Gone,
    /// Still alive: check again at this deadline.
    Later(u64),
    /// Expired: drop the entry and expire the item.
    Expired,
}

/// Deadlines in ms, each tagged with the item's unique id and key.
pub struct ExpiryQueue<K> {
    heap: BinaryHeap<Reverse<(u64, u64, K)>>,
}

impl<K: Ord> Default for ExpiryQueue<K> {
    fn default() -> Self {
        ExpiryQueue {
            heap: BinaryHeap::new(),
        }
    }
}

impl<K: Ord> ExpiryQueue<K> {
    pub fn push(&mut self, deadline_ms: u64, id: u64, key: K) {
        self.heap.push(Reverse((deadline_ms, id, key)));
    }

    pub fn len(&self) -> usize {
        self.heap.len()
    }

    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }

    pub fn clear(&mut self) {
        self.heap.clear();
    }

    /// Visits every entry due at `now_ms`; `check` says what became of its item. Returns the keys
    /// of expired items and how many entries were visited.
    pub fn sweep(&mut self, now_ms: u64, mut check: impl FnMut(u64, &K) -> Due) -> (Vec<K>, usize) {
        let mut expired = Vec::new();
        let mut visited = 0;
        let mut requeue = Vec::new();
        while self
            .heap
            .peek()
            .is_some_and(|Reverse((deadline, _, _))| *deadline <= now_ms)
        {
            let Some(Reverse((_, id, key))) = self.heap.pop() else {
                break;
            };
            visited += 1;
            match check(id, &key) {
                Due::Gone => {}
                Due::Later(deadline) => requeue.push(Reverse((deadline.max(now_ms + 1), id, key))),
                Due::Expired => expired.push(key),
            }
        }
        self.heap.extend(requeue);
        (expired, visited)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 10,000 instances, constantly used, 10 of them idle: a sweep visits only the due entries,
    /// and the instances that stay in use cost nothing until their own deadline comes round.
    #[test]
    fn sweeps_cost_what_is_due_not_what_exists() {
        const N: u64 = 10_000;
        const TIMEOUT: u64 = 300_000;
        let mut last_used = vec![0u64; N as usize];
        let mut q = ExpiryQueue::default();
        for id in 0..N {
            q.push(TIMEOUT, id, id);
        }
        let idle = |id: u64| id % 1_000 == 7;
        // Every second for just over one timeout, every busy instance is used.
        let mut visits = 0;
        let mut expired = Vec::new();
        for second in 1..=301u64 {
            let now = second * 1_000;
            for id in (0..N).filter(|id| !idle(*id)) {
                last_used[id as usize] = now;
            }
            let (gone, visited) = q.sweep(now, |id, _| {
                let due = last_used[id as usize] + TIMEOUT;
                if due > now {
                    Due::Later(due)
                } else {
                    Due::Expired
                }
            });
            visits += visited;
            expired.extend(gone);
        }
        expired.sort();
        assert_eq!(expired, (0..N).filter(|id| idle(*id)).collect::<Vec<_>>());
        // Each instance was visited once (at its first deadline), not once per sweep.
        assert_eq!(visits, N as usize);
        assert_eq!(q.len(), (N - 10) as usize, "one entry per live instance");
    }

    #[test]
    fn gone_entries_are_dropped() {
        let mut q = ExpiryQueue::default();
        q.push(5, 1, "a");
        q.push(50, 2, "b");
        let (expired, visited) = q.sweep(10, |_, _| Due::Gone);
        assert!(expired.is_empty());
        assert_eq!((visited, q.len()), (1, 1));
    }
}
