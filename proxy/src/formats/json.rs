//! The json format: keys and values are any JSON, stored in Kafka as the exact bytes of the
//! request's JSON text (no re-serialization).
//!
//! serde_json checks the syntax, but stores raw values that other parsers refuse: nesting
//! deeper than they recurse (serde_json skips raw values without a depth limit), numbers
//! beyond `f64` (`1e999999`), and `\u` escapes that are lone UTF-16 surrogates (`"\ud800"`).
//! [`check`] refuses those on produce, and on consume for records written by other clients, so
//! that what a client reads back is JSON any standard parser accepts.

use bytes::Bytes;
use serde::de::IgnoredAny;

use super::embedded::FormatError;
use super::encoded::RawRecord;
use crate::record::{EncodedRecord, EncodedRecords};

/// Checks one syntactically valid JSON text for what standard parsers refuse (see the module
/// docs): nesting deeper than `max_depth`, numbers that are not finite as `f64`, lone
/// surrogate escapes. One pass, no allocation.
pub fn check(text: &[u8], max_depth: usize) -> Result<(), PortableJsonError> {
    let mut depth = 0usize;
    let mut i = 0;
    while i < text.len() {
        match text[i] {
            b'"' => i = check_string(text, i + 1)?,
            b'[' | b'{' => {
                depth += 1;
                if depth > max_depth {
                    return Err(PortableJsonError::TooDeep(max_depth));
                }
                i += 1;
            }
            b']' | b'}' => {
                depth = depth.saturating_sub(1);
                i += 1;
            }
            b'-' | b'0'..=b'9' => {
                let start = i;
                while i < text.len()
                    && matches!(text[i], b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9')
                {
                    i += 1;
                }
                let number = &text[start..i];
                // Up to 15 digits with no exponent always fit; anything else is parsed.
                if number.len() > 15 || number.iter().any(|b| matches!(b, b'e' | b'E')) {
                    let finite = std::str::from_utf8(number)
                        .ok()
                        .and_then(|n| n.parse::<f64>().ok())
                        .is_some_and(f64::is_finite);
                    if !finite {
                        return Err(PortableJsonError::NumberOutOfRange(
                            String::from_utf8_lossy(&number[..number.len().min(40)]).into_owned(),
                        ));
                    }
                }
            }
            _ => i += 1,
        }
    }
    Ok(())
}

/// Scans a string from just after its opening quote; returns the index after its closing quote.
fn check_string(text: &[u8], mut i: usize) -> Result<usize, PortableJsonError> {
    let hex4 = |at: usize| -> Option<u16> {
        let digits = text.get(at..at + 4)?;
        u16::from_str_radix(std::str::from_utf8(digits).ok()?, 16).ok()
    };
    while i < text.len() {
        match text[i] {
            b'"' => return Ok(i + 1),
            b'\\' if text.get(i + 1) == Some(&b'u') => {
                let unit = hex4(i + 2).ok_or(PortableJsonError::InvalidEscape)?;
                i += 6;
                match unit {
                    0xD800..=0xDBFF => {
                        let low = (text.get(i..i + 2) == Some(&b"\\u"[..]))
                            .then(|| hex4(i + 2))
                            .flatten()
                            .filter(|u| (0xDC00..=0xDFFF).contains(u));
                        if low.is_none() {
                            return Err(PortableJsonError::LoneSurrogate(unit));
                        }
                        i += 6;
                    }
                    0xDC00..=0xDFFF => return Err(PortableJsonError::LoneSurrogate(unit)),
                    _ => {}
                }
            }
            b'\\' => i += 2,
            _ => i += 1,
        }
    }
    Err(PortableJsonError::Unterminated)
}

/// What standard JSON parsers refuse in a syntactically valid JSON text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PortableJsonError {
    #[error("JSON nests deeper than {0} levels (json.max.nesting.depth)")]
    TooDeep(usize),
    #[error("the number {0} is out of range")]
    NumberOutOfRange(String),
    #[error("invalid \\u escape")]
    InvalidEscape,
    #[error("lone UTF-16 surrogate \\u{0:04x} in a string")]
    LoneSurrogate(u16),
    #[error("unterminated string")]
    Unterminated,
}

