//! The v2 embedded formats (binary, JSON, Avro, JSON Schema, Protobuf), their media types and
//! families, and why a record could not be converted. A leaf every format module builds on.

/// The v2 embedded formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EmbeddedFormat {
    Binary,
    Json,
    Avro,
    JsonSchema,
    Protobuf,
}

/// Consumers are told apart only by family, as in Confluent (an avro consumer may be read with the
/// protobuf media type).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    Binary,
    Json,
    Schema,
}

impl EmbeddedFormat {
    /// Parses a format name (`binary`, `json`, ...), case-insensitively.
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name.to_ascii_lowercase().as_str() {
            "binary" => Self::Binary,
            "json" => Self::Json,
            "avro" => Self::Avro,
            "jsonschema" => Self::JsonSchema,
            "protobuf" => Self::Protobuf,
            _ => return None,
        })
    }

    /// The v2 media type carrying this format, e.g. `application/vnd.kafka.binary.v2+json`.
    pub fn media_type(self) -> &'static str {
        match self {
            Self::Binary => "application/vnd.kafka.binary.v2+json",
            Self::Json => "application/vnd.kafka.json.v2+json",
            Self::Avro => "application/vnd.kafka.avro.v2+json",
            Self::JsonSchema => "application/vnd.kafka.jsonschema.v2+json",
            Self::Protobuf => "application/vnd.kafka.protobuf.v2+json",
        }
    }

    pub fn family(self) -> Family {
        match self {
            Self::Binary => Family::Binary,
            Self::Json => Family::Json,
            Self::Avro | Self::JsonSchema | Self::Protobuf => Family::Schema,
        }
    }
}

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
