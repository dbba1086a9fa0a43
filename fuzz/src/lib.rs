//! The bodies of the fuzz targets: every input a client or an operator controls, parsed as the
//! proxy parses it. Each function must return (any error is fine); a panic, a hang or a crash is
//! a finding. `proxy/tests/fuzz_replay.rs` compiles this file too and replays `corpus/` and
//! `artifacts/` through it on stable.

use bytes::{Bytes, BytesMut};
use kafka_proxy::formats::{encode_records, EmbeddedFormat};
use kafka_proxy::rest::body::parse_json;
use kafka_proxy::rest::consumers::{
    CommitRequest, CreateRequest, PartitionsRequest, PositionsRequest, SubscribeRequest,
};
use kafka_proxy::rest::produce_request::ProduceRequest;
use tokio_util::codec::Decoder;

/// A produce request body, then its records in the binary and json formats.
pub fn produce_body(data: &[u8]) {
    let body = Bytes::copy_from_slice(data);
    if let Ok(request) = ProduceRequest::parse(&body, 10_000) {
        for format in [EmbeddedFormat::Binary, EmbeddedFormat::Json] {
            let _ = encode_records(format, &body, &request.records, 1000);
        }
    }
}

/// The consumer endpoints' bodies; the first byte picks which.
pub fn consumer_bodies(data: &[u8]) {
    let Some((which, body)) = data.split_first() else {
        return;
    };
    match which % 5 {
        0 => drop(parse_json::<CreateRequest>(body)),
        1 => drop(parse_json::<SubscribeRequest>(body)),
        2 => drop(parse_json::<PartitionsRequest>(body)),
        3 => drop(parse_json::<PositionsRequest>(body)),
        _ => drop(parse_json::<CommitRequest>(body)),
    }
}

/// A registration body, then its schema parsed by its type (Avro, JSON Schema, Protobuf).
pub fn registry_bodies(data: &[u8]) {
    if let Ok((body, kind)) = kafka_proxy::registry_api::schema_body(data) {
        let _ = kafka_proxy::schema::kinds::parse(kind, &body.schema);
    }
}

/// A `kafka-rest.properties` file, then the configuration built from it. Listener keys are left
/// out: resolving their host names would reach for DNS.
pub fn properties(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut props = kafka_proxy::properties::parse(text);
    props.retain(|k, _| !k.ends_with("listeners") && k != "port");
    props.insert("bootstrap.servers".into(), "127.0.0.1:9".into());
    let _ = kafka_proxy::Config::from_properties(&props);
}

/// MQTT packets as a connection reads them: the CONNECT's protocol level, then packets decoded
/// by the 3.1.1 and the 5 codec (8092-byte packet limit, the proxy's default).
pub fn mqtt_packets(data: &[u8]) {
    use rmqtt_codec::{v3, v5, version::VersionCodec};
    let mut first = BytesMut::from(data);
    let _ = VersionCodec.decode(&mut first);
    let mut buf = BytesMut::from(data);
    let mut codec = v3::Codec::new(8092);
    while let Ok(Some(_)) = codec.decode(&mut buf) {}
    let mut buf = BytesMut::from(data);
    let mut codec = v5::Codec::new(8092, 0);
    while let Ok(Some(_)) = codec.decode(&mut buf) {}
}

