//! Records on their way to Kafka: as a client wrote them ([`RawRecord`], borrowed from the
//! request body), and as Kafka bytes ([`EncodedRecords`]: ranges into one shared buffer, or one
//! arena built record by record with [`RecordsBuilder`]).

use std::ops::Range;

use bytes::Bytes;

use serde_json::value::RawValue;

use crate::json_fields::Fields;

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
        use serde::de::{MapAccess, Visitor};
        const FIELDS: &[&str; 3] = &["key", "value", "partition"];
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
                let mut fields = Fields::new(FIELDS);
                while let Some(field) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                    match fields.index(&field)? {
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
    pub(super) data: Bytes,
    pub(super) records: Vec<EncodedRecord>,
}

#[derive(Debug, Clone)]
pub(super) struct EncodedRecord {
    pub(super) key: Option<Range<usize>>,
    pub(super) value: Option<Range<usize>>,
    pub(super) partition: Option<i32>,
    /// Record headers (MQTT ingestion sets them; REST records have none, with no allocation).
    pub(super) headers: Vec<Header>,
    /// The record's own CreateTime in ms (MQTT: its arrival); `None` takes the request's.
    pub(super) timestamp: Option<i64>,
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
