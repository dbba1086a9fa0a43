//! The few Kafka protocol messages the batch produce engine speaks, encoded by hand: ApiVersions
//! v0, SaslHandshake v1 and SaslAuthenticate v1 (KIP-152), and Produce v3–v8 carrying one v2
//! record batch per partition.
//!
//! A request's records are written once, straight from the HTTP body (or the binary format's
//! decoded arena) into the request frame: no per-record allocation, no queue, one CRC per batch.
//! Formats: <https://kafka.apache.org/protocol> and the record batch layout in Kafka's
//! `DefaultRecordBatch`/`DefaultRecord`.

use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::record::{Header, KafkaRecord};
use crate::varint;

pub const API_PRODUCE: i16 = 0;
pub const API_VERSIONS: i16 = 18;
pub const API_SASL_HANDSHAKE: i16 = 17;
pub const API_SASL_AUTHENTICATE: i16 = 36;
/// The Produce versions this module encodes and decodes: v3 introduced the v2 record batch; v9
/// switches to the flexible (tagged-field) encoding, which we do not need.
pub const PRODUCE_VERSIONS: std::ops::RangeInclusive<i16> = 3..=8;

/// Size of a v2 record batch header, up to and including the record count.
pub const BATCH_HEADER_BYTES: usize = 61;
/// Byte offset of the CRC-covered part (attributes onwards) within a batch.
const BATCH_CRC_FROM: usize = 21;

/// Starts a request frame: size placeholder, header v1 (`api_key`, `api_version`, correlation id
/// placeholder, `client_id`). The size and correlation id are patched by [`finish_frame`] and
/// [`set_correlation_id`].
pub fn start_frame(out: &mut BytesMut, api_key: i16, api_version: i16, client_id: &str) {
    out.put_i32(0);
    out.put_i16(api_key);
    out.put_i16(api_version);
    out.put_i32(0);
    put_string(out, client_id);
}

/// Writes the frame's size prefix.
pub fn finish_frame(out: &mut BytesMut) {
    let size = (out.len() - 4) as i32;
    out[..4].copy_from_slice(&size.to_be_bytes());
}

/// Stamps a correlation id into a finished frame.
pub fn set_correlation_id(frame: &mut [u8], id: i32) {
    frame[8..12].copy_from_slice(&id.to_be_bytes());
}

fn put_string(out: &mut BytesMut, s: &str) {
    out.put_i16(s.len() as i16);
    out.put_slice(s.as_bytes());
}

/// An ApiVersions v0 request.
pub fn api_versions_request(client_id: &str) -> BytesMut {
    let mut out = BytesMut::with_capacity(32);
    start_frame(&mut out, API_VERSIONS, 0, client_id);
    finish_frame(&mut out);
    out
}

/// A SaslHandshake v1 request naming the mechanism (the tokens follow in SaslAuthenticate).
pub fn sasl_handshake_request(client_id: &str, mechanism: &str) -> BytesMut {
    let mut out = BytesMut::with_capacity(48);
    start_frame(&mut out, API_SASL_HANDSHAKE, 1, client_id);
    put_string(&mut out, mechanism);
    finish_frame(&mut out);
    out
}

/// A SaslAuthenticate v1 request carrying one client token.
pub fn sasl_authenticate_request(client_id: &str, token: &[u8]) -> BytesMut {
    let mut out = BytesMut::with_capacity(32 + token.len());
    start_frame(&mut out, API_SASL_AUTHENTICATE, 1, client_id);
    out.put_i32(token.len() as i32);
    out.put_slice(token);
    finish_frame(&mut out);
    out
}

/// Parses a SaslHandshake response body: its error code and the broker's enabled mechanisms.
pub fn parse_sasl_handshake(body: Bytes) -> Result<(i16, Vec<String>), DecodeError> {
    let mut r = Reader(body);
    let error = r.i16("sasl handshake error code")?;
    let n = r.array_len("sasl mechanisms count")?;
    let mut mechanisms = Vec::with_capacity(n);
    for _ in 0..n {
        if let Some(m) = r.nullable_string("sasl mechanism")? {
            mechanisms.push(m);
        }
    }
    Ok((error, mechanisms))
}

