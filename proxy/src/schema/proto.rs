//! PROTOBUF schemas: `.proto` text compiled in-process (protox), with `import`s resolved from the
//! schema's references, and the descriptors used for produce (JSON to a dynamic message of the
//! first message type) and consume (message indexes to a message type, then proto3 JSON).

use std::collections::HashMap;
use std::sync::OnceLock;

use base64::Engine;
use prost::Message;
use prost_reflect::{DescriptorPool, FileDescriptor, MessageDescriptor};
use protox::file::{ChainFileResolver, File, FileResolver, GoogleFileResolver};

use super::error::{Incompatibility, SchemaError};
use super::proto_layout::Layout;
use crate::varint;

/// The name the registered schema's own file is compiled under; its imports use their own names.
const MAIN_FILE: &str = "kafka-proxy/registered-schema.proto";

/// A compiled `.proto` schema.
pub struct ProtoSchema {
    pub file: FileDescriptor,
    /// The `.proto` text the registry shows: as posted, or printed from a descriptor.
    text: String,
    /// The produce message type's layout for the one-pass JSON encoder, built on first use.
    layout: OnceLock<Option<Layout>>,
}

impl std::fmt::Debug for ProtoSchema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ProtoSchema({})", self.file.package_name())
    }
}

/// Imports resolved from references: file name to `.proto` text.
struct Imports(HashMap<String, String>);

impl FileResolver for Imports {
    fn open_file(&self, name: &str) -> Result<File, protox::Error> {
        match self.0.get(name) {
            Some(text) => File::from_source(name, text),
            None => Err(protox::Error::file_not_found(name)),
        }
    }
}

impl ProtoSchema {
    /// Compiles `text` (`.proto` source, or as Confluent also accepts, a base64-encoded
    /// `FileDescriptorProto`). `imports` maps each import name to its text (the transitive
    /// closure of the schema's references); Google's well-known types and the other imports
    /// Confluent has built in (`proto_builtin`) need no reference.
    pub fn parse(text: &str, imports: &[(String, String)]) -> Result<Self, SchemaError> {
        let mut resolver = ChainFileResolver::new();
        let from_descriptor = descriptor_from_base64(text);
        let main = match from_descriptor.clone() {
            Some(mut descriptor) => {
                descriptor.name = Some(MAIN_FILE.to_string());
                File::from_file_descriptor_proto(descriptor)
            }
            None => File::from_source(MAIN_FILE, text).map_err(parse_error)?,
        };
        resolver.add(Imports(imports.iter().cloned().collect()));
        resolver.add(OneFile(main));
        resolver.add(super::proto_builtin::Builtin);
        resolver.add(GoogleFileResolver::new());
        let mut compiler = protox::Compiler::with_file_resolver(resolver);
        compiler.include_imports(true);
        compiler.open_file(MAIN_FILE).map_err(parse_error)?;
        let pool: DescriptorPool = compiler.descriptor_pool();
        let file = pool
            .get_file_by_name(MAIN_FILE)
            .ok_or_else(|| parse_error("the schema file was not compiled"))?;
        // A descriptor is shown as `.proto` text, as Confluent does (printed normalized).
        let text = match from_descriptor {
            Some(_) => super::proto_text::normalized(&file),
            None => text.to_string(),
        };
        Ok(ProtoSchema {
            file,
            text,
            layout: OnceLock::new(),
        })
    }

    /// The `.proto` text the registry keeps and shows.
    pub fn text(&self) -> String {
        self.text.clone()
    }

    /// Confluent's normalized text (`normalize=true`).
    pub fn normalized(&self) -> String {
        super::proto_text::normalized(&self.file)
    }

    /// The form registrations are compared in: the compiled file descriptor, without its name.
    pub fn canonical(&self) -> String {
        let mut proto = self.file.file_descriptor_proto().clone();
        proto.name = None;
        proto.source_code_info = None;
        base64::engine::general_purpose::STANDARD.encode(proto.encode_to_vec())
    }

