//! MQTT ingestion: devices publish over MQTT 3.1.1 or 5 and each PUBLISH becomes a Kafka record
//! (key = the MQTT topic, value = the payload bytes unchanged, headers `mqtt.topic` and
//! `mqtt.qos` then an MQTT 5 publish's user properties, content type and correlation data,
//! CreateTime = arrival), on the topic the first matching `mqtt.topic.regex.list`
//! rule names. The listener is publish-only, as Confluent's MQTT Proxy.
//!
//! QoS against Kafka's acks:
//! - QoS 0: produced without waiting.
//! - QoS 1: PUBACK only once Kafka has acknowledged the record.
//! - QoS 2: PUBREC once Kafka has acknowledged it; a PUBLISH repeating a packet id before its
//!   PUBREL is not produced again; PUBREL is answered with PUBCOMP.
//! - When Kafka refuses or fails a record, it is not acknowledged as delivered: MQTT 5 answers
//!   with reason 0x80, 3.1.1 (which has no error acks) closes the connection so the client
//!   publishes again. Acknowledgements go out in the order the PUBLISHes came in.
//! - A publish no rule maps (and no default topic): MQTT 5 answers 0x90 (QoS 0: dropped), 3.1.1
//!   closes the connection; either way it is logged and counted.
//!
//! Modules: `ingest` holds what connections share (the topic rules, parsed by
//! [`crate::config::TopicRule`]),
//! `listener` accepts connections; `connect`
//! answers CONNECT; `session` handles a connection's packets after it, owing answers in order (`answers`); [`batcher`] writes the
//! publishes of all connections to Kafka in batches, each connection's read made records as it
//! is read ([`chunk`]); `packets` maps rmqtt-codec's 3.1.1 and 5
//! packets to one set.
//!
//! Listeners are plain (`tcp://`) or TLS (`ssl://`, [`crate::tls`]); CONNECT may be checked against a
//! credentials file ([`crate::credentials`]); `mqtt.max.connections` caps open connections.
//!
//! Packets are decoded by `rmqtt-codec` (strict: reserved flags, QoS 3, packet id 0, and the
//! Remaining Length cap `mqtt.message.max.bytes` are refused by closing the connection).

mod answers;
pub mod batcher;
pub mod chunk;
mod connect;
mod ingest;
mod listener;
mod packets;
pub mod routes;
mod session;

pub use listener::Server;
