//! `kafka-proxy`: a Confluent REST Proxy v2 compatible HTTP gateway to Kafka.
//!
//! Requests enter through the front ends: [`rest`] (the REST API, axum), which negotiates media
//! types, parses bodies with borrowed raw JSON and converts records with [`formats`];
//! [`registry_api`] (the built-in Schema Registry's API over [`schema`]); [`mqtt`] (the MQTT
//! listener); and [`mqtt_source`] (subscriptions to remote MQTT brokers). The two
//! HTTP front ends share [`http`]: the one error type, owning every status and error code, the
//! one layer stack, the extractors and the server. [`kafka`] is the only module that
//! touches the Kafka client library or the Kafka wire protocol: one shared producer batches every
//! request's records and answers from per-request delivery batches; consumer instances live in a
//! registry with O(log n) idle expiry and long-poll on async streams; the built-in registry's
//! `_schemas` topic is a [`kafka::log::CompactedLog`]; what crosses out of it is the proxy's own
//! types ([`kafka::RecordError`], [`formats::ConsumedRecord`]). [`config`] resolves flags
//! ([`cli`]), `KAFKA_REST_*` environment and `kafka-rest.properties` files; [`state::App`] is
//! what the front ends share; [`runtime`] builds the async runtime they run on
//! (`worker.threads`); [`logs`] writes the logs off the request path. [`serve`] ties it
//! together with graceful shutdown: stop accepting, finish in-flight requests, flush the
//! producer, close every instance.

pub mod cli;
pub mod client_tls;
pub mod config;
pub mod credentials;
pub mod finish;
pub mod formats;
pub mod gather;
pub mod http;
pub mod json_fields;
pub mod json_int;
pub mod kafka;
pub mod logs;
mod memory;
pub mod mqtt;
pub mod mqtt_source;
pub mod names;
pub mod openapi;
pub mod properties;
pub mod record;
pub mod registry_api;
pub mod rest;
pub mod runtime;
pub mod schema;
mod serve;
pub mod state;
pub mod telemetry;
pub mod tls;
pub mod varint;

pub use config::Config;
pub use serve::{run, serve, serve_all, shutdown_signal};