/// The Avro schemas `avro_json` encodes with: every type, unions of named types, maps and a
/// recursive record.
const AVRO_SCHEMAS: [&str; 5] = [
    r#"{"type":"record","name":"All","namespace":"t","fields":[
        {"name":"n","type":"null"},{"name":"b","type":"boolean"},{"name":"i","type":"int"},
        {"name":"l","type":"long"},{"name":"f","type":"float"},{"name":"d","type":"double"},
        {"name":"s","type":"string"},{"name":"y","type":"bytes"},
        {"name":"x","type":{"type":"fixed","name":"Four","size":4}},
        {"name":"e","type":{"type":"enum","name":"E","symbols":["A","B","C"]}},
        {"name":"u","type":{"type":"string","logicalType":"uuid"}},
        {"name":"ts","type":{"type":"long","logicalType":"timestamp-millis"}},
        {"name":"dec","type":{"type":"bytes","logicalType":"decimal","precision":5,"scale":2}},
        {"name":"a","type":{"type":"array","items":{"type":"array","items":"int"}}},
        {"name":"m","type":{"type":"map","values":"long"}},
        {"name":"z","type":"string","default":"zed"}]}"#,
    r#"{"type":"record","name":"U","namespace":"io.seed","fields":[
        {"name":"o","type":["null","string","int","long","double","bytes",
            {"type":"fixed","name":"F2","size":2},{"type":"enum","name":"K","symbols":["X","Y"]},
            {"type":"array","items":"string"},{"type":"map","values":"int"},
            {"type":"record","name":"In","fields":[{"name":"v","type":"int","default":7}]}],
         "default":null},
        {"name":"r","type":["null","In"],"default":null},
        {"name":"k","type":["K","null"],"default":"Y"}]}"#,
    r#"{"type":"map","values":{"type":"map","values":["null",{"type":"array","items":"float"}]}}"#,
    r#"{"type":"record","name":"Node","fields":[{"name":"v","type":"long"},
        {"name":"kids","type":{"type":"array","items":"Node"},"default":[]},
        {"name":"next","type":["null","Node"],"default":null}]}"#,
    // Every field a type the flat writer takes (`formats/avro_flat.rs`).
    r#"{"type":"record","name":"Flat","namespace":"t","fields":[{"name":"id","type":"long"},
        {"name":"s","type":"string"},{"name":"i","type":{"type":"int","logicalType":"date"}},
        {"name":"b","type":"boolean"},{"name":"o","type":["null","string","int"],"default":null},
        {"name":"l","type":["long","null"]}]}"#,
];

