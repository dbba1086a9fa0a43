//! The field layout of a Protobuf schema's produce message type, flattened from its descriptors
//! once per schema for the one-pass JSON encoder (`formats/protobuf_stream.rs`). Reading
//! prost-reflect's descriptors per record (an `Arc` clone and drop per field, hash lookups, the
//! file's message list walked for the first message) was a third of that encoder's cost.
//!
//! Only what the one pass takes is described: proto3 message types other than Google's
//! well-known types. A field the one pass does not take (a map, a oneof member, a group, an
//! explicit default) is kept with `takes: false`, so that a record naming it gives up on the one
//! pass rather than being refused.

use std::collections::HashMap;

use prost_reflect::{Cardinality, EnumDescriptor, Kind, MessageDescriptor, Syntax};

/// The message types reachable from the produce message type; `messages[0]` is that type.
#[derive(Debug)]
pub struct Layout {
    pub messages: Vec<MessageLayout>,
    pub enums: Vec<EnumLayout>,
}

/// One message type: its fields in ascending number order, found by JSON name, then by name.
#[derive(Debug)]
pub struct MessageLayout {
    pub fields: Vec<FieldLayout>,
    /// Beyond [`LINEAR`] fields: name to field index, JSON names first.
    by_name: Option<HashMap<Box<str>, usize>>,
}

/// Up to this many fields, a name is found by comparing it with each field's.
const LINEAR: usize = 16;

/// One field.
#[derive(Debug)]
pub struct FieldLayout {
    pub json_name: Box<str>,
    pub name: Box<str>,
    pub number: u32,
    pub kind: FieldKind,
    pub repeated: bool,
    pub packed: bool,
    /// Written even at its default (proto3 `optional`, message fields).
    pub presence: bool,
    /// Whether the one pass takes a value for this field.
    pub takes: bool,
}

/// A field's type. Messages and enums are indexes into [`Layout`]; a message type the one pass
/// does not take is `Message(None)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    Double,
    Float,
    Int32,
    Int64,
    Uint32,
    Uint64,
    Sint32,
    Sint64,
    Fixed32,
    Fixed64,
    Sfixed32,
    Sfixed64,
    Bool,
    String,
    Bytes,
    Enum(usize),
    Message(Option<usize>),
}

/// An enum's value names and numbers; `takes` is false for one whose default is not 0.
#[derive(Debug)]
pub struct EnumLayout {
    values: HashMap<Box<str>, i32>,
    pub takes: bool,
}

impl EnumLayout {
    pub fn number(&self, name: &str) -> Option<i32> {
        self.values.get(name).copied()
    }
}

impl MessageLayout {
    /// The field a JSON member names, as prost-reflect finds it: by JSON name, then by name.
    pub fn field(&self, name: &str) -> Option<&FieldLayout> {
        match &self.by_name {
            Some(map) => map.get(name).map(|&i| &self.fields[i]),
            None => self
                .fields
                .iter()
                .find(|f| &*f.json_name == name)
                .or_else(|| self.fields.iter().find(|f| &*f.name == name)),
        }
    }
}

/// Whether the one pass takes a message type: a proto3 message that is not a well-known type
/// (those have their own JSON forms).
fn takes(message: &MessageDescriptor) -> bool {
    message.parent_file().syntax() == Syntax::Proto3
        && !message.full_name().starts_with("google.protobuf.")
}

impl Layout {
    /// The layout of `message` and the types it reaches, or None when the one pass does not
    /// take `message` itself.
    pub fn build(message: &MessageDescriptor) -> Option<Layout> {
        if !takes(message) {
            return None;
        }
        let mut builder = Builder::default();
        builder.message(message);
        Some(Layout {
            messages: builder.messages.into_iter().map(Option::unwrap).collect(),
            enums: builder.enums,
        })
    }
}

#[derive(Default)]
struct Builder {
    /// Filled in after the fields are read (a message may reach itself).
    messages: Vec<Option<MessageLayout>>,
    message_index: HashMap<String, usize>,
    enums: Vec<EnumLayout>,
    enum_index: HashMap<String, usize>,
}

impl Builder {
    fn message(&mut self, message: &MessageDescriptor) -> usize {
        if let Some(&i) = self.message_index.get(message.full_name()) {
            return i;
        }
        let index = self.messages.len();
        self.messages.push(None);
        self.message_index
            .insert(message.full_name().to_string(), index);
        let mut fields: Vec<FieldLayout> = message
            .fields()
            .map(|field| {
                let kind = match field.kind() {
                    Kind::Double => FieldKind::Double,
                    Kind::Float => FieldKind::Float,
                    Kind::Int32 => FieldKind::Int32,
                    Kind::Int64 => FieldKind::Int64,
                    Kind::Uint32 => FieldKind::Uint32,
                    Kind::Uint64 => FieldKind::Uint64,
                    Kind::Sint32 => FieldKind::Sint32,
                    Kind::Sint64 => FieldKind::Sint64,
                    Kind::Fixed32 => FieldKind::Fixed32,
                    Kind::Fixed64 => FieldKind::Fixed64,
                    Kind::Sfixed32 => FieldKind::Sfixed32,
                    Kind::Sfixed64 => FieldKind::Sfixed64,
                    Kind::Bool => FieldKind::Bool,
                    Kind::String => FieldKind::String,
                    Kind::Bytes => FieldKind::Bytes,
                    Kind::Enum(e) => FieldKind::Enum(self.enumeration(&e)),
                    Kind::Message(m) if takes(&m) && !field.is_map() => {
                        FieldKind::Message(Some(self.message(&m)))
                    }
                    Kind::Message(_) => FieldKind::Message(None),
                };
                FieldLayout {
                    json_name: field.json_name().into(),
                    name: field.name().into(),
                    number: field.number(),
                    kind,
                    repeated: field.cardinality() == Cardinality::Repeated,
                    packed: field.is_packed(),
                    presence: field.supports_presence(),
                    takes: !field.is_map()
                        && !field.is_group()
                        && field
                            .containing_oneof()
                            .is_none_or(|oneof| oneof.is_synthetic())
                        && field.field_descriptor_proto().default_value.is_none(),
                }
            })
            .collect();
        fields.sort_by_key(|f| f.number);
        let by_name = (fields.len() > LINEAR).then(|| {
            let mut map = HashMap::new();
            for (i, f) in fields.iter().enumerate() {
                map.entry(f.name.clone()).or_insert(i);
            }
            // JSON names win over names, as in prost-reflect's lookup.
            for (i, f) in fields.iter().enumerate() {
                map.insert(f.json_name.clone(), i);
            }
            map
        });
        self.messages[index] = Some(MessageLayout { fields, by_name });
        index
    }

    fn enumeration(&mut self, e: &EnumDescriptor) -> usize {
        if let Some(&i) = self.enum_index.get(e.full_name()) {
            return i;
        }
        let index = self.enums.len();
        self.enums.push(EnumLayout {
            values: e.values().map(|v| (v.name().into(), v.number())).collect(),
            takes: e.default_value().number() == 0 && e.full_name() != "google.protobuf.NullValue",
        });
        self.enum_index.insert(e.full_name().to_string(), index);
        index
    }
}
