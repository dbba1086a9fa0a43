//! Confluent's normalized `.proto` text of a compiled schema file: the text Confluent Schema
//! Registry prints for a Protobuf schema under `normalize=true` (`ProtobufSchema.normalize()`
//! then `canonicalString()`).
//!
//! The layout is Confluent's own printer, not `protoc`'s: `syntax` (only `proto3`), `package`,
//! sorted imports, file options, all top-level messages then all top-level enums, `extend`
//! blocks, services; inside a message: reserved, options, fields, oneofs, groups, extension
//! ranges, nested `extend` blocks, nested messages then nested enums, each section after a blank
//! line (blank lines inside nested blocks carry the enclosing indentation). Normalization sorts
//! imports, options (by name), fields (by number), oneofs (by smallest number), enum constants
//! (by number then name), reserved and extension ranges (one per line); types are fully
//! qualified (`.pkg.Type`); maps print as `map<K, V>`; comments are dropped. Message and enum
//! order, and service and rpc order, are kept.
//!
//! This prints from the compiled descriptor (`prost_reflect::FileDescriptor`) rather than from
//! the parsed source, so it differs from Confluent only in what a descriptor cannot tell:
//! - option values are the interpreted ones, so `(opt).a = 1, (opt).b = 2` prints as one message
//!   literal (as Confluent's normalize merges them too); in a proto3 option message, a field set
//!   to its default value is not printed; a map-typed field in an option literal prints its
//!   entries sorted by key (Confluent keeps the written order);
//! - `json_name` prints when it was written in the source (read from the source info protox
//!   records); a file that came as a descriptor has no source info, and then a `json_name`
//!   prints when it is not protoc's default for the field's name (Confluent prints every one a
//!   descriptor sets, and `protoc` sets them everywhere: the defaults are left out here);
//! - proto3 `optional` prints as a label; its synthetic oneof is not printed at all;
//! - extension range options print only their standard fields (`declaration`, `verification`).

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use prost_reflect::prost_types::field_descriptor_proto::Label;
use prost_reflect::prost_types::{
    ExtensionRangeOptions, FieldDescriptorProto, FileDescriptorProto,
};
use prost_reflect::{
    DescriptorPool, DynamicMessage, EnumDescriptor, EnumValueDescriptor, ExtensionDescriptor,
    FieldDescriptor, FileDescriptor, Kind, MapKey, MessageDescriptor, MethodDescriptor,
    OneofDescriptor, ServiceDescriptor, Syntax, Value,
};

/// Range ends at or above this (the largest field number) print as `max`, for enums as well.
const MAX_FIELD_NUMBER: i64 = 536_870_911;
/// `FieldDescriptorProto.json_name`'s field number: the last element of its source location.
const JSON_NAME_FIELD: i32 = 10;
/// Java's default `DecimalFormat` keeps at most this many decimals.
const FRACTION_DIGITS: usize = 3;

/// Confluent's normalized `.proto` text of a compiled file (normalize=true).
pub fn normalized(file: &FileDescriptor) -> String {
    Printer::new(file).file(file)
}

/// One option: the name it sorts by (without parentheses) and its `name = value` text.
struct Opt {
    name: String,
    text: String,
}

struct Printer {
    proto3: bool,
    /// Source paths of the `json_name`s written in the text; `None` when the file carries no
    /// source info (it came as a descriptor), and then every `json_name` prints.
    written_json_names: Option<HashSet<Vec<i32>>>,
    pool: DescriptorPool,
}

impl Printer {
    fn new(file: &FileDescriptor) -> Self {
        let written_json_names: Option<HashSet<Vec<i32>>> = file
            .file_descriptor_proto()
            .source_code_info
            .as_ref()
            .map(|info| {
                info.location
                    .iter()
                    .filter(|location| location.path.last() == Some(&JSON_NAME_FIELD))
                    .map(|location| location.path.clone())
                    .collect()
            });
        Printer {
            proto3: file.syntax() == Syntax::Proto3,
            written_json_names,
            pool: file.parent_pool().clone(),
        }
    }

    fn file(&self, file: &FileDescriptor) -> String {
        let proto = file.file_descriptor_proto();
        let mut out = String::new();
        if self.proto3 {
            out.push_str("syntax = \"proto3\";\n");
        }
        if let Some(package) = proto.package.as_deref().filter(|p| !p.is_empty()) {
            out.push_str(&format!("package {package};\n"));
        }
        push_blocks(&mut out, &import_lines(proto));
        push_blocks(&mut out, &option_statements(&self.options(&file.options())));
        let types: Vec<String> = file
            .messages()
            .filter(|message| !message.is_map_entry())
            .map(|message| self.message(&message))
            .chain(file.enums().map(|e| self.enumeration(&e)))
            .collect();
        push_blocks(&mut out, &types);
        push_blocks(&mut out, &self.extend_blocks(file.extensions()));
        let services: Vec<String> = file.services().map(|s| self.service(&s)).collect();
        push_blocks(&mut out, &services);
        out
    }

    fn message(&self, message: &MessageDescriptor) -> String {
        let mut plain: Vec<FieldDescriptor> = message
            .fields()
            .filter(|field| real_oneof(field).is_none())
            .collect();
        plain.sort_by_key(|field| field.number());
        let (groups, fields): (Vec<_>, Vec<_>) = plain.into_iter().partition(|f| f.is_group());

        let group_types: HashSet<String> = message
            .fields()
            .filter(|field| field.is_group())
            .filter_map(|field| match field.kind() {
                Kind::Message(body) => Some(body.full_name().to_owned()),
                _ => None,
            })
            .collect();
        let nested: Vec<String> = message
            .child_messages()
            .filter(|m| !m.is_map_entry() && !group_types.contains(m.full_name()))
            .map(|m| self.message(&m))
            .chain(message.child_enums().map(|e| self.enumeration(&e)))
            .collect();

        let sections = [
            message_reserved(message),
            option_statements(&self.options(&message.options())),
            fields.iter().map(|f| self.field(f, false)).collect(),
            self.oneofs(message),
            groups.iter().map(|g| self.group(g, false)).collect(),
            self.extension_ranges(message),
            self.extend_blocks(message.child_extensions()),
            nested,
        ];
        let mut out = format!("message {} {{", message.name());
        for section in &sections {
            push_indented(&mut out, section);
        }
        out.push_str("}\n");
        out
    }

