//! Consumer instances: create and delete, base_uri, expiry, groups and subscriptions.

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};

#[tokio::test]
async fn create_and_delete_instances() {
    let proxy = Proxy::start().await;
    let group = unique("g");
    let url = format!("{}/consumers/{group}", proxy.url);

    let r = post(&url, V2, &json!({"name": "c1", "format": "json"})).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.content_type.as_deref(), Some(V2));
    let host = proxy.url.trim_start_matches("http://");
    assert_eq!(
        r.json(),
        json!({"instance_id": "c1", "base_uri": format!("http://{host}/consumers/{group}/instances/c1")})
    );
    post(&url, V2, &json!({"name": "c1"}))
        .await
        .assert_error(409, 40902);
    // An empty body gives a binary consumer with a generated name.
    let r = send(http().post(&url).header("content-type", V2)).await;
    let generated = r.json()["instance_id"].as_str().unwrap().to_string();
    assert!(generated.starts_with("rest-consumer-"), "{generated}");
    // `id` overrides `name`.
    let r = post(&url, V2, &json!({"name": "n", "id": "legacy"})).await;
    assert_eq!(r.json()["instance_id"], "legacy");

    post(&url, V2, &json!({"format": "string"}))
        .await
        .assert_error(422, 422);
    post(&url, V2, &json!({"enable.auto.commit": "true"}))
        .await
        .assert_error(422, 422);
    post(&url, V2, &json!({"fetch.min.bytes": 20_000_000}))
        .await
        .assert_error(422, 40001);
    post(&url, V2, &json!({"auto.offset.reset": "sometimes"}))
        .await
        .assert_error(422, 42204);
    post(&url, V2, &json!({"auto.commit.enable": "maybe"}))
        .await
        .assert_error(422, 42204);
    let form = send(
        http()
            .post(&url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body("name=x"),
    )
    .await;
    form.assert_error(415, 415);

    let inst = format!("{url}/instances/c1");
    assert_eq!(send(http().delete(&inst)).await.status, 204);
    send(http().delete(&inst)).await.assert_error(404, 40403);
    get(&format!("{inst}/records"), JSON)
        .await
        .assert_error(404, 40403);
    // Every route of an instance answers 40403 for a missing one; a bad control body is
    // answered first, as Confluent (Jersey) parses the body before the resource looks it up.
    for path in ["subscription", "assignments", "offsets"] {
        get(&format!("{inst}/{path}"), V2)
            .await
            .assert_error(404, 40403);
    }
    for path in [
        "subscription",
        "assignments",
        "positions",
        "positions/beginning",
        "positions/end",
        "offsets",
    ] {
        let at = format!("{inst}/{path}");
        post(&at, V2, &json!({})).await.assert_error(404, 40403);
        post(&at, V2, &json!({"unknown": 1}))
            .await
            .assert_error(422, 422);
        send(http().post(&at).header("content-type", V2).body("{"))
            .await
            .assert_error(400, 400);
    }
    // The name is free again.
    assert_eq!(post(&url, V2, &json!({"name": "c1"})).await.status, 200);
    proxy.stop().await;
}

#[tokio::test]
async fn advertised_url_builds_base_uri() {
    let proxy = Proxy::start_with(&[("advertised.listeners", "http://proxy.example:9999")]).await;
    let r = post(
        &format!("{}/consumers/grp", proxy.url),
        V2,
        &json!({"name": "adv"}),
    )
    .await;
    assert_eq!(
        r.json()["base_uri"],
        "http://proxy.example:9999/consumers/grp/instances/adv"
    );
    proxy.stop().await;
}

