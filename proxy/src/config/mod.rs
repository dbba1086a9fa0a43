//! Configuration: one documented [`Config`], resolved from (highest first) command-line flags,
//! `KAFKA_REST_*` environment variables, a `kafka-rest.properties` file, and defaults.
//!
//! Keys are Confluent's `kafka-rest.properties` keys, so an existing file keeps working. Every key
//! is validated: an unknown key or a bad value is an error that names the key (the binary exits 2).
//! Split by concern, each part parsing its own keys: [`rest`], [`http`], [`edge`], [`consumers`],
//! [`produce`], [`registry`], [`mqtt`] (with [`topic_rule`]), [`mqtt_source`]; [`resolve`] holds the whole and
//! the checks across parts. It imports none of the modules it configures.

pub mod consumers;
pub mod edge;
mod env;
mod error;
pub mod http;
pub mod mqtt;
pub mod mqtt_source;
mod parse;
pub mod produce;
pub mod registry;
mod resolve;
pub mod rest;
pub mod topic_rule;

pub use consumers::{check_fetch_min_bytes, parse_fetch_min_bytes, ConsumerConfig};
pub use edge::{ClientAuth, EdgeConfig};
pub use env::env_properties;
pub use error::ConfigError;
pub use http::HttpConfig;
pub use mqtt::{MqttConfig, MqttListener};
pub use mqtt_source::{MqttSource, MqttVersion, ServerUri};
pub use produce::{ProduceConfig, ProduceEngine};
pub use registry::{RegistryClientSettings, RegistryConfig};
pub use resolve::Config;
pub use rest::RestConfig;
pub use topic_rule::TopicRule;