    /// The message's real oneofs with at least one field, ordered by their smallest number.
    fn oneofs(&self, message: &MessageDescriptor) -> Vec<String> {
        let mut oneofs: Vec<(u32, String)> = message
            .oneofs()
            .filter(|oneof| !oneof.is_synthetic())
            .filter_map(|oneof| {
                let mut fields: Vec<FieldDescriptor> = oneof.fields().collect();
                fields.sort_by_key(|field| field.number());
                let first = fields.first()?.number();
                Some((first, self.oneof(&oneof, fields)))
            })
            .collect();
        oneofs.sort_by_key(|(first, _)| *first);
        oneofs.into_iter().map(|(_, text)| text).collect()
    }

    fn oneof(&self, oneof: &OneofDescriptor, fields: Vec<FieldDescriptor>) -> String {
        let (groups, fields): (Vec<_>, Vec<_>) = fields.into_iter().partition(|f| f.is_group());
        let fields: Vec<String> = fields.iter().map(|f| self.field(f, true)).collect();
        let groups: Vec<String> = groups.iter().map(|g| self.group(g, true)).collect();
        let mut out = format!("oneof {} {{", oneof.name());
        push_indented(
            &mut out,
            &option_statements(&self.options(&oneof.options())),
        );
        push_indented(&mut out, &fields);
        push_indented(&mut out, &groups);
        out.push_str("}\n");
        out
    }

    fn field(&self, field: &FieldDescriptor, in_oneof: bool) -> String {
        let proto = field.field_descriptor_proto();
        let kind = field.kind();
        let (label, type_text) = match &kind {
            Kind::Message(entry) if field.is_map() => (None, map_type(entry)),
            _ if in_oneof => (None, type_name(&kind)),
            _ => (self.label(proto), type_name(&kind)),
        };
        let mut options = self.options(&field.options());
        if let Some(default) = self.default_option(proto, &kind) {
            options.push(default);
        }
        if let Some(json_name) = &proto.json_name {
            if self.json_name_written(field.path(), field.name(), json_name) {
                options.push(Opt {
                    name: "json_name".to_owned(),
                    text: format!("json_name = {}", quote(json_name)),
                });
            }
        }
        sort_options(&mut options);
        field_line(label, &type_text, field.name(), field.number(), &options)
    }

    fn extension_field(&self, extension: &ExtensionDescriptor) -> String {
        let proto = extension.field_descriptor_proto();
        let kind = extension.kind();
        let mut options = self.options(&extension.options());
        if let Some(default) = self.default_option(proto, &kind) {
            options.push(default);
        }
        sort_options(&mut options);
        let label = self.label(proto);
        field_line(
            label,
            &type_name(&kind),
            extension.name(),
            extension.number(),
            &options,
        )
    }

    /// A proto2 group: its label, the group's name and number, and the group message's fields.
    fn group(&self, field: &FieldDescriptor, in_oneof: bool) -> String {
        let Kind::Message(body) = field.kind() else {
            return self.field(field, in_oneof);
        };
        let mut out = String::new();
        if let Some(label) = self
            .label(field.field_descriptor_proto())
            .filter(|_| !in_oneof)
        {
            out.push_str(label);
            out.push(' ');
        }
        out.push_str(&format!("group {} = {} {{", body.name(), field.number()));
        let mut fields: Vec<FieldDescriptor> = body.fields().collect();
        fields.sort_by_key(|f| f.number());
        let lines: Vec<String> = fields
            .iter()
            .map(|f| {
                if f.is_group() {
                    self.group(f, false)
                } else {
                    self.field(f, false)
                }
            })
            .collect();
        push_indented(&mut out, &lines);
        out.push_str("}\n");
        out
    }