#[tokio::test]
async fn idle_instances_expire_and_leave_the_group() {
    let proxy = Proxy::start_with(&[("consumer.instance.timeout.ms", "1500")]).await;
    let group = unique("g");
    let idle = create_consumer(&proxy, &group, json!({"name": "idle"})).await;
    let busy = create_consumer(&proxy, &group, json!({"name": "busy"})).await;
    let end = Instant::now() + Duration::from_millis(3500);
    while Instant::now() < end {
        // Any request touches the instance, even one that fails.
        get(&format!("{busy}/subscription"), V2).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    get(&format!("{idle}/subscription"), V2)
        .await
        .assert_error(404, 40403);
    assert_eq!(get(&format!("{busy}/subscription"), V2).await.status, 200);
    // The expired name can be used again.
    assert_eq!(
        post(
            &format!("{}/consumers/{group}", proxy.url),
            V2,
            &json!({"name": "idle"})
        )
        .await
        .status,
        200
    );
    proxy.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_does_not_wait_for_a_long_poll() {
    let proxy = Proxy::start_with(&[("consumer.request.timeout.ms", "20000")]).await;
    let topic = unique("delete-poll");
    create_topic(&topic, 1).await;
    let base = create_consumer(&proxy, &unique("g"), json!({"format": "json"})).await;
    assign(&base, &topic, &[0]).await;
    let poll = tokio::spawn({
        let url = format!("{base}/records?timeout=20000");
        async move { get(&url, JSON).await }
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    let start = Instant::now();
    assert_eq!(send(http().delete(&base)).await.status, 204);
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "DELETE took {:?}",
        start.elapsed()
    );
    let r = poll.await.unwrap();
    assert_eq!((r.status, r.text.as_str()), (200, "[]"));
    proxy.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_in_a_group_share_the_partitions() {
    let proxy = Proxy::start_with(&[("consumer.request.timeout.ms", "1000")]).await;
    let topic = unique("shared");
    create_topic(&topic, 4).await;
    let group = unique("g");
    let opts =
        |name: &str| json!({"name": name, "format": "json", "auto.offset.reset": "earliest"});
    let a = create_consumer(&proxy, &group, opts("a")).await;
    let b = create_consumer(&proxy, &group, opts("b")).await;
    for base in [&a, &b] {
        subscribe(base, &[&topic]).await;
    }
    let (ra, rb) = (format!("{a}/records"), format!("{b}/records"));
    let assigned = |base: &str| {
        let url = format!("{base}/assignments");
        async move {
            let r = get(&url, V2).await.json();
            r["partitions"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p["partition"].as_i64().unwrap())
                .collect::<Vec<_>>()
        }
    };
    // Both members must poll for the group to settle on two partitions each.
    let end = Instant::now() + Duration::from_secs(40);
    let (mut pa, mut pb) = (vec![], vec![]);
    while !(pa.len() == 2 && pb.len() == 2) && Instant::now() < end {
        let (x, y) = tokio::join!(get(&ra, JSON), get(&rb, JSON));
        assert_eq!(x.json(), json!([]));
        assert_eq!(y.json(), json!([]));
        (pa, pb) = (assigned(&a).await, assigned(&b).await);
    }
    assert_eq!((pa.len(), pb.len()), (2, 2), "a={pa:?} b={pb:?}");
    for p in 0..4 {
        produce_json(&proxy, &topic, p, &[json!(format!("p{p}"))]).await;
    }
    let (mut from_a, mut from_b) = (Vec::new(), Vec::new());
    let end = Instant::now() + Duration::from_secs(20);
    while from_a.len() + from_b.len() < 4 && Instant::now() < end {
        let (x, y) = tokio::join!(get(&ra, JSON), get(&rb, JSON));
        from_a.extend(x.json().as_array().unwrap().clone());
        from_b.extend(y.json().as_array().unwrap().clone());
    }
    let parts = |v: &Vec<Value>| {
        v.iter()
            .map(|r| r["partition"].as_i64().unwrap())
            .collect::<Vec<_>>()
    };
    let (mut got_a, mut got_b) = (parts(&from_a), parts(&from_b));
    got_a.sort();
    got_b.sort();
    assert_eq!(
        (got_a, got_b),
        (pa, pb),
        "each instance reads exactly its own partitions once"
    );
    proxy.stop().await;
}

/// Partitions moving between instances, and back, while records flow: an instance takes a
/// partition's records from the partition's own queue (kafka/partition_queues.rs), so a
/// partition revoked and assigned again must not leave records stranded there. Nothing is lost:
/// every record is read, by one instance or the other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_keep_flowing_as_partitions_move_and_come_back() {
    let proxy = Proxy::start_with(&[("consumer.request.timeout.ms", "1000")]).await;
    let topic = unique("moving");
    create_topic(&topic, 4).await;
    let group = unique("g");
    let opts =
        |name: &str| json!({"name": name, "format": "json", "auto.offset.reset": "earliest"});
    let produce_round = |round: i64| {
        let (proxy, topic) = (&proxy, &topic);
        async move {
            for p in 0..4 {
                let values: Vec<_> = (0..50)
                    .map(|i| json!(format!("r{round}-p{p}-{i}")))
                    .collect();
                produce_json(proxy, topic, p, &values).await;
            }
        }
    };
    fn read(seen: &mut std::collections::BTreeSet<String>, records: Value) {
        for r in records.as_array().unwrap() {
            seen.insert(r["value"].as_str().unwrap().to_string());
        }
    }
    let mut seen = std::collections::BTreeSet::new();
    let a = create_consumer(&proxy, &group, opts("a")).await;
    subscribe(&a, &[&topic]).await;
    // Created now, subscribed later: an instance joins the group when it subscribes.
    let b = create_consumer(&proxy, &group, opts("b")).await;
    let (ra, rb) = (
        format!("{a}/records?max_bytes=200"),
        format!("{b}/records?max_bytes=200"),
    );
    let (aa, ab) = (format!("{a}/assignments"), format!("{b}/assignments"));
    produce_round(0).await;
    // `a` alone: it holds all four partitions and reads some records.
    let end = Instant::now() + Duration::from_secs(30);
    while seen.is_empty() && Instant::now() < end {
        read(&mut seen, get(&ra, JSON).await.json());
    }
    assert!(!seen.is_empty(), "a read nothing");
    // `b` joins: two partitions move to it. Both keep reading while the group settles.
    subscribe(&b, &[&topic]).await;
    produce_round(1).await;
    let end = Instant::now() + Duration::from_secs(40);
    let mut settled = false;
    let count = |r: Value| r["partitions"].as_array().map_or(0, Vec::len);
    while !settled && Instant::now() < end {
        let (x, y) = tokio::join!(get(&ra, JSON), get(&rb, JSON));
        read(&mut seen, x.json());
        read(&mut seen, y.json());
        settled = count(get(&aa, V2).await.json()) == 2 && count(get(&ab, V2).await.json()) == 2;
    }
    assert!(settled, "the group did not share the partitions");
    // `b` leaves: its partitions come back to `a`, which must read everything left.
    assert_eq!(send(http().delete(&b)).await.status, 204);
    produce_round(2).await;
    let end = Instant::now() + Duration::from_secs(40);
    while seen.len() < 600 && Instant::now() < end {
        read(&mut seen, get(&ra, JSON).await.json());
    }
    let missing: Vec<String> = (0..3)
        .flat_map(|round| {
            (0..4).flat_map(move |p| (0..50).map(move |i| format!("r{round}-p{p}-{i}")))
        })
        .filter(|v| !seen.contains(v))
        .collect();
    let some = &missing[..missing.len().min(5)];
    assert!(
        missing.is_empty(),
        "{} records never read, e.g. {some:?}",
        missing.len()
    );
    proxy.stop().await;
}

#[tokio::test]
async fn topic_pattern_subscription_matches_whole_names() {
    let proxy = Proxy::start_with(&[("consumer.request.timeout.ms", "3000")]).await;
    let prefix = unique("pat");
    let (a, b, other) = (
        format!("{prefix}-a"),
        format!("{prefix}-b"),
        format!("x{prefix}-c"),
    );
    for t in [&a, &b, &other] {
        create_topic(t, 1).await;
        produce_json(&proxy, t, 0, &[json!(t)]).await;
    }
    let base = create_consumer(
        &proxy,
        &unique("g"),
        json!({"format": "json", "auto.offset.reset": "earliest"}),
    )
    .await;
    let r = post(
        &format!("{base}/subscription"),
        V2,
        &json!({"topic_pattern": format!("{prefix}-.*")}),
    )
    .await;
    assert_eq!(r.status, 204, "{r:?}");
    let got = read_records(&base, JSON, 2, Duration::from_secs(20)).await;
    let mut topics: Vec<String> = got
        .iter()
        .map(|r| r["topic"].as_str().unwrap().to_string())
        .collect();
    topics.sort();
    assert_eq!(
        topics,
        vec![a.clone(), b.clone()],
        "only whole-name matches"
    );
    let mut sub: Vec<String> = serde_json::from_value(
        get(&format!("{base}/subscription"), V2).await.json()["topics"].clone(),
    )
    .unwrap();
    sub.sort();
    assert_eq!(sub, vec![a, b]);
    proxy.stop().await;
}
