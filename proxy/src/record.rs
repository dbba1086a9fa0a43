//! What a record is on both sides of the Kafka module: the Kafka bytes of a produce
//! ([`EncodedRecords`]: ranges into one shared buffer, or one arena built record by record with
//! [`RecordsBuilder`]), a consumed record lent out of the consumer's buffer
//! ([`ConsumedRecord`]), and the embedded format a consumer instance reads in
//! ([`EmbeddedFormat`]). A leaf: `kafka/` and `formats/` both build on it, so neither imports
//! the other.

use std::ops::Range;

use bytes::Bytes;

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

    /// The format's name in requests (`"format"`) and metrics.
    pub fn name(self) -> &'static str {
        match self {
            Self::Binary => "binary",
            Self::Json => "json",
            Self::Avro => "avro",
            Self::JsonSchema => "jsonschema",
            Self::Protobuf => "protobuf",
        }
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

/// One consumed record as a response shows it, lent by the Kafka module from its buffer.
#[derive(Debug, Clone, Copy)]
pub struct ConsumedRecord<'a> {
    pub topic: &'a str,
    pub key: Option<&'a [u8]>,
    pub value: Option<&'a [u8]>,
    /// The record's headers (name, value), when its instance asked for them (`record.headers`).
    pub headers: &'a [(&'a str, Option<&'a [u8]>)],
    /// The record's timestamp in ms, when Kafka gave one.
    pub timestamp: Option<i64>,
    pub partition: i32,
    pub offset: i64,
}

/// The Kafka bytes of one produce request: ranges into one shared buffer (the request body for
/// json, one decoded arena for binary). Owned, so it can outlive the request's handler.
#[derive(Debug)]
pub struct EncodedRecords {
    pub(crate) data: Bytes,
    pub(crate) records: Vec<EncodedRecord>,
    /// Every record's headers, one after the other (a record holds its range): one vector
    /// for the request, not one per record.
    pub(crate) headers: Vec<Header>,
}

#[derive(Debug, Clone)]
pub(crate) struct EncodedRecord {
    pub(crate) key: Option<Range<usize>>,
    pub(crate) value: Option<Range<usize>>,
    pub(crate) partition: Option<i32>,
    /// The record's headers in [`EncodedRecords::headers`] (MQTT ingestion and v3 produce set
    /// them; v2 records have none).
    pub(crate) headers: Range<u32>,
    /// The record's own CreateTime in ms (MQTT: its arrival); `None` takes the request's.
    pub(crate) timestamp: Option<i64>,
    /// [`fields_size`] of its key, value and headers, counted when it is made.
    pub(crate) fields: u32,
}

/// A Kafka record header: name and value (null allowed). The proxy's own names are static
/// and values share their buffers, so an MQTT header costs no copy; v3 produce brings its own.
pub type Header = (std::borrow::Cow<'static, str>, Option<bytes::Bytes>);

/// A record ready for the producer.
#[derive(Debug, Clone, Copy)]
pub struct KafkaRecord<'a> {
    pub key: Option<&'a [u8]>,
    pub value: Option<&'a [u8]>,
    pub partition: Option<i32>,
    pub headers: &'a [Header],
    /// CreateTime in ms, when the record has its own (else the produce call stamps one).
    pub timestamp: Option<i64>,
    /// [`fields_size`] of its key, value and headers: counted once when the record is made, so
    /// that sizing and writing a batch do not walk its headers again.
    pub fields: u32,
}

/// The bytes a key or value takes in a v2 record (`DefaultRecord`): its length as a varint, then
/// itself; a null is the length -1 alone.
pub fn field_size(len: Option<usize>) -> usize {
    match len {
        None => 1,
        Some(n) => crate::varint::long_len(n as i64) + n,
    }
}

/// The bytes a record's headers take in a v2 record: their count, then each name and value with
/// their lengths.
pub fn headers_size(headers: &[Header]) -> usize {
    crate::varint::long_len(headers.len() as i64)
        + headers
            .iter()
            .map(|(name, value)| {
                field_size(Some(name.len())) + field_size(value.as_ref().map(|v| v.len()))
            })
            .sum::<usize>()
}

/// What a record's key, value and headers take in a v2 record, after its attributes and deltas.
pub fn fields_size(key: Option<usize>, value: Option<usize>, headers: &[Header]) -> u32 {
    (field_size(key) + field_size(value) + headers_size(headers)) as u32
}