    /// The label as written: always in proto2, only `repeated` and proto3 `optional` in proto3.
    fn label(&self, proto: &FieldDescriptorProto) -> Option<&'static str> {
        match proto.label() {
            Label::Repeated => Some("repeated"),
            Label::Required => Some("required"),
            Label::Optional if !self.proto3 || proto.proto3_optional() => Some("optional"),
            Label::Optional => None,
        }
    }

    /// `default = …` (proto2 only), typed the way Confluent types it: strings quoted, bools and
    /// enums bare, everything else (bytes included) as a number, or bare when not a number.
    fn default_option(&self, proto: &FieldDescriptorProto, kind: &Kind) -> Option<Opt> {
        if self.proto3 {
            return None;
        }
        let raw = proto.default_value.as_deref()?;
        let value = match kind {
            Kind::Bool | Kind::Enum(_) | Kind::Message(_) => raw.to_owned(),
            Kind::String => quote(raw),
            _ => decimal_text(raw),
        };
        Some(Opt {
            name: "default".to_owned(),
            text: format!("default = {value}"),
        })
    }

    /// Whether a field's `json_name` prints: as written in the text; for a descriptor (no
    /// source info), when it is not the default protoc derives from the field's name (protoc
    /// sets one on every field; the compiler fills in the default where a descriptor has none).
    fn json_name_written(&self, field_path: &[i32], name: &str, json_name: &str) -> bool {
        match &self.written_json_names {
            None => json_name != default_json_name(name),
            Some(paths) => {
                let mut path = field_path.to_vec();
                path.push(JSON_NAME_FIELD);
                paths.contains(&path)
            }
        }
    }

    fn enumeration(&self, enumeration: &EnumDescriptor) -> String {
        let reserved = enum_reserved(enumeration);
        let options = option_statements(&self.options(&enumeration.options()));
        let mut values: Vec<EnumValueDescriptor> = enumeration.values().collect();
        values.sort_by(|a, b| (a.number(), a.name()).cmp(&(b.number(), b.name())));
        let mut out = format!("enum {} {{", enumeration.name());
        // Unlike a message's, an enum's sections have no blank lines between them.
        if !reserved.is_empty() || !options.is_empty() || !values.is_empty() {
            out.push('\n');
        }
        for line in reserved.iter().chain(&options) {
            indent_into(&mut out, line);
        }
        for value in &values {
            indent_into(&mut out, &self.enum_value(value));
        }
        out.push_str("}\n");
        out
    }

    fn enum_value(&self, value: &EnumValueDescriptor) -> String {
        let options = self.options(&value.options());
        let mut line = format!("{} = {}", value.name(), value.number());
        if !options.is_empty() {
            line.push(' ');
            line.push_str(&bracketed(&options));
        }
        line.push_str(";\n");
        line
    }

    /// `extensions N to M;` lines, one per range, by start.
    fn extension_ranges(&self, message: &MessageDescriptor) -> Vec<String> {
        let mut ranges: Vec<_> = message.descriptor_proto().extension_range.iter().collect();
        ranges.sort_by_key(|range| range.start());
        ranges
            .into_iter()
            .map(|range| {
                let end = i64::from(range.end()) - 1;
                let mut line = format!("extensions {}", range_text(range.start().into(), end));
                let options = range
                    .options
                    .as_ref()
                    .map(|options| self.extension_range_options(options))
                    .unwrap_or_default();
                if !options.is_empty() {
                    line.push(' ');
                    line.push_str(&bracketed(&options));
                }
                line.push_str(";\n");
                line
            })
            .collect()
    }

    /// Extension range options as a dynamic message. prost-types keeps only the standard fields.
    fn extension_range_options(&self, options: &ExtensionRangeOptions) -> Vec<Opt> {
        const NAME: &str = "google.protobuf.ExtensionRangeOptions";
        let Some(descriptor) = self
            .pool
            .get_message_by_name(NAME)
            .or_else(|| DescriptorPool::global().get_message_by_name(NAME))
        else {
            return Vec::new();
        };
        let bytes = prost_reflect::prost::Message::encode_to_vec(options);
        match DynamicMessage::decode(descriptor, bytes.as_slice()) {
            Ok(message) => self.options(&message),
            Err(_) => Vec::new(),
        }
    }

    /// `extend .Extendee { … }` blocks: the extensions grouped by what they extend (in order of
    /// first appearance), each group's fields by number.
    fn extend_blocks(&self, extensions: impl Iterator<Item = ExtensionDescriptor>) -> Vec<String> {
        let mut groups: Vec<(String, Vec<ExtensionDescriptor>)> = Vec::new();
        for extension in extensions {
            let extendee = extension.containing_message().full_name().to_owned();
            match groups.iter().position(|(name, _)| *name == extendee) {
                Some(index) => groups[index].1.push(extension),
                None => groups.push((extendee, vec![extension])),
            }
        }
        groups
            .into_iter()
            .map(|(extendee, mut members)| {
                members.sort_by_key(|member| member.number());
                let fields: Vec<String> = members.iter().map(|m| self.extension_field(m)).collect();
                let mut out = format!("extend .{extendee} {{");
                push_indented(&mut out, &fields);
                out.push_str("}\n");
                out
            })
            .collect()
    }

    fn service(&self, service: &ServiceDescriptor) -> String {
        let methods: Vec<String> = service.methods().map(|m| self.method(&m)).collect();
        let mut out = format!("service {} {{", service.name());
        push_indented(
            &mut out,
            &option_statements(&self.options(&service.options())),
        );
        push_indented(&mut out, &methods);
        out.push_str("}\n");
        out
    }

    fn method(&self, method: &MethodDescriptor) -> String {
        let stream = |streaming: bool| if streaming { "stream " } else { "" };
        let mut out = format!(
            "rpc {} ({}.{}) returns ({}.{})",
            method.name(),
            stream(method.is_client_streaming()),
            method.input().full_name(),
            stream(method.is_server_streaming()),
            method.output().full_name(),
        );
        let options = option_statements(&self.options(&method.options()));
        if !options.is_empty() {
            out.push_str(" {\n");
            for option in &options {
                indent_into(&mut out, option);
            }
            out.push('}');
        }
        out.push_str(";\n");
        out
    }

    /// The options set in an options message, sorted by name: standard ones by field name,
    /// custom ones as `(full.name)`; a repeated option gives one entry per element.
    fn options(&self, options: &DynamicMessage) -> Vec<Opt> {
        let mut out = Vec::new();
        for (field, value) in options.fields() {
            // Maps print as `map<K, V>`, and interpreted options leave nothing uninterpreted.
            if matches!(field.name(), "map_entry" | "uninterpreted_option") {
                continue;
            }
            push_option(&mut out, field.name(), field.name(), value, &field.kind());
        }
        for (extension, value) in options.extensions() {
            let name = extension.full_name();
            let shown = format!("({name})");
            push_option(&mut out, name, &shown, value, &extension.kind());
        }
        sort_options(&mut out);
        out
    }
}

/// The oneof a field belongs to, unless it is proto3 `optional`'s synthetic one.
fn real_oneof(field: &FieldDescriptor) -> Option<OneofDescriptor> {
    field
        .containing_oneof()
        .filter(|oneof| !oneof.is_synthetic())
}

fn field_line(
    label: Option<&str>,
    type_text: &str,
    name: &str,
    number: u32,
    options: &[Opt],
) -> String {
    let mut line = String::new();
    if let Some(label) = label {
        line.push_str(label);
        line.push(' ');
    }
    line.push_str(&format!("{type_text} {name} = {number}"));
    if !options.is_empty() {
        line.push(' ');
        line.push_str(&bracketed(options));
    }
    line.push_str(";\n");
    line
}

/// Non-public imports, then public ones, each sorted and deduplicated; weak imports are dropped.
fn import_lines(proto: &FileDescriptorProto) -> Vec<String> {
    let indexes = |list: &[i32]| -> HashSet<usize> {
        list.iter()
            .filter_map(|&i| usize::try_from(i).ok())
            .collect()
    };
    let public = indexes(proto.public_dependency.as_slice());
    let weak = indexes(proto.weak_dependency.as_slice());
    let mut plain = BTreeSet::new();
    let mut public_names = BTreeSet::new();
    for (index, name) in proto.dependency.iter().enumerate() {
        if weak.contains(&index) {
            continue;
        }
        if public.contains(&index) {
            public_names.insert(name.as_str());
        } else {
            plain.insert(name.as_str());
        }
    }
    plain
        .into_iter()
        .map(|name| format!("import \"{name}\";\n"))
        .chain(
            public_names
                .into_iter()
                .map(|name| format!("import public \"{name}\";\n")),
        )
        .collect()
}

