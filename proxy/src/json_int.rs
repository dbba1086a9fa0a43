//! Integer fields of request bodies as Confluent's JSON binding (Jackson) reads them: a JSON
//! integer, or a string holding one (`"value_schema_id": "5"`, `"partition": "0"`), which Jackson
//! coerces and clients built on it send. Nothing else is coerced: a fraction (`5.5`), a boolean,
//! an empty or padded string and an out-of-range value stay errors, in serde's words, so a typo
//! never silently becomes a different number. A small utility every request body shares.

use std::fmt;
use std::marker::PhantomData;
use std::str::FromStr;

use serde::de::{self, Deserialize, Deserializer, Visitor};

/// An integer read from a JSON integer or a string holding one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JsonInt<T>(pub T);

impl<'de, T> Deserialize<'de> for JsonInt<T>
where
    T: TryFrom<i64> + TryFrom<u64> + FromStr,
{
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(IntVisitor(PhantomData)).map(JsonInt)
    }
}

struct IntVisitor<T>(PhantomData<T>);

impl<T> IntVisitor<T> {
    fn range<E: de::Error>(v: impl fmt::Display) -> E {
        E::custom(format_args!(
            "integer {v} is out of range for a {}",
            std::any::type_name::<T>()
        ))
    }
}

impl<T> Visitor<'_> for IntVisitor<T>
where
    T: TryFrom<i64> + TryFrom<u64> + FromStr,
{
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(
            f,
            "an integer ({}), or a string holding one",
            std::any::type_name::<T>()
        )
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<T, E> {
        T::try_from(v).map_err(|_| Self::range(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<T, E> {
        T::try_from(v).map_err(|_| Self::range(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
        // Digits with an optional sign only: `FromStr` for integers already refuses spaces,
        // fractions and exponents.
        v.parse()
            .map_err(|_| E::invalid_value(de::Unexpected::Str(v), &self))
    }
}

/// For `#[serde(deserialize_with = "...")]` on a required integer field.
pub fn int<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: TryFrom<i64> + TryFrom<u64> + FromStr,
{
    JsonInt::<T>::deserialize(d).map(|i| i.0)
}

/// For `#[serde(default, deserialize_with = "...")]` on an optional integer field (null or
/// absent is None).
pub fn opt_int<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: TryFrom<i64> + TryFrom<u64> + FromStr,
{
    Option::<JsonInt<T>>::deserialize(d).map(|i| i.map(|i| i.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read<T>(json: &str) -> Result<Option<T>, String>
    where
        T: TryFrom<i64> + TryFrom<u64> + FromStr,
    {
        serde_json::from_str::<Option<JsonInt<T>>>(json)
            .map(|o| o.map(|i| i.0))
            .map_err(|e| e.to_string())
    }

    #[test]
    fn integers_and_strings_holding_integers() {
        assert_eq!(read::<i32>("5"), Ok(Some(5)));
        assert_eq!(read::<i32>("\"5\""), Ok(Some(5)));
        assert_eq!(read::<i32>("\"-1\""), Ok(Some(-1)));
        assert_eq!(
            read::<i64>("\"9007199254740993\""),
            Ok(Some(9007199254740993))
        );
        assert_eq!(read::<i32>("null"), Ok(None));
    }

    #[test]
    fn nothing_else_is_coerced() {
        for bad in [
            "5.5", "\"5.5\"", "\"\"", "\" 5\"", "\"5 \"", "\"1e3\"", "true", "[5]", "{}",
            "\"five\"",
        ] {
            assert!(read::<i32>(bad).is_err(), "{bad} was accepted");
        }
        let err = read::<i32>("4294967296").unwrap_err();
        assert!(err.contains("out of range"), "{err}");
        assert!(read::<i32>("\"4294967296\"").is_err());
    }
}
