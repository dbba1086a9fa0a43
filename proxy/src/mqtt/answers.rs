//! The answers a connection owes its client, in the order of the packets they answer: ready
//! ones (PINGRESP, PUBCOMP, ...), publishes waiting for Kafka, and QoS 2 repeats answered as
//! the publish they repeat. Kafka's outcomes settle them by runs of sequence numbers.

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};
use std::num::NonZeroU16;

use super::batcher::{self, Settled};
use super::packets::{Out, Version, SUCCESS, UNSPECIFIED_ERROR};

/// An answer owed to the client, in the order of the packets it answers.
pub(super) enum Slot {
    Ready(Out),
    /// A QoS 1/2 publish waiting for Kafka: its packet id and how to answer it.
    Waiting(NonZeroU16, fn(NonZeroU16, u8) -> Out),
    /// A QoS 2 PUBLISH repeating the packet id of one still waiting for Kafka: not produced
    /// again, and answered as that one is (SUCCESS only once Kafka has its record).
    Repeat(NonZeroU16),
    /// Kafka failed a 3.1.1 publish: the connection closes when this slot's turn comes.
    Failed(String),
}

/// The answers owed, oldest first; `first` is the sequence number of the front one.
pub(super) struct Answers {
    pub(super) slots: VecDeque<Slot>,
    pub(super) first: u64,
    /// How many [`Slot::Repeat`]s are queued (none, almost always: then settling never looks
    /// for them).
    pub(super) repeats: usize,
}

/// QoS 2 packet ids produced (or being produced) and not yet released by PUBREL; `true` once
/// Kafka has the record. A PUBLISH repeating one of them is not produced again.
pub(super) type Received = HashMap<NonZeroU16, bool, BuildHasherDefault<PacketIdHasher>>;

/// Hashes a packet id with one multiplication. Ids come from the client, but a map holds at
/// most the Receive Maximum of them, so there is no flooding to defend against; SipHash's four
/// uses per QoS 2 publish (look up, insert, settle, release) were 3% of the proxy's CPU.
#[derive(Default)]
pub(super) struct PacketIdHasher(u64);

impl Hasher for PacketIdHasher {
    fn finish(&self) -> u64 {
        // Fibonacci hashing: the id's bits spread to the top, which hashbrown's control bytes
        // read.
        self.0.wrapping_mul(0x9E37_79B9_7F4A_7C15)
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) | u64::from(b);
        }
    }

    fn write_u16(&mut self, n: u16) {
        self.0 = u64::from(n);
    }
}

impl Answers {
    /// Queues an answer; its sequence number.
    pub(super) fn push(&mut self, slot: Slot) -> u64 {
        self.slots.push_back(slot);
        self.first + self.slots.len() as u64 - 1
    }

    /// Kafka's outcome for the publishes numbered `first..=last`; slots in that range that
    /// are not waiting (answers to other packets) are left alone. A QoS 2 packet id Kafka
    /// failed is released from `received` (MQTT 5 lets the client use it again after PUBREC
    /// 0x80), and repeats of a settled id are answered as it is.
    pub(super) fn settle(&mut self, settled: Settled, version: Version, received: &mut Received) {
        let from = settled.first.max(self.first);
        let upto = (settled.last + 1).min(self.first + self.slots.len() as u64);
        let mut settled_qos2 = Vec::new();
        for seq in from..upto {
            let slot = &mut self.slots[(seq - self.first) as usize];
            if let Slot::Waiting(id, answer) = *slot {
                *slot = answer_for(&settled.outcome, version, id, answer);
                // QoS 2 in MQTT 5. (A 3.1.1 failure closes the connection at this slot's turn,
                // so its packet ids and repeats need no care.)
                if let Slot::Ready(Out::PubRec(..)) = slot {
                    match settled.outcome {
                        Ok(()) => {
                            if let Some(in_kafka) = received.get_mut(&id) {
                                *in_kafka = true;
                            }
                        }
                        Err(_) => {
                            received.remove(&id);
                        }
                    }
                    if self.repeats > 0 {
                        settled_qos2.push(id);
                    }
                }
            }
        }
        for id in settled_qos2 {
            for slot in self.slots.iter_mut() {
                if matches!(slot, Slot::Repeat(r) if *r == id) {
                    *slot = answer_for(&settled.outcome, version, id, Out::PubRec);
                    self.repeats -= 1;
                }
            }
        }
    }
}