/// A message's reserved numbers (descriptor ranges are end-exclusive) and names.
fn message_reserved(message: &MessageDescriptor) -> Vec<String> {
    let ranges = message
        .reserved_ranges()
        .map(|range| (i64::from(range.start), i64::from(range.end) - 1))
        .collect();
    reserved_lines(ranges, message.reserved_names())
}

/// An enum's reserved numbers (descriptor ranges are end-inclusive) and names.
fn enum_reserved(enumeration: &EnumDescriptor) -> Vec<String> {
    let ranges = enumeration
        .reserved_ranges()
        .map(|range| (i64::from(*range.start()), i64::from(*range.end())))
        .collect();
    reserved_lines(ranges, enumeration.reserved_names())
}

/// One `reserved` line per range (by start) and then per name (alphabetically).
fn reserved_lines<'a>(
    mut ranges: Vec<(i64, i64)>,
    names: impl Iterator<Item = &'a str>,
) -> Vec<String> {
    ranges.sort_unstable();
    let mut names: Vec<&str> = names.collect();
    names.sort_unstable();
    ranges
        .into_iter()
        .map(|(start, end)| format!("reserved {};\n", range_text(start, end)))
        .chain(
            names
                .into_iter()
                .map(|name| format!("reserved \"{name}\";\n")),
        )
        .collect()
}

/// `N`, `N to M` or `N to max`, from an inclusive range.
fn range_text(start: i64, end: i64) -> String {
    if start == end {
        start.to_string()
    } else if end >= MAX_FIELD_NUMBER {
        format!("{start} to max")
    } else {
        format!("{start} to {end}")
    }
}

/// A field's type: a scalar by name, a message or enum by its full name with a leading dot.
fn type_name(kind: &Kind) -> String {
    let scalar = match kind {
        Kind::Message(message) => return format!(".{}", message.full_name()),
        Kind::Enum(enumeration) => return format!(".{}", enumeration.full_name()),
        Kind::Double => "double",
        Kind::Float => "float",
        Kind::Int32 => "int32",
        Kind::Int64 => "int64",
        Kind::Uint32 => "uint32",
        Kind::Uint64 => "uint64",
        Kind::Sint32 => "sint32",
        Kind::Sint64 => "sint64",
        Kind::Fixed32 => "fixed32",
        Kind::Fixed64 => "fixed64",
        Kind::Sfixed32 => "sfixed32",
        Kind::Sfixed64 => "sfixed64",
        Kind::Bool => "bool",
        Kind::String => "string",
        Kind::Bytes => "bytes",
    };
    scalar.to_owned()
}

/// `map<K, V>` from a map field's entry message.
fn map_type(entry: &MessageDescriptor) -> String {
    let part = |number: u32| {
        entry
            .get_field(number)
            .map(|field| type_name(&field.kind()))
            .unwrap_or_default()
    };
    format!("map<{}, {}>", part(1), part(2))
}

fn push_option(out: &mut Vec<Opt>, name: &str, shown: &str, value: &Value, kind: &Kind) {
    let items: Vec<&Value> = match value {
        Value::List(items) => items.iter().collect(),
        single => vec![single],
    };
    out.extend(items.into_iter().map(|item| Opt {
        name: name.to_owned(),
        text: format!("{shown} = {}", value_text(item, kind)),
    }));
}

/// Stable: a repeated option keeps its elements' order.
fn sort_options(options: &mut [Opt]) {
    options.sort_by(|a, b| a.name.cmp(&b.name));
}

fn option_statements(options: &[Opt]) -> Vec<String> {
    options
        .iter()
        .map(|option| format!("option {};\n", option.text))
        .collect()
}

/// `[a = 1]`, or with several options one per line: `[\n  a = 1,\n  b = 2\n]`.
fn bracketed(options: &[Opt]) -> String {
    if let [single] = options {
        return format!("[{}]", single.text);
    }
    let texts: Vec<String> = options.iter().map(|option| option.text.clone()).collect();
    let mut out = String::from("[\n");
    push_comma_list(&mut out, &texts);
    out.push(']');
    out
}

/// An option value: strings quoted, bools and enums bare, numbers in Java's decimal form,
/// messages as multi-line literals with sorted keys, a one-element list as that element.
fn value_text(value: &Value, kind: &Kind) -> String {
    match value {
        Value::Bool(b) => b.to_string(),
        Value::I32(n) => n.to_string(),
        Value::I64(n) => n.to_string(),
        Value::U32(n) => n.to_string(),
        Value::U64(n) => n.to_string(),
        Value::F32(x) => float_text(f64::from(*x), &x.to_string()),
        Value::F64(x) => float_text(*x, &x.to_string()),
        Value::String(text) => quote(text),
        Value::Bytes(bytes) => quote_bytes(bytes),
        Value::EnumNumber(number) => kind
            .as_enum()
            .and_then(|enumeration| enumeration.get_value(*number))
            .map_or_else(|| number.to_string(), |value| value.name().to_owned()),
        Value::Message(message) => message_literal(message),
        Value::List(items) => list_text(items.iter().map(|item| value_text(item, kind)).collect()),
        Value::Map(map) => map_text(map, kind),
    }
}

/// `{\n  key: value,\n  …\n}` with keys sorted; extension keys are `[full.name]`.
fn message_literal(message: &DynamicMessage) -> String {
    let mut entries: BTreeMap<String, String> = BTreeMap::new();
    for (field, value) in message.fields() {
        if !is_empty_collection(value) {
            entries.insert(field.name().to_owned(), value_text(value, &field.kind()));
        }
    }
    for (extension, value) in message.extensions() {
        if !is_empty_collection(value) {
            let key = format!("[{}]", extension.full_name());
            entries.insert(key, value_text(value, &extension.kind()));
        }
    }
    literal(
        entries
            .into_iter()
            .map(|(key, value)| format!("{key}: {value}"))
            .collect(),
    )
}

/// A map field inside an option literal: a list of `{key, value}` entries sorted by key.
fn map_text(map: &HashMap<MapKey, Value>, kind: &Kind) -> String {
    let value_kind = kind
        .as_message()
        .and_then(|entry| entry.get_field(2))
        .map(|field| field.kind());
    let mut sorted: Vec<(&MapKey, &Value)> = map.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(b.0));
    let entries = sorted
        .into_iter()
        .map(|(key, value)| {
            let value = value_text(value, value_kind.as_ref().unwrap_or(kind));
            literal(vec![
                format!("key: {}", map_key_text(key)),
                format!("value: {value}"),
            ])
        })
        .collect();
    list_text(entries)
}

