//! Records as a client wrote them ([`RawRecord`], borrowed from the request body), on their way
//! to becoming Kafka bytes ([`crate::record::EncodedRecords`]).

use serde_json::value::RawValue;

use crate::json_fields::Fields;
use crate::json_int::JsonInt;

/// One record as written by a client: raw JSON key and value (None when absent or null),
/// borrowed from the request body.
#[derive(Debug, Clone, Copy)]
pub struct RawRecord<'a> {
    pub key: Option<&'a RawValue>,
    pub value: Option<&'a RawValue>,
    pub partition: Option<i32>,
}

/// Only a JSON object is a record (serde's derive would also take an array of the fields in
/// order, so `[[]]` produced a null record). Unknown and repeated fields are errors.
impl<'de> serde::Deserialize<'de> for RawRecord<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::{MapAccess, Visitor};
        const FIELDS: &[&str; 3] = &["key", "value", "partition"];
        struct Record;
        impl<'de> Visitor<'de> for Record {
            type Value = RawRecord<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a record object")
            }
            fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Self::Value, M::Error> {
                let mut r = RawRecord {
                    key: None,
                    value: None,
                    partition: None,
                };
                let mut fields = Fields::new(FIELDS);
                while let Some(field) = fields.next_key(&mut map)? {
                    match field {
                        0 => r.key = map.next_value()?,
                        1 => r.value = map.next_value()?,
                        _ => r.partition = map.next_value::<Option<JsonInt<i32>>>()?.map(|i| i.0),
                    }
                }
                Ok(r)
            }
        }
        d.deserialize_map(Record)
    }
}