    /// The message type produce uses, as Confluent's proxy does: the first one in the file.
    pub fn first_message(&self) -> Result<MessageDescriptor, SchemaError> {
        self.file.messages().next().ok_or(SchemaError::NoMessage)
    }

    /// The first message type's layout for the one-pass JSON encoder, or None when that
    /// encoder does not take the type ([`Layout::build`]).
    pub fn layout(&self) -> Option<&Layout> {
        self.layout
            .get_or_init(|| Layout::build(&self.first_message().ok()?))
            .as_ref()
    }

    /// The message type at `indexes` (a top-level message, then nested ones), as written in
    /// Confluent's framing.
    pub fn message_at(&self, indexes: &[i32]) -> Result<MessageDescriptor, SchemaError> {
        let missing = || SchemaError::NoMessageAt(indexes.to_vec());
        let (&first, rest) = indexes.split_first().ok_or_else(missing)?;
        let mut message = usize::try_from(first)
            .ok()
            .and_then(|i| self.file.messages().nth(i))
            .ok_or_else(missing)?;
        for &i in rest {
            message = usize::try_from(i)
                .ok()
                .and_then(|i| message.child_messages().nth(i))
                .ok_or_else(missing)?;
        }
        Ok(message)
    }
}

/// Whether data written with `writer` can be read with `reader`, by Confluent's Protobuf rules
/// (`SchemaDiff.compare(original = writer, update = reader)`): every message type of the file is
/// compared by name, fields by number. Incompatible: a changed package, a removed message type,
/// a field's kind (scalar/message/map), scalar group or message type changed, a repeated label
/// changed on a numeric field, required fields added or removed, a field removed from a oneof,
/// fields moved into a oneof. Compatible: everything else (added messages and fields, removed
/// fields, renames, enum changes, string/bytes, int32/int64/uint32/uint64/bool/enum, sint32/sint64,
/// fixed32/sfixed32, fixed64/sfixed64).
pub fn can_read(writer: &ProtoSchema, reader: &ProtoSchema) -> Result<(), Incompatibility> {
    let mut why = Vec::new();
    if writer.file.package_name() != reader.file.package_name() {
        why.push(format!(
            "PACKAGE_CHANGED: {:?} became {:?}",
            writer.file.package_name(),
            reader.file.package_name()
        ));
    }
    let mut seen = std::collections::HashSet::new();
    compare_messages(
        writer.file.messages(),
        &reader.file.messages().collect::<Vec<_>>(),
        &mut seen,
        &mut why,
    );
    if why.is_empty() {
        Ok(())
    } else {
        Err(Incompatibility(why.join("; ")))
    }
}

fn compare_messages(
    original: impl Iterator<Item = MessageDescriptor>,
    update: &[MessageDescriptor],
    seen: &mut std::collections::HashSet<(String, String)>,
    why: &mut Vec<String>,
) {
    for o in original.filter(|m| !m.is_map_entry()) {
        match update.iter().find(|u| u.name() == o.name()) {
            None => why.push(format!("MESSAGE_REMOVED: {}", o.full_name())),
            Some(u) => compare_message(&o, u, seen, why),
        }
    }
}

fn compare_message(
    o: &MessageDescriptor,
    u: &MessageDescriptor,
    seen: &mut std::collections::HashSet<(String, String)>,
    why: &mut Vec<String>,
) {
    // Recursive message types compare once.
    if !seen.insert((o.full_name().to_string(), u.full_name().to_string())) {
        return;
    }
    compare_messages(
        o.child_messages(),
        &u.child_messages().collect::<Vec<_>>(),
        seen,
        why,
    );
    let required = |f: &prost_reflect::FieldDescriptor| {
        f.cardinality() == prost_reflect::Cardinality::Required
    };
    for of in o.fields() {
        match u.get_field(of.number()) {
            Some(uf) => compare_field(&of, &uf, seen, why),
            None if required(&of) => {
                why.push(format!("REQUIRED_FIELD_REMOVED: {}", of.full_name()))
            }
            None => {}
        }
    }
    for uf in u.fields() {
        if o.get_field(uf.number()).is_none() && required(&uf) {
            why.push(format!("REQUIRED_FIELD_ADDED: {}", uf.full_name()));
        }
    }
    compare_oneofs(o, u, why);
}