fn map_key_text(key: &MapKey) -> String {
    match key {
        MapKey::Bool(b) => b.to_string(),
        MapKey::I32(n) => n.to_string(),
        MapKey::I64(n) => n.to_string(),
        MapKey::U32(n) => n.to_string(),
        MapKey::U64(n) => n.to_string(),
        MapKey::String(text) => quote(text),
    }
}

fn is_empty_collection(value: &Value) -> bool {
    match value {
        Value::List(items) => items.is_empty(),
        Value::Map(map) => map.is_empty(),
        _ => false,
    }
}

fn literal(entries: Vec<String>) -> String {
    let mut out = String::from("{\n");
    push_comma_list(&mut out, &entries);
    out.push('}');
    out
}

/// One element prints bare; otherwise `[\n  a,\n  b\n]`.
fn list_text(items: Vec<String>) -> String {
    if let [single] = items.as_slice() {
        return single.clone();
    }
    let mut out = String::from("[\n");
    push_comma_list(&mut out, &items);
    out.push(']');
    out
}

/// Each item indented on its own lines, with a comma after all but the last.
fn push_comma_list(out: &mut String, items: &[String]) {
    for (index, item) in items.iter().enumerate() {
        let comma = if index + 1 < items.len() { "," } else { "" };
        indent_into(out, &format!("{item}{comma}"));
    }
}

/// Blocks at the top level, after a blank line, when there are any.
fn push_blocks(out: &mut String, blocks: &[String]) {
    if blocks.is_empty() {
        return;
    }
    out.push('\n');
    for block in blocks {
        out.push_str(block);
    }
}

/// A section of a block: a newline (ending the `{` line or making a blank line), then the
/// section's blocks indented.
fn push_indented(out: &mut String, blocks: &[String]) {
    if blocks.is_empty() {
        return;
    }
    out.push('\n');
    for block in blocks {
        indent_into(out, block);
    }
}

/// Every line of `block` with a 2-space prefix, blank lines included (they become `"  "`),
/// trailing newlines dropped, each line then ended with one newline.
fn indent_into(out: &mut String, block: &str) {
    for line in block.trim_end_matches('\n').split('\n') {
        out.push_str("  ");
        out.push_str(line);
        out.push('\n');
    }
}

/// A quoted string with Confluent's escapes (`\a \b \f \n \r \t \v \\ \' \"`); anything else
/// is kept as is.
fn quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match escape(c) {
            Some(escaped) => out.push_str(escaped),
            None => out.push(c),
        }
    }
    out.push('"');
    out
}

fn escape(c: char) -> Option<&'static str> {
    Some(match c {
        '\u{7}' => "\\a",
        '\u{8}' => "\\b",
        '\u{c}' => "\\f",
        '\n' => "\\n",
        '\r' => "\\r",
        '\t' => "\\t",
        '\u{b}' => "\\v",
        '\\' => "\\\\",
        '\'' => "\\'",
        '"' => "\\\"",
        _ => return None,
    })
}

/// Bytes as a quoted string: UTF-8 as text, otherwise non-printable bytes as octal escapes.
fn quote_bytes(bytes: &[u8]) -> String {
    if let Ok(text) = std::str::from_utf8(bytes) {
        return quote(text);
    }
    let mut out = String::from("\"");
    for &byte in bytes {
        let c = char::from(byte);
        match escape(c) {
            Some(escaped) => out.push_str(escaped),
            None if byte.is_ascii_graphic() || byte == b' ' => out.push(c),
            None => out.push_str(&format!("\\{byte:03o}")),
        }
    }
    out.push('"');
    out
}

fn float_text(value: f64, literal: &str) -> String {
    if value.is_nan() {
        "nan".to_owned()
    } else if value.is_infinite() {
        let sign = if value > 0.0 { "" } else { "-" };
        format!("{sign}inf")
    } else {
        decimal_text(literal)
    }
}

/// A number as Confluent prints it under normalize: the literal read the way commons-lang's
/// `NumberUtils.createNumber` reads it (an integer exactly; a float when it has at most 7
/// decimals, else a double), printed with Java's default `DecimalFormat` (no exponent, at most
/// 3 decimals, half-even). Anything that is not a number (`inf`, `nan`, a bytes default) is kept.
fn decimal_text(literal: &str) -> String {
    if let Ok(integer) = literal.parse::<i128>() {
        return integer.to_string();
    }
    let Ok(double) = literal.parse::<f64>() else {
        return literal.to_owned();
    };
    if !double.is_finite() {
        return literal.to_ascii_lowercase();
    }
    let decimals = literal.split_once('.').map_or(0, |(_, fraction)| {
        fraction.bytes().take_while(u8::is_ascii_digit).count()
    });
    let single = double as f32;
    let as_float = decimals <= 7 && single.is_finite() && (single != 0.0 || double == 0.0);
    let value = if as_float { f64::from(single) } else { double };
    round_half_even(&value.to_string(), FRACTION_DIGITS)
}

/// Rounds a plain decimal string (`-12.345678`) to `places` decimals, half-even, and drops
/// trailing zeros (and the point when no decimals remain).
fn round_half_even(text: &str, places: usize) -> String {
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    let fraction = fraction.as_bytes();
    let kept = fraction.len().min(places);
    let (kept_fraction, dropped) = fraction.split_at(kept);
    let mut number: Vec<u8> = whole.bytes().chain(kept_fraction.iter().copied()).collect();
    if rounds_up(&number, dropped) {
        increment(&mut number);
    }
    let (whole, fraction) = number.split_at(number.len().saturating_sub(kept));
    let fraction_len = fraction
        .iter()
        .rposition(|&d| d != b'0')
        .map_or(0, |i| i + 1);
    let mut out = String::new();
    if negative {
        out.push('-');
    }
    out.push_str(&String::from_utf8_lossy(whole));
    if fraction_len > 0 {
        out.push('.');
        out.push_str(&String::from_utf8_lossy(&fraction[..fraction_len]));
    }
    out
}

