//! The built-in Schema Registry: Confluent Schema Registry's model (the subset listed in the
//! README) over state kept in the Kafka topic `_schemas`, in Confluent's record format. Its HTTP
//! API is the front end `registry_api.rs`; [`client`] serves the proxy's produce and consume
//! paths from this registry or an external one.

pub mod avro_defaults;
mod avro_names;
pub mod avro_text;
pub mod client;
mod error;
pub mod json_compat;
pub mod json_plan;
pub mod kinds;
pub mod ordered_json;
pub mod proto;
mod proto_builtin;
pub mod proto_layout;
mod proto_text;
mod registry;
pub mod store;

pub use error::{Incompatibility, InvalidSchema, RegistryError, SchemaError};
pub use registry::{Registration, Registry, SchemaFilter, SubjectVersion, VersionSpec};
