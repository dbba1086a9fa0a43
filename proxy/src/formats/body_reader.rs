//! The hand reader of produce bodies of the common shape, `{..., "records": [{"key": ...,
//! "value": ..., "partition": N}, ...]}`, for the formats whose whole request is read in one
//! pass without serde (`binary_request.rs`, `one_pass_request.rs`): serde_json reading the
//! body first skips each value to find its text, and that skip was most of a request's
//! decoding once the value itself was cheap. It takes only the plainest form (member names
//! without escapes, each record member at most once, a partition as a JSON integer or null) and
//! answers None on anything else: the caller then takes the usual path, which defines every
//! answer and error.

use std::ops::Range;

use crate::record::{EncodedRecord, EncodedRecords};

/// A record's key or value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Part {
    Key,
    Value,
}

/// The records of the `records` array (the reader at its `[`), at most `max_records`. `part`
/// reads a non-null key or value where it stands onto the end of `arena`; a null one is no key
/// or value.
pub(super) fn records(
    r: &mut Reader<'_>,
    max_records: usize,
    path_partition: Option<i32>,
    arena: &mut Vec<u8>,
    mut part: impl FnMut(&mut Reader<'_>, Part, &mut Vec<u8>) -> Option<()>,
) -> Option<Vec<EncodedRecord>> {
    let mut records = Vec::new();
    r.byte(b'[')?;
    loop {
        r.byte(b'{')?;
        let (mut key, mut value, mut partition) = (None, None, None);
        if r.peek() == Some(b'}') {
            r.at += 1;
        } else {
            loop {
                let name = r.string()?;
                r.byte(b':')?;
                match name {
                    "key" if key.is_none() => key = Some(r.part(Part::Key, arena, &mut part)?),
                    "value" if value.is_none() => {
                        value = Some(r.part(Part::Value, arena, &mut part)?)
                    }
                    "partition" if partition.is_none() => {
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
        records.push(EncodedRecord::new(
            key.flatten(),
            value.flatten(),
            partition,
        ));
        if records.len() > max_records {
            return None;
        }
        match r.next()? {
            b',' => {}
            b']' => return Some(records),
            _ => return None,
        }
    }
}

/// The schema ids at the head of a schema format's body ([`Reader::schema_head`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SchemaIds {
    pub key: Option<i32>,
    pub value: i32,
}

/// A schema format's body of the common shape, `{"value_schema_id": N, "records": [...]}` (and a
/// `key_schema_id` beside it) with the JSON integers `ids`: its records, each key or value
/// Confluent-framed with its part's id and then written by `write` from where it stands (the
/// reader after it). Without a key schema id, keys must be absent or null.
pub(super) fn schema_records(
    body: &[u8],
    ids: SchemaIds,
    max_records: usize,
    path_partition: Option<i32>,
    mut write: impl FnMut(&mut Reader<'_>, Part, &mut Vec<u8>) -> Option<()>,
) -> Option<EncodedRecords> {
    let mut r = Reader::new(std::str::from_utf8(body).ok()?);
    (r.schema_head()? == ids).then_some(())?;
    let mut arena = Vec::with_capacity(body.len());
    let records = records(
        &mut r,
        max_records,
        path_partition,
        &mut arena,
        |r, part, arena| {
            let id = match part {
                Part::Key => ids.key?,
                Part::Value => ids.value,
            };
            super::avro::frame(id, &[], arena);
            write(r, part, arena)
        },
    )?;
    r.finish(arena, records)
}

/// The body's members, read without writing anything.
pub(super) struct Reader<'t> {
    pub(super) text: &'t str,
    pub(super) at: usize,
}

impl<'t> Reader<'t> {
    pub(super) fn new(text: &'t str) -> Self {
        Reader { text, at: 0 }
    }

    /// A schema format's body up to its records, `{"value_schema_id": N, "records":`, with a
    /// `"key_schema_id": K` member before or after the value's, and the ids (in i32's range).
    pub(super) fn schema_head(&mut self) -> Option<SchemaIds> {
        self.byte(b'{')?;
        let (mut key, mut value) = (None, None);
        loop {
            let slot = match self.string()? {
                "key_schema_id" if key.is_none() => &mut key,
                "value_schema_id" if value.is_none() => &mut value,
                "records" => break,
                _ => return None,
            };
            self.byte(b':')?;
            *slot = Some(i32::try_from(self.integer()?).ok()?);
            self.byte(b',')?;
        }
        self.byte(b':')?;
        Some(SchemaIds { key, value: value? })
    }

    /// Whether only whitespace is left.
    pub(super) fn at_end(&mut self) -> bool {
        self.ws();
        self.at == self.text.len()
    }

    /// A key or value: null (None), or what `part` reads.
    fn part(
        &mut self,
        which: Part,
        arena: &mut Vec<u8>,
        part: &mut impl FnMut(&mut Reader<'_>, Part, &mut Vec<u8>) -> Option<()>,
    ) -> Option<Option<Range<usize>>> {
        let start = arena.len();
        match self.peek()? {
            b'n' => self.null().map(|()| None),
            _ => part(self, which, arena).map(|()| Some(start..arena.len())),
        }
    }

    /// The body's closing brace after the records, and nothing else: the request's records.
    pub(super) fn finish(
        mut self,
        arena: Vec<u8>,
        records: Vec<EncodedRecord>,
    ) -> Option<EncodedRecords> {
        self.byte(b'}')?;
        self.at_end()
            .then(|| EncodedRecords::new(arena.into(), records))
    }

    pub(super) fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.text.as_bytes().get(self.at) {
            self.at += 1;
        }
    }

    /// The next significant byte, not consumed.
    pub(super) fn peek(&mut self) -> Option<u8> {
        self.ws();
        self.text.as_bytes().get(self.at).copied()
    }

    /// The next significant byte, consumed.
    pub(super) fn next(&mut self) -> Option<u8> {
        let b = self.peek()?;
        self.at += 1;
        Some(b)
    }

    pub(super) fn byte(&mut self, expected: u8) -> Option<()> {
        (self.next()? == expected).then_some(())
    }

    /// A member name without escapes, then its colon (for `name`).
    pub(super) fn name(&mut self, expected: &str) -> Option<()> {
        (self.string()? == expected).then_some(())?;
        self.byte(b':')
    }

    /// A string without escapes or control characters: its content.
    pub(super) fn string(&mut self) -> Option<&'t str> {
        self.byte(b'"')?;
        let end = special(self.text.as_bytes(), self.at)?;
        (self.text.as_bytes()[end] == b'"').then_some(())?;
        let s = &self.text[self.at..end];
        self.at = end + 1;
        Some(s)
    }

    pub(super) fn null(&mut self) -> Option<()> {
        self.word("null")
    }

    /// `true` or `false`.
    pub(super) fn boolean(&mut self) -> Option<bool> {
        match self.peek()? {
            b't' => self.word("true").map(|()| true),
            _ => self.word("false").map(|()| false),
        }
    }

    /// `word` after any whitespace, consumed.
    fn word(&mut self, word: &str) -> Option<()> {
        self.ws();
        let end = self.at + word.len();
        (self.text.as_bytes().get(self.at..end)? == word.as_bytes()).then_some(())?;
        self.at = end;
        Some(())
    }

    /// A JSON integer (no fraction or exponent, no leading zero, not `-0`) in i64's range.
    pub(super) fn integer(&mut self) -> Option<i64> {
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

/// The position of the first quote, backslash or control character at or after `i`. Sixteen
/// bytes at a time without branching on each (the compiler makes that a vector compare): a
/// `memchr2` for the quote and backslash followed by a loop for control characters read every
/// string twice and made the whole check slower than serde's.
#[inline]
pub(super) fn special(bytes: &[u8], mut i: usize) -> Option<usize> {
    const LANES: usize = 16;
    let stops = |b: u8| (b == b'"') | (b == b'\\') | (b < 0x20);
    while let Some(chunk) = bytes.get(i..i + LANES) {
        if chunk.iter().fold(false, |any, &b| any | stops(b)) {
            break;
        }
        i += LANES;
    }
    bytes
        .get(i..)?
        .iter()
        .position(|&b| stops(b))
        .map(|at| i + at)
}
