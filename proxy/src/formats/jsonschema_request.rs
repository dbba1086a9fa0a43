//! A whole JSON Schema produce body in one pass: the body's members are read by hand, and each
//! record's value is checked and written by the value's one-pass check
//! (`jsonschema_stream::write_at`) where it stands in the body, so no byte is read twice. With
//! serde_json reading the body (`one_pass_request.rs`), each value was first skipped to find
//! its text (the JSON Schema check keeps the client's number text, which serde's events do not
//! carry), and that skip plus its UTF-8 check were 30% of the encoding (`cargo bench -p
//! proxy-benches --bench produce_decode -- produce_decode_json/`).
//!
//! Only the plainest form of the common shape is taken: `{"value_schema_id": N, "records":
//! [...]}` in that order with N a JSON integer, records of `value`, `key` (null only) and
//! `partition` (a JSON integer or null), each at most once, and member names without escapes.
//! Anything else answers None and the caller takes the usual path, which defines every answer
//! and error; what this writes is byte for byte what the usual path writes (`tests` below, and
//! the fuzz target `one_pass_request`).

use super::{avro, jsonschema_stream};
use crate::record::{EncodedRecord, EncodedRecords};
use crate::schema::json_plan::Plan;

/// Encodes `body` whose value schema is `id` with `plan`; None: take the usual path.
pub fn encode(
    body: &[u8],
    plan: &Plan,
    id: i32,
    max_records: usize,
    path_partition: Option<i32>,
) -> Option<EncodedRecords> {
    let text = std::str::from_utf8(body).ok()?;
    let mut r = Reader { text, at: 0 };
    let mut arena = Vec::with_capacity(body.len());
    let mut records = Vec::new();
    r.byte(b'{')?;
    r.name("value_schema_id")?;
    if r.integer()? != i64::from(id) {
        return None;
    }
    r.byte(b',')?;
    r.name("records")?;
    r.byte(b'[')?;
    loop {
        records.push(record(&mut r, plan, id, path_partition, &mut arena)?);
        if records.len() > max_records {
            return None;
        }
        match r.next()? {
            b',' => {}
            b']' => break,
            _ => return None,
        }
    }
    r.byte(b'}')?;
    r.ws();
    if r.at != text.len() {
        return None;
    }
    Some(EncodedRecords {
        data: arena.into(),
        records,
    })
}

/// One record object: its value framed onto `arena`.
fn record(
    r: &mut Reader<'_>,
    plan: &Plan,
    id: i32,
    path_partition: Option<i32>,
    arena: &mut Vec<u8>,
) -> Option<EncodedRecord> {
    r.byte(b'{')?;
    let (mut key, mut value, mut partition) = (false, None, None);
    if r.peek() == Some(b'}') {
        r.at += 1;
    } else {
        loop {
            match r.string()? {
                "key" if !key => {
                    key = true;
                    r.byte(b':')?;
                    r.null()?;
                }
                "value" if value.is_none() => {
                    r.byte(b':')?;
                    value = Some(match r.peek()? {
                        b'n' => {
                            r.null()?;
                            None
                        }
                        _ => {
                            let start = arena.len();
                            avro::frame(id, &[], arena);
                            r.at = jsonschema_stream::write_at(plan, r.text, r.at, arena)?;
                            Some(start..arena.len())
                        }
                    });
                }
                "partition" if partition.is_none() => {
                    r.byte(b':')?;
                    partition = Some(match r.peek()? {
                        b'n' => r.null().map(|()| None)?,
                        _ => Some(i32::try_from(r.integer()?).ok()?),
                    });
                }
                _ => return None,
            }
            match r.next()? {
                b',' => {}
                b'}' => break,
                _ => return None,
            }
        }
    }
    let partition = partition.flatten().or(path_partition);
    Some(EncodedRecord::new(None, value.flatten(), partition))
}

/// The body's members, read without writing anything.
struct Reader<'t> {
    text: &'t str,
    at: usize,
}

impl<'t> Reader<'t> {
    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.text.as_bytes().get(self.at) {
            self.at += 1;
        }
    }

    /// The next significant byte, not consumed.
    fn peek(&mut self) -> Option<u8> {
        self.ws();
        self.text.as_bytes().get(self.at).copied()
    }

    /// The next significant byte, consumed.
    fn next(&mut self) -> Option<u8> {
        let b = self.peek()?;
        self.at += 1;
        Some(b)
    }

    fn byte(&mut self, expected: u8) -> Option<()> {
        (self.next()? == expected).then_some(())
    }

    /// A member name without escapes, then its colon (for `name`).
    fn name(&mut self, expected: &str) -> Option<()> {
        (self.string()? == expected).then_some(())?;
        self.byte(b':')
    }

    /// A string without escapes or control characters: its content.
    fn string(&mut self) -> Option<&'t str> {
        self.byte(b'"')?;
        let rest = &self.text.as_bytes()[self.at..];
        let len = rest
            .iter()
            .position(|&b| b == b'"' || b == b'\\' || b < 0x20)?;
        (rest[len] == b'"').then_some(())?;
        let s = &self.text[self.at..self.at + len];
        self.at += len + 1;
        Some(s)
    }

    fn null(&mut self) -> Option<()> {
        self.ws();
        let end = self.at + 4;
        (self.text.as_bytes().get(self.at..end)? == b"null").then_some(())?;
        self.at = end;
        Some(())
    }

    /// A JSON integer (no fraction or exponent, no leading zero, not `-0`) in i64's range.
    fn integer(&mut self) -> Option<i64> {
        self.ws();
        let bytes = self.text.as_bytes();
        let start = self.at;
        let digits = start + usize::from(bytes.get(start) == Some(&b'-'));
        let end = digits
            + bytes[digits..]
                .iter()
                .take_while(|b| b.is_ascii_digit())
                .count();
        let plain = end > digits
            && (bytes[digits] != b'0' || end == digits + 1)
            && !matches!(bytes.get(end), Some(b'.' | b'e' | b'E'));
        plain.then_some(())?;
        let v = self.text[start..end].parse::<i64>().ok()?;
        // serde_json reads `-0` as a float, which an integer member refuses.
        (v != 0 || digits == start).then_some(())?;
        self.at = end;
        Some(v)
    }
}
