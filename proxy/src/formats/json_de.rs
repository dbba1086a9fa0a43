//! A serde `Deserializer` for one JSON value where it stands in a request body, for the
//! schema encoders driven by serde's events (`avro_stream.rs`, `protobuf_stream.rs`) when the
//! body is read by hand (`body_reader.rs`, `one_pass_request.rs`). Written by hand for speed:
//! serde_json's reader crosses strings 8 bytes at a time and then again to find the end of the
//! body's members around each value; in `avro-100` its string scan alone was 18% of the
//! encoding's samples. This one crosses strings 16 bytes at a time (`body_reader::special`) and
//! reads tokens by serde_json's rules (`json_scan.rs`).
//!
//! It takes only what serde_json takes, with the same events: literals, numbers (`visit_u64`
//! for a non-negative integer, `visit_i64` for a negative one, `visit_f64` otherwise), strings
//! (borrowed without escapes, decoded by serde_json with them), arrays and objects with
//! serde_json's trailing-comma and end rules. Any doubt ends in [`GiveUp`]: a control character
//! in a string, nesting deeper than 100, or the encoder refusing the value; the caller then
//! takes the usual path, which gives every answer and error.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

use super::json_scan::{self, Number};

/// Nesting deeper than this is left to the usual path (serde_json itself stops at 128).
const MAX_DEPTH: u32 = 100;

/// Why the pass stopped; never shown (the usual path gives the answer).
#[derive(Debug)]
pub struct GiveUp;

impl fmt::Display for GiveUp {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("not a value the hand reader takes")
    }
}

impl std::error::Error for GiveUp {}

impl de::Error for GiveUp {
    fn custom<T: fmt::Display>(_: T) -> Self {
        GiveUp
    }
}

/// The reader: a position in the body's text.
pub struct ValueReader<'de> {
    text: &'de str,
    at: usize,
    depth: u32,
}

impl<'de> ValueReader<'de> {
    /// A reader of the value at byte `at` of `text` (whitespace before it is skipped).
    pub fn new(text: &'de str, at: usize) -> Self {
        ValueReader { text, at, depth: 0 }
    }

    /// Where the text after the value starts.
    pub fn position(&self) -> usize {
        self.at
    }

    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.text.as_bytes().get(self.at) {
            self.at += 1;
        }
    }

    /// The next significant byte, not consumed.
    fn peek(&mut self) -> Result<u8, GiveUp> {
        self.ws();
        self.text.as_bytes().get(self.at).copied().ok_or(GiveUp)
    }

    fn literal(&mut self, word: &str) -> Result<(), GiveUp> {
        let end = self.at + word.len();
        match self.text.as_bytes().get(self.at..end) == Some(word.as_bytes()) {
            true => {
                self.at = end;
                Ok(())
            }
            false => Err(GiveUp),
        }
    }

    /// The string at the reader (its opening quote): borrowed when it has no escapes.
    fn string(&mut self) -> Result<Text<'de>, GiveUp> {
        let (end, decoded) = json_scan::string(self.text, self.at).ok_or(GiveUp)?;
        let text = match decoded {
            Some(s) => Text::Owned(s),
            None => Text::Borrowed(&self.text[self.at + 1..end - 1]),
        };
        self.at = end;
        Ok(text)
    }

    /// Into an array or object.
    fn enter(&mut self) -> Result<(), GiveUp> {
        self.depth += 1;
        self.at += 1;
        match self.depth <= MAX_DEPTH {
            true => Ok(()),
            false => Err(GiveUp),
        }
    }

    /// Out of an array or object: its closing byte must come next (serde_json refuses members
    /// or elements its visitor left unread).
    fn leave(&mut self, close: u8) -> Result<(), GiveUp> {
        self.depth -= 1;
        match self.peek()? == close {
            true => {
                self.at += 1;
                Ok(())
            }
            false => Err(GiveUp),
        }
    }

    /// Before an element or member: false at the closing byte (left for [`Self::leave`]).
    /// The first needs no comma; after a comma a closing byte is a trailing comma.
    fn more(&mut self, first: &mut bool, close: u8) -> Result<bool, GiveUp> {
        let b = self.peek()?;
        if std::mem::take(first) {
            return Ok(b != close);
        }
        match b {
            b',' => {
                self.at += 1;
                match self.peek()? == close {
                    true => Err(GiveUp),
                    false => Ok(true),
                }
            }
            b if b == close => Ok(false),
            _ => Err(GiveUp),
        }
    }
}

/// A string's content.
enum Text<'de> {
    Borrowed(&'de str),
    Owned(String),
}

impl<'de> Text<'de> {
    fn visit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, GiveUp> {
        match self {
            Text::Borrowed(s) => visitor.visit_borrowed_str(s),
            Text::Owned(s) => visitor.visit_string(s),
        }
    }
}

