//! The fields of a JSON object read by hand with serde (to borrow raw values): each known field
//! at most once, any other refused, with serde's own error texts. A small utility that the
//! produce body (`rest/produce_request.rs`) and its records (`formats/encoded.rs`) share.

use serde::de::{DeserializeSeed, Deserializer, Error, MapAccess, Visitor};

/// The fields seen so far of an object whose known fields are `names`.
pub struct Fields<const N: usize> {
    names: &'static [&'static str; N],
    seen: [bool; N],
}

impl<const N: usize> Fields<N> {
    pub fn new(names: &'static [&'static str; N]) -> Self {
        Fields {
            names,
            seen: [false; N],
        }
    }

    /// The index of `key` in the known names; an unknown or repeated field is an error.
    pub fn index<E: Error>(&mut self, key: &str) -> Result<usize, E> {
        let i = self
            .names
            .iter()
            .position(|f| *f == key)
            .ok_or_else(|| E::unknown_field(key, self.names))?;
        if std::mem::replace(&mut self.seen[i], true) {
            return Err(E::duplicate_field(self.names[i]));
        }
        Ok(i)
    }

    /// The next key of `map` as [`Self::index`] gives it, read without allocating.
    pub fn next_key<'de, M: MapAccess<'de>>(
        &mut self,
        map: &mut M,
    ) -> Result<Option<usize>, M::Error> {
        map.next_key_seed(Key(self))
    }
}

/// A key read as the index of its known name.
struct Key<'f, const N: usize>(&'f mut Fields<N>);

impl<'de, const N: usize> DeserializeSeed<'de> for Key<'_, N> {
    type Value = usize;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<usize, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de, const N: usize> Visitor<'de> for Key<'_, N> {
    type Value = usize;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a field name")
    }

    fn visit_str<E: Error>(self, key: &str) -> Result<usize, E> {
        self.0.index(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_fields_once_each_and_nothing_else() {
        let mut f = Fields::new(&["key", "value"]);
        assert_eq!(f.index::<serde_json::Error>("value").unwrap(), 1);
        assert_eq!(f.index::<serde_json::Error>("key").unwrap(), 0);
        let twice = f.index::<serde_json::Error>("key").unwrap_err();
        assert_eq!(twice.to_string(), "duplicate field `key`");
        let unknown = Fields::new(&["key", "value"])
            .index::<serde_json::Error>("partition")
            .unwrap_err();
        assert_eq!(
            unknown.to_string(),
            "unknown field `partition`, expected `key` or `value`"
        );
    }
}