/// A SaslAuthenticate v1 answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaslAuthenticated {
    pub error_code: i16,
    pub error_message: Option<String>,
    pub token: Bytes,
    /// KIP-368: the broker closes the connection after this many ms unless it re-authenticates;
    /// 0 when it never does.
    pub session_lifetime_ms: i64,
}

/// Parses a SaslAuthenticate v1 response body.
pub fn parse_sasl_authenticate(body: Bytes) -> Result<SaslAuthenticated, DecodeError> {
    let mut r = Reader(body);
    let error_code = r.i16("sasl authenticate error code")?;
    let error_message = r.nullable_string("sasl error message")?;
    let n = r.i32("sasl token size")?;
    let token = if n < 0 {
        Bytes::new()
    } else {
        r.need(n as usize, "sasl token")?;
        r.0.split_to(n as usize)
    };
    let session_lifetime_ms = r.i64("sasl session lifetime")?;
    Ok(SaslAuthenticated {
        error_code,
        error_message,
        token,
        session_lifetime_ms,
    })
}

/// A malformed or unexpected response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed Kafka response: {0}")]
pub struct DecodeError(pub &'static str);

struct Reader(Bytes);

impl Reader {
    fn need(&self, n: usize, what: &'static str) -> Result<(), DecodeError> {
        if self.0.remaining() < n {
            Err(DecodeError(what))
        } else {
            Ok(())
        }
    }
    fn i16(&mut self, what: &'static str) -> Result<i16, DecodeError> {
        self.need(2, what)?;
        Ok(self.0.get_i16())
    }
    fn i32(&mut self, what: &'static str) -> Result<i32, DecodeError> {
        self.need(4, what)?;
        Ok(self.0.get_i32())
    }
    fn i64(&mut self, what: &'static str) -> Result<i64, DecodeError> {
        self.need(8, what)?;
        Ok(self.0.get_i64())
    }
    fn array_len(&mut self, what: &'static str) -> Result<usize, DecodeError> {
        let n = self.i32(what)?;
        // Every element is at least 2 bytes: a count beyond that is corrupt, not a huge array.
        if n < 0 || n as usize > self.0.remaining() / 2 + 1 {
            return Err(DecodeError(what));
        }
        Ok(n as usize)
    }
    fn nullable_string(&mut self, what: &'static str) -> Result<Option<String>, DecodeError> {
        let n = self.i16(what)?;
        if n < 0 {
            return Ok(None);
        }
        self.need(n as usize, what)?;
        let s = self.0.split_to(n as usize);
        Ok(Some(String::from_utf8_lossy(&s).into_owned()))
    }
}

/// The API versions a broker supports: (api key, min, max), from its ApiVersions answer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApiVersions(pub Vec<(i16, i16, i16)>);

impl ApiVersions {
    /// The supported version range of `api_key`, or None when the broker does not list it.
    pub fn range(&self, api_key: i16) -> Option<(i16, i16)> {
        self.0
            .iter()
            .find(|(k, _, _)| *k == api_key)
            .map(|(_, min, max)| (*min, *max))
    }
}

/// Parses an ApiVersions v0 response body (after the correlation id).
pub fn parse_api_versions(body: Bytes) -> Result<ApiVersions, DecodeError> {
    let mut r = Reader(body);
    let error = r.i16("api versions error code")?;
    if error != 0 {
        return Err(DecodeError("api versions request refused"));
    }
    let n = r.array_len("api versions count")?;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let key = r.i16("api key")?;
        let min = r.i16("min version")?;
        let max = r.i16("max version")?;
        out.push((key, min, max));
    }
    Ok(ApiVersions(out))
}

fn put_varint(out: &mut BytesMut, v: i32) {
    varint::put_long(out, i64::from(v));
}

fn varint_size(v: i32) -> usize {
    varint::long_len(i64::from(v))
}

/// The body of one record after its length prefix: attributes, timestamp delta, offset delta,
/// then key, value and headers, which the record has counted once (`KafkaRecord::fields`).
fn record_body_size(offset_delta: i32, timestamp_delta: i64, fields: u32) -> usize {
    1 + varint::long_len(timestamp_delta) + varint_size(offset_delta) + fields as usize
}

