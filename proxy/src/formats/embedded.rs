//! Why a record could not be converted. (The formats themselves, [`EmbeddedFormat`], are
//! `record.rs`'s, shared with the Kafka module.)

pub use crate::record::{EmbeddedFormat, Family};

/// Why a record could not be converted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    #[error("data={0} is not a base64 string.")]
    InvalidBase64(String),
    #[error("{0}")]
    InvalidJson(String),
    #[error("Schema Registry must be configured when using schemas.")]
    SchemaRegistryRequired,
    /// A consumed record's schema is not known yet: the caller fetches it and reads again.
    #[error("schema {0} has not been fetched from the Schema Registry")]
    SchemaNotFetched(i32),
    /// A record that does not match its schema, or a stored record that cannot be decoded.
    #[error("{0}")]
    Schema(String),
}