/// Oneofs by Confluent's rules (oneofs are matched by the fields they hold, not their names, so a
/// renamed oneof is the same oneof): a field of a oneof may leave it for the top level or for a
/// new oneof of its own, but not disappear (ONEOF_FIELD_REMOVED); a oneof of the update may hold
/// fields of one original oneof, or one former top-level field, but not fields from two places
/// (FIELD_MOVED_TO_EXISTING_ONEOF) nor several former top-level fields
/// (MULTIPLE_FIELDS_MOVED_TO_ONEOF).
fn compare_oneofs(o: &MessageDescriptor, u: &MessageDescriptor, why: &mut Vec<String>) {
    let real_oneof =
        |f: &prost_reflect::FieldDescriptor| f.containing_oneof().filter(|one| !one.is_synthetic());
    for oo in o.oneofs().filter(|one| !one.is_synthetic()) {
        for of in oo.fields() {
            if u.get_field(of.number()).is_none() {
                why.push(format!("ONEOF_FIELD_REMOVED: {}", of.full_name()));
            }
        }
    }
    for uo in u.oneofs().filter(|one| !one.is_synthetic()) {
        // Where the update oneof's fields were: in which original oneof, or at the top level.
        let (mut from_top, mut from_oneofs) = (0, std::collections::BTreeSet::new());
        for uf in uo.fields() {
            if let Some(of) = o.get_field(uf.number()) {
                match real_oneof(&of) {
                    None => from_top += 1,
                    Some(one) => {
                        from_oneofs.insert(one.name().to_string());
                    }
                }
            }
        }
        if from_oneofs.len() > 1 || (from_top > 0 && !from_oneofs.is_empty()) {
            why.push(format!("FIELD_MOVED_TO_EXISTING_ONEOF: {}", uo.full_name()));
        } else if from_top > 1 {
            why.push(format!(
                "MULTIPLE_FIELDS_MOVED_TO_ONEOF: {}",
                uo.full_name()
            ));
        }
    }
}

/// Confluent's field kinds: scalars (enums included), messages, maps.
#[derive(PartialEq)]
enum FieldKind {
    Scalar,
    Message,
    Map,
}

fn field_kind(f: &prost_reflect::FieldDescriptor) -> FieldKind {
    match f.kind() {
        _ if f.is_map() => FieldKind::Map,
        prost_reflect::Kind::Message(_) => FieldKind::Message,
        _ => FieldKind::Scalar,
    }
}

/// The groups of scalar types whose values read as each other.
fn scalar_group(kind: &prost_reflect::Kind) -> u8 {
    use prost_reflect::Kind::*;
    match kind {
        Int32 | Int64 | Uint32 | Uint64 | Bool | Enum(_) => 0,
        Sint32 | Sint64 => 1,
        String | Bytes => 2,
        Fixed32 | Sfixed32 => 3,
        Fixed64 | Sfixed64 => 4,
        Float => 5,
        Double => 6,
        Message(_) => 7,
    }
}