impl EncodedRecord {
    /// A REST record: key and value ranges of the arena, no headers, the request's timestamp.
    pub(crate) fn new(
        key: Option<Range<usize>>,
        value: Option<Range<usize>>,
        partition: Option<i32>,
    ) -> Self {
        let fields = fields_size(
            key.as_ref().map(Range::len),
            value.as_ref().map(Range::len),
            &[],
        );
        EncodedRecord {
            key,
            value,
            partition,
            headers: 0..0,
            timestamp: None,
            fields,
        }
    }
}

impl EncodedRecords {
    /// Records without headers: ranges of `data`.
    pub(crate) fn new(data: Bytes, records: Vec<EncodedRecord>) -> Self {
        EncodedRecords {
            data,
            records,
            headers: Vec::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Record `i`.
    pub fn get(&self, i: usize) -> KafkaRecord<'_> {
        self.view(&self.records[i])
    }

    /// One of the records, its ranges resolved.
    fn view<'a>(&'a self, r: &'a EncodedRecord) -> KafkaRecord<'a> {
        KafkaRecord {
            key: r.key.clone().map(|range| &self.data[range]),
            value: r.value.clone().map(|range| &self.data[range]),
            partition: r.partition,
            headers: &self.headers[r.headers.start as usize..r.headers.end as usize],
            timestamp: r.timestamp,
            fields: r.fields,
        }
    }

    /// Every record's partition, in request order (`None`: not chosen yet).
    pub fn partitions(&self) -> impl ExactSizeIterator<Item = Option<i32>> + '_ {
        self.records.iter().map(|r| r.partition)
    }

    /// What record `i`'s key, value and headers take in a batch ([`fields_size`]).
    pub fn fields(&self, i: usize) -> u32 {
        self.records[i].fields
    }

    /// Sets the partition of record `i`.
    pub fn set_partition(&mut self, i: usize, partition: i32) {
        self.records[i].partition = Some(partition);
    }

    /// The records in request order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = KafkaRecord<'_>> + Clone + '_ {
        self.records.iter().map(move |r| self.view(r))
    }
}

/// Appends `data` to an arena; where it now is.
pub(crate) fn put(arena: &mut Vec<u8>, data: &[u8]) -> Range<usize> {
    let start = arena.len();
    arena.extend_from_slice(data);
    start..arena.len()
}

/// Appends records into one arena: one by one (v3's records), or a whole MQTT chunk's at a time
/// ([`RecordsBuilder::append`]).
pub struct RecordsBuilder {
    arena: Vec<u8>,
    records: Vec<EncodedRecord>,
    headers: Vec<Header>,
}

impl RecordsBuilder {
    /// Room for `records` records of `bytes` key and value bytes in all, and `headers` headers.
    pub fn with_capacity(records: usize, bytes: usize, headers: usize) -> Self {
        RecordsBuilder {
            arena: Vec::with_capacity(bytes),
            records: Vec::with_capacity(records),
            headers: Vec::with_capacity(headers),
        }
    }

    pub fn push(
        &mut self,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        partition: Option<i32>,
        headers: impl IntoIterator<Item = Header>,
        timestamp: Option<i64>,
    ) {
        let key = key.map(|k| put(&mut self.arena, k));
        let value = value.map(|v| put(&mut self.arena, v));
        let first = self.headers.len() as u32;
        self.headers.extend(headers);
        let fields = fields_size(
            key.as_ref().map(Range::len),
            value.as_ref().map(Range::len),
            &self.headers[first as usize..],
        );
        self.records.push(EncodedRecord {
            key,
            value,
            partition,
            headers: first..self.headers.len() as u32,
            timestamp,
            fields,
        });
    }

    /// Appends records built elsewhere on an arena and a header list of their own (an MQTT
    /// chunk's): the arena in one copy, the records' ranges moved to match.
    pub(crate) fn append(&mut self, arena: &[u8], records: &[EncodedRecord], headers: &[Header]) {
        let at = self.arena.len();
        let first = self.headers.len() as u32;
        self.arena.extend_from_slice(arena);
        self.headers.extend_from_slice(headers);
        let shift = |r: &Option<Range<usize>>| r.as_ref().map(|r| r.start + at..r.end + at);
        self.records.extend(records.iter().map(|r| EncodedRecord {
            key: shift(&r.key),
            value: shift(&r.value),
            partition: r.partition,
            headers: r.headers.start + first..r.headers.end + first,
            timestamp: r.timestamp,
            fields: r.fields,
        }));
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
            headers: self.headers,
        }
    }
}
