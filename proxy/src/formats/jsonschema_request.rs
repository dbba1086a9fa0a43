//! A whole JSON Schema produce body in one pass: the body is read by hand (`body_reader.rs`),
//! and each record's value is checked and written by the value's one-pass check
//! (`jsonschema_stream::write_at`) where it stands in the body, so no byte is read twice. With
//! serde_json reading the body (`one_pass_request.rs`), each value was first skipped to find
//! its text (the JSON Schema check keeps the client's number text, which serde's events do not
//! carry), and that skip plus its UTF-8 check were 30% of the encoding (`cargo bench -p
//! proxy-benches --bench produce_decode -- produce_decode_json/`).
//!
//! Only the plainest form of the common shape is taken: `{"value_schema_id": N, "records":
//! [...]}` in that order with N a JSON integer, and records without a key (see
//! `body_reader.rs` for the rest). Anything else answers None and the caller takes the usual
//! path, which defines every answer and error; what this writes is byte for byte what the usual
//! path writes (`one_pass_request.rs`'s tests, and the fuzz target `one_pass_request`).

use super::body_reader::{records, Part, Reader};
use super::{avro, jsonschema_stream};
use crate::record::EncodedRecords;
use crate::schema::json_plan::Plan;

/// Encodes `body` whose value schema is `id` with `plan`; None: take the usual path.
pub fn encode(
    body: &[u8],
    plan: &Plan,
    id: i32,
    max_records: usize,
    path_partition: Option<i32>,
) -> Option<EncodedRecords> {
    let mut r = Reader::new(std::str::from_utf8(body).ok()?);
    r.byte(b'{')?;
    r.name("value_schema_id")?;
    if r.integer()? != i64::from(id) {
        return None;
    }
    r.byte(b',')?;
    r.name("records")?;
    let mut arena = Vec::with_capacity(body.len());
    let records = records(
        &mut r,
        max_records,
        path_partition,
        &mut arena,
        |r, part, arena| {
            if part == Part::Key {
                return None;
            }
            avro::frame(id, &[], arena);
            r.at = jsonschema_stream::write_at(plan, r.text, r.at, arena)?;
            Some(())
        },
    )?;
    r.finish(arena, records)
}
