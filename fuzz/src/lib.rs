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
