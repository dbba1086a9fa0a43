//! The binary format: keys and values are base64 strings in JSON.
//!
//! Base64 is `base64-simd`'s, both ways: per 100-byte value it costs 13 ns to encode and 13 ns
//! to decode, where the `base64` crate's scalar engine took 29 and 44 (`cargo bench -p
//! proxy-benches --bench base64`). What it accepts is what the `base64` crate's engine with
//! optional padding accepts; the tests compare the two.

use std::ops::Range;

use serde_json::value::RawValue;

use super::embedded::FormatError;
use super::encoded::RawRecord;
use crate::record::{EncodedRecord, EncodedRecords};

/// Decodes standard base64 onto the end of `out`: padding is optional on input (as Guava's
/// decoder), so a text whose length is a multiple of four is decoded as padded, any other as
/// unpadded, after the one `=` a three-character last group may carry (`QQ=`). Non-zero
/// trailing bits are refused, as everywhere else. `out` is left as it was on error.
pub(super) fn decode_base64(text: &[u8], out: &mut Vec<u8>) -> Result<(), base64_simd::Error> {
    let (variant, text) = match text.len() % 4 {
        0 => (base64_simd::STANDARD, text),
        3 if text.ends_with(b"=") && !text.ends_with(b"==") => {
            (base64_simd::STANDARD_NO_PAD, &text[..text.len() - 1])
        }
        _ => (base64_simd::STANDARD_NO_PAD, text),
    };
    let start = out.len();
    out.resize(start + variant.estimated_decoded_length(text.len()), 0);
    match variant.decode(text, base64_simd::Out::from_slice(&mut out[start..])) {
        Ok(decoded) => {
            let n = decoded.len();
            out.truncate(start + n);
            Ok(())
        }
        Err(e) => {
            out.truncate(start);
            Err(e)
        }
    }
}

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
    Ok(EncodedRecords::new(arena.into(), out))
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
    if inner.contains('\\') {
        let unescaped: String = serde_json::from_str(text).map_err(|_| invalid())?;
        decode_base64(unescaped.as_bytes(), arena)
    } else {
        decode_base64(inner.as_bytes(), arena)
    }
    .map_err(|_| invalid())?;
    Ok(start..arena.len())
}

/// Appends `"<base64>"` to a response.
pub fn write_base64(out: &mut Vec<u8>, data: &[u8]) {
    let variant = base64_simd::STANDARD;
    out.push(b'"');
    let start = out.len();
    out.resize(start + variant.encoded_length(data.len()), 0);
    let _ = variant.encode(data, base64_simd::Out::from_slice(&mut out[start..]));
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

    /// The `base64` crate's engine that defined what the binary format accepts before
    /// `base64-simd`: standard alphabet, padding optional, trailing bits refused.
    const REFERENCE: base64::engine::GeneralPurpose = base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
    );

    fn agrees_with_reference(text: &[u8]) {
        use base64::Engine;
        let mut ours = vec![7u8];
        let result = decode_base64(text, &mut ours);
        let theirs = REFERENCE.decode(text);
        match (result, theirs) {
            (Ok(()), Ok(theirs)) => assert_eq!(ours[1..], theirs[..], "{text:?}"),
            (Err(_), Err(_)) => assert_eq!(ours, [7], "left as it was: {text:?}"),
            (ours, theirs) => panic!(
                "{:?}: ours {ours:?}, the base64 crate's {theirs:?}",
                String::from_utf8_lossy(text)
            ),
        }
    }

    /// Every text of up to six characters over letters that reach each case (padding in and out
    /// of place, trailing bits, characters outside the alphabet) decodes as the `base64`
    /// crate's engine decodes it, or fails as it does.
    #[test]
    fn decodes_as_the_base64_crate_does() {
        let alphabet = b"AQRgw+/=-_ ";
        let mut text = Vec::new();
        fn all(text: &mut Vec<u8>, alphabet: &[u8], left: usize) {
            agrees_with_reference(text);
            if left == 0 {
                return;
            }
            for &c in alphabet {
                text.push(c);
                all(text, alphabet, left - 1);
                text.pop();
            }
        }
        all(&mut text, alphabet, 6);
        // Longer texts, whose SIMD loops run: every encoded length, then damaged in one place.
        use base64::Engine;
        for n in 0..300usize {
            let data: Vec<u8> = (0..n).map(|i| (i * 31 + n) as u8).collect();
            let text = base64::engine::general_purpose::STANDARD.encode(&data);
            let mut out = Vec::new();
            decode_base64(text.as_bytes(), &mut out).unwrap();
            assert_eq!(out, data);
            agrees_with_reference(text.trim_end_matches('=').as_bytes());
            for at in [0, n / 3, text.len().saturating_sub(2)] {
                for c in [b'=', b'*', b'A', 0xff] {
                    let mut damaged = text.clone().into_bytes();
                    if let Some(b) = damaged.get_mut(at) {
                        *b = c;
                    }
                    agrees_with_reference(&damaged);
                }
            }
            // Encoding: the same text as the base64 crate's.
            let mut written = Vec::new();
            write_base64(&mut written, &data);
            assert_eq!(written, format!("\"{text}\"").into_bytes());
        }
    }
}