fn compare_field(
    of: &prost_reflect::FieldDescriptor,
    uf: &prost_reflect::FieldDescriptor,
    seen: &mut std::collections::HashSet<(String, String)>,
    why: &mut Vec<String>,
) {
    let (ok, uk) = (field_kind(of), field_kind(uf));
    if ok != uk {
        why.push(format!("FIELD_KIND_CHANGED: {}", of.full_name()));
        return;
    }
    match ok {
        FieldKind::Scalar => {
            let group = scalar_group(&of.kind());
            if group != scalar_group(&uf.kind()) {
                why.push(format!(
                    "FIELD_SCALAR_KIND_CHANGED: {} ({:?} to {:?})",
                    of.full_name(),
                    of.kind(),
                    uf.kind()
                ));
            } else if group != 2 && of.is_list() != uf.is_list() {
                why.push(format!("FIELD_NUMERIC_LABEL_CHANGED: {}", of.full_name()));
            }
        }
        FieldKind::Message => {
            if let (prost_reflect::Kind::Message(om), prost_reflect::Kind::Message(um)) =
                (of.kind(), uf.kind())
            {
                let local = |m: &MessageDescriptor| {
                    let package = m.package_name();
                    m.full_name()
                        .strip_prefix(package)
                        .map(|n| n.trim_start_matches('.').to_string())
                        .unwrap_or_else(|| m.full_name().to_string())
                };
                if local(&om) != local(&um) {
                    why.push(format!(
                        "FIELD_NAMED_TYPE_CHANGED: {} ({} to {})",
                        of.full_name(),
                        om.full_name(),
                        um.full_name()
                    ));
                } else {
                    compare_message(&om, &um, seen, why);
                }
            }
        }
        FieldKind::Map => {
            if let (prost_reflect::Kind::Message(om), prost_reflect::Kind::Message(um)) =
                (of.kind(), uf.kind())
            {
                compare_field(
                    &om.map_entry_key_field(),
                    &um.map_entry_key_field(),
                    seen,
                    why,
                );
                compare_field(
                    &om.map_entry_value_field(),
                    &um.map_entry_value_field(),
                    seen,
                    why,
                );
            }
        }
    }
}

/// A file resolver for the schema's own file when it came as a descriptor.
struct OneFile(File);

impl FileResolver for OneFile {
    fn open_file(&self, name: &str) -> Result<File, protox::Error> {
        if name == MAIN_FILE {
            Ok(self.0.clone())
        } else {
            Err(protox::Error::file_not_found(name))
        }
    }
}

