//! A whole binary produce body in one pass: the body is read by hand (`body_reader.rs`) and
//! each key and value is decoded from base64 where it stands, into one arena. The usual path
//! (serde_json with raw values, then `binary::encode_records`) reads every value twice: once to
//! skip it, once to decode it; at 100 records of 100 bytes that skip was about a third of the
//! request's decoding (`cargo bench -p proxy-benches --bench produce_decode -- produce_decode/`).
//!
//! Only the plainest form is taken: `{"records": [...]}` with keys and values as base64 strings
//! without escapes, or null (see `body_reader.rs` for the rest). Anything else, and any error,
//! answers None: the caller takes the usual path, which defines every answer and error. What
//! this writes is what the usual path writes, record by record (`tests` below, and the fuzz
//! target `one_pass_request`).

use super::binary::decode_base64;
use super::body_reader::{records, Reader};
use crate::record::EncodedRecords;

/// Encodes a binary `body` with `path_partition` for records naming none; None: take the usual
/// path.
pub fn encode(
    body: &[u8],
    max_records: usize,
    path_partition: Option<i32>,
) -> Option<EncodedRecords> {
    let mut r = Reader::new(std::str::from_utf8(body).ok()?);
    r.byte(b'{')?;
    r.name("records")?;
    let mut arena = Vec::with_capacity(body.len() * 3 / 4 + 4);
    let records = records(
        &mut r,
        max_records,
        path_partition,
        &mut arena,
        |r, _, arena| {
            let text = r.string()?;
            decode_base64(text.as_bytes(), arena).ok()
        },
    )?;
    r.finish(arena, records)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::{encode_records, EmbeddedFormat, RawRecord};

    /// The usual path's records (raw records, then the binary decoder), with the path's
    /// partition applied as the handler does. The fuzz target `one_pass_request` compares with
    /// the request parser itself.
    fn usual(body: &str, path: Option<i32>) -> Option<EncodedRecords> {
        #[derive(serde::Deserialize)]
        struct Req<'a> {
            #[serde(borrow)]
            records: Vec<&'a serde_json::value::RawValue>,
        }
        let request: Req = serde_json::from_str(body).ok()?;
        let records: Vec<RawRecord> = request
            .records
            .iter()
            .map(|r| {
                let mut r: RawRecord = serde_json::from_str(r.get()).ok()?;
                r.partition = r.partition.or(path);
                Some(r)
            })
            .collect::<Option<_>>()?;
        let bytes = bytes::Bytes::copy_from_slice(body.as_bytes());
        encode_records(EmbeddedFormat::Binary, &bytes, &records, 64).ok()
    }

    #[test]
    fn writes_what_the_usual_path_writes() {
        for body in [
            r#"{"records":[{"value":"aGVsbG8="}]}"#,
            r#"{"records":[{"key":"a2V5","value":"aGVsbG8","partition":1},{"value":null},{},{"partition":null,"key":null,"value":"QQ=="},{"value":"","key":"Zm9v"}]}"#,
            " {\n \"records\" : [ { \"value\" : \"Zm9vYg\" , \"partition\" : -3 } ] }\t",
        ] {
            for path in [None, Some(2)] {
                let one = encode(body.as_bytes(), 100, path).unwrap_or_else(|| panic!("{body}"));
                let usual = usual(body, path).unwrap_or_else(|| panic!("usual: {body}"));
                assert_eq!(one.len(), usual.len());
                for (a, b) in one.iter().zip(usual.iter()) {
                    assert_eq!((a.key, a.value, a.partition), (b.key, b.value, b.partition));
                }
            }
        }
    }

    #[test]
    fn anything_else_takes_the_usual_path() {
        for body in [
            // Not base64, escapes, another member, a schema id, no records, bad JSON.
            r#"{"records":[{"value":"!!"}]}"#,
            r#"{"records":[{"value":"a"}]}"#,
            r#"{"records":[{"value":"QQ\u003d\u003d"}]}"#,
            r#"{"records":[{"value":1}]}"#,
            r#"{"records":[{"value":"QQ==","offset":1}]}"#,
            r#"{"records":[{"value":"QQ==","value":"QQ=="}]}"#,
            r#"{"records":[{"value":"QQ==","partition":"1"}]}"#,
            r#"{"value_schema_id":1,"records":[{"value":"QQ=="}]}"#,
            r#"{"records":[{"value":"QQ=="}],"x":1}"#,
            r#"{"records":[]}"#,
            r#"{"records":[{"value":"QQ=="}]"#,
            r#"{"records":[{"value":"QQ=="}]}}"#,
            r#"{"records":[{"value":"QQ=="},]}"#,
        ] {
            assert!(encode(body.as_bytes(), 100, None).is_none(), "{body}");
        }
        let two = r#"{"records":[{"value":"QQ=="},{"value":"QQ=="}]}"#;
        assert!(encode(two.as_bytes(), 1, None).is_none());
        assert!(encode(two.as_bytes(), 2, None).is_some());
    }
}