fn rounds_up(kept: &[u8], dropped: &[u8]) -> bool {
    let Some((&first, rest)) = dropped.split_first() else {
        return false;
    };
    match first.cmp(&b'5') {
        Ordering::Greater => true,
        Ordering::Less => false,
        // ASCII digits have the parity of their value.
        Ordering::Equal => {
            rest.iter().any(|&d| d != b'0') || kept.last().is_some_and(|&d| d % 2 == 1)
        }
    }
}

/// Adds one to the last digit of an ASCII digit string, carrying.
fn increment(digits: &mut Vec<u8>) {
    for digit in digits.iter_mut().rev() {
        if *digit == b'9' {
            *digit = b'0';
        } else {
            *digit += 1;
            return;
        }
    }
    digits.insert(0, b'1');
}

/// protoc's default JSON name of a field: underscores dropped, the letter after each one
/// upper-cased.
fn default_json_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut upper = false;
    for c in name.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use prost_reflect::FileDescriptor;
    use protox::file::{ChainFileResolver, File, FileResolver, GoogleFileResolver};

    use super::normalized;

    /// A stand-in for Confluent's `confluent/meta.proto` (only what the tests use).
    const META: &str = r#"syntax = "proto3";
package confluent;

import "google/protobuf/descriptor.proto";

message Meta {
  string doc = 1;
  map<string, string> params = 2;
  repeated string tags = 3;
}

extend google.protobuf.FieldOptions {
  Meta field_meta = 1088;
}
"#;

    /// A stand-in for Confluent's `confluent/type/decimal.proto`.
    const DECIMAL: &str = r#"syntax = "proto3";
package confluent.type;