/// A schema given as base64 of a serialized `FileDescriptorProto`, as Confluent's clients may
/// register it. `.proto` text never decodes as base64 into a descriptor with messages or enums.
fn descriptor_from_base64(text: &str) -> Option<prost_types::FileDescriptorProto> {
    let trimmed = text.trim();
    if trimmed.is_empty() || trimmed.contains(char::is_whitespace) {
        return None;
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(trimmed)
        .ok()?;
    let descriptor = prost_types::FileDescriptorProto::decode(bytes.as_slice()).ok()?;
    (!descriptor.message_type.is_empty() || !descriptor.enum_type.is_empty()).then_some(descriptor)
}

/// Reads Confluent's message-index list from the front of a framed payload: a zig-zag varint
/// count, then that many zig-zag varint indexes; a count of 0 means `[0]` (the first message).
/// Returns the indexes and the rest of the payload.
pub fn read_indexes(mut data: &[u8]) -> Result<(Vec<i32>, &[u8]), IndexesError> {
    let count = varint::read_int(&mut data)?;
    if count == 0 {
        return Ok((vec![0], data));
    }
    if !(1..=100).contains(&count) {
        return Err(IndexesError::Count(count));
    }
    let indexes = (0..count)
        .map(|_| varint::read_int(&mut data))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((indexes, data))
}

/// Writes the message indexes of a message type (the inverse of [`read_indexes`]).
pub fn write_indexes(indexes: &[i32], out: &mut Vec<u8>) {
    if indexes == [0] {
        out.push(0);
        return;
    }
    write_zigzag(indexes.len() as i32, out);
    for &i in indexes {
        write_zigzag(i, out);
    }
}

/// Why a payload's message indexes do not decode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IndexesError {
    #[error("{0} in the message indexes")]
    Varint(#[from] varint::VarintError),
    #[error("invalid message-index count {0}")]
    Count(i32),
}

/// Zig-zag varints of 32-bit values are those of the same 64-bit values (Avro's `long`).
fn write_zigzag(value: i32, out: &mut Vec<u8>) {
    varint::put_long(out, i64::from(value));
}

/// A compiler's refusal, in its own words.
fn parse_error(e: impl std::fmt::Display) -> SchemaError {
    SchemaError::Parse(e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const USER: &str = r#"
        syntax = "proto3";
        package demo;
        message User {
          string name = 1;
          int32 age = 2;
          message Address { string city = 1; }
          Address address = 3;
        }
        message Other { bool flag = 1; }
    "#;

    #[test]
    fn compiles_and_navigates_message_indexes() {
        let s = ProtoSchema::parse(USER, &[]).unwrap();
        assert_eq!(s.first_message().unwrap().full_name(), "demo.User");
        assert_eq!(s.message_at(&[1]).unwrap().full_name(), "demo.Other");
        assert_eq!(
            s.message_at(&[0, 0]).unwrap().full_name(),
            "demo.User.Address"
        );
        assert!(s.message_at(&[2]).is_err());
        assert!(s.message_at(&[-1]).is_err());
        assert!(ProtoSchema::parse("message X { strin a = 1; }", &[]).is_err());
    }

    #[test]
    fn imports_come_from_references_and_well_known_types() {
        let main = r#"syntax = "proto3"; import "other.proto";
            import "google/protobuf/timestamp.proto";
            message M { other.O o = 1; google.protobuf.Timestamp at = 2; }"#;
        let other = r#"syntax = "proto3"; package other; message O { string s = 1; }"#;
        assert!(ProtoSchema::parse(main, &[]).is_err());
        let s = ProtoSchema::parse(main, &[("other.proto".into(), other.into())]).unwrap();
        assert_eq!(s.first_message().unwrap().full_name(), "M");
    }

    #[test]
    fn canonical_form_ignores_layout_and_base64_descriptors_parse() {
        let a = ProtoSchema::parse(USER, &[]).unwrap();
        let b = ProtoSchema::parse(&USER.replace("\n        ", "\n"), &[]).unwrap();
        assert_eq!(a.canonical(), b.canonical());
        let encoded = a.canonical();
        let c = ProtoSchema::parse(&encoded, &[]).unwrap();
        assert_eq!(c.canonical(), a.canonical());
    }

    fn compatible(writer: &str, reader: &str) -> Result<(), String> {
        can_read(
            &ProtoSchema::parse(writer, &[]).unwrap(),
            &ProtoSchema::parse(reader, &[]).unwrap(),
        )
        .map_err(|e| e.to_string())
    }

    #[test]
    fn confluent_compatibility_rules() {
        let v1 = r#"syntax = "proto3"; package p;
            message A { string s = 1; int32 n = 2; oneof o { string x = 3; } }"#;
        // Added/removed fields, renames, int32 to int64, string to bytes, added messages.
        let ok = r#"syntax = "proto3"; package p;
            message A { bytes s = 1; int64 count = 2; oneof o { string x = 3; bool y = 5; }
                        double d = 4; }
            message B { }"#;
        assert_eq!(compatible(v1, ok), Ok(()));
        for (bad, what) in [
            (
                r#"syntax = "proto3"; package q; message A { }"#,
                "PACKAGE_CHANGED",
            ),
            (
                r#"syntax = "proto3"; package p; message Z { }"#,
                "MESSAGE_REMOVED",
            ),
            (
                r#"syntax = "proto3"; package p; message A { double n = 2; }"#,
                "FIELD_SCALAR_KIND_CHANGED",
            ),
            (
                r#"syntax = "proto3"; package p; message A { A n = 2; }"#,
                "FIELD_KIND_CHANGED",
            ),
            (
                r#"syntax = "proto3"; package p; message A { repeated int32 n = 2; }"#,
                "FIELD_NUMERIC_LABEL_CHANGED",
            ),
            (
                r#"syntax = "proto3"; package p; message A { oneof o { string s = 1; } }"#,
                "ONEOF_FIELD_REMOVED",
            ),
            (
                r#"syntax = "proto3"; package p;
                message A { oneof o2 { string s = 1; int32 n = 2; } string x = 3; }"#,
                "MULTIPLE_FIELDS_MOVED_TO_ONEOF",
            ),
        ] {
            let err = compatible(v1, bad).unwrap_err();
            assert!(err.contains(what), "{what}: {err}");
        }
        // Direction matters: a new message type is fine to read old data, not the reverse.
        assert!(compatible(ok, v1).unwrap_err().contains("MESSAGE_REMOVED"));
        // Message-typed fields compare the messages; required fields (proto2) may not change.
        let nested = r#"syntax = "proto2"; message M { optional Inner i = 1; }
            message Inner { optional int32 a = 1; }"#;
        let nested_bad = r#"syntax = "proto2"; message M { optional Inner i = 1; }
            message Inner { optional float a = 1; required int32 b = 2; }"#;
        let err = compatible(nested, nested_bad).unwrap_err();
        assert!(
            err.contains("FIELD_SCALAR_KIND_CHANGED") && err.contains("REQUIRED_FIELD_ADDED"),
            "{err}"
        );
        let renamed = r#"syntax = "proto2"; message M { optional Other i = 1; }
            message Inner { optional int32 a = 1; } message Other { }"#;
        assert!(compatible(nested, renamed)
            .unwrap_err()
            .contains("FIELD_NAMED_TYPE_CHANGED"));
        // Recursive types terminate.
        let tree = r#"syntax = "proto3"; message T { repeated T kids = 1; int32 v = 2; }"#;
        assert_eq!(compatible(tree, tree), Ok(()));
    }

    #[test]
    fn message_indexes_round_trip() {
        for indexes in [vec![0], vec![1], vec![0, 2, 1], vec![300]] {
            let mut out = Vec::new();
            write_indexes(&indexes, &mut out);
            out.extend_from_slice(b"rest");
            let (read, rest) = read_indexes(&out).unwrap();
            assert_eq!(read, indexes);
            assert_eq!(rest, b"rest");
        }
        // The common case is one zero byte; Confluent's [1] is count 1 (0x02), index 1 (0x02).
        let mut out = Vec::new();
        write_indexes(&[1], &mut out);
        assert_eq!(out, [2, 2]);
        assert!(read_indexes(&[0x02]).is_err());
        assert!(read_indexes(&[0xff, 0xff, 0xff, 0xff, 0xff, 0x01]).is_err());
    }

    #[test]
    fn layout_flattens_reachable_types_once() {
        use crate::schema::proto_layout::FieldKind;
        let schema = ProtoSchema::parse(
            r#"syntax = "proto3";
               message A { B b = 2; repeated A kids = 1; E e = 3; map<string, B> m = 4;
                           oneof o { int32 x = 5; } optional int32 p = 6; }
               message B { int64 n_count = 1; E e = 2; }
               enum E { Z = 0; O = 1; }"#,
            &[],
        )
        .unwrap();
        let layout = Layout::build(&schema.first_message().unwrap()).unwrap();
        assert_eq!(
            layout.messages.len(),
            2,
            "A and B (the map's entry is not taken)"
        );
        assert_eq!(layout.enums.len(), 1);
        let a = &layout.messages[0];
        let numbers: Vec<u32> = a.fields.iter().map(|f| f.number).collect();
        assert_eq!(numbers, [1, 2, 3, 4, 5, 6], "ascending");
        assert_eq!(a.fields[0].kind, FieldKind::Message(Some(0)));
        assert_eq!(a.fields[1].kind, FieldKind::Message(Some(1)));
        assert!(!a.field("m").unwrap().takes && !a.field("x").unwrap().takes);
        assert!(a.field("p").unwrap().takes && a.field("p").unwrap().presence);
        let b = &layout.messages[1];
        assert_eq!(b.field("nCount").unwrap().number, 1);
        assert_eq!(b.field("n_count").unwrap().number, 1);
        assert!(b.field("nope").is_none());
        assert_eq!(layout.enums[0].number("O"), Some(1));
    }
}
