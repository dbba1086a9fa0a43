//! Embedded formats: how record keys and values travel inside v2 JSON bodies.
//!
//! Produce turns a request's records into one [`EncodedRecords`]: the bytes handed to Kafka,
//! borrowed from the request body (json) or decoded into one arena per request (binary), so there
//! is no allocation per record. Consume writes records straight into the response buffer.

pub mod avro;
mod avro_flat;
pub mod avro_stream;
pub mod binary;
pub mod binary_request;
mod body_reader;
mod embedded;
mod encode;
mod encoded;
pub mod json;
mod json_de;
mod json_scan;
mod jsonschema_flat;
pub mod jsonschema_stream;
pub mod one_pass_request;
pub mod protobuf;
mod protobuf_flat;
pub mod protobuf_stream;
mod records;

pub use crate::record::{ConsumedRecord, EncodedRecords, Header, KafkaRecord, RecordsBuilder};
pub use embedded::{EmbeddedFormat, Family, FormatError};
pub use encode::{encode_records, encode_schema_records, encode_value, ResolvedSchema};
pub use encoded::RawRecord;
pub use records::{write_data, RecordWriter};