/// Avro JSON (the first byte picks the schema) through the one-pass encoder and the tree
/// encoder: whatever the one pass writes must be byte for byte what the tree encoder writes,
/// and when it gives up it must leave its buffer as it was.
pub fn avro_json(data: &[u8]) {
    use kafka_proxy::formats::{avro, avro_stream};
    use kafka_proxy::schema::kinds::AvroSchema;
    static SCHEMAS: std::sync::LazyLock<Vec<AvroSchema>> = std::sync::LazyLock::new(|| {
        AVRO_SCHEMAS
            .iter()
            .map(|s| AvroSchema::parse(s, &[]).expect("a valid schema"))
            .collect()
    });
    let Some((which, text)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(text) else {
        return;
    };
    let schema = &SCHEMAS[usize::from(*which) % SCHEMAS.len()];
    let mut one_pass = vec![0xAA];
    let written = avro_stream::write(schema, text, &mut one_pass);
    let tree = serde_json::from_str::<serde_json::Value>(text)
        .ok()
        .and_then(|json| {
            let mut out = vec![0xAA];
            avro::write_value(schema, &json, &mut out)
                .ok()
                .map(|()| out)
        });
    match written {
        true => assert_eq!(Some(&one_pass), tree.as_ref(), "{text}"),
        false => assert_eq!(one_pass, [0xAA], "{text}"),
    }
}

/// The Protobuf schema `protobuf_json` encodes with: every scalar kind, enums (one with a
/// negative value), nested and recursive messages, packed and unpacked repeated fields,
/// `optional`, a oneof, a map and a well-known type.
const PROTOBUF_SCHEMA: &str = include_str!("../protobuf_json.proto");

/// Proto3 JSON through the one-pass encoder and the tree encoder (prost-reflect): whatever the
/// one pass writes must be byte for byte what the tree encoder writes, and when it gives up it
/// must leave its buffer as it was.
pub fn protobuf_json(data: &[u8]) {
    use kafka_proxy::formats::protobuf_stream;
    use kafka_proxy::schema::proto::ProtoSchema;
    use prost::Message;
    use prost_reflect::{DeserializeOptions, DynamicMessage};
    static SCHEMA: std::sync::LazyLock<ProtoSchema> = std::sync::LazyLock::new(|| {
        ProtoSchema::parse(PROTOBUF_SCHEMA, &[]).expect("a valid schema")
    });
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut one_pass = vec![0xAA];
    let message = SCHEMA.first_message().expect("a message type");
    let layout = SCHEMA.layout().expect("a proto3 message type");
    let written = protobuf_stream::write(layout, text, &mut one_pass);
    let tree = serde_json::from_str::<serde_json::Value>(text)
        .ok()
        .and_then(|json| {
            let options = DeserializeOptions::new().deny_unknown_fields(true);
            DynamicMessage::deserialize_with_options(message, json, &options).ok()
        })
        .map(|m| [&[0xAA][..], &m.encode_to_vec()].concat());
    match written {
        true => assert_eq!(Some(&one_pass), tree.as_ref(), "{text}"),
        false => assert_eq!(one_pass, [0xAA], "{text}"),
    }
}

/// The JSON Schemas `jsonschema_json` checks with, all within the one-pass subset.
const JSON_SCHEMAS: [&str; 3] = [
    r#"{"type":"object","properties":{"id":{"type":"integer","minimum":-5,"maximum":1e3},
        "name":{"type":"string","minLength":1,"maxLength":4},"score":{"type":["number","null"],
        "exclusiveMinimum":0.5},"tags":{"type":"array","items":{"enum":["a","b","é"]},
        "minItems":1,"maxItems":3},"meta":{"type":"object","additionalProperties":
        {"type":"boolean"}}},"required":["id"],"additionalProperties":false}"#,
    r#"{"$schema":"http://json-schema.org/draft-04/schema#","type":["integer","string"],
        "maximum":9007199254740992,"minLength":2}"#,
    r#"{"$schema":"https://json-schema.org/draft/2020-12/schema","type":"array",
        "items":{"type":"object","properties":{"x":{"type":"number"}},"required":["x","y"]}}"#,
];

