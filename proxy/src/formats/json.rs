//! The json format: keys and values are any JSON, stored in Kafka as the exact bytes of the
//! request's JSON text (no re-serialization).

use bytes::Bytes;
use serde::de::IgnoredAny;

use super::{EncodedRecord, EncodedRecords, FormatError, RawRecord};

/// Points every key and value straight into the request body (no copy).
pub fn encode_records(body: &Bytes, records: &[RawRecord<'_>]) -> EncodedRecords {
    let base = body.as_ptr() as usize;
    // A RawValue borrowed from `body` is a subslice of it, so its address gives its range.
    let range = |raw: &serde_json::value::RawValue| {
        let start = raw.get().as_ptr() as usize - base;
        start..start + raw.get().len()
    };
    let out = records
        .iter()
        .map(|r| EncodedRecord {
            key: r.key.map(range),
            value: r.value.map(range),
            partition: r.partition,
            headers: Vec::new(),
            timestamp: None,
        })
        .collect();
    EncodedRecords {
        data: body.clone(),
        records: out,
    }
}

/// Appends stored JSON bytes to a response after checking they are one JSON value.
pub fn write_json(out: &mut Vec<u8>, data: &[u8]) -> Result<(), FormatError> {
    // serde_json skips strings it ignores without checking their UTF-8.
    std::str::from_utf8(data)
        .map_err(|e| FormatError::InvalidJson(format!("record is not UTF-8: {e}")))?;
    serde_json::from_slice::<IgnoredAny>(data)
        .map_err(|e| FormatError::InvalidJson(format!("record is not valid JSON: {e}")))?;
    out.extend_from_slice(data);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::value::RawValue;

    #[test]
    fn borrows_exact_request_bytes() {
        let body = Bytes::from_static(
            br#"{"records":[{"key":"somekey","value":{"foo": "bar"}},{"value":53.5}]}"#,
        );
        #[derive(serde::Deserialize)]
        struct R<'a> {
            #[serde(borrow)]
            records: Vec<Rec<'a>>,
        }
        #[derive(serde::Deserialize)]
        struct Rec<'a> {
            #[serde(borrow, default)]
            key: Option<&'a RawValue>,
            #[serde(borrow, default)]
            value: Option<&'a RawValue>,
        }
        let parsed: R = serde_json::from_slice(&body).unwrap();
        let raws: Vec<_> = parsed
            .records
            .iter()
            .map(|r| RawRecord {
                key: r.key,
                value: r.value,
                partition: None,
            })
            .collect();
        let enc = encode_records(&body, &raws);
        let got: Vec<_> = enc.iter().map(|r| (r.key, r.value)).collect();
        assert_eq!(
            got[0],
            (Some(&b"\"somekey\""[..]), Some(&br#"{"foo": "bar"}"#[..]))
        );
        assert_eq!(got[1], (None, Some(&b"53.5"[..])));
    }

    #[test]
    fn rejects_non_json_on_consume() {
        let mut out = Vec::new();
        assert!(write_json(&mut out, b"not json").is_err());
        assert!(
            write_json(&mut out, b"\"\xff\"").is_err(),
            "invalid UTF-8 inside a string"
        );
        assert!(out.is_empty());
        write_json(&mut out, b"[1, 2]").unwrap();
        assert_eq!(out, b"[1, 2]");
    }
}
