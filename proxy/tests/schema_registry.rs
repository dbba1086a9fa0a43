//! The built-in Schema Registry's HTTP API, against a real broker: registration, lookup, ids,
//! compatibility, deletes, config, errors, restarts and two instances sharing one topic.

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};

/// The seed's `User` record with a nullable `age`.
const USER_V1: &str = r#"{"type":"record","name":"User","fields":[{"name":"name","type":"string"},{"name":"age","type":["null","int"],"default":null}]}"#;
/// Adds a field with a default: backward compatible.
const USER_V2: &str = r#"{"type":"record","name":"User","fields":[{"name":"name","type":"string"},{"name":"age","type":["null","int"],"default":null},{"name":"email","type":"string","default":""}]}"#;
/// Adds a field without a default: not backward compatible.
const USER_BAD: &str = r#"{"type":"record","name":"User","fields":[{"name":"name","type":"string"},{"name":"age","type":["null","int"],"default":null},{"name":"phone","type":"string"}]}"#;

async fn registry(topic: &str) -> (Proxy, String) {
    let proxy = Proxy::start_with_registry(&[("schema.registry.topic", topic)]).await;
    let url = proxy.registry_url.clone().unwrap();
    // The registry listener answers once the topic has been read.
    wait_for(&format!("{url}/subjects")).await;
    (proxy, url)
}

#[tokio::test]
async fn register_lookup_and_read_back() {
    let topic = unique("schemas");
    let (proxy, sr) = registry(&topic).await;
    let r = sr_post(
        &format!("{sr}/subjects/users-value/versions"),
        json!({"schema": USER_V1}),
    )
    .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.content_type.as_deref(), Some(SR));
    let id = r.json()["id"].as_i64().unwrap();
    // The same schema again, even laid out differently, is the same version and id.
    let relaid: Value = serde_json::from_str(USER_V1).unwrap();
    let again = sr_post(
        &format!("{sr}/subjects/users-value/versions"),
        json!({"schema": serde_json::to_string_pretty(&relaid).unwrap()}),
    )
    .await;
    assert_eq!(again.json()["id"], id);
    // Under another subject: a new version there, the same id.
    let other = sr_post(
        &format!("{sr}/subjects/other-value/versions"),
        json!({"schema": USER_V1}),
    )
    .await;
    assert_eq!(other.json()["id"], id);

    assert_eq!(
        sr_get(&format!("{sr}/subjects")).await.json(),
        json!(["other-value", "users-value"])
    );
    assert_eq!(
        sr_get(&format!("{sr}/subjects/users-value/versions"))
            .await
            .json(),
        json!([1])
    );
    let v = sr_get(&format!("{sr}/subjects/users-value/versions/latest"))
        .await
        .json();
    assert_eq!(v["subject"], "users-value");
    assert_eq!(
        (v["version"].as_i64(), v["id"].as_i64()),
        (Some(1), Some(id))
    );
    assert_eq!(v["schema"], USER_V1);
    assert_eq!(
        sr_get(&format!("{sr}/subjects/users-value/versions/1"))
            .await
            .json(),
        v
    );
    let raw = sr_get(&format!("{sr}/subjects/users-value/versions/1/schema"))
        .await
        .json();
    assert_eq!(raw["name"], "User");
    assert_eq!(
        sr_get(&format!("{sr}/schemas/ids/{id}")).await.json(),
        json!({"schema": USER_V1})
    );
    assert_eq!(
        sr_get(&format!("{sr}/schemas/ids/{id}/schema"))
            .await
            .json()["type"],
        "record"
    );
    assert_eq!(
        sr_get(&format!("{sr}/schemas/ids/{id}/versions"))
            .await
            .json(),
        json!([{"subject": "other-value", "version": 1}, {"subject": "users-value", "version": 1}])
    );
    let types = sr_get(&format!("{sr}/schemas/types")).await.json();
    assert!(types.as_array().unwrap().contains(&json!("AVRO")));
    // Lookup.
    let found = sr_post(
        &format!("{sr}/subjects/users-value"),
        json!({"schema": USER_V1}),
    )
    .await;
    assert_eq!(found.json()["version"], 1);
    assert_eq!(found.json()["id"], id);
    sr_post(
        &format!("{sr}/subjects/users-value"),
        json!({"schema": USER_V2}),
    )
    .await
    .assert_error(404, 40403);
    sr_post(&format!("{sr}/subjects/nobody"), json!({"schema": USER_V1}))
        .await
        .assert_error(404, 40401);
    proxy.stop().await;
}