/// Bytes one record adds to a batch, from what its key, value and headers take
/// ([`KafkaRecord::fields`]).
pub fn record_size(offset_delta: i32, timestamp_delta: i64, fields: u32) -> usize {
    let body = record_body_size(offset_delta, timestamp_delta, fields);
    varint_size(body as i32) + body
}

fn put_bytes_field(out: &mut BytesMut, data: Option<&[u8]>) {
    match data {
        None => put_varint(out, -1),
        Some(d) => {
            put_varint(out, d.len() as i32);
            out.put_slice(d);
        }
    }
}

/// A record's headers: their count, then each name and value with their lengths.
fn put_headers(out: &mut BytesMut, headers: &[Header]) {
    put_varint(out, headers.len() as i32);
    for (name, value) in headers {
        put_varint(out, name.len() as i32);
        out.put_slice(name.as_bytes());
        put_bytes_field(out, value.as_deref());
    }
}

/// A record with its CreateTime.
pub type Timed<'r> = (i64, KafkaRecord<'r>);

/// Bytes of a batch holding `records`.
#[cfg(test)]
pub fn batch_size(records: &[Timed<'_>]) -> usize {
    let base = records.iter().map(|r| r.0).min().unwrap_or(0);
    BATCH_HEADER_BYTES
        + records
            .iter()
            .enumerate()
            .map(|(i, (ts, r))| record_size(i as i32, ts - base, r.fields))
            .sum::<usize>()
}

/// A record batch's compression codec (`compression.type`; snappy is librdkafka's).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compression {
    #[default]
    None,
    Gzip,
    Lz4,
    Zstd,
}

impl Compression {
    /// Parses a `compression.type` value the batch engine writes (None for the others).
    pub fn parse(value: &str) -> Option<Compression> {
        match value.trim().to_ascii_lowercase().as_str() {
            "none" => Some(Compression::None),
            "gzip" => Some(Compression::Gzip),
            "lz4" => Some(Compression::Lz4),
            "zstd" => Some(Compression::Zstd),
            _ => None,
        }
    }

    /// The batch attributes' codec bits.
    fn attribute(self) -> i16 {
        match self {
            Compression::None => 0,
            Compression::Gzip => 1,
            Compression::Lz4 => 3,
            Compression::Zstd => 4,
        }
    }

    /// The records section, compressed (Kafka's framings: gzip, the LZ4 frame format, zstd).
    fn compress(self, records: &[u8]) -> Vec<u8> {
        use std::io::Write;
        match self {
            Compression::None => records.to_vec(),
            Compression::Gzip => {
                let mut e = flate2::write::GzEncoder::new(
                    Vec::with_capacity(records.len() / 2),
                    flate2::Compression::fast(),
                );
                e.write_all(records).expect("writing to memory");
                e.finish().expect("writing to memory")
            }
            Compression::Lz4 => {
                let mut e =
                    lz4_flex::frame::FrameEncoder::new(Vec::with_capacity(records.len() / 2));
                e.write_all(records).expect("writing to memory");
                e.finish().expect("writing to memory")
            }
            Compression::Zstd => zstd::bulk::compress(records, 1).expect("compressing in memory"),
        }
    }
}

