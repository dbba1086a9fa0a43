//! Where publishes go: MQTT topics to Kafka topics by rules (`kafka_topic:regex`, the first
//! matching the whole MQTT topic wins) and a default topic, each Kafka topic with its writers
//! ([`super::batcher::Lanes`]); and [`Pending`], the publishes a connection has read and not
//! queued yet. Shared by the MQTT listener and the MQTT sources.

use std::sync::Arc;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::batcher::{self, Chunk, Lanes, Settled, Stats};
use super::chunk::{Publish, Publishes};
use crate::config::TopicRule;
use crate::state::App;

/// One Kafka topic and its writers' queues.
pub struct Route {
    pub kafka_topic: String,
    pub lanes: Lanes,
}

/// The rules in order, each with its route, and the default topic's route.
pub struct Routes {
    rules: Vec<(regex::Regex, usize)>,
    default: Option<usize>,
    routes: Vec<Route>,
}

impl Routes {
    /// Starts one set of writers per Kafka topic the rules and the default name, adding their
    /// tasks to `writers`.
    pub fn start(
        app: &Arc<App>,
        rules: &[TopicRule],
        default: Option<&str>,
        stats: &Arc<Stats>,
        writers: &mut Vec<JoinHandle<()>>,
    ) -> Routes {
        let mut routes: Vec<Route> = Vec::new();
        let mut index = |topic: &str| match routes.iter().position(|r| r.kafka_topic == topic) {
            Some(i) => i,
            None => {
                routes.push(Route {
                    kafka_topic: topic.to_string(),
                    lanes: Lanes::start(topic, app, stats, &mut *writers),
                });
                routes.len() - 1
            }
        };
        let rules = rules
            .iter()
            .map(|r| (r.regex.clone(), index(&r.kafka_topic)))
            .collect();
        let default = default.map(&mut index);
        Routes {
            rules,
            default,
            routes,
        }
    }

    /// The route of an MQTT topic: the first rule matching it whole, else the default.
    pub fn route(&self, mqtt_topic: &str) -> Option<usize> {
        self.rules
            .iter()
            .find(|(regex, _)| regex.is_match(mqtt_topic))
            .map(|(_, route)| *route)
            .or(self.default)
    }
}

impl std::ops::Index<usize> for Routes {
    type Output = Route;

    fn index(&self, i: usize) -> &Route {
        &self.routes[i]
    }
}

/// Publishes read and not queued yet, as (route, lane, publishes) in publish order: a new chunk
/// starts whenever the lane changes, so each chunk is a contiguous run (what [`Settled`]
/// needs). Queued once per read, not per publish: a hand-off per publish was the hot path's
/// largest cost (README "MQTT"), and a writer's batch can hold no more than its queue does.
#[derive(Default)]
pub struct Pending {
    chunks: Vec<(usize, usize, Publishes)>,
    count: usize,
    bytes: usize,
    /// The most publishes and the largest arena of the chunks last queued: the first chunk of a
    /// read, without a spare one, starts with that much room, so it does not grow (and copy)
    /// from one publish up. Later chunks of the same read start small: a read alternating
    /// between lanes cannot make each of its chunks reserve a whole chunk's room.
    room: (usize, usize),
    /// Chunks Kafka has written, emptied, to be filled again: with them a steady stream of QoS 1
    /// and 2 reads neither allocates nor grows its chunks (growing them was 4% of the proxy's
    /// CPU at QoS 2, docs/performance-log.md, "MQTT publishes made records as they
    /// are read"). Chunks of QoS 0
    /// publishes only, or whose last publish failed, are not given back.
    spare: Vec<Publishes>,
}

/// Spare chunks a connection keeps, and the most memory one may hold: a connection holds at most
/// 384 KiB of spare chunks however it bursts (until it closes), enough for two chunks of a
/// 64 KiB read's publishes (their payloads, records and answers); a device publishing now and
/// then keeps a few hundred bytes.
const SPARE_CHUNKS: usize = 2;
const SPARE_MAX_BYTES: usize = 192 << 10;

