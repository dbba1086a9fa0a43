//! Consume responses: records written straight into the response buffer as
//! `{"topic","key","value","partition","offset"}`, in the consumer's embedded format.

use super::embedded::FormatError;
use super::{binary, json};

use crate::record::{ConsumedRecord, EmbeddedFormat, Family};
use crate::schema::client::Schemas;
use crate::schema::kinds::Parsed;

/// Writes the records of one GET records response.
pub struct RecordWriter {
    format: EmbeddedFormat,
    /// The registry schema-format records are decoded with.
    schemas: Option<Schemas>,
    /// The JSON-escaped form of the topic last written: records of a response mostly share one.
    topic: String,
    escaped_topic: Vec<u8>,
    num: itoa::Buffer,
    /// `json.max.nesting.depth` for json-format records.
    json_depth: usize,
    /// Beyond Confluent (opt-in per instance): each record's headers and timestamp.
    headers: bool,
    timestamp: bool,
}

impl RecordWriter {
    pub fn new(format: EmbeddedFormat, schemas: Option<Schemas>) -> Self {
        RecordWriter {
            format,
            schemas,
            topic: String::new(),
            escaped_topic: Vec::new(),
            num: itoa::Buffer::new(),
            json_depth: 1000,
            headers: false,
            timestamp: false,
        }
    }

    /// Adds `"headers":[{"name","value"(base64 or null)}]` and `"timestamp"` (ms, or null) to
    /// each record (consumer instances created with `record.headers` / `record.timestamps`).
    pub fn with_metadata(mut self, headers: bool, timestamp: bool) -> Self {
        self.headers = headers;
        self.timestamp = timestamp;
        self
    }

    /// Sets the deepest nesting a json-format record may have (default 1000).
    pub fn json_depth(mut self, depth: usize) -> Self {
        self.json_depth = depth;
        self
    }

    fn write_data(&self, out: &mut Vec<u8>, data: Option<&[u8]>) -> Result<(), FormatError> {
        if self.format.family() != Family::Schema {
            return write_data(self.format, out, data, self.json_depth);
        }
        let Some(data) = data else {
            out.extend_from_slice(b"null");
            return Ok(());
        };
        let registry = self
            .schemas
            .as_ref()
            .ok_or(FormatError::SchemaRegistryRequired)?;
        let (id, payload) =
            super::avro::unframe(data).map_err(|e| FormatError::Schema(e.to_string()))?;
        let stored = registry
            .cached(id)
            .map_err(|e| FormatError::Schema(format!("schema {id}: {e}")))?
            .ok_or(FormatError::SchemaNotFetched(id))?;
        let json = match &stored.parsed {
            Parsed::Avro(schema) => super::avro::decode(schema, payload)
                .map_err(|e| FormatError::Schema(format!("Avro record with schema {id}: {e}")))?,
            Parsed::Json(_) => serde_json::from_slice::<serde_json::Value>(payload)
                .map_err(|e| FormatError::Schema(format!("JSON record with schema {id}: {e}")))?,
            Parsed::Protobuf(schema) => {
                return super::protobuf::decode(schema, payload, out).map_err(|e| {
                    FormatError::Schema(format!("Protobuf record with schema {id}: {e}"))
                });
            }
        };
        serde_json::to_writer(&mut *out, &json).expect("writing to a Vec");
        Ok(())
    }

    /// Appends one record object to `out`; on error `out` may hold a partial object, which the
    /// caller truncates.
    pub fn write(
        &mut self,
        record: &ConsumedRecord<'_>,
        out: &mut Vec<u8>,
    ) -> Result<(), FormatError> {
        if self.escaped_topic.is_empty() || self.topic != record.topic {
            self.topic.clear();
            self.topic.push_str(record.topic);
            self.escaped_topic.clear();
            serde_json::to_writer(&mut self.escaped_topic, record.topic).expect("writing to a Vec");
        }
        out.extend_from_slice(b"{\"topic\":");
        out.extend_from_slice(&self.escaped_topic);
        out.extend_from_slice(b",\"key\":");
        self.write_data(out, record.key)?;
        out.extend_from_slice(b",\"value\":");
        self.write_data(out, record.value)?;
        out.extend_from_slice(b",\"partition\":");
        out.extend_from_slice(self.num.format(record.partition).as_bytes());
        out.extend_from_slice(b",\"offset\":");
        out.extend_from_slice(self.num.format(record.offset).as_bytes());
        if self.timestamp {
            out.extend_from_slice(b",\"timestamp\":");
            match record.timestamp {
                Some(ms) => out.extend_from_slice(self.num.format(ms).as_bytes()),
                None => out.extend_from_slice(b"null"),
            }
        }
        if self.headers {
            out.extend_from_slice(b",\"headers\":[");
            for (i, (name, value)) in record.headers.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                out.extend_from_slice(b"{\"name\":");
                serde_json::to_writer(&mut *out, name).expect("writing to a Vec");
                out.extend_from_slice(b",\"value\":");
                match value {
                    Some(v) => binary::write_base64(out, v),
                    None => out.extend_from_slice(b"null"),
                }
                out.push(b'}');
            }
            out.push(b']');
        }
        out.push(b'}');
        Ok(())
    }
}

/// Writes a key or value into a consume response in the consumer's format (`json_depth`: see
/// [`super::encode_records`]).
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

#[cfg(test)]
mod tests {
    use super::*;

    fn msg<'a>(
        topic: &'a str,
        key: Option<&'a [u8]>,
        value: &'a [u8],
        offset: i64,
    ) -> ConsumedRecord<'a> {
        ConsumedRecord {
            headers: &[],
            timestamp: None,
            topic,
            key,
            value: Some(value),
            partition: 3,
            offset,
        }
    }

    #[test]
    fn writes_confluent_record_objects() {
        let mut out = Vec::new();
        let mut w = RecordWriter::new(EmbeddedFormat::Binary, None);
        w.write(&msg("t\"1", Some(b"key"), b"hello world!!!", 7), &mut out)
            .unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"topic":"t\"1","key":"a2V5","value":"aGVsbG8gd29ybGQhISE=","partition":3,"offset":7}"#
        );
        let mut out = Vec::new();
        let mut w = RecordWriter::new(EmbeddedFormat::Json, None);
        w.write(&msg("a", None, br#"{"x": 1}"#, 0), &mut out)
            .unwrap();
        w.write(&msg("b", None, b"2", 1), &mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"topic":"a","key":null,"value":{"x": 1},"partition":3,"offset":0}{"topic":"b","key":null,"value":2,"partition":3,"offset":1}"#
        );
    }
}
