//! The acknowledgement window of one connection to a remote broker: QoS 1 and 2 messages in
//! arrival order, each waiting for Kafka's outcome. MQTT wants acknowledgements in the order
//! the messages came (3.1.1 §4.6), and the broker must not forget a message Kafka has not
//! taken, so a message is acknowledged once it and every message before it are in Kafka.

use std::collections::VecDeque;

/// Messages (of type `M`) numbered from 0 in arrival order, with their outcomes so far.
pub struct Window<M> {
    /// The number of the front message.
    front: u64,
    waiting: VecDeque<(M, bool)>,
}

impl<M> Window<M> {
    pub fn new() -> Self {
        Window {
            front: 0,
            waiting: VecDeque::new(),
        }
    }

    /// Adds a message; its number.
    pub fn push(&mut self, message: M) -> u64 {
        self.waiting.push_back((message, false));
        self.front + self.waiting.len() as u64 - 1
    }

    /// Marks messages `first..=last` as in Kafka; returns those now acknowledgeable, in order.
    pub fn written(&mut self, first: u64, last: u64) -> Vec<M> {
        for seq in first..=last {
            if let Some(i) = seq.checked_sub(self.front) {
                if let Some(entry) = self.waiting.get_mut(i as usize) {
                    entry.1 = true;
                }
            }
        }
        let mut ready = Vec::new();
        while self.waiting.front().is_some_and(|(_, done)| *done) {
            let (m, _) = self.waiting.pop_front().expect("a front");
            ready.push(m);
            self.front += 1;
        }
        ready
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acknowledgements_leave_in_arrival_order() {
        let mut w = Window::new();
        for m in ["a", "b", "c", "d"] {
            w.push(m);
        }
        assert!(w.written(1, 2).is_empty(), "b and c wait for a");
        assert_eq!(w.written(0, 0), ["a", "b", "c"]);
        assert_eq!(w.push("e"), 4);
        assert_eq!(w.written(3, 4), ["d", "e"]);
        assert!(
            w.written(0, 9).is_empty(),
            "old and unknown numbers change nothing"
        );
    }
}