impl Pending {
    pub fn push(&mut self, route: usize, lane: usize, p: Publish<'_>) {
        self.count += 1;
        self.bytes += p.payload.len();
        match self.chunks.last_mut() {
            Some((r, l, publishes)) if *r == route && *l == lane => publishes.push(p),
            _ => {
                let first = self.chunks.is_empty();
                let mut publishes = self.spare.pop().unwrap_or_else(|| {
                    if first {
                        Publishes::with_capacity(self.room.0.max(1), self.room.1)
                    } else {
                        Publishes::default()
                    }
                });
                publishes.push(p);
                self.chunks.push((route, lane, publishes));
            }
        }
    }

    /// Takes back the chunk Kafka has written, if an outcome brings one
    /// ([`Settled::spent`]), to be filled again.
    pub fn recycle(&mut self, spent: Option<Publishes>) {
        match spent {
            Some(mut spent)
                if self.spare.len() < SPARE_CHUNKS && spent.capacity_bytes() <= SPARE_MAX_BYTES =>
            {
                spent.clear();
                self.spare.push(spent);
            }
            _ => {}
        }
    }

    /// Whether the publishes make a full chunk.
    pub fn full(&self) -> bool {
        self.count >= batcher::CHUNK_MAX_PUBLISHES || self.bytes >= batcher::CHUNK_MAX_BYTES
    }

    /// Queues them for their writers, in order, outcomes to `acks`; waits while a queue is
    /// full (backpressure: the connection stops reading). Err: the Kafka topic whose writer
    /// has stopped (shutdown).
    pub async fn queue(
        &mut self,
        routes: &Routes,
        acks: &mpsc::UnboundedSender<Settled>,
    ) -> Result<(), String> {
        self.count = 0;
        self.bytes = 0;
        self.room = self.chunks.iter().fold((0, 0), |(n, b), (.., p)| {
            (n.max(p.len()), b.max(p.arena_len()))
        });
        for (route, lane, publishes) in self.chunks.drain(..) {
            let route = &routes[route];
            let chunk = Chunk {
                publishes,
                acks: acks.clone(),
            };
            if route.lanes.queue(lane).send(chunk).await.is_err() {
                return Err(route.kafka_topic.clone());
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use rmqtt_codec::types::QoS;

    /// After a read of one large chunk, a read alternating between two lanes reserves that room
    /// for its first chunk only; spare chunks are kept up to their bound.
    #[test]
    fn only_a_reads_first_chunk_gets_the_last_reads_room() {
        let topic = Bytes::from_static(b"d/1");
        let publish = |payload: &'static [u8]| Publish {
            mqtt_topic: &topic,
            payload,
            qos: QoS::AtLeastOnce,
            arrived: 0,
            seq: Some(0),
            extra: Vec::new(),
        };
        let mut pending = Pending {
            room: (1024, 1 << 20),
            ..Pending::default()
        };
        for lane in [0, 1, 0, 1, 0, 1] {
            pending.push(0, lane, publish(b"x"));
        }
        let rooms: Vec<usize> = pending
            .chunks
            .iter()
            .map(|(.., p)| p.capacity_bytes())
            .collect();
        assert!(rooms[0] >= 1 << 20, "{rooms:?}");
        assert!(rooms[1..].iter().all(|&r| r < 4096), "{rooms:?}");
        // Spares: at most two, none too large.
        let mut chunks: Vec<Publishes> = pending.chunks.drain(..).map(|(.., p)| p).collect();
        let large = chunks.remove(0);
        pending.recycle(Some(large));
        assert!(pending.spare.is_empty(), "over the bound");
        for small in chunks {
            pending.recycle(Some(small));
        }
        assert_eq!(pending.spare.len(), SPARE_CHUNKS);
        assert!(pending.spare.iter().all(Publishes::is_empty));
    }
}