message Decimal {
  bytes value = 1;
  uint32 precision = 2;
  int32 scale = 3;
}
"#;

    struct Sources(HashMap<String, String>);

    impl FileResolver for Sources {
        fn open_file(&self, name: &str) -> Result<File, protox::Error> {
            match self.0.get(name) {
                Some(text) => File::from_source(name, text),
                None => Err(protox::Error::file_not_found(name)),
            }
        }
    }

    fn compile(text: &str) -> FileDescriptor {
        let sources = [
            ("test.proto", text),
            ("confluent/meta.proto", META),
            ("confluent/type/decimal.proto", DECIMAL),
        ];
        let mut resolver = ChainFileResolver::new();
        resolver.add(Sources(
            sources
                .iter()
                .map(|(name, text)| (name.to_string(), text.to_string()))
                .collect(),
        ));
        resolver.add(GoogleFileResolver::new());
        let mut compiler = protox::Compiler::with_file_resolver(resolver);
        compiler.include_imports(true);
        compiler.open_file("test.proto").unwrap();
        compiler
            .descriptor_pool()
            .get_file_by_name("test.proto")
            .unwrap()
    }

    /// The lines, each ended with a newline (blank lines inside nested blocks hold spaces).
    fn lines(lines: &[&str]) -> String {
        lines.iter().map(|line| format!("{line}\n")).collect()
    }

    /// After ProtobufSchemaTest#testNormalization, made valid for protoc-style compilation
    /// (imports for every type used, no reserved numbers in use, zero-first proto3 enums),
    /// plus a proto3 `optional` field.
    #[test]
    fn normalizes_a_proto3_file_like_confluent() {
        let file = compile(
            r#"syntax = "proto3";
package my.pkg;

import "google/protobuf/timestamp.proto";
import "confluent/type/decimal.proto";
import "confluent/meta.proto";

option java_package = "my.pkg";
option java_outer_classname = "Outer";
option java_multiple_files = true;
option java_string_check_utf8 = true;
option optimize_for = CODE_SIZE;
option go_package = "go.pkg";
option cc_generic_services = false;
option java_generic_services = true;
option py_generic_services = false;
option cc_enable_arenas = true;
option objc_class_prefix = "objc";
option csharp_namespace = "csharp";
option swift_prefix = "swift";
option php_class_prefix = "php";
option php_namespace = "php_ns";
option php_metadata_namespace = "php_md_ns";
option ruby_package = "ruby";

// A comment, dropped.
message Nested {
  confluent.type.Decimal test_cflt_decimal = 1 [(confluent.field_meta) = {
    params: [{ value: "8", key: "precision" }, { value: "3", key: "scale" }],
    doc: "test decimal"
  }];
  google.protobuf.Timestamp test_timestamp = 2;
  map<string, InnerMessage> test_map = 3;

  message InnerMessage {
    reserved "foo", "bar";
    reserved 14, 15, 20 to 22;
    reserved 16, 30, 39 to 41;
    option no_standard_descriptor_accessor = true;
    option deprecated = true;

    InnerMessage.DeepMessage deep2 = 4;
    Nested.InnerMessage.DeepMessage deep3 = 5;
    my.pkg.Nested.InnerMessage.DeepMessage deep4 = 6;
    .my.pkg.Nested.InnerMessage.DeepMessage deep5 = 7;
    string id = 1 [json_name = "id"];
    repeated int32 ids = 2 [packed = true];
    DeepMessage deep1 = 3;
    optional string nickname = 8;

    oneof some_val {
      string one_id = 12;
      int32 other_id = 11;
    }
    oneof some_val2 {
      string one_id2 = 13;
      int64 other_id2 = 10 [deprecated = true, jstype = JS_STRING, json_name = "otherId2"];
    }

    message DeepMessage {
      string id = 1;
    }
    enum InnerEnum {
      reserved 100 to 110;
      option allow_alias = true;
      ZERO = 0 [deprecated = true];
      ALSO_ZERO = 0;
      TWO = 2;
      ONE = 1;
    }
  }
}
enum Status {
  ACTIVE = 0;
  INACTIVE = 2;
  PAUSED = 1;
}

service MyService {
  option deprecated = true;

  rpc MyMethod2 (stream Nested) returns (Nested.InnerMessage);
  rpc MyMethod1 (Nested.InnerMessage) returns (stream Nested) {
    option idempotency_level = NO_SIDE_EFFECTS;
    option deprecated = true;
  }
}
"#,
        );
        let expected = lines(&[
            "syntax = \"proto3\";",
            "package my.pkg;",
            "",
            "import \"confluent/meta.proto\";",
            "import \"confluent/type/decimal.proto\";",
            "import \"google/protobuf/timestamp.proto\";",
            "",
            "option cc_enable_arenas = true;",
            "option cc_generic_services = false;",
            "option csharp_namespace = \"csharp\";",
            "option go_package = \"go.pkg\";",
            "option java_generic_services = true;",
            "option java_multiple_files = true;",
            "option java_outer_classname = \"Outer\";",
            "option java_package = \"my.pkg\";",
            "option java_string_check_utf8 = true;",
            "option objc_class_prefix = \"objc\";",
            "option optimize_for = CODE_SIZE;",
            "option php_class_prefix = \"php\";",
            "option php_metadata_namespace = \"php_md_ns\";",
            "option php_namespace = \"php_ns\";",
            "option py_generic_services = false;",
            "option ruby_package = \"ruby\";",
            "option swift_prefix = \"swift\";",
            "",
            "message Nested {",
            "  .confluent.type.Decimal test_cflt_decimal = 1 [(confluent.field_meta) = {",
            "    doc: \"test decimal\",",
            "    params: [",
            "      {",
            "        key: \"precision\",",
            "        value: \"8\"",
            "      },",
            "      {",
            "        key: \"scale\",",
            "        value: \"3\"",
            "      }",
            "    ]",
            "  }];",
            "  .google.protobuf.Timestamp test_timestamp = 2;",
            "  map<string, .my.pkg.Nested.InnerMessage> test_map = 3;",
            "",
            "  message InnerMessage {",
            "    reserved 14;",
            "    reserved 15;",
            "    reserved 16;",
            "    reserved 20 to 22;",
            "    reserved 30;",
            "    reserved 39 to 41;",
            "    reserved \"bar\";",
            "    reserved \"foo\";",
            "  ",
            "    option deprecated = true;",
            "    option no_standard_descriptor_accessor = true;",
            "  ",
            "    string id = 1 [json_name = \"id\"];",
            "    repeated int32 ids = 2 [packed = true];",
            "    .my.pkg.Nested.InnerMessage.DeepMessage deep1 = 3;",
            "    .my.pkg.Nested.InnerMessage.DeepMessage deep2 = 4;",
            "    .my.pkg.Nested.InnerMessage.DeepMessage deep3 = 5;",
            "    .my.pkg.Nested.InnerMessage.DeepMessage deep4 = 6;",
            "    .my.pkg.Nested.InnerMessage.DeepMessage deep5 = 7;",
            "    optional string nickname = 8;",
            "  ",
            "    oneof some_val2 {",
            "      int64 other_id2 = 10 [",
            "        deprecated = true,",
            "        json_name = \"otherId2\",",
            "        jstype = JS_STRING",
            "      ];",
            "      string one_id2 = 13;",
            "    }",
            "    oneof some_val {",
            "      int32 other_id = 11;",
            "      string one_id = 12;",
            "    }",
            "  ",
            "    message DeepMessage {",
            "      string id = 1;",
            "    }",
            "    enum InnerEnum {",
            "      reserved 100 to 110;",
            "      option allow_alias = true;",
            "      ALSO_ZERO = 0;",
            "      ZERO = 0 [deprecated = true];",
            "      ONE = 1;",
            "      TWO = 2;",
            "    }",
            "  }",
            "}",
            "enum Status {",
            "  ACTIVE = 0;",
            "  PAUSED = 1;",
            "  INACTIVE = 2;",
            "}",
            "",
            "service MyService {",
            "  option deprecated = true;",
            "",
            "  rpc MyMethod2 (stream .my.pkg.Nested) returns (.my.pkg.Nested.InnerMessage);",
            "  rpc MyMethod1 (.my.pkg.Nested.InnerMessage) returns (stream .my.pkg.Nested) {",
            "    option deprecated = true;",
            "    option idempotency_level = NO_SIDE_EFFECTS;",
            "  };",
            "}",
        ]);
        assert_eq!(normalized(&file), expected);
    }

    /// ProtobufSchemaTest#testEnumReserved (reserved `3 to 5` instead of `1 to 3`, which would
    /// reserve the enum's own values): no syntax and no package, so the text starts blank.
    #[test]
    fn splits_and_sorts_enum_reserved_ranges() {
        let file = compile(
            r#"
import "google/protobuf/descriptor.proto";

message FooOptions {
  optional string name = 1;
  optional FooParameterType type = 2;
}
enum FooParameterType {
  reserved 20, 100 to max;
  reserved 10;
  reserved 3 to 5;
  reserved "BAD", "OLD";
  NUMBER = 1;
  STRING = 2;
}
"#,
        );
        let expected = lines(&[
            "",
            "import \"google/protobuf/descriptor.proto\";",
            "",
            "message FooOptions {",
            "  optional string name = 1;",
            "  optional .FooParameterType type = 2;",
            "}",
            "enum FooParameterType {",
            "  reserved 3 to 5;",
            "  reserved 10;",
            "  reserved 20;",
            "  reserved 100 to max;",
            "  reserved \"BAD\";",
            "  reserved \"OLD\";",
            "  NUMBER = 1;",
            "  STRING = 2;",
            "}",
        ]);
        assert_eq!(normalized(&file), expected);
    }

    /// ProtobufSchemaTest#testNestedCustomOptions, input and expected text unchanged.
    #[test]
    fn merges_nested_custom_options_into_literals() {
        let file = compile(
            r#"syntax = "proto3";
package acme.events;
import "google/protobuf/wrappers.proto";
import "google/protobuf/timestamp.proto";
import "google/protobuf/descriptor.proto";

message ValidationSettings {
  bool is_optional = 1;
}
message EventMetadata {
  google.protobuf.StringValue owner = 1;
  google.protobuf.StringValue description = 2;
  RetentionPolicies retention_policy = 4;
}

extend google.protobuf.FieldOptions {
  ValidationSettings validation_settings = 10000;
  EventMetadata event_metadata = 10001;
}

enum RetentionPolicies {
  DEFAULT = 0; // Default value, allows enforcement to implement default strategy
  SEVEN_DAYS = 1;
  THIRTY_DAYS = 2;
  NINETY_DAYS = 3;
  ONE_YEAR = 4;
  TWO_YEARS = 5;
  SEVEN_YEARS = 6;
  ALL_TIME = 7;
}

message EventHeader {
  google.protobuf.StringValue event_source = 1;
  google.protobuf.StringValue event_id = 2;
  google.protobuf.Timestamp event_timestamp = 3;
  google.protobuf.StringValue event_name = 4;
}

message Event {
  EventHeader header = 1;
  oneof only_one_event_limiter {
    SearchEvent requested_search = 2 [
      (event_metadata).description.value = "Fires when a user submits a search request.",
      (event_metadata).owner.value = "DISCO"
    ];
  }
}
message SearchEvent {
  google.protobuf.Int32Value user_id = 1 [(validation_settings).is_optional = true];
}
"#,
        );
        let expected = lines(&[
            "syntax = \"proto3\";",
            "package acme.events;",
            "",
            "import \"google/protobuf/descriptor.proto\";",
            "import \"google/protobuf/timestamp.proto\";",
            "import \"google/protobuf/wrappers.proto\";",
            "",
            "message ValidationSettings {",
            "  bool is_optional = 1;",
            "}",
            "message EventMetadata {",
            "  .google.protobuf.StringValue owner = 1;",
            "  .google.protobuf.StringValue description = 2;",
            "  .acme.events.RetentionPolicies retention_policy = 4;",
            "}",
            "message EventHeader {",
            "  .google.protobuf.StringValue event_source = 1;",
            "  .google.protobuf.StringValue event_id = 2;",
            "  .google.protobuf.Timestamp event_timestamp = 3;",
            "  .google.protobuf.StringValue event_name = 4;",
            "}",
            "message Event {",
            "  .acme.events.EventHeader header = 1;",
            "",
            "  oneof only_one_event_limiter {",
            "    .acme.events.SearchEvent requested_search = 2 [(acme.events.event_metadata) = {",
            "      description: {",
            "        value: \"Fires when a user submits a search request.\"",
            "      },",
            "      owner: {",
            "        value: \"DISCO\"",
            "      }",
            "    }];",
            "  }",
            "}",
            "message SearchEvent {",
            "  .google.protobuf.Int32Value user_id = 1 [(acme.events.validation_settings) = {",
            "    is_optional: true",
            "  }];",
            "}",
            "enum RetentionPolicies {",
            "  DEFAULT = 0;",
            "  SEVEN_DAYS = 1;",
            "  THIRTY_DAYS = 2;",
            "  NINETY_DAYS = 3;",
            "  ONE_YEAR = 4;",
            "  TWO_YEARS = 5;",
            "  SEVEN_YEARS = 6;",
            "  ALL_TIME = 7;",
            "}",
            "",
            "extend .google.protobuf.FieldOptions {",
            "  .acme.events.ValidationSettings validation_settings = 10000;",
            "  .acme.events.EventMetadata event_metadata = 10001;",
            "}",
        ]);
        assert_eq!(normalized(&file), expected);
    }

    /// After ProtobufSchemaTest#testNormalizationWithComplexCustomOptions (a double field
    /// instead of a bytes one with a numeric default, which protoc rejects), plus a field whose
    /// option values show Java's number format (at most 3 decimals, half-even, no exponent).
    #[test]
    fn prints_proto2_defaults_and_numbers_like_java() {
        let file = compile(
            r#"package acme.common;

import "google/protobuf/descriptor.proto";

option java_outer_classname = "ExternalMetadata";
option java_package = "com.acme.protos.common";

message ExternalMetadata {
  /** The content type of the blob contained in metadata **/
  optional string content_type = 1;
  /** A size **/
  optional double metadata = 2 [
    default = 0, (length).min = 1.0, (length).max = 1024.0];
  optional double ratio = 3 [(length).min = 0.0625, (length).max = 2.5E3];
}

/** Field level validation options */
extend google.protobuf.FieldOptions {
  optional Range length = 22301;
}

/** A range of numeric values */
message Range {
  /** The minimum allowable value */
  optional double min = 1 [default = -inf];
  /** The maximum allowable value */
  optional double max = 2 [default = nan];
}
"#,
        );
        let expected = lines(&[
            "package acme.common;",
            "",
            "import \"google/protobuf/descriptor.proto\";",
            "",
            "option java_outer_classname = \"ExternalMetadata\";",
            "option java_package = \"com.acme.protos.common\";",
            "",
            "message ExternalMetadata {",
            "  optional string content_type = 1;",
            "  optional double metadata = 2 [",
            "    (acme.common.length) = {",
            "      max: 1024,",
            "      min: 1",
            "    },",
            "    default = 0",
            "  ];",
            "  optional double ratio = 3 [(acme.common.length) = {",
            "    max: 2500,",
            "    min: 0.062",
            "  }];",
            "}",
            "message Range {",
            "  optional double min = 1 [default = -inf];",
            "  optional double max = 2 [default = nan];",
            "}",
            "",
            "extend .google.protobuf.FieldOptions {",
            "  optional .acme.common.Range length = 22301;",
            "}",
        ]);
        assert_eq!(normalized(&file), expected);
    }

    /// ProtobufSchemaTest#testRanges, input and expected text unchanged: single-number ranges
    /// print as the number, for reserved and extension ranges of messages and enums alike.
    #[test]
    fn prints_single_number_ranges_as_the_number() {
        let file = compile(
            r#"
message Money {
  reserved 5000 to 6000;
  reserved 10000 to 10001;
  reserved 20000 to 20000;

  optional int64 cents = 1;

  extensions 100 to 200;
  extensions 1000 to 1001;
  extensions 2000 to 2000;

  enum MoneyEnum {
    reserved 100 to 200;
    reserved 1000 to 1001;
    reserved 2000 to 2000;
    NONE = 0;
    CENTS = 1;
    DOLLARS = 2;
  }
}
"#,
        );
        let expected = lines(&[
            "",
            "message Money {",
            "  reserved 5000 to 6000;",
            "  reserved 10000 to 10001;",
            "  reserved 20000;",
            "",
            "  optional int64 cents = 1;",
            "",
            "  extensions 100 to 200;",
            "  extensions 1000 to 1001;",
            "  extensions 2000;",
            "",
            "  enum MoneyEnum {",
            "    reserved 100 to 200;",
            "    reserved 1000 to 1001;",
            "    reserved 2000;",
            "    NONE = 0;",
            "    CENTS = 1;",
            "    DOLLARS = 2;",
            "  }",
            "}",
        ]);
        assert_eq!(normalized(&file), expected);
    }
}
