//! The binary format: keys and values are base64 strings in JSON.

use std::ops::Range;

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use base64::engine::DecodePaddingMode;
use base64::Engine;
use serde_json::value::RawValue;

use super::embedded::FormatError;
use super::encoded::RawRecord;
use crate::record::{EncodedRecord, EncodedRecords};

/// Standard alphabet; padding optional on input (as Guava's decoder), always written on output.
const DECODER: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Decodes every key and value into one arena for the whole request.
pub fn encode_records(records: &[RawRecord<'_>]) -> Result<EncodedRecords, FormatError> {
    let estimate: usize = records
        .iter()
        .map(|r| r.key.map_or(0, |k| k.get().len()) + r.value.map_or(0, |v| v.get().len()))
        .sum();
    let mut arena = Vec::with_capacity(estimate * 3 / 4 + 4);
    let mut out = Vec::with_capacity(records.len());
    for r in records {
        out.push(EncodedRecord::new(
            r.key.map(|k| decode_into(&mut arena, k)).transpose()?,
            r.value.map(|v| decode_into(&mut arena, v)).transpose()?,
            r.partition,
        ));
    }
    Ok(EncodedRecords {
        data: arena.into(),
        records: out,
    })
}

/// Decodes one JSON string of base64 onto the end of `arena`, returning its range.
fn decode_into(arena: &mut Vec<u8>, raw: &RawValue) -> Result<Range<usize>, FormatError> {
    let text = raw.get();
    let invalid = || FormatError::InvalidBase64(text.to_string());
    // Base64 never needs JSON escapes; only an escaped string takes the slow, allocating path.
    let inner = text
        .strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .ok_or_else(invalid)?;
    let start = arena.len();
    let result = if inner.contains('\\') {
        let unescaped: String = serde_json::from_str(text).map_err(|_| invalid())?;
        DECODER.decode_vec(unescaped.as_bytes(), arena)
    } else {
        DECODER.decode_vec(inner.as_bytes(), arena)
    };
    result.map_err(|_| {
        arena.truncate(start);
        invalid()
    })?;
    Ok(start..arena.len())
}

/// Appends `"<base64>"` to a response.
pub fn write_base64(out: &mut Vec<u8>, data: &[u8]) {
    out.push(b'"');
    let start = out.len();
    out.resize(
        start + base64::encoded_len(data.len(), true).unwrap_or(0),
        0,
    );
    let written = STANDARD.encode_slice(data, &mut out[start..]).unwrap_or(0);
    out.truncate(start + written);
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(s: &str) -> &RawValue {
        serde_json::from_str(s).unwrap()
    }

    #[test]
    fn decodes_seed_records_into_one_arena() {
        let (k, v1, v2) = (
            raw("\"a2V5\""),
            raw("\"aGVsbG8gd29ybGQhISE=\""),
            raw("\"Zm9v\""),
        );
        let recs = [
            RawRecord {
                key: Some(k),
                value: Some(v1),
                partition: None,
            },
            RawRecord {
                key: None,
                value: Some(v2),
                partition: Some(0),
            },
        ];
        let enc = encode_records(&recs).unwrap();
        let got: Vec<_> = enc.iter().map(|r| (r.key, r.value, r.partition)).collect();
        assert_eq!(
            got[0],
            (Some(&b"key"[..]), Some(&b"hello world!!!"[..]), None)
        );
        assert_eq!(got[1], (None, Some(&b"foo"[..]), Some(0)));
    }

    #[test]
    fn accepts_unpadded_and_escaped_rejects_garbage() {
        let ok = [raw("\"Zm9vYg\""), raw("\"Zm9v\\/A==\"")];
        for r in ok {
            let recs = [RawRecord {
                key: None,
                value: Some(r),
                partition: None,
            }];
            assert!(encode_records(&recs).is_ok(), "{}", r.get());
        }
        for bad in [
            "\"not base64!\"",
            "42",
            "{\"a\":1}",
            "\"Zm9v YmFy\"",
            "\"Zm9v_-==\"",
        ] {
            let recs = [RawRecord {
                key: None,
                value: Some(raw(bad)),
                partition: None,
            }];
            assert_eq!(
                encode_records(&recs).unwrap_err(),
                FormatError::InvalidBase64(bad.to_string())
            );
        }
    }

    #[test]
    fn writes_padded_base64() {
        let mut out = Vec::new();
        write_base64(&mut out, b"hello world!!!");
        assert_eq!(out, b"\"aGVsbG8gd29ybGQhISE=\"");
    }
}
