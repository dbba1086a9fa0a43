//! The bad-input corpus: several hundred malformed or invalid requests over REST and the built-in
//! registry. Every one must be answered with a 4xx in Confluent's JSON error shape (never a 5xx, a
//! plain-text or HTML page, a hang or a dropped connection), and none may write anything: the
//! produce topic stays empty and the registry holds no subject but the one a schema-format
//! produce registers before checking its records (as Confluent's proxy does).

mod common;

use common::*;
use serde_json::{json, Value};

/// One request of the corpus.
struct Case {
    method: reqwest::Method,
    path: String,
    content_type: Option<&'static str>,
    body: String,
}

fn case(
    method: reqwest::Method,
    path: &str,
    content_type: Option<&'static str>,
    body: impl Into<String>,
) -> Case {
    Case {
        method,
        path: path.to_string(),
        content_type,
        body: body.into(),
    }
}

/// Request bodies that are wrong for every produce format: syntax, shape, fields, partitions.
fn structural_produce_bodies() -> Vec<String> {
    let mut out: Vec<String> = [
        "not json",
        "{",
        "{\"records\":[",
        "{\"records\":[{\"value\":1}",
        "[]",
        "[{\"value\":1}]",
        "\"records\"",
        "42",
        "true",
        "{\"records\":{}}",
        "{\"records\":\"x\"}",
        "{\"records\":42}",
        "{\"records\":[1]}",
        "{\"records\":[\"x\"]}",
        "{\"records\":[[]]}",
        "{\"records\":[null]}",
        "{\"records\":[]}",
        "{\"records\":null}",
        "{}",
        "{\"record\":[{\"value\":null}]}",
        "{\"records\":[{\"value\":null}],\"extra\":1}",
        "{\"records\":[{\"value\":null,\"bogus\":1}]}",
        "{\"records\":[{\"value\":null,\"partition\":\"x\"}]}",
        "{\"records\":[{\"value\":null,\"partition\":1.5}]}",
        "{\"records\":[{\"value\":null,\"partition\":99}]}",
        "{\"records\":[{\"value\":null,\"partition\":-1}]}",
        "{\"records\":[{\"value\":null,\"partition\":4294967296}]}",
        "{\"records\":[{\"value\":null,\"partition\":true}]}",
        "{\"records\":[{\"value\":null}],\"records\":[{\"value\":null}]}",
        "{\"records\":[{\"value\":null}]} trailing",
        "{\"records\":[{\"value\":null}]}{}",
        "{\"records\":[{\"value\":null}],\"value_schema_id\":\"abc\"}",
        "{\"records\":[{\"value\":null}],\"key_schema_id\":[]}",
        "{\"records\":[{\"value\":null}],\"value_schema_id\":1e99}",
        "{\"records\":[{\"value\":null},{\"value\":null,\"partition\":7}]}",
        "{\"records\":[{\"value\":null}],}",
        "{'records':[]}",
        "{\"records\":[{\"value\":null}]",
        "\u{feff}{\"records\":[{\"value\":null}]",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    out.push(format!(
        "{{\"records\":[{}]}}",
        "{\"value\":null},".repeat(10) + "{\"value\":null,\"key\":null,\"x\":0}"
    ));
    out
}

/// Bodies only the binary format refuses: keys and values that are not base64 strings.
fn binary_bodies() -> Vec<String> {
    [
        "\"!!!\"",
        "\"A===\"",
        "\"A\"",
        "1",
        "{\"a\":1}",
        "[\"AA==\"]",
        "true",
        "\"AA==\\u0000\"",
        "\"=AA=\"",
        "\"AA==AA==x\"",
    ]
    .iter()
    .flat_map(|bad| {
        [
            format!("{{\"records\":[{{\"value\":\"AA==\"}},{{\"value\":{bad}}}]}}"),
            format!("{{\"records\":[{{\"key\":{bad},\"value\":\"AA==\"}}]}}"),
        ]
    })
    .collect()
}

/// Bodies only the json format refuses: JSON other parsers cannot read back.
fn json_bodies() -> Vec<String> {
    let deep = "[".repeat(1001) + &"]".repeat(1001);
    [
        deep.as_str(),
        "1e999999",
        "-1e999999",
        "\"\\ud800\"",
        "\"\\udfff\"",
        "\"\\ud800\\u0041\"",
        "{\"k\":\"\\udc00\\ud800\"}",
        "[1,\"\\ud83d\"]",
        "123456789012345678901234567890e400",
        "{\"a\":[[[1e309]]]}",
    ]
    .iter()
    .flat_map(|bad| {
        [
            format!("{{\"records\":[{{\"value\":1}},{{\"value\":{bad}}}]}}"),
            format!("{{\"records\":[{{\"key\":{bad},\"value\":1}}]}}"),
        ]
    })
    .collect()
}

/// Bodies the schema formats refuse: no schema, a schema that does not parse, an unknown id,
/// values that do not match.
fn schema_bodies(format: &str) -> Vec<String> {
    let (schema, wrong_value) = match format {
        "avro" => ("\"{\\\"type\\\":\\\"record\\\",\\\"name\\\":\\\"R\\\",\\\"fields\\\":[{\\\"name\\\":\\\"f\\\",\\\"type\\\":\\\"int\\\"}]}\"", "{\"f\":\"x\"}"),
        "jsonschema" => ("\"{\\\"type\\\":\\\"object\\\",\\\"properties\\\":{\\\"f\\\":{\\\"type\\\":\\\"integer\\\"}},\\\"required\\\":[\\\"f\\\"]}\"", "{\"g\":1}"),
        _ => ("\"syntax = \\\"proto3\\\"; message R { int32 f = 1; }\"", "{\"f\":\"x\"}"),
    };
    let mut out = vec![
        "{\"records\":[{\"value\":{\"f\":1}}]}".to_string(),
        "{\"records\":[{\"key\":1,\"value\":{\"f\":1}}],\"value_schema_id\":999999}".to_string(),
        "{\"records\":[{\"value\":{\"f\":1}}],\"value_schema_id\":999999}".to_string(),
        "{\"records\":[{\"value\":{\"f\":1}}],\"value_schema_id\":-1}".to_string(),
        "{\"records\":[{\"value\":{\"f\":1}}],\"value_schema\":\"not a schema\"}".to_string(),
        "{\"records\":[{\"value\":{\"f\":1}}],\"value_schema\":\"{\\\"type\\\":\"}".to_string(),
        "{\"records\":[{\"value\":{\"f\":1}}],\"value_schema\":42}".to_string(),
        "{\"records\":[{\"value\":{\"f\":1}}],\"value_schema\":\"\"}".to_string(),
        "{\"records\":[{\"value\":{\"f\":1}}],\"value_schema\":\"{\\\"type\\\":\\\"record\\\",\\\"name\\\":\\\"bad-name\\\",\\\"fields\\\":[]}\"}".to_string(),
        format!("{{\"records\":[{{\"value\":{wrong_value}}}],\"value_schema\":{schema}}}"),
        format!("{{\"records\":[{{\"value\":{{\"f\":1}}}},{{\"value\":{wrong_value}}}],\"value_schema\":{schema}}}"),
        format!("{{\"records\":[{{\"key\":{{\"f\":1}},\"value\":{{\"f\":1}}}}],\"value_schema\":{schema}}}"),
        format!("{{\"records\":[{{\"value\":{{\"f\":1}}}}],\"value_schema\":{schema},\"value_schema_id\":1}}"),
    ];
    out.push(format!(
        "{{\"records\":[{{\"value\":\"\\ud800\"}}],\"value_schema\":{schema}}}"
    ));
    out
}

fn produce_cases(topic: &str) -> Vec<Case> {
    use reqwest::Method;
    let mut cases = Vec::new();
    let formats: [(&'static str, &str); 5] = [
        ("application/vnd.kafka.binary.v2+json", "binary"),
        ("application/vnd.kafka.json.v2+json", "json"),
        ("application/vnd.kafka.avro.v2+json", "avro"),
        ("application/vnd.kafka.jsonschema.v2+json", "jsonschema"),
        ("application/vnd.kafka.protobuf.v2+json", "protobuf"),
    ];
    for (media, name) in formats {
        for body in structural_produce_bodies() {
            cases.push(case(
                Method::POST,
                &format!("/topics/{topic}"),
                Some(media),
                body,
            ));
        }
        let specific = match name {
            "binary" => binary_bodies(),
            "json" => json_bodies(),
            other => schema_bodies(other),
        };
        for body in specific {
            cases.push(case(
                Method::POST,
                &format!("/topics/{topic}"),
                Some(media),
                body.clone(),
            ));
            cases.push(case(
                Method::POST,
                &format!("/topics/{topic}/partitions/0"),
                Some(media),
                body,
            ));
        }
    }
    let ok = "{\"records\":[{\"value\":\"AA==\"}]}";
    for media in [
        "application/json",
        "application/octet-stream",
        "text/plain",
        "application/vnd.kafka.v2+json",
        "application/vnd.kafka.xml.v2+json",
        "application/vnd.kafka.binary.v3+json",
    ] {
        cases.push(case(
            Method::POST,
            &format!("/topics/{topic}"),
            Some(media),
            ok,
        ));
    }
    for path in [
        format!("/topics/{topic}/partitions/x"),
        format!("/topics/{topic}/partitions/99"),
        format!("/topics/{topic}/partitions/-1"),
        format!("/topics/{topic}/partitions/99999999999"),
        "/topics/bad%20name".to_string(),
        format!("/topics/{}", "z".repeat(513)),
        "/topics/_schemas".to_string(),
        "/topics/__consumer_offsets".to_string(),
    ] {
        cases.push(case(
            Method::POST,
            &path,
            Some("application/vnd.kafka.binary.v2+json"),
            ok,
        ));
    }
    cases
}

fn consumer_cases(group: &str, base: &str, topic: &str) -> Vec<Case> {
    use reqwest::Method;
    let v2 = Some("application/vnd.kafka.v2+json");
    let mut cases = Vec::new();
    for body in [
        "not json",
        "{",
        "[]",
        "{\"name\":1}",
        "{\"name\":\"\"}",
        "{\"name\":\"a/b\"}",
        "{\"name\":\"..\"}",
        "{\"name\":\"a b\"}",
        "{\"name\":\"a\\r\\nb\"}",
        "{\"id\":\"a?b\"}",
        "{\"format\":\"xml\"}",
        "{\"format\":1}",
        "{\"auto.offset.reset\":\"sometimes\"}",
        "{\"auto.commit.enable\":\"maybe\"}",
        "{\"auto.commit.enable\":3}",
        "{\"fetch.min.bytes\":-2}",
        "{\"fetch.min.bytes\":\"many\"}",
        "{\"fetch.min.bytes\":100000000}",
        "{\"consumer.request.timeout.ms\":-1}",
        "{\"consumer.request.timeout.ms\":\"soon\"}",
        "{\"consumer.request.timeout.ms\":9223372036854775807}",
        "{\"unknown\":1}",
        "{\"name\":\"ok\",\"name\":\"twice\"}",
    ] {
        cases.push(case(Method::POST, &format!("/consumers/{group}"), v2, body));
    }
    cases.push(case(
        Method::POST,
        &format!("/consumers/{group}"),
        Some("text/plain"),
        "{}",
    ));
    cases.push(case(Method::POST, "/consumers/a%20b", v2, "{}"));
    cases.push(case(
        Method::POST,
        &format!("/consumers/{}", "g".repeat(300)),
        v2,
        "{}",
    ));
    let long = "z".repeat(513);
    for body in [
        "not json".to_string(),
        "{\"topics\":\"t\"}".into(),
        "{\"topics\":[1]}".into(),
        "{\"topics\":[\"\"]}".into(),
        "{\"topics\":[\"a b\"]}".into(),
        format!("{{\"topics\":[\"{long}\"]}}"),
        "{\"topics\":[\"_schemas\"]}".into(),
        "{\"topics\":[\"__consumer_offsets\"]}".into(),
        "{\"topic_pattern\":\"(\"}".into(),
        "{\"topic_pattern\":\"[\"}".into(),
        "{\"topic_pattern\":1}".into(),
        "{\"topics\":[],\"extra\":1}".into(),
    ] {
        cases.push(case(
            Method::POST,
            &format!("{base}/subscription"),
            v2,
            body,
        ));
    }
    for body in [
        "{\"partitions\":1}".to_string(),
        "{\"partitions\":[{\"topic\":1,\"partition\":0}]}".into(),
        "{\"partitions\":[{\"topic\":\"t\"}]}".into(),
        "{\"partitions\":[{\"topic\":\"t\",\"partition\":\"x\"}]}".into(),
        "{\"partitions\":[{\"topic\":\"t\",\"partition\":0,\"x\":1}]}".into(),
        format!("{{\"partitions\":[{{\"topic\":\"{long}\",\"partition\":0}}]}}"),
        "{\"partitions\":[{\"topic\":\"\",\"partition\":0}]}".into(),
        "{\"partitions\":[{\"topic\":\"_schemas\",\"partition\":0}]}".into(),
        "{\"partitions\":[{\"topic\":\"a/b\",\"partition\":0}]}".into(),
        "[".into(),
    ] {
        cases.push(case(Method::POST, &format!("{base}/assignments"), v2, body));
    }
    for body in [
        format!("{{\"offsets\":[{{\"topic\":\"{topic}\",\"partition\":0,\"offset\":-1}}]}}"),
        format!("{{\"offsets\":[{{\"topic\":\"{topic}\",\"partition\":0,\"offset\":\"x\"}}]}}"),
        format!("{{\"offsets\":[{{\"topic\":\"{topic}\",\"partition\":0}}]}}"),
        format!("{{\"offsets\":[{{\"topic\":\"{topic}\",\"partition\":0,\"offset\":1}}]}}"),
        format!("{{\"timestamps\":[{{\"topic\":\"{topic}\",\"partition\":0,\"timestamp\":\"yesterday\"}}]}}"),
        format!("{{\"timestamps\":[{{\"topic\":\"{topic}\",\"partition\":0,\"timestamp\":[]}}]}}"),
        format!("{{\"offsets\":[{{\"topic\":\"{long}\",\"partition\":0,\"offset\":0}}]}}"),
        "{\"offsets\":1}".into(),
        "{\"bogus\":[]}".into(),
    ] {
        cases.push(case(Method::POST, &format!("{base}/positions"), v2, body));
    }
    for path in ["positions/beginning", "positions/end"] {
        for body in [
            "{\"partitions\":[{\"topic\":\"t\",\"partition\":0}]}".to_string(),
            format!("{{\"partitions\":[{{\"topic\":\"{long}\",\"partition\":0}}]}}"),
            "{\"partitions\":\"x\"}".into(),
            "x".into(),
        ] {
            cases.push(case(Method::POST, &format!("{base}/{path}"), v2, body));
        }
    }
    for body in [
        format!("{{\"offsets\":[{{\"topic\":\"{topic}\",\"partition\":0,\"offset\":-5}}]}}"),
        format!("{{\"offsets\":[{{\"topic\":\"{topic}\",\"partition\":0,\"offset\":9223372036854775807}}]}}"),
        format!("{{\"offsets\":[{{\"topic\":\"{long}\",\"partition\":0,\"offset\":1}}]}}"),
        "{\"offsets\":\"x\"}".into(),
        "{\"offsets\":[{\"topic\":\"t\"}]}".into(),
        "nope".into(),
    ] {
        cases.push(case(Method::POST, &format!("{base}/offsets"), v2, body));
    }
    for query in [
        "timeout=abc",
        "max_bytes=abc",
        "timeout=1e3",
        "max_bytes=--1",
    ] {
        cases.push(case(
            Method::GET,
            &format!("{base}/records?{query}"),
            None,
            "",
        ));
    }
    for path in [
        "/consumers/g/instances/missing/records",
        "/consumers/g/instances/missing/subscription",
        "/nowhere",
        "/topics/x/partitions/0/nothing",
    ] {
        cases.push(case(Method::GET, path, None, ""));
    }
    cases.push(case(Method::DELETE, "/topics", None, ""));
    cases.push(case(Method::PUT, &format!("/topics/{topic}"), v2, "{}"));
    cases
}

fn registry_cases() -> Vec<Case> {
    use reqwest::Method;
    let sr = Some("application/vnd.schemaregistry.v1+json");
    let mut cases = Vec::new();
    let avro = |s: &str| json!({"schema": s}).to_string();
    let mut bodies: Vec<String> = [
        "not json",
        "{",
        "[]",
        "{}",
        "{\"schema\":1}",
        "{\"schema\":null}",
        "{\"schema\":\"\\\"int\\\"\",\"schemaType\":\"XML\"}",
        "{\"schema\":\"\\\"int\\\"\",\"references\":\"x\"}",
        "{\"schema\":\"\\\"int\\\"\",\"references\":[{\"name\":\"a\",\"subject\":\"missing\",\"version\":1}]}",
        "{\"schema\":\"\\\"int\\\"\",\"references\":[{\"name\":1}]}",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for bad in [
        "",
        "nope",
        "{",
        "\"no_such_type\"",
        "{\"type\":\"record\"}",
        "{\"type\":\"record\",\"name\":\"test-schema\",\"fields\":[]}",
        "{\"type\":\"record\",\"name\":\"R\",\"namespace\":\"1bad\",\"fields\":[]}",
        "{\"type\":\"record\",\"name\":\"R\",\"aliases\":[\"a-b\"],\"fields\":[]}",
        "{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"f\",\"type\":\"bad-ref\"}]}",
        "{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"f\"}]}",
        "{\"type\":\"record\",\"name\":\"R\",\"fields\":\"x\"}",
        "{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"A\",\"A\"]}",
        "{\"type\":\"enum\",\"name\":\"E\"}",
        "{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"1A\"]}",
        "{\"type\":\"fixed\",\"name\":\"F\"}",
        "{\"type\":\"fixed\",\"name\":\"F\",\"size\":-1}",
        "{\"type\":\"array\"}",
        "{\"type\":\"map\"}",
        "[\"int\",\"int\"]",
        "[\"null\",[\"int\"]]",
        "{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"f\",\"type\":\"int\",\"default\":\"x\"}]}",
        "{\"type\":{\"type\":\"record\",\"name\":\"bad name\",\"fields\":[]}}",
        "{\"type\":\"map\",\"values\":\"x..y\"}",
        "[\"null\",\"9lives\"]",
    ] {
        bodies.push(avro(bad));
    }
    for bad in [
        "{\"type\":\"nonsense\"}",
        "{\"type\":12}",
        "{\"properties\":1}",
        "not json",
        "{\"$ref\":\"missing.json\"}",
        "{\"type\":\"object\",\"required\":\"f\"}",
    ] {
        bodies.push(json!({"schema": bad, "schemaType": "JSON"}).to_string());
    }
    for bad in [
        "message {",
        "syntax = \"proto9\";",
        "message A { strin a = 1; }",
        "message A { int32 a = 0; }",
        "import \"missing.proto\"; message A { M m = 1; }",
        "message A { int32 a = 1; int32 b = 1; }",
    ] {
        bodies.push(json!({"schema": bad, "schemaType": "PROTOBUF"}).to_string());
    }
    let big_enum: Vec<String> = (0..100_000).map(|i| format!("S{i}")).collect();
    bodies.push(avro(
        &json!({"type": "enum", "name": "Big", "symbols": big_enum}).to_string(),
    ));
    for body in &bodies {
        cases.push(case(
            Method::POST,
            "/subjects/s-value/versions",
            sr,
            body.clone(),
        ));
        cases.push(case(Method::POST, "/subjects/s-value", sr, body.clone()));
    }
    // `{}` is a valid `PUT /config` (every field is optional, as in Confluent's
    // ConfigUpdateRequest); an array is not.
    for body in [
        "{\"compatibility\":\"SOMETIMES\"}",
        "{\"compatibility\":1}",
        "not json",
        "[]",
    ] {
        cases.push(case(Method::PUT, "/config", sr, body));
        cases.push(case(Method::PUT, "/config/s-value", sr, body));
    }
    // A valid schema against `latest` of a missing subject is compatible (Confluent's
    // testCompatibilityNonExistentSubject); bad bodies are refused.
    for body in ["{}", "x"] {
        cases.push(case(
            Method::POST,
            "/compatibility/subjects/missing/versions/latest",
            sr,
            body,
        ));
    }
    for body in ["{\"schema\":\"\\\"int\\\"\"}", "{}", "x"] {
        cases.push(case(
            Method::POST,
            "/compatibility/subjects/missing/versions/abc",
            sr,
            body,
        ));
    }
    for path in [
        "/schemas/ids/abc",
        "/schemas/ids/999999",
        "/schemas/ids/-1",
        "/schemas/ids/99999999999",
        "/schemas/ids/abc/versions",
        "/subjects/missing/versions",
        "/subjects/missing/versions/1",
        "/subjects/missing/versions/abc",
        "/subjects/missing/versions/0",
        "/subjects/missing/versions/-5",
        "/subjects/missing/versions/latest/schema",
        "/subjects/missing/versions/1/referencedby",
        "/config/missing",
        "/nowhere",
    ] {
        cases.push(case(Method::GET, path, None, ""));
    }
    for path in [
        "/subjects/missing",
        "/subjects/missing/versions/1",
        "/subjects/missing/versions/abc",
        "/config/missing",
    ] {
        cases.push(case(Method::DELETE, path, None, ""));
    }
    cases.push(case(Method::DELETE, "/schemas/types", None, ""));
    cases.push(case(Method::PATCH, "/config", sr, "{}"));
    cases
}

/// Sends every case; returns how many were sent and a line per case answered otherwise than
/// with a JSON 4xx.
async fn run(base_url: &str, cases: Vec<Case>, failures: &mut Vec<String>) -> usize {
    let client = http();
    let n = cases.len();
    for c in cases {
        let mut req = client.request(c.method.clone(), format!("{base_url}{}", c.path));
        if let Some(ct) = c.content_type {
            req = req.header("content-type", ct);
        }
        let what = format!(
            "{} {} {}",
            c.method,
            c.path,
            &c.body[..c.body.len().min(200)]
        );
        let r = send(req.body(c.body)).await;
        let json_error = serde_json::from_str::<Value>(&r.text)
            .ok()
            .filter(|b| b["error_code"].is_u64() && b["message"].is_string());
        let ct = r.content_type.clone().unwrap_or_default();
        if !(400..500).contains(&r.status) || !ct.contains("json") || json_error.is_none() {
            failures.push(format!(
                "{what}\n    -> {} {ct} {}",
                r.status,
                &r.text[..r.text.len().min(300)]
            ));
        }
    }
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_bad_request_gets_a_json_4xx_and_writes_nothing() {
    let topic = unique("bad-input");
    create_topic(&topic, 1).await;
    let proxy = Proxy::start_with_registry(&[]).await;
    let group = unique("g");
    let base_uri = create_consumer(&proxy, &group, json!({"name": "c", "format": "binary"})).await;
    let base = base_uri
        .strip_prefix(&proxy.url)
        .expect("base_uri is on the proxy")
        .to_string();

    let mut failures = Vec::new();
    let mut total = run(&proxy.url, produce_cases(&topic), &mut failures).await;
    total += run(
        &proxy.url,
        consumer_cases(&group, &base, &topic),
        &mut failures,
    )
    .await;
    let sr = proxy.registry_url.clone().unwrap();
    total += run(&sr, registry_cases(), &mut failures).await;
    assert!(
        failures.is_empty(),
        "{} of {total} cases:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(total >= 300, "only {total} cases");

    // Nothing was written: the topic is empty, the registry has no subject.
    let r = get(
        &format!("{}/topics/{topic}/partitions/0/offsets", proxy.url),
        V2,
    )
    .await;
    assert_eq!(r.json()["end_offset"], 0, "{r:?}");
    // A schema-format produce registers its schema before its records are checked against it,
    // as Confluent's proxy does, so only the topic's own subject may exist: no registry-port case
    // registered anything.
    let subjects = sr_get(&format!("{sr}/subjects?deleted=true")).await.json();
    let own = [
        json!(format!("{topic}-key")),
        json!(format!("{topic}-value")),
    ];
    assert!(
        subjects.as_array().unwrap().iter().all(|s| own.contains(s)),
        "{subjects}"
    );
    // And the proxy still works.
    let r = post(
        &format!("{}/topics/{topic}", proxy.url),
        BINARY,
        &json!({"records": [{"value": "AA=="}]}),
    )
    .await;
    assert_eq!(r.status, 200, "{r:?}");
    proxy.stop().await;
}
