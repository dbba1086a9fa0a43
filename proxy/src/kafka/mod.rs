//! Everything that touches rdkafka or the Kafka wire protocol: the shared producer, consumer
//! instances and their registry, cluster metadata, compacted logs (the built-in registry's
//! `_schemas`), and the classification of Kafka errors. What leaves this module is the proxy's
//! own types: [`RecordError`] for a record not written, [`crate::record::ConsumedRecord`] for a
//! record read.

pub mod acls;
pub mod admin;
mod alignment;
pub mod batch;
mod client;
pub mod client_log;
pub mod configs;
mod connection;
pub mod consumer;
mod error;
pub mod expiry;
mod fetched;
mod framing;
pub mod groups;
pub mod log;
pub mod metadata;
mod partition_queues;
pub mod partitioner;
mod polled_producer;
pub mod principals;
pub mod producer;
pub mod reassignments;
pub mod registry;
mod routes;
mod sasl_client;
mod settings;
mod tls_client;
mod topic_partition;
mod wire;
pub mod wire_admin;

pub use client::Kafka;
pub use client_log::LOG_TARGET;
pub use error::{blocking, classify, Error, ErrorClass, RecordError};
pub use metadata::Metadata;
pub use settings::{client_config, consumer_config, producer_config};
