//! Replays the fuzz corpora and crash files (`fuzz/corpus/<target>/`, `fuzz/artifacts/<target>/`)
//! through the fuzz targets' bodies on stable, so that every input a fuzzing run kept or that
//! once crashed stays a regression test. The fuzzing itself runs with cargo-fuzz (see the README).

#[path = "../../fuzz/src/lib.rs"]
mod targets;

use std::path::Path;

fn replay(target: &str, run: fn(&[u8])) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    let mut n = 0;
    for dir in ["corpus", "artifacts"] {
        let Ok(entries) = std::fs::read_dir(root.join(dir).join(target)) else {
            continue;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            let data = std::fs::read(&path).unwrap();
            run(&data);
            n += 1;
        }
    }
    assert!(n > 0, "no corpus for {target}");
}

#[test]
fn produce_body() {
    replay("produce_body", targets::produce_body);
}

#[test]
fn consumer_bodies() {
    replay("consumer_bodies", targets::consumer_bodies);
}

#[test]
fn registry_bodies() {
    replay("registry_bodies", targets::registry_bodies);
}

#[test]
fn properties() {
    replay("properties", targets::properties);
}

#[test]
fn mqtt_packets() {
    replay("mqtt_packets", targets::mqtt_packets);
}

#[test]
fn avro_json() {
    replay("avro_json", targets::avro_json);
}

#[test]
fn protobuf_json() {
    replay("protobuf_json", targets::protobuf_json);
}

#[test]
fn jsonschema_json() {
    replay("jsonschema_json", targets::jsonschema_json);
}

#[test]
fn one_pass_request() {
    replay("one_pass_request", targets::one_pass_request);
}