/// Checks every key and value with [`check`], then points them straight into the request body
/// (no copy).
pub fn encode_records(
    body: &Bytes,
    records: &[RawRecord<'_>],
    max_depth: usize,
) -> Result<EncodedRecords, FormatError> {
    for (i, r) in records.iter().enumerate() {
        for (what, raw) in [("key", r.key), ("value", r.value)] {
            if let Some(raw) = raw {
                check(raw.get().as_bytes(), max_depth)
                    .map_err(|e| FormatError::InvalidJson(format!("record {i} {what}: {e}")))?;
            }
        }
    }
    Ok(encode_unchecked(body, records))
}

fn encode_unchecked(body: &Bytes, records: &[RawRecord<'_>]) -> EncodedRecords {
    let base = body.as_ptr() as usize;
    // A RawValue borrowed from `body` is a subslice of it, so its address gives its range.
    let range = |raw: &serde_json::value::RawValue| {
        let start = raw.get().as_ptr() as usize - base;
        start..start + raw.get().len()
    };
    let out = records
        .iter()
        .map(|r| EncodedRecord::new(r.key.map(range), r.value.map(range), r.partition))
        .collect();
    EncodedRecords::new(body.clone(), out)
}

/// Appends stored JSON bytes to a response after checking they are one JSON value that
/// standard parsers accept ([`check`]).
pub fn write_json(out: &mut Vec<u8>, data: &[u8], max_depth: usize) -> Result<(), FormatError> {
    // serde_json skips strings it ignores without checking their UTF-8.
    std::str::from_utf8(data)
        .map_err(|e| FormatError::InvalidJson(format!("record is not UTF-8: {e}")))?;
    serde_json::from_slice::<IgnoredAny>(data)
        .map_err(|e| FormatError::InvalidJson(format!("record is not valid JSON: {e}")))?;
    check(data, max_depth)
        .map_err(|e| FormatError::InvalidJson(format!("record is not portable JSON: {e}")))?;
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
        let enc = encode_records(&body, &raws, 1000).unwrap();
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
        assert!(write_json(&mut out, b"not json", 1000).is_err());
        assert!(
            write_json(&mut out, b"\"\xff\"", 1000).is_err(),
            "invalid UTF-8 inside a string"
        );
        for poison in [&br#""\ud800""#[..], b"1e999999", b"[[[1]]]"] {
            assert!(write_json(&mut out, poison, 2).is_err(), "{poison:?}");
        }
        assert!(out.is_empty());
        write_json(&mut out, b"[1, 2]", 1000).unwrap();
        assert_eq!(out, b"[1, 2]");
    }

    #[test]
    fn portable_json() {
        let ok = |t: &str| check(t.as_bytes(), 3);
        ok(r#"{"a":[1,{"b":"\ud83d\ude00 \\u0000 \" ]]]]"}],"c":-1.5e300}"#).unwrap();
        ok("12345678901234567890").unwrap();
        ok(r#""\u00e9\"\\""#).unwrap();
        assert!(ok("[[[[1]]]]")
            .unwrap_err()
            .to_string()
            .contains("deeper than 3"));
        assert!(ok("1e999999")
            .unwrap_err()
            .to_string()
            .contains("out of range"));
        assert!(ok("-1e400").is_err());
        assert!(ok(&"9".repeat(400)).is_err());
        assert!(ok(r#""\ud800""#)
            .unwrap_err()
            .to_string()
            .contains("surrogate"));
        assert!(ok(r#""\ud800\u0041""#).is_err());
        assert!(ok(r#""\udc00\ud800""#).is_err());
        assert!(ok(r#"["\ud800"#).is_err());
        // A deep value as one line: no recursion here.
        let deep = "[".repeat(100_000) + &"]".repeat(100_000);
        assert!(check(deep.as_bytes(), 1000).is_err());
    }
}
