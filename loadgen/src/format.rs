//! The value format of a workload: raw bytes, or records of one schema (Avro, JSON Schema,
//! Protobuf) whose values `drivers::schema_values` writes.

use serde::{Deserialize, Serialize};

/// The value format of a workload.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// Raw bytes: the REST driver sends them base64 in the binary embedded format.
    #[default]
    Binary,
    /// Records of one Avro schema (`drivers::schema_values`): REST sends Avro JSON in the avro
    /// embedded format, the schema on a client's first request and its id afterwards; native
    /// registers the schema once and sends Confluent-framed Avro binary.
    Avro,
    /// The same record as a JSON Schema: REST sends JSON in the jsonschema embedded format,
    /// native sends Confluent-framed compact JSON.
    #[serde(rename = "jsonschema")]
    JsonSchema,
    /// The same record as a Protobuf message: REST sends proto3 JSON in the protobuf embedded
    /// format, native sends Confluent-framed Protobuf binary.
    Protobuf,
}

impl Format {
    /// The name used in scenario files and reports.
    pub fn name(self) -> &'static str {
        match self {
            Format::Binary => "binary",
            Format::Avro => "avro",
            Format::JsonSchema => "jsonschema",
            Format::Protobuf => "protobuf",
        }
    }

    /// Whether values are written with a registered schema (every format but binary).
    pub fn has_schema(self) -> bool {
        self != Format::Binary
    }

    /// The smallest `value_bytes` a schema workload takes: room for the framing, the longest id
    /// and an empty payload (`drivers::schema_values` checks these against its encodings).
    pub fn min_value_bytes(self) -> usize {
        match self {
            Format::JsonSchema => 44,
            _ => 16,
        }
    }

    /// How reports name the produce comparison (see [`Workload::produce_label`]).
    pub fn produce_label(self) -> &'static str {
        match self {
            Format::Binary => "produce",
            Format::Avro => "avro produce",
            Format::JsonSchema => "jsonschema produce",
            Format::Protobuf => "protobuf produce",
        }
    }
}
