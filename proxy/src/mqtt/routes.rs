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
    /// The longest chunk last queued, in publishes and arena bytes: a new chunk without a
    /// spare one starts with that much room, so it does not grow (and copy) from one publish up.
    room: (usize, usize),
    /// Chunks Kafka has written, emptied, to be filled again: with them a steady stream of
    /// reads neither allocates nor grows its chunks (growing them was 4% of the proxy's CPU at
    /// QoS 2, README "MQTT payloads copied once").
    spare: Vec<Publishes>,
}

/// Spare chunks a connection keeps, and the most memory one may hold: a connection holds at most
/// 384 KiB of spare chunks however it bursts, enough for two chunks of a 64 KiB read's publishes
/// (their payloads, records and answers); a device publishing now and then keeps a few hundred
/// bytes.
const SPARE_CHUNKS: usize = 2;
const SPARE_MAX_BYTES: usize = 192 << 10;

impl Pending {
    pub fn push(&mut self, route: usize, lane: usize, p: Publish<'_>) {
        self.count += 1;
        self.bytes += p.payload.len();
        match self.chunks.last_mut() {
            Some((r, l, publishes)) if *r == route && *l == lane => publishes.push(p),
            _ => {
                let mut publishes = self
                    .spare
                    .pop()
                    .unwrap_or_else(|| Publishes::with_capacity(self.room.0.max(1), self.room.1));
                publishes.push(p);
                self.chunks.push((route, lane, publishes));
            }
        }
    }

    /// Takes back a chunk Kafka has written, to be filled again.
    pub fn recycle(&mut self, mut spent: Publishes) {
        if self.spare.len() < SPARE_CHUNKS && spent.capacity_bytes() <= SPARE_MAX_BYTES {
            spent.clear();
            self.spare.push(spent);
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