/// Appends one v2 record batch (no producer id, CreateTime) holding `records`, its records
/// section compressed with `compression`.
pub fn put_batch(out: &mut BytesMut, records: &[Timed<'_>], compression: Compression) {
    let count = records.len() as i32;
    let base_ts = records.iter().map(|r| r.0).min().unwrap_or(0);
    let max_ts = records.iter().map(|r| r.0).max().unwrap_or(0);
    let start = out.len();
    out.put_i64(0); // base offset, assigned by the broker
    out.put_i32(0); // batch length, patched below
    out.put_i32(-1); // partition leader epoch
    out.put_i8(2); // magic
    out.put_u32(0); // crc, patched below
    out.put_i16(compression.attribute()); // attributes: the codec, CreateTime, not transactional
    out.put_i32(count - 1); // last offset delta
    out.put_i64(base_ts);
    out.put_i64(max_ts);
    out.put_i64(-1); // producer id
    out.put_i16(-1); // producer epoch
    out.put_i32(-1); // base sequence
    out.put_i32(count);
    let records_at = out.len();
    // Records that share one header list (an MQTT run's) share its bytes: written once, then
    // copied whole for each record that follows with the same list.
    let mut headers_of: Option<&[Header]> = None;
    let mut headers_bytes = BytesMut::new();
    for (delta, (ts, r)) in records.iter().enumerate() {
        let delta = delta as i32;
        let ts_delta = ts - base_ts;
        let body = record_body_size(delta, ts_delta, r.fields);
        put_varint(out, body as i32);
        let body_at = out.len();
        out.put_i8(0); // attributes
        varint::put_long(out, ts_delta);
        put_varint(out, delta);
        put_bytes_field(out, r.key);
        put_bytes_field(out, r.value);
        if r.headers.is_empty() {
            out.put_u8(0); // no headers: the count 0
        } else {
            // The same slice (address and length), so the same bytes.
            if !headers_of.is_some_and(|h| std::ptr::eq(h, r.headers)) {
                headers_of = Some(r.headers);
                headers_bytes.clear();
                put_headers(&mut headers_bytes, r.headers);
            }
            out.put_slice(&headers_bytes);
        }
        debug_assert_eq!(
            out.len() - body_at,
            body,
            "a record's counted fields are wrong"
        );
    }
    if compression != Compression::None {
        let compressed = compression.compress(&out[records_at..]);
        out.truncate(records_at);
        out.extend_from_slice(&compressed);
    }
    let length = (out.len() - start - 12) as i32;
    out[start + 8..start + 12].copy_from_slice(&length.to_be_bytes());
    let crc = crc32c::crc32c(&out[start + BATCH_CRC_FROM..]);
    out[start + 17..start + 21].copy_from_slice(&crc.to_be_bytes());
}

/// One partition's part of a produce request: its records, in order.
pub struct PartitionBatch<'r> {
    pub partition: i32,
    pub records: Vec<Timed<'r>>,
}

