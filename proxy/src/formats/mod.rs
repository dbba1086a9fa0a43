//! Embedded formats: how record keys and values travel inside v2 JSON bodies.
//!
//! Produce turns a request's records into one [`EncodedRecords`]: the bytes handed to Kafka,
//! borrowed from the request body (json) or decoded into one arena per request (binary), so there
//! is no allocation per record. Consume writes records straight into the response buffer.

pub mod avro;
pub mod binary;
pub mod json;
pub mod protobuf;
mod records;

pub use records::RecordWriter;

use std::ops::Range;

use bytes::Bytes;

use serde_json::value::RawValue;

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

/// One record as written by a client: raw JSON key and value (None when absent or null),
/// borrowed from the request body.
#[derive(Debug, Clone, Copy)]
pub struct RawRecord<'a> {
    pub key: Option<&'a RawValue>,
    pub value: Option<&'a RawValue>,
    pub partition: Option<i32>,
}

/// Only a JSON object is a record (serde's derive would also take an array of the fields in
/// order, so `[[]]` produced a null record). Unknown and repeated fields are errors.
impl<'de> serde::Deserialize<'de> for RawRecord<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::{Error, MapAccess, Visitor};
        const FIELDS: &[&str] = &["key", "value", "partition"];
        struct Record;
        impl<'de> Visitor<'de> for Record {
            type Value = RawRecord<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a record object")
            }
            fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Self::Value, M::Error> {
                let mut r = RawRecord {
                    key: None,
                    value: None,
                    partition: None,
                };
                let mut seen = [false; 3];
                while let Some(field) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                    let i = FIELDS
                        .iter()
                        .position(|f| *f == field)
                        .ok_or_else(|| M::Error::unknown_field(&field, FIELDS))?;
                    if std::mem::replace(&mut seen[i], true) {
                        return Err(M::Error::duplicate_field(FIELDS[i]));
                    }
                    match i {
                        0 => r.key = map.next_value()?,
                        1 => r.value = map.next_value()?,
                        _ => r.partition = map.next_value()?,
                    }
                }
                Ok(r)
            }
        }
        d.deserialize_map(Record)
    }
}

/// The Kafka bytes of one produce request: ranges into one shared buffer (the request body for
/// json, one decoded arena for binary). Owned, so it can outlive the request's handler.
#[derive(Debug)]
pub struct EncodedRecords {
    data: Bytes,
    records: Vec<EncodedRecord>,
}

#[derive(Debug, Clone)]
struct EncodedRecord {
    key: Option<Range<usize>>,
    value: Option<Range<usize>>,
    partition: Option<i32>,
    /// Record headers (MQTT ingestion sets them; REST records have none, with no allocation).
    headers: Vec<Header>,
    /// The record's own CreateTime in ms (MQTT: its arrival); `None` takes the request's.
    timestamp: Option<i64>,
}

/// A Kafka record header: name and value (names are fixed by the proxy; values share their
/// buffers, so a header costs no copy).
pub type Header = (&'static str, bytes::Bytes);

/// A record ready for the producer.
#[derive(Debug, Clone, Copy)]
pub struct KafkaRecord<'a> {
    pub key: Option<&'a [u8]>,
    pub value: Option<&'a [u8]>,
    pub partition: Option<i32>,
    pub headers: &'a [Header],
    /// CreateTime in ms, when the record has its own (else the produce call stamps one).
    pub timestamp: Option<i64>,
}

impl EncodedRecords {
    pub fn len(&self) -> usize {
        self.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Record `i`.
    pub fn get(&self, i: usize) -> KafkaRecord<'_> {
        let r = &self.records[i];
        KafkaRecord {
            key: r.key.clone().map(|range| &self.data[range]),
            value: r.value.clone().map(|range| &self.data[range]),
            partition: r.partition,
            headers: &r.headers,
            timestamp: r.timestamp,
        }
    }

    /// Sets the partition of record `i`.
    pub fn set_partition(&mut self, i: usize, partition: i32) {
        self.records[i].partition = Some(partition);
    }

    /// The records in request order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = KafkaRecord<'_>> + Clone + '_ {
        let data: &[u8] = &self.data;
        self.records.iter().map(move |r| KafkaRecord {
            key: r.key.clone().map(|range| &data[range]),
            value: r.value.clone().map(|range| &data[range]),
            partition: r.partition,
            headers: &r.headers,
            timestamp: r.timestamp,
        })
    }
}

impl EncodedRecords {
    /// Builds the records from keys and values (schema formats), copied into one arena.
    pub fn from_owned<B: AsRef<[u8]>>(records: Vec<(Option<B>, Option<B>, Option<i32>)>) -> Self {
        let len = |d: &Option<B>| d.as_ref().map_or(0, |d| d.as_ref().len());
        let size = records.iter().map(|(k, v, _)| len(k) + len(v)).sum();
        let mut builder = RecordsBuilder::with_capacity(records.len(), size);
        for (k, v, partition) in &records {
            builder.push(
                k.as_ref().map(AsRef::as_ref),
                v.as_ref().map(AsRef::as_ref),
                *partition,
                Vec::new(),
                None,
            );
        }
        builder.finish()
    }
}

/// Appends records one by one into one arena (MQTT's batches of publishes).
pub struct RecordsBuilder {
    arena: Vec<u8>,
    records: Vec<EncodedRecord>,
}