#[tokio::test]
async fn compatibility_is_enforced_and_configurable() {
    let topic = unique("schemas");
    let (proxy, sr) = registry(&topic).await;
    let versions = format!("{sr}/subjects/evolve-value/versions");
    let id1 = sr_post(&versions, json!({"schema": USER_V1})).await.json()["id"].clone();
    // BACKWARD (the default) refuses a new field without a default.
    let refused = sr_post(&versions, json!({"schema": USER_BAD})).await;
    let msg = refused.assert_error(409, 409);
    assert!(msg.contains("incompatible"), "{msg}");
    let check = sr_post(
        &format!("{sr}/compatibility/subjects/evolve-value/versions/latest?verbose=true"),
        json!({"schema": USER_BAD}),
    )
    .await
    .json();
    assert_eq!(check["is_compatible"], false);
    assert!(!check["messages"].as_array().unwrap().is_empty());
    let ok = sr_post(
        &format!("{sr}/compatibility/subjects/evolve-value/versions/1"),
        json!({"schema": USER_V2}),
    )
    .await;
    assert_eq!(ok.json(), json!({"is_compatible": true}));
    // A compatible evolution gets a new id and version 2.
    let id2 = sr_post(&versions, json!({"schema": USER_V2})).await.json()["id"].clone();
    assert_ne!(id1, id2);
    assert_eq!(sr_get(&versions).await.json(), json!([1, 2]));
    // Subject-level config overrides the global one.
    assert_eq!(
        sr_get(&format!("{sr}/config")).await.json(),
        json!({"compatibilityLevel": "BACKWARD"})
    );
    sr_get(&format!("{sr}/config/evolve-value"))
        .await
        .assert_error(404, 40408);
    assert_eq!(
        sr_get(&format!("{sr}/config/evolve-value?defaultToGlobal=true"))
            .await
            .json(),
        json!({"compatibilityLevel": "BACKWARD"})
    );
    let set = sr_put(
        &format!("{sr}/config/evolve-value"),
        json!({"compatibility": "NONE"}),
    )
    .await;
    assert_eq!(set.json(), json!({"compatibility": "NONE"}));
    let accepted = sr_post(&versions, json!({"schema": USER_BAD})).await;
    assert_eq!(accepted.status, 200, "{accepted:?}");
    sr_put(
        &format!("{sr}/config"),
        json!({"compatibility": "SOMETIMES"}),
    )
    .await
    .assert_error(422, 42203);
    assert_eq!(
        sr_delete(&format!("{sr}/config/evolve-value")).await.json(),
        json!({"compatibilityLevel": "NONE"})
    );
    sr_get(&format!("{sr}/config/evolve-value"))
        .await
        .assert_error(404, 40408);
    proxy.stop().await;
}

