//! Metadata endpoints: topics, partitions, offsets, brokers, and their errors.

mod common;

use common::*;
use serde_json::json;

#[tokio::test]
async fn topics_partitions_and_brokers() {
    let proxy = Proxy::start().await;
    let topic = unique("meta");
    create_topic(&topic, 3).await;

    let r = get(&format!("{}/", proxy.url), V2).await;
    assert_eq!((r.status, r.json()), (200, json!({})));

    let r = get(&format!("{}/topics", proxy.url), V2).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.content_type.as_deref(), Some(V2));
    let names: Vec<String> = serde_json::from_value(r.json()).unwrap();
    assert!(names.contains(&topic), "{names:?}");
    assert!(!names.iter().any(|n| n == "__consumer_offsets"));

    let brokers = get(&format!("{}/brokers", proxy.url), V2).await.json();
    let ids = brokers["brokers"].as_array().unwrap();
    assert_eq!(ids.len(), 1, "{brokers}");
    let broker_id = ids[0].as_i64().unwrap();

    let t = get(&format!("{}/topics/{topic}", proxy.url), V2).await;
    assert_eq!(t.status, 200, "{t:?}");
    let t = t.json();
    assert_eq!(t["name"], topic.as_str());
    assert!(t["configs"].is_object(), "{t}");
    let parts = t["partitions"].as_array().unwrap();
    assert_eq!(parts.len(), 3);
    for (i, p) in parts.iter().enumerate() {
        assert_eq!(
            p,
            &json!({"partition": i, "leader": broker_id,
                    "replicas": [{"broker": broker_id, "leader": true, "in_sync": true}]})
        );
    }

    let ps = get(&format!("{}/topics/{topic}/partitions", proxy.url), V2)
        .await
        .json();
    assert_eq!(&ps, &t["partitions"]);
    let p1 = get(&format!("{}/topics/{topic}/partitions/1", proxy.url), V2)
        .await
        .json();
    assert_eq!(&p1, &t["partitions"][1]);
    proxy.stop().await;
}

#[tokio::test]
async fn partition_offsets_count_records_not_batches() {
    let proxy = Proxy::start().await;
    let topic = unique("offsets");
    create_topic(&topic, 2).await;
    let url = format!("{}/topics/{topic}/partitions/0/offsets", proxy.url);
    assert_eq!(
        get(&url, V2).await.json(),
        json!({"beginning_offset": 0, "end_offset": 0})
    );
    // Two requests: one batch of 3 records, then one of 2.
    for n in [3, 2] {
        let records: Vec<_> = (0..n).map(|i| json!({"value": i})).collect();
        let r = post(
            &format!("{}/topics/{topic}/partitions/0", proxy.url),
            JSON,
            &json!({"records": records}),
        )
        .await;
        assert_eq!(r.status, 200, "{r:?}");
    }
    assert_eq!(
        get(&url, V2).await.json(),
        json!({"beginning_offset": 0, "end_offset": 5})
    );
    let other = format!("{}/topics/{topic}/partitions/1/offsets", proxy.url);
    assert_eq!(
        get(&other, V2).await.json(),
        json!({"beginning_offset": 0, "end_offset": 0})
    );
    proxy.stop().await;
}

#[tokio::test]
async fn unknown_topics_and_partitions_are_404() {
    let proxy = Proxy::start().await;
    let topic = unique("meta-404");
    create_topic(&topic, 1).await;
    let absent = unique("absent");
    for path in [
        format!("/topics/{absent}"),
        format!("/topics/{absent}/partitions"),
        format!("/topics/{absent}/partitions/0"),
        format!("/topics/{absent}/partitions/0/offsets"),
    ] {
        get(&format!("{}{path}", proxy.url), V2)
            .await
            .assert_error(404, 40403);
    }
    for path in [
        format!("/topics/{topic}/partitions/5"),
        format!("/topics/{topic}/partitions/5/offsets"),
    ] {
        get(&format!("{}{path}", proxy.url), V2)
            .await
            .assert_error(404, 40402);
    }
    get(&format!("{}/topics/{topic}/partitions/zero", proxy.url), V2)
        .await
        .assert_error(404, 404);
    get(&format!("{}/no/such/path", proxy.url), V2)
        .await
        .assert_error(404, 404);
    let r = send(http().put(format!("{}/topics", proxy.url))).await;
    r.assert_error(405, 405);
    proxy.stop().await;
}