/// A complete Produce request frame (correlation id still 0): per topic, one batch per partition.
/// `batch_bytes` is what the batches are expected to take (the frame grows if they take more):
/// the batch engine has its jobs' estimates, so the records are not sized twice.
pub fn produce_request(
    client_id: &str,
    version: i16,
    acks: i16,
    timeout_ms: i32,
    topics: &[(&str, Vec<PartitionBatch<'_>>)],
    batch_bytes: usize,
    compression: Compression,
) -> BytesMut {
    let overhead: usize = topics
        .iter()
        .map(|(t, batches)| t.len() + 6 + 8 * batches.len())
        .sum();
    let mut out = BytesMut::with_capacity(batch_bytes + overhead + 64 + client_id.len());
    start_frame(&mut out, API_PRODUCE, version, client_id);
    out.put_i16(-1); // transactional id: null
    out.put_i16(acks);
    out.put_i32(timeout_ms);
    out.put_i32(topics.len() as i32);
    for (topic, batches) in topics {
        put_string(&mut out, topic);
        out.put_i32(batches.len() as i32);
        for b in batches {
            out.put_i32(b.partition);
            let size_at = out.len();
            out.put_i32(0);
            put_batch(&mut out, &b.records, compression);
            let size = (out.len() - size_at - 4) as i32;
            out[size_at..size_at + 4].copy_from_slice(&size.to_be_bytes());
        }
    }
    finish_frame(&mut out);
    out
}

/// One partition's answer to a produce request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionResult {
    pub topic: String,
    pub partition: i32,
    pub error_code: i16,
    pub base_offset: i64,
    /// v8: the broker's message for the error, if any.
    pub error_message: Option<String>,
}

/// Parses a Produce response body (after the correlation id) of `version`.
pub fn parse_produce_response(
    body: Bytes,
    version: i16,
) -> Result<Vec<PartitionResult>, DecodeError> {
    let mut r = Reader(body);
    let mut out = Vec::new();
    let topics = r.array_len("topic count")?;
    for _ in 0..topics {
        let topic = r.nullable_string("topic name")?.unwrap_or_default();
        let partitions = r.array_len("partition count")?;
        for _ in 0..partitions {
            let partition = r.i32("partition index")?;
            let error_code = r.i16("error code")?;
            let base_offset = r.i64("base offset")?;
            r.i64("log append time")?;
            if version >= 5 {
                r.i64("log start offset")?;
            }
            let mut error_message = None;
            if version >= 8 {
                let record_errors = r.array_len("record errors")?;
                for _ in 0..record_errors {
                    r.i32("batch index")?;
                    r.nullable_string("batch index error message")?;
                }
                error_message = r.nullable_string("error message")?;
            }
            out.push(PartitionResult {
                topic: topic.clone(),
                partition,
                error_code,
                base_offset,
                error_message,
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec<'a>(key: Option<&'a [u8]>, value: Option<&'a [u8]>) -> KafkaRecord<'a> {
        KafkaRecord {
            key,
            value,
            partition: None,
            headers: &[],
            timestamp: None,
            fields: crate::record::fields_size(key.map(<[u8]>::len), value.map(<[u8]>::len), &[]),
        }
    }

    #[test]
    fn varints_are_zigzag() {
        let mut out = BytesMut::new();
        for v in [0, -1, 1, 63, -64, 64, 300] {
            put_varint(&mut out, v);
        }
        assert_eq!(&out[..], &[0, 1, 2, 126, 127, 128, 1, 216, 4]);
        assert_eq!(varint_size(64), 2);
        assert_eq!(varint_size(-1), 1);
    }

    /// The layout of a batch, checked field by field against Kafka's `DefaultRecordBatch`, with
    /// the CRC checked independently over the attributes-onwards bytes.
    #[test]
    fn batch_layout() {
        let ts = 1_700_000_000_000;
        let records = [
            (ts, rec(Some(b"k"), Some(b"hello"))),
            (ts + 70, rec(None, None)),
        ];
        let mut out = BytesMut::new();
        put_batch(&mut out, &records, Compression::None);
        let expected_len = batch_size(&records);
        // Compressed, the same records section comes back from each codec's decoder.
        let section = out[BATCH_HEADER_BYTES..].to_vec();
        for codec in [Compression::Gzip, Compression::Lz4, Compression::Zstd] {
            let mut packed = BytesMut::new();
            put_batch(&mut packed, &records, codec);
            let body = &packed[BATCH_HEADER_BYTES..];
            let unpacked = match codec {
                Compression::Gzip => {
                    let mut d = flate2::read::GzDecoder::new(body);
                    let mut v = Vec::new();
                    std::io::Read::read_to_end(&mut d, &mut v).unwrap();
                    v
                }
                Compression::Lz4 => {
                    let mut d = lz4_flex::frame::FrameDecoder::new(body);
                    let mut v = Vec::new();
                    std::io::Read::read_to_end(&mut d, &mut v).unwrap();
                    v
                }
                _ => zstd::bulk::decompress(body, 1 << 20).unwrap(),
            };
            assert_eq!(unpacked, section, "{codec:?}");
            assert_eq!(
                i16::from_be_bytes([packed[21], packed[22]]),
                codec.attribute()
            );
            let crc = crc32c::crc32c(&packed[BATCH_CRC_FROM..]);
            assert_eq!(u32::from_be_bytes(packed[17..21].try_into().unwrap()), crc);
        }
        assert_eq!(out.len(), expected_len);
        let mut b = out.clone().freeze();
        assert_eq!(b.get_i64(), 0);
        assert_eq!(b.get_i32() as usize, expected_len - 12);
        assert_eq!(b.get_i32(), -1);
        assert_eq!(b.get_i8(), 2);
        let crc = b.get_u32();
        assert_eq!(crc, crc32c::crc32c(&out[21..]));
        assert_eq!(b.get_i16(), 0);
        assert_eq!(b.get_i32(), 1, "last offset delta");
        assert_eq!(b.get_i64(), ts, "base timestamp");
        assert_eq!(b.get_i64(), ts + 70, "max timestamp");
        assert_eq!(b.get_i64(), -1);
        assert_eq!(b.get_i16(), -1);
        assert_eq!(b.get_i32(), -1);
        assert_eq!(b.get_i32(), 2);
        // Record 0: length 12 (zigzag 24), attrs 0, ts delta 0, offset delta 0, key len 1, "k",
        // value len 5, "hello", 0 headers.
        assert_eq!(
            &b[..13],
            &[24, 0, 0, 0, 2, b'k', 10, b'h', b'e', b'l', b'l', b'o', 0]
        );
        // Record 1: timestamp delta 70 (zigzag 140 = two bytes), offset delta 1 (= 2), null key
        // and value (varint -1 = 1).
        assert_eq!(&b[13..], &[14, 0, 140, 1, 2, 1, 1, 0]);
    }

    /// Records sharing one header list get its bytes copied from the first; every record is
    /// still exactly what Kafka's `DefaultRecord` holds, and its counted fields match them.
    #[test]
    fn shared_header_lists_are_written_once_and_every_record_whole() {
        let h = |name: &'static str, value: Option<&'static [u8]>| -> Header {
            (name.into(), value.map(Bytes::from_static))
        };
        let run = vec![h("mqtt.topic", Some(b"a/b")), h("mqtt.qos", Some(b"2"))];
        let other = vec![h("x", None)];
        let same_as_run = run.clone(); // equal, but another list
        let with = |value: &'static [u8], headers: &'static [Header]| KafkaRecord {
            key: Some(b"a/b"),
            value: Some(value),
            partition: None,
            headers,
            timestamp: None,
            fields: crate::record::fields_size(Some(3), Some(value.len()), headers),
        };
        // The lists must outlive the records: leak them for the test.
        let run: &'static [Header] = Vec::leak(run);
        let other: &'static [Header] = Vec::leak(other);
        let same_as_run: &'static [Header] = Vec::leak(same_as_run);
        let ts = 1_700_000_000_000;
        let records = [
            (ts, with(b"one", run)),
            (ts, with(b"two", run)),
            (ts + 1, with(b"three", other)),
            (ts + 2, with(b"four", same_as_run)),
            (ts + 3, with(b"five", &[])),
            (ts + 4, with(b"six", run)),
        ];
        let mut out = BytesMut::new();
        put_batch(&mut out, &records, Compression::None);
        // The same records written field by field, as Kafka's DefaultRecord lays them out.
        let mut expected = BytesMut::new();
        for (delta, (t, r)) in records.iter().enumerate() {
            let mut body = BytesMut::new();
            body.put_i8(0);
            varint::put_long(&mut body, t - ts);
            put_varint(&mut body, delta as i32);
            put_bytes_field(&mut body, r.key);
            put_bytes_field(&mut body, r.value);
            put_varint(&mut body, r.headers.len() as i32);
            for (name, value) in r.headers {
                put_varint(&mut body, name.len() as i32);
                body.put_slice(name.as_bytes());
                put_bytes_field(&mut body, value.as_deref());
            }
            assert_eq!(body.len(), record_body_size(delta as i32, t - ts, r.fields));
            put_varint(&mut expected, body.len() as i32);
            expected.extend_from_slice(&body);
        }
        assert_eq!(&out[BATCH_HEADER_BYTES..], &expected[..]);
        assert_eq!(out.len(), batch_size(&records));
    }

    #[test]
    fn produce_request_frame() {
        let frame = produce_request(
            "cid",
            7,
            -1,
            30_000,
            &[(
                "t",
                vec![PartitionBatch {
                    partition: 2,
                    records: vec![(5, rec(None, Some(b"v")))],
                }],
            )],
            // Too small a guess: the frame grows.
            0,
            Compression::None,
        );
        let mut b = frame.clone().freeze();
        assert_eq!(b.get_i32() as usize, frame.len() - 4);
        assert_eq!((b.get_i16(), b.get_i16(), b.get_i32()), (0, 7, 0));
        assert_eq!(b.get_i16(), 3);
        b.advance(3);
        assert_eq!((b.get_i16(), b.get_i16(), b.get_i32()), (-1, -1, 30_000));
        assert_eq!(b.get_i32(), 1);
        assert_eq!(b.get_i16(), 1);
        assert_eq!(b.get_u8(), b't');
        assert_eq!((b.get_i32(), b.get_i32()), (1, 2));
        assert_eq!(b.get_i32() as usize, b.remaining());
        let mut framed = frame.clone();
        set_correlation_id(&mut framed, 77);
        assert_eq!(&framed[8..12], &77i32.to_be_bytes());
    }

    #[test]
    fn produce_response_versions() {
        for version in [3, 5, 8] {
            let mut b = BytesMut::new();
            b.put_i32(1);
            b.put_i16(1);
            b.put_u8(b't');
            b.put_i32(1);
            b.put_i32(4);
            b.put_i16(6);
            b.put_i64(-1);
            b.put_i64(-1);
            if version >= 5 {
                b.put_i64(0);
            }
            if version >= 8 {
                b.put_i32(0);
                b.put_i16(3);
                b.put_slice(b"bad");
            }
            b.put_i32(0); // throttle
            let parsed = parse_produce_response(b.freeze(), version).unwrap();
            assert_eq!(parsed.len(), 1);
            assert_eq!(parsed[0].partition, 4);
            assert_eq!(parsed[0].error_code, 6);
            assert_eq!(
                parsed[0].error_message.as_deref(),
                (version >= 8).then_some("bad")
            );
        }
        assert!(parse_produce_response(Bytes::from_static(&[0, 0, 0, 1, 0]), 7).is_err());
        assert!(parse_produce_response(Bytes::from_static(&[0x7f, 0, 0, 1]), 7).is_err());
    }

    #[test]
    fn api_versions() {
        let mut b = BytesMut::new();
        b.put_i16(0);
        b.put_i32(2);
        for (k, min, max) in [(0i16, 0i16, 9i16), (18, 0, 3)] {
            b.put_i16(k);
            b.put_i16(min);
            b.put_i16(max);
        }
        assert_eq!(
            parse_api_versions(b.freeze()).unwrap().range(0),
            Some((0, 9))
        );
    }

    #[test]
    fn sasl_messages() {
        let frame = sasl_handshake_request("me", "SCRAM-SHA-512");
        // size, key 17, version 1, correlation id, client id, mechanism.
        assert_eq!(&frame[4..8], &[0, 17, 0, 1]);
        assert_eq!(&frame[14..16], b"me");
        assert_eq!(&frame[16..18], &[0, 13]);
        assert_eq!(&frame[18..], b"SCRAM-SHA-512");
        assert_eq!(
            frame.len() - 4,
            i32::from_be_bytes(frame[..4].try_into().unwrap()) as usize
        );
        let frame = sasl_authenticate_request("me", b"n,,n=u,r=x");
        assert_eq!(&frame[4..8], &[0, 36, 0, 1]);
        assert_eq!(&frame[16..20], &[0, 0, 0, 10]);

        let mut b = BytesMut::new();
        b.put_i16(33);
        b.put_i32(2);
        for m in ["PLAIN", "SCRAM-SHA-256"] {
            b.put_i16(m.len() as i16);
            b.put_slice(m.as_bytes());
        }
        assert_eq!(
            parse_sasl_handshake(b.freeze()).unwrap(),
            (33, vec!["PLAIN".to_string(), "SCRAM-SHA-256".to_string()])
        );

        let mut b = BytesMut::new();
        b.put_i16(58);
        b.put_i16(3);
        b.put_slice(b"bad");
        b.put_i32(2);
        b.put_slice(b"v=");
        b.put_i64(3_600_000);
        let a = parse_sasl_authenticate(b.freeze()).unwrap();
        assert_eq!(
            (
                a.error_code,
                a.error_message.as_deref(),
                &a.token[..],
                a.session_lifetime_ms
            ),
            (58, Some("bad"), &b"v="[..], 3_600_000)
        );
        // Cut short: an error, not a panic.
        let mut b = BytesMut::new();
        b.put_i16(0);
        b.put_i16(-1);
        b.put_i32(100);
        assert!(parse_sasl_authenticate(b.freeze()).is_err());
    }
}