/// JSON (the first byte picks the schema) through the one-pass check and the `jsonschema`
/// validator: whatever the one pass takes must be JSON that serde_json takes, valid for the
/// validator, and written byte for byte as `compact` writes it (the same JSON value).
pub fn jsonschema_json(data: &[u8]) {
    use kafka_proxy::formats::jsonschema_stream;
    use kafka_proxy::schema::kinds::{parse, Parsed, SchemaType};
    static SCHEMAS: std::sync::LazyLock<Vec<Parsed>> = std::sync::LazyLock::new(|| {
        JSON_SCHEMAS
            .iter()
            .map(|s| parse(SchemaType::Json, s).expect("a valid schema"))
            .collect()
    });
    let Some((which, text)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(text) else {
        return;
    };
    let Parsed::Json(schema) = &SCHEMAS[usize::from(*which) % SCHEMAS.len()] else {
        unreachable!("JSON schemas")
    };
    let plan = schema.plan.as_ref().expect("within the subset");
    let mut written = vec![0xAA];
    if !jsonschema_stream::write(plan, text, &mut written) {
        assert_eq!(written, [0xAA], "{text}: written though not taken");
        return;
    }
    let value: serde_json::Value = serde_json::from_str(text).expect("valid JSON");
    assert!(schema.validator.is_valid(&value), "{text}");
    let mut compact = vec![0xAA];
    jsonschema_stream::compact(text, &mut compact);
    assert_eq!(written, compact, "{text}");
    let again: serde_json::Value = serde_json::from_slice(&compact[1..]).expect("compact JSON");
    assert_eq!(value, again, "{text}");
}

/// A produce body (the first byte picks an Avro schema from `avro_json`'s, the Protobuf schema,
/// a JSON schema from `jsonschema_json`'s, or binary) through the one-pass request encoder and the usual path (`ProduceRequest::parse`,
/// then the record encoders): whenever the one pass takes a body, the usual path must take it
/// too and write the same records, byte for byte.
pub fn one_pass_request(data: &[u8]) {
    use kafka_proxy::formats::{encode_schema_records, one_pass_request, ResolvedSchema};
    use kafka_proxy::schema::kinds::{parse, SchemaType};
    static SCHEMAS: std::sync::LazyLock<Vec<(EmbeddedFormat, ResolvedSchema)>> =
        std::sync::LazyLock::new(|| {
            let resolved = |kind, text| ResolvedSchema {
                id: 7,
                schema: parse(kind, text).expect("a valid schema"),
            };
            AVRO_SCHEMAS
                .iter()
                .map(|s| (EmbeddedFormat::Avro, resolved(SchemaType::Avro, s)))
                .chain([(
                    EmbeddedFormat::Protobuf,
                    resolved(SchemaType::Protobuf, PROTOBUF_SCHEMA),
                )])
                .chain(
                    JSON_SCHEMAS
                        .iter()
                        .map(|s| (EmbeddedFormat::JsonSchema, resolved(SchemaType::Json, s))),
                )
                .collect()
        });
    let Some((which, body)) = data.split_first() else {
        return;
    };
    let path_partition = (which & 0x80 != 0).then_some(3);
    // One choice more than the schemas: a binary body through `binary_request`.
    let choice = usize::from(*which & 0x7f) % (SCHEMAS.len() + 1);
    let Some((format, schema)) = SCHEMAS.get(choice) else {
        return binary_request(body, path_partition);
    };
    // As the proxy runs it: a key schema (here the value's schema under the id the body names)
    // only when the body's head names one.
    let Some(ids) = one_pass_request::leading_schema_ids(body) else {
        return;
    };
    let key = ids.key.map(|id| ResolvedSchema {
        id,
        schema: schema.schema.clone(),
    });
    let Some(one) = one_pass_request::encode(body, key.as_ref(), schema, 100, path_partition)
    else {
        return;
    };
    assert_eq!(ids.value, 7);
    let mut request = ProduceRequest::parse(body, 100).expect("the usual parse takes it");
    assert_eq!(request.value_schema_id, Some(7));
    assert_eq!(request.key_schema_id, ids.key.map(i64::from));
    for r in &mut request.records {
        if key.is_none() {
            assert!(r.key.is_none_or(|k| k.get() == "null"), "a key");
        }
        r.partition = r.partition.or(path_partition);
    }
    let usual = encode_schema_records(*format, &request.records, key.as_ref(), Some(schema))
        .expect("the usual encoders take it");
    assert_eq!(one.len(), usual.len());
    for (a, b) in one.iter().zip(usual.iter()) {
        assert_eq!((a.key, a.value, a.partition), (b.key, b.value, b.partition));
    }
}

/// A binary body through the hand-read one pass and the usual path: whenever the one pass takes
/// it, the usual path takes it too and writes the same records.
fn binary_request(body: &[u8], path_partition: Option<i32>) {
    use kafka_proxy::formats::{binary_request, encode_records};
    let Some(one) = binary_request::encode(body, 100, path_partition) else {
        return;
    };
    let mut request = ProduceRequest::parse(body, 100).expect("the usual parse takes it");
    assert!(!request.records.is_empty());
    for r in &mut request.records {
        r.partition = r.partition.or(path_partition);
    }
    let bytes = bytes::Bytes::copy_from_slice(body);
    let usual = encode_records(EmbeddedFormat::Binary, &bytes, &request.records, 64)
        .expect("the usual decoder takes it");
    assert_eq!(one.len(), usual.len());
    for (a, b) in one.iter().zip(usual.iter()) {
        assert_eq!((a.key, a.value, a.partition), (b.key, b.value, b.partition));
    }
}