#[tokio::test]
async fn deletes_errors_restart_and_a_second_instance() {
    let topic = unique("schemas");
    let (proxy, sr) = registry(&topic).await;
    let versions = format!("{sr}/subjects/gone-value/versions");
    let id = sr_post(&versions, json!({"schema": USER_V1})).await.json()["id"]
        .as_i64()
        .unwrap();
    sr_post(&versions, json!({"schema": USER_V2})).await;
    // Errors in Confluent's shape.
    sr_get(&format!("{sr}/schemas/ids/9999"))
        .await
        .assert_error(404, 40403);
    sr_get(&format!("{sr}/subjects/gone-value/versions/abc"))
        .await
        .assert_error(422, 42202);
    sr_get(&format!("{sr}/subjects/gone-value/versions/7"))
        .await
        .assert_error(404, 40402);
    sr_post(&versions, json!({"schema": "{\"type\": \"nope\"}"}))
        .await
        .assert_error(422, 42201);
    // Permanent delete needs a soft delete first.
    sr_delete(&format!("{sr}/subjects/gone-value?permanent=true"))
        .await
        .assert_error(404, 40405);
    assert_eq!(
        sr_delete(&format!("{sr}/subjects/gone-value")).await.json(),
        json!([1, 2])
    );
    sr_get(&versions).await.assert_error(404, 40401);
    assert_eq!(
        sr_get(&format!("{sr}/subjects/gone-value/versions?deleted=true"))
            .await
            .json(),
        json!([1, 2])
    );
    // Soft-deleted schemas stay readable by id.
    assert_eq!(sr_get(&format!("{sr}/schemas/ids/{id}")).await.status, 200);
    assert_eq!(
        sr_delete(&format!("{sr}/subjects/gone-value?permanent=true"))
            .await
            .json(),
        json!([1, 2])
    );
    assert_eq!(
        sr_get(&format!("{sr}/subjects?deleted=true")).await.json(),
        json!([])
    );
    // One version: soft, then permanent.
    let keep = format!("{sr}/subjects/keep-value/versions");
    sr_post(&keep, json!({"schema": "\"string\""})).await;
    // bytes can read string: BACKWARD compatible.
    let id_long = sr_post(&keep, json!({"schema": "\"bytes\""})).await.json()["id"]
        .as_i64()
        .unwrap();
    sr_delete(&format!("{keep}/1?permanent=true"))
        .await
        .assert_error(404, 40407);
    assert_eq!(sr_delete(&format!("{keep}/1")).await.json(), json!(1));
    assert_eq!(sr_get(&keep).await.json(), json!([2]));
    assert_eq!(
        sr_delete(&format!("{keep}/1?permanent=true")).await.json(),
        json!(1)
    );
    proxy.stop().await;

    // A restart reads the same state from the topic: ids are stable, and a new schema gets a
    // new id above every id ever used.
    let (proxy, sr) = registry(&topic).await;
    assert_eq!(
        sr_get(&format!("{sr}/subjects")).await.json(),
        json!(["keep-value"])
    );
    let v = sr_get(&format!("{sr}/subjects/keep-value/versions/latest"))
        .await
        .json();
    assert_eq!(
        (v["version"].as_i64(), v["id"].as_i64()),
        (Some(2), Some(id_long))
    );
    let again = sr_post(
        &format!("{sr}/subjects/back-value/versions"),
        json!({"schema": USER_V1}),
    )
    .await;
    assert_eq!(
        again.json()["id"],
        id,
        "a known schema keeps its id after a permanent delete"
    );
    let fresh = sr_post(
        &format!("{sr}/subjects/fresh-value/versions"),
        json!({"schema": "\"double\""}),
    )
    .await
    .json()["id"]
        .as_i64()
        .unwrap();
    assert!(
        fresh > id_long,
        "ids are never reused: {fresh} after {id_long}"
    );

    // A second instance on the same topic sees the first one's registrations.
    let (second, sr2) = registry(&topic).await;
    let id_b = sr_post(
        &format!("{sr2}/subjects/shared-value/versions"),
        json!({"schema": "\"float\""}),
    )
    .await
    .json()["id"]
        .as_i64()
        .unwrap();
    assert!(id_b > fresh);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let r = sr_get(&format!("{sr}/schemas/ids/{id_b}")).await;
        if r.status == 200 {
            assert_eq!(r.json(), json!({"schema": "\"float\""}));
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the first instance never saw id {id_b}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    second.stop().await;
    proxy.stop().await;
}