/// The answer to a QoS 1/2 publish, given Kafka's outcome.
fn answer_for(
    outcome: &batcher::Delivered,
    version: Version,
    id: NonZeroU16,
    answer: fn(NonZeroU16, u8) -> Out,
) -> Slot {
    match (outcome, version) {
        (Ok(()), _) => Slot::Ready(answer(id, SUCCESS)),
        // Not acknowledged as delivered: MQTT 5 says so with a reason code; 3.1.1 has none, so
        // the connection closes and the client publishes again.
        (Err(e), Version::V5) => {
            tracing::warn!(error = %e, "publish not produced; answered 0x80");
            Slot::Ready(answer(id, UNSPECIFIED_ERROR))
        }
        (Err(e), Version::V311) => Slot::Failed(format!("Kafka did not take a publish: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u16) -> NonZeroU16 {
        NonZeroU16::new(n).unwrap()
    }

    /// Slots 10..=14: three publishes waiting, a PINGRESP among them, and one more publish.
    fn answers() -> Answers {
        Answers {
            slots: VecDeque::from([
                Slot::Waiting(id(1), Out::PubAck),
                Slot::Ready(Out::PingResp),
                Slot::Waiting(id(2), Out::PubRec),
                Slot::Waiting(id(3), Out::PubAck),
                Slot::Waiting(id(4), Out::PubAck),
            ]),
            first: 10,
            repeats: 0,
        }
    }

    fn reasons(a: &Answers) -> Vec<Option<u8>> {
        a.slots
            .iter()
            .map(|s| match s {
                Slot::Ready(Out::PubAck(_, r) | Out::PubRec(_, r)) => Some(*r),
                Slot::Ready(_) => Some(0xFF),
                Slot::Waiting(..) | Slot::Repeat(_) => None,
                Slot::Failed(_) => Some(0xEE),
            })
            .collect()
    }

    #[test]
    fn a_settled_range_answers_only_its_waiting_publishes() {
        let mut a = answers();
        let ok = |first, last| Settled {
            first,
            last,
            outcome: Ok(()),
            spent: None,
        };
        a.settle(ok(10, 12), Version::V5, &mut Received::default());
        assert_eq!(reasons(&a), [Some(0), Some(0xFF), Some(0), None, None]);
        // A failure: 0x80 in MQTT 5; in 3.1.1 the connection closes at that slot's turn.
        let failed = |seq| Settled {
            first: seq,
            last: seq,
            outcome: Err(batcher::NotDelivered::TooLarge),
            spent: None,
        };
        a.settle(failed(13), Version::V5, &mut Received::default());
        assert_eq!(reasons(&a)[3], Some(UNSPECIFIED_ERROR));
        let mut b = answers();
        b.settle(failed(13), Version::V311, &mut Received::default());
        assert_eq!(reasons(&b)[3], Some(0xEE));
        // Settled answers are not settled again, and a range past the end is cut short.
        a.settle(ok(13, 20), Version::V5, &mut Received::default());
        assert_eq!(
            reasons(&a),
            [
                Some(0),
                Some(0xFF),
                Some(0),
                Some(UNSPECIFIED_ERROR),
                Some(0)
            ]
        );
    }

    /// MQTT 5 QoS 2: a repeat of a packet id still waiting for Kafka is answered as the first
    /// PUBLISH is; an id Kafka failed is released, so the client's next PUBLISH with it is
    /// produced rather than taken for a repeat; a produced id stays held until PUBREL.
    #[test]
    fn qos2_ids_are_released_when_kafka_fails_and_repeats_follow_the_first() {
        for (outcome, reason, held) in [
            (Ok(()), SUCCESS, Some(&true)),
            (
                Err(batcher::NotDelivered::TooLarge),
                UNSPECIFIED_ERROR,
                None,
            ),
        ] {
            let mut received: Received = [(id(7), false)].into_iter().collect();
            let mut a = Answers {
                slots: VecDeque::from([
                    Slot::Waiting(id(7), Out::PubRec),
                    Slot::Repeat(id(7)),
                    Slot::Waiting(id(8), Out::PubAck),
                ]),
                first: 0,
                repeats: 1,
            };
            // The run covers the repeat's slot too: a repeat is never settled as a publish of
            // the run, only as a repeat of id 7.
            let settled = Settled {
                first: 0,
                last: 1,
                outcome: outcome.clone(),
                spent: None,
            };
            a.settle(settled, Version::V5, &mut received);
            assert_eq!(reasons(&a), [Some(reason), Some(reason), None]);
            assert_eq!(a.repeats, 0);
            assert_eq!(received.get(&id(7)), held);
        }
    }

    #[test]
    fn the_packet_id_map_holds_every_id() {
        let mut r = Received::default();
        for n in 1..=u16::MAX {
            r.insert(id(n), n % 2 == 0);
        }
        assert_eq!(r.len(), usize::from(u16::MAX));
        assert_eq!(r.get(&id(7)), Some(&false));
        assert_eq!(r.get(&id(8)), Some(&true));
        for n in 1..=u16::MAX {
            assert!(r.remove(&id(n)).is_some());
        }
        assert!(r.is_empty());
        // Neighbouring ids differ in the top bits hashbrown reads.
        let top = |n: u16| {
            let mut h = PacketIdHasher::default();
            h.write_u16(n);
            h.finish() >> 57
        };
        assert!(
            (1..=16)
                .map(top)
                .collect::<std::collections::HashSet<_>>()
                .len()
                > 8
        );
    }
}