impl RecordsBuilder {
    /// Room for `records` records of `bytes` key and value bytes in all.
    pub fn with_capacity(records: usize, bytes: usize) -> Self {
        RecordsBuilder {
            arena: Vec::with_capacity(bytes),
            records: Vec::with_capacity(records),
        }
    }

    pub fn push(
        &mut self,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        partition: Option<i32>,
        headers: Vec<Header>,
        timestamp: Option<i64>,
    ) {
        let arena = &mut self.arena;
        let mut put = |data: Option<&[u8]>| {
            data.map(|d| {
                let start = arena.len();
                arena.extend_from_slice(d);
                start..arena.len()
            })
        };
        let key = put(key);
        let value = put(value);
        self.records.push(EncodedRecord {
            key,
            value,
            partition,
            headers,
            timestamp,
        });
    }

    pub fn len(&self) -> usize {
        self.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    pub fn finish(self) -> EncodedRecords {
        EncodedRecords {
            data: self.arena.into(),
            records: self.records,
        }
    }
}

/// A resolved key or value schema of a produce request: its id and parsed form.
#[derive(Clone)]
pub struct ResolvedSchema {
    pub id: i32,
    pub schema: crate::schema::kinds::Parsed,
}

/// Converts a schema-format request's records (key/value JSON checked against their schemas)
/// into framed Kafka bytes. Any invalid record fails the whole request.
pub fn encode_schema_records(
    format: EmbeddedFormat,
    records: &[RawRecord<'_>],
    key: Option<&ResolvedSchema>,
    value: Option<&ResolvedSchema>,
) -> Result<EncodedRecords, FormatError> {
    let encode = |raw: Option<&RawValue>,
                  schema: Option<&ResolvedSchema>,
                  what: &str,
                  index: usize|
     -> Result<Option<Vec<u8>>, FormatError> {
        let Some(raw) = raw.filter(|r| r.get() != "null") else {
            return Ok(None);
        };
        let schema = schema.ok_or_else(|| {
            FormatError::Schema(format!("record {index} has a {what} but no {what} schema"))
        })?;
        let json: serde_json::Value =
            serde_json::from_str(raw.get()).map_err(|e| FormatError::InvalidJson(e.to_string()))?;
        match (&schema.schema, format) {
            (crate::schema::kinds::Parsed::Avro(s), EmbeddedFormat::Avro) => {
                avro::encode(s, schema.id, &json)
                    .map(Some)
                    .map_err(|e| FormatError::Schema(format!("record {index} {what}: {e}")))
            }
            (crate::schema::kinds::Parsed::Json(s), EmbeddedFormat::JsonSchema) => {
                if let Some(first) = s.validator.iter_errors(&json).next() {
                    return Err(FormatError::Schema(format!(
                        "record {index} {what} does not match its JSON Schema: {first} (at {})",
                        first.instance_path()
                    )));
                }
                let mut out = Vec::with_capacity(raw.get().len() + 5);
                avro::frame(
                    schema.id,
                    &serde_json::to_vec(&json).expect("re-serializing"),
                    &mut out,
                );
                Ok(Some(out))
            }
            (crate::schema::kinds::Parsed::Protobuf(s), EmbeddedFormat::Protobuf) => {
                protobuf::encode(s, schema.id, json)
                    .map(Some)
                    .map_err(|e| FormatError::Schema(format!("record {index} {what}: {e}")))
            }
            _ => Err(FormatError::Schema(format!(
                "the {what} schema {} is not a schema of the {} format",
                schema.id,
                format.media_type()
            ))),
        }
    };
    let mut out = Vec::with_capacity(records.len());
    for (i, r) in records.iter().enumerate() {
        out.push((
            encode(r.key, key, "key", i)?,
            encode(r.value, value, "value", i)?,
            r.partition,
        ));
    }
    Ok(EncodedRecords::from_owned(out))
}

/// Converts a request's records into Kafka bytes. Any invalid record fails the whole request.
/// `body` is the request body the raw values borrow from.
/// `json_depth` bounds the nesting of json-format values (`json.max.nesting.depth`).
pub fn encode_records(
    format: EmbeddedFormat,
    body: &Bytes,
    records: &[RawRecord<'_>],
    json_depth: usize,
) -> Result<EncodedRecords, FormatError> {
    match format {
        EmbeddedFormat::Json => json::encode_records(body, records, json_depth),
        EmbeddedFormat::Binary => binary::encode_records(records),
        EmbeddedFormat::Avro | EmbeddedFormat::JsonSchema | EmbeddedFormat::Protobuf => {
            Err(FormatError::SchemaRegistryRequired)
        }
    }
}

/// Writes a key or value into a consume response in the consumer's format (`json_depth`: see
/// [`encode_records`]).
pub fn write_data(
    format: EmbeddedFormat,
    out: &mut Vec<u8>,
    data: Option<&[u8]>,
    json_depth: usize,
) -> Result<(), FormatError> {
    let Some(data) = data else {
        out.extend_from_slice(b"null");
        return Ok(());
    };
    match format {
        EmbeddedFormat::Binary => {
            binary::write_base64(out, data);
            Ok(())
        }
        EmbeddedFormat::Json => json::write_json(out, data, json_depth),
        EmbeddedFormat::Avro | EmbeddedFormat::JsonSchema | EmbeddedFormat::Protobuf => {
            Err(FormatError::SchemaRegistryRequired)
        }
    }
}
