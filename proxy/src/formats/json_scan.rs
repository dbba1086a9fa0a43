//! The tokens of the hand-read JSON paths (`jsonschema_stream.rs`, `json_de.rs`), read by
//! serde_json's own rules so that what they take is what serde_json takes, with the same value:
//! a string with escapes is decoded by serde_json (a lone surrogate is an error), one without is
//! crossed 16 bytes at a time and refused if it holds a control character; a number's grammar
//! is JSON's, an integer beyond `u64` or a `-0` is a float, and a float's value is serde_json's.

use super::body_reader::special;

/// A number as serde_json reads it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Number {
    U64(u64),
    I64(i64),
    F64(f64),
}

/// The string whose opening quote is at `at`: where the text after its closing quote starts,
/// and its content decoded when it has escapes (None: the content is the text between the
/// quotes). None for a string serde_json refuses or one not closed.
#[inline]
pub(super) fn string(text: &str, at: usize) -> Option<(usize, Option<String>)> {
    let bytes = text.as_bytes();
    let mut i = at + 1;
    let mut escaped = false;
    loop {
        let stop = special(bytes, i)?;
        match bytes[stop] {
            b'"' => {
                i = stop + 1;
                break;
            }
            b'\\' => {}
            _ => return None,
        }
        escaped = true;
        // The escaped byte is skipped (a quote or a backslash does not end the string).
        i = stop + 2;
        if i > bytes.len() {
            return None;
        }
    }
    let decoded = match escaped {
        true => Some(serde_json::from_str::<String>(&text[at..i]).ok()?),
        false => None,
    };
    Some((i, decoded))
}

/// The number starting at `at`: where it ends, and its value. A float's value is only read
/// when `float_value` asks for it or when it might be out of range (an error for serde_json);
/// otherwise it is `F64(0.0)`.
#[inline]
pub(super) fn number(text: &str, at: usize, float_value: bool) -> Option<(usize, Number)> {
    let bytes = text.as_bytes();
    let mut i = at;
    let negative = bytes.get(i) == Some(&b'-');
    if negative {
        i += 1;
    }
    let digits_at = i;
    match bytes.get(i)? {
        b'0' => i += 1,
        b'1'..=b'9' => {
            while bytes.get(i).is_some_and(u8::is_ascii_digit) {
                i += 1;
            }
        }
        _ => return None,
    }
    let digits_end = i;
    let mut float = false;
    let mut exponent = false;
    if bytes.get(i) == Some(&b'.') {
        i += 1;
        float = true;
        bytes.get(i).is_some_and(u8::is_ascii_digit).then_some(())?;
        while bytes.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
    }
    if let Some(b'e' | b'E') = bytes.get(i) {
        i += 1;
        float = true;
        exponent = true;
        if let Some(b'+' | b'-') = bytes.get(i) {
            i += 1;
        }
        bytes.get(i).is_some_and(u8::is_ascii_digit).then_some(())?;
        while bytes.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
    }
    // A leading zero is followed by no digit (serde_json: "invalid number").
    (bytes[digits_at] != b'0' || digits_end == digits_at + 1).then_some(())?;
    let magnitude = match float {
        true => None,
        false => text[digits_at..digits_end].parse::<u64>().ok(),
    };
    let value = match magnitude {
        Some(m) if !negative => Number::U64(m),
        Some(m) => match (m as i64).wrapping_neg() {
            // `-0` and magnitudes beyond i64 are floats for serde_json.
            v if v >= 0 => Number::F64(-(m as f64)),
            v => Number::I64(v),
        },
        None => {
            // Below 309 digits and without an exponent, a float is finite: its value is only
            // read when asked for.
            let finite = !exponent && digits_end - digits_at < 309;
            match float_value || !finite {
                true => Number::F64(serde_json::from_str::<f64>(&text[at..i]).ok()?),
                false => Number::F64(0.0),
            }
        }
    };
    Some((i, value))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What serde_json reads `text` as, when it is one number.
    fn serde(text: &str) -> Option<Number> {
        match serde_json::from_str::<serde_json::Value>(text).ok()? {
            serde_json::Value::Number(n) => Some(if let Some(v) = n.as_u64() {
                Number::U64(v)
            } else if let Some(v) = n.as_i64() {
                Number::I64(v)
            } else {
                Number::F64(n.as_f64()?)
            }),
            _ => None,
        }
    }

    #[test]
    fn numbers_are_read_as_serde_json_reads_them() {
        for text in [
            "0",
            "-0",
            "7",
            "-7",
            "18446744073709551615",
            "18446744073709551616",
            "-9223372036854775808",
            "-9223372036854775809",
            "1.5",
            "-0.0",
            "1e3",
            "1E-3",
            "2.5e+10",
            "1e400",
            "01",
            "-",
            "1.",
            ".5",
            "1e",
            "-01",
            "0.1e-2",
        ] {
            let ours = number(text, 0, true).filter(|(end, _)| *end == text.len());
            let ours = ours.map(|(_, n)| n);
            match (ours, serde(text)) {
                (Some(Number::F64(a)), Some(Number::F64(b))) => {
                    assert_eq!(a.to_bits(), b.to_bits(), "{text}")
                }
                (a, b) => assert_eq!(a, b, "{text}"),
            }
        }
    }

    #[test]
    fn strings_decode_escapes_and_refuse_control_characters() {
        assert_eq!(string(r#""abc" x"#, 0), Some((5, None)));
        assert_eq!(
            string(r#""a\"b\\c\u00e9""#, 0),
            Some((15, Some("a\"b\\cé".into())))
        );
        assert_eq!(string("\"a\tb\"", 0), None);
        assert_eq!(string(r#""\ud800""#, 0), None, "a lone surrogate");
        assert_eq!(string(r#""\q""#, 0), None, "an unknown escape");
        assert_eq!(string(r#""open"#, 0), None);
        assert_eq!(string(r#""ends in \"#, 0), None);
        let long = format!("\"{}\"", "x".repeat(100));
        assert_eq!(string(&long, 0), Some((102, None)));
    }
}