impl<'de> Deserializer<'de> for &mut ValueReader<'de> {
    type Error = GiveUp;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, GiveUp> {
        match self.peek()? {
            b'n' => {
                self.literal("null")?;
                visitor.visit_unit()
            }
            b't' => {
                self.literal("true")?;
                visitor.visit_bool(true)
            }
            b'f' => {
                self.literal("false")?;
                visitor.visit_bool(false)
            }
            b'"' => self.string()?.visit(visitor),
            b'[' => {
                self.enter()?;
                let value = visitor.visit_seq(Elements {
                    reader: &mut *self,
                    first: true,
                })?;
                self.leave(b']')?;
                Ok(value)
            }
            b'{' => {
                self.enter()?;
                let value = visitor.visit_map(Members {
                    reader: &mut *self,
                    first: true,
                })?;
                self.leave(b'}')?;
                Ok(value)
            }
            b'-' | b'0'..=b'9' => {
                let (end, number) = json_scan::number(self.text, self.at, true).ok_or(GiveUp)?;
                self.at = end;
                match number {
                    Number::U64(v) => visitor.visit_u64(v),
                    Number::I64(v) => visitor.visit_i64(v),
                    Number::F64(v) => visitor.visit_f64(v),
                }
            }
            _ => Err(GiveUp),
        }
    }

    /// serde_json's: null is none, anything else is some.
    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, GiveUp> {
        match self.peek()? {
            b'n' => {
                self.literal("null")?;
                visitor.visit_none()
            }
            _ => visitor.visit_some(self),
        }
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf unit
        unit_struct newtype_struct seq tuple tuple_struct map struct enum identifier ignored_any
    }
}

/// An array's elements.
struct Elements<'a, 'de> {
    reader: &'a mut ValueReader<'de>,
    first: bool,
}

impl<'de> SeqAccess<'de> for Elements<'_, 'de> {
    type Error = GiveUp;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, GiveUp> {
        match self.reader.more(&mut self.first, b']')? {
            true => seed.deserialize(&mut *self.reader).map(Some),
            false => Ok(None),
        }
    }
}

/// An object's members.
struct Members<'a, 'de> {
    reader: &'a mut ValueReader<'de>,
    first: bool,
}

impl<'de> MapAccess<'de> for Members<'_, 'de> {
    type Error = GiveUp;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, GiveUp> {
        if !self.reader.more(&mut self.first, b'}')? {
            return Ok(None);
        }
        // A member name is a string (serde_json: "key must be a string").
        if self.reader.peek()? != b'"' {
            return Err(GiveUp);
        }
        let name = self.reader.string()?;
        seed.deserialize(Name(name)).map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, GiveUp> {
        match self.reader.peek()? {
            b':' => {
                self.reader.at += 1;
                seed.deserialize(&mut *self.reader)
            }
            _ => Err(GiveUp),
        }
    }
}

/// A member name: a string whatever the visitor asks for (serde_json parses a name as a number
/// only for a visitor of numbers, which the encoders do not use; theirs would give up here).
struct Name<'de>(Text<'de>);

impl<'de> Deserializer<'de> for Name<'de> {
    type Error = GiveUp;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, GiveUp> {
        self.0.visit(visitor)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map struct enum identifier
        ignored_any
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use serde_json::Value;

    /// What the reader takes of `text` as a whole (one value, then only whitespace).
    fn ours(text: &str) -> Option<Value> {
        let mut r = ValueReader::new(text, 0);
        let v = Value::deserialize(&mut r).ok()?;
        r.ws();
        (r.position() == text.len()).then_some(v)
    }

    #[test]
    fn takes_what_serde_json_takes_with_the_same_value() {
        for text in [
            r#"{"id": 7, "payload": "abc", "tags": ["x", "y\n"], "n": null, "t": true}"#,
            r#" [1, -2, 3.5, -0, 1e2, 18446744073709551616, {"a": {}} , [] ] "#,
            r#"{"a\"b": "\u00e9\ud83d\ude00"}"#,
            r#""plain""#,
            "false",
            "-9223372036854775808",
        ] {
            let serde: Value = serde_json::from_str(text).unwrap();
            assert_eq!(ours(text), Some(serde), "{text}");
        }
    }

    #[test]
    fn gives_up_on_what_serde_json_refuses() {
        for text in [
            "[1,]",
            r#"{"a":1,}"#,
            "[1 2]",
            r#"{"a" 1}"#,
            r#"{1: 2}"#,
            "nul",
            "tru",
            "01",
            "1.",
            "\"a\tb\"",
            r#""\ud800""#,
            "[",
            "{",
            r#"{"a":1"#,
            "1e400",
            "[,1]",
            "{,}",
        ] {
            assert!(serde_json::from_str::<Value>(text).is_err(), "{text}");
            assert_eq!(ours(text), None, "{text}");
        }
    }

    #[test]
    fn deep_nesting_is_left_to_the_usual_path() {
        let deep = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
        assert!(ours(&deep(MAX_DEPTH as usize)).is_some());
        assert_eq!(ours(&deep(MAX_DEPTH as usize + 1)), None);
    }

    #[test]
    fn a_visitor_that_stops_early_gives_up() {
        // serde_json refuses elements its visitor left unread; so does the reader.
        let mut r = ValueReader::new("[1, 2, 3]", 0);
        assert!(<(u64, u64)>::deserialize(&mut r).is_err());
        let mut r = ValueReader::new("[1, 2]", 0);
        assert_eq!(<(u64, u64)>::deserialize(&mut r).ok(), Some((1, 2)));
    }
}
